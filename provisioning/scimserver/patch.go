package scimserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// PATCH (RFC 7644 §3.5.2) is applied to the resource as JSON: the server
// renders the stored person or group, applies the operations in order,
// and reads the result back as it would a PUT body. Attributes Roster
// does not keep (phoneNumbers, title, the enterprise manager…) are
// accepted and ignored, as are read-only ones (id, meta), so an identity
// provider that sends its whole mapping never fails on them.
//
// Besides RFC 7644's own forms, these are accepted as the identity
// providers send them:
//   - op names in any case ("Replace", "Add", "Remove": Entra ID);
//   - booleans as strings ("False": Entra ID), read where a boolean is due;
//   - "remove" of members with a value list and no filter
//     ({"op":"Remove","path":"members","value":[{"value":"id"}]}: Entra ID);
//   - a path-less add or replace whose value keys are paths
//     ({"name.givenName": "x"}) or schema URNs;
//   - "add" with a value filter that matches nothing
//     ({"op":"Add","path":"emails[type eq \"work\"].value"}) adds an
//     element built from the filter's equalities.

type patchRequest struct {
	Schemas    []string         `json:"schemas"`
	Operations []patchOperation `json:"Operations"`
}

type patchOperation struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// applyPatch applies ops to resource d of type rt.
func (rt *resourceType) applyPatch(d map[string]any, ops []patchOperation) error {
	if len(ops) == 0 {
		return errorf(http.StatusBadRequest, "invalidSyntax", "a PATCH request needs Operations")
	}
	for i, o := range ops {
		kind := strings.ToLower(strings.TrimSpace(o.Op))
		if kind != "add" && kind != "replace" && kind != "remove" {
			return errorf(http.StatusBadRequest, "invalidSyntax", "operation %d: op %q is not add, replace or remove", i+1, o.Op)
		}
		var value any
		hasValue := len(o.Value) > 0 && string(o.Value) != "null"
		if hasValue {
			if err := json.Unmarshal(o.Value, &value); err != nil {
				return errorf(http.StatusBadRequest, "invalidSyntax", "operation %d: value: %v", i+1, err)
			}
		}
		if kind != "remove" && !hasValue {
			return errorf(http.StatusBadRequest, "invalidValue", "operation %d: %s needs a value", i+1, kind)
		}
		path := strings.TrimSpace(o.Path)
		var err error
		if path == "" {
			err = rt.patchResource(d, kind, value)
		} else {
			err = rt.patchPath(d, kind, path, value, hasValue)
		}
		if err != nil {
			var se *scimError
			if errors.As(err, &se) {
				se.detail = "operation " + strconv.Itoa(i+1) + ": " + se.detail
			}
			return err
		}
	}
	return nil
}

// patchResource applies a path-less add or replace: value holds
// attributes (or paths, or schema URNs holding attributes).
func (rt *resourceType) patchResource(d map[string]any, kind string, value any) error {
	if kind == "remove" {
		return errorf(http.StatusBadRequest, "noTarget", "remove needs a path")
	}
	m, ok := value.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, "invalidValue", "%s without a path needs an object value", kind)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := m[k]
		if urn, ok := rt.schemaURN(k); ok {
			sub, ok := v.(map[string]any)
			if !ok {
				return errorf(http.StatusBadRequest, "invalidValue", "%s needs an object value", k)
			}
			prefix := urn + ":"
			if urn == rt.Core.ID {
				prefix = ""
			}
			subKeys := make([]string, 0, len(sub))
			for sk := range sub {
				subKeys = append(subKeys, sk)
			}
			slices.Sort(subKeys)
			for _, sk := range subKeys {
				if err := rt.patchPath(d, kind, prefix+sk, sub[sk], true); err != nil {
					return err
				}
			}
			continue
		}
		if err := rt.patchPath(d, kind, k, v, true); err != nil {
			return err
		}
	}
	return nil
}

