package blocks_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/roster-app/roster/blocks"
)

func assignModalCases() []tcase {
	return []tcase{
		{"empty", blocks.AssignModal(blocks.ModalInput{}, false)},
		{"prefilled", blocks.AssignModal(blocks.ModalInput{Email: "ada@example.com", Duration: "7d", Reason: "Contractor for the Q3 launch"}, false)},
		{"dry_run_with_error", blocks.AssignModal(blocks.ModalInput{Email: "ada@", Error: "“ada@” is not an email address."}, true)},
		{"longest_fields", blocks.AssignModal(blocks.ModalInput{Email: longEmail, Duration: longReason, Reason: longReason, Error: longReason}, true)},
		{"escaping", blocks.AssignModal(blocks.ModalInput{Email: evil, Duration: evil, Reason: evil, Error: evil}, false)},
	}
}

func revokeModalCases() []tcase {
	return []tcase{
		{"empty", blocks.RevokeModal(blocks.ModalInput{}, false)},
		{"prefilled_member", blocks.RevokeModal(blocks.ModalInput{MemberID: "U0ADA", Email: "ada@example.com"}, false)},
		{"dry_run", blocks.RevokeModal(blocks.ModalInput{Email: "ada@example.com", Reason: "Left the company"}, true)},
		{"longest_fields", blocks.RevokeModal(blocks.ModalInput{Email: longEmail, Reason: longReason, Error: longReason}, false)},
		// A member ID that is not a Slack ID is not used as initial_user.
		{"escaping", blocks.RevokeModal(blocks.ModalInput{MemberID: evil, Email: evil, Reason: evil, Error: evil}, false)},
	}
}

func requestModalCases() []tcase {
	return []tcase{
		{"empty", blocks.RequestModal(blocks.ModalInput{}, false)},
		{"prefilled", blocks.RequestModal(blocks.ModalInput{Email: "grace@example.com", Duration: "2w", Reason: "Joins the platform team"}, false)},
		{"dry_run", blocks.RequestModal(blocks.ModalInput{}, true)},
		{"longest_fields", blocks.RequestModal(blocks.ModalInput{Email: longEmail, Duration: "1d12h", Reason: longReason}, false)},
		{"escaping", blocks.RequestModal(blocks.ModalInput{Email: evil, Reason: evil, Error: evil}, false)},
	}
}

func denyModalCases() []tcase {
	return []tcase{
		{"typical", blocks.DenyModal("req-000042")},
		{"escaping", blocks.DenyModal(evil)},
	}
}

func TestAssignModal(t *testing.T)  { runGolden(t, assignModalCases()) }
func TestRevokeModal(t *testing.T)  { runGolden(t, revokeModalCases()) }
func TestRequestModal(t *testing.T) { runGolden(t, requestModalCases()) }
func TestDenyModal(t *testing.T)    { runGolden(t, denyModalCases()) }

func TestModalIDs(t *testing.T) {
	tests := []struct {
		name         string
		v            slack.ModalViewRequest
		wantCallback string
		wantSubmit   string
		wantLabels   map[string]string // block ID → label
	}{
		{"assign", blocks.AssignModal(blocks.ModalInput{}, false), blocks.CallbackAssign, "Assign",
			map[string]string{blocks.BlockEmail: "Email", blocks.BlockDuration: "Duration", blocks.BlockReason: "Reason"}},
		{"revoke", blocks.RevokeModal(blocks.ModalInput{}, false), blocks.CallbackRevoke, "Revoke",
			map[string]string{blocks.BlockMember: "Member", blocks.BlockEmail: "Email", blocks.BlockReason: "Reason"}},
		{"request", blocks.RequestModal(blocks.ModalInput{}, false), blocks.CallbackRequest, "Request",
			map[string]string{blocks.BlockEmail: "Email", blocks.BlockDuration: "Duration", blocks.BlockReason: "Reason"}},
		{"deny", blocks.DenyModal("req-1"), blocks.CallbackDeny, "Deny",
			map[string]string{blocks.BlockReason: "Reason"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v.CallbackID != tt.wantCallback {
				t.Errorf("callback_id = %q, want %q", tt.v.CallbackID, tt.wantCallback)
			}
			if tt.v.Submit == nil || tt.v.Submit.Text != tt.wantSubmit {
				t.Errorf("submit = %+v, want %q", tt.v.Submit, tt.wantSubmit)
			}
			got := map[string]string{}
			for _, b := range tt.v.Blocks.BlockSet {
				if in, ok := b.(*slack.InputBlock); ok {
					got[in.BlockID] = in.Label.Text
				}
			}
			if diff := cmp.Diff(tt.wantLabels, got); diff != "" {
				t.Errorf("input labels (-want +got):\n%s", diff)
			}
		})
	}
	if got := blocks.DenyModal("req-1").PrivateMetadata; got != "req-1" {
		t.Errorf("DenyModal(req-1).PrivateMetadata = %q, want req-1", got)
	}
}

func TestReadModal(t *testing.T) {
	tests := []struct {
		name  string
		state *slack.ViewState
		want  blocks.ModalInput
	}{
		{"nil", nil, blocks.ModalInput{}},
		{"empty", &slack.ViewState{}, blocks.ModalInput{}},
		{"all fields", &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
			blocks.BlockEmail:    {blocks.ActionEmail: {Value: "  ada@example.com "}},
			blocks.BlockDuration: {blocks.ActionDuration: {Value: "7d"}},
			blocks.BlockReason:   {blocks.ActionReason: {Value: "Contractor\nfor Q3\n"}},
			blocks.BlockMember:   {blocks.ActionMember: {SelectedUser: "U0ADA"}},
		}}, blocks.ModalInput{Email: "ada@example.com", Duration: "7d", Reason: "Contractor\nfor Q3", MemberID: "U0ADA"}},
		{"unrelated blocks", &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
			"other": {"other.input": {Value: "x"}},
		}}, blocks.ModalInput{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, blocks.ReadModal(tt.state)); diff != "" {
				t.Errorf("ReadModal() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestModalRoundTrip checks that what a modal is prefilled with is what
// ReadModal reads back when the user submits it unchanged.
func TestModalRoundTrip(t *testing.T) {
	in := blocks.ModalInput{Email: "ada@example.com", Duration: "7d", Reason: "Q3 launch", MemberID: "U0ADA"}
	state := &slack.ViewState{Values: map[string]map[string]slack.BlockAction{}}
	for _, b := range blocks.RevokeModal(in, false).Blocks.BlockSet {
		ib, ok := b.(*slack.InputBlock)
		if !ok {
			continue
		}
		switch el := ib.Element.(type) {
		case *slack.PlainTextInputBlockElement:
			state.Values[ib.BlockID] = map[string]slack.BlockAction{el.ActionID: {Value: el.InitialValue}}
		case *slack.SelectBlockElement:
			state.Values[ib.BlockID] = map[string]slack.BlockAction{el.ActionID: {SelectedUser: el.InitialUser}}
		}
	}
	want := in
	want.Duration = "" // Revoke has no Duration field
	if diff := cmp.Diff(want, blocks.ReadModal(state)); diff != "" {
		t.Errorf("ReadModal(RevokeModal(in)) (-want +got):\n%s", diff)
	}
}
