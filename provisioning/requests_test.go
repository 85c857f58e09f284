package provisioning_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
)

// clock is a settable clock for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCreateRequest(t *testing.T) {
	h := newHarness(t, nil, func(o *provisioning.Options) { o.MaxDuration = 90 * provisioning.Day })
	r, err := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "New@Example.com", RequestedBy: fakeslack.DemoMemberID, Duration: 14 * provisioning.Day, Reason: "contractor"})
	if err != nil {
		t.Fatalf("CreateRequest() = %v", err)
	}
	if r.Status != provisioning.StatusPending || r.Email != "new@example.com" || r.ID == "" {
		t.Errorf("CreateRequest() = %+v, want a pending request for new@example.com", r)
	}
	tests := []struct {
		name string
		in   provisioning.RequestInput
		want error
	}{
		{"too long", provisioning.RequestInput{Email: "x@example.com", RequestedBy: "U1", Duration: 91 * provisioning.Day}, provisioning.ErrInvalid},
		{"bad email", provisioning.RequestInput{Email: "x@", RequestedBy: "U1"}, provisioning.ErrInvalid},
		{"pending already", provisioning.RequestInput{Email: "new@example.com", RequestedBy: "U2"}, provisioning.ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.svc.CreateRequest(t.Context(), tt.in); !errors.Is(err, tt.want) {
				t.Errorf("CreateRequest(%+v) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	if _, _, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "has.access@example.com", By: fakeslack.DemoAdminID}); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "has.access@example.com", RequestedBy: "U1"})
	if !errors.Is(err, provisioning.ErrAlreadyEntitled) {
		t.Errorf("CreateRequest(entitled) = %v, want ErrAlreadyEntitled", err)
	}
}

func TestApproveGrantsAndProvisions(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	r, err := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "approved@example.com", RequestedBy: fakeslack.DemoMemberID, Duration: 3 * provisioning.Day})
	if err != nil {
		t.Fatal(err)
	}
	got, job, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoApproverID, true, "")
	if err != nil {
		t.Fatalf("Decide() = %v", err)
	}
	if got.Status != provisioning.StatusApproved || got.DecidedBy != fakeslack.DemoApproverID || job.ID == "" {
		t.Fatalf("Decide() = %+v, job %q; want approved by the approver with a job", got, job.ID)
	}
	if j := h.wait(job.ID); j.Action != provisioning.ActionInvite || j.StartedBy != fakeslack.DemoMemberID {
		t.Errorf("job = %s started by %s, want invite told to the requester", j.Action, j.StartedBy)
	}
	st, err := h.svc.Status(t.Context(), "approved@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Assignments) != 1 || st.Assignments[0].Source != provisioning.SourceRequest || st.Assignments[0].Ref != r.ID {
		t.Fatalf("assignments = %+v, want one from the request", st.Assignments)
	}
	if d := st.Assignments[0].ExpiresAt.Sub(st.Assignments[0].CreatedAt); d != 3*provisioning.Day {
		t.Errorf("grant lasts %s, want 3d from approval", d)
	}
	// A second click decides nothing.
	again, _, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoAdminID, true, "")
	if !errors.Is(err, provisioning.ErrAlreadyDecided) || again.DecidedBy != fakeslack.DemoApproverID {
		t.Errorf("second Decide() = %v (decided by %s), want ErrAlreadyDecided naming the first approver", err, again.DecidedBy)
	}
}

func TestDecideRefusals(t *testing.T) {
	h := newHarness(t, nil, func(o *provisioning.Options) { o.RequiredApprovals = 2 })
	r, err := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "two.approvals@example.com", RequestedBy: fakeslack.DemoMemberID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoMemberID, true, ""); !errors.Is(err, provisioning.ErrForbidden) {
		t.Errorf("self-approval = %v, want ErrForbidden", err)
	}
	got, job, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoApproverID, true, "")
	if err != nil || got.Status != provisioning.StatusPending || job.ID != "" {
		t.Fatalf("first approval = %s, job %q, %v; want still pending, no job", got.Status, job.ID, err)
	}
	if _, _, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoApproverID, true, ""); !errors.Is(err, provisioning.ErrDuplicate) {
		t.Errorf("same approver again = %v, want ErrDuplicate", err)
	}
	got, job, err = h.svc.Decide(t.Context(), r.ID, fakeslack.DemoAdminID, true, "")
	if err != nil || got.Status != provisioning.StatusApproved || job.ID == "" {
		t.Fatalf("second approver = %s, job %q, %v; want approved with a job", got.Status, job.ID, err)
	}
	if n := len(provisioning.Approvals(got)); n != 2 {
		t.Errorf("approvals = %d, want 2", n)
	}
	var refused int
	for _, ev := range h.audit() {
		if ev.Outcome == "refused" {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("refused audit events = %d, want 2", refused)
	}
}