func (rt *resourceType) patchPath(d map[string]any, kind, path string, value any, hasValue bool) error {
	p, err := filter.ParsePath([]byte(path))
	if err != nil {
		return errorf(http.StatusBadRequest, "invalidPath", "path %q is not a valid SCIM attribute path", path)
	}
	r, err := rt.lookup(p.AttributePath)
	var unknown *unknownAttrError
	if errors.As(err, &unknown) {
		return nil // not kept by Roster: accepted and ignored
	}
	if r.a.Mutability == "readOnly" {
		return nil // id, meta, schemas: ignored (RFC 7644 §3.5.2)
	}
	var sub *attr
	switch {
	case r.sub != nil:
		sub = r.sub
	case p.SubAttribute != nil:
		if sub = r.a.sub(*p.SubAttribute); sub == nil {
			return nil // a sub-attribute Roster does not keep
		}
	}
	c := r.container(d, kind != "remove")
	if c == nil {
		return nil // removing from an absent extension
	}
	a := r.a
	switch {
	case a.Type != typeComplex:
		if p.ValueExpression != nil || sub != nil {
			return errorf(http.StatusBadRequest, "invalidPath", "%s is a simple attribute: path %q does not apply", a.Name, path)
		}
		if kind == "remove" {
			delete(c, a.Name)
		} else {
			c[a.Name] = value
		}
	case !a.MultiValued:
		if p.ValueExpression != nil {
			return errorf(http.StatusBadRequest, "invalidPath", "%s is single-valued: a value filter does not apply", a.Name)
		}
		patchComplex(c, kind, a, sub, value)
	default:
		return patchMulti(c, kind, a, p.ValueExpression, sub, value, hasValue)
	}
	return nil
}

// patchComplex patches a single-valued complex attribute (name).
func patchComplex(c map[string]any, kind string, a, sub *attr, value any) {
	m, _ := c[a.Name].(map[string]any)
	if sub != nil {
		if kind == "remove" {
			delete(m, sub.Name)
			return
		}
		if m == nil {
			m = map[string]any{}
			c[a.Name] = m
		}
		m[sub.Name] = value
		return
	}
	if kind == "remove" {
		delete(c, a.Name)
		return
	}
	v, ok := value.(map[string]any)
	if !ok {
		c[a.Name] = value // not an object: reading the resource reports it
		return
	}
	if m == nil {
		m = map[string]any{}
		c[a.Name] = m
	}
	// Sub-attributes not given are left unchanged (RFC 7644 §3.5.2.1, §3.5.2.3).
	for k, x := range canonical(a.SubAttributes, v) {
		m[k] = x
	}
}

