package blocks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/provisioning"
)

func approvalCases() []tcase {
	base := provisioning.Request{ID: "req-000001", Email: "ada@example.com", RequestedBy: "U0BOB", Duration: 7 * 24 * time.Hour,
		Reason: "Contractor for the Q3 launch", Status: provisioning.StatusPending, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)}
	with := func(f func(*provisioning.Request)) provisioning.Request {
		r := base
		r.Decisions = append([]provisioning.Decision(nil), base.Decisions...)
		f(&r)
		return r
	}
	approve := func(by string, at time.Time) provisioning.Decision {
		return provisioning.Decision{By: by, Approved: true, At: at}
	}
	oneOfTwo := with(func(r *provisioning.Request) {
		r.Decisions = []provisioning.Decision{approve("U0ADMIN", now.Add(-time.Minute))}
	})
	approved := with(func(r *provisioning.Request) {
		r.Status, r.DecidedBy = provisioning.StatusApproved, "U0CAROL"
		r.Decisions = []provisioning.Decision{approve("U0ADMIN", now.Add(-10*time.Minute)), approve("U0CAROL", now.Add(-time.Minute))}
		r.UpdatedAt = now.Add(-time.Minute)
	})
	denied := with(func(r *provisioning.Request) {
		r.Status, r.DecidedBy = provisioning.StatusDenied, "U0CAROL"
		r.Decisions = []provisioning.Decision{{By: "U0CAROL", Reason: "Use a company address", At: now.Add(-time.Minute)}}
	})
	expired := with(func(r *provisioning.Request) { r.Status, r.UpdatedAt = provisioning.StatusExpired, now })
	cancelled := with(func(r *provisioning.Request) { r.Status, r.UpdatedAt = provisioning.StatusCancelled, now })
	noExpiry := with(func(r *provisioning.Request) { r.Duration, r.Reason = 0, "" })
	longest := provisioning.Request{ID: strings.Repeat("req-", 40), Email: longEmail, RequestedBy: "U0BOB", Duration: 90 * 24 * time.Hour,
		Reason: longReason, Status: provisioning.StatusPending, CreatedAt: now}
	longestDenied := longest
	longestDenied.Status = provisioning.StatusDenied
	longestDenied.Decisions = []provisioning.Decision{{By: "U0CAROL", Reason: longReason, At: now}}
	evilReq := provisioning.Request{ID: evil, Email: evil, RequestedBy: evil, Reason: evil, Status: provisioning.StatusPending, CreatedAt: now}
	evilDenied := evilReq
	evilDenied.Status = provisioning.StatusDenied
	evilDenied.Decisions = []provisioning.Decision{{By: evil, Reason: evil, At: now}}

	grant := provisioning.Assignment{ID: "asg-000001", Email: "ada@example.com", Source: provisioning.SourceRequest, Ref: "req-000001",
		CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(20 * time.Hour)}
	return []tcase{
		{"pending", msg(blocks.ApprovalMessage(base, 1, now))},
		{"pending_no_expiry_no_reason", msg(blocks.ApprovalMessage(noExpiry, 1, now))},
		{"pending_1_of_2", msg(blocks.ApprovalMessage(oneOfTwo, 2, now))},
		{"approved_by_two", msg(blocks.ApprovalMessage(approved, 2, now))},
		{"denied_with_reason", msg(blocks.ApprovalMessage(denied, 1, now))},
		{"expired", msg(blocks.ApprovalMessage(expired, 1, now))},
		{"cancelled", msg(blocks.ApprovalMessage(cancelled, 1, now))},
		{"longest_pending", msg(blocks.ApprovalMessage(longest, 3, now))},
		{"longest_denied", msg(blocks.ApprovalMessage(longestDenied, 1, now))},
		{"escaping_pending", msg(blocks.ApprovalMessage(evilReq, 1, now))},
		{"escaping_denied", msg(blocks.ApprovalMessage(evilDenied, 1, now))},
		{"grant_ending", msg(blocks.GrantEnding(grant, now))},
		{"grant_ended", msg(blocks.GrantEnded(grant, false))},
		{"grant_ended_still_entitled", msg(blocks.GrantEnded(grant, true))},
		{"grant_escaping", msg(blocks.GrantEnded(provisioning.Assignment{Email: evil, ExpiresAt: now}, false))},
		{"grant_longest", msg(blocks.GrantEnding(provisioning.Assignment{Email: longEmail, ExpiresAt: now.Add(20 * time.Hour)}, now))},
	}
}

func TestApprovalMessage(t *testing.T) { runGolden(t, approvalCases()) }

func TestApprovalButtons(t *testing.T) {
	r := provisioning.Request{ID: "req-000001", Email: "ada@example.com", RequestedBy: "U0BOB", Status: provisioning.StatusPending, CreatedAt: now}
	bs := blocks.ApprovalMessage(r, 2, now)
	var act *slack.ActionBlock
	for _, b := range bs {
		if a, ok := b.(*slack.ActionBlock); ok {
			act = a
		}
	}
	if act == nil || act.BlockID != blocks.BlockApprovalActions || len(act.Elements.ElementSet) != 2 {
		t.Fatalf("ApprovalMessage(pending) actions = %+v, want block %s with two buttons", act, blocks.BlockApprovalActions)
	}
	want := []struct {
		id, text string
		style    slack.Style
		confirm  bool
	}{
		{blocks.ActionApprove, "Approve", slack.StylePrimary, false},
		{blocks.ActionDeny, "Deny", slack.StyleDanger, false}, // the reason modal confirms
	}
	for i, w := range want {
		b, ok := act.Elements.ElementSet[i].(*slack.ButtonBlockElement)
		if !ok {
			t.Fatalf("element %d = %T, want a button", i, act.Elements.ElementSet[i])
		}
		if b.ActionID != w.id || b.Text.Text != w.text || b.Style != w.style || b.Value != r.ID || (b.Confirm != nil) != w.confirm {
			t.Errorf("button %d = %s %q %s value %q confirm %v; want %s %q %s value %q confirm %v",
				i, b.ActionID, b.Text.Text, b.Style, b.Value, b.Confirm != nil, w.id, w.text, w.style, r.ID, w.confirm)
		}
	}

	for _, st := range []provisioning.RequestStatus{provisioning.StatusApproved, provisioning.StatusDenied, provisioning.StatusExpired, provisioning.StatusCancelled} {
		r.Status = st
		if got := buttons(blocks.ApprovalMessage(r, 2, now)); len(got) != 0 {
			t.Errorf("ApprovalMessage(%s) has buttons %v, want none", st, got)
		}
	}
}

func TestApprovalProgress(t *testing.T) {
	r := provisioning.Request{ID: "req-1", Email: "ada@example.com", RequestedBy: "U0BOB", Status: provisioning.StatusPending, CreatedAt: now,
		Decisions: []provisioning.Decision{{By: "U0ADMIN", Approved: true}, {By: "U0ADMIN", Approved: true}}}
	j := textOf(t, msg(blocks.ApprovalMessage(r, 2, now)))
	if want := "1 of 2 approvals (by <@U0ADMIN>)"; !strings.Contains(j, want) {
		t.Errorf("ApprovalMessage(one approver twice, 2 required) = %s, want it to contain %q", j, want)
	}
}
