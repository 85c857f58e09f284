package provisioning_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
	"github.com/roster-app/roster/store"
)

// harness runs the real provisioning service on a real bbolt file with the
// real SCIM client against fakeslack.
type harness struct {
	t        *testing.T
	fs       *fakeslack.Server
	db       *store.DB
	svc      *provisioning.Service
	provider provisioning.Provider

	mu       sync.Mutex
	finished map[string]provisioning.Job
	notify   chan struct{}

	stop func()
}

type harnessOpt func(*provisioning.Options)

func newHarness(t *testing.T, fs *fakeslack.Server, opts ...harnessOpt) *harness {
	t.Helper()
	if fs == nil {
		fs = fakeslack.New(fakeslack.WithWorkspace(fakeslack.DemoWorkspace()))
		t.Cleanup(fs.Close)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{t: t, fs: fs, db: db, finished: map[string]provisioning.Job{}, notify: make(chan struct{}, 1)}
	h.provider = scim.New(fs.SCIMURL(), fakeslack.AdminToken, scim.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	h.build(opts...)
	return h
}

func (h *harness) build(opts ...harnessOpt) {
	o := provisioning.Options{
		BackoffBase: 20 * time.Millisecond,
		BackoffMax:  200 * time.Millisecond,
		OnJobFinished: func(_ context.Context, j provisioning.Job) {
			h.mu.Lock()
			h.finished[j.ID] = j
			h.mu.Unlock()
			select {
			case h.notify <- struct{}{}:
			default:
			}
		},
	}
	for _, f := range opts {
		f(&o)
	}
	h.svc = provisioning.NewService(h.db, h.provider, members{h.fs}, o)
}

// start runs the workers until the test ends.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run() = %v, want nil", err)
		}
	}
	h.t.Cleanup(func() {
		if h.stop != nil {
			h.stop()
		}
	})
}

// wait returns job id once it is done or failed.
func (h *harness) wait(id string) provisioning.Job {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		h.mu.Lock()
		j, ok := h.finished[id]
		h.mu.Unlock()
		if ok {
			return j
		}
		select {
		case <-h.notify:
		case <-deadline:
			h.t.Fatalf("job %s did not finish within 30s", id)
		}
	}
}

func (h *harness) writes() []fakeslack.SCIMRequest { return h.fs.SCIMWrites() }

func (h *harness) audit() []provisioning.AuditEvent {
	h.t.Helper()
	var out []provisioning.AuditEvent
	err := h.db.View(context.Background(), func(tx provisioning.ReadTx) error {
		return tx.Audit(time.Time{}, func(ev provisioning.AuditEvent) error {
			out = append(out, ev)
			return nil
		})
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// members answers guard-rail questions from fakeslack's user table, as
// users.info would.
type members struct{ fs *fakeslack.Server }

func (m members) MemberByID(_ context.Context, id string) (provisioning.Member, error) {
	u, ok := m.fs.User(id)
	if !ok {
		return provisioning.Member{}, fmt.Errorf("user %s: %w", id, provisioning.ErrNotFound)
	}
	return provisioning.Member{ID: u.ID, Email: u.Email, IsOwner: u.IsOwner, IsPrimaryOwner: u.IsPrimaryOwner, IsAdmin: u.IsAdmin, IsBot: u.IsBot, Deleted: u.Deleted}, nil
}

func methods(rs []fakeslack.SCIMRequest) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, "/scim/v2"))
	}
	return out
}

func TestAssignNewEmailCreatesOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	_, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "New.Hire@Example.com", By: fakeslack.DemoAdminID, Reason: "starts Monday"})
	if err != nil {
		t.Fatalf("Assign() = %v", err)
	}
	got := h.wait(job.ID)
	if got.State != provisioning.JobDone || got.Action != provisioning.ActionInvite {
		t.Fatalf("job = %s/%s (%s), want done/invite", got.State, got.Action, got.LastError)
	}
	u, ok := h.fs.UserByEmail("new.hire@example.com")
	if !ok || u.Deleted {
		t.Fatalf("UserByEmail(new.hire) = %+v, %v; want an active user", u, ok)
	}
	if u.Name != "new.hire" {
		t.Errorf("userName = %q, want new.hire", u.Name)
	}
	if w := methods(h.writes()); len(w) != 1 || w[0] != "POST /Users" {
		t.Errorf("SCIM writes = %v, want exactly one POST /Users", w)
	}
	// The same assignment again converges to "already active": no write.
	_, job, err = h.svc.Assign(t.Context(), provisioning.Grant{Email: "new.hire@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.wait(job.ID); got.Action != provisioning.ActionNone {
		t.Errorf("second assign job action = %s, want none", got.Action)
	}
	if n := len(h.writes()); n != 1 {
		t.Errorf("SCIM writes after second assign = %d, want 1", n)
	}
}

