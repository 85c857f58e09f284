package provisioning_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
)

// Five active members of the demo workspace, in email order.
var fiveMembers = []string{
	"ava.evans@example.com", "emma.clark@example.com", "liam.davis@example.com",
	"lucas.fisher@example.com", "noah.baker@example.com",
}

func dirPerson(email, ou string) provisioning.Person {
	return provisioning.Person{Email: email, OrgUnit: ou}
}

func disabled(p provisioning.Person) provisioning.Person {
	p.Status = provisioning.PersonDisabled
	return p
}

func grp(name string, members ...string) provisioning.GroupInput {
	return provisioning.GroupInput{Name: name, MemberEmails: members}
}

// apply makes a directory change that must succeed.
func (h *harness) apply(ch provisioning.DirectoryChange) provisioning.DirectoryResult {
	h.t.Helper()
	res, err := h.svc.ApplyDirectory(h.t.Context(), ch)
	if err != nil {
		h.t.Fatalf("ApplyDirectory(%+v) = %v", ch, err)
	}
	return res
}

func (h *harness) grant(kind provisioning.GrantKind, target string) provisioning.DirectoryResult {
	h.t.Helper()
	res, err := h.svc.GrantDirectory(h.t.Context(), provisioning.DirectoryGrant{Kind: kind, Target: target, GrantedBy: fakeslack.DemoAdminID})
	if err != nil {
		h.t.Fatalf("GrantDirectory(%s %s) = %v", kind, target, err)
	}
	return res
}

