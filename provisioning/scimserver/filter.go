package scimserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// Filters (RFC 7644 §3.4.2.2) are parsed by scim2/filter-parser. Before
// that, one form outside RFC 7644's grammar that identity providers send
// is rewritten: `emails[type eq "work"].value eq "x"` becomes the
// equivalent `emails[type eq "work" and value eq "x"]`.
//
// A filter is then prepared against the resource type's schema: every
// attribute must be one /Schemas describes (else 400 invalidFilter), each
// operator must suit the attribute's type, and compare values are turned
// into Go values (strings unescaped, booleans and dateTimes parsed). Only
// then is it evaluated, so a bad filter fails the same way whatever the
// data.

// parseFilter parses and prepares a filter; "" is no filter (nil).
func (rt *resourceType) parseFilter(s string) (filter.Expression, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	e := simpleFilter(s)
	if e == nil {
		rw, err := rewriteValuePathSub(s)
		if err != nil {
			return nil, err
		}
		if e, err = filter.ParseFilter([]byte(rw)); err != nil {
			return nil, errorf(http.StatusBadRequest, "invalidFilter", "filter %q is not valid SCIM filter syntax (RFC 7644 §3.4.2.2)", s)
		}
	}
	if err := (scope{rt: rt}).prepare(e); err != nil {
		return nil, err
	}
	return e, nil
}

// simpleEq is the filter identity providers send before every create
// (userName eq "…", externalId eq "…", displayName eq "…").
var simpleEq = regexp.MustCompile(`^([A-Za-z][\w$-]*)(?:\.([A-Za-z][\w$-]*))? +(?i:eq) +"((?:[^"\\]|\\.)*)"$`)

// simpleFilter parses attr eq "value" and attr.sub eq "value" itself, as
// the parser would, a hundred times faster; nil for any other filter.
func simpleFilter(s string) filter.Expression {
	m := simpleEq.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	e := &filter.AttributeExpression{AttributePath: filter.AttributePath{AttributeName: m[1]}, Operator: filter.EQ, CompareValue: m[3]}
	if m[2] != "" {
		e.AttributePath.SubAttribute = &m[2]
	}
	return e
}

// scope is what attribute names resolve against: a resource type, or the
// sub-attributes of a multi-valued attribute inside a value filter
// (emails[type eq "work"]).
type scope struct {
	rt    *resourceType
	attrs []attr
}

func (sc scope) resolve(p filter.AttributePath) (ref, error) {
	if sc.rt != nil {
		return sc.rt.lookup(p)
	}
	if p.URI() != "" || p.SubAttribute != nil {
		return ref{}, &unknownAttrError{p.String()}
	}
	a := find(sc.attrs, p.AttributeName)
	if a == nil {
		return ref{}, &unknownAttrError{p.String()}
	}
	return ref{a: a}, nil
}

// leaf is the simple attribute a comparison on r compares, or nil when r
// is a complex attribute without one (only "pr" applies then).
func (r ref) leaf() *attr {
	switch {
	case r.sub != nil:
		return r.sub
	case r.a.Type != typeComplex:
		return r.a
	case r.a.MultiValued:
		return r.a.valueSub()
	}
	return nil
}

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true, "pr": true}

// prepare checks e against sc and converts its compare values in place.
func (sc scope) prepare(e filter.Expression) error {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if err := sc.prepare(e.Left); err != nil {
			return err
		}
		return sc.prepare(e.Right)
	case *filter.NotExpression:
		return sc.prepare(e.Expression)
	case *filter.ValuePath:
		r, err := sc.resolve(e.AttributePath)
		if err != nil {
			return invalidFilter(err)
		}
		if !r.a.MultiValued || r.a.Type != typeComplex || r.sub != nil {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s is not a multi-valued complex attribute: [ ] does not apply", e.AttributePath)
		}
		return scope{attrs: r.a.SubAttributes}.prepare(e.ValueFilter)
	case *filter.AttributeExpression:
		r, err := sc.resolve(e.AttributePath)
		if err != nil {
			return invalidFilter(err)
		}
		op := strings.ToLower(string(e.Operator))
		e.Operator = filter.CompareOperator(op)
		if !compareOps[op] {
			return errorf(http.StatusBadRequest, "invalidFilter", "unknown operator %q", op)
		}
		leaf := r.leaf()
		if leaf != nil && leaf.Returned == "never" {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s is not stored, so it cannot be filtered on", e.AttributePath)
		}
		if op == "pr" {
			return nil
		}
		if leaf == nil {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s is complex: compare one of its sub-attributes", e.AttributePath)
		}
		if e.CompareValue == nil {
			if op != "eq" && op != "ne" {
				return errorf(http.StatusBadRequest, "invalidFilter", "%s %s null: only eq and ne compare with null", e.AttributePath, op)
			}
			return nil
		}
		return prepareValue(e, leaf, op)
	}
	return errorf(http.StatusBadRequest, "invalidFilter", "unsupported filter expression")
}

func invalidFilter(err error) error {
	return errorf(http.StatusBadRequest, "invalidFilter", "%v for filtering", err)
}