func TestAssignDeactivatedActivatesWithoutPost(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	_, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: fakeslack.DemoDeactivatedEmail, By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.wait(job.ID); got.State != provisioning.JobDone || got.Action != provisioning.ActionActivate {
		t.Fatalf("job = %s/%s (%s), want done/activate", got.State, got.Action, got.LastError)
	}
	if u, _ := h.fs.User(fakeslack.DemoDeactivatedID); u.Deleted {
		t.Errorf("user %s still deactivated", fakeslack.DemoDeactivatedID)
	}
	if w := methods(h.writes()); len(w) != 1 || w[0] != "PATCH /Users/"+fakeslack.DemoDeactivatedID {
		t.Errorf("SCIM writes = %v, want one PATCH", w)
	}
}

func TestRevokeDeactivates(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	if _, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: fakeslack.DemoMemberEmail, By: fakeslack.DemoAdminID}); err != nil {
		t.Fatal(err)
	} else {
		h.wait(job.ID)
	}
	removed, job, err := h.svc.Revoke(t.Context(), fakeslack.DemoMemberEmail, fakeslack.DemoAdminID, "left the company")
	if err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	if len(removed) != 1 {
		t.Errorf("Revoke() removed %d assignments, want 1", len(removed))
	}
	if got := h.wait(job.ID); got.State != provisioning.JobDone || got.Action != provisioning.ActionDeactivate {
		t.Fatalf("job = %s/%s (%s), want done/deactivate", got.State, got.Action, got.LastError)
	}
	if u, _ := h.fs.User(fakeslack.DemoMemberID); !u.Deleted {
		t.Errorf("member still active after revoke")
	}
	if w := methods(h.writes()); len(w) != 1 || w[0] != "DELETE /Users/"+fakeslack.DemoMemberID {
		t.Errorf("SCIM writes = %v, want one DELETE", w)
	}
	st, err := h.svc.Status(t.Context(), fakeslack.DemoMemberEmail)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entitled || len(st.Assignments) != 0 {
		t.Errorf("Status() = entitled %v with %d assignments, want none", st.Entitled, len(st.Assignments))
	}
}

func TestRevokeProtectedIsRefused(t *testing.T) {
	tests := []struct {
		name, email, want string
	}{
		{"primary owner", fakeslack.DemoPrimaryOwnerEmail, "owner"},
		{"admin", fakeslack.DemoAdminEmail, "workspace admin"},
		{"roster admin", fakeslack.DemoApproverEmail, "ROSTER_ADMINS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, func(o *provisioning.Options) { o.Protected = []string{fakeslack.DemoApproverID} })
			h.start()
			_, _, err := h.svc.Revoke(t.Context(), tt.email, fakeslack.DemoAdmin2ID, "")
			if !errors.Is(err, provisioning.ErrProtected) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Revoke(%s) = %v, want ErrProtected mentioning %q", tt.email, err, tt.want)
			}
			if w := h.writes(); len(w) != 0 {
				t.Errorf("SCIM writes = %v, want none", methods(w))
			}
			ev := h.audit()
			if len(ev) != 1 || ev[0].Outcome != "refused" || ev[0].Actor != fakeslack.DemoAdmin2ID {
				t.Errorf("audit = %+v, want one refusal by %s", ev, fakeslack.DemoAdmin2ID)
			}
		})
	}
}

