package scimserver_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/provisioning/scimserver"
)

// filterEnv holds three users, written at 05:00, 06:00 and 07:00 (the
// fake directory's clock) and a fourth change at 08:00 that disables
// jsmith.
func filterEnv(t *testing.T) (*env, map[string]string) {
	e := newEnv(t, scimserver.Options{})
	ids := map[string]string{}
	ids["bjensen"] = e.do("POST", "/Users", body(t, "rfc7643-8.3-enterprise-user")).want(t, 201).id()
	ids["jsmith"] = e.do("POST", "/Users", `{"userName":"jsmith","externalId":"e-js","displayName":"James Smith",
		"emails":[{"value":"jsmith@example.org","type":"work","primary":true}]}`).want(t, 201).id()
	ids["momalley"] = e.do("POST", "/Users", `{"userName":"momalley@example.com","displayName":"Mary O'Malley",
		"emails":[{"value":"momalley@example.com","type":"work"}]}`).want(t, 201).id()
	e.do("PATCH", "/Users/"+ids["jsmith"], body(t, "okta-deactivate-user")).want(t, 200)
	return e, ids
}

// userNames lists the userName of each resource of a ListResponse.
func userNames(r response) []string {
	var out []string
	for _, res := range r.resources() {
		out = append(out, fmt.Sprint(res["userName"]))
	}
	slices.Sort(out)
	return out
}

