package app_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// approvalsBot runs a bot with the demo approver in ROSTER_APPROVERS.
func approvalsBot(t *testing.T, fs *fakeslack.Server, dir string, extra map[string]string) *bot {
	t.Helper()
	e := env(fs, dir, map[string]string{"ROSTER_APPROVERS": fakeslack.DemoApproverID, "ROSTER_ADMINS": ""})
	for k, v := range extra {
		e[k] = v
	}
	b := startBot(t, fs, e)
	waitFor(t, "directory sync", func() bool { _, ok := b.app.Directory.ByEmail(fakeslack.DemoMemberEmail); return ok })
	return b
}

// approvalMessage waits for the approval message about email in the
// approvals channel and returns it.
func approvalMessage(t *testing.T, fs *fakeslack.Server, email string) fakeslack.Message {
	t.Helper()
	var m fakeslack.Message
	waitFor(t, "approval message for "+email, func() bool {
		for _, x := range fs.Messages(fakeslack.DemoApprovalsChannel) {
			if strings.Contains(string(x.Blocks), email) {
				m = x
				return true
			}
		}
		return false
	})
	return m
}

func requestID(t *testing.T, m fakeslack.Message) string {
	t.Helper()
	_, after, ok := strings.Cut(string(m.Blocks), `"action_id":"`+blocks.ActionApprove+`"`)
	if !ok {
		t.Fatalf("no Approve button in %s", m.Blocks)
	}
	_, after, _ = strings.Cut(after, `"value":"`)
	id, _, _ := strings.Cut(after, `"`)
	return id
}

// click sends a block action and waits for its ack.
func click(t *testing.T, fs *fakeslack.Server, user, actionID, value string) {
	t.Helper()
	env, err := fs.BlockAction(user, actionID, value)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(env, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func request(t *testing.T, b *bot, id string) provisioning.Request {
	t.Helper()
	r, err := b.app.Service.Request(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dmContains(fs *fakeslack.Server, user, text string) bool {
	for _, m := range fs.Messages(fakeslack.DMChannel(user)) {
		if strings.Contains(string(m.Blocks), text) || strings.Contains(m.Text, text) {
			return true
		}
	}
	return false
}

func ephemeralContains(fs *fakeslack.Server, user, text string) bool {
	for _, c := range fs.Calls("chat.postEphemeral") {
		if c.Param("user") == user && strings.Contains(c.Param("blocks"), text) {
			return true
		}
	}
	return false
}

func TestRequestApproveProvisions(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), nil)
	got := command(t, fs, fakeslack.DemoMemberID, "request new.hire@example.com for 2w starts Monday")
	if !strings.Contains(got, "waiting for approval") {
		t.Fatalf("request answer = %q", got)
	}
	m := approvalMessage(t, fs, "new.hire@example.com")
	for _, want := range []string{`"text":"Approve"`, `"text":"Deny"`, "starts Monday", fakeslack.DemoMemberID} {
		if !strings.Contains(string(m.Blocks), want) {
			t.Errorf("approval message lacks %s", want)
		}
	}
	id := requestID(t, m)
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id)
	waitFor(t, "account created", func() bool { u, ok := fs.UserByEmail("new.hire@example.com"); return ok && !u.Deleted })
	waitFor(t, "message updated", func() bool {
		m := approvalMessage(t, fs, "new.hire@example.com")
		return m.Edited && strings.Contains(string(m.Blocks), "Approved") && !strings.Contains(string(m.Blocks), blocks.ActionApprove)
	})
	waitFor(t, "requester DM", func() bool { return dmContains(fs, fakeslack.DemoMemberID, "Approved") })
	if r := request(t, b, id); r.Status != provisioning.StatusApproved || r.DecidedBy != fakeslack.DemoApproverID {
		t.Errorf("request = %s by %s, want approved by the approver", r.Status, r.DecidedBy)
	}
	// A redelivered click decides nothing new.
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id)
	waitFor(t, "explanation", func() bool { return ephemeralContains(fs, fakeslack.DemoApproverID, "already approved") })
	if n := len(fs.SCIMWrites()); n != 1 {
		t.Errorf("SCIM writes = %d, want 1", n)
	}
}