// The job re-checks the guard rails before writing: a person who became an
// admin after the revoke was recorded is still not deactivated.
func TestJobRefusesProtectedAtRunTime(t *testing.T) {
	h := newHarness(t, nil)
	_, job, err := h.svc.Revoke(t.Context(), fakeslack.DemoMemberEmail, fakeslack.DemoAdminID, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := h.fs.User(fakeslack.DemoMemberID)
	u.IsAdmin = true
	h.fs.PutUser(u)
	h.start()
	got := h.wait(job.ID)
	if got.State != provisioning.JobFailed || !strings.Contains(got.LastError, "admin") {
		t.Fatalf("job = %s (%s), want failed naming the admin", got.State, got.LastError)
	}
	if w := h.writes(); len(w) != 0 {
		t.Errorf("SCIM writes = %v, want none", methods(w))
	}
}

func TestRateLimitedCreateHonoursRetryAfter(t *testing.T) {
	h := newHarness(t, nil)
	h.fs.InjectSCIM(fakeslack.Fault{Method: http.MethodPost, Path: "/Users", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 3})
	h.start()
	_, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "rate.limited@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(job.ID)
	if got.State != provisioning.JobDone || got.Attempts != 4 {
		t.Fatalf("job = %s after %d attempts (%s), want done after 4", got.State, got.Attempts, got.LastError)
	}
	var posts []fakeslack.SCIMRequest
	for _, r := range h.fs.SCIMRequests() {
		if r.Method == http.MethodPost {
			posts = append(posts, r)
		}
	}
	if len(posts) != 4 {
		t.Fatalf("POSTs = %d, want 4 (three 429s, one success)", len(posts))
	}
	for i := 1; i < len(posts); i++ {
		if gap := posts[i].At.Sub(posts[i-1].At); gap < time.Second {
			t.Errorf("POST %d came %s after a 429 with Retry-After: 1, want at least 1s", i+1, gap)
		}
	}
	if w := h.writes(); len(w) != 1 {
		t.Errorf("successful SCIM writes = %d, want exactly 1", len(w))
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	tests := []struct {
		name  string
		fault fakeslack.Fault
	}{
		{"503", fakeslack.Fault{Method: http.MethodPost, Status: http.StatusServiceUnavailable, Count: 2}},
		{"500 on lookup", fakeslack.Fault{Method: http.MethodGet, Status: http.StatusInternalServerError, Count: 2}},
		{"connection dropped", fakeslack.Fault{Method: http.MethodPost, Drop: true, Count: 2}},
		{"dropped after the write", fakeslack.Fault{Method: http.MethodPost, Drop: true, AfterWrite: true, Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.fs.InjectSCIM(tt.fault)
			h.start()
			_, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "flaky.net@example.com", By: fakeslack.DemoAdminID})
			if err != nil {
				t.Fatal(err)
			}
			got := h.wait(job.ID)
			if got.State != provisioning.JobDone || got.Attempts < 2 {
				t.Fatalf("job = %s after %d attempts (%s), want done after retries", got.State, got.Attempts, got.LastError)
			}
			if u, ok := h.fs.UserByEmail("flaky.net@example.com"); !ok || u.Deleted {
				t.Fatalf("user not created and active")
			}
			if w := h.writes(); len(w) != 1 {
				t.Errorf("successful SCIM writes = %v, want exactly 1", methods(w))
			}
		})
	}
}

func TestAssignThenRevokeBeforeWorkerMakesNoWrite(t *testing.T) {
	h := newHarness(t, nil)
	_, j1, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "changed.mind@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	_, j2, err := h.svc.Revoke(t.Context(), "changed.mind@example.com", fakeslack.DemoAdminID, "wrong person")
	if err != nil {
		t.Fatal(err)
	}
	if j1.ID != j2.ID {
		t.Errorf("revoke queued job %s beside %s, want the pending job reused", j2.ID, j1.ID)
	}
	h.start()
	got := h.wait(j2.ID)
	if got.Action != provisioning.ActionNone {
		t.Errorf("job action = %s, want none", got.Action)
	}
	if w := h.writes(); len(w) != 0 {
		t.Errorf("SCIM writes = %v, want none", methods(w))
	}
}

func TestEmailTakenLooksUpThenActivates(t *testing.T) {
	fs := fakeslack.New(fakeslack.WithWorkspace(fakeslack.DemoWorkspace()))
	t.Cleanup(fs.Close)
	h := newHarness(t, fs)
	// Slack's search can lag behind its writes: the first lookup misses the
	// deactivated account, so the job tries to create it and gets
	// email_taken.
	h.provider = &staleLookup{Provider: h.provider, misses: 1}
	h.build()
	h.start()
	_, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: fakeslack.DemoDeactivatedEmail, By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(job.ID)
	if got.State != provisioning.JobDone || got.Action != provisioning.ActionActivate {
		t.Fatalf("job = %s/%s (%s), want done/activate", got.State, got.Action, got.LastError)
	}
	if u, _ := h.fs.User(fakeslack.DemoDeactivatedID); u.Deleted {
		t.Errorf("user still deactivated")
	}
	if w := methods(h.writes()); len(w) != 1 || !strings.HasPrefix(w[0], "PATCH") {
		t.Errorf("successful SCIM writes = %v, want one PATCH", w)
	}
}

type staleLookup struct {
	provisioning.Provider
	mu     sync.Mutex
	misses int
}

func (s *staleLookup) LookupByEmail(ctx context.Context, email string) (provisioning.Account, error) {
	s.mu.Lock()
	miss := s.misses > 0
	s.misses--
	s.mu.Unlock()
	if miss {
		return provisioning.Account{}, fmt.Errorf("lookup %s: %w", email, provisioning.ErrNotFound)
	}
	return s.Provider.LookupByEmail(ctx, email)
}

