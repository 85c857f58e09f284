package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/roster-app/roster/provisioning"
)

// t0 is the fixed clock of the test stores.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// openTest opens a store in a fresh temporary directory with a fixed clock.
// At cleanup it runs bbolt's consistency check, checks the request and
// directory indexes and closes the store.
func openTest(t testing.TB) *DB {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "roster.db"), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		boltCheck(t, d.db)
		if !t.Failed() {
			checkRequestIndexes(t, d.db)
			checkDirIndexes(t, d.db)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// boltCheck runs bbolt's own consistency check on db. On a writable db it
// checks inside a write transaction (rolled back), because Check in a read
// transaction races with concurrent writers.
func boltCheck(t testing.TB, db *bolt.DB) {
	t.Helper()
	tx, err := db.Begin(!db.IsReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("bbolt check of %s: %v", db.Path(), err)
	}
}

func update(t testing.TB, d *DB, fn func(provisioning.Tx) error) {
	t.Helper()
	if err := d.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t testing.TB, d *DB, fn func(provisioning.ReadTx) error) {
	t.Helper()
	if err := d.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func putJobs(t testing.TB, d *DB, jobs ...provisioning.Job) {
	t.Helper()
	update(t, d, func(tx provisioning.Tx) error {
		for _, j := range jobs {
			if err := tx.PutJob(j); err != nil {
				return err
			}
		}
		return nil
	})
}

func ids(jobs []provisioning.Job) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestOpenCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open(%q) error: %v", path, err)
	}
	if got := d.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of %s = %v, want %v", path, got, os.FileMode(0o600))
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			got = append(got, string(name))
			return nil
		})
	})
	var want []string
	for _, b := range allBuckets {
		want = append(want, string(b))
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buckets after Open (-want +got):\n%s", diff)
	}
}

func TestOpenNotABoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, Options{})
	if err == nil {
		d.Close()
		t.Fatalf("Open(garbage file) = nil error, want one")
	}
	if want := "open " + path + ": "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Open(garbage file) = %q, want prefix %q", err, want)
	}
}

// schemaVersion reads meta/schema_version from the (closed) file at path.
func schemaVersion(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			v = string(b.Get(keySchemaVersion))
		}
		return nil
	})
	return v
}

// rawUpdate writes to the (closed) file at path with bbolt directly.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaVersion(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(tx *bolt.Tx) error // nil: no file before Open
		wantErr string                  // substring; "" means Open succeeds
		wantVer string                  // schema_version afterwards
	}{
		{name: "fresh file", wantVer: "3"},
		{
			name:    "current version",
			prepare: func(tx *bolt.Tx) error { return createV2(tx, "3") },
			wantVer: "3",
		},
		{
			name:    "version 1 is migrated",
			prepare: func(tx *bolt.Tx) error { return createV1(tx, "1") },
			wantVer: "3",
		},
		{
			name:    "version 2 is migrated",
			prepare: func(tx *bolt.Tx) error { return createV2(tx, "2") },
			wantVer: "3",
		},
		{
			name: "newer version",
			prepare: func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket(bucketMeta)
				return b.Put(keySchemaVersion, []byte("99"))
			},
			wantErr: "database schema version 99 is newer than this roster supports (3); upgrade roster",
			wantVer: "99",
		},
		{
			name: "garbage version",
			prepare: func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket(bucketMeta)
				return b.Put(keySchemaVersion, []byte("one"))
			},
			wantErr: `invalid schema version "one"`,
			wantVer: "one",
		},
		{
			name: "foreign file",
			prepare: func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("widgets"))
				return err
			},
			wantErr: `not a roster database`,
			wantVer: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "roster.db")
			if tt.prepare != nil {
				rawUpdate(t, path, tt.prepare)
			}
			d, err := Open(path, Options{})
			if err == nil {
				d.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Open() = %v, want no error", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Open() = nil error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Open() = %q, want it to contain %q", err, tt.wantErr)
			}
			if got := schemaVersion(t, path); got != tt.wantVer {
				t.Errorf("schema_version after Open = %q, want %q", got, tt.wantVer)
			}
		})
	}
}

// TestMigrations replaces the package's migration table, so it must not
// run in parallel with other tests (none of them call t.Parallel).
func TestMigrations(t *testing.T) {
	marker := func(v int) migration {
		return func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("trail"))
			if err != nil {
				return err
			}
			// The trail records the order migrations ran in.
			seq, _ := b.NextSequence()
			return b.Put(fmt.Appendf(nil, "%02d", seq), fmt.Appendf(nil, "to %d", v))
		}
	}
	fail := func(tx *bolt.Tx) error { return errors.New("disk says no") }

	tests := []struct {
		name      string
		migs      []migration
		wantErr   string
		wantVer   string
		wantTrail []string
	}{
		{name: "none to run", migs: nil, wantVer: "1"},
		{name: "one step", migs: []migration{marker(2)}, wantVer: "2", wantTrail: []string{"to 2"}},
		{name: "two steps in order", migs: []migration{marker(2), marker(3)}, wantVer: "3", wantTrail: []string{"to 2", "to 3"}},
		{
			name:    "failure rolls back every step",
			migs:    []migration{marker(2), fail},
			wantErr: "migrate schema 2 to 3: disk says no",
			wantVer: "1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := migrations
			t.Cleanup(func() { migrations = saved })
			migrations = nil // the file below is written at version 1

			path := filepath.Join(t.TempDir(), "roster.db")
			d, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			update(t, d, func(tx provisioning.Tx) error {
				return tx.PutAssignments("ada@example.com", []provisioning.Assignment{{ID: "asg-1"}})
			})
			d.Close()

			migrations = tt.migs
			d, err = Open(path, Options{})
			if err == nil {
				// Data written at version 1 survives the migration.
				view(t, d, func(tx provisioning.ReadTx) error {
					as, err := tx.Assignments("ada@example.com")
					if len(as) != 1 {
						t.Errorf("Assignments after migration = %v, %v; want 1", as, err)
					}
					return nil
				})
				d.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Open() = %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Open() = %v, want an error containing %q", err, tt.wantErr)
			}
			if got := schemaVersion(t, path); got != tt.wantVer {
				t.Errorf("schema_version = %q, want %q", got, tt.wantVer)
			}
			var trail []string
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				if b := tx.Bucket([]byte("trail")); b != nil {
					b.ForEach(func(_, v []byte) error { trail = append(trail, string(v)); return nil })
				}
				return nil
			})
			if diff := cmp.Diff(tt.wantTrail, trail); diff != "" {
				t.Errorf("migrations run (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("fresh file skips migrations", func(t *testing.T) {
		saved := migrations
		migrations = []migration{fail, fail}
		t.Cleanup(func() { migrations = saved })
		path := filepath.Join(t.TempDir(), "roster.db")
		d, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("Open(fresh) = %v, want no error", err)
		}
		d.Close()
		if got := schemaVersion(t, path); got != "3" {
			t.Errorf("schema_version of fresh file = %q, want %q", got, "3")
		}
	})
}

