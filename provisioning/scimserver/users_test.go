package scimserver_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scimserver"
)

// ignoreStamps leaves out what the directory assigns.
var ignoreStamps = cmpopts.IgnoreFields(provisioning.Person{}, "ID", "CreatedAt", "UpdatedAt")

func TestAuth(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	tests := []struct {
		name, auth string
		want       int
		challenge  string // WWW-Authenticate
	}{
		{"missing", "", 401, `Bearer realm="roster"`},
		{"basic", "Basic " + token, 401, `Bearer realm="roster"`},
		{"empty bearer", "Bearer ", 401, `Bearer realm="roster"`},
		{"wrong", "Bearer not-the-token", 401, `Bearer realm="roster", error="invalid_token"`},
		{"prefix of the token", "Bearer " + token[:len(token)-1], 401, `Bearer realm="roster", error="invalid_token"`},
		{"token with more", "Bearer " + token + "x", 401, `Bearer realm="roster", error="invalid_token"`},
		{"right", "Bearer " + token, 200, ""},
		{"scheme in any case", "bearer " + token, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/Users", "/Groups/x", "/ServiceProviderConfig", "/Schemas", "/nowhere"} {
				r := e.send("GET", path, "", tt.auth, "")
				if tt.want == 401 {
					r.wantError(t, 401, "")
					if got := r.header.Get("WWW-Authenticate"); got != tt.challenge {
						t.Errorf("GET %s: WWW-Authenticate = %q, want %q", path, got, tt.challenge)
					}
				} else if r.status == 401 {
					t.Errorf("GET %s: status 401 with the right token", path)
				}
			}
		})
	}
	if strings.Contains(e.logs.String(), token[:8]) {
		t.Errorf("the log contains the token:\n%s", e.logs.String())
	}

	t.Run("no token configured refuses everything", func(t *testing.T) {
		dir := newFakeDir()
		h := scimserver.New(dir, dir, scimserver.Options{})
		for _, auth := range []string{"", "Bearer ", "Bearer x"} {
			req, _ := http.NewRequest("GET", "/scim/v2/Users", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 401 {
				t.Errorf("Authorization %q: status %d, want 401", auth, rec.Code)
			}
		}
	})
}