// TestFilterUsers runs RFC 7644 §3.4.2.2's filter examples, adapted to
// attributes Roster keeps where the RFC's use others (title, userType,
// name.familyName answer 400 invalidFilter), plus the filters Okta and
// Entra ID send.
func TestFilterUsers(t *testing.T) {
	e, ids := filterEnv(t)
	all := []string{"bjensen@example.com", "jsmith", "momalley@example.com"}
	tests := []struct {
		filter   string
		want     []string
		scimType string // error instead
	}{
		// RFC 7644 §3.4.2.2, as written.
		{`userName eq "bjensen"`, nil, ""},
		{`name.familyName co "O'Malley"`, nil, "invalidFilter"},
		{`userName sw "J"`, []string{"jsmith"}, ""},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, []string{"jsmith"}, ""},
		{`title pr`, nil, "invalidFilter"},
		{`meta.lastModified gt "2011-05-13T05:42:34Z"`, []string{"jsmith", "momalley@example.com"}, ""},
		{`meta.lastModified ge "2011-05-13T07:00:00Z"`, []string{"jsmith", "momalley@example.com"}, ""},
		{`meta.lastModified lt "2011-05-13T06:00:00Z"`, []string{"bjensen@example.com"}, ""},
		{`meta.lastModified le "2011-05-13T07:00:00Z"`, []string{"bjensen@example.com", "momalley@example.com"}, ""},
		{`title pr and userType eq "Employee"`, nil, "invalidFilter"},
		{`title pr or userType eq "Intern"`, nil, "invalidFilter"},
		{`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, []string{"bjensen@example.com"}, ""},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, nil, "invalidFilter"},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, nil, "invalidFilter"},
		{`userType eq "Employee" and (emails.type eq "work")`, nil, "invalidFilter"},
		{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`, nil, "invalidFilter"},
		{`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`, nil, "invalidFilter"},
		// The same shapes on attributes Roster keeps.
		{`userName eq "bjensen@example.com"`, []string{"bjensen@example.com"}, ""},
		{`displayName co "O'Malley"`, []string{"momalley@example.com"}, ""},
		{`active eq true and (emails co "example.com" or emails.value co "example.org")`, []string{"bjensen@example.com", "momalley@example.com"}, ""},
		{`active ne true and not (emails co "example.com")`, []string{"jsmith"}, ""},
		{`active eq true and (emails.type eq "work")`, []string{"bjensen@example.com", "momalley@example.com"}, ""},
		{`active eq true and emails[type eq "work" and value co "@example.com"]`, []string{"bjensen@example.com", "momalley@example.com"}, ""},
		{`emails[type eq "work" and value co "@example.com"] or emails[type eq "work" and value co "@foo.com"]`, []string{"bjensen@example.com", "momalley@example.com"}, ""},
		{`externalId pr`, []string{"bjensen@example.com", "jsmith"}, ""},
		{`name pr`, all, ""},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "/Tour Operations"`, []string{"bjensen@example.com"}, ""},
		{`department sw "/tour"`, []string{"bjensen@example.com"}, ""},
		{`userName ew "example.com"`, []string{"bjensen@example.com", "momalley@example.com"}, ""},
		{`userName gt "k"`, []string{"momalley@example.com"}, ""},
		{`externalId eq null`, []string{"momalley@example.com"}, ""},
		// Okta and Entra ID look users up with these.
		{`userName eq "JSMITH"`, []string{"jsmith"}, ""},
		{`userName eq "nobody@example.com"`, nil, ""},
		{`externalId eq "701984"`, []string{"bjensen@example.com"}, ""},
		{`externalId eq "701984 "`, nil, ""},
		{`externalId eq "E-JS"`, nil, ""}, // caseExact
		{`emails eq "BJensen@example.com"`, []string{"bjensen@example.com"}, ""},
		{`emails.value eq "jsmith@example.org"`, []string{"jsmith"}, ""},
		{`emails[type eq "work"].value eq "jsmith@example.org"`, []string{"jsmith"}, ""},
		{`emails[type eq "home"].value eq "jsmith@example.org"`, nil, ""},
		{`emails[type eq "work" or type eq "home"].value eq "x@example.org"`, nil, "invalidFilter"},
		{`id eq "` + ids["momalley"] + `"`, []string{"momalley@example.com"}, ""},
		{`active eq false`, []string{"jsmith"}, ""},
		{`active eq "False"`, []string{"jsmith"}, ""},
		{`userName eq "jsmith" or externalId eq "701984"`, []string{"bjensen@example.com", "jsmith"}, ""},
		{`userName eq "jsmith" and active eq true`, nil, ""},
		{`displayName eq "Mary O'Malley" and userName pr`, []string{"momalley@example.com"}, ""},
		{`userName eq "a\"b"`, nil, ""},
		// Malformed or unsupported.
		{`userName eq "bjensen`, nil, "invalidFilter"},
		{`userName eq`, nil, "invalidFilter"},
		{`userName xx "a"`, nil, "invalidFilter"},
		{`userName eq 5`, nil, "invalidFilter"},
		{`active gt true`, nil, "invalidFilter"},
		{`active eq "maybe"`, nil, "invalidFilter"},
		{`meta.created co "2011"`, nil, "invalidFilter"},
		{`meta.created gt "yesterday"`, nil, "invalidFilter"},
		{`name eq "x"`, nil, "invalidFilter"},
		{`userName[value eq "x"]`, nil, "invalidFilter"},
		{`urn:example:other:1.0:User:department eq "x"`, nil, "invalidFilter"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			r := e.do("GET", "/Users?filter="+tt.filter, "")
			if tt.scimType != "" {
				r.wantError(t, 400, tt.scimType)
				return
			}
			r.want(t, 200)
			if diff := cmp.Diff(tt.want, userNames(r)); diff != "" {
				t.Errorf("filter %s: users mismatch (-want +got):\n%s", tt.filter, diff)
			}
			if got := r.body["totalResults"]; got != float64(len(tt.want)) {
				t.Errorf("totalResults = %v, want %d", got, len(tt.want))
			}
		})
	}
}