func TestDenyWithReason(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), nil)
	command(t, fs, fakeslack.DemoMemberID, "request denied.person@example.com")
	id := requestID(t, approvalMessage(t, fs, "denied.person@example.com"))
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionDeny, id)
	waitFor(t, "deny modal", func() bool {
		for _, v := range fs.Modals(fakeslack.DemoApproverID) {
			if v.CallbackID == blocks.CallbackDeny {
				return true
			}
		}
		return false
	})
	p := submit(t, fs, fakeslack.DemoApproverID, blocks.CallbackDeny, field(blocks.BlockReason, blocks.ActionReason, "use your company address"))
	if p["response_action"] == "errors" {
		t.Fatalf("deny submission = %v", p)
	}
	waitFor(t, "denied", func() bool { return request(t, b, id).Status == provisioning.StatusDenied })
	waitFor(t, "message updated", func() bool {
		m := approvalMessage(t, fs, "denied.person@example.com")
		return strings.Contains(string(m.Blocks), "Denied") && strings.Contains(string(m.Blocks), "use your company address")
	})
	waitFor(t, "requester DM", func() bool { return dmContains(fs, fakeslack.DemoMemberID, "Denied") })
	if n := len(fs.SCIMWrites()); n != 0 {
		t.Errorf("SCIM writes = %d, want 0", n)
	}
}

func TestRefusedDecisions(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), nil)
	// The approver asks; they may not decide their own request.
	command(t, fs, fakeslack.DemoApproverID, "request own.friend@example.com")
	id := requestID(t, approvalMessage(t, fs, "own.friend@example.com"))
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id)
	waitFor(t, "self-approval explanation", func() bool { return ephemeralContains(fs, fakeslack.DemoApproverID, "someone else must decide") })
	// A plain member may not decide.
	click(t, fs, fakeslack.DemoGuestID, blocks.ActionApprove, id)
	waitFor(t, "non-approver explanation", func() bool { return ephemeralContains(fs, fakeslack.DemoGuestID, "Only approvers") })
	if r := request(t, b, id); r.Status != provisioning.StatusPending || len(r.Decisions) != 0 {
		t.Errorf("request = %s with %d decisions, want pending and untouched", r.Status, len(r.Decisions))
	}
	if m := approvalMessage(t, fs, "own.friend@example.com"); m.Edited {
		t.Errorf("a refused click changed the approval message")
	}
	var refused int
	_ = b.app.DB.View(t.Context(), func(tx provisioning.ReadTx) error {
		evs, err := tx.RecentAudit(50)
		for _, ev := range evs {
			if ev.Outcome == "refused" && ev.Action == "approve" {
				refused++
			}
		}
		return err
	})
	if refused != 2 {
		t.Errorf("refused approvals audited = %d, want 2", refused)
	}
}

func TestTwoRequiredApprovals(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), map[string]string{"ROSTER_REQUIRED_APPROVALS": "2"})
	command(t, fs, fakeslack.DemoMemberID, "request two.keys@example.com")
	id := requestID(t, approvalMessage(t, fs, "two.keys@example.com"))
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id)
	waitFor(t, "1 of 2", func() bool {
		return strings.Contains(string(approvalMessage(t, fs, "two.keys@example.com").Blocks), "1 of 2 approvals")
	})
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id) // the same approver again
	waitFor(t, "duplicate explanation", func() bool { return ephemeralContains(fs, fakeslack.DemoApproverID, "approved already") })
	if r := request(t, b, id); r.Status != provisioning.StatusPending {
		t.Fatalf("after one approver twice: %s, want pending", r.Status)
	}
	click(t, fs, fakeslack.DemoAdminID, blocks.ActionApprove, id)
	waitFor(t, "approved", func() bool { return request(t, b, id).Status == provisioning.StatusApproved })
	waitFor(t, "account created", func() bool { _, ok := fs.UserByEmail("two.keys@example.com"); return ok })
}