const helperEnv = "ROSTER_STORE_HELPER_DB"

// TestHelperProcess is not a test: TestOpenLockedByAnotherProcess runs the
// test binary again with only this function, which opens the database
// named by $ROSTER_STORE_HELPER_DB, prints "ready" and holds the file
// until stdin closes or it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestOpenLockedByAnotherProcess")
	}
	d, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // blocks until EOF
	d.Close()
	os.Exit(0)
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // kept open: the child holds the lock until we kill it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- nil // the child writes nothing more
				return
			}
		}
		ready <- fmt.Errorf("helper exited before ready: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper process not ready after 30s")
	}

	start := time.Now()
	d, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		d.Close()
		t.Fatalf("Open(locked file) = nil error, want in use")
	}
	if elapsed > 2*time.Second {
		t.Errorf("Open(locked file) took %v, want under 2s", elapsed)
	}
	if want := "open " + path + ": database is in use by another process"; err.Error() != want {
		t.Errorf("Open(locked file) = %q, want %q", err, want)
	}
	if !errors.Is(err, ErrInUse) || !errors.Is(err, berrors.ErrTimeout) {
		t.Errorf("Open(locked file) = %v, want errors.Is ErrInUse and bbolt ErrTimeout", err)
	}
}

func TestAssignments(t *testing.T) {
	d := openTest(t)
	ada := []provisioning.Assignment{
		{ID: "asg-1", Email: "ada@example.com", Source: provisioning.SourceDirect, GrantedBy: "U1", CreatedAt: t0},
		{ID: "asg-2", Email: "ada@example.com", Source: provisioning.SourceRequest, Ref: "req-1", GrantedBy: "U2", Reason: "on call", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)},
	}
	bob := []provisioning.Assignment{{ID: "asg-3", Email: "bob@example.com", Source: provisioning.SourceGroup, Ref: "eng", GrantedBy: "system", CreatedAt: t0}}
	cy := []provisioning.Assignment{{ID: "asg-4", Email: "cy@example.com", Source: provisioning.SourceAdopted, GrantedBy: "system", CreatedAt: t0}}
	update(t, d, func(tx provisioning.Tx) error {
		return errors.Join(
			tx.PutAssignments("cy@example.com", cy),
			tx.PutAssignments("ada@example.com", ada),
			tx.PutAssignments("bob@example.com", bob),
			tx.PutAssignments("gone@example.com", bob),
			tx.PutAssignments("gone@example.com", nil), // deletes
			tx.PutAssignments("never@example.com", []provisioning.Assignment{}),
		)
	})

	tests := []struct {
		email string
		want  []provisioning.Assignment
	}{
		{"ada@example.com", ada},
		{"bob@example.com", bob},
		{"gone@example.com", nil},
		{"nobody@example.com", nil},
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		for _, tt := range tests {
			got, err := tx.Assignments(tt.email)
			if err != nil {
				t.Errorf("Assignments(%q) error: %v", tt.email, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Assignments(%q) (-want +got):\n%s", tt.email, diff)
			}
		}
		return nil
	})

	t.Run("ForEachAssignments", func(t *testing.T) {
		var emails []string
		all := map[string][]provisioning.Assignment{}
		view(t, d, func(tx provisioning.ReadTx) error {
			return tx.ForEachAssignments(func(email string, as []provisioning.Assignment) error {
				emails = append(emails, email)
				all[email] = as
				return nil
			})
		})
		if diff := cmp.Diff([]string{"ada@example.com", "bob@example.com", "cy@example.com"}, emails); diff != "" {
			t.Errorf("ForEachAssignments order (-want +got):\n%s", diff)
		}
		want := map[string][]provisioning.Assignment{"ada@example.com": ada, "bob@example.com": bob, "cy@example.com": cy}
		if diff := cmp.Diff(want, all); diff != "" {
			t.Errorf("ForEachAssignments values (-want +got):\n%s", diff)
		}
	})

	t.Run("ForEachAssignments stops on error", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := d.View(t.Context(), func(tx provisioning.ReadTx) error {
			return tx.ForEachAssignments(func(string, []provisioning.Assignment) error {
				calls++
				return stop
			})
		})
		if err != stop || calls != 1 {
			t.Errorf("ForEachAssignments(fn failing) = %v after %d calls, want %v after 1", err, calls, stop)
		}
	})

	t.Run("empty email", func(t *testing.T) {
		err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutAssignments("", ada) })
		if !errors.Is(err, provisioning.ErrInvalid) {
			t.Errorf("PutAssignments(\"\") = %v, want ErrInvalid", err)
		}
	})
}

