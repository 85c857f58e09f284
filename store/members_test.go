package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/roster-app/roster/provisioning"
)

// v1Buckets is the layout of schema version 1, frozen here: a test that
// builds a version 1 file must not pick up buckets added later.
var v1Buckets = []string{
	"meta", "assignments", "requests",
	"jobs", "jobs_pending", "jobs_running", "jobs_done", "jobs_failed",
	"jobs_pending_email", "jobs_email", "jobs_count",
	"audit",
}

// createV1 creates the version 1 buckets in tx and writes version as the
// schema version.
func createV1(tx *bolt.Tx, version string) error {
	for _, name := range v1Buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(version))
}

// checkRequestIndexes checks that requests_state and requests_by hold
// exactly one entry per stored request, under its status and requester.
func checkRequestIndexes(t testing.TB, db *bolt.DB) {
	t.Helper()
	db.View(func(tx *bolt.Tx) error {
		wantState, wantBy := map[string]bool{}, map[string]bool{}
		tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			var r provisioning.Request
			if err := json.Unmarshal(v, &r); err != nil {
				t.Errorf("decode request %s: %v", k, err)
			}
			if r.ID != string(k) {
				t.Errorf("request under key %s has ID %q", k, r.ID)
			}
			wantState[string(indexKey(string(r.Status), r.ID))] = true
			wantBy[string(indexKey(r.RequestedBy, r.ID))] = true
			return nil
		})
		for name, want := range map[string]map[string]bool{"requests_state": wantState, "requests_by": wantBy} {
			got := map[string]bool{}
			tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
				got[string(k)] = true
				if len(v) != 0 {
					t.Errorf("%s[%q] = %q, want empty", name, k, v)
				}
				return nil
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s entries (-want +got):\n%s", name, diff)
			}
		}
		return nil
	})
}

func reqIDs(rs []provisioning.Request) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func req(id, by string, st provisioning.RequestStatus) provisioning.Request {
	return provisioning.Request{ID: id, Email: "x@example.com", RequestedBy: by, Status: st, CreatedAt: t0, UpdatedAt: t0}
}