// jobIDs returns the IDs of the jobs in state.
func (h *harness) jobIDs(state provisioning.JobState) []string {
	h.t.Helper()
	var out []string
	err := h.db.View(h.t.Context(), func(tx provisioning.ReadTx) error {
		js, err := tx.JobsInState(state, 1<<20)
		for _, j := range js {
			out = append(out, j.ID)
		}
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// pendingEmails returns the emails with a pending job, sorted.
func (h *harness) pendingEmails() []string {
	h.t.Helper()
	var out []string
	err := h.db.View(h.t.Context(), func(tx provisioning.ReadTx) error {
		js, err := tx.JobsInState(provisioning.JobPending, 1<<20)
		for _, j := range js {
			out = append(out, j.Email)
		}
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// startAndDrain starts the workers and waits for every job queued so far,
// which, queued while no worker ran, is one per person and never
// superseded.
func (h *harness) startAndDrain() {
	h.t.Helper()
	ids := h.jobIDs(provisioning.JobPending)
	h.start()
	for _, id := range ids {
		h.wait(id)
	}
}

// lastJob returns email's newest job.
func (h *harness) lastJob(email string) provisioning.Job {
	h.t.Helper()
	var j provisioning.Job
	err := h.db.View(h.t.Context(), func(tx provisioning.ReadTx) error {
		js, err := tx.JobsForEmail(email, 1)
		if err != nil {
			return err
		}
		if len(js) == 0 {
			return fmt.Errorf("no job for %s", email)
		}
		j = js[0]
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

func (h *harness) auditActions() []string {
	var out []string
	for _, ev := range h.audit() {
		if strings.HasPrefix(ev.Action, "directory.") || strings.HasPrefix(ev.Action, "held.") {
			out = append(out, ev.Action+" "+ev.Outcome)
		}
	}
	return out
}

// Each change PRODUCT.md names converges the person's Slack account
// through a job: withdrawals deactivate (SCIM DELETE), and the reverse
// invites (POST) or reactivates (PATCH).
func TestDirectoryTriggers(t *testing.T) {
	mia, dora := fakeslack.DemoMemberEmail, fakeslack.DemoDeactivatedEmail
	const newHire = "new.hire@example.com"
	withdrawal := []struct {
		name    string
		setup   provisioning.DirectoryChange
		grants  [][2]string // kind, target
		trigger func(h *harness) error
		reason  string // mia's entitlement before the trigger
	}{
		{
			name:   "person deleted",
			setup:  provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(mia, "")}, UpsertGroups: []provisioning.GroupInput{grp("Contractors", mia)}},
			grants: [][2]string{{"group", "Contractors"}},
			trigger: func(h *harness) error {
				return h.change(provisioning.DirectoryChange{Delete: []string{"Mia.Member@example.com"}})
			},
			reason: "via group Contractors",
		},
		{
			name:    "directory account disabled",
			setup:   provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(mia, "/Engineering/Platform")}},
			grants:  [][2]string{{"org-unit", "/Engineering"}},
			trigger: func(h *harness) error { return h.upsert(disabled(dirPerson(mia, "/Engineering/Platform"))) },
			reason:  "via /Engineering",
		},
		{
			name:    "moved to an org unit without access",
			setup:   provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(mia, "/engineering/platform")}},
			grants:  [][2]string{{"org-unit", "/Engineering"}},
			trigger: func(h *harness) error { return h.upsert(dirPerson(mia, "/Engineering2/Platform")) },
			reason:  "via /Engineering",
		},
		{
			name:   "removed from a group",
			setup:  provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(mia, "/Sales")}, UpsertGroups: []provisioning.GroupInput{grp("Contractors", mia)}},
			grants: [][2]string{{"group", "Contractors"}},
			trigger: func(h *harness) error {
				return h.change(provisioning.DirectoryChange{UpsertGroups: []provisioning.GroupInput{grp("contractors")}})
			},
			reason: "via group Contractors",
		},
		{
			name:   "group carrying access deleted",
			setup:  provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(mia, "")}, UpsertGroups: []provisioning.GroupInput{grp("Contractors", mia), grp("Staff", mia)}},
			grants: [][2]string{{"group", "Contractors"}},
			trigger: func(h *harness) error {
				return h.change(provisioning.DirectoryChange{DeleteGroups: []string{"CONTRACTORS"}})
			},
			reason: "via group Contractors",
		},
		{
			name:   "grant to a group withdrawn",
			setup:  provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(mia, "")}, UpsertGroups: []provisioning.GroupInput{grp("Contractors", mia)}},
			grants: [][2]string{{"group", "Contractors"}},
			trigger: func(h *harness) error {
				_, err := h.svc.WithdrawDirectory(h.t.Context(), provisioning.GrantGroup, "contractors", fakeslack.DemoAdminID)
				return err
			},
			reason: "via group Contractors",
		},
		{
			name:   "grant to an org unit withdrawn",
			setup:  provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(mia, "/Engineering/Platform")}},
			grants: [][2]string{{"org-unit", "/Engineering"}},
			trigger: func(h *harness) error {
				_, err := h.svc.WithdrawDirectory(h.t.Context(), provisioning.GrantOrgUnit, "engineering/", fakeslack.DemoAdminID)
				return err
			},
			reason: "via /Engineering",
		},
	}
	for _, tt := range withdrawal {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.apply(tt.setup)
			for _, g := range tt.grants {
				h.grant(provisioning.GrantKind(g[0]), g[1])
			}
			h.startAndDrain()
			if ent, err := h.svc.Entitlement(t.Context(), mia); err != nil || !ent.Entitled || !slices.Contains(ent.Reasons, tt.reason) {
				t.Fatalf("Entitlement(mia) before = %+v, %v; want entitled %s", ent, err, tt.reason)
			}
			if w := h.writes(); len(w) != 0 {
				t.Fatalf("SCIM writes during set-up = %v, want none (mia is active)", methods(w))
			}
			if err := tt.trigger(h); err != nil {
				t.Fatalf("trigger = %v", err)
			}
			got := h.wait(h.lastJob(mia).ID)
			if got.State != provisioning.JobDone || got.Action != provisioning.ActionDeactivate || got.Intent != provisioning.ActionDeactivate {
				t.Fatalf("job = %s, intent %s, action %s (%s); want done/deactivate", got.State, got.Intent, got.Action, got.LastError)
			}
			if w := methods(h.writes()); !slices.Equal(w, []string{"DELETE /Users/" + fakeslack.DemoMemberID}) {
				t.Errorf("SCIM writes = %v, want one DELETE of mia", w)
			}
			if u, _ := h.fs.User(fakeslack.DemoMemberID); !u.Deleted {
				t.Errorf("mia still active in Slack")
			}
		})
	}

	grant := []struct {
		name      string
		setup     provisioning.DirectoryChange
		grants    [][2]string
		trigger   func(h *harness) error
		email     string
		wantWrite string
		reason    string // after the trigger
	}{
		{
			name:      "added to an org unit with access",
			setup:     provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(dora, "/Sales")}},
			grants:    [][2]string{{"org-unit", "/Engineering"}},
			trigger:   func(h *harness) error { return h.upsert(dirPerson("New.Hire@Example.com", "Engineering/Platform/")) },
			email:     newHire,
			wantWrite: "POST /Users",
			reason:    "via /Engineering",
		},
		{
			name:      "directory account enabled",
			setup:     provisioning.DirectoryChange{Upsert: []provisioning.Person{disabled(dirPerson(dora, "/Engineering"))}},
			grants:    [][2]string{{"org-unit", "/Engineering"}},
			trigger:   func(h *harness) error { return h.upsert(dirPerson(dora, "/Engineering")) },
			email:     dora,
			wantWrite: "PATCH /Users/" + fakeslack.DemoDeactivatedID,
			reason:    "via /Engineering",
		},
		{
			name:      "moved into an org unit with access",
			setup:     provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(dora, "/Sales")}},
			grants:    [][2]string{{"org-unit", "/Engineering"}},
			trigger:   func(h *harness) error { return h.upsert(dirPerson(dora, "/ENGINEERING/Platform")) },
			email:     dora,
			wantWrite: "PATCH /Users/" + fakeslack.DemoDeactivatedID,
			reason:    "via /Engineering",
		},
		{
			name:   "added to a group with access",
			setup:  provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(dora, "")}, UpsertGroups: []provisioning.GroupInput{grp("Contractors")}},
			grants: [][2]string{{"group", "Contractors"}},
			trigger: func(h *harness) error {
				return h.change(provisioning.DirectoryChange{UpsertGroups: []provisioning.GroupInput{grp("Contractors", dora)}})
			},
			email:     dora,
			wantWrite: "PATCH /Users/" + fakeslack.DemoDeactivatedID,
			reason:    "via group Contractors",
		},
		{
			name:  "group gets access",
			setup: provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(dora, "")}, UpsertGroups: []provisioning.GroupInput{grp("Staff", dora)}},
			trigger: func(h *harness) error {
				res, err := h.svc.GrantDirectory(h.t.Context(), provisioning.DirectoryGrant{Kind: provisioning.GrantGroup, Target: "staff", GrantedBy: fakeslack.DemoAdminID})
				if err == nil && (res.Jobs != 1 || !slices.Equal(res.Invites, []string{dora})) {
					err = fmt.Errorf("result %+v, want one invite of dora", res)
				}
				return err
			},
			email:     dora,
			wantWrite: "PATCH /Users/" + fakeslack.DemoDeactivatedID,
			reason:    "via group Staff",
		},
		{
			name:  "org unit gets access",
			setup: provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(dora, "/Research/Labs")}},
			trigger: func(h *harness) error {
				_, err := h.svc.GrantDirectory(h.t.Context(), provisioning.DirectoryGrant{Kind: provisioning.GrantOrgUnit, Target: "/research", GrantedBy: fakeslack.DemoAdminID})
				return err
			},
			email:     dora,
			wantWrite: "PATCH /Users/" + fakeslack.DemoDeactivatedID,
			reason:    "via /research",
		},
	}
	for _, tt := range grant {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.apply(tt.setup)
			for _, g := range tt.grants {
				h.grant(provisioning.GrantKind(g[0]), g[1])
			}
			if ids := h.jobIDs(provisioning.JobPending); len(ids) != 0 {
				t.Fatalf("set-up queued jobs %v, want none: nobody is entitled yet", ids)
			}
			h.start()
			if err := tt.trigger(h); err != nil {
				t.Fatalf("trigger = %v", err)
			}
			got := h.wait(h.lastJob(tt.email).ID)
			want := provisioning.ActionActivate
			if strings.HasPrefix(tt.wantWrite, "POST") {
				want = provisioning.ActionInvite
			}
			if got.State != provisioning.JobDone || got.Action != want {
				t.Fatalf("job = %s/%s (%s), want done/%s", got.State, got.Action, got.LastError, want)
			}
			if w := methods(h.writes()); !slices.Equal(w, []string{tt.wantWrite}) {
				t.Errorf("SCIM writes = %v, want %s", w, tt.wantWrite)
			}
			if u, ok := h.fs.UserByEmail(tt.email); !ok || u.Deleted {
				t.Errorf("%s is not an active Slack member: %+v", tt.email, u)
			}
			if ent, err := h.svc.Entitlement(t.Context(), tt.email); err != nil || !slices.Equal(ent.Reasons, []string{tt.reason}) {
				t.Errorf("Entitlement(%s) = %+v, %v; want reason %q", tt.email, ent, err, tt.reason)
			}
		})
	}
}