// patchMulti patches a multi-valued complex attribute (emails, members).
func patchMulti(c map[string]any, kind string, a *attr, vf filter.Expression, sub *attr, value any, hasValue bool) error {
	list, _ := c[a.Name].([]any)
	set := func(l []any) {
		if len(l) == 0 {
			delete(c, a.Name)
			return
		}
		c[a.Name] = l
	}
	newElems := func() ([]any, error) {
		var in []any
		switch v := value.(type) {
		case []any:
			in = v
		case map[string]any:
			in = []any{v}
		default:
			return nil, errorf(http.StatusBadRequest, "invalidValue", "%s needs an array of objects", a.Name)
		}
		out := make([]any, 0, len(in))
		for _, e := range in {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, errorf(http.StatusBadRequest, "invalidValue", "%s needs an array of objects", a.Name)
			}
			out = append(out, canonical(a.SubAttributes, m))
		}
		return out, nil
	}

	if vf == nil {
		switch {
		case sub != nil: // emails.value: every element
			if kind == "remove" {
				for _, m := range elements(c, a.Name) {
					delete(m, sub.Name)
				}
				return nil
			}
			if len(list) == 0 {
				set([]any{map[string]any{sub.Name: value}})
				return nil
			}
			for _, m := range elements(c, a.Name) {
				m[sub.Name] = value
			}
		case kind == "remove" && !hasValue:
			delete(c, a.Name)
		case kind == "remove":
			gone, err := newElems()
			if err != nil {
				return err
			}
			set(slices.DeleteFunc(list, func(e any) bool {
				return slices.ContainsFunc(gone, func(g any) bool { return sameValue(a, e, g) })
			}))
		case kind == "replace":
			l, err := newElems()
			if err != nil {
				return err
			}
			set(primaryOnce(l))
		default: // add
			l, err := newElems()
			if err != nil {
				return err
			}
			for _, e := range l {
				if !slices.ContainsFunc(list, func(x any) bool { return sameValue(a, x, e) }) {
					list = append(list, e)
				}
			}
			set(primaryOnce(list))
		}
		return nil
	}

	inner := scope{attrs: a.SubAttributes}
	if err := inner.prepare(vf); err != nil {
		var se *scimError
		if errors.As(err, &se) {
			se.scimType = "invalidPath"
		}
		return err
	}
	var matched []map[string]any
	for _, m := range elements(c, a.Name) {
		if inner.match(vf, m) {
			matched = append(matched, m)
		}
	}
	if kind == "remove" {
		if sub != nil {
			for _, m := range matched {
				delete(m, sub.Name)
			}
			return nil
		}
		set(slices.DeleteFunc(list, func(e any) bool {
			m, ok := e.(map[string]any)
			return ok && inner.match(vf, m)
		}))
		return nil
	}
	if len(matched) == 0 {
		eq, ok := equalities(vf)
		if kind == "replace" || !ok {
			return errorf(http.StatusBadRequest, "noTarget", "no %s value matches the filter", a.Name)
		}
		base := canonical(a.SubAttributes, eq)
		if sub != nil {
			base[sub.Name] = value
		} else if v, ok := value.(map[string]any); ok {
			for k, x := range canonical(a.SubAttributes, v) {
				base[k] = x
			}
		}
		set(primaryOnce(append(list, base)))
		return nil
	}
	for _, m := range matched {
		switch v := value.(type) {
		case map[string]any:
			if sub != nil {
				m[sub.Name] = v
				continue
			}
			if kind == "replace" {
				clear(m)
			}
			for k, x := range canonical(a.SubAttributes, v) {
				m[k] = x
			}
		default:
			if sub == nil {
				return errorf(http.StatusBadRequest, "invalidValue", "%s values are objects", a.Name)
			}
			m[sub.Name] = v
		}
	}
	set(primaryOnce(list))
	return nil
}

// sameValue reports whether two elements of a carry the same "value"
// (emails compare case-insensitively).
func sameValue(a *attr, x, y any) bool {
	mx, _ := x.(map[string]any)
	my, _ := y.(map[string]any)
	vx, _ := mx["value"].(string)
	vy, _ := my["value"].(string)
	if vx == "" || vy == "" {
		return false
	}
	if vs := a.valueSub(); vs != nil && !vs.CaseExact {
		return strings.EqualFold(vx, vy)
	}
	return vx == vy
}

// primaryOnce keeps "primary": true on the last element that has it: at
// most one value may be primary (RFC 7643 §2.4).
func primaryOnce(l []any) []any {
	last := -1
	for i, e := range l {
		if m, ok := e.(map[string]any); ok {
			if b, _ := asBool(m["primary"]); b {
				last = i
			}
		}
	}
	for i, e := range l {
		if m, ok := e.(map[string]any); ok && i != last {
			if _, has := m["primary"]; has {
				m["primary"] = false
			}
		}
	}
	return l
}

// equalities returns the sub-attribute values a filter made only of eq
// comparisons joined by "and" requires, to build a new element from.
func equalities(e filter.Expression) (map[string]any, bool) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if e.Operator != "eq" || e.CompareValue == nil {
			return nil, false
		}
		return map[string]any{e.AttributePath.AttributeName: e.CompareValue}, true
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return nil, false
		}
		l, ok := equalities(e.Left)
		if !ok {
			return nil, false
		}
		r, ok := equalities(e.Right)
		if !ok {
			return nil, false
		}
		for k, v := range r {
			l[k] = v
		}
		return l, true
	}
	return nil, false
}