func TestRequests(t *testing.T) {
	d := openTest(t)
	r := provisioning.Request{
		ID: "req-000000000001", Email: "ada@example.com", RequestedBy: "U1", Duration: 72 * time.Hour,
		Reason: "contractor", Status: provisioning.StatusPending, Channel: "C1", MessageTS: "1700000000.000100",
		Decisions: []provisioning.Decision{{By: "U2", Approved: true, Reason: "ok", At: t0}},
		CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
	}
	update(t, d, func(tx provisioning.Tx) error { return tx.PutRequest(r) })
	view(t, d, func(tx provisioning.ReadTx) error {
		got, err := tx.Request(r.ID)
		if err != nil {
			t.Fatalf("Request(%q) error: %v", r.ID, err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("Request(%q) (-want +got):\n%s", r.ID, diff)
		}
		if _, err := tx.Request("req-missing"); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("Request(missing) = %v, want ErrNotFound", err)
		}
		return nil
	})
	err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutRequest(provisioning.Request{}) })
	if !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("PutRequest(no id) = %v, want ErrInvalid", err)
	}
}

func TestJobRoundTrip(t *testing.T) {
	d := openTest(t)
	j := provisioning.Job{
		ID: "job-000000000001", Email: "ada@example.com", Intent: provisioning.ActionInvite, Action: provisioning.ActionInvite,
		State: provisioning.JobDone, Attempts: 2, NextAttempt: t0, LastError: "429", StartedBy: "U1", DryRun: true,
		AccountID: "W123", CreatedAt: t0, UpdatedAt: t0.Add(time.Second), FinishedAt: t0.Add(2 * time.Second),
	}
	putJobs(t, d, j)
	view(t, d, func(tx provisioning.ReadTx) error {
		got, err := tx.Job(j.ID)
		if err != nil {
			t.Fatalf("Job(%q) error: %v", j.ID, err)
		}
		if diff := cmp.Diff(j, got); diff != "" {
			t.Errorf("Job(%q) (-want +got):\n%s", j.ID, diff)
		}
		if _, err := tx.Job("job-missing"); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("Job(missing) = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func TestPutJobInvalid(t *testing.T) {
	d := openTest(t)
	putJobs(t, d, provisioning.Job{ID: "job-1", Email: "ada@example.com", State: provisioning.JobPending})
	tests := []struct {
		name string
		job  provisioning.Job
	}{
		{"empty id", provisioning.Job{Email: "ada@example.com", State: provisioning.JobPending}},
		{"empty state", provisioning.Job{ID: "job-2", Email: "ada@example.com"}},
		{"unknown state", provisioning.Job{ID: "job-2", Email: "ada@example.com", State: "sleeping"}},
		{"empty email", provisioning.Job{ID: "job-2", State: provisioning.JobPending}},
		{"NUL in email", provisioning.Job{ID: "job-2", Email: "a\x00b", State: provisioning.JobDone}},
		{"second pending job for an email", provisioning.Job{ID: "job-2", Email: "ada@example.com", State: provisioning.JobPending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutJob(tt.job) })
			if !errors.Is(err, provisioning.ErrInvalid) {
				t.Errorf("PutJob(%+v) = %v, want ErrInvalid", tt.job, err)
			}
			checkJobIndexes(t, d)
		})
	}
	if err := d.View(t.Context(), func(tx provisioning.ReadTx) error {
		_, err := tx.JobsInState("sleeping", 10)
		return err
	}); !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("JobsInState(sleeping) = %v, want ErrInvalid", err)
	}
}

// checkJobIndexes checks every job index and counter against the
// canonical jobs bucket, in both directions.
func checkJobIndexes(t testing.TB, d *DB) {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	d.db.View(func(tx *bolt.Tx) error {
		jobs := map[string]provisioning.Job{}
		counts := map[provisioning.JobState]int{}
		tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var j provisioning.Job
			if err := json.Unmarshal(v, &j); err != nil {
				bad("jobs/%s: %v", k, err)
				return nil
			}
			if j.ID != string(k) {
				bad("jobs/%s holds job %s", k, j.ID)
			}
			jobs[j.ID] = j
			counts[j.State]++
			return nil
		})

		// Forward: every job has exactly the entries its record implies.
		for id, j := range jobs {
			for state, name := range stateBuckets {
				var present bool
				if state == provisioning.JobPending {
					present = tx.Bucket(name).Get(dueKey(j)) != nil
				} else {
					present = tx.Bucket(name).Get([]byte(id)) != nil
				}
				if present != (j.State == state) {
					bad("job %s (%s): in %s = %v", id, j.State, name, present)
				}
			}
			if tx.Bucket(bucketJobsEmail).Get(emailKey(j)) == nil {
				bad("job %s: missing from %s", id, bucketJobsEmail)
			}
			pe := string(tx.Bucket(bucketJobsPendingEmail).Get([]byte(j.Email)))
			if j.State == provisioning.JobPending && pe != id {
				bad("job %s: %s[%s] = %q, want it", id, bucketJobsPendingEmail, j.Email, pe)
			}
		}

		// Backward: every index entry names a job that justifies it.
		tx.Bucket(bucketJobsPending).ForEach(func(k, v []byte) error {
			j, ok := jobs[string(v)]
			if !ok || j.State != provisioning.JobPending || !bytes.Equal(k, dueKey(j)) {
				bad("%s entry %x → %s does not match job %+v", bucketJobsPending, k, v, j)
			}
			return nil
		})
		for _, state := range []provisioning.JobState{provisioning.JobRunning, provisioning.JobDone, provisioning.JobFailed} {
			tx.Bucket(stateBuckets[state]).ForEach(func(k, v []byte) error {
				if j, ok := jobs[string(k)]; !ok || j.State != state || len(v) != 0 {
					bad("%s entry %s does not match job %+v", stateBuckets[state], k, j)
				}
				return nil
			})
		}
		tx.Bucket(bucketJobsPendingEmail).ForEach(func(k, v []byte) error {
			if j, ok := jobs[string(v)]; !ok || j.State != provisioning.JobPending || j.Email != string(k) {
				bad("%s entry %s → %s does not match job %+v", bucketJobsPendingEmail, k, v, j)
			}
			return nil
		})
		tx.Bucket(bucketJobsEmail).ForEach(func(k, v []byte) error {
			email, id, ok := bytes.Cut(k, []byte{0})
			if j, found := jobs[string(id)]; !ok || !found || j.Email != string(email) || len(v) != 0 {
				bad("%s entry %q does not match job %+v", bucketJobsEmail, k, j)
			}
			return nil
		})
		for _, s := range jobStates {
			if got := int(getCount(tx.Bucket(bucketJobsCount), s)); got != counts[s] {
				bad("count of %s = %d, want %d", s, got, counts[s])
			}
		}
		return nil
	})
	for _, p := range problems {
		t.Errorf("index inconsistency: %s", p)
	}
}