func TestSimultaneousApprovalsCreateOnce(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), nil)
	command(t, fs, fakeslack.DemoMemberID, "request at.once@example.com")
	id := requestID(t, approvalMessage(t, fs, "at.once@example.com"))
	var wg sync.WaitGroup
	for _, u := range []string{fakeslack.DemoApproverID, fakeslack.DemoAdminID, fakeslack.DemoAdmin2ID, fakeslack.DemoPrimaryOwnerID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env, err := fs.BlockAction(u, blocks.ActionApprove, id)
			if err == nil {
				_, err = fs.WaitAck(env, 5*time.Second)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "account created", func() bool { _, ok := fs.UserByEmail("at.once@example.com"); return ok })
	// Every clicker has been answered (three told it was decided) before
	// counting writes.
	waitFor(t, "explanations", func() bool {
		n := 0
		for _, c := range fs.Calls("chat.postEphemeral") {
			if strings.Contains(c.Param("blocks"), "already approved") {
				n++
			}
		}
		return n == 3
	})
	posts := 0
	for _, w := range fs.SCIMWrites() {
		if w.Method == http.MethodPost {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("SCIM creates = %d, want exactly 1", posts)
	}
	if r := request(t, b, id); len(provisioning.Approvals(r)) != 1 {
		t.Errorf("approvals recorded = %d, want 1", len(provisioning.Approvals(r)))
	}
}

func TestTimeBoundGrantEnds(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), map[string]string{"ROSTER_EXPIRY_CHECK": "1s"})
	command(t, fs, fakeslack.DemoMemberID, "request brief.visit@example.com for 3s")
	id := requestID(t, approvalMessage(t, fs, "brief.visit@example.com"))
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id)
	waitFor(t, "account created", func() bool { u, ok := fs.UserByEmail("brief.visit@example.com"); return ok && !u.Deleted })
	start := time.Now()
	waitFor(t, "account deactivated", func() bool { u, _ := fs.UserByEmail("brief.visit@example.com"); return u.Deleted })
	t.Logf("deactivated %s after creation", time.Since(start).Round(100*time.Millisecond))
	waitFor(t, "requester told", func() bool { return dmContains(fs, fakeslack.DemoMemberID, "ended") })
	if st, _ := b.app.Service.Status(t.Context(), "brief.visit@example.com"); st.Entitled {
		t.Errorf("still entitled after expiry")
	}
}

func TestPendingRequestExpires(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), map[string]string{"ROSTER_EXPIRY_CHECK": "1s", "ROSTER_REQUEST_TTL": "2s"})
	command(t, fs, fakeslack.DemoMemberID, "request too.slow@example.com")
	id := requestID(t, approvalMessage(t, fs, "too.slow@example.com"))
	waitFor(t, "expired", func() bool { return request(t, b, id).Status == provisioning.StatusExpired })
	waitFor(t, "message updated", func() bool {
		m := approvalMessage(t, fs, "too.slow@example.com")
		return strings.Contains(string(m.Blocks), "Expired") && !strings.Contains(string(m.Blocks), blocks.ActionApprove)
	})
	waitFor(t, "requester told", func() bool { return dmContains(fs, fakeslack.DemoMemberID, "Expired") })
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id)
	waitFor(t, "late click explained", func() bool { return ephemeralContains(fs, fakeslack.DemoApproverID, "already expired") })
}