// TestCreateUser follows RFC 7644 §3.3 and RFC 7643 §8.3.
func TestCreateUser(t *testing.T) {
	e := newEnv(t, scimserver.Options{BaseURL: "https://roster.example.com/scim/v2/"})

	// RFC 7644 §3.3's own example has no email: Roster cannot keep it.
	e.do("POST", "/Users", body(t, "rfc7644-3.3-create-user")).wantError(t, 400, "invalidValue")
	if ch := e.dir.takeChanges(); len(ch) != 0 {
		t.Fatalf("a refused create changed the directory: %+v", ch)
	}

	r := e.do("POST", "/Users", body(t, "rfc7643-8.3-enterprise-user")).want(t, http.StatusCreated)
	id := r.id()
	if id == "" || id == "2819c223-7f76-453a-919d-413861904646" {
		t.Fatalf("id = %q, want one the directory assigned (a client's id is ignored)", id)
	}
	if got, want := r.header.Get("Location"), "https://roster.example.com/scim/v2/Users/"+id; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got := r.header.Get("Content-Type"); got != "application/scim+json" {
		t.Errorf("Content-Type = %q, want application/scim+json", got)
	}
	want := map[string]any{
		"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"id":          id,
		"externalId":  "701984",
		"userName":    "bjensen@example.com",
		"name":        map[string]any{"formatted": "Ms. Barbara J Jensen, III"},
		"displayName": "Ms. Barbara J Jensen, III",
		"emails":      []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
		"active":      true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "/Tour Operations"},
		"meta": map[string]any{
			"resourceType": "User",
			"created":      "2011-05-13T05:00:00Z",
			"lastModified": "2011-05-13T05:00:00Z",
			"location":     "https://roster.example.com/scim/v2/Users/" + id,
		},
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("POST /Users response mismatch (-want +got):\n%s", diff)
	}
	wantChange := []provisioning.DirectoryChange{{
		Upsert: []provisioning.Person{{
			ExternalID: "701984", UserName: "bjensen@example.com", Email: "bjensen@example.com",
			Name: "Ms. Barbara J Jensen, III", Status: provisioning.PersonEnabled, OrgUnit: "/Tour Operations",
		}},
		By: "scim", Cause: "scim: POST /Users",
	}}
	if diff := cmp.Diff(wantChange, e.dir.takeChanges(), ignoreStamps); diff != "" {
		t.Errorf("directory change mismatch (-want +got):\n%s", diff)
	}

	t.Run("duplicate", func(t *testing.T) {
		// RFC 7644 §3.3: a duplicate is 409 uniqueness.
		e.do("POST", "/Users", body(t, "rfc7643-8.3-enterprise-user")).wantError(t, 409, "uniqueness")
		e.do("POST", "/Users", `{"userName":"BJENSEN@example.com","emails":[{"value":"other@example.com"}]}`).wantError(t, 409, "uniqueness")
		e.do("POST", "/Users", `{"userName":"babs","emails":[{"value":"BJensen@Example.com"}]}`).wantError(t, 409, "uniqueness")
		if ch := e.dir.takeChanges(); len(ch) != 0 {
			t.Errorf("a duplicate changed the directory: %+v", ch)
		}
	})

	t.Run("email choice", func(t *testing.T) {
		tests := []struct {
			name, body, want string
		}{
			{"primary wins", `{"userName":"a1","emails":[{"value":"w1@example.com","type":"work"},{"value":"p1@example.com","primary":true}]}`, "p1@example.com"},
			{"work next", `{"userName":"a2","emails":[{"value":"h2@example.com","type":"home"},{"value":"W2@Example.com","type":"Work"}]}`, "w2@example.com"},
			{"first next", `{"userName":"a3","emails":[{"value":"h3@example.com","type":"home"},{"value":"o3@example.com","type":"other"}]}`, "h3@example.com"},
			{"userName last", `{"userName":"u4@example.com"}`, "u4@example.com"},
			{"string booleans", `{"userName":"a5","active":"False","emails":[{"value":"w5@example.com"},{"value":"p5@example.com","primary":"True"}]}`, "p5@example.com"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do("POST", "/Users", tt.body).want(t, 201)
				if got := r.field("emails.0.value"); got != tt.want {
					t.Errorf("email = %v, want %s", got, tt.want)
				}
			})
		}
		e.dir.takeChanges()
	})

	t.Run("invalid", func(t *testing.T) {
		tests := []struct{ name, body, scimType string }{
			{"no userName", `{"emails":[{"value":"x@example.com"}]}`, "invalidValue"},
			{"userName not a string", `{"userName":7,"emails":[{"value":"x@example.com"}]}`, "invalidValue"},
			{"bad email", `{"userName":"x","emails":[{"value":"not an email"}]}`, "invalidValue"},
			{"active not boolean", `{"userName":"x@example.com","active":"maybe"}`, "invalidValue"},
			{"department not a string", `{"userName":"x@example.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":3}}`, "invalidValue"},
			{"not JSON", `{"userName":`, "invalidSyntax"},
			{"an array", `[{"userName":"x@example.com"}]`, "invalidSyntax"},
			{"two values", `{"userName":"x@example.com"} {}`, "invalidSyntax"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do("POST", "/Users", tt.body).wantError(t, 400, tt.scimType)
			})
		}
	})

	t.Run("entra", func(t *testing.T) {
		r := e.do("POST", "/Users", body(t, "entra-create-user")).want(t, 201)
		want := provisioning.Person{ExternalID: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", UserName: "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
			Email: "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com", Name: "givenName familyName", Status: provisioning.PersonEnabled}
		if diff := cmp.Diff([]provisioning.Person{want}, e.dir.takeChanges()[0].Upsert, ignoreStamps); diff != "" {
			t.Errorf("person mismatch (-want +got):\n%s", diff)
		}
		// Entra ID then finds it by its matching attribute, userName.
		l := e.do("GET", `/Users?filter=userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`, "").want(t, 200)
		if got := l.resources(); len(got) != 1 || got[0]["id"] != r.id() {
			t.Errorf("lookup = %s", l.raw)
		}
	})

	t.Run("case-insensitive attribute names", func(t *testing.T) {
		r := e.do("POST", "/Users", `{"USERNAME":"ci@example.com","Name":{"Formatted":"C I"},"ACTIVE":false,
			"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER":{"Department":"Sales"}}`).want(t, 201)
		want := provisioning.Person{UserName: "ci@example.com", Email: "ci@example.com", Name: "C I", Status: provisioning.PersonDisabled, OrgUnit: "/Sales"}
		if diff := cmp.Diff([]provisioning.Person{want}, e.dir.takeChanges()[0].Upsert, ignoreStamps); diff != "" {
			t.Errorf("person mismatch (-want +got):\n%s", diff)
		}
		_ = r
	})
}

