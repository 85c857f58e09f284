package scimserver

import (
	"fmt"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// Schema URNs (RFC 7643 §3, §4.3, §8.7; RFC 7644 §3.4.2, §3.5.2, §3.12).
const (
	userSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	spcSchema        = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	rtSchema         = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	listSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	patchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	errorSchema      = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// DefaultOrgUnitAttribute is where a user's org unit is read from unless
// Options.OrgUnitAttribute says otherwise.
const DefaultOrgUnitAttribute = enterpriseSchema + ":department"

// Attribute types and characteristics (RFC 7643 §2.2, §2.3, §7).
const (
	typeString    = "string"
	typeBoolean   = "boolean"
	typeComplex   = "complex"
	typeDateTime  = "dateTime"
	typeReference = "reference"
)

// attr describes one attribute as /Schemas shows it (RFC 7643 §7). The
// same descriptions drive filtering, PATCH paths and canonical names, so
// what /Schemas says is what the server does.
type attr struct {
	Name            string   `json:"name"`
	Type            string   `json:"type"`
	SubAttributes   []attr   `json:"subAttributes,omitempty"`
	MultiValued     bool     `json:"multiValued"`
	Description     string   `json:"description"`
	Required        bool     `json:"required"`
	CanonicalValues []string `json:"canonicalValues,omitempty"`
	CaseExact       bool     `json:"caseExact"`
	Mutability      string   `json:"mutability"`
	Returned        string   `json:"returned"`
	Uniqueness      string   `json:"uniqueness"`
	ReferenceTypes  []string `json:"referenceTypes,omitempty"`
}

func (a *attr) sub(name string) *attr {
	for i := range a.SubAttributes {
		if strings.EqualFold(a.SubAttributes[i].Name, name) {
			return &a.SubAttributes[i]
		}
	}
	return nil
}

// valueSub is the attribute a filter compares when it names a
// multi-valued complex attribute without a sub-attribute: "emails co x"
// means "emails.value co x" (RFC 7644 §3.4.2.2).
func (a *attr) valueSub() *attr {
	if a.Type != typeComplex {
		return a
	}
	return a.sub("value")
}

func find(attrs []attr, name string) *attr {
	for i := range attrs {
		if strings.EqualFold(attrs[i].Name, name) {
			return &attrs[i]
		}
	}
	return nil
}

func str(name, desc string, caseExact bool) attr {
	return attr{Name: name, Type: typeString, Description: desc, CaseExact: caseExact,
		Mutability: "readWrite", Returned: "default", Uniqueness: "none"}
}

// schema is a core schema or an extension (RFC 7643 §7).
type schema struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Attributes  []attr `json:"attributes"`
}

// resourceType is a SCIM resource type (RFC 7643 §6) with the schemas
// that describe it.
type resourceType struct {
	Name     string
	Endpoint string
	Core     schema
	Ext      *schema // nil: none
}

// common are the attributes every resource has (RFC 7643 §3.1). /Schemas
// does not list them; filters may use them.
var common = []attr{
	{Name: "id", Type: typeString, CaseExact: true, Mutability: "readOnly", Returned: "always", Uniqueness: "server"},
	{Name: "externalId", Type: typeString, CaseExact: true, Mutability: "readWrite", Returned: "default", Uniqueness: "none"},
	{Name: "schemas", Type: typeReference, MultiValued: true, CaseExact: true, Mutability: "readOnly", Returned: "always", Uniqueness: "none"},
	{Name: "meta", Type: typeComplex, Mutability: "readOnly", Returned: "default", Uniqueness: "none", SubAttributes: []attr{
		{Name: "resourceType", Type: typeString, CaseExact: true, Mutability: "readOnly", Returned: "default", Uniqueness: "none"},
		{Name: "created", Type: typeDateTime, Mutability: "readOnly", Returned: "default", Uniqueness: "none"},
		{Name: "lastModified", Type: typeDateTime, Mutability: "readOnly", Returned: "default", Uniqueness: "none"},
		{Name: "location", Type: typeReference, CaseExact: true, Mutability: "readOnly", Returned: "default", Uniqueness: "none"},
	}},
}

// orgUnitAttr says where a user's org unit lives: an attribute of an
// extension schema (URN set) or of the core User schema (URN empty).
type orgUnitAttr struct {
	URN  string
	Name string
}

// modeledUser are the core User attributes Roster keeps; an org unit
// attribute in the core schema must not be one of them.
var modeledUser = []string{"userName", "name", "displayName", "emails", "active", "id", "externalId", "meta", "schemas", "groups", "password"}

// ValidateOrgUnitAttribute reports whether s can name the attribute a
// user's org unit is read from: a simple attribute of an extension schema
// ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
// "urn:example:custom:2.0:User:orgUnit") or of the core User schema
// ("title"), other than the attributes Roster already uses.
func ValidateOrgUnitAttribute(s string) error {
	_, err := parseOrgUnitAttr(s)
	return err
}

func parseOrgUnitAttr(s string) (orgUnitAttr, error) {
	p, err := filter.ParsePath([]byte(strings.TrimSpace(s)))
	if err != nil || p.ValueExpression != nil || p.SubAttribute != nil || p.AttributePath.SubAttribute != nil {
		return orgUnitAttr{}, fmt.Errorf("org unit attribute %q: want a simple attribute such as %s", s, DefaultOrgUnitAttribute)
	}
	ou := orgUnitAttr{URN: p.AttributePath.URI(), Name: p.AttributePath.AttributeName}
	if strings.EqualFold(ou.URN, userSchema) {
		ou.URN = ""
	}
	if strings.EqualFold(ou.URN, groupSchema) || strings.HasPrefix(strings.ToLower(ou.URN), "urn:ietf:params:scim:api:") {
		return orgUnitAttr{}, fmt.Errorf("org unit attribute %q: want a User attribute", s)
	}
	if ou.URN == "" {
		for _, n := range modeledUser {
			if strings.EqualFold(n, ou.Name) {
				return orgUnitAttr{}, fmt.Errorf("org unit attribute %q: Roster already uses %s", s, n)
			}
		}
	}
	if strings.EqualFold(ou.URN, enterpriseSchema) {
		ou.URN = enterpriseSchema
	}
	return ou, nil
}

// resourceTypes builds the User and Group resource types for ou.
func resourceTypes(ou orgUnitAttr) (user, group *resourceType) {
	orgUnit := str(ou.Name, "The person's org unit in Roster, a path such as Engineering/Platform "+
		"(a leading / is added when missing). Access assigned to an org unit reaches its sub-units.", false)

	user = &resourceType{Name: "User", Endpoint: "/Users", Core: schema{
		ID: userSchema, Name: "User", Description: "A person in the organization's directory.",
		Attributes: []attr{
			{Name: "userName", Type: typeString, Required: true, Mutability: "readWrite", Returned: "always", Uniqueness: "server",
				Description: "Unique identifier for the user in the identity provider, often their email address. When no email is given and it is an email address, it is the person's email."},
			{Name: "name", Type: typeComplex, Mutability: "readWrite", Returned: "default", Uniqueness: "none",
				Description: "The person's name. Roster keeps one formatted name; givenName and familyName are accepted to build it and are not returned.",
				SubAttributes: []attr{
					str("formatted", "The full name, as displayed.", false),
					{Name: "givenName", Type: typeString, Mutability: "readWrite", Returned: "never", Uniqueness: "none", Description: "Given name; combined with familyName into formatted when formatted and displayName are absent."},
					{Name: "familyName", Type: typeString, Mutability: "readWrite", Returned: "never", Uniqueness: "none", Description: "Family name; combined with givenName into formatted when formatted and displayName are absent."},
				}},
			str("displayName", "The name shown for the person; the same value as name.formatted.", false),
			{Name: "emails", Type: typeComplex, MultiValued: true, Mutability: "readWrite", Returned: "default", Uniqueness: "none",
				Description: "Email addresses. Roster keeps one: the primary one, else the work one, else the first. It is unique across users and returned as the primary work email.",
				SubAttributes: []attr{
					str("value", "The email address.", false),
					{Name: "type", Type: typeString, CanonicalValues: []string{"work", "home", "other"}, Mutability: "readWrite", Returned: "default", Uniqueness: "none", Description: "The kind of address."},
					{Name: "primary", Type: typeBoolean, Mutability: "readWrite", Returned: "default", Uniqueness: "none", Description: "Whether this is the primary address."},
				}},
			{Name: "active", Type: typeBoolean, Mutability: "readWrite", Returned: "default", Uniqueness: "none",
				Description: "Whether the person's directory account is enabled. false disables it: nothing entitles a disabled person, so their Slack account is deactivated."},
		},
	}}
	if ou.URN == "" {
		user.Core.Attributes = append(user.Core.Attributes, orgUnit)
	} else {
		name, desc := "Roster org unit", "The attribute Roster reads the org unit from."
		if ou.URN == enterpriseSchema {
			name, desc = "EnterpriseUser", "Enterprise User; Roster keeps only the attribute listed."
		}
		user.Ext = &schema{ID: ou.URN, Name: name, Description: desc, Attributes: []attr{orgUnit}}
	}

	group = &resourceType{Name: "Group", Endpoint: "/Groups", Core: schema{
		ID: groupSchema, Name: "Group", Description: "A group in the organization's directory. Access assigned to a group reaches its enabled members.",
		Attributes: []attr{
			{Name: "displayName", Type: typeString, Required: true, Mutability: "readWrite", Returned: "default", Uniqueness: "server",
				Description: "The group's name, unique case-insensitively. Access is assigned to a group by this name."},
			{Name: "members", Type: typeComplex, MultiValued: true, Mutability: "readWrite", Returned: "default", Uniqueness: "none",
				Description: "The group's members: users only (groups cannot be members).",
				SubAttributes: []attr{
					{Name: "value", Type: typeString, CaseExact: true, Mutability: "immutable", Returned: "default", Uniqueness: "none", Description: "The member's id."},
					{Name: "$ref", Type: typeReference, ReferenceTypes: []string{"User"}, CaseExact: true, Mutability: "immutable", Returned: "default", Uniqueness: "none", Description: "The member's URI."},
					{Name: "type", Type: typeString, CanonicalValues: []string{"User"}, Mutability: "immutable", Returned: "default", Uniqueness: "none", Description: "Always User."},
					{Name: "display", Type: typeString, Mutability: "immutable", Returned: "never", Uniqueness: "none", Description: "Accepted and ignored."},
				}},
		},
	}}
	return user, group
}

// schemaURN returns the canonical URN of rt's core or extension schema
// that s names, case-insensitively.
func (rt *resourceType) schemaURN(s string) (string, bool) {
	if strings.EqualFold(s, rt.Core.ID) {
		return rt.Core.ID, true
	}
	if rt.Ext != nil && strings.EqualFold(s, rt.Ext.ID) {
		return rt.Ext.ID, true
	}
	return "", false
}

// ref is an attribute resolved against a resource type: urn is "" for the
// core schema and common attributes, or the extension URN, where the
// attribute sits in the resource under that key.
type ref struct {
	urn string
	a   *attr
	sub *attr // nil: the whole attribute
}

// errUnknownAttr is returned by lookup for an attribute Roster does not
// keep; callers decide whether that is an error (filters) or not (PATCH).
type unknownAttrError struct{ path string }

func (e *unknownAttrError) Error() string {
	return fmt.Sprintf("attribute %q is not supported", e.path)
}

// lookup resolves p against rt: the core schema and common attributes, or
// the extension when p names its URN. An attribute without a URN that is
// not in the core schema is looked for in the extension, as many clients
// write "department" for the enterprise extension's department.
func (rt *resourceType) lookup(p filter.AttributePath) (ref, error) {
	var r ref
	switch uri := p.URI(); {
	case uri == "" || strings.EqualFold(uri, rt.Core.ID):
		r.a = find(rt.Core.Attributes, p.AttributeName)
		if r.a == nil {
			r.a = find(common, p.AttributeName)
		}
		if r.a == nil && uri == "" && rt.Ext != nil {
			if a := find(rt.Ext.Attributes, p.AttributeName); a != nil {
				r.urn, r.a = rt.Ext.ID, a
			}
		}
	case rt.Ext != nil && strings.EqualFold(uri, rt.Ext.ID):
		r.urn, r.a = rt.Ext.ID, find(rt.Ext.Attributes, p.AttributeName)
	}
	if r.a == nil {
		return ref{}, &unknownAttrError{p.String()}
	}
	if p.SubAttribute != nil {
		if r.a.Type != typeComplex {
			return ref{}, &unknownAttrError{p.String()}
		}
		r.sub = r.a.sub(*p.SubAttribute)
		if r.sub == nil {
			return ref{}, &unknownAttrError{p.String()}
		}
	}
	return r, nil
}

// container returns the map r's attribute lives in within d: d itself, or
// the extension's object (created when create is true).
func (r ref) container(d map[string]any, create bool) map[string]any {
	if r.urn == "" {
		return d
	}
	m, ok := d[r.urn].(map[string]any)
	if !ok && create {
		m = map[string]any{}
		d[r.urn] = m
	}
	return m
}

// canonical returns v with the keys of every object renamed to the
// canonical names of attrs (SCIM attribute names are case-insensitive,
// RFC 7643 §2.1); unknown keys are kept as they are.
func canonical(attrs []attr, v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		a := find(attrs, k)
		if a == nil {
			out[k] = x
			continue
		}
		out[a.Name] = canonicalValue(a, x)
	}
	return out
}