func TestPutJobTransitions(t *testing.T) {
	d := openTest(t)
	j := provisioning.Job{ID: "job-000000000001", Email: "ada@example.com", Intent: provisioning.ActionInvite,
		State: provisioning.JobPending, NextAttempt: t0, StartedBy: "U1", CreatedAt: t0}
	other := provisioning.Job{ID: "job-000000000002", Email: "bob@example.com", Intent: provisioning.ActionDeactivate,
		State: provisioning.JobPending, NextAttempt: t0.Add(time.Minute), CreatedAt: t0}

	steps := []struct {
		name       string
		job        provisioning.Job
		wantCounts map[provisioning.JobState]int
		wantDue    []string // DueJobs(t0+1h, 10)
		wantPend   bool     // PendingJob(ada) exists
	}{
		{"enqueue", j, map[provisioning.JobState]int{provisioning.JobPending: 2}, []string{j.ID, other.ID}, true},
		{"claim", with(j, func(j *provisioning.Job) { j.State, j.Attempts = provisioning.JobRunning, 1 }),
			map[provisioning.JobState]int{provisioning.JobPending: 1, provisioning.JobRunning: 1}, []string{other.ID}, false},
		{"retry later", with(j, func(j *provisioning.Job) {
			j.State, j.Attempts, j.NextAttempt, j.LastError = provisioning.JobPending, 1, t0.Add(30*time.Minute), "429"
		}), map[provisioning.JobState]int{provisioning.JobPending: 2}, []string{other.ID, j.ID}, true},
		{"reschedule while pending", with(j, func(j *provisioning.Job) {
			j.State, j.Attempts, j.NextAttempt = provisioning.JobPending, 1, t0.Add(2*time.Hour)
		}), map[provisioning.JobState]int{provisioning.JobPending: 2}, []string{other.ID}, true},
		{"claim again", with(j, func(j *provisioning.Job) { j.State, j.Attempts = provisioning.JobRunning, 2 }),
			map[provisioning.JobState]int{provisioning.JobPending: 1, provisioning.JobRunning: 1}, []string{other.ID}, false},
		{"done", with(j, func(j *provisioning.Job) {
			j.State, j.Attempts, j.Action, j.FinishedAt = provisioning.JobDone, 2, provisioning.ActionInvite, t0.Add(time.Hour)
		}), map[provisioning.JobState]int{provisioning.JobPending: 1, provisioning.JobDone: 1}, []string{other.ID}, false},
		{"other running", with(other, func(j *provisioning.Job) { j.State = provisioning.JobRunning }),
			map[provisioning.JobState]int{provisioning.JobRunning: 1, provisioning.JobDone: 1}, nil, false},
		{"other failed", with(other, func(j *provisioning.Job) {
			j.State, j.LastError = provisioning.JobFailed, "cannot_disable_primary_owner"
		}),
			map[provisioning.JobState]int{provisioning.JobDone: 1, provisioning.JobFailed: 1}, nil, false},
		{"new pending for ada after done", provisioning.Job{ID: "job-000000000003", Email: "ada@example.com", State: provisioning.JobPending, NextAttempt: t0},
			map[provisioning.JobState]int{provisioning.JobPending: 1, provisioning.JobDone: 1, provisioning.JobFailed: 1}, []string{"job-000000000003"}, true},
		{"pending job moves to another email", provisioning.Job{ID: "job-000000000003", Email: "cy@example.com", State: provisioning.JobPending, NextAttempt: t0},
			map[provisioning.JobState]int{provisioning.JobPending: 1, provisioning.JobDone: 1, provisioning.JobFailed: 1}, []string{"job-000000000003"}, false},
	}
	putJobs(t, d, other)
	for _, st := range steps {
		putJobs(t, d, st.job)
		checkJobIndexes(t, d)
		view(t, d, func(tx provisioning.ReadTx) error {
			got, err := tx.Job(st.job.ID)
			if err != nil || !cmp.Equal(got, st.job) {
				t.Errorf("%s: Job(%s) = %+v, %v; want %+v", st.name, st.job.ID, got, err, st.job)
			}
			counts, _ := tx.CountJobs()
			want := map[provisioning.JobState]int{provisioning.JobPending: 0, provisioning.JobRunning: 0, provisioning.JobDone: 0, provisioning.JobFailed: 0}
			for s, n := range st.wantCounts {
				want[s] = n
			}
			if diff := cmp.Diff(want, counts); diff != "" {
				t.Errorf("%s: CountJobs() (-want +got):\n%s", st.name, diff)
			}
			due, err := tx.DueJobs(t0.Add(time.Hour), 10)
			if err != nil {
				t.Errorf("%s: DueJobs error: %v", st.name, err)
			}
			if diff := cmp.Diff(st.wantDue, ids(due), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: DueJobs(t0+1h, 10) (-want +got):\n%s", st.name, diff)
			}
			p, ok, err := tx.PendingJob("ada@example.com")
			if err != nil || ok != st.wantPend || (ok && p.State != provisioning.JobPending) {
				t.Errorf("%s: PendingJob(ada) = %+v, %v, %v; want pending=%v", st.name, p, ok, err, st.wantPend)
			}
			return nil
		})
	}
}