// TestAdoptImported: a person Roster has from a file import (no
// userName) is taken over by the identity provider's create.
func TestAdoptImported(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	if _, err := e.dir.ApplyDirectory(t.Context(), provisioning.DirectoryChange{
		Upsert: []provisioning.Person{{Email: "ada@example.com", Name: "Ada", Status: provisioning.PersonEnabled, OrgUnit: "/Eng"}},
		By:     "import",
	}); err != nil {
		t.Fatal(err)
	}
	e.dir.takeChanges()
	// Okta looks the user up first: userName falls back to the email.
	l := e.do("GET", `/Users?filter=userName eq "ada@example.com"&startIndex=1&count=100`, "").want(t, 200)
	if got := l.body["totalResults"]; got != 1.0 {
		t.Fatalf("totalResults = %v, want 1", got)
	}
	r := e.do("POST", "/Users", `{"userName":"ada@example.com","externalId":"00u1","name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@example.com","primary":true}],"active":true}`).want(t, 201)
	if r.id() != l.resources()[0]["id"] {
		t.Errorf("adopted id = %s, want the existing %v", r.id(), l.resources()[0]["id"])
	}
	ch := e.dir.takeChanges()
	want := provisioning.Person{ExternalID: "00u1", UserName: "ada@example.com", Email: "ada@example.com", Name: "Ada Lovelace", Status: provisioning.PersonEnabled}
	if len(ch) != 1 || len(ch[0].Upsert) != 1 {
		t.Fatalf("changes = %+v, want one upsert", ch)
	}
	if diff := cmp.Diff(want, ch[0].Upsert[0], ignoreStamps); diff != "" {
		t.Errorf("adopted person mismatch (-want +got):\n%s", diff)
	}
	// Now it is the identity provider's: a second create is a duplicate.
	e.do("POST", "/Users", `{"userName":"ada@example.com"}`).wantError(t, 409, "uniqueness")
}