func prepareValue(e *filter.AttributeExpression, leaf *attr, op string) error {
	switch leaf.Type {
	case typeBoolean:
		if op != "eq" && op != "ne" {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s is a boolean: use eq, ne or pr", e.AttributePath)
		}
		b, ok := asBool(e.CompareValue)
		if !ok {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s is a boolean: compare it with true or false", e.AttributePath)
		}
		e.CompareValue = b
	case typeDateTime:
		s, ok := e.CompareValue.(string)
		if !ok || op == "co" || op == "sw" || op == "ew" {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s is a dateTime: compare it with eq, ne, gt, ge, lt or le and a quoted date", e.AttributePath)
		}
		t, err := time.Parse(time.RFC3339Nano, unescape(s))
		if err != nil {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s: %q is not an xsd:dateTime such as 2011-05-13T04:42:34Z", e.AttributePath, s)
		}
		e.CompareValue = t
	default:
		s, ok := e.CompareValue.(string)
		if !ok {
			return errorf(http.StatusBadRequest, "invalidFilter", "%s is a string: compare it with a quoted value", e.AttributePath)
		}
		e.CompareValue = unescape(s)
	}
	return nil
}

// unescape undoes JSON string escapes, which the parser leaves in place.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// asBool accepts JSON booleans and, as Entra ID sends them, the strings
// "true" and "false" in any case.
func asBool(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// match evaluates a prepared filter against resource d.
func (sc scope) match(e filter.Expression, d map[string]any) bool {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			return sc.match(e.Left, d) && sc.match(e.Right, d)
		}
		return sc.match(e.Left, d) || sc.match(e.Right, d)
	case *filter.NotExpression:
		return !sc.match(e.Expression, d)
	case *filter.ValuePath:
		r, _ := sc.resolve(e.AttributePath)
		inner := scope{attrs: r.a.SubAttributes}
		for _, el := range elements(r.container(d, false), r.a.Name) {
			if inner.match(e.ValueFilter, el) {
				return true
			}
		}
		return false
	case *filter.AttributeExpression:
		r, _ := sc.resolve(e.AttributePath)
		op := string(e.Operator)
		switch {
		case op == "pr":
			return r.present(d)
		case e.CompareValue == nil:
			return r.present(d) == (op == "ne")
		case op == "ne":
			return !anyMatch(r, d, "eq", e.CompareValue)
		}
		return anyMatch(r, d, op, e.CompareValue)
	}
	return false
}

func anyMatch(r ref, d map[string]any, op string, cv any) bool {
	leaf := r.leaf()
	for _, v := range r.values(d) {
		if compare(leaf, op, v, cv) {
			return true
		}
	}
	return false
}

// elements returns the objects of multi-valued attribute name in c.
func elements(c map[string]any, name string) []map[string]any {
	list, _ := c[name].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// values returns the values of r's leaf in d (for a multi-valued
// attribute, one per element), leaving out absent and empty ones.
func (r ref) values(d map[string]any) []any {
	c := r.container(d, false)
	if c == nil {
		return nil
	}
	v := c[r.a.Name]
	var out []any
	add := func(x any) {
		if x != nil && x != "" {
			out = append(out, x)
		}
	}
	switch {
	case r.a.MultiValued && r.a.Type == typeComplex:
		leaf := r.leaf()
		if leaf == nil {
			return nil
		}
		for _, m := range elements(c, r.a.Name) {
			add(m[leaf.Name])
		}
	case r.a.MultiValued:
		list, _ := v.([]any)
		for _, x := range list {
			add(x)
		}
	case r.sub != nil:
		if m, ok := v.(map[string]any); ok {
			add(m[r.sub.Name])
		}
	default:
		add(v)
	}
	return out
}

// present reports whether r has a value in d (RFC 7644 "pr").
func (r ref) present(d map[string]any) bool {
	if r.sub != nil || r.a.Type != typeComplex {
		return len(r.values(d)) > 0
	}
	c := r.container(d, false)
	switch v := c[r.a.Name].(type) {
	case []any:
		return len(v) > 0
	case map[string]any:
		for _, x := range v {
			if x != nil && x != "" {
				return true
			}
		}
	}
	return false
}

func compare(leaf *attr, op string, v, cv any) bool {
	switch leaf.Type {
	case typeBoolean:
		b, ok := asBool(v)
		return ok && b == cv.(bool)
	case typeDateTime:
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return false
		}
		c := cv.(time.Time)
		switch op {
		case "eq":
			return t.Equal(c)
		case "gt":
			return t.After(c)
		case "ge":
			return !t.Before(c)
		case "lt":
			return t.Before(c)
		case "le":
			return !t.After(c)
		}
		return false
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	c := cv.(string)
	if !leaf.CaseExact {
		s, c = strings.ToLower(s), strings.ToLower(c)
	}
	switch op {
	case "eq":
		return s == c
	case "co":
		return strings.Contains(s, c)
	case "sw":
		return strings.HasPrefix(s, c)
	case "ew":
		return strings.HasSuffix(s, c)
	case "gt":
		return s > c
	case "ge":
		return s >= c
	case "lt":
		return s < c
	case "le":
		return s <= c
	}
	return false
}

// probe is an equality a filter requires of every match, used to find
// candidates by index instead of reading every resource.
type probe struct {
	attr  string // canonical attribute name
	value string
}

// probes returns equalities one of which every resource matching e
// satisfies, using only attributes in allowed; ok is false when e has no
// such set (a full scan is needed).
func (rt *resourceType) probes(e filter.Expression, allowed map[string]bool) (ps []probe, ok bool) {
	sc := scope{rt: rt}
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, lok := rt.probes(e.Left, allowed)
		if e.Operator == filter.AND {
			if lok {
				return l, true
			}
			return rt.probes(e.Right, allowed)
		}
		r, rok := rt.probes(e.Right, allowed)
		return append(l, r...), lok && rok
	case *filter.AttributeExpression:
		r, err := sc.resolve(e.AttributePath)
		v, isStr := e.CompareValue.(string)
		if err != nil || e.Operator != "eq" || !isStr || r.urn != "" || !allowed[r.a.Name] {
			return nil, false
		}
		if r.a.Type == typeComplex && r.leaf() != r.a.valueSub() {
			return nil, false
		}
		return []probe{{r.a.Name, v}}, true
	case *filter.ValuePath:
		r, err := sc.resolve(e.AttributePath)
		if err != nil || r.urn != "" || !allowed[r.a.Name] {
			return nil, false
		}
		if v, ok := valueEq(e.ValueFilter); ok {
			return []probe{{r.a.Name, v}}, true
		}
	}
	return nil, false
}

