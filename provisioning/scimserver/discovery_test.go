package scimserver_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/provisioning/scimserver"
)

func TestServiceProviderConfig(t *testing.T) {
	e := newEnv(t, scimserver.Options{BaseURL: "https://roster.example.com/scim/v2"})
	r := e.do("GET", "/ServiceProviderConfig", "").want(t, 200)
	want := map[string]any{
		"schemas":        []any{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"patch":          map[string]any{"supported": true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0.0, "maxPayloadSize": 0.0},
		"filter":         map[string]any{"supported": true, "maxResults": 1000.0},
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": false},
		"etag":           map[string]any{"supported": false},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "Authorization: Bearer followed by the token set in ROSTER_SCIM_TOKEN.",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": "https://roster.example.com/scim/v2/ServiceProviderConfig"},
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("ServiceProviderConfig mismatch (-want +got):\n%s", diff)
	}
	// RFC 7644 §4: a filter on a discovery endpoint is refused with 403.
	e.do("GET", `/ServiceProviderConfig?filter=patch pr`, "").wantError(t, 403, "")
	e.do("POST", "/ServiceProviderConfig", "{}").wantError(t, 405, "")
}

func TestResourceTypes(t *testing.T) {
	e := newEnv(t, scimserver.Options{BaseURL: "https://roster.example.com/scim/v2"})
	r := e.do("GET", "/ResourceTypes", "").want(t, 200)
	user := map[string]any{
		"schemas":          []any{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":               "User",
		"name":             "User",
		"endpoint":         "/Users",
		"description":      "A person in the organization's directory.",
		"schema":           "urn:ietf:params:scim:schemas:core:2.0:User",
		"schemaExtensions": []any{map[string]any{"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false}},
		"meta":             map[string]any{"resourceType": "ResourceType", "location": "https://roster.example.com/scim/v2/ResourceTypes/User"},
	}
	if got := r.body["totalResults"]; got != 2.0 {
		t.Errorf("totalResults = %v, want 2", got)
	}
	if diff := cmp.Diff(user, r.resources()[0]); diff != "" {
		t.Errorf("User resource type mismatch (-want +got):\n%s", diff)
	}
	g := e.do("GET", "/ResourceTypes/Group", "").want(t, 200)
	if g.body["endpoint"] != "/Groups" || g.body["schema"] != "urn:ietf:params:scim:schemas:core:2.0:Group" || g.body["schemaExtensions"] != nil {
		t.Errorf("Group resource type = %s", g.raw)
	}
	e.do("GET", "/ResourceTypes/Device", "").wantError(t, 404, "")
}

func TestSchemas(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	r := e.do("GET", "/Schemas", "").want(t, 200)
	var ids []string
	for _, s := range r.resources() {
		ids = append(ids, s["id"].(string))
	}
	wantIDs := []string{
		"urn:ietf:params:scim:schemas:core:2.0:User",
		"urn:ietf:params:scim:schemas:core:2.0:Group",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
	}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("schema ids mismatch (-want +got):\n%s", diff)
	}
	// The User schema lists what Roster keeps, with RFC 7643 §7's
	// characteristics.
	u := e.do("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "").want(t, 200)
	var names []string
	for _, a := range u.body["attributes"].([]any) {
		a := a.(map[string]any)
		names = append(names, a["name"].(string))
		for _, k := range []string{"type", "multiValued", "description", "required", "caseExact", "mutability", "returned", "uniqueness"} {
			if _, ok := a[k]; !ok {
				t.Errorf("attribute %s lacks %s", a["name"], k)
			}
		}
	}
	if diff := cmp.Diff([]string{"userName", "name", "displayName", "emails", "active"}, names); diff != "" {
		t.Errorf("User attributes mismatch (-want +got):\n%s", diff)
	}
	if got := fieldOf(u.body, "attributes.0.uniqueness"); got != "server" {
		t.Errorf("userName uniqueness = %v, want server", got)
	}
	ent := e.do("GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "").want(t, 200)
	if got := fieldOf(ent.body, "attributes.0.name"); got != "department" || len(ent.body["attributes"].([]any)) != 1 {
		t.Errorf("enterprise attributes = %v, want department alone", ent.body["attributes"])
	}
	grp := e.do("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group", "").want(t, 200)
	if got := fieldOf(grp.body, "attributes.1.subAttributes.1.referenceTypes"); !equalJSON(got, []string{"User"}) {
		t.Errorf("members.$ref referenceTypes = %v, want [User]", got)
	}
	e.do("GET", "/Schemas/urn:example:nothing", "").wantError(t, 404, "")
	e.do("GET", `/Schemas?filter=id eq "x"`, "").wantError(t, 403, "")
}

// TestOrgUnitAttribute configures where the org unit comes from.
func TestOrgUnitAttribute(t *testing.T) {
	t.Run("enterprise division", func(t *testing.T) {
		e := newEnv(t, scimserver.Options{OrgUnitAttribute: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"})
		r := e.do("POST", "/Users", body(t, "rfc7643-8.3-enterprise-user")).want(t, 201)
		if got := r.field("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.division"); got != "/Theme Park" {
			t.Errorf("division = %v, want /Theme Park (%s)", got, r.raw)
		}
		if ou := e.dir.takeChanges()[0].Upsert[0].OrgUnit; ou != "/Theme Park" {
			t.Errorf("OrgUnit = %q, want /Theme Park", ou)
		}
		s := e.do("GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "").want(t, 200)
		if got := fieldOf(s.body, "attributes.0.name"); got != "division" {
			t.Errorf("enterprise schema attribute = %v, want division", got)
		}
	})
	t.Run("custom extension", func(t *testing.T) {
		urn := "urn:example:roster:2.0:User"
		e := newEnv(t, scimserver.Options{OrgUnitAttribute: urn + ":orgUnit"})
		r := e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+urn+`"],"userName":"a@example.com","`+urn+`":{"orgUnit":"Sales/EMEA"}}`).want(t, 201)
		if got := r.field(urn + ".orgUnit"); got != "/Sales/EMEA" {
			t.Errorf("orgUnit = %v (%s)", got, r.raw)
		}
		if !slices.Contains(r.body["schemas"].([]any), any(urn)) {
			t.Errorf("schemas = %v, want %s among them", r.body["schemas"], urn)
		}
		rt := e.do("GET", "/ResourceTypes/User", "").want(t, 200)
		if got := fieldOf(rt.body, "schemaExtensions.0.schema"); got != urn {
			t.Errorf("schemaExtensions = %v", rt.body["schemaExtensions"])
		}
	})
	t.Run("core attribute", func(t *testing.T) {
		e := newEnv(t, scimserver.Options{OrgUnitAttribute: "title"})
		r := e.do("POST", "/Users", `{"userName":"a@example.com","title":"Engineering","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ignored"}}`).want(t, 201)
		if r.body["title"] != "/Engineering" || r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] != nil {
			t.Errorf("created %s", r.raw)
		}
		l := e.do("GET", "/Schemas", "").want(t, 200)
		if l.body["totalResults"] != 2.0 {
			t.Errorf("schemas = %v, want User and Group only", l.body["totalResults"])
		}
	})
	t.Run("validation", func(t *testing.T) {
		for _, s := range []string{"", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "title", "urn:x:y:User:costCenter"} {
			if s == "" {
				continue
			}
			if err := scimserver.ValidateOrgUnitAttribute(s); err != nil {
				t.Errorf("ValidateOrgUnitAttribute(%q) = %v, want nil", s, err)
			}
		}
		for _, s := range []string{"emails", "userName", "name.formatted", "emails[type eq \"work\"]", "urn:ietf:params:scim:schemas:core:2.0:Group:displayName", "a b"} {
			if err := scimserver.ValidateOrgUnitAttribute(s); err == nil {
				t.Errorf("ValidateOrgUnitAttribute(%q) = nil, want an error", s)
			}
		}
		defer func() {
			if recover() == nil {
				t.Errorf("New with an invalid OrgUnitAttribute did not panic")
			}
		}()
		scimserver.New(nil, nil, scimserver.Options{OrgUnitAttribute: "emails"})
	})
}

// TestProtocolErrors covers RFC 7644 §3.12's other statuses and the
// media types of §3.1 and §8.1.
func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	id := e.user("a@example.com", "a@example.com", "A")

	big := `{"userName":"b@example.com","displayName":"` + strings.Repeat("x", 1<<20) + `"}`
	e.do("POST", "/Users", big).wantError(t, http.StatusRequestEntityTooLarge, "")
	e.send("POST", "/Users", `{"userName":"c@example.com"}`, "Bearer "+token, "application/json").want(t, 201)
	e.send("POST", "/Users", `{"userName":"d@example.com"}`, "Bearer "+token, "application/scim+json; charset=utf-8").want(t, 201)
	e.send("POST", "/Users", `{"userName":"e@example.com"}`, "Bearer "+token, "text/plain").wantError(t, http.StatusUnsupportedMediaType, "")
	e.do("POST", "/Users", "").wantError(t, 400, "invalidSyntax")
	e.do("PATCH", "/Users", `{}`).wantError(t, 405, "")
	e.do("POST", "/Users/"+id, `{}`).wantError(t, 405, "")
	e.do("POST", "/Users/.search", `{"filter":"userName eq \"a\""}`).wantError(t, 501, "")
	e.do("POST", "/Bulk", `{}`).wantError(t, 501, "")
	e.do("GET", "/Me", "").wantError(t, 501, "")
	e.do("GET", "/Devices", "").wantError(t, 404, "")
	e.do("GET", "/Users/"+id+"/extra", "").wantError(t, 404, "")

	// Resource and parameter names are matched case-insensitively.
	e.do("GET", "/users/"+id, "").want(t, 200)
	e.do("GET", "/Users/"+id+"/", "").want(t, 200)
}

// TestLog: one line per request, no token, and no filter (which may hold
// an email).
func TestLog(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	e.user("ada@example.com", "ada@example.com", "Ada")
	e.do("GET", `/Users?filter=userName eq "ada@example.com"`, "").want(t, 200)
	logs := e.logs.String()
	if strings.Contains(logs, token) || strings.Contains(logs, "ada@example.com") {
		t.Errorf("the log shows a token or an email:\n%s", logs)
	}
	if n := strings.Count(logs, `msg="scim request"`); n != 2 {
		t.Errorf("%d request lines, want 2:\n%s", n, logs)
	}
	if !strings.Contains(logs, "level=INFO msg=\"scim request\" method=POST path=/scim/v2/Users status=201") {
		t.Errorf("no Info line for the POST:\n%s", logs)
	}
}