// TestGetUser follows RFC 7644 §3.4.1 and §3.12's 404 example.
func TestGetUser(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	created := e.do("POST", "/Users", body(t, "okta-create-user")).want(t, 201)
	r := e.do("GET", "/Users/"+created.id(), "").want(t, 200)
	if diff := cmp.Diff(created.body, r.body); diff != "" {
		t.Errorf("GET differs from the create's response (-create +get):\n%s", diff)
	}
	if got := r.header.Get("Location"); !strings.HasSuffix(got, "/scim/v2/Users/"+created.id()) || !strings.HasPrefix(got, "http://127.0.0.1:") {
		t.Errorf("Location = %q, want the request's host and /scim/v2/Users/%s", got, created.id())
	}
	if got := r.field("name.formatted"); got != "Test User" {
		t.Errorf("name.formatted = %v, want Test User (from displayName)", got)
	}

	nf := e.do("GET", "/Users/2819c223-7f76-453a-919d-413861904646", "")
	nf.wantError(t, 404, "")
	want := map[string]any{
		"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"detail":  "User 2819c223-7f76-453a-919d-413861904646 not found",
		"status":  "404",
	}
	if diff := cmp.Diff(want, nf.body); diff != "" {
		t.Errorf("404 body mismatch (-want +got):\n%s", diff)
	}

	t.Run("attributes", func(t *testing.T) {
		r := e.do("GET", "/Users/"+created.id()+"?attributes=userName,emails", "").want(t, 200)
		var keys []string
		for k := range r.body {
			keys = append(keys, k)
		}
		if diff := cmp.Diff([]string{"emails", "id", "schemas", "userName"}, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("attributes=userName,emails keys mismatch (-want +got):\n%s", diff)
		}
		r = e.do("GET", "/Users/"+created.id()+"?excludedAttributes=emails,meta,id", "").want(t, 200)
		if r.body["emails"] != nil || r.body["meta"] != nil || r.body["id"] == nil {
			t.Errorf("excludedAttributes=emails,meta,id: got %v; want no emails or meta, and the id (returned always)", r.body)
		}
	})
}