// TestLookups are the list requests Okta and Entra ID document, with the
// exact ListResponse (RFC 7644 §3.4.2).
func TestLookups(t *testing.T) {
	e := newEnv(t, scimserver.Options{BaseURL: "https://roster.example.com/scim/v2"})
	created := e.do("POST", "/Users", body(t, "okta-create-user")).want(t, 201)

	// Okta: GET /Users?filter=userName eq "…"&startIndex=1&count=100.
	r := e.do("GET", `/Users?filter=userName eq "test.user@okta.local"&startIndex=1&count=100`, "").want(t, 200)
	want := map[string]any{
		"schemas":      []any{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": 1.0,
		"itemsPerPage": 1.0,
		"startIndex":   1.0,
		"Resources":    []any{created.body},
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("Okta lookup mismatch (-want +got):\n%s", diff)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type = %q", ct)
	}

	// Okta and Entra ID's connection tests look up a user that does not
	// exist and want an empty list, Resources included.
	r = e.do("GET", `/Users?filter=userName eq "Test_User_00aa00aa-199a-4d5d-8a6d-6bd8c1d1a1b3"&startIndex=1&count=1`, "").want(t, 200)
	want = map[string]any{
		"schemas":      []any{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": 0.0,
		"itemsPerPage": 0.0,
		"startIndex":   1.0,
		"Resources":    []any{},
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("empty lookup mismatch (-want +got):\n%s", diff)
	}

	// Entra ID: GET /Users?filter=externalId eq "…".
	r = e.do("GET", `/Users?filter=externalId eq "00ujl29u0le5T6Aj10h7"`, "").want(t, 200)
	if got := userNames(r); !slices.Equal(got, []string{"test.user@okta.local"}) {
		t.Errorf("Entra externalId lookup = %v", got)
	}
}

// TestPagination follows RFC 7644 §3.4.2.4.
func TestPagination(t *testing.T) {
	e := newEnv(t, scimserver.Options{})
	for i := range 25 {
		e.user(fmt.Sprintf("user%02d@example.com", i), fmt.Sprintf("user%02d@example.com", i), "")
	}
	tests := []struct {
		query                 string
		total, start, perPage int
		first                 string
	}{
		{"", 25, 1, 25, "user00@example.com"},
		{"?startIndex=1&count=10", 25, 1, 10, "user00@example.com"},
		{"?startIndex=11&count=10", 25, 11, 10, "user10@example.com"},
		{"?startIndex=21&count=10", 25, 21, 5, "user20@example.com"},
		{"?startIndex=26&count=10", 25, 26, 0, ""},
		{"?startIndex=0&count=3", 25, 1, 3, "user00@example.com"},  // less than 1 is 1
		{"?startIndex=-4&count=3", 25, 1, 3, "user00@example.com"}, // less than 1 is 1
		{"?count=0", 25, 1, 0, ""},                                 // totalResults only
		{"?count=-1", 25, 1, 0, ""},                                // negative is 0
		{"?count=5000", 25, 1, 25, "user00@example.com"},           // capped at 1000
		{`?filter=userName sw "user1"&startIndex=2&count=3`, 10, 2, 3, "user11@example.com"},
		{`?filter=userName eq "user07@example.com"&startIndex=2`, 1, 2, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.do("GET", "/Users"+tt.query, "").want(t, 200)
			got := []any{r.body["totalResults"], r.body["startIndex"], r.body["itemsPerPage"], float64(len(r.resources()))}
			want := []any{float64(tt.total), float64(tt.start), float64(tt.perPage), float64(tt.perPage)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("[totalResults startIndex itemsPerPage len(Resources)] mismatch (-want +got):\n%s", diff)
			}
			if tt.first != "" && r.resources()[0]["userName"] != tt.first {
				t.Errorf("first = %v, want %s", r.resources()[0]["userName"], tt.first)
			}
		})
	}
	// Walking the pages sees every user once.
	var seen []string
	for start := 1; start <= 25; start += 7 {
		r := e.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=7", start), "").want(t, 200)
		seen = append(seen, userNames(r)...)
	}
	if len(seen) != 25 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 25 {
		t.Errorf("pages saw %d users (%d distinct), want 25", len(seen), len(slices.Compact(slices.Sorted(slices.Values(seen)))))
	}
	for _, q := range []string{"?startIndex=one", "?count=1.5"} {
		e.do("GET", "/Users"+q, "").wantError(t, 400, "invalidValue")
	}
}