func TestRequestIndexes(t *testing.T) {
	const (
		// Untyped, to serve as both a RequestStatus and a query argument.
		pending  = "pending"
		approved = "approved"
		denied   = "denied"
		expired  = "expired"
	)
	// A query calls RequestsInState(state, limit) or, with by set,
	// RequestsBy(user, limit).
	type query struct {
		by    bool
		arg   string
		limit int
		want  []string
	}
	tests := []struct {
		name    string
		puts    [][]provisioning.Request // one Update per inner slice
		queries []query
	}{
		{
			name: "newest first",
			puts: [][]provisioning.Request{{
				req("req-000000000001", "U1", pending),
				req("req-000000000002", "U2", pending),
				req("req-000000000003", "U1", pending),
			}},
			queries: []query{
				{arg: pending, limit: 10, want: []string{"req-000000000003", "req-000000000002", "req-000000000001"}},
				{arg: pending, limit: 2, want: []string{"req-000000000003", "req-000000000002"}},
				{arg: pending, limit: 0, want: []string{}},
				{arg: approved, limit: 10, want: []string{}},
				{by: true, arg: "U1", limit: 10, want: []string{"req-000000000003", "req-000000000001"}},
				{by: true, arg: "U2", limit: 10, want: []string{"req-000000000002"}},
				{by: true, arg: "U", limit: 10, want: []string{}}, // a prefix of a user ID is not that user
				{by: true, arg: "U3", limit: 10, want: []string{}},
			},
		},
		{
			name: "state moves",
			puts: [][]provisioning.Request{
				{req("req-000000000001", "U1", pending), req("req-000000000002", "U1", pending)},
				{req("req-000000000001", "U1", approved)},
				{req("req-000000000002", "U1", denied)},
				{req("req-000000000002", "U1", expired)}, // a second move, in a later tx
			},
			queries: []query{
				{arg: pending, limit: 10, want: []string{}},
				{arg: approved, limit: 10, want: []string{"req-000000000001"}},
				{arg: denied, limit: 10, want: []string{}},
				{arg: expired, limit: 10, want: []string{"req-000000000002"}},
				{by: true, arg: "U1", limit: 10, want: []string{"req-000000000002", "req-000000000001"}},
			},
		},
		{
			name: "two moves in one transaction",
			puts: [][]provisioning.Request{{
				req("req-000000000001", "U1", pending),
				req("req-000000000001", "U1", approved),
				req("req-000000000001", "U1", expired),
			}},
			queries: []query{
				{arg: pending, limit: 10, want: []string{}},
				{arg: approved, limit: 10, want: []string{}},
				{arg: expired, limit: 10, want: []string{"req-000000000001"}},
			},
		},
		{
			name: "requester changes",
			puts: [][]provisioning.Request{
				{req("req-000000000001", "U1", pending)},
				{req("req-000000000001", "U2", pending)},
			},
			queries: []query{
				{by: true, arg: "U1", limit: 10, want: []string{}},
				{by: true, arg: "U2", limit: 10, want: []string{"req-000000000001"}},
				{arg: pending, limit: 10, want: []string{"req-000000000001"}},
			},
		},
		{
			name: "state names that prefix each other",
			puts: [][]provisioning.Request{{
				req("req-000000000001", "U1", "pend"),
				req("req-000000000002", "U1", pending),
			}},
			queries: []query{
				{arg: "pend", limit: 10, want: []string{"req-000000000001"}},
				{arg: pending, limit: 10, want: []string{"req-000000000002"}},
			},
		},
		{
			name: "no status or requester",
			puts: [][]provisioning.Request{{{ID: "req-000000000001"}, req("req-000000000002", "U1", pending)}},
			queries: []query{
				{arg: "", limit: 10, want: []string{"req-000000000001"}},
				{by: true, arg: "", limit: 10, want: []string{"req-000000000001"}},
				{arg: pending, limit: 10, want: []string{"req-000000000002"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTest(t)
			for _, batch := range tt.puts {
				update(t, d, func(tx provisioning.Tx) error {
					for _, r := range batch {
						if err := tx.PutRequest(r); err != nil {
							return err
						}
					}
					return nil
				})
			}
			checkRequestIndexes(t, d.db)
			view(t, d, func(tx provisioning.ReadTx) error {
				for _, q := range tt.queries {
					var (
						got  []provisioning.Request
						err  error
						call string
					)
					if q.by {
						got, err = tx.RequestsBy(q.arg, q.limit)
						call = fmt.Sprintf("RequestsBy(%q, %d)", q.arg, q.limit)
					} else {
						got, err = tx.RequestsInState(provisioning.RequestStatus(q.arg), q.limit)
						call = fmt.Sprintf("RequestsInState(%q, %d)", q.arg, q.limit)
					}
					if err != nil {
						t.Errorf("%s error: %v", call, err)
						continue
					}
					if diff := cmp.Diff(q.want, reqIDs(got)); diff != "" {
						t.Errorf("%s (-want +got):\n%s", call, diff)
					}
				}
				return nil
			})
		})
	}
}

func TestRequestsReturnFullRecords(t *testing.T) {
	d := openTest(t)
	r := req("req-000000000001", "U1", provisioning.StatusPending)
	r.Reason, r.Duration = "contractor", 72*time.Hour
	r.Decisions = []provisioning.Decision{{By: "U2", Approved: true, At: t0}}
	update(t, d, func(tx provisioning.Tx) error { return tx.PutRequest(r) })
	view(t, d, func(tx provisioning.ReadTx) error {
		for name, f := range map[string]func() ([]provisioning.Request, error){
			"RequestsInState": func() ([]provisioning.Request, error) { return tx.RequestsInState(r.Status, 1) },
			"RequestsBy":      func() ([]provisioning.Request, error) { return tx.RequestsBy(r.RequestedBy, 1) },
		} {
			got, err := f()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if diff := cmp.Diff([]provisioning.Request{r}, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
		return nil
	})
}

func TestPutRequestInvalid(t *testing.T) {
	tests := []struct {
		name string
		r    provisioning.Request
	}{
		{"no id", provisioning.Request{Status: provisioning.StatusPending}},
		{"NUL in status", req("req-1", "U1", "pending\x00x")},
		{"NUL in requester", req("req-1", "U1\x00", provisioning.StatusPending)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTest(t)
			err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutRequest(tt.r) })
			if !errors.Is(err, provisioning.ErrInvalid) {
				t.Errorf("PutRequest(%+v) = %v, want ErrInvalid", tt.r, err)
			}
		})
	}
}

func TestPutRequestRollbackKeepsIndexes(t *testing.T) {
	d := openTest(t)
	update(t, d, func(tx provisioning.Tx) error {
		return tx.PutRequest(req("req-000000000001", "U1", provisioning.StatusPending))
	})
	boom := errors.New("boom")
	err := d.Update(t.Context(), func(tx provisioning.Tx) error {
		if err := tx.PutRequest(req("req-000000000001", "U2", provisioning.StatusApproved)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	checkRequestIndexes(t, d.db)
	view(t, d, func(tx provisioning.ReadTx) error {
		got, err := tx.RequestsInState(provisioning.StatusPending, 10)
		if err != nil || len(got) != 1 || got[0].RequestedBy != "U1" {
			t.Errorf("RequestsInState(pending) after rollback = %v, %v; want the U1 request", got, err)
		}
		return nil
	})
}

func TestRequestIndexDangling(t *testing.T) {
	// Not openTest: this test breaks the indexes on purpose.
	d, err := Open(filepath.Join(t.TempDir(), "roster.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	update(t, d, func(tx provisioning.Tx) error {
		return tx.PutRequest(req("req-000000000001", "U1", provisioning.StatusPending))
	})
	d.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRequests).Delete([]byte("req-000000000001")) })
	err = d.View(t.Context(), func(tx provisioning.ReadTx) error {
		_, err := tx.RequestsInState(provisioning.StatusPending, 10)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "names missing request req-000000000001") {
		t.Errorf("RequestsInState with a dangling entry = %v, want a missing-request error", err)
	}
}

func members(t testing.TB, d *DB) []provisioning.Member {
	t.Helper()
	var out []provisioning.Member
	view(t, d, func(tx provisioning.ReadTx) error {
		return tx.ForEachMember(func(m provisioning.Member) error {
			out = append(out, m)
			return nil
		})
	})
	return out
}

func TestMembers(t *testing.T) {
	ada := provisioning.Member{ID: "U2", Email: "ada@example.com", Name: "ada", RealName: "Ada Lovelace",
		DisplayName: "ada", IsAdmin: true, Updated: 1700000000}
	bob := provisioning.Member{ID: "U1", Email: "bob@example.com", Name: "bob", IsRestricted: true}
	bot := provisioning.Member{ID: "U3", Name: "standup", IsBot: true}

	d := openTest(t)
	if got := members(t, d); len(got) != 0 {
		t.Fatalf("ForEachMember on a new store = %v, want none", got)
	}
	update(t, d, func(tx provisioning.Tx) error { return tx.PutMembers([]provisioning.Member{ada, bob, bot}) })
	if diff := cmp.Diff([]provisioning.Member{bob, ada, bot}, members(t, d)); diff != "" {
		t.Errorf("ForEachMember, in ID order (-want +got):\n%s", diff)
	}

	// Upsert: ada is deactivated, dan is new.
	adaGone := ada
	adaGone.Deleted, adaGone.Updated = true, 1700000100
	dan := provisioning.Member{ID: "U0", Email: "dan@example.com", Name: "dan"}
	update(t, d, func(tx provisioning.Tx) error { return tx.PutMembers([]provisioning.Member{adaGone, dan}) })
	if diff := cmp.Diff([]provisioning.Member{dan, bob, adaGone, bot}, members(t, d)); diff != "" {
		t.Errorf("ForEachMember after upsert (-want +got):\n%s", diff)
	}

	var removed int
	update(t, d, func(tx provisioning.Tx) error {
		var err error
		removed, err = tx.DeleteMembersExcept(map[string]bool{"U1": true, "U3": true, "U9": true})
		return err
	})
	if removed != 2 {
		t.Errorf("DeleteMembersExcept removed %d, want 2", removed)
	}
	if diff := cmp.Diff([]provisioning.Member{bob, bot}, members(t, d)); diff != "" {
		t.Errorf("ForEachMember after DeleteMembersExcept (-want +got):\n%s", diff)
	}

	// An error from fn stops the walk and is returned unchanged.
	stop := errors.New("stop")
	n := 0
	err := d.View(t.Context(), func(tx provisioning.ReadTx) error {
		return tx.ForEachMember(func(provisioning.Member) error { n++; return stop })
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ForEachMember with failing fn = %v after %d calls, want %v after 1", err, n, stop)
	}

	err = d.Update(t.Context(), func(tx provisioning.Tx) error {
		return tx.PutMembers([]provisioning.Member{{Name: "nobody"}})
	})
	if !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("PutMembers(no id) = %v, want ErrInvalid", err)
	}
}

func TestDeleteMembersExceptMany(t *testing.T) {
	// Enough members for several pages, deleted from everywhere in the
	// key range: a cursor that skipped keys after a delete would leave some.
	d := openTest(t)
	var ms []provisioning.Member
	keep := map[string]bool{}
	for i := range 3000 {
		id := fmt.Sprintf("U%06d", i)
		ms = append(ms, provisioning.Member{ID: id, Email: id + "@example.com", RealName: "Member " + id})
		if i%3 == 0 {
			keep[id] = true
		}
	}
	update(t, d, func(tx provisioning.Tx) error { return tx.PutMembers(ms) })
	var removed int
	update(t, d, func(tx provisioning.Tx) error {
		var err error
		removed, err = tx.DeleteMembersExcept(keep)
		return err
	})
	if want := len(ms) - len(keep); removed != want {
		t.Errorf("DeleteMembersExcept removed %d, want %d", removed, want)
	}
	got := members(t, d)
	if len(got) != len(keep) {
		t.Fatalf("%d members left, want %d", len(got), len(keep))
	}
	for _, m := range got {
		if !keep[m.ID] {
			t.Errorf("member %s survived DeleteMembersExcept", m.ID)
		}
	}
}

func TestPutMembersSkipsUnchanged(t *testing.T) {
	d := openTest(t)
	var ms []provisioning.Member
	for i := range 500 {
		ms = append(ms, provisioning.Member{ID: fmt.Sprintf("U%06d", i), Name: fmt.Sprintf("member%d", i)})
	}
	update(t, d, func(tx provisioning.Tx) error { return tx.PutMembers(ms) })
	// pageWrites is how many pages fn's committed transaction wrote.
	pageWrites := func(fn func(provisioning.Tx) error) int64 {
		s := d.db.Stats()
		before := s.TxStats.GetWrite()
		update(t, d, fn)
		s = d.db.Stats()
		return s.TxStats.GetWrite() - before
	}
	empty := pageWrites(func(provisioning.Tx) error { return nil })
	same := pageWrites(func(tx provisioning.Tx) error { return tx.PutMembers(ms) })
	if same != empty {
		t.Errorf("rewriting unchanged members wrote %d pages, want %d like an empty transaction", same, empty)
	}
	ms[250].Deleted = true
	if changed := pageWrites(func(tx provisioning.Tx) error { return tx.PutMembers(ms) }); changed <= empty {
		t.Errorf("a real change wrote %d pages, want more than an empty transaction's %d", changed, empty)
	}
}

// TestMigrate1to2 builds a version 1 file the way Roster 1 wrote it, with
// requests in several states, and opens it with the current migrations.
func TestMigrate1to2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	v1 := []provisioning.Request{
		req("req-000000000001", "U1", provisioning.StatusApproved),
		req("req-000000000002", "U2", provisioning.StatusPending),
		req("req-000000000003", "U1", provisioning.StatusPending),
		req("req-000000000004", "U1", provisioning.StatusDenied),
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := createV1(tx, "1"); err != nil {
			return err
		}
		b := tx.Bucket(bucketRequests)
		for _, r := range v1 {
			buf, _ := json.Marshal(r)
			if err := b.Put([]byte(r.ID), buf); err != nil {
				return err
			}
		}
		return nil
	})

	d, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open(version 1 file) = %v", err)
	}
	boltCheck(t, d.db)
	checkRequestIndexes(t, d.db)
	view(t, d, func(tx provisioning.ReadTx) error {
		got, err := tx.RequestsInState(provisioning.StatusPending, 10)
		if diff := cmp.Diff([]string{"req-000000000003", "req-000000000002"}, reqIDs(got)); diff != "" || err != nil {
			t.Errorf("RequestsInState(pending) after migration = %v (-want +got):\n%s", err, diff)
		}
		got, err = tx.RequestsBy("U1", 10)
		if diff := cmp.Diff([]string{"req-000000000004", "req-000000000003", "req-000000000001"}, reqIDs(got)); diff != "" || err != nil {
			t.Errorf("RequestsBy(U1) after migration = %v (-want +got):\n%s", err, diff)
		}
		return nil
	})
	// The migrated file works like a new one: members can be stored and a
	// state move keeps the migrated indexes right.
	update(t, d, func(tx provisioning.Tx) error {
		if err := tx.PutMembers([]provisioning.Member{{ID: "U1", Name: "ada"}}); err != nil {
			return err
		}
		return tx.PutRequest(req("req-000000000002", "U2", provisioning.StatusApproved))
	})
	checkRequestIndexes(t, d.db)
	if got := members(t, d); len(got) != 1 {
		t.Errorf("members after migration and PutMembers = %v, want 1", got)
	}
	d.Close()
	if got := schemaVersion(t, path); got != "3" {
		t.Errorf("schema_version after migration = %q, want %q", got, "3")
	}

	// A corrupt request makes the migration, and Open, fail and leaves
	// the file at version 1.
	bad := filepath.Join(t.TempDir(), "bad.db")
	rawUpdate(t, bad, func(tx *bolt.Tx) error {
		if err := createV1(tx, "1"); err != nil {
			return err
		}
		return tx.Bucket(bucketRequests).Put([]byte("req-000000000001"), []byte("{not json"))
	})
	if d, err := Open(bad, Options{}); err == nil {
		d.Close()
		t.Fatalf("Open(version 1 file with a corrupt request) = nil error, want one")
	} else if !strings.Contains(err.Error(), "migrate schema 1 to 2: decode request req-000000000001") {
		t.Errorf("Open(corrupt) = %v, want a migrate 1 to 2 decode error", err)
	}
	if got := schemaVersion(t, bad); got != "1" {
		t.Errorf("schema_version after failed migration = %q, want %q", got, "1")
	}
	rawUpdate(t, bad, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMembers, bucketRequestsState, bucketRequestsBy} {
			if tx.Bucket(name) != nil {
				t.Errorf("bucket %s exists after a failed migration", name)
			}
		}
		return nil
	})
}