func canonicalValue(a *attr, x any) any {
	if a.Type != typeComplex {
		return x
	}
	switch x := x.(type) {
	case map[string]any:
		return canonical(a.SubAttributes, x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			if m, ok := e.(map[string]any); ok {
				out[i] = canonical(a.SubAttributes, m)
			} else {
				out[i] = e
			}
		}
		return out
	}
	return x
}

// canonicalResource canonicalizes a whole resource of type rt: core and
// common attribute names, the extension's URN and its attributes.
func (rt *resourceType) canonicalResource(d map[string]any) map[string]any {
	attrs := append(append([]attr(nil), rt.Core.Attributes...), common...)
	out := canonical(attrs, d)
	if rt.Ext == nil {
		return out
	}
	for k, v := range d {
		if !strings.EqualFold(k, rt.Ext.ID) {
			continue
		}
		delete(out, k)
		if m, ok := v.(map[string]any); ok {
			out[rt.Ext.ID] = canonical(rt.Ext.Attributes, m)
		} else {
			out[rt.Ext.ID] = v
		}
	}
	return out
}

// lookupName resolves an attribute name as the attributes and
// excludedAttributes parameters give it.
func (rt *resourceType) lookupName(name string) (ref, bool) {
	p, err := filter.ParsePath([]byte(strings.TrimSpace(name)))
	if err != nil || p.ValueExpression != nil {
		return ref{}, false
	}
	r, err := rt.lookup(p.AttributePath)
	return r, err == nil
}