func TestPermanentFailureIsReported(t *testing.T) {
	h := newHarness(t, nil)
	h.fs.InjectSCIM(fakeslack.Fault{Method: http.MethodPost, Status: http.StatusBadRequest, Count: 1,
		Body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"bad_email_address","status":400}`})
	h.start()
	_, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "odd@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(job.ID)
	if got.State != provisioning.JobFailed || got.Attempts != 1 || !strings.Contains(got.LastError, "bad_email_address") {
		t.Fatalf("job = %s after %d attempts (%q), want failed at once with the reason", got.State, got.Attempts, got.LastError)
	}
	ev := h.audit()
	if last := ev[len(ev)-1]; last.Outcome != "failed" || last.Email != "odd@example.com" {
		t.Errorf("last audit event = %+v, want the failure", last)
	}
}

func TestJobGivesUp(t *testing.T) {
	h := newHarness(t, nil, func(o *provisioning.Options) { o.GiveUp = 300 * time.Millisecond })
	h.fs.InjectSCIM(fakeslack.Fault{Method: http.MethodPost, Status: http.StatusServiceUnavailable, Count: 1000})
	h.start()
	_, job, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "never.works@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(job.ID)
	if got.State != provisioning.JobFailed || !strings.Contains(got.LastError, "gave up") {
		t.Fatalf("job = %s (%s), want failed after giving up", got.State, got.LastError)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	h := newHarness(t, nil, func(o *provisioning.Options) { o.DryRun = true })
	h.start()
	_, j1, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: "dry.run@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	_, j2, err := h.svc.Revoke(t.Context(), fakeslack.DemoMemberEmail, fakeslack.DemoAdminID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id   string
		want provisioning.Action
	}{{j1.ID, provisioning.ActionInvite}, {j2.ID, provisioning.ActionDeactivate}} {
		got := h.wait(tt.id)
		if got.State != provisioning.JobDone || got.Action != tt.want || !got.DryRun {
			t.Errorf("job %s = %s/%s dry-run %v, want done/%s in dry run", tt.id, got.State, got.Action, got.DryRun, tt.want)
		}
	}
	if w := h.writes(); len(w) != 0 {
		t.Errorf("SCIM writes = %v, want none in dry run", methods(w))
	}
	var dry int
	for _, ev := range h.audit() {
		if ev.Outcome == "dry-run" {
			dry++
		}
	}
	if dry != 2 {
		t.Errorf("dry-run audit events = %d, want 2", dry)
	}
}

// Jobs stored while no worker runs (Roster stopped) run at the next start.
func TestPendingJobsResume(t *testing.T) {
	h := newHarness(t, nil)
	var ids []string
	for i := range 5 {
		_, j, err := h.svc.Assign(t.Context(), provisioning.Grant{Email: fmt.Sprintf("queued.%d@example.com", i), By: fakeslack.DemoAdminID})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// A job marked running by a process that died mid-job.
	err := h.db.Update(t.Context(), func(tx provisioning.Tx) error {
		j, err := tx.Job(ids[0])
		if err != nil {
			return err
		}
		j.State, j.Attempts = provisioning.JobRunning, 1
		return tx.PutJob(j)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	for _, id := range ids {
		if got := h.wait(id); got.State != provisioning.JobDone || got.Action != provisioning.ActionInvite {
			t.Errorf("job %s = %s/%s (%s), want done/invite", id, got.State, got.Action, got.LastError)
		}
	}
	if n := len(h.writes()); n != 5 {
		t.Errorf("SCIM writes = %d, want 5", n)
	}
}

// Many decisions about one person while a slow write is in flight: the
// per-user lock at Slack is never hit, because Roster makes one write per
// person at a time, and the final state matches the last decision.
func TestOneWritePerPersonAtATime(t *testing.T) {
	fs := fakeslack.New(fakeslack.WithWorkspace(fakeslack.DemoWorkspace()), fakeslack.WithSCIMLatency(50*time.Millisecond))
	t.Cleanup(fs.Close)
	h := newHarness(t, fs, func(o *provisioning.Options) { o.Workers = 8 })
	h.start()
	var last provisioning.Job
	for i := range 10 {
		var err error
		if i%2 == 0 {
			_, last, err = h.svc.Assign(t.Context(), provisioning.Grant{Email: fakeslack.DemoDeactivatedEmail, By: fakeslack.DemoAdminID})
		} else {
			_, last, err = h.svc.Revoke(t.Context(), fakeslack.DemoDeactivatedEmail, fakeslack.DemoAdminID, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Millisecond) // interleave decisions with the slow writes
	}
	h.wait(last.ID)
	for _, r := range h.fs.SCIMRequests() {
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("%s %s got 429: two writes for one person overlapped", r.Method, r.Path)
		}
	}
	if u, _ := h.fs.User(fakeslack.DemoDeactivatedID); !u.Deleted {
		t.Errorf("user active, want deactivated after the last decision (revoke)")
	}
}