// valueEq finds `value eq "x"` that e requires.
func valueEq(e filter.Expression) (string, bool) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		v, ok := e.CompareValue.(string)
		if ok && e.Operator == "eq" && strings.EqualFold(e.AttributePath.AttributeName, "value") && e.AttributePath.SubAttribute == nil {
			return v, true
		}
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			if v, ok := valueEq(e.Left); ok {
				return v, true
			}
			return valueEq(e.Right)
		}
	}
	return "", false
}

// rewriteValuePathSub rewrites attr[F].sub OP V, a form outside RFC
// 7644's filter grammar that identity providers send, into the equivalent
// attr[F and sub OP V].
func rewriteValuePathSub(s string) (string, error) {
	var b strings.Builder
	i := 0
	for i < len(s) {
		switch s[i] {
		case '"':
			j := skipString(s, i)
			b.WriteString(s[i:j])
			i = j
			continue
		case '[':
		default:
			b.WriteByte(s[i])
			i++
			continue
		}
		end := closing(s, i)
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		inner := s[i+1 : end]
		if sub, op, value, next, ok := subComparison(s, end+1); ok {
			if topLevelOr.MatchString(stripStrings(inner)) {
				return "", errorf(http.StatusBadRequest, "invalidFilter", "filter %q: write attr[A and sub op v] or attr[B and sub op v] instead of attr[A or B].sub", s)
			}
			fmt.Fprintf(&b, "[%s and %s %s%s]", inner, sub, op, value)
			i = next
			continue
		}
		b.WriteString(s[i : end+1])
		i = end + 1
	}
	return b.String(), nil
}

var topLevelOr = regexp.MustCompile(`(?i)(^|[\s)])or([\s(]|$)`)

// subComparison parses ".sub op value" at s[k:].
func subComparison(s string, k int) (sub, op, value string, next int, ok bool) {
	if k >= len(s) || s[k] != '.' {
		return "", "", "", 0, false
	}
	n := k + 1
	for n < len(s) && isNameChar(s[n]) {
		n++
	}
	sub = s[k+1 : n]
	m := n
	for m < len(s) && s[m] == ' ' {
		m++
	}
	o := m
	for o < len(s) && (s[o]|0x20) >= 'a' && (s[o]|0x20) <= 'z' {
		o++
	}
	op = strings.ToLower(s[m:o])
	if sub == "" || m == n || !compareOps[op] {
		return "", "", "", 0, false
	}
	if op == "pr" {
		return sub, op, "", o, true
	}
	v := o
	for v < len(s) && s[v] == ' ' {
		v++
	}
	if v == o || v == len(s) {
		return "", "", "", 0, false
	}
	q := v
	if s[v] == '"' {
		q = skipString(s, v)
	} else {
		for q < len(s) && s[q] != ' ' && s[q] != ')' && s[q] != ']' {
			q++
		}
	}
	return sub, op, " " + s[v:q], q, true
}

func isNameChar(c byte) bool {
	return c == '_' || c == '-' || c == '$' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// skipString returns the index just past the string starting at s[i].
func skipString(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}

// closing returns the index of the ']' closing the '[' at s[i], or -1.
func closing(s string, i int) int {
	for j := i + 1; j < len(s); {
		switch s[j] {
		case '"':
			j = skipString(s, j)
			continue
		case ']':
			return j
		}
		j++
	}
	return -1
}

func stripStrings(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '"' {
			i = skipString(s, i)
			b.WriteString(`""`)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}
