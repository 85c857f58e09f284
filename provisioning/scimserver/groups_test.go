package scimserver_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scimserver"
)

// groupEnv has Babs Jensen and James Smith, whose ids stand in for the
// RFC's 2819c223-… and 08e1d05d-…, and a third user.
type groupEnv struct {
	*env
	babs, james, okta string
	ids               []string // RFC id, ours, RFC id, ours… for body()
}

func newGroupEnv(t *testing.T) *groupEnv {
	e := newEnv(t, scimserver.Options{})
	g := &groupEnv{env: e}
	g.babs = e.user("bjensen@example.com", "bjensen@example.com", "Babs Jensen")
	g.james = e.user("jsmith@example.com", "jsmith@example.com", "James Smith")
	g.okta = e.do("POST", "/Users", body(t, "okta-create-user")).want(t, 201).id()
	g.ids = []string{
		"2819c223-7f76-453a-919d-413861904646", g.babs,
		"08e1d05d-121c-4561-8b96-473d93df9210", g.james,
	}
	e.dir.takeChanges()
	return g
}

// members returns the member ids of group id, sorted.
func (g *groupEnv) members(t *testing.T, id string) []string {
	t.Helper()
	r := g.do("GET", "/Groups/"+id, "").want(t, 200)
	var out []string
	list, _ := r.body["members"].([]any)
	for _, m := range list {
		out = append(out, m.(map[string]any)["value"].(string))
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

func TestCreateGroup(t *testing.T) {
	g := newGroupEnv(t)
	t.Run("okta", func(t *testing.T) {
		r := g.do("POST", "/Groups", body(t, "okta-create-group")).want(t, http.StatusCreated)
		want := map[string]any{
			"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"id":          r.id(),
			"displayName": "Test SCIMv2",
			"meta": map[string]any{
				"resourceType": "Group",
				"created":      r.field("meta.created"),
				"lastModified": r.field("meta.created"),
				"location":     g.url + "/scim/v2/Groups/" + r.id(),
			},
		}
		if diff := cmp.Diff(want, r.body); diff != "" {
			t.Errorf("POST /Groups mismatch (-want +got):\n%s", diff)
		}
		if r.header.Get("Location") != g.url+"/scim/v2/Groups/"+r.id() {
			t.Errorf("Location = %q", r.header.Get("Location"))
		}
		wantCh := []provisioning.DirectoryChange{{
			UpsertGroups: []provisioning.GroupInput{{Name: "Test SCIMv2", MemberEmails: []string{}}},
			By:           "scim", Cause: "scim: POST /Groups",
		}}
		if diff := cmp.Diff(wantCh, g.dir.takeChanges()); diff != "" {
			t.Errorf("change mismatch (-want +got):\n%s", diff)
		}
		// Group names are unique, case-insensitively (409 uniqueness).
		g.do("POST", "/Groups", `{"displayName":"test scimv2"}`).wantError(t, 409, "uniqueness")
	})
	t.Run("entra", func(t *testing.T) {
		r := g.do("POST", "/Groups", body(t, "entra-create-group")).want(t, http.StatusCreated)
		if r.body["externalId"] != "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159" || r.body["displayName"] != "displayName" {
			t.Errorf("created %s", r.raw)
		}
		// Entra ID finds it by displayName, without members.
		l := g.do("GET", `/Groups?excludedAttributes=members&filter=displayName eq "displayName"`, "").want(t, 200)
		if got := l.resources(); len(got) != 1 || got[0]["id"] != r.id() {
			t.Errorf("lookup by displayName = %s", l.raw)
		}
		g.dir.takeChanges()
	})
	t.Run("with members", func(t *testing.T) {
		r := g.do("POST", "/Groups", `{"displayName":"Contractors","members":[{"value":"`+g.babs+`"},{"value":"`+g.james+`","type":"User"}]}`).want(t, 201)
		if diff := cmp.Diff(sorted(g.babs, g.james), g.members(t, r.id())); diff != "" {
			t.Errorf("members mismatch (-want +got):\n%s", diff)
		}
		ch := g.dir.takeChanges()
		if diff := cmp.Diff([]string{"bjensen@example.com", "jsmith@example.com"}, ch[0].UpsertGroups[0].MemberEmails); diff != "" {
			t.Errorf("MemberEmails mismatch (-want +got):\n%s", diff)
		}
		if m := r.field("members.0"); !equalJSON(m, map[string]any{"value": g.babs, "$ref": g.url + "/scim/v2/Users/" + g.babs, "type": "User"}) {
			t.Errorf("members[0] = %v", m)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		tests := []struct{ name, body string }{
			{"no displayName", `{"members":[]}`},
			{"unknown member", `{"displayName":"X","members":[{"value":"2819c223-7f76-453a-919d-413861904646"}]}`},
			{"nested group", `{"displayName":"X","members":[{"value":"` + g.babs + `","type":"Group"}]}`},
			{"member without value", `{"displayName":"X","members":[{"display":"Babs"}]}`},
			{"members not an array", `{"displayName":"X","members":{"value":"` + g.babs + `"}}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g.do("POST", "/Groups", tt.body).wantError(t, 400, "invalidValue")
			})
		}
		if ch := g.dir.takeChanges(); len(ch) != 0 {
			t.Errorf("refused creates changed the directory: %+v", ch)
		}
	})
}

// TestPatchGroup applies the group PATCH forms of RFC 7644 §3.5.2, Okta
// and Entra ID.
func TestPatchGroup(t *testing.T) {
	tests := []struct {
		name     string
		start    func(g *groupEnv) []string // initial members
		body     func(g *groupEnv) string
		want     func(g *groupEnv) []string // members after
		wantName string
		changed  bool
	}{
		{"rfc add member",
			func(g *groupEnv) []string { return nil },
			func(g *groupEnv) string { return body(g.t, "rfc7644-3.5.2.1-add-member", g.ids...) },
			func(g *groupEnv) []string { return []string{g.babs} }, "", true},
		{"rfc add member already there",
			func(g *groupEnv) []string { return []string{g.babs} },
			func(g *groupEnv) string { return body(g.t, "rfc7644-3.5.2.1-add-member", g.ids...) },
			func(g *groupEnv) []string { return []string{g.babs} }, "", false},
		{"rfc remove member by filter",
			func(g *groupEnv) []string { return []string{g.babs, g.james} },
			func(g *groupEnv) string { return body(g.t, "rfc7644-3.5.2.2-remove-member", g.ids...) },
			func(g *groupEnv) []string { return []string{g.james} }, "", true},
		{"rfc remove member not there",
			func(g *groupEnv) []string { return []string{g.james} },
			func(g *groupEnv) string { return body(g.t, "rfc7644-3.5.2.2-remove-member", g.ids...) },
			func(g *groupEnv) []string { return []string{g.james} }, "", false},
		{"rfc remove all members",
			func(g *groupEnv) []string { return []string{g.babs, g.james} },
			func(g *groupEnv) string { return body(g.t, "rfc7644-3.5.2.2-remove-all-members") },
			func(g *groupEnv) []string { return nil }, "", true},
		{"rfc remove then add members",
			func(g *groupEnv) []string { return []string{g.okta} },
			func(g *groupEnv) string { return body(g.t, "rfc7644-3.5.2.2-remove-then-add-members", g.ids...) },
			func(g *groupEnv) []string { return []string{g.babs, g.james} }, "", true},
		{"rfc replace members",
			func(g *groupEnv) []string { return []string{g.okta, g.babs} },
			func(g *groupEnv) string { return body(g.t, "rfc7644-3.5.2.3-replace-members", g.ids...) },
			func(g *groupEnv) []string { return []string{g.babs, g.james} }, "", true},
		{"okta add member",
			func(g *groupEnv) []string { return []string{g.babs} },
			func(g *groupEnv) string { return body(g.t, "okta-add-member", "{member}", g.okta) },
			func(g *groupEnv) []string { return []string{g.babs, g.okta} }, "", true},
		{"okta remove member",
			func(g *groupEnv) []string { return []string{g.babs, g.okta} },
			func(g *groupEnv) string { return body(g.t, "okta-remove-member", "{member}", g.okta) },
			func(g *groupEnv) []string { return []string{g.babs} }, "", true},
		{"okta rename",
			func(g *groupEnv) []string { return []string{g.babs} },
			func(g *groupEnv) string { return body(g.t, "okta-rename-group", "{id}", "ignored-read-only-id") },
			func(g *groupEnv) []string { return []string{g.babs} }, "Test SCIMv2 Renamed", true},
		{"entra add several members",
			func(g *groupEnv) []string { return nil },
			func(g *groupEnv) string {
				return body(g.t, "entra-add-members", "{m1}", g.babs, "{m2}", g.james, "{m3}", g.okta)
			},
			func(g *groupEnv) []string { return []string{g.babs, g.james, g.okta} }, "", true},
		{"entra remove members by value",
			func(g *groupEnv) []string { return []string{g.babs, g.james} },
			func(g *groupEnv) string { return body(g.t, "entra-remove-members", "{m1}", g.babs) },
			func(g *groupEnv) []string { return []string{g.james} }, "", true},
		{"entra remove member by filter",
			func(g *groupEnv) []string { return []string{g.babs, g.james} },
			func(g *groupEnv) string { return body(g.t, "entra-remove-member-filter", "{m2}", g.james) },
			func(g *groupEnv) []string { return []string{g.babs} }, "", true},
		{"entra rename",
			func(g *groupEnv) []string { return []string{g.babs} },
			func(g *groupEnv) string { return body(g.t, "entra-rename-group") },
			func(g *groupEnv) []string { return []string{g.babs} }, "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName", true},
		{"case-only rename",
			func(g *groupEnv) []string { return nil },
			func(g *groupEnv) string {
				return `{"Operations":[{"op":"replace","path":"displayName","value":"test group"}]}`
			},
			func(g *groupEnv) []string { return nil }, "test group", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroupEnv(t)
			g.t = t
			gid := g.group("Test Group", tt.start(g)...)
			g.dir.takeChanges()
			r := g.do("PATCH", "/Groups/"+gid, tt.body(g)).want(t, 200)
			if r.id() != gid {
				t.Errorf("id = %s, want %s (kept)", r.id(), gid)
			}
			if diff := cmp.Diff(sorted(tt.want(g)...), g.members(t, gid)); diff != "" {
				t.Errorf("members mismatch (-want +got):\n%s", diff)
			}
			wantName := tt.wantName
			if wantName == "" {
				wantName = "Test Group"
			}
			if r.body["displayName"] != wantName {
				t.Errorf("displayName = %v, want %s", r.body["displayName"], wantName)
			}
			ch := g.dir.takeChanges()
			if !tt.changed {
				if len(ch) != 0 {
					t.Errorf("an unchanged group was written: %+v", ch)
				}
				return
			}
			if len(ch) != 1 || len(ch[0].UpsertGroups) != 1 || len(ch[0].DeleteGroups) != 0 || len(ch[0].Upsert) != 0 {
				t.Fatalf("changes = %+v, want one with one group upsert", ch)
			}
			gi := ch[0].UpsertGroups[0]
			if gi.ID != gid || gi.Name != wantName || ch[0].Cause != "scim: PATCH /Groups/"+gid || ch[0].By != "scim" {
				t.Errorf("change = %+v, want group %s named %q by scim, cause scim: PATCH /Groups/%s", ch[0], gid, wantName, gid)
			}
			var wantEmails []string
			for _, id := range tt.want(g) {
				wantEmails = append(wantEmails, map[string]string{g.babs: "bjensen@example.com", g.james: "jsmith@example.com", g.okta: "test.user@okta.local"}[id])
			}
			if diff := cmp.Diff(sorted(wantEmails...), sorted(gi.MemberEmails...)); diff != "" {
				t.Errorf("MemberEmails mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPatchGroupErrors(t *testing.T) {
	g := newGroupEnv(t)
	gid := g.group("Test Group", g.babs)
	g.group("Taken")
	g.dir.takeChanges()
	tests := []struct {
		name, body string
		status     int
		scimType   string
	}{
		{"unknown member", `{"Operations":[{"op":"add","path":"members","value":[{"value":"nobody"}]}]}`, 400, "invalidValue"},
		{"members not objects", `{"Operations":[{"op":"add","path":"members","value":["` + g.james + `"]}]}`, 400, "invalidValue"},
		{"name taken", `{"Operations":[{"op":"replace","path":"displayName","value":"TAKEN"}]}`, 409, "uniqueness"},
		{"remove displayName", `{"Operations":[{"op":"remove","path":"displayName"}]}`, 400, "invalidValue"},
		{"bad member filter", `{"Operations":[{"op":"remove","path":"members[nickname eq \"x\"]"}]}`, 400, "invalidPath"},
		{"replace members no match", `{"Operations":[{"op":"replace","path":"members[value eq \"nobody\"]","value":{"value":"x"}}]}`, 400, "noTarget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.do("PATCH", "/Groups/"+gid, tt.body).wantError(t, tt.status, tt.scimType)
		})
	}
	g.do("PATCH", "/Groups/nothing", `{"Operations":[{"op":"remove","path":"members"}]}`).wantError(t, 404, "")
	if ch := g.dir.takeChanges(); len(ch) != 0 {
		t.Errorf("failed PATCHes changed the directory: %+v", ch)
	}
	if diff := cmp.Diff([]string{g.babs}, g.members(t, gid)); diff != "" {
		t.Errorf("members mismatch (-want +got):\n%s", diff)
	}
}

func TestReplaceAndDeleteGroup(t *testing.T) {
	g := newGroupEnv(t)
	gid := g.group("Contractors", g.babs)
	g.dir.takeChanges()
	r := g.do("PUT", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Vendors","externalId":"x-1",
		"members":[{"value":"`+g.james+`"},{"value":"`+g.okta+`"}]}`).want(t, 200)
	want := []provisioning.DirectoryChange{{
		UpsertGroups: []provisioning.GroupInput{{ID: gid, Name: "Vendors", ExternalID: "x-1", MemberEmails: []string{"jsmith@example.com", "test.user@okta.local"}}},
		By:           "scim", Cause: "scim: PUT /Groups/" + gid,
	}}
	if diff := cmp.Diff(want, g.dir.takeChanges()); diff != "" {
		t.Errorf("PUT change mismatch (-want +got):\n%s", diff)
	}
	if r.id() != gid || r.body["displayName"] != "Vendors" {
		t.Errorf("PUT answered %s", r.raw)
	}
	l := g.do("GET", `/Groups?filter=externalId eq "x-1"`, "").want(t, 200)
	if got := l.resources(); len(got) != 1 || got[0]["id"] != gid {
		t.Errorf("lookup by externalId = %s", l.raw)
	}
	l = g.do("GET", `/Groups?filter=members eq "`+g.okta+`"`, "").want(t, 200)
	if got := l.resources(); len(got) != 1 || got[0]["id"] != gid {
		t.Errorf("lookup by member = %s", l.raw)
	}
	l = g.do("GET", `/Groups?filter=members[value eq "`+g.babs+`"]`, "").want(t, 200)
	if l.body["totalResults"] != 0.0 {
		t.Errorf("lookup by a former member = %s", l.raw)
	}

	g.do("DELETE", "/Groups/"+gid, "").want(t, http.StatusNoContent)
	want = []provisioning.DirectoryChange{{DeleteGroups: []string{"Vendors"}, By: "scim", Cause: "scim: DELETE /Groups/" + gid}}
	if diff := cmp.Diff(want, g.dir.takeChanges()); diff != "" {
		t.Errorf("DELETE change mismatch (-want +got):\n%s", diff)
	}
	g.do("GET", "/Groups/"+gid, "").wantError(t, 404, "")
	g.do("DELETE", "/Groups/"+gid, "").wantError(t, 404, "")

	t.Run("held deletion is a success", func(t *testing.T) {
		gid := g.group("Everyone", g.babs, g.james)
		g.dir.hold = true
		g.do("DELETE", "/Groups/"+gid, "").want(t, http.StatusNoContent)
		g.dir.hold = false
		g.do("GET", "/Groups/"+gid, "").wantError(t, 404, "")
	})
}

func TestListGroups(t *testing.T) {
	g := newGroupEnv(t)
	for _, name := range []string{"A", "B", "C"} {
		g.group(name, g.babs)
	}
	r := g.do("GET", "/Groups?startIndex=2&count=1", "").want(t, 200)
	if r.body["totalResults"] != 3.0 || r.body["itemsPerPage"] != 1.0 || r.resources()[0]["displayName"] != "B" {
		t.Errorf("page 2 of 1 = %s", r.raw)
	}
	r = g.do("GET", `/Groups?filter=displayName sw "b" or displayName eq "C"&excludedAttributes=members`, "").want(t, 200)
	var names []string
	for _, res := range r.resources() {
		names = append(names, res["displayName"].(string))
		if res["members"] != nil {
			t.Errorf("excludedAttributes=members returned members")
		}
	}
	if diff := cmp.Diff([]string{"B", "C"}, names); diff != "" {
		t.Errorf("groups mismatch (-want +got):\n%s", diff)
	}
	g.do("GET", `/Groups?filter=userName eq "x"`, "").wantError(t, 400, "invalidFilter")
}
