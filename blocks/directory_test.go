package blocks_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/provisioning"
)

func grantCases() []tcase {
	var many []string
	for i := range 120 {
		many = append(many, fmt.Sprintf("person.%03d@example.com", i))
	}
	return []tcase{
		{"group", msg(blocks.GrantPreview(provisioning.GrantGroup, "Contractors", "Q3 launch", []string{"ada@example.com", "bob@example.com"}, false))},
		{"org_unit_many", msg(blocks.GrantPreview(provisioning.GrantOrgUnit, "/Engineering", "", many, false))},
		{"nobody_dry_run", msg(blocks.GrantPreview(provisioning.GrantGroup, "Empty", "", nil, true))},
		{"escaping", msg(blocks.GrantPreview(provisioning.GrantGroup, evil, evil, []string{evil}, false))},
		{"longest", msg(blocks.GrantPreview(provisioning.GrantOrgUnit, longReason, longReason, many, false))},
		{"withdraw", msg(blocks.WithdrawPreview(provisioning.GrantGroup, "Contractors", []string{"ada@example.com"}, false, false))},
		{"withdraw_held", msg(blocks.WithdrawPreview(provisioning.GrantOrgUnit, "/Engineering", many, true, true))},
		{"withdraw_escaping", msg(blocks.WithdrawPreview(provisioning.GrantGroup, evil, []string{evil}, false, false))},
	}
}

func TestGrantPreview(t *testing.T) { runGolden(t, grantCases()) }

func TestGrantValueRoundTrip(t *testing.T) {
	v := blocks.EncodeGrant(provisioning.GrantOrgUnit, "/Engineering/Platform", "new team & <stuff>")
	kind, target, reason, err := blocks.DecodeGrant(v)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"org-unit", "/Engineering/Platform", "new team & <stuff>"}, []string{string(kind), target, reason}); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "k=admin&t=x", "k=group", "%zz"} {
		if _, _, _, err := blocks.DecodeGrant(bad); err == nil {
			t.Errorf("DecodeGrant(%q) = nil error, want an error", bad)
		}
	}
}