func with(j provisioning.Job, f func(*provisioning.Job)) provisioning.Job {
	f(&j)
	return j
}

// CountJobs inside an Update must see the Update's own writes, which
// bbolt's Bucket.Stats does not.
func TestCountJobsInsideUpdate(t *testing.T) {
	d := openTest(t)
	update(t, d, func(tx provisioning.Tx) error {
		for i := range 3 {
			if err := tx.PutJob(provisioning.Job{ID: fmt.Sprintf("job-%d", i), Email: fmt.Sprintf("u%d@example.com", i), State: provisioning.JobDone}); err != nil {
				return err
			}
		}
		counts, err := tx.CountJobs()
		if err != nil || counts[provisioning.JobDone] != 3 {
			t.Errorf("CountJobs() inside Update = %v, %v; want done: 3", counts, err)
		}
		return nil
	})
}

func TestDueJobs(t *testing.T) {
	d := openTest(t)
	// IDs deliberately out of due order.
	putJobs(t, d,
		provisioning.Job{ID: "job-a", Email: "a@example.com", State: provisioning.JobPending, NextAttempt: t0.Add(2 * time.Minute)},
		provisioning.Job{ID: "job-b", Email: "b@example.com", State: provisioning.JobPending, NextAttempt: t0},
		provisioning.Job{ID: "job-c", Email: "c@example.com", State: provisioning.JobPending, NextAttempt: t0.Add(time.Minute)},
		provisioning.Job{ID: "job-d", Email: "d@example.com", State: provisioning.JobPending, NextAttempt: t0.Add(time.Minute)},
		provisioning.Job{ID: "job-e", Email: "e@example.com", State: provisioning.JobPending}, // zero: due at once
		provisioning.Job{ID: "job-f", Email: "f@example.com", State: provisioning.JobRunning, NextAttempt: t0.Add(-time.Hour)},
	)
	tests := []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{t0.Add(-time.Hour), 10, []string{"job-e"}},
		{t0, 10, []string{"job-e", "job-b"}},
		{t0.Add(time.Minute - 1), 10, []string{"job-e", "job-b"}},
		{t0.Add(time.Minute), 10, []string{"job-e", "job-b", "job-c", "job-d"}},
		{t0.Add(time.Hour), 10, []string{"job-e", "job-b", "job-c", "job-d", "job-a"}},
		{t0.Add(time.Hour), 3, []string{"job-e", "job-b", "job-c"}},
		{t0.Add(time.Hour), 1, []string{"job-e"}},
		{t0.Add(time.Hour), 0, nil},
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		for _, tt := range tests {
			got, err := tx.DueJobs(tt.now, tt.limit)
			if err != nil {
				t.Errorf("DueJobs(%v, %d) error: %v", tt.now, tt.limit, err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("DueJobs(t0%+v, %d) = %v, want %v", tt.now.Sub(t0), tt.limit, ids(got), tt.want)
			}
		}
		next, ok, err := tx.NextDue()
		if err != nil || !ok || !next.IsZero() {
			t.Errorf("NextDue() = %v, %v, %v; want zero time, true, nil", next, ok, err)
		}
		return nil
	})

	putJobs(t, d, provisioning.Job{ID: "job-e", Email: "e@example.com", State: provisioning.JobDone})
	view(t, d, func(tx provisioning.ReadTx) error {
		next, ok, err := tx.NextDue()
		if err != nil || !ok || !next.Equal(t0) {
			t.Errorf("NextDue() = %v, %v, %v; want %v, true, nil", next, ok, err, t0)
		}
		return nil
	})
}

func TestNextDueEmpty(t *testing.T) {
	d := openTest(t)
	putJobs(t, d, provisioning.Job{ID: "job-1", Email: "a@example.com", State: provisioning.JobDone})
	view(t, d, func(tx provisioning.ReadTx) error {
		if next, ok, err := tx.NextDue(); ok || err != nil {
			t.Errorf("NextDue() = %v, %v, %v; want false", next, ok, err)
		}
		return nil
	})
}

