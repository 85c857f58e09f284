package scimserver

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/roster-app/roster/provisioning"
	filter "github.com/scim2/filter-parser/v2"
)

func TestRewriteValuePathSub(t *testing.T) {
	tests := []struct{ in, want string }{
		{`userName eq "x"`, `userName eq "x"`},
		{`emails[type eq "work"].value eq "a@example.com"`, `emails[type eq "work" and value eq "a@example.com"]`},
		{`emails[type eq "work"].value pr`, `emails[type eq "work" and value pr]`},
		{`emails[type eq "work"].value eq "a]b" and active eq true`, `emails[type eq "work" and value eq "a]b"] and active eq true`},
		{`emails[type eq "w\"]k"].value sw "a"`, `emails[type eq "w\"]k" and value sw "a"]`},
		{`(emails[type eq "work"].value ew "example.com")`, `(emails[type eq "work" and value ew "example.com"])`},
		{`emails[type eq "work" and value co "@example.com"]`, `emails[type eq "work" and value co "@example.com"]`},
		{`members[value eq "1"].display`, `members[value eq "1"].display`}, // no comparison: the parser decides
		{`displayName eq "a[b].c eq d"`, `displayName eq "a[b].c eq d"`},
	}
	for _, tt := range tests {
		got, err := rewriteValuePathSub(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("rewriteValuePathSub(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := rewriteValuePathSub(`emails[type eq "work" or type eq "home"].value eq "x"`); err == nil {
		t.Errorf("rewriteValuePathSub of a value filter with or: no error")
	}
}

func TestNameAfterPatch(t *testing.T) {
	doc := func(formatted, display, given, family string) map[string]any {
		d := map[string]any{}
		n := map[string]any{}
		for k, v := range map[string]string{"formatted": formatted, "givenName": given, "familyName": family} {
			if v != "" {
				n[k] = v
			}
		}
		if len(n) > 0 {
			d["name"] = n
		}
		if display != "" {
			d["displayName"] = display
		}
		return d
	}
	orig := doc("Ada Lovelace", "Ada Lovelace", "", "")
	tests := []struct {
		name string
		d    map[string]any
		old  string
		want string
	}{
		{"unchanged", orig, "Ada Lovelace", "Ada Lovelace"},
		{"formatted", doc("Ada King", "Ada Lovelace", "", ""), "Ada Lovelace", "Ada King"},
		{"displayName", doc("Ada Lovelace", "Countess", "", ""), "Ada Lovelace", "Countess"},
		{"given and family", doc("Ada Lovelace", "Ada Lovelace", "Augusta", "King"), "Ada Lovelace", "Augusta King"},
		{"family", doc("Ada Lovelace", "Ada Lovelace", "", "King"), "Ada Lovelace", "Ada King"},
		{"family of three words", doc("Ada Lovelace", "Ada Lovelace", "", "King"), "Augusta Ada Lovelace", "Augusta Ada King"},
		{"given", doc("Ada Lovelace", "Ada Lovelace", "Augusta", ""), "Ada Lovelace", "Augusta Lovelace"},
		{"family of one word", doc("Ada Lovelace", "Ada Lovelace", "", "Lovelace"), "Ada", "Ada Lovelace"},
		{"formatted removed", doc("", "Ada Lovelace", "", ""), "Ada Lovelace", "Ada Lovelace"},
	}
	for _, tt := range tests {
		got, err := nameAfterPatch(orig, tt.d, tt.old)
		if err != nil || got != tt.want {
			t.Errorf("%s: nameAfterPatch = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// TestSimpleFilter: the fast path parses exactly as the parser does.
func TestSimpleFilter(t *testing.T) {
	for _, s := range []string{
		`userName eq "bjensen"`,
		`userName Eq "x"`,
		`userName  EQ  "x"`,
		`externalId eq "00ujl29u0le5T6Aj10h7"`,
		`name.givenName eq "a \"b\" c"`,
		`emails.value eq "a\\b@example.com"`,
		`displayName eq ""`,
	} {
		e := simpleFilter(s)
		if e == nil {
			t.Errorf("simpleFilter(%s) = nil", s)
			continue
		}
		want, err := filter.ParseFilter([]byte(s))
		if err != nil {
			continue // the parser refuses it: so does parseFilter, via prepare or not at all
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("simpleFilter(%s) = %#v, want %#v", s, e, want)
		}
	}
	for _, s := range []string{
		`userName eq "a" and active eq true`,
		`userName eq "a" or userName eq "b"`,
		`userName sw "a"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`,
		`emails[type eq "work"].value eq "a"`,
		`userName eq "a"b"`,
		`active eq true`,
	} {
		if e := simpleFilter(s); e != nil {
			t.Errorf("simpleFilter(%s) = %v, want nil", s, e)
		}
	}
}

// FuzzFilter: no filter makes the server panic; what parses evaluates.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`,
		`emails[type eq "work" and value co "@example.com"] or not (active eq false)`,
		`emails[type eq "work"].value eq "a@example.com"`,
		`meta.lastModified gt "2011-05-13T04:42:34Z" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw "/E"`,
		`members[value eq "1"] and displayName pr`,
		`externalId eq null`,
	} {
		f.Add(s)
	}
	user, group := resourceTypes(orgUnitAttr{URN: enterpriseSchema, Name: "department"})
	s := &server{user: user, group: group}
	ud := s.userDoc(provisioning.Person{ID: "p1", Email: "a@example.com", Name: "A B", Status: provisioning.PersonEnabled, OrgUnit: "/E"}, "http://x")
	gd := groupDoc(provisioning.Group{ID: "g1", Name: "G", Members: []string{"p1"}}, "http://x")
	f.Fuzz(func(t *testing.T, in string) {
		for _, c := range []struct {
			rt *resourceType
			d  map[string]any
		}{{user, ud}, {group, gd}} {
			e, err := c.rt.parseFilter(in)
			if err != nil || e == nil {
				continue
			}
			scope{rt: c.rt}.match(e, c.d)
			c.rt.probes(e, map[string]bool{"userName": true, "emails": true, "externalId": true, "id": true, "displayName": true, "members": true})
		}
	})
}

// FuzzPatch: no PATCH operation makes the server panic.
func FuzzPatch(f *testing.F) {
	f.Add("replace", `emails[type eq "work"].value`, `"x@example.com"`)
	f.Add("Add", "members", `[{"value":"p1"}]`)
	f.Add("remove", `members[value eq "p1"]`, ``)
	f.Add("replace", ``, `{"name.givenName":"A","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"x"}}`)
	f.Add("add", `name`, `{"formatted":"A"}`)
	user, group := resourceTypes(orgUnitAttr{URN: enterpriseSchema, Name: "department"})
	s := &server{user: user, group: group}
	f.Fuzz(func(t *testing.T, op, path, value string) {
		ops := []patchOperation{{Op: op, Path: path, Value: json.RawMessage(value)}}
		if value != "" && !json.Valid([]byte(value)) {
			ops[0].Value = nil
		}
		d := s.userDoc(provisioning.Person{ID: "p1", Email: "a@example.com", Name: "A B", Status: provisioning.PersonEnabled}, "http://x")
		if user.applyPatch(d, ops) == nil {
			_, _ = s.parseUser(d, &provisioning.Person{})
		}
		g := groupDoc(provisioning.Group{ID: "g1", Name: "G", Members: []string{"p1"}}, "http://x")
		if group.applyPatch(g, ops) == nil {
			_, _ = parseGroup(g)
		}
	})
}
