package app

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/provisioning"
)

func TestParseImport(t *testing.T) {
	csvFile := "email,name,status,org_unit,groups\n" +
		"Ada@Example.com,Ada Lovelace,enabled,/Engineering/Platform,Contractors;Everyone\n" +
		"bob@example.com,\"Bob, Jr.\",disabled,/Sales,Everyone\n" +
		"cy@example.com,,,,\n"
	jsonFile := `[
  {"email": "Ada@Example.com", "name": "Ada Lovelace", "status": "enabled", "org_unit": "/Engineering/Platform", "groups": ["Contractors", "Everyone"]},
  {"email": "bob@example.com", "name": "Bob, Jr.", "status": "disabled", "org_unit": "/Sales", "groups": ["Everyone"]},
  {"email": "cy@example.com"}
]`
	want := provisioning.DirectoryChange{
		Upsert: []provisioning.Person{
			{Email: "ada@example.com", Name: "Ada Lovelace", Status: provisioning.PersonEnabled, OrgUnit: "/Engineering/Platform"},
			{Email: "bob@example.com", Name: "Bob, Jr.", Status: provisioning.PersonDisabled, OrgUnit: "/Sales"},
			{Email: "cy@example.com", Status: provisioning.PersonEnabled},
		},
		UpsertGroups: []provisioning.GroupInput{
			{Name: "Contractors", MemberEmails: []string{"ada@example.com"}},
			{Name: "Everyone", MemberEmails: []string{"ada@example.com", "bob@example.com"}},
		},
	}
	for name, file := range map[string]string{"csv": csvFile, "json": jsonFile, "csv with BOM": "\ufeff" + csvFile} {
		t.Run(name, func(t *testing.T) {
			got, err := parseImport([]byte(file))
			if err != nil {
				t.Fatalf("parseImport() = %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parseImport() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseImportRejects(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "empty"},
		{"no email column", "name,status\nAda,enabled\n", "line 1: the header has no email column"},
		{"unknown column", "email,phone\na@example.com,1\n", `line 1: unknown column "phone"`},
		{"bad email", "email\na@example.com\nnot-an-email\n", "line 3:"},
		{"duplicate", "email\na@example.com\nb@example.com\nA@example.com\n", "line 4: a@example.com appears again (first on line 2)"},
		{"bad status", "email,status\na@example.com,maybe\n", `line 2: status "maybe"`},
		{"relative org unit", "email,org_unit\na@example.com,Engineering\n", "line 2: org_unit"},
		{"short row", "email,name\na@example.com\n", "line 2: 1 fields, but the header has 2"},
		{"bad quote", "email,name\na@example.com,\"Ada\n", "line 2"},
		{"json syntax", "[\n {\"email\": \"a@example.com\"},\n {\"email\": }\n]", "line 3:"},
		{"json unknown key", "[\n {\"email\": \"a@example.com\"},\n\n {\"email\": \"b@example.com\", \"phone\": 1}\n]", "line 4:"},
		{"json bad email", "[\n {\"email\": \"a@example.com\"},\n {\"email\": \"nope\"}\n]", "line 3:"},
		{"json trailing", "[{\"email\": \"a@example.com\"}] x", "after the array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseImport([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseImport(%q) = %v, want an error containing %q", tt.file, err, tt.want)
			}
		})
	}
}