func (h *harness) change(ch provisioning.DirectoryChange) error {
	_, err := h.svc.ApplyDirectory(h.t.Context(), ch)
	return err
}

func (h *harness) upsert(p provisioning.Person) error {
	return h.change(provisioning.DirectoryChange{Upsert: []provisioning.Person{p}, By: "scim"})
}

// groupOfFive sets up group Team, with access, holding the five members.
func groupOfFive(h *harness) {
	h.t.Helper()
	var people []provisioning.Person
	for _, e := range fiveMembers {
		people = append(people, dirPerson(e, "/Sales"))
	}
	h.apply(provisioning.DirectoryChange{Upsert: people, UpsertGroups: []provisioning.GroupInput{grp("Team", fiveMembers...)}})
	if res := h.grant(provisioning.GrantGroup, "Team"); !slices.Equal(res.Invites, fiveMembers) {
		h.t.Fatalf("grant invites = %v, want the five", res.Invites)
	}
	h.startAndDrain()
}

func deletesOfFive(t *testing.T, h *harness) {
	t.Helper()
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("DELETE /Users/U0D%06d", 11+i))
	}
	got := methods(h.writes())
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SCIM writes (-want +got):\n%s", diff)
	}
}

// A group deleted is one transaction and one job per member.
func TestGroupDeletedIsOneChangeManyJobs(t *testing.T) {
	h := newHarness(t, nil)
	groupOfFive(h)
	res, err := h.svc.ApplyDirectory(t.Context(), provisioning.DirectoryChange{DeleteGroups: []string{"team"}, By: "scim"})
	if err != nil {
		t.Fatal(err)
	}
	if res.GroupsDeleted != 1 || res.Jobs != 5 || !slices.Equal(res.Deactivate, fiveMembers) || res.Held != nil {
		t.Errorf("result = %+v, want 1 group deleted, 5 jobs", res)
	}
	for _, e := range fiveMembers {
		if got := h.wait(h.lastJob(e).ID); got.Action != provisioning.ActionDeactivate {
			t.Errorf("%s job = %s (%s), want deactivate", e, got.Action, got.LastError)
		}
	}
	deletesOfFive(t, h)
	want := []string{"directory.change ok", "directory.grant ok", "directory.change ok"}
	if diff := cmp.Diff(want, h.auditActions()); diff != "" {
		t.Errorf("directory audit events (-want +got):\n%s", diff)
	}
}

func threshold(limit int) harnessOpt {
	return func(o *provisioning.Options) {
		o.MaxDeactivations = func(active int) int { return limit }
		o.ActiveMembers = func() int { return 100 }
	}
}