func TestJobsInStateAndForEmail(t *testing.T) {
	d := openTest(t)
	var jobs []provisioning.Job
	update(t, d, func(tx provisioning.Tx) error {
		// ada: 4 done jobs then one pending; bob: one failed, one pending.
		add := func(email string, state provisioning.JobState, due time.Time) error {
			id, err := tx.NewID("job")
			if err != nil {
				return err
			}
			j := provisioning.Job{ID: id, Email: email, State: state, NextAttempt: due}
			jobs = append(jobs, j)
			return tx.PutJob(j)
		}
		return errors.Join(
			add("ada@example.com", provisioning.JobDone, t0),
			add("bob@example.com", provisioning.JobFailed, t0),
			add("ada@example.com", provisioning.JobDone, t0),
			add("ada@example.com", provisioning.JobDone, t0),
			add("ada@example.com", provisioning.JobDone, t0),
			add("bob@example.com", provisioning.JobPending, t0.Add(time.Hour)), // later due, older ID
			add("ada@example.com", provisioning.JobPending, t0),
			add("ada@example.comx", provisioning.JobDone, t0), // shares a prefix with ada's email
		)
	})
	checkJobIndexes(t, d)
	id := func(i int) string { return jobs[i].ID }

	tests := []struct {
		name string
		get  func(provisioning.ReadTx) ([]provisioning.Job, error)
		want []string
	}{
		{"JobsInState(done, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsInState(provisioning.JobDone, 10)
		}, []string{id(7), id(4), id(3), id(2), id(0)}},
		{"JobsInState(done, 2)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsInState(provisioning.JobDone, 2)
		}, []string{id(7), id(4)}},
		{"JobsInState(pending, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsInState(provisioning.JobPending, 10)
		}, []string{id(6), id(5)}},
		{"JobsInState(pending, 1)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsInState(provisioning.JobPending, 1)
		}, []string{id(6)}},
		{"JobsInState(running, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsInState(provisioning.JobRunning, 10)
		}, nil},
		{"JobsInState(failed, 0)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsInState(provisioning.JobFailed, 0)
		}, nil},
		{"JobsForEmail(ada, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsForEmail("ada@example.com", 10)
		}, []string{id(6), id(4), id(3), id(2), id(0)}},
		{"JobsForEmail(ada, 3)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsForEmail("ada@example.com", 3)
		}, []string{id(6), id(4), id(3)}},
		{"JobsForEmail(bob, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsForEmail("bob@example.com", 10)
		}, []string{id(5), id(1)}},
		{"JobsForEmail(ada@example.comx, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsForEmail("ada@example.comx", 10) // last key in the bucket
		}, []string{id(7)}},
		{"JobsForEmail(ada@example.co, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsForEmail("ada@example.co", 10)
		}, nil},
		{"JobsForEmail(zed, 10)", func(tx provisioning.ReadTx) ([]provisioning.Job, error) {
			return tx.JobsForEmail("zed@example.com", 10)
		}, nil},
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		for _, tt := range tests {
			got, err := tt.get(tx)
			if err != nil {
				t.Errorf("%s error: %v", tt.name, err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("%s = %v, want %v", tt.name, ids(got), tt.want)
			}
		}
		p, ok, err := tx.PendingJob("bob@example.com")
		if err != nil || !ok || p.ID != id(5) {
			t.Errorf("PendingJob(bob) = %v, %v, %v; want %s", p.ID, ok, err, id(5))
		}
		if p, ok, err := tx.PendingJob("zed@example.com"); ok || err != nil {
			t.Errorf("PendingJob(zed) = %v, %v, %v; want none", p.ID, ok, err)
		}
		return nil
	})
}

func TestAudit(t *testing.T) {
	d := openTest(t)
	evs := []provisioning.AuditEvent{
		{At: t0.Add(2 * time.Second), Actor: "U1", Action: "assign", Email: "ada@example.com", Outcome: "ok", Detail: "direct"},
		{At: t0, Actor: "system", Action: "job.invite", Email: "bob@example.com", Outcome: "ok"},
		{At: t0.Add(time.Second), Actor: "U2", Action: "refuse", Outcome: "refused"},
		{At: t0.Add(time.Second), Actor: "U3", Action: "revoke", Outcome: "ok"}, // same instant: append order
		{Actor: "U4", Action: "assign", Outcome: "dry-run"},                     // zero At: store clock (t0)
	}
	var stored []provisioning.AuditEvent
	update(t, d, func(tx provisioning.Tx) error {
		for _, ev := range evs {
			got, err := tx.AppendAudit(ev)
			if err != nil {
				return err
			}
			stored = append(stored, got)
		}
		return nil
	})
	seen := map[string]bool{}
	for i, ev := range stored {
		if len(ev.ID) != 32 || seen[ev.ID] {
			t.Errorf("AppendAudit(%d).ID = %q, want 32 unique hex digits", i, ev.ID)
		}
		seen[ev.ID] = true
	}
	if !stored[4].At.Equal(t0) {
		t.Errorf("AppendAudit(zero At).At = %v, want store clock %v", stored[4].At, t0)
	}
	// Oldest first: by At, then by append order.
	order := []provisioning.AuditEvent{stored[1], stored[4], stored[2], stored[3], stored[0]}
	for i := 1; i < len(order); i++ {
		if order[i-1].ID >= order[i].ID {
			t.Errorf("audit ID %s (%s) sorts after %s (%s)", order[i-1].ID, order[i-1].Action, order[i].ID, order[i].Action)
		}
	}

	tests := []struct {
		since time.Time
		want  []provisioning.AuditEvent
	}{
		{time.Time{}, order},
		{t0, order},
		{t0.Add(1), order[2:]},
		{t0.Add(time.Second), order[2:]},
		{t0.Add(2 * time.Second), order[4:]},
		{t0.Add(time.Hour), nil},
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		for _, tt := range tests {
			var got []provisioning.AuditEvent
			if err := tx.Audit(tt.since, func(ev provisioning.AuditEvent) error {
				got = append(got, ev)
				return nil
			}); err != nil {
				t.Errorf("Audit(%v) error: %v", tt.since, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Audit(%v) (-want +got):\n%s", tt.since, diff)
			}
		}
		for _, limit := range []int{0, 1, 3, 5, 10} {
			got, err := tx.RecentAudit(limit)
			want := slices.Clone(order)
			slices.Reverse(want)
			want = want[:min(limit, len(want))]
			if err != nil {
				t.Errorf("RecentAudit(%d) error: %v", limit, err)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("RecentAudit(%d) (-want +got):\n%s", limit, diff)
			}
		}
		stop := errors.New("stop")
		n := 0
		if err := tx.Audit(time.Time{}, func(provisioning.AuditEvent) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("Audit(fn failing) = %v after %d calls, want %v after 1", err, n, stop)
		}
		return nil
	})
}