// A grant whose expiry fell while Roster was stopped ends at the next start.
func TestExpiryWhileStoppedAppliesAtStart(t *testing.T) {
	fs := newFake(t)
	dir := t.TempDir()
	b := approvalsBot(t, fs, dir, nil)
	command(t, fs, fakeslack.DemoMemberID, "request while.down@example.com for 2s")
	id := requestID(t, approvalMessage(t, fs, "while.down@example.com"))
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, id)
	waitFor(t, "account created", func() bool { u, ok := fs.UserByEmail("while.down@example.com"); return ok && !u.Deleted })
	b.stop()

	// Stopped past the expiry (the check runs every minute by default, so
	// only the sweep at start can end it in time for this test).
	db, err := store.Open(filepath.Join(dir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var expires time.Time
	_ = db.View(context.Background(), func(tx provisioning.ReadTx) error {
		as, err := tx.Assignments("while.down@example.com")
		if len(as) == 1 {
			expires = as[0].ExpiresAt
		}
		return err
	})
	db.Close()
	if expires.IsZero() {
		t.Fatal("no time-bound assignment stored")
	}
	time.Sleep(time.Until(expires) + 100*time.Millisecond) // let the expiry pass while stopped
	if u, _ := fs.UserByEmail("while.down@example.com"); u.Deleted {
		t.Fatal("deactivated while Roster was stopped?")
	}
	approvalsBot(t, fs, dir, nil)
	waitFor(t, "deactivated after restart", func() bool { u, _ := fs.UserByEmail("while.down@example.com"); return u.Deleted })
}

func TestApprovalsChannelFailing(t *testing.T) {
	fs := newFake(t)
	approvalsBot(t, fs, t.TempDir(), nil)
	fs.FailAPI("chat.postMessage", 1, "not_in_channel")
	got := command(t, fs, fakeslack.DemoMemberID, "request no.channel@example.com")
	if !strings.Contains(got, "could not post") || !strings.Contains(got, "approvers directly") {
		t.Errorf("requester answer = %q, want a plain explanation", got)
	}
	waitFor(t, "approver DM", func() bool { return dmContains(fs, fakeslack.DemoApproverID, "no.channel@example.com") })
	openHome(t, fs, fakeslack.DemoAdminID, "cannot post requests") // the admin sees the channel problem
	// The approver decides from the DM.
	var m fakeslack.Message
	for _, x := range fs.Messages(fakeslack.DMChannel(fakeslack.DemoApproverID)) {
		if strings.Contains(string(x.Blocks), "no.channel@example.com") {
			m = x
		}
	}
	click(t, fs, fakeslack.DemoApproverID, blocks.ActionApprove, requestID(t, m))
	waitFor(t, "account created", func() bool { _, ok := fs.UserByEmail("no.channel@example.com"); return ok })
}

func TestCancelFromHome(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), nil)
	command(t, fs, fakeslack.DemoMemberID, "request changed.mind@example.com")
	id := requestID(t, approvalMessage(t, fs, "changed.mind@example.com"))
	openHome(t, fs, fakeslack.DemoMemberID, "changed.mind@example.com", blocks.ActionCancelRequest) // the request with Cancel
	click(t, fs, fakeslack.DemoMemberID, blocks.ActionCancelRequest, id)
	waitFor(t, "cancelled", func() bool { return request(t, b, id).Status == provisioning.StatusCancelled })
	waitFor(t, "message updated", func() bool {
		return strings.Contains(string(approvalMessage(t, fs, "changed.mind@example.com").Blocks), "Cancelled")
	})
}

func TestRequestForEntitledPerson(t *testing.T) {
	fs := newFake(t)
	b := approvalsBot(t, fs, t.TempDir(), nil)
	if _, _, err := b.app.Service.Assign(t.Context(), provisioning.Grant{Email: "has.it@example.com", By: fakeslack.DemoAdminID}); err != nil {
		t.Fatal(err)
	}
	got := command(t, fs, fakeslack.DemoMemberID, "request has.it@example.com")
	if !strings.Contains(got, "already has access") {
		t.Errorf("answer = %q, want already has access", got)
	}
	got = command(t, fs, fakeslack.DemoMemberID, "request long.one@example.com for 100d")
	if !strings.Contains(got, "90d") {
		t.Errorf("answer = %q, want the 90d limit", got)
	}
	if n := len(fs.Messages(fakeslack.DemoApprovalsChannel)); n != 0 {
		t.Errorf("approvers were asked %d times, want 0", n)
	}
}

// A change is re-published to the Home tab of someone who has it open, and
// not pushed to people who never opened it (they get a fresh one when they
// do).
func TestHomeRefreshOnlyForViewers(t *testing.T) {
	fs := newFake(t)
	approvalsBot(t, fs, t.TempDir(), nil)
	publishes := func(user string) int {
		n := 0
		for _, c := range fs.Calls("views.publish") {
			if c.Param("user_id") == user {
				n++
			}
		}
		return n
	}
	openHome(t, fs, fakeslack.DemoMemberID)
	command(t, fs, fakeslack.DemoMemberID, "request viewer.asks@example.com")
	waitFor(t, "the member's Home shows the request", func() bool {
		return strings.Contains(homeText(t, fs, fakeslack.DemoMemberID), "viewer.asks@example.com")
	})
	command(t, fs, fakeslack.DemoGuestID, "request guest.asks@example.com")
	approvalMessage(t, fs, "guest.asks@example.com")
	if n := publishes(fakeslack.DemoGuestID); n != 0 {
		t.Errorf("views.publish for a guest who never opened Home = %d, want 0", n)
	}
	openHome(t, fs, fakeslack.DemoGuestID, "guest.asks@example.com")
}