func TestHeldDeactivations(t *testing.T) {
	deleteTeam := func(t *testing.T, h *harness) provisioning.HeldChange {
		t.Helper()
		res, err := h.svc.ApplyDirectory(t.Context(), provisioning.DirectoryChange{DeleteGroups: []string{"Team"}, By: "scim", Cause: "group deleted: Team"})
		if !errors.Is(err, provisioning.ErrHeld) {
			t.Fatalf("ApplyDirectory = %v, want ErrHeld", err)
		}
		if res.Held == nil || res.Held.State != provisioning.HeldPending || !slices.Equal(res.Held.Emails, fiveMembers) ||
			res.Held.ActiveCount != 100 || res.Held.Cause != "group deleted: Team" || res.Held.ID == "" || !strings.Contains(err.Error(), res.Held.ID) {
			t.Fatalf("Held = %+v (err %v), want a pending change of the five naming its ID", res.Held, err)
		}
		// The directory change itself is committed; the deactivations wait.
		if res.GroupsDeleted != 1 || res.Jobs != 0 {
			t.Errorf("result = %+v, want the group deleted and no jobs", res)
		}
		if p := h.pendingEmails(); len(p) != 0 {
			t.Errorf("pending jobs for %v, want none while held", p)
		}
		ent, err := h.svc.Entitlement(t.Context(), fiveMembers[0])
		if err != nil || ent.Entitled {
			t.Errorf("Entitlement after the group is gone = %+v, %v; want not entitled", ent, err)
		}
		return *res.Held
	}

	t.Run("confirmed", func(t *testing.T) {
		h := newHarness(t, nil, threshold(2))
		groupOfFive(h)
		held := deleteTeam(t, h)
		if w := h.writes(); len(w) != 0 {
			t.Fatalf("SCIM writes while held = %v, want none", methods(w))
		}
		got, err := h.svc.ConfirmHeld(t.Context(), held.ID, fakeslack.DemoAdminID)
		if err != nil || got.State != provisioning.HeldConfirmed || got.DecidedBy != fakeslack.DemoAdminID {
			t.Fatalf("ConfirmHeld = %+v, %v", got, err)
		}
		for _, e := range fiveMembers {
			h.wait(h.lastJob(e).ID)
		}
		deletesOfFive(t, h)
		if _, err := h.svc.ConfirmHeld(t.Context(), held.ID, fakeslack.DemoAdmin2ID); !errors.Is(err, provisioning.ErrAlreadyDecided) {
			t.Errorf("second ConfirmHeld = %v, want ErrAlreadyDecided", err)
		}
		if _, err := h.svc.DiscardHeld(t.Context(), held.ID, fakeslack.DemoAdmin2ID); !errors.Is(err, provisioning.ErrAlreadyDecided) {
			t.Errorf("DiscardHeld after confirm = %v, want ErrAlreadyDecided", err)
		}
		want := []string{"directory.change ok", "directory.grant ok", "directory.held held", "directory.change ok",
			"held.confirm ok", "held.confirm refused", "held.discard refused"}
		if diff := cmp.Diff(want, h.auditActions()); diff != "" {
			t.Errorf("directory audit events (-want +got):\n%s", diff)
		}
	})

	t.Run("discarded", func(t *testing.T) {
		h := newHarness(t, nil, threshold(2))
		groupOfFive(h)
		held := deleteTeam(t, h)
		got, err := h.svc.DiscardHeld(t.Context(), held.ID, fakeslack.DemoAdminID)
		if err != nil || got.State != provisioning.HeldDiscarded {
			t.Fatalf("DiscardHeld = %+v, %v", got, err)
		}
		if p := h.pendingEmails(); len(p) != 0 {
			t.Errorf("pending jobs after discard for %v, want none", p)
		}
		if _, err := h.svc.ConfirmHeld(t.Context(), held.ID, fakeslack.DemoAdminID); !errors.Is(err, provisioning.ErrAlreadyDecided) {
			t.Errorf("ConfirmHeld after discard = %v, want ErrAlreadyDecided", err)
		}
		if _, err := h.svc.ConfirmHeld(t.Context(), "held-nope", fakeslack.DemoAdminID); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("ConfirmHeld(unknown) = %v, want ErrNotFound", err)
		}
		if w := h.writes(); len(w) != 0 {
			t.Errorf("SCIM writes = %v, want none", methods(w))
		}
	})

	// Anyone entitled again while the change waited keeps their account.
	t.Run("entitled again before confirmation", func(t *testing.T) {
		h := newHarness(t, nil, threshold(2))
		groupOfFive(h)
		held := deleteTeam(t, h)
		if _, _, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: fiveMembers[0], By: fakeslack.DemoAdminID}); err != nil {
			t.Fatal(err)
		}
		h.wait(h.lastJob(fiveMembers[0]).ID)
		if _, err := h.svc.ConfirmHeld(t.Context(), held.ID, fakeslack.DemoAdminID); err != nil {
			t.Fatal(err)
		}
		for _, e := range fiveMembers {
			h.wait(h.lastJob(e).ID)
		}
		if n := len(h.writes()); n != 4 {
			t.Errorf("SCIM writes = %v, want 4 deactivations", methods(h.writes()))
		}
		if u, _ := h.fs.UserByEmail(fiveMembers[0]); u.Deleted {
			t.Errorf("%s deactivated though assigned again", fiveMembers[0])
		}
	})

	// A withdrawn grant over the limit is held the same way.
	t.Run("grant withdrawn", func(t *testing.T) {
		h := newHarness(t, nil, threshold(2))
		groupOfFive(h)
		res, err := h.svc.WithdrawDirectory(t.Context(), provisioning.GrantGroup, "TEAM", fakeslack.DemoAdminID)
		if !errors.Is(err, provisioning.ErrHeld) || res.Held == nil || len(res.Held.Emails) != 5 || res.Held.Cause != "grant withdrawn: group Team" {
			t.Fatalf("WithdrawDirectory = %+v, %v; want 5 held", res.Held, err)
		}
		if gs, _ := h.svc.DirectoryGrants(t.Context()); len(gs) != 0 {
			t.Errorf("grants after withdrawal = %+v, want none", gs)
		}
		if _, err := h.svc.WithdrawDirectory(t.Context(), provisioning.GrantGroup, "Team", fakeslack.DemoAdminID); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("second WithdrawDirectory = %v, want ErrNotFound", err)
		}
	})

	// One person at a time is never held, even with a limit of 0.
	t.Run("one person", func(t *testing.T) {
		h := newHarness(t, nil, threshold(0))
		groupOfFive(h)
		res, err := h.svc.ApplyDirectory(t.Context(), provisioning.DirectoryChange{Delete: []string{fiveMembers[2]}})
		if err != nil || res.Held != nil || res.Jobs != 1 {
			t.Fatalf("ApplyDirectory(delete one) = %+v, %v; want one job, nothing held", res, err)
		}
		if got := h.wait(h.lastJob(fiveMembers[2]).ID); got.Action != provisioning.ActionDeactivate {
			t.Errorf("job = %s, want deactivate", got.Action)
		}
	})

	// Under the limit, nothing is held.
	t.Run("under the limit", func(t *testing.T) {
		h := newHarness(t, nil, threshold(5))
		groupOfFive(h)
		res, err := h.svc.ApplyDirectory(t.Context(), provisioning.DirectoryChange{DeleteGroups: []string{"Team"}})
		if err != nil || res.Held != nil || res.Jobs != 5 {
			t.Fatalf("ApplyDirectory = %+v, %v; want 5 jobs, nothing held", res, err)
		}
	})
}