func TestNewID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	newIDs := func(d *DB, n int) {
		update(t, d, func(tx provisioning.Tx) error {
			for i := range n {
				prefix := []string{"job", "asg", "req"}[i%3]
				id, err := tx.NewID(prefix)
				if err != nil {
					return err
				}
				if !strings.HasPrefix(id, prefix+"-") || len(id) != len(prefix)+13 {
					t.Errorf("NewID(%q) = %q, want %s- and 12 hex digits", prefix, id, prefix)
				}
				got = append(got, id[strings.Index(id, "-")+1:])
			}
			return nil
		})
	}
	newIDs(d, 10)
	newIDs(d, 300)
	// An ID from a rolled-back transaction is not consumed.
	d.Update(t.Context(), func(tx provisioning.Tx) error {
		tx.NewID("job")
		return errors.New("roll back")
	})
	d.Close()
	d, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	newIDs(d, 10)

	if !slices.IsSorted(got) {
		t.Errorf("NewID sequence is not in lexical order: %v", got)
	}
	if n := len(slices.Compact(slices.Clone(got))); n != len(got) {
		t.Errorf("NewID returned %d unique IDs in %d calls", n, len(got))
	}
	if err := d.Update(t.Context(), func(tx provisioning.Tx) error { _, err := tx.NewID(""); return err }); !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("NewID(\"\") = %v, want ErrInvalid", err)
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	d := openTest(t)
	boom := errors.New("boom")
	err := d.Update(t.Context(), func(tx provisioning.Tx) error {
		if err := tx.PutAssignments("ada@example.com", []provisioning.Assignment{{ID: "asg-1"}}); err != nil {
			return err
		}
		if err := tx.PutJob(provisioning.Job{ID: "job-1", Email: "ada@example.com", State: provisioning.JobPending}); err != nil {
			return err
		}
		if err := tx.PutRequest(provisioning.Request{ID: "req-1"}); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(provisioning.AuditEvent{Action: "assign"}); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if as, _ := tx.Assignments("ada@example.com"); len(as) != 1 {
			t.Errorf("Assignments inside Update = %v, want 1", as)
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update(fn returning boom) = %v, want boom itself", err)
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		as, _ := tx.Assignments("ada@example.com")
		_, jerr := tx.Job("job-1")
		_, rerr := tx.Request("req-1")
		_, pending, _ := tx.PendingJob("ada@example.com")
		evs, _ := tx.RecentAudit(10)
		counts, _ := tx.CountJobs()
		if len(as) != 0 || !errors.Is(jerr, provisioning.ErrNotFound) || !errors.Is(rerr, provisioning.ErrNotFound) ||
			pending || len(evs) != 0 || counts[provisioning.JobPending] != 0 {
			t.Errorf("after rollback: assignments %v, job %v, request %v, pending %v, audit %v, counts %v; want nothing",
				as, jerr, rerr, pending, evs, counts)
		}
		return nil
	})
	checkJobIndexes(t, d)
}

func TestUpdatePanicRollsBack(t *testing.T) {
	d := openTest(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("Update(fn panicking) did not panic")
			}
		}()
		d.Update(t.Context(), func(tx provisioning.Tx) error {
			tx.PutAssignments("ada@example.com", []provisioning.Assignment{{ID: "asg-1"}})
			panic("oops")
		})
	}()
	// The write lock was released and nothing was written.
	view(t, d, func(tx provisioning.ReadTx) error {
		if as, _ := tx.Assignments("ada@example.com"); len(as) != 0 {
			t.Errorf("Assignments after panic = %v, want none", as)
		}
		return nil
	})
	update(t, d, func(tx provisioning.Tx) error { return nil })
}

func TestCanceledContext(t *testing.T) {
	d := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	if err := d.Update(ctx, func(provisioning.Tx) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("Update(canceled ctx) = %v (fn called: %v), want context.Canceled and no call", err, called)
	}
	if err := d.View(ctx, func(provisioning.ReadTx) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("View(canceled ctx) = %v (fn called: %v), want context.Canceled and no call", err, called)
	}
	if _, err := d.Backup(ctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup(canceled ctx) = %v, want context.Canceled", err)
	}
}

func TestViewIsReadOnly(t *testing.T) {
	d := openTest(t)
	view(t, d, func(tx provisioning.ReadTx) error {
		if _, ok := tx.(provisioning.Tx); ok {
			t.Errorf("View's ReadTx is also a provisioning.Tx")
		}
		return nil
	})
}

func TestConcurrentUpdates(t *testing.T) {
	d := openTest(t)
	const n = 50
	const email = "ada@example.com"
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- d.Update(t.Context(), func(tx provisioning.Tx) error {
				as, err := tx.Assignments(email)
				if err != nil {
					return err
				}
				id, err := tx.NewID("asg")
				if err != nil {
					return err
				}
				as = append(as, provisioning.Assignment{ID: id, Email: email, Source: provisioning.SourceDirect, GrantedBy: fmt.Sprint("U", i)})
				return tx.PutAssignments(email, as)
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		as, err := tx.Assignments(email)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, a := range as {
			ids[a.ID] = true
		}
		if len(as) != n || len(ids) != n {
			t.Errorf("after %d concurrent appends: %d assignments with %d distinct IDs, want %d", n, len(as), len(ids), n)
		}
		return nil
	})
}

