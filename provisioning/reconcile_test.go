package provisioning_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
)

func lister(h *harness) provisioning.AccountLister { return h.provider.(*scim.Client) }

// counts is what a reconcile may change: assignments and jobs.
func counts(t *testing.T, h *harness) (assignments, jobs int) {
	t.Helper()
	err := h.db.View(context.Background(), func(tx provisioning.ReadTx) error {
		if err := tx.ForEachAssignments(func(_ string, as []provisioning.Assignment) error { assignments += len(as); return nil }); err != nil {
			return err
		}
		c, err := tx.CountJobs()
		for _, n := range c {
			jobs += n
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return assignments, jobs
}

func TestReconcileFirstRunAdopts(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	// A dry run first: the plan, and no change.
	plan, err := h.svc.Reconcile(t.Context(), lister(h), true, fakeslack.DemoAdminID)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.FirstRun || len(plan.Adopt) == 0 || len(plan.Deactivate) != 0 {
		t.Fatalf("dry-run plan = first %v, adopt %d, deactivate %d; want a first run adopting and deactivating nobody", plan.FirstRun, len(plan.Adopt), len(plan.Deactivate))
	}
	if a, j := counts(t, h); a != 0 || j != 0 {
		t.Fatalf("dry run changed things: %d assignments, %d jobs", a, j)
	}
	res, err := h.svc.Reconcile(t.Context(), lister(h), false, fakeslack.DemoAdminID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Adopt, fakeslack.DemoMemberEmail) || !slices.Contains(res.Protected, fakeslack.DemoAdminEmail) ||
		slices.Contains(res.Adopt, fakeslack.DemoDeactivatedEmail) || len(res.Deactivate) != 0 {
		t.Errorf("first run = adopt %v, protected %v, deactivate %v", res.Adopt, res.Protected, res.Deactivate)
	}
	st, _ := h.svc.Status(t.Context(), fakeslack.DemoMemberEmail)
	if !st.Entitled || st.Assignments[0].Source != provisioning.SourceAdopted {
		t.Errorf("member after adoption: %+v", st.Assignments)
	}
	again, err := h.svc.Reconcile(t.Context(), lister(h), false, provisioning.System)
	if err != nil {
		t.Fatal(err)
	}
	if again.FirstRun || len(again.Adopt)+len(again.Invite)+len(again.Activate)+len(again.Deactivate) != 0 {
		t.Errorf("second run = %+v, want nothing to do", again)
	}
	if w := h.writes(); len(w) != 0 {
		t.Errorf("SCIM writes = %v, want none", methods(w))
	}
	if last, ok, err := h.svc.LastReconcile(t.Context()); !ok || err != nil || last.FirstRun {
		t.Errorf("LastReconcile() = %+v, %v, %v; want the second run", last, ok, err)
	}
}

func TestReconcileRepairsDrift(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	if _, err := h.svc.Reconcile(t.Context(), lister(h), false, provisioning.System); err != nil {
		t.Fatal(err)
	}
	// Drift: an entitled member deactivated outside Roster; an assignment
	// for someone who has no account (the job failed for good); a member
	// Roster deactivated, reactivated outside Roster; a member who joined
	// outside Roster.
	revokeThenReactivate(t, h, fakeslack.DemoGuestID)
	u, _ := h.fs.User(fakeslack.DemoMemberID)
	u.Deleted = true
	h.fs.PutUser(u)
	err := h.db.Update(t.Context(), func(tx provisioning.Tx) error {
		return tx.PutAssignments("missing@example.com", []provisioning.Assignment{{ID: "asg-x", Email: "missing@example.com", Source: provisioning.SourceDirect, GrantedBy: "U1"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	h.fs.PutUser(fakeslack.User{ID: "U0OUTSIDE", Name: "outside", RealName: "Out Side", Email: "outside@example.com"})

	res, err := h.svc.Reconcile(t.Context(), lister(h), false, provisioning.System)
	if err != nil {
		t.Fatal(err)
	}
	want := provisioning.ReconcileResult{Invite: []string{"missing@example.com"}, Activate: []string{fakeslack.DemoMemberEmail},
		Deactivate: []string{fakeslack.DemoGuestEmail}, Unmanaged: []string{"outside@example.com"}}
	if !slices.Equal(res.Invite, want.Invite) || !slices.Equal(res.Activate, want.Activate) ||
		!slices.Equal(res.Deactivate, want.Deactivate) || !slices.Equal(res.Unmanaged, want.Unmanaged) {
		t.Fatalf("plan = invite %v activate %v deactivate %v unmanaged %v; want %v %v %v %v",
			res.Invite, res.Activate, res.Deactivate, res.Unmanaged, want.Invite, want.Activate, want.Deactivate, want.Unmanaged)
	}
	waitFor(t, "drift repaired", func() bool {
		m, _ := h.fs.User(fakeslack.DemoMemberID)
		g, _ := h.fs.User(fakeslack.DemoGuestID)
		n, ok := h.fs.UserByEmail("missing@example.com")
		return !m.Deleted && g.Deleted && ok && !n.Deleted
	})
	if o, _ := h.fs.User("U0OUTSIDE"); o.Deleted {
		t.Errorf("an unmanaged member was deactivated")
	}
}

func TestReconcileHoldsMassDeactivation(t *testing.T) {
	h := newHarness(t, nil, func(o *provisioning.Options) {
		o.MaxDeactivations = func(int) int { return 1 }
		o.ActiveMembers = func() int { return 20 }
	})
	h.start()
	if _, err := h.svc.Reconcile(t.Context(), lister(h), false, provisioning.System); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{fakeslack.DemoMemberID, fakeslack.DemoGuestID, fakeslack.DemoSingleGuestID} {
		revokeThenReactivate(t, h, id)
	}
	deletes := len(h.writes())
	res, err := h.svc.Reconcile(t.Context(), lister(h), false, provisioning.System)
	if !errors.Is(err, provisioning.ErrHeld) || res.Held == nil || len(res.Held.Emails) != 3 {
		t.Fatalf("Reconcile() = held %+v, %v; want 3 held deactivations", res.Held, err)
	}
	// Held people are not planned again while they wait.
	again, err := h.svc.Reconcile(t.Context(), lister(h), false, provisioning.System)
	if err != nil || len(again.Waiting) != 3 || len(again.Deactivate) != 0 {
		t.Errorf("reconcile while held = waiting %v deactivate %v, %v", again.Waiting, again.Deactivate, err)
	}
	if n := len(h.writes()); n != deletes {
		t.Fatalf("SCIM writes before confirmation = %d, want none since the revokes", n-deletes)
	}
	if _, err := h.svc.ConfirmHeld(t.Context(), res.Held.ID, fakeslack.DemoAdminID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deactivations after confirmation", func() bool {
		n := 0
		for _, w := range h.writes() {
			if w.Method == http.MethodDelete {
				n++
			}
		}
		return n == 6 // three revokes, three confirmed
	})
}

// revokeThenReactivate revokes a member through Roster (a job deactivates
// them) and then reactivates them behind Roster's back, as an admin in
// Slack's settings would.
func revokeThenReactivate(t *testing.T, h *harness, id string) {
	t.Helper()
	u, _ := h.fs.User(id)
	_, job, err := h.svc.Revoke(t.Context(), u.Email, fakeslack.DemoAdminID, "")
	if err != nil {
		t.Fatal(err)
	}
	if j := h.wait(job.ID); j.Action != provisioning.ActionDeactivate {
		t.Fatalf("revoke job = %s (%s)", j.Action, j.LastError)
	}
	u, _ = h.fs.User(id)
	u.Deleted = false
	h.fs.PutUser(u)
}

// waitFor polls cond, for state another goroutine (the workers) changes
// at fakeslack with no event to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done within 20s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