// TestPatchUser applies the PATCH forms of RFC 7644 §3.5.2, Okta and
// Entra ID to one user.
func TestPatchUser(t *testing.T) {
	base := provisioning.Person{ExternalID: "00ujl29u0le5T6Aj10h7", UserName: "test.user@okta.local", Email: "test.user@okta.local",
		Name: "Test User", Status: provisioning.PersonEnabled}
	tests := []struct {
		name    string
		body    string
		want    provisioning.Person
		changed bool
		check   func(t *testing.T, r response)
	}{
		{"okta deactivate", "okta-deactivate-user", with(base, func(p *provisioning.Person) { p.Status = provisioning.PersonDisabled }), true,
			func(t *testing.T, r response) {
				if r.body["active"] != false {
					t.Errorf("active = %v, want false", r.body["active"])
				}
			}},
		{"entra disable, string boolean", "entra-disable-user", with(base, func(p *provisioning.Person) { p.Status = provisioning.PersonDisabled }), true, nil},
		{"entra enable, string boolean", "entra-enable-user", base, false, nil},
		{"entra work email and family name", "entra-update-user-multivalued", with(base, func(p *provisioning.Person) {
			p.Email, p.Name = "updatedemail@microsoft.com", "Test updatedFamilyName"
		}), true, func(t *testing.T, r response) {
			if got := r.field("emails.0.value"); got != "updatedemail@microsoft.com" {
				t.Errorf("emails[0].value = %v", got)
			}
		}},
		{"entra department", "entra-department", with(base, func(p *provisioning.Person) { p.OrgUnit = "/Engineering/Platform" }), true,
			func(t *testing.T, r response) {
				if got := r.field("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department"); got != "/Engineering/Platform" {
					t.Errorf("department = %v, want /Engineering/Platform", got)
				}
			}},
		{"entra name.formatted", "entra-name-formatted", with(base, func(p *provisioning.Person) { p.Name = "Ada Lovelace" }), true, nil},
		{"entra attributes Roster does not keep", "entra-ignored-attributes", base, false, nil},
		{"rfc add home email and nickname", "rfc7644-3.5.2.1-add-email-nickname", base, false, nil},
		{"rfc replace work address", "rfc7644-3.5.2.3-replace-work-address", base, false, nil},
		{"rfc remove work email, none matches", "rfc7644-3.5.2.2-remove-work-email", base, false, nil},
		{"path-less replace with paths and URNs", `{"Operations":[{"op":"replace","value":{
			"name.givenName":"Grace",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"/Research/"},
			"emails[type eq \"work\"].value":"grace@example.com"}}]}`,
			with(base, func(p *provisioning.Person) {
				p.Name, p.OrgUnit, p.Email = "Grace User", "/Research", "grace@example.com"
			}), true, nil},
		{"add email by filter where none matches", `{"Operations":[{"op":"Add","path":"emails[type eq \"home\"].value","value":"home@example.com"}]}`, base, false,
			func(t *testing.T, r response) {
				if got := r.field("emails.0.value"); got != "test.user@okta.local" {
					t.Errorf("email = %v, want the work one kept", got)
				}
			}},
		{"new primary email", `{"Operations":[{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"work","primary":true}]}]}`,
			with(base, func(p *provisioning.Person) { p.Email = "new@example.com" }), true, nil},
		{"displayName", `{"Operations":[{"op":"replace","path":"displayName","value":"Tess User"}]}`,
			with(base, func(p *provisioning.Person) { p.Name = "Tess User" }), true, nil},
		{"remove department", `{"Operations":[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}]}`, base, false, nil},
		{"userName", `{"Operations":[{"op":"replace","path":"userName","value":"tuser"}]}`,
			with(base, func(p *provisioning.Person) { p.UserName = "tuser" }), true, nil},
		{"externalId", `{"Operations":[{"op":"Add","path":"externalId","value":"e-1"}]}`,
			with(base, func(p *provisioning.Person) { p.ExternalID = "e-1" }), true, nil},
		{"several operations in order", `{"Operations":[
			{"op":"replace","path":"active","value":false},
			{"op":"replace","path":"active","value":true},
			{"op":"replace","path":"name","value":{"formatted":"T U"}}]}`,
			with(base, func(p *provisioning.Person) { p.Name = "T U" }), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, scimserver.Options{})
			id := e.do("POST", "/Users", body(t, "okta-create-user")).want(t, 201).id()
			e.dir.takeChanges()
			b := tt.body
			if !strings.HasPrefix(b, "{") {
				b = body(t, b)
			}
			r := e.do("PATCH", "/Users/"+id, b).want(t, 200)
			if r.id() != id {
				t.Errorf("id = %s, want %s", r.id(), id)
			}
			ch := e.dir.takeChanges()
			if !tt.changed {
				if len(ch) != 0 {
					t.Errorf("an unchanged user was written: %+v", ch)
				}
			} else {
				if len(ch) != 1 || len(ch[0].Upsert) != 1 {
					t.Fatalf("changes = %+v, want one with one upsert", ch)
				}
				if diff := cmp.Diff(tt.want, ch[0].Upsert[0], ignoreStamps); diff != "" {
					t.Errorf("person mismatch (-want +got):\n%s", diff)
				}
				if got, want := ch[0].Cause, "scim: PATCH /Users/"+id; got != want || ch[0].By != "scim" {
					t.Errorf("By, Cause = %q, %q; want scim, %q", ch[0].By, got, want)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func with(p provisioning.Person, f func(*provisioning.Person)) provisioning.Person {
	f(&p)
	return p
}

func TestPatchUserErrors(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	id := e.do("POST", "/Users", `{"userName":"bjensen","emails":[{"value":"bjensen@example.com","type":"work"}]}`).want(t, 201).id()
	e.dir.takeChanges()
	tests := []struct {
		name, body string
		status     int
		scimType   string
	}{
		{"no operations", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, 400, "invalidSyntax"},
		{"unknown op", `{"Operations":[{"op":"move","path":"active","value":true}]}`, 400, "invalidSyntax"},
		{"bad path", `{"Operations":[{"op":"replace","path":"emails[type eq","value":"x"}]}`, 400, "invalidPath"},
		{"filter on a simple attribute", `{"Operations":[{"op":"replace","path":"userName[value eq \"x\"]","value":"x"}]}`, 400, "invalidPath"},
		{"remove without path", `{"Operations":[{"op":"remove"}]}`, 400, "noTarget"},
		{"replace without a match", `{"Operations":[{"op":"replace","path":"emails[type eq \"home\"].value","value":"h@example.com"}]}`, 400, "noTarget"},
		{"add without a value", `{"Operations":[{"op":"add","path":"displayName"}]}`, 400, "invalidValue"},
		{"active not a boolean", `{"Operations":[{"op":"replace","path":"active","value":"maybe"}]}`, 400, "invalidValue"},
		// RFC 7644 §3.5.2.2's remove-work-email leaves a user whose
		// userName is not an email without any email.
		{"no email left", body(t, "rfc7644-3.5.2.2-remove-work-email"), 400, "invalidValue"},
		{"remove userName", `{"Operations":[{"op":"remove","path":"userName"}]}`, 400, "invalidValue"},
		{"not found", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/Users/" + id
			if tt.status == 404 {
				path, tt.body = "/Users/nobody", `{"Operations":[{"op":"replace","path":"active","value":false}]}`
			}
			e.do("PATCH", path, tt.body).wantError(t, tt.status, tt.scimType)
			if ch := e.dir.takeChanges(); len(ch) != 0 {
				t.Errorf("a failed PATCH changed the directory: %+v", ch)
			}
		})
	}
}

// TestReplaceUser is Okta's PUT, and an email change keeping groups.
func TestReplaceUser(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	id := e.do("POST", "/Users", body(t, "okta-create-user")).want(t, 201).id()
	e.dir.takeChanges()

	r := e.do("PUT", "/Users/"+id, body(t, "okta-put-user", "{id}", id)).want(t, 200)
	want := provisioning.Person{ExternalID: "00ujl29u0le5T6Aj10h7", UserName: "test.user@okta.local", Email: "test.user@okta.local",
		Name: "Another User", Status: provisioning.PersonEnabled, OrgUnit: "/Engineering/Platform"}
	ch := e.dir.takeChanges()
	if len(ch) != 1 {
		t.Fatalf("changes = %+v, want 1", ch)
	}
	if diff := cmp.Diff([]provisioning.Person{want}, ch[0].Upsert, ignoreStamps); diff != "" {
		t.Errorf("PUT person mismatch (-want +got):\n%s", diff)
	}
	if ch[0].Cause != "scim: PUT /Users/"+id {
		t.Errorf("Cause = %q", ch[0].Cause)
	}
	if r.field("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department") != "/Engineering/Platform" {
		t.Errorf("department = %v", r.field("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department"))
	}

	t.Run("active absent keeps the status", func(t *testing.T) {
		e.do("PATCH", "/Users/"+id, body(t, "okta-deactivate-user")).want(t, 200)
		r := e.do("PUT", "/Users/"+id, `{"userName":"test.user@okta.local","displayName":"Another User","emails":[{"value":"test.user@okta.local"}]}`).want(t, 200)
		if r.body["active"] != false {
			t.Errorf("active = %v, want false still", r.body["active"])
		}
		e.dir.takeChanges()
	})

	t.Run("email change keeps the id and groups", func(t *testing.T) {
		other := e.user("other@example.com", "other@example.com", "Other")
		gid := e.group("Contractors", id, other)
		e.dir.takeChanges()
		r := e.do("PUT", "/Users/"+id, `{"userName":"test.user@okta.local","active":true,"emails":[{"value":"renamed@example.com","primary":true}]}`).want(t, 200)
		if r.id() != id {
			t.Errorf("id = %s, want %s kept", r.id(), id)
		}
		want := []provisioning.DirectoryChange{{
			Upsert: []provisioning.Person{{ID: id, ExternalID: "00ujl29u0le5T6Aj10h7", UserName: "test.user@okta.local",
				Email: "renamed@example.com", Status: provisioning.PersonEnabled}},
			By: "scim", Cause: "scim: PUT /Users/" + id,
		}}
		if diff := cmp.Diff(want, e.dir.takeChanges(), cmpopts.IgnoreFields(provisioning.Person{}, "CreatedAt", "UpdatedAt")); diff != "" {
			t.Errorf("change mismatch (-want +got):\n%s", diff)
		}
		g := e.do("GET", "/Groups/"+gid, "").want(t, 200)
		if got := len(g.body["members"].([]any)); got != 2 {
			t.Errorf("group has %d members, want 2", got)
		}
	})

	t.Run("email taken", func(t *testing.T) {
		e.user("taken@example.com", "taken@example.com", "Taken")
		id := e.user("free@example.com", "free@example.com", "Free")
		e.do("PUT", "/Users/"+id, `{"userName":"x1","emails":[{"value":"taken@example.com"}]}`).wantError(t, 409, "uniqueness")
		e.do("PUT", "/Users/"+id, `{"userName":"TAKEN@example.com","emails":[{"value":"free@example.com"}]}`).wantError(t, 409, "uniqueness")
	})
	e.do("PUT", "/Users/nobody", `{"userName":"x@example.com"}`).wantError(t, 404, "")
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	id := e.user("bjensen@example.com", "bjensen@example.com", "Barbara Jensen")
	e.dir.takeChanges()
	r := e.do("DELETE", "/Users/"+id, "").want(t, http.StatusNoContent)
	if len(r.raw) != 0 {
		t.Errorf("204 with a body: %s", r.raw)
	}
	want := []provisioning.DirectoryChange{{Delete: []string{"bjensen@example.com"}, By: "scim", Cause: "scim: DELETE /Users/" + id}}
	if diff := cmp.Diff(want, e.dir.takeChanges()); diff != "" {
		t.Errorf("change mismatch (-want +got):\n%s", diff)
	}
	e.do("GET", "/Users/"+id, "").wantError(t, 404, "")
	e.do("DELETE", "/Users/"+id, "").wantError(t, 404, "")
	l := e.do("GET", `/Users?filter=userName eq "bjensen@example.com"`, "").want(t, 200)
	if l.body["totalResults"] != 0.0 {
		t.Errorf("a deleted user is still found: %s", l.raw)
	}
}

// TestDomainErrors maps the directory's answers to SCIM responses.
func TestDomainErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		hold     bool
		status   int
		scimType string
		log      string
	}{
		{"invalid", fmt.Errorf("org unit %q is too deep: %w", "/a", provisioning.ErrInvalid), false, 400, "invalidValue", ""},
		{"internal", errors.New("bbolt: disk full at /var/lib/roster.db"), false, 500, "", "disk full"},
		{"held is a success", nil, true, 201, "", "held for an admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, scimserver.Options{})
			e.dir.err, e.dir.hold = tt.err, tt.hold
			r := e.do("POST", "/Users", `{"userName":"ada@example.com"}`)
			if tt.status >= 400 {
				r.wantError(t, tt.status, tt.scimType)
			} else {
				r.want(t, tt.status)
			}
			if tt.status == 400 && !strings.Contains(r.body["detail"].(string), "too deep") {
				t.Errorf("detail = %q, want the domain's text", r.body["detail"])
			}
			if tt.status == 500 && strings.Contains(string(r.raw), "bbolt") {
				t.Errorf("a 500 shows internal details: %s", r.raw)
			}
			if tt.log != "" && !strings.Contains(e.logs.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, e.logs.String())
			}
		})
	}
}

// TestConcurrentCreates: of many creates of one user at once, one wins
// and the others are told it exists.
func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := fmt.Sprintf(`{"userName":"ada@example.com","emails":[{"value":"ada%d@example.com"}]}`, i)
			codes <- e.do("POST", "/Users", b).status
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Errorf("statuses = %v, want one 201 and %d 409", count, n-1)
	}
}

// TestChunkedBodyTooLarge: a body without a Content-Length is cut at 1 MB.
func TestChunkedBodyTooLarge(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	body := io.MultiReader(strings.NewReader(`{"userName":"a@example.com","displayName":"`), strings.NewReader(strings.Repeat("x", 1<<20)), strings.NewReader(`"}`))
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.url+"/scim/v2/Users", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d (request length %d), want 413 for a chunked body", res.StatusCode, req.ContentLength)
	}
}