// TestBackupWhileWriting takes backups while another goroutine keeps
// committing; each backup must be a sound bbolt file holding at least what
// was committed before it started.
func TestBackupWhileWriting(t *testing.T) {
	d := openTest(t)
	var committed atomic.Int64
	progress := make(chan int64, 1)
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	var stopOnce sync.Once
	stopWriter := func() error {
		stopOnce.Do(func() { close(stop) })
		return <-writerDone
	}
	// Registered after openTest, so it runs before the store closes, even
	// if the test fails early.
	t.Cleanup(func() { stopWriter() })
	go func() {
		defer close(writerDone)
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			email := fmt.Sprintf("u%06d@example.com", i)
			err := d.Update(context.Background(), func(tx provisioning.Tx) error {
				// A fat record so that the file grows and remaps meanwhile.
				as := []provisioning.Assignment{{ID: fmt.Sprint("asg-", i), Email: email, Reason: strings.Repeat("r", 2000)}}
				if err := tx.PutAssignments(email, as); err != nil {
					return err
				}
				if err := tx.PutJob(provisioning.Job{ID: fmt.Sprintf("job-%06d", i), Email: email, State: provisioning.JobPending, NextAttempt: t0}); err != nil {
					return err
				}
				_, err := tx.AppendAudit(provisioning.AuditEvent{Action: "assign", Email: email})
				return err
			})
			if err != nil {
				writerDone <- err
				return
			}
			n := committed.Add(1)
			select {
			case progress <- n:
			default:
			}
		}
	}()

	dir := t.TempDir()
	var last int64
	for b := range 5 {
		// Let the writer commit some more first.
		for n := last; n < last+20; {
			select {
			case n = <-progress:
			case err := <-writerDone:
				t.Fatalf("writer stopped: %v", err)
			}
		}
		before := committed.Load()
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", b))
		if b%2 == 0 {
			if err := d.BackupFile(t.Context(), path); err != nil {
				t.Fatalf("BackupFile: %v", err)
			}
		} else {
			var buf bytes.Buffer
			n, err := d.Backup(t.Context(), &buf)
			if err != nil || n != int64(buf.Len()) {
				t.Fatalf("Backup() = %d, %v; wrote %d bytes", n, err, buf.Len())
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		last = before
		checkBackup(t, path, before)
	}
	if err := stopWriter(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	checkJobIndexes(t, d)
}

// checkBackup opens the backup at path and checks it holds at least n
// records of each kind and passes bbolt's consistency check.
func checkBackup(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup %s mode = %v, want 0600", path, fi.Mode().Perm())
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	boltCheck(t, db)
	db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketAssignments, bucketJobs, bucketJobsPending, bucketJobsEmail, bucketAudit} {
			if got := tx.Bucket(name).Stats().KeyN; int64(got) < n {
				t.Errorf("backup %s: %s has %d keys, want ≥ %d committed before the backup", filepath.Base(path), name, got, n)
			}
		}
		return nil
	})
	db.Close()
	d, err := Open(path, Options{}) // and it is a roster database
	if err != nil {
		t.Fatalf("Open(backup) = %v", err)
	}
	checkJobIndexes(t, d)
	d.Close()
}

func TestBackupFile(t *testing.T) {
	d := openTest(t)
	update(t, d, func(tx provisioning.Tx) error {
		_, err := tx.AppendAudit(provisioning.AuditEvent{Action: "assign"})
		return errors.Join(err,
			tx.PutAssignments("ada@example.com", []provisioning.Assignment{{ID: "asg-1"}}),
			tx.PutJob(provisioning.Job{ID: "job-1", Email: "ada@example.com", State: provisioning.JobPending}),
		)
	})
	path := filepath.Join(t.TempDir(), "backup.db")
	// A stale, world-readable temporary file from a crashed backup.
	if err := os.WriteFile(path+".tmp", []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.BackupFile(t.Context(), path); err != nil {
		t.Fatalf("BackupFile: %v", err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	checkBackup(t, path, 1)
	// Overwriting an older backup works too.
	if err := d.BackupFile(t.Context(), path); err != nil {
		t.Fatalf("BackupFile over an older backup: %v", err)
	}
	if err := d.BackupFile(t.Context(), d.Path()); !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("BackupFile(own path) = %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.BackupFile(ctx, path+"2"); !errors.Is(err, context.Canceled) {
		t.Errorf("BackupFile(canceled ctx) = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(path + "2.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind after a failed backup: %v", err)
	}
}

func TestTimeKey(t *testing.T) {
	tests := []struct {
		in   time.Time
		want uint64
	}{
		{time.Time{}, 0},
		{time.Unix(-1, 0), 0},
		{time.Unix(0, 0), 0},
		{time.Unix(0, 1), 1},
		{t0, uint64(t0.UnixNano())},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := timeKey(tt.in); got != tt.want {
			t.Errorf("timeKey(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], timeKey(t0))
	if !bytes.Equal(dueKey(provisioning.Job{ID: "x", NextAttempt: t0}), append(k[:], 'x')) {
		t.Errorf("dueKey is not big-endian UnixNano + id")
	}
}

// Append-only buckets are packed (FillPercent 0.9) rather than left half
// empty by bbolt's default page split.
func TestAppendOnlyBucketsArePacked(t *testing.T) {
	d := openTest(t)
	for range 10 {
		update(t, d, func(tx provisioning.Tx) error {
			for range 500 {
				if _, err := tx.AppendAudit(provisioning.AuditEvent{Actor: "U0123456", Action: "assign", Email: "ada@example.com", Outcome: "ok"}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	d.db.View(func(tx *bolt.Tx) error {
		s := tx.Bucket(bucketAudit).Stats()
		fill := float64(s.LeafInuse) / float64(s.LeafPageN*d.db.Info().PageSize)
		if fill < 0.8 {
			t.Errorf("audit bucket leaf pages are %.0f%% full, want ≥ 80%%", 100*fill)
		}
		return nil
	})
}

func TestSettings(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if err := db.View(ctx, func(tx provisioning.ReadTx) error {
		if _, ok, err := tx.Setting("reconcile.last"); ok || err != nil {
			t.Errorf("Setting(unset) = ok %v, %v; want not ok", ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx provisioning.Tx) error { return tx.PutSetting("reconcile.last", []byte(`{"n":1}`)) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx provisioning.Tx) error { return tx.PutSetting("", nil) }); !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("PutSetting(\"\") = %v, want ErrInvalid", err)
	}
	err := db.View(ctx, func(tx provisioning.ReadTx) error {
		v, ok, err := tx.Setting("reconcile.last")
		if string(v) != `{"n":1}` || !ok || err != nil {
			t.Errorf("Setting() = %q, %v, %v; want the stored value", v, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
