package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/handlers"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// usersListHook sees every users.list request before it is sent. Its hook
// gets the request's number (from 1); a non-nil response is answered
// instead of asking the server.
type usersListHook struct {
	mu   sync.Mutex
	n    int
	hook func(n int, r *http.Request) *http.Response
}

func (h *usersListHook) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/users.list") && h.hook != nil {
		h.mu.Lock()
		h.n++
		n := h.n
		h.mu.Unlock()
		if resp := h.hook(n, r); resp != nil {
			return resp, nil
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func statusResponse(r *http.Request, code int) *http.Response {
	return &http.Response{
		StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r,
	}
}

type syncTest struct {
	fs   *fakeslack.Server
	db   *store.DB
	dir  *provisioning.Directory
	sync *directorySync
	hook *usersListHook
	path string
}

// newSyncTest starts fakeslack with n generated members (plus its bot),
// opens a store and returns a directorySync over the real slack-go client.
func newSyncTest(t testing.TB, n int) *syncTest {
	t.Helper()
	fs := fakeslack.New(fakeslack.WithWorkspace(fakeslack.NewWorkspace().Add(fakeslack.GenerateMembers(n, 1)...)))
	t.Cleanup(fs.Close)
	path := filepath.Join(t.TempDir(), "roster.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hook := &usersListHook{}
	api := slack.New(fakeslack.BotToken, slack.OptionAPIURL(fs.APIURL()),
		slack.OptionHTTPClient(&http.Client{Transport: hook, Timeout: 30 * time.Second}))
	dir := provisioning.NewDirectory()
	s := newDirectorySync(api, db, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.backoff = time.Millisecond
	return &syncTest{fs: fs, db: db, dir: dir, sync: s, hook: hook, path: path}
}

// slackUser is u as Slack's JSON shows it to slack-go (users.list,
// team_join, user_change).
func slackUser(t testing.TB, u fakeslack.User) slack.User {
	t.Helper()
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var su slack.User
	if err := json.Unmarshal(b, &su); err != nil {
		t.Fatal(err)
	}
	return su
}

// wantMembers is what Roster's copy should hold for fakeslack's users.
func (st *syncTest) wantMembers(t testing.TB) map[string]provisioning.Member {
	t.Helper()
	out := map[string]provisioning.Member{}
	for _, u := range st.fs.Users() {
		out[u.ID] = handlers.MemberFromSlack(slackUser(t, u))
	}
	return out
}

// stored returns the members in the store, and fails on a repeated ID.
func stored(t testing.TB, db provisioning.Store) map[string]provisioning.Member {
	t.Helper()
	out := map[string]provisioning.Member{}
	err := db.View(t.Context(), func(tx provisioning.ReadTx) error {
		return tx.ForEachMember(func(m provisioning.Member) error {
			if _, dup := out[m.ID]; dup {
				t.Errorf("member %s stored twice", m.ID)
			}
			out[m.ID] = m
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// listed returns every member of dir, by ID.
func listed(dir *provisioning.Directory) map[string]provisioning.Member {
	ms, _ := dir.List(0, dir.Len())
	out := map[string]provisioning.Member{}
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

func TestMemberFromSlack(t *testing.T) {
	tests := []struct {
		name string
		json string
		want provisioning.Member
	}{
		{
			name: "member",
			json: `{"id":"U1","name":"ada","real_name":"Ada Lovelace","deleted":false,"updated":1700000000,
				"profile":{"email":"Ada@Example.com","real_name":"Ada L.","display_name":"ada"}}`,
			want: provisioning.Member{ID: "U1", Email: "ada@example.com", Name: "ada", RealName: "Ada Lovelace",
				DisplayName: "ada", Updated: 1700000000},
		},
		{
			name: "real name only in the profile",
			json: `{"id":"U1","name":"ada","profile":{"real_name":"Ada Lovelace"}}`,
			want: provisioning.Member{ID: "U1", Name: "ada", RealName: "Ada Lovelace"},
		},
		{
			name: "deactivated single-channel guest",
			json: `{"id":"U2","name":"sam","deleted":true,"is_restricted":true,"is_ultra_restricted":true,"profile":{"email":"sam@example.com"}}`,
			want: provisioning.Member{ID: "U2", Email: "sam@example.com", Name: "sam", Deleted: true,
				IsRestricted: true, IsUltraRestricted: true},
		},
		{
			name: "primary owner",
			json: `{"id":"U3","name":"olivia","is_admin":true,"is_owner":true,"is_primary_owner":true,"profile":{}}`,
			want: provisioning.Member{ID: "U3", Name: "olivia", IsAdmin: true, IsOwner: true, IsPrimaryOwner: true},
		},
		{
			name: "Slackbot is a bot",
			json: `{"id":"USLACKBOT","name":"slackbot","is_bot":false,"profile":{"real_name":"Slackbot"}}`,
			want: provisioning.Member{ID: "USLACKBOT", Name: "slackbot", RealName: "Slackbot", IsBot: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u slack.User
			if err := json.Unmarshal([]byte(tt.json), &u); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, handlers.MemberFromSlack(u)); diff != "" {
				t.Errorf("memberFromSlack (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDirectoryFullSync(t *testing.T) {
	st := newSyncTest(t, 1000)
	calls, err := st.sync.FullSync(t.Context())
	if err != nil {
		t.Fatalf("FullSync: %v", err)
	}
	// 1000 generated members and fakeslack's bot: 1001, 200 a page.
	want := st.wantMembers(t)
	if wantCalls := (len(want) + 199) / 200; calls != wantCalls {
		t.Errorf("FullSync calls = %d, want %d", calls, wantCalls)
	}
	got := st.fs.Calls("users.list")
	if len(got) != calls {
		t.Errorf("fakeslack saw %d users.list calls, FullSync reports %d", len(got), calls)
	}
	for i, c := range got {
		if c.Param("limit") != "200" || c.Error != "" {
			t.Errorf("users.list call %d: limit %q, error %q; want limit 200, no error", i+1, c.Param("limit"), c.Error)
		}
	}
	if diff := cmp.Diff(want, stored(t, st.db)); diff != "" {
		t.Errorf("stored members (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, listed(st.dir)); diff != "" {
		t.Errorf("directory members (-want +got):\n%s", diff)
	}

	// A second sync of an unchanged workspace changes nothing.
	v := st.dir.Version()
	if _, err := st.sync.FullSync(t.Context()); err != nil {
		t.Fatalf("second FullSync: %v", err)
	}
	if diff := cmp.Diff(want, stored(t, st.db)); diff != "" {
		t.Errorf("stored members after a second sync (-want +got):\n%s", diff)
	}
	if st.dir.Len() != len(want) || st.dir.Version() == v {
		t.Errorf("after a second sync: Len = %d, Version changed = %v; want %d, true", st.dir.Len(), st.dir.Version() != v, len(want))
	}
}

func TestDirectoryFullSyncRateLimited(t *testing.T) {
	st := newSyncTest(t, 1000)
	// After two pages, Slack answers the third request with a 429.
	st.hook.hook = func(n int, _ *http.Request) *http.Response {
		if n == 3 {
			st.fs.RateLimitAPI("users.list", 1, time.Second)
		}
		return nil
	}
	start := time.Now()
	calls, err := st.sync.FullSync(t.Context())
	if err != nil {
		t.Fatalf("FullSync: %v", err)
	}
	took := time.Since(start)
	want := st.wantMembers(t)
	if wantCalls := (len(want)+199)/200 + 1; calls != wantCalls {
		t.Errorf("FullSync calls = %d, want %d (one page asked twice)", calls, wantCalls)
	}
	if took < time.Second {
		t.Errorf("FullSync took %v, want at least the Retry-After of 1s", took)
	}
	got := st.fs.Calls("users.list")
	if len(got) < 4 {
		t.Fatalf("fakeslack saw %d users.list calls, want at least 4", len(got))
	}
	if got[2].Error != "ratelimited" || got[3].Error != "" {
		t.Errorf("users.list calls 3 and 4 answered %q and %q, want ratelimited then ok", got[2].Error, got[3].Error)
	}
	if c3, c4 := got[2].Param("cursor"), got[3].Param("cursor"); c3 == "" || c3 != c4 {
		t.Errorf("cursor of the retried call = %q, want the rate-limited call's %q", c4, c3)
	}
	if wait := got[3].At.Sub(got[2].At); wait < time.Second {
		t.Errorf("retry came %v after the 429, want at least 1s", wait)
	}
	if diff := cmp.Diff(want, stored(t, st.db)); diff != "" {
		t.Errorf("stored members (-want +got):\n%s", diff)
	}
	if st.dir.Len() != len(want) {
		t.Errorf("directory has %d members, want %d", st.dir.Len(), len(want))
	}
}

func TestDirectoryFullSyncErrors(t *testing.T) {
	tests := []struct {
		name string
		// hook answers some users.list requests itself; fails sets up
		// fakeslack failures.
		hook      func(n int, r *http.Request) *http.Response
		fails     func(fs *fakeslack.Server)
		wantErr   string // "" means the sync completes
		wantCalls int
	}{
		{
			name: "5xx is retried",
			hook: func(n int, r *http.Request) *http.Response {
				if n == 2 || n == 3 {
					return statusResponse(r, http.StatusServiceUnavailable)
				}
				return nil
			},
			wantCalls: 2 + 2, // two pages (201 members) and two failed attempts
		},
		{
			name: "5xx gives up after three retries",
			hook: func(n int, r *http.Request) *http.Response {
				if n >= 2 {
					return statusResponse(r, http.StatusBadGateway)
				}
				return nil
			},
			wantErr:   "users.list page 2: slack server error: 502 Bad Gateway",
			wantCalls: 5,
		},
		{
			name:      "Slack error is not retried",
			fails:     func(fs *fakeslack.Server) { fs.FailAPI("users.list", 1, "invalid_auth") },
			wantErr:   "users.list page 1: invalid_auth",
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSyncTest(t, 200)
			// Roster's copy before the sync: someone since gone from Slack.
			gone := provisioning.Member{ID: "U0GONE", Email: "gone@example.com", RealName: "Gone Person"}
			if err := st.db.Update(t.Context(), func(tx provisioning.Tx) error {
				return tx.PutMembers([]provisioning.Member{gone})
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.sync.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			st.hook.hook = tt.hook
			if tt.fails != nil {
				tt.fails(st.fs)
			}
			calls, err := st.sync.FullSync(t.Context())
			if calls != tt.wantCalls {
				t.Errorf("FullSync calls = %d, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("FullSync = %v, want no error", err)
				}
				if _, ok := st.dir.ByID(gone.ID); ok {
					t.Errorf("member gone from Slack is still in the directory")
				}
				if st.dir.Len() != len(st.fs.Users()) {
					t.Errorf("directory has %d members, want %d", st.dir.Len(), len(st.fs.Users()))
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("FullSync = %v, want %q", err, tt.wantErr)
			}
			// A failed sync removes nobody and leaves the directory alone.
			if _, ok := stored(t, st.db)[gone.ID]; !ok {
				t.Errorf("a failed sync removed %s from the store", gone.ID)
			}
			if got := listed(st.dir); len(got) != 1 || got[gone.ID] != gone {
				t.Errorf("directory after a failed sync = %v, want only %s", got, gone.ID)
			}
		})
	}
}

func TestDirectoryFullSyncWaitEndsWithContext(t *testing.T) {
	st := newSyncTest(t, 10)
	st.fs.RateLimitAPI("users.list", 1, 30*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	calls, err := st.sync.FullSync(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("FullSync = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("FullSync returned after %v; the 30s Retry-After wait must end with ctx", took)
	}
	if calls != 1 {
		t.Errorf("FullSync calls = %d, want 1", calls)
	}
}

func TestDirectoryFullSyncRemovesDeparted(t *testing.T) {
	st := newSyncTest(t, 300)
	want := st.wantMembers(t)
	// Roster's copy from an earlier sync: two people since gone from
	// Slack, and one member with an outdated name.
	stale := want["U0G000007"]
	stale.RealName = "Old Name"
	old := []provisioning.Member{
		{ID: "U0GONE1", Email: "gone1@example.com", RealName: "Gone One"},
		{ID: "U0GONE2", Email: "gone2@example.com", RealName: "Gone Two", Deleted: true},
		stale,
	}
	if err := st.db.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutMembers(old) }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.sync.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.sync.FullSync(t.Context()); err != nil {
		t.Fatalf("FullSync: %v", err)
	}
	if diff := cmp.Diff(want, stored(t, st.db)); diff != "" {
		t.Errorf("stored members (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, listed(st.dir)); diff != "" {
		t.Errorf("directory members (-want +got):\n%s", diff)
	}
	if ms, _ := st.dir.Search("gone", 0, 10); len(ms) != 0 {
		t.Errorf("Search(gone) = %v, want nobody", ms)
	}
}

func TestDirectoryLoadAfterRestart(t *testing.T) {
	st := newSyncTest(t, 500)
	if _, err := st.sync.FullSync(t.Context()); err != nil {
		t.Fatalf("FullSync: %v", err)
	}
	wantPage, wantTotal := st.dir.Search("a", 0, 1000)
	st.db.Close()

	// A restart: a new process opens the file and loads, before any sync.
	db, err := store.Open(st.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := provisioning.NewDirectory()
	s := newDirectorySync(slack.New("xoxb-unused"), db, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	n, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := st.wantMembers(t)
	if n != len(want) {
		t.Errorf("Load = %d, want %d", n, len(want))
	}
	if diff := cmp.Diff(want, listed(dir)); diff != "" {
		t.Errorf("directory after Load (-want +got):\n%s", diff)
	}
	gotPage, gotTotal := dir.Search("a", 0, 1000)
	if diff := cmp.Diff(wantPage, gotPage); diff != "" || gotTotal != wantTotal {
		t.Errorf("Search(a) after Load: total %d, want %d (-before +after):\n%s", gotTotal, wantTotal, diff)
	}
}

func TestDirectoryApply(t *testing.T) {
	st := newSyncTest(t, 50)
	if _, err := st.sync.FullSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, _ := st.fs.User("U0G000010")
	if u.Deleted {
		t.Fatalf("test member %s is already deactivated", u.ID)
	}
	newcomer := fakeslack.User{ID: "U0NEW0001", Name: "new.person", RealName: "New Person", Email: "new.person@example.com", Updated: u.Updated}
	deactivated := u
	deactivated.Deleted, deactivated.Updated = true, u.Updated+60
	renamed := u
	renamed.RealName, renamed.Updated = "Ada Byron", u.Updated+120

	tests := []struct {
		name  string
		event string // as Slack sends it
		user  fakeslack.User
		check func(t *testing.T, m provisioning.Member)
	}{
		{
			name: "team_join adds the member", event: "team_join", user: newcomer,
			check: func(t *testing.T, m provisioning.Member) {
				if ms, _ := st.dir.Search("new pers", 0, 10); len(ms) != 1 || ms[0].ID != newcomer.ID {
					t.Errorf("Search(new pers) = %v, want %s", ms, newcomer.ID)
				}
			},
		},
		{
			name: "user_change with deleted:true deactivates", event: "user_change", user: deactivated,
			check: func(t *testing.T, m provisioning.Member) {
				if m.Status() != provisioning.StatusDeactivated {
					t.Errorf("Status() = %q, want %q", m.Status(), provisioning.StatusDeactivated)
				}
			},
		},
		{
			name: "user_change renames", event: "user_change", user: renamed,
			check: func(t *testing.T, m provisioning.Member) {
				if ms, _ := st.dir.Search("byron", 0, 10); len(ms) != 1 || ms[0].ID != u.ID {
					t.Errorf("Search(byron) = %v, want %s", ms, u.ID)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Decode the user from the event's JSON, as the handlers do.
			payload, err := json.Marshal(map[string]any{"type": tt.event, "user": tt.user, "event_ts": "1700000000.000100"})
			if err != nil {
				t.Fatal(err)
			}
			var evt struct{ User slack.User }
			if err := json.Unmarshal(payload, &evt); err != nil {
				t.Fatal(err)
			}
			if err := st.sync.Apply(t.Context(), evt.User); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := handlers.MemberFromSlack(evt.User)
			if got := stored(t, st.db)[tt.user.ID]; got != want {
				t.Errorf("stored member = %+v, want %+v", got, want)
			}
			got, ok := st.dir.ByID(tt.user.ID)
			if !ok || got != want {
				t.Errorf("directory ByID(%s) = %+v, %v; want %+v", tt.user.ID, got, ok, want)
			}
			tt.check(t, got)
		})
	}
	if err := st.sync.Apply(t.Context(), slack.User{}); !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("Apply(user without ID) = %v, want ErrInvalid", err)
	}
}

// TestDirectoryEventsDuringFullSync applies events between the pages of a
// full sync: the fresher record wins, whichever came last, and a member
// who joined after their page was read is kept.
func TestDirectoryEventsDuringFullSync(t *testing.T) {
	st := newSyncTest(t, 1000)
	early, _ := st.fs.User("U0G000005") // on page 1, read before its event
	late, _ := st.fs.User("U0G000905")  // on page 5, read after its events
	old, _ := st.fs.User("U0G000805")   // on page 5; its event is older than the page

	earlyGone := early
	earlyGone.Deleted, earlyGone.Updated = true, early.Updated+10
	lateRenamed := late
	lateRenamed.RealName, lateRenamed.Updated = "Renamed Late", late.Updated+10
	oldStale := old
	oldStale.RealName, oldStale.Updated = "Stale Name", old.Updated-10
	joined := fakeslack.User{ID: "U0G999999", Name: "joined", RealName: "Just Joined", Email: "joined@example.com", Updated: early.Updated}

	var applyErr error
	st.hook.hook = func(n int, _ *http.Request) *http.Response {
		if n == 2 { // page 1 is stored; page 2 is being asked for
			for _, u := range []fakeslack.User{earlyGone, lateRenamed, oldStale, joined} {
				applyErr = errors.Join(applyErr, st.sync.Apply(context.Background(), slackUser(t, u)))
			}
			// Another sync meanwhile is refused, not queued.
			if _, err := st.sync.FullSync(context.Background()); !errors.Is(err, errSyncRunning) {
				applyErr = errors.Join(applyErr, fmt.Errorf("concurrent FullSync = %v, want errSyncRunning", err))
			}
		}
		return nil
	}
	if _, err := st.sync.FullSync(t.Context()); err != nil {
		t.Fatalf("FullSync: %v", err)
	}
	if applyErr != nil {
		t.Fatal(applyErr)
	}
	want := st.wantMembers(t) // Slack's users.list answer, which the events update
	for _, u := range []fakeslack.User{earlyGone, lateRenamed, joined} {
		want[u.ID] = handlers.MemberFromSlack(slackUser(t, u))
	}
	// old's page (Updated later than its event) wins: want has it already.
	if diff := cmp.Diff(want, stored(t, st.db)); diff != "" {
		t.Errorf("stored members (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, listed(st.dir)); diff != "" {
		t.Errorf("directory members (-want +got):\n%s", diff)
	}
}

// BenchmarkFullSync50k is a full sync of a 50,000-member workspace from
// fakeslack over loopback HTTP: "first" into an empty store, "refresh" into
// a store that already holds everyone (the periodic refresh). Slack's own
// Tier 2 rate limit, not modelled here, dominates in production.
func BenchmarkFullSync50k(b *testing.B) {
	for _, refresh := range []bool{false, true} {
		name := "first"
		if refresh {
			name = "refresh"
		}
		b.Run(name, func(b *testing.B) {
			st := newSyncTest(b, 50_000)
			if refresh {
				if _, err := st.sync.FullSync(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			var calls int
			for b.Loop() {
				if !refresh {
					b.StopTimer()
					db, err := store.Open(filepath.Join(b.TempDir(), "roster.db"), store.Options{})
					if err != nil {
						b.Fatal(err)
					}
					st.sync.db, st.sync.dir = db, provisioning.NewDirectory()
					b.StartTimer()
				}
				var err error
				calls, err = st.sync.FullSync(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if !refresh {
					b.StopTimer()
					st.sync.db.(*store.DB).Close()
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(calls), "calls")
			b.ReportMetric(float64(st.sync.dir.Len()), "members")
		})
	}
}

// BenchmarkLoad50k is a restart with 50,000 members: the time from opening
// the store to a loaded Directory, when App Home can be served.
func BenchmarkLoad50k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "roster.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var ms []provisioning.Member
	for _, u := range fakeslack.GenerateMembers(50_000, 1) {
		ms = append(ms, handlers.MemberFromSlack(slackUser(b, u)))
	}
	if err := db.Update(b.Context(), func(tx provisioning.Tx) error { return tx.PutMembers(ms) }); err != nil {
		b.Fatal(err)
	}
	db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	var n int
	for b.Loop() {
		db, err := store.Open(path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		dir := provisioning.NewDirectory()
		n, err = newDirectorySync(nil, db, dir, log).Load(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		dir.Search("ada", 0, 20) // the first App Home view
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "members")
}