func TestFullSync(t *testing.T) {
	h := newHarness(t, nil)
	people := []provisioning.Person{dirPerson(fiveMembers[0], "/Sales"), dirPerson(fiveMembers[1], "/Sales"), dirPerson(fiveMembers[2], "/Ops")}
	h.apply(provisioning.DirectoryChange{Upsert: people, Full: true, UpsertGroups: []provisioning.GroupInput{
		grp("Sales", fiveMembers[0], fiveMembers[1]), grp("Ops", fiveMembers[2]),
	}})
	h.grant(provisioning.GrantOrgUnit, "/Sales")
	h.grant(provisioning.GrantGroup, "Ops")
	h.startAndDrain()

	// The same file again changes nothing.
	res := h.apply(provisioning.DirectoryChange{Upsert: people, Full: true, UpsertGroups: []provisioning.GroupInput{
		grp("Sales", fiveMembers[0], fiveMembers[1]), grp("Ops", fiveMembers[2]),
	}})
	if diff := cmp.Diff(provisioning.DirectoryResult{}, res); diff != "" {
		t.Errorf("re-import result (-want +got):\n%s", diff)
	}

	// Without the third person and group Ops: both are deleted.
	res = h.apply(provisioning.DirectoryChange{Upsert: people[:2], Full: true, By: "import", UpsertGroups: []provisioning.GroupInput{
		grp("Sales", fiveMembers[0], fiveMembers[1]),
	}})
	want := provisioning.DirectoryResult{PeopleDeleted: 1, GroupsDeleted: 1, Deactivate: []string{fiveMembers[2]}, Jobs: 1}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("full sync result (-want +got):\n%s", diff)
	}
	if got := h.wait(h.lastJob(fiveMembers[2]).ID); got.Action != provisioning.ActionDeactivate {
		t.Errorf("job = %s (%s), want deactivate", got.Action, got.LastError)
	}
	if w := methods(h.writes()); !slices.Equal(w, []string{"DELETE /Users/U0D000013"}) {
		t.Errorf("SCIM writes = %v, want the one DELETE", w)
	}
	err := h.db.View(t.Context(), func(tx provisioning.ReadTx) error {
		if _, ok, _ := tx.Person(fiveMembers[2]); ok {
			t.Errorf("absent person still in the directory")
		}
		if _, ok, _ := tx.GroupByName("Ops"); ok {
			t.Errorf("absent group still in the directory")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A full sync that names a member absent from the file is refused.
	_, err = h.svc.ApplyDirectory(t.Context(), provisioning.DirectoryChange{Upsert: people[:1], Full: true, UpsertGroups: []provisioning.GroupInput{
		grp("Sales", fiveMembers[0], fiveMembers[1]),
	}})
	if !errors.Is(err, provisioning.ErrInvalid) || !strings.Contains(err.Error(), fiveMembers[1]) {
		t.Errorf("full sync with a member not in the file = %v, want ErrInvalid naming %s", err, fiveMembers[1])
	}
}

// snapshot is everything a directory change may write.
func snapshot(t *testing.T, h *harness) string {
	t.Helper()
	var b strings.Builder
	err := h.db.View(t.Context(), func(tx provisioning.ReadTx) error {
		if err := tx.ForEachPerson(func(p provisioning.Person) error { fmt.Fprintf(&b, "person %+v\n", p); return nil }); err != nil {
			return err
		}
		if err := tx.ForEachGroup(func(g provisioning.Group) error { fmt.Fprintf(&b, "group %+v\n", g); return nil }); err != nil {
			return err
		}
		gs, err := tx.Grants()
		fmt.Fprintf(&b, "grants %+v\n", gs)
		hs, _ := tx.HeldChanges(provisioning.HeldPending, 100)
		fmt.Fprintf(&b, "held %+v\n", hs)
		n, _ := tx.CountJobs()
		fmt.Fprintf(&b, "jobs %v\n", n)
		evs, _ := tx.RecentAudit(1000)
		fmt.Fprintf(&b, "audit %d\n", len(evs))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDirectoryDryRun(t *testing.T) {
	h := newHarness(t, nil, threshold(2))
	var people []provisioning.Person
	for _, e := range fiveMembers {
		people = append(people, dirPerson(e, "/Sales"))
	}
	h.apply(provisioning.DirectoryChange{Upsert: people})
	h.grant(provisioning.GrantOrgUnit, "/Sales")
	before := snapshot(t, h)

	res, err := h.svc.ApplyDirectory(t.Context(), provisioning.DirectoryChange{
		Upsert: []provisioning.Person{dirPerson(fakeslack.DemoDeactivatedEmail, "/Sales")}, Full: true, DryRun: true,
		UpsertGroups: []provisioning.GroupInput{grp("New", fakeslack.DemoDeactivatedEmail)},
	})
	if err != nil {
		t.Fatalf("dry run = %v, want no error", err)
	}
	want := provisioning.DirectoryResult{PeopleAdded: 1, PeopleDeleted: 5, GroupsAdded: 1,
		Invites: []string{fakeslack.DemoDeactivatedEmail}, Deactivate: fiveMembers, Jobs: 1}
	if diff := cmp.Diff(want, res, cmpIgnoreHeld); diff != "" {
		t.Errorf("dry-run result (-want +got):\n%s", diff)
	}
	if res.Held == nil || res.Held.ID != "" || len(res.Held.Emails) != 5 {
		t.Errorf("dry-run Held = %+v, want the five, without an ID", res.Held)
	}
	if after := snapshot(t, h); after != before {
		t.Errorf("dry run changed the store:\nbefore %s\nafter %s", before, after)
	}
}

var cmpIgnoreHeld = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Held" }, cmp.Ignore())

func TestDirectoryInvalid(t *testing.T) {
	h := newHarness(t, nil)
	h.apply(provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson("ada@example.com", "/Eng")}, UpsertGroups: []provisioning.GroupInput{grp("Staff", "ada@example.com")}})
	h.grant(provisioning.GrantGroup, "Staff")
	before := snapshot(t, h)
	ok := dirPerson("bob@example.com", "/Eng")
	tests := []struct {
		name      string
		ch        provisioning.DirectoryChange
		kind      string
		index     int
		wantText  string
		wantExtra error
	}{
		{"bad email", provisioning.DirectoryChange{Upsert: []provisioning.Person{ok, dirPerson("not-an-email", "")}}, "person", 1, `person "not-an-email"`, nil},
		{"dot dot", provisioning.DirectoryChange{Upsert: []provisioning.Person{ok, dirPerson("cy@example.com", "/Eng/../Admin")}}, "person", 1, `person "cy@example.com": org unit "/Eng/../Admin"`, nil},
		{"bad status", provisioning.DirectoryChange{Upsert: []provisioning.Person{{Email: "cy@example.com", Status: "suspended"}}}, "person", 0, `status "suspended"`, nil},
		{"twice", provisioning.DirectoryChange{Upsert: []provisioning.Person{ok, dirPerson("BOB@example.com", "")}}, "person", 1, "appears twice", nil},
		{"unknown member", provisioning.DirectoryChange{Upsert: []provisioning.Person{ok}, UpsertGroups: []provisioning.GroupInput{grp("Staff", "ada@example.com", "zed@example.com")}}, "group", 0, "member zed@example.com is not in the directory", nil},
		{"member deleted", provisioning.DirectoryChange{Delete: []string{"ada@example.com"}, UpsertGroups: []provisioning.GroupInput{grp("Staff", "ada@example.com")}}, "group", 0, "member ada@example.com is not in the directory", nil},
		{"bad member email", provisioning.DirectoryChange{UpsertGroups: []provisioning.GroupInput{grp("Staff", "ada@")}}, "group", 0, `group "Staff": member`, nil},
		{"group without name", provisioning.DirectoryChange{UpsertGroups: []provisioning.GroupInput{grp(" ")}}, "group", 0, "group without a name", nil},
		{"updated and deleted", provisioning.DirectoryChange{Upsert: []provisioning.Person{ok}, Delete: []string{"Bob@example.com"}}, "deleted person", 0, "both updated and deleted", nil},
		{"unknown ID", provisioning.DirectoryChange{Upsert: []provisioning.Person{{ID: "p-nope", Email: "ada@example.com"}}}, "person", 0, "no person has ID p-nope", provisioning.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.ApplyDirectory(t.Context(), tt.ch)
			var re *provisioning.RecordError
			if !errors.Is(err, provisioning.ErrInvalid) || !errors.As(err, &re) {
				t.Fatalf("ApplyDirectory = %v, want a RecordError wrapping ErrInvalid", err)
			}
			if re.Kind != tt.kind || re.Index != tt.index || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error = %q (kind %q, index %d), want %s #%d saying %q", err, re.Kind, re.Index, tt.kind, tt.index, tt.wantText)
			}
			if tt.wantExtra != nil && !errors.Is(err, tt.wantExtra) {
				t.Errorf("error = %v, want it to wrap %v too", err, tt.wantExtra)
			}
			if after := snapshot(t, h); after != before {
				t.Errorf("a rejected change changed the store:\nbefore %s\nafter %s", before, after)
			}
		})
	}
}

func TestEntitlementReasons(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, nil, func(o *provisioning.Options) { o.Now = clock })
	const ada, bob, cy = "ada@example.com", "bob@example.com", "cy@example.com"
	h.apply(provisioning.DirectoryChange{
		Upsert: []provisioning.Person{
			dirPerson(ada, "/Engineering/Platform"), dirPerson(bob, "/Engineering2"),
			disabled(dirPerson(cy, "/Engineering")),
		},
		UpsertGroups: []provisioning.GroupInput{grp("Contractors", ada, bob, cy), grp("Staff", ada)},
	})
	h.grant(provisioning.GrantGroup, "contractors")
	h.grant(provisioning.GrantOrgUnit, "/Engineering")
	h.grant(provisioning.GrantOrgUnit, "/Engineering/Platform")
	if _, _, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: ada, By: "U123", Duration: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: cy, By: "U123"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email string
		want  provisioning.Entitlement
	}{
		{ada, provisioning.Entitlement{Entitled: true, Reasons: []string{"direct (by U123, until 2026-03-03 09:00 UTC)", "via group Contractors", "via /Engineering", "via /Engineering/Platform"}}},
		{bob, provisioning.Entitlement{Entitled: true, Reasons: []string{"via group Contractors"}}}, // /Engineering2 is not under /Engineering
		{cy, provisioning.Entitlement{Disabled: true, Reasons: []string{"directory account disabled"}}},
		{"outsider@example.com", provisioning.Entitlement{}},
	}
	for _, tt := range tests {
		got, err := h.svc.Entitlement(t.Context(), tt.email)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Entitlement(%s) (-want +got):\n%s", tt.email, diff)
		}
	}
	st, err := h.svc.Status(t.Context(), bob)
	if err != nil || !st.Entitled || !slices.Equal(st.Entitlement.Reasons, []string{"via group Contractors"}) {
		t.Errorf("Status(bob) = %+v, %v; want entitled via group Contractors", st, err)
	}
	_, err = h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: bob, RequestedBy: "U9"})
	if !errors.Is(err, provisioning.ErrAlreadyEntitled) || !strings.Contains(err.Error(), "via group Contractors") {
		t.Errorf("CreateRequest(bob) = %v, want ErrAlreadyEntitled naming the group", err)
	}
	// Nothing entitles a disabled account, so cy may be asked for (the
	// job will not provision them while the directory says disabled).
	if _, err := h.svc.CreateRequest(t.Context(), provisioning.RequestInput{Email: cy, RequestedBy: "U9"}); err != nil {
		t.Errorf("CreateRequest(cy) = %v", err)
	}

	// ada's direct assignment expires: the directory still entitles her,
	// so the expiry queues no job.
	if ids := h.jobIDs(provisioning.JobPending); len(ids) == 0 {
		t.Fatal("no pending jobs before expiry")
	}
	pending := h.pendingEmails()
	mu.Lock()
	now = now.Add(72 * time.Hour)
	mu.Unlock()
	ended, err := h.svc.ExpireAssignments(t.Context())
	if err != nil || len(ended) != 1 {
		t.Fatalf("ExpireAssignments = %v, %v; want ada's assignment", ended, err)
	}
	if got := h.lastJob(ada); got.Intent == provisioning.ActionDeactivate {
		t.Errorf("expiry queued a deactivation for ada, who is still entitled through the directory")
	}
	if diff := cmp.Diff(pending, h.pendingEmails()); diff != "" {
		t.Errorf("pending jobs changed on expiry (-before +after):\n%s", diff)
	}
}