func TestDenyEndsRequest(t *testing.T) {
	h := newHarness(t, nil, func(o *provisioning.Options) { o.RequiredApprovals = 2 })
	r, _ := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "denied@example.com", RequestedBy: fakeslack.DemoMemberID})
	if _, _, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoApproverID, true, ""); err != nil {
		t.Fatal(err)
	}
	got, job, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoAdminID, false, "not a real person")
	if err != nil || got.Status != provisioning.StatusDenied || job.ID != "" {
		t.Fatalf("deny = %s, job %q, %v; want denied, no job", got.Status, job.ID, err)
	}
	if last := got.Decisions[len(got.Decisions)-1]; last.Reason != "not a real person" || last.Approved {
		t.Errorf("last decision = %+v, want the deny with its reason", last)
	}
	if st, _ := h.svc.Status(t.Context(), "denied@example.com"); len(st.Assignments) != 0 {
		t.Errorf("a denied request left an assignment")
	}
}

// Approvers clicking at once decide once: one grant, one job.
func TestConcurrentApprovalsGrantOnce(t *testing.T) {
	h := newHarness(t, nil)
	r, _ := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "race@example.com", RequestedBy: fakeslack.DemoMemberID})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var granted, decided int
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, job, err := h.svc.Decide(t.Context(), r.ID, fmt.Sprintf("UAPPROVER%d", i%5), true, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && job.ID != "":
				granted++
			case errors.Is(err, provisioning.ErrAlreadyDecided):
				decided++
			default:
				t.Errorf("Decide() = %v", err)
			}
		}()
	}
	wg.Wait()
	if granted != 1 || decided != 19 {
		t.Errorf("granted %d, refused as decided %d; want 1 and 19", granted, decided)
	}
	st, _ := h.svc.Status(t.Context(), "race@example.com")
	if len(st.Assignments) != 1 || len(st.Jobs) != 1 {
		t.Errorf("assignments %d, jobs %d; want 1 and 1", len(st.Assignments), len(st.Jobs))
	}
}

func TestCancelRequest(t *testing.T) {
	h := newHarness(t, nil)
	r, _ := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "cancel@example.com", RequestedBy: fakeslack.DemoMemberID})
	if _, err := h.svc.CancelRequest(t.Context(), r.ID, fakeslack.DemoAdminID); !errors.Is(err, provisioning.ErrForbidden) {
		t.Errorf("cancel by someone else = %v, want ErrForbidden", err)
	}
	got, err := h.svc.CancelRequest(t.Context(), r.ID, fakeslack.DemoMemberID)
	if err != nil || got.Status != provisioning.StatusCancelled {
		t.Fatalf("cancel = %s, %v; want cancelled", got.Status, err)
	}
	if _, _, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoApproverID, true, ""); !errors.Is(err, provisioning.ErrAlreadyDecided) {
		t.Errorf("approving a cancelled request = %v, want ErrAlreadyDecided", err)
	}
}

func TestExpiryAndReminders(t *testing.T) {
	c := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	h := newHarness(t, nil, func(o *provisioning.Options) { o.Now = c.Now })
	short, _ := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "short@example.com", RequestedBy: fakeslack.DemoMemberID, Duration: provisioning.Day})
	long, _ := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "long@example.com", RequestedBy: fakeslack.DemoMemberID, Duration: 3 * provisioning.Day})
	stale, _ := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: "stale@example.com", RequestedBy: fakeslack.DemoGuestID})
	for _, r := range []provisioning.Request{short, long} {
		if _, _, err := h.svc.Decide(t.Context(), r.ID, fakeslack.DemoApproverID, true, ""); err != nil {
			t.Fatal(err)
		}
	}
	if rs, _ := h.svc.DueReminders(t.Context()); len(rs) != 0 {
		t.Errorf("reminders at the start = %d, want 0", len(rs))
	}
	c.Add(2*provisioning.Day + time.Hour) // the 3-day grant ends within a day
	rs, err := h.svc.DueReminders(t.Context())
	if err != nil || len(rs) != 1 || rs[0].Assignment.Email != "long@example.com" || rs[0].Tell != fakeslack.DemoMemberID {
		t.Fatalf("DueReminders() = %+v, %v; want one for long@ told to the requester", rs, err)
	}
	if rs, _ := h.svc.DueReminders(t.Context()); len(rs) != 0 {
		t.Errorf("a second sweep reminded again")
	}
	ended, err := h.svc.ExpireAssignments(t.Context())
	if err != nil || len(ended) != 1 || ended[0].Email != "short@example.com" {
		t.Fatalf("ExpireAssignments() = %+v, %v; want short@ ended", ended, err)
	}
	expired, err := h.svc.ExpireRequests(t.Context(), 48*time.Hour)
	if err != nil || len(expired) != 1 || expired[0].ID != stale.ID || expired[0].Status != provisioning.StatusExpired {
		t.Fatalf("ExpireRequests() = %+v, %v; want the stale request", expired, err)
	}
	st, _ := h.svc.Status(t.Context(), "short@example.com")
	// No worker ran: the grant's pending job now carries the withdrawal.
	if len(st.Jobs) != 1 || st.Jobs[0].Intent != provisioning.ActionDeactivate || st.Entitled {
		t.Errorf("jobs for short@ = %+v, entitled %v; want one pending deactivation", st.Jobs, st.Entitled)
	}
}