func TestPreviewGrant(t *testing.T) {
	h := newHarness(t, nil)
	const ada, bob, cy, dee = "ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"
	h.apply(provisioning.DirectoryChange{
		Upsert: []provisioning.Person{
			dirPerson(ada, "/Eng"), dirPerson(bob, "/Eng/Platform"), disabled(dirPerson(cy, "/Eng")), dirPerson(dee, "/Sales"),
		},
		UpsertGroups: []provisioning.GroupInput{grp("Everyone", ada, bob, cy, dee)},
	})
	if _, _, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: bob, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind   provisioning.GrantKind
		target string
		want   []string
		err    error
	}{
		{provisioning.GrantOrgUnit, "/eng", []string{ada}, nil}, // bob has access, cy is disabled
		{provisioning.GrantGroup, "everyone", []string{ada, dee}, nil},
		{provisioning.GrantOrgUnit, "/Nowhere", nil, nil},
		{provisioning.GrantGroup, "Nobody", nil, provisioning.ErrNotFound},
		{provisioning.GrantOrgUnit, "/a/../b", nil, provisioning.ErrInvalid},
		{provisioning.GrantOrgUnit, "/", nil, provisioning.ErrInvalid},
		{"team", "x", nil, provisioning.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := h.svc.PreviewGrant(t.Context(), tt.kind, tt.target)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("PreviewGrant(%s %s) = %v, %v; want %v, %v", tt.kind, tt.target, got, err, tt.want, tt.err)
		}
		if tt.err != nil {
			if _, err := h.svc.GrantDirectory(t.Context(), provisioning.DirectoryGrant{Kind: tt.kind, Target: tt.target}); !errors.Is(err, tt.err) {
				t.Errorf("GrantDirectory(%s %s) = %v, want %v", tt.kind, tt.target, err, tt.err)
			}
		}
	}
}

// SCIM names people and groups by ID: an email change moves access from
// the old address to the new, and a renamed group keeps its grant.
func TestDirectoryByID(t *testing.T) {
	h := newHarness(t, nil)
	h.apply(provisioning.DirectoryChange{Upsert: []provisioning.Person{dirPerson(fakeslack.DemoMemberEmail, "")},
		UpsertGroups: []provisioning.GroupInput{grp("Contractors", fakeslack.DemoMemberEmail)}})
	h.grant(provisioning.GrantGroup, "Contractors")
	var p provisioning.Person
	var g provisioning.Group
	err := h.db.View(t.Context(), func(tx provisioning.ReadTx) error {
		p, _, _ = tx.Person(fakeslack.DemoMemberEmail)
		g, _, _ = tx.GroupByName("contractors")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res := h.apply(provisioning.DirectoryChange{UpsertGroups: []provisioning.GroupInput{{ID: g.ID, Name: "Vendors", MemberEmails: []string{fakeslack.DemoMemberEmail}}}})
	if res.GroupsUpdated != 1 || len(res.Invites)+len(res.Deactivate) != 0 {
		t.Errorf("rename result = %+v, want one group updated and no access change", res)
	}
	if gs, _ := h.svc.DirectoryGrants(t.Context()); len(gs) != 1 || gs[0].Target != "Vendors" {
		t.Errorf("grants after rename = %+v, want the grant on Vendors", gs)
	}
	res = h.apply(provisioning.DirectoryChange{Upsert: []provisioning.Person{{ID: p.ID, Email: "mia.new@example.com"}}})
	want := provisioning.DirectoryResult{PeopleUpdated: 1, Invites: []string{"mia.new@example.com"}, Deactivate: []string{fakeslack.DemoMemberEmail}, Jobs: 2}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("email change result (-want +got):\n%s", diff)
	}
	if ent, _ := h.svc.Entitlement(t.Context(), "mia.new@example.com"); !slices.Equal(ent.Reasons, []string{"via group Vendors"}) {
		t.Errorf("Entitlement(new email) = %+v, want via group Vendors", ent)
	}
}

// The workers see SCIM fail for one person: other people's jobs of the
// same change go on.
func TestGrantJobsIndependent(t *testing.T) {
	h := newHarness(t, nil)
	h.fs.InjectSCIM(fakeslack.Fault{Method: http.MethodPatch, Status: http.StatusBadRequest, Count: 1,
		Body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"invalid_request","status":400}`})
	h.apply(provisioning.DirectoryChange{Upsert: []provisioning.Person{
		dirPerson(fakeslack.DemoDeactivatedEmail, "/Ops"), dirPerson(fakeslack.DemoDeactivated2Email, "/Ops"), dirPerson("fresh@example.com", "/Ops"),
	}})
	res := h.grant(provisioning.GrantOrgUnit, "/Ops")
	if res.Jobs != 3 {
		t.Fatalf("grant result = %+v, want 3 jobs", res)
	}
	h.start()
	var done, failed int
	for _, e := range res.Invites {
		switch h.wait(h.lastJob(e).ID).State {
		case provisioning.JobDone:
			done++
		case provisioning.JobFailed:
			failed++
		}
	}
	if done != 2 || failed != 1 {
		t.Errorf("jobs done %d, failed %d; want 2 and 1", done, failed)
	}
}

func TestNormalizeOrgUnit(t *testing.T) {
	tests := []struct {
		in, want string
		invalid  bool
	}{
		{"", "", false},
		{"/", "", false},
		{"Engineering", "/Engineering", false},
		{"/Engineering/", "/Engineering", false},
		{"//Engineering//Platform//", "/Engineering/Platform", false},
		{" Engineering / Platform ", "/Engineering/Platform", false},
		{"/Engineering/../Admin", "", true},
		{"/./Engineering", "", true},
		{"/Engi\nneering", "", true},
		{"/Engineering/Platform Team", "/Engineering/Platform Team", false},
	}
	for _, tt := range tests {
		got, err := provisioning.NormalizeOrgUnit(tt.in)
		if got != tt.want || errors.Is(err, provisioning.ErrInvalid) != tt.invalid {
			t.Errorf("NormalizeOrgUnit(%q) = %q, %v; want %q, invalid %v", tt.in, got, err, tt.want, tt.invalid)
		}
	}
}
