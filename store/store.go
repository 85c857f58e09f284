// Package store keeps Roster's durable state in a single bbolt file and
// implements provisioning.Store.
//
// # Layout
//
// One bucket per concern; every value is JSON unless noted.
//
//	meta                schema_version → decimal version; its bucket sequence feeds NewID
//	assignments         email → []Assignment
//	requests            id → Request
//	jobs                id → Job (the canonical record, every state)
//	jobs_pending        due (8-byte big-endian UnixNano) + id → id
//	jobs_running        id → empty
//	jobs_done           id → empty
//	jobs_failed         id → empty
//	jobs_pending_email  email → id of the email's pending job
//	jobs_email          email + "\x00" + id → empty
//	jobs_count          state → 8-byte big-endian count of jobs in that state
//	audit               at (8-byte big-endian UnixNano) + 8-byte big-endian sequence → AuditEvent
//	requests_state      status + "\x00" + id → empty (schema 2)
//	requests_by         requested_by + "\x00" + id → empty (schema 2)
//	members             Slack user ID → Member: Roster's copy of the workspace directory (schema 2)
//	dir_people          email → Person: the organization's directory (schema 3)
//	dir_people_id       person ID → email (schema 3)
//	dir_groups          group ID → Group (schema 3)
//	dir_groups_name     lower-cased group name → group ID (schema 3)
//	dir_member_of       person ID + "\x00" + group ID → empty (schema 3)
//	dir_grants          kind + ":" + lower-cased target → DirectoryGrant (schema 3)
//	held                id → HeldChange (schema 3)
//
// Everything except jobs, requests, assignments, audit, members,
// dir_people, dir_groups, dir_grants and held is an index kept in step
// with its canonical bucket inside the same transaction: the jobs_*
// buckets by PutJob, the requests_* buckets by PutRequest, dir_people_id
// by PutPerson and DeletePerson, dir_groups_name and dir_member_of by
// PutGroup, DeleteGroup and DeletePerson. IDs made by NewID sort in creation order, so "newest first"
// in an id-keyed index is a reverse cursor walk.
//
// # bbolt caveats
//
//   - bbolt allows one writer at a time: Update calls are serialised, and
//     each one fsyncs on commit (milliseconds on most disks), so do a whole
//     decision in one Update rather than many small ones.
//   - A []byte returned by bbolt is valid only inside its transaction. Every
//     method here decodes or copies before returning, so nothing a caller
//     holds aliases the memory map.
//   - Never call View or Update from inside fn: bbolt transactions do not
//     nest, and a read transaction opened by the goroutine that holds the
//     write transaction can deadlock when the file has to grow.
//   - Read transactions (View, Backup) never block other readers or
//     writers, except that a commit which must grow the file waits for
//     open read transactions to finish. Keep View short.
//   - The file is locked while open. Open waits at most Options.Timeout for
//     the lock and then fails with ErrInUse; bbolt's own default is to wait
//     forever.
//   - The file never shrinks; freed pages are reused. `bbolt compact` (run
//     while Roster is stopped) reclaims space.
package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/roster-app/roster/provisioning"
)

var _ provisioning.Store = (*DB)(nil)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = time.Second

// ErrInUse reports that another process holds the database file open.
// Open's error wraps both ErrInUse and bbolt's ErrTimeout.
var ErrInUse = errors.New("database is in use by another process")

// Bucket names. Each is created in Open.
var (
	bucketMeta             = []byte("meta")
	bucketAssignments      = []byte("assignments")
	bucketRequests         = []byte("requests")
	bucketJobs             = []byte("jobs")
	bucketJobsPending      = []byte("jobs_pending")
	bucketJobsRunning      = []byte("jobs_running")
	bucketJobsDone         = []byte("jobs_done")
	bucketJobsFailed       = []byte("jobs_failed")
	bucketJobsPendingEmail = []byte("jobs_pending_email")
	bucketJobsEmail        = []byte("jobs_email")
	bucketJobsCount        = []byte("jobs_count")
	bucketAudit            = []byte("audit")
	bucketRequestsState    = []byte("requests_state")
	bucketRequestsBy       = []byte("requests_by")
	bucketMembers          = []byte("members")
	bucketPeople           = []byte("dir_people")
	bucketPeopleID         = []byte("dir_people_id")
	bucketGroups           = []byte("dir_groups")
	bucketGroupsName       = []byte("dir_groups_name")
	bucketMemberOf         = []byte("dir_member_of")
	bucketGrants           = []byte("dir_grants")
	bucketHeld             = []byte("held")

	// dirBuckets are the buckets schema 3 added.
	dirBuckets = [][]byte{
		bucketPeople, bucketPeopleID, bucketGroups, bucketGroupsName, bucketMemberOf,
		bucketGrants, bucketHeld,
	}

	allBuckets = slices.Concat([][]byte{
		bucketMeta, bucketAssignments, bucketRequests,
		bucketJobs, bucketJobsPending, bucketJobsRunning, bucketJobsDone, bucketJobsFailed,
		bucketJobsPendingEmail, bucketJobsEmail, bucketJobsCount,
		bucketAudit,
		bucketRequestsState, bucketRequestsBy, bucketMembers,
	}, dirBuckets)
)

var keySchemaVersion = []byte("schema_version")

// stateBuckets maps each job state to its index bucket.
var stateBuckets = map[provisioning.JobState][]byte{
	provisioning.JobPending: bucketJobsPending,
	provisioning.JobRunning: bucketJobsRunning,
	provisioning.JobDone:    bucketJobsDone,
	provisioning.JobFailed:  bucketJobsFailed,
}

// jobStates lists the states in a fixed order.
var jobStates = []provisioning.JobState{
	provisioning.JobPending, provisioning.JobRunning, provisioning.JobDone, provisioning.JobFailed,
}

// A migration moves the file from one schema version to the next inside
// the transaction Open runs. It sees the layout of its source version;
// buckets of the current layout are created after the last migration.
type migration func(tx *bolt.Tx) error

// migrations[i] upgrades schema version i+1 to i+2, so the version this
// binary writes is len(migrations)+1. Version 1 is the layout described in
// the package comment without the buckets marked "schema 2" or "schema 3". A new file
// gets the current layout directly; migrations run only on existing files,
// all in Open's one transaction. Append, never edit or reorder: files in
// the field were written by the older entries. Tests replace this table.
var migrations = []migration{
	migrate1to2,
	migrate2to3,
}

// migrate2to3 adds the empty buckets of the organization's directory and
// of held changes.
func migrate2to3(tx *bolt.Tx) error {
	for _, name := range dirBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrate1to2 adds the members bucket and the request indexes
// requests_state and requests_by, built from the stored requests.
func migrate1to2(tx *bolt.Tx) error {
	var bs [3]*bolt.Bucket
	for i, name := range [][]byte{bucketMembers, bucketRequestsState, bucketRequestsBy} {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
		bs[i] = b
	}
	reqs := tx.Bucket(bucketRequests)
	if reqs == nil {
		return nil
	}
	state, by := bs[1], bs[2]
	// Decode only the fields the indexes need, as schema 1 stored them.
	var r struct {
		RequestedBy string `json:"requested_by"`
		Status      string `json:"status"`
	}
	return reqs.ForEach(func(k, v []byte) error {
		r.RequestedBy, r.Status = "", ""
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode request %s: %w", k, err)
		}
		return errors.Join(
			state.Put(indexKey(r.Status, string(k)), nil),
			by.Put(indexKey(r.RequestedBy, string(k)), nil),
		)
	})
}

// Options configure Open.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file lock. Zero or less means DefaultTimeout: unlike bbolt's own
	// default, the wait is never unbounded.
	Timeout time.Duration
	// Now is the clock used to stamp audit events that have no time.
	// Nil means time.Now.
	Now func() time.Time
}

// DB is Roster's bbolt database. It is safe for concurrent use.
type DB struct {
	db   *bolt.DB
	path string
	now  func() time.Time
}

// Open opens or creates the database at path with mode 0600, creates
// every bucket and brings the schema up to date in one transaction.
//
// Errors read "open PATH: reason". If another process has the file open,
// Open fails after opts.Timeout with an error wrapping ErrInUse and
// bbolt's ErrTimeout. A file written by a newer Roster (a higher schema
// version) is refused and left untouched.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &os.PathError{Op: "open", Path: path, Err: inUseError{err}}
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, err // already "open PATH: …"
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := bdb.Update(func(tx *bolt.Tx) error { return migrate(tx, migrations) }); err != nil {
		_ = bdb.Close() // the schema error is the one to report
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &DB{db: bdb, path: path, now: opts.Now}, nil
}

// inUseError is ErrInUse carrying the bbolt error it replaces.
type inUseError struct{ timeout error }

func (e inUseError) Error() string   { return ErrInUse.Error() }
func (e inUseError) Unwrap() []error { return []error{ErrInUse, e.timeout} }

// migrate brings the file in tx to version len(migs)+1.
func migrate(tx *bolt.Tx, migs []migration) error {
	current := len(migs) + 1
	version := 0
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if raw := meta.Get(keySchemaVersion); raw != nil {
			v, err := strconv.Atoi(string(raw))
			if err != nil || v < 1 {
				return fmt.Errorf("invalid schema version %q", raw)
			}
			version = v
		}
	}
	if version == 0 {
		// No version: a new, empty file gets the current layout. Anything
		// else is not a file this package wrote.
		var name []byte
		_ = tx.ForEach(func(n []byte, _ *bolt.Bucket) error {
			if !bytes.Equal(n, bucketMeta) {
				name = slices.Clone(n)
				return errStop
			}
			return nil
		})
		if name != nil {
			return fmt.Errorf("no schema version, but the file has bucket %q: not a roster database", name)
		}
		version = current
	}
	if version > current {
		return fmt.Errorf("database schema version %d is newer than this roster supports (%d); upgrade roster", version, current)
	}
	from := version
	for ; version < current; version++ {
		if err := migs[version-1](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", version, version+1, err)
		}
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if from != current || meta.Get(keySchemaVersion) == nil {
		if err := meta.Put(keySchemaVersion, []byte(strconv.Itoa(current))); err != nil {
			return fmt.Errorf("write schema version: %w", err)
		}
	}
	return nil
}

// errStop ends a bbolt ForEach early.
var errStop = errors.New("stop")

// Path returns the file name the database was opened with.
func (d *DB) Path() string { return d.path }

// Close releases the file lock and closes the file. It waits for open
// transactions to finish.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", d.path, err)
	}
	return nil
}

// Update runs fn in one read-write transaction and commits if fn returns
// nil. If fn returns an error (or panics), nothing is written and the
// error is returned unchanged. Update fails with ctx.Err() without calling
// fn if ctx is done before the transaction starts.
//
// Only one Update runs at a time. fn must not call View or Update, and
// must not keep the Tx after it returns.
func (d *DB) Update(ctx context.Context, fn func(provisioning.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	btx, err := d.db.Begin(true)
	if err != nil {
		return fmt.Errorf("store: begin update: %w", err)
	}
	defer btx.Rollback() // after Commit, a no-op returning ErrTxClosed
	// Waiting for the writer lock may have taken a while.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := fn(&writeTx{readTx: readTx{tx: btx}, now: d.now}); err != nil {
		return err
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// View runs fn in one read-only transaction, which sees a consistent
// snapshot however long it runs. fn must not call View or Update, and must
// not keep the ReadTx after it returns. A long View delays any commit that
// has to grow the file.
func (d *DB) View(ctx context.Context, fn func(provisioning.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	btx, err := d.db.Begin(false)
	if err != nil {
		return fmt.Errorf("store: begin view: %w", err)
	}
	defer btx.Rollback() // a read transaction has nothing to undo
	return fn(readTx{tx: btx})
}

// Backup writes a consistent copy of the whole database to w and returns
// the number of bytes written. It runs in a read transaction, so other
// goroutines may keep reading and writing meanwhile (though a commit that
// has to grow the file waits for it). Cancelling ctx stops the copy at the
// next write to w.
func (d *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := d.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// ctxWriter fails writes once its context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// BackupFile writes a consistent copy of the database to path, atomically:
// it writes path+".tmp" with mode 0600, syncs it, renames it over path and
// syncs the directory. On error, path is untouched and the temporary file
// is removed. path must not be the database's own file.
func (d *DB) BackupFile(ctx context.Context, path string) (err error) {
	if same, _ := sameFile(path, d.path); same {
		return fmt.Errorf("store: backup to %s: that is the database itself: %w", path, provisioning.ErrInvalid)
	}
	tmp := path + ".tmp"
	// A stale temporary file may have another mode; O_EXCL makes sure
	// ours is created with 0600.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := d.Backup(ctx, f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	// Make the rename durable.
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		serr := dir.Sync()
		_ = dir.Close()
		if serr != nil {
			return fmt.Errorf("store: backup: sync directory: %w", serr)
		}
	}
	return nil
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// readTx implements provisioning.ReadTx over a bbolt transaction. It is
// what View hands out, so it cannot be type-asserted to provisioning.Tx.
type readTx struct {
	tx *bolt.Tx
}

// writeTx implements provisioning.Tx.
type writeTx struct {
	readTx
	now func() time.Time
}

var (
	_ provisioning.ReadTx = readTx{}
	_ provisioning.Tx     = (*writeTx)(nil)
)

// bucket returns the named bucket, which Open created.
func (t readTx) bucket(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// appendOnly lists the buckets whose new keys sort after every existing
// key (time-ordered IDs and audit keys).
var appendOnly = map[string]bool{
	string(bucketAudit): true, string(bucketJobs): true, string(bucketRequests): true, string(bucketHeld): true,
	string(bucketJobsRunning): true, string(bucketJobsDone): true, string(bucketJobsFailed): true,
}

// bucket returns the named bucket for writing. bbolt splits full pages at
// Bucket.FillPercent (default 0.5), which leaves pages half empty when keys
// only ever grow; append-only buckets fill them to 90% instead. The
// setting is not stored in the file, so it is applied in every
// transaction (bbolt caches the *Bucket for the rest of the tx).
func (t *writeTx) bucket(name []byte) *bolt.Bucket {
	b := t.tx.Bucket(name)
	if appendOnly[string(name)] {
		b.FillPercent = 0.9
	}
	return b
}

// Assignments implements provisioning.ReadTx.
func (t readTx) Assignments(email string) ([]provisioning.Assignment, error) {
	v := t.bucket(bucketAssignments).Get([]byte(email))
	if v == nil {
		return nil, nil
	}
	var as []provisioning.Assignment
	if err := json.Unmarshal(v, &as); err != nil {
		return nil, fmt.Errorf("store: decode assignments %s: %w", email, err)
	}
	return as, nil
}

// ForEachAssignments implements provisioning.ReadTx.
func (t readTx) ForEachAssignments(fn func(email string, as []provisioning.Assignment) error) error {
	c := t.bucket(bucketAssignments).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		email := string(k)
		var as []provisioning.Assignment
		if err := json.Unmarshal(v, &as); err != nil {
			return fmt.Errorf("store: decode assignments %s: %w", email, err)
		}
		if err := fn(email, as); err != nil {
			return err
		}
	}
	return nil
}

// Job implements provisioning.ReadTx.
func (t readTx) Job(id string) (provisioning.Job, error) {
	j, ok, err := t.job(id)
	if err != nil {
		return provisioning.Job{}, err
	}
	if !ok {
		return provisioning.Job{}, fmt.Errorf("store: job %s: %w", id, provisioning.ErrNotFound)
	}
	return j, nil
}

// job loads job id from the canonical bucket.
func (t readTx) job(id string) (provisioning.Job, bool, error) {
	v := t.bucket(bucketJobs).Get([]byte(id))
	if v == nil {
		return provisioning.Job{}, false, nil
	}
	var j provisioning.Job
	if err := json.Unmarshal(v, &j); err != nil {
		return provisioning.Job{}, false, fmt.Errorf("store: decode job %s: %w", id, err)
	}
	return j, true, nil
}

// indexedJob loads job id named by an index entry; a dangling entry is an
// error.
func (t readTx) indexedJob(index []byte, id string) (provisioning.Job, error) {
	j, ok, err := t.job(id)
	if err != nil {
		return provisioning.Job{}, err
	}
	if !ok {
		return provisioning.Job{}, fmt.Errorf("store: %s names missing job %s", index, id)
	}
	return j, nil
}

// PendingJob implements provisioning.ReadTx.
func (t readTx) PendingJob(email string) (provisioning.Job, bool, error) {
	v := t.bucket(bucketJobsPendingEmail).Get([]byte(email))
	if v == nil {
		return provisioning.Job{}, false, nil
	}
	j, err := t.indexedJob(bucketJobsPendingEmail, string(v))
	if err != nil {
		return provisioning.Job{}, false, err
	}
	return j, true, nil
}

// DueJobs implements provisioning.ReadTx. A limit of zero or less returns
// no jobs.
func (t readTx) DueJobs(now time.Time, limit int) ([]provisioning.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	end := timeKey(now)
	var out []provisioning.Job
	c := t.bucket(bucketJobsPending).Cursor()
	for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
		if binary.BigEndian.Uint64(k[:8]) > end {
			break
		}
		j, err := t.indexedJob(bucketJobsPending, string(v))
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// NextDue implements provisioning.ReadTx. It returns the job's own
// NextAttempt, not the (clamped) index key.
func (t readTx) NextDue() (time.Time, bool, error) {
	_, v := t.bucket(bucketJobsPending).Cursor().First()
	if v == nil {
		return time.Time{}, false, nil
	}
	j, err := t.indexedJob(bucketJobsPending, string(v))
	if err != nil {
		return time.Time{}, false, err
	}
	return j.NextAttempt, true, nil
}

// JobsInState implements provisioning.ReadTx. Newest first means by ID,
// which for IDs from NewID is creation order. For pending jobs, whose
// index is ordered by due time, it sorts the pending IDs in memory. A
// limit of zero or less returns no jobs.
func (t readTx) JobsInState(state provisioning.JobState, limit int) ([]provisioning.Job, error) {
	name, ok := stateBuckets[state]
	if !ok {
		return nil, fmt.Errorf("store: jobs in state %q: unknown state: %w", state, provisioning.ErrInvalid)
	}
	if limit <= 0 {
		return nil, nil
	}
	var ids []string
	c := t.bucket(name).Cursor()
	if state == provisioning.JobPending {
		for k, v := c.First(); k != nil; k, v = c.Next() {
			ids = append(ids, string(v))
		}
		slices.Sort(ids)
		slices.Reverse(ids)
		ids = ids[:min(limit, len(ids))]
	} else {
		for k, _ := c.Last(); k != nil && len(ids) < limit; k, _ = c.Prev() {
			ids = append(ids, string(k))
		}
	}
	out := make([]provisioning.Job, 0, len(ids))
	for _, id := range ids {
		j, err := t.indexedJob(name, id)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// CountJobs implements provisioning.ReadTx. It reads one counter per
// state, which PutJob maintains. (bbolt's Bucket.Stats().KeyN would be
// wrong inside an Update: it counts committed pages only.)
func (t readTx) CountJobs() (map[provisioning.JobState]int, error) {
	b := t.bucket(bucketJobsCount)
	out := make(map[provisioning.JobState]int, len(jobStates))
	for _, s := range jobStates {
		out[s] = int(getCount(b, s))
	}
	return out, nil
}

// JobsForEmail implements provisioning.ReadTx. A limit of zero or less
// returns no jobs.
func (t readTx) JobsForEmail(email string, limit int) ([]provisioning.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	prefix := emailPrefix(email)
	c := t.bucket(bucketJobsEmail).Cursor()
	// Every key with the prefix email+"\x00" sorts before email+"\x01";
	// step back from there to the newest.
	k, _ := c.Seek(append([]byte(email), 1))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	var out []provisioning.Job
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
		j, err := t.indexedJob(bucketJobsEmail, string(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// Request implements provisioning.ReadTx.
func (t readTx) Request(id string) (provisioning.Request, error) {
	v := t.bucket(bucketRequests).Get([]byte(id))
	if v == nil {
		return provisioning.Request{}, fmt.Errorf("store: request %s: %w", id, provisioning.ErrNotFound)
	}
	var r provisioning.Request
	if err := json.Unmarshal(v, &r); err != nil {
		return provisioning.Request{}, fmt.Errorf("store: decode request %s: %w", id, err)
	}
	return r, nil
}

// RequestsInState implements provisioning.ReadTx. A limit of zero or less
// returns no requests.
func (t readTx) RequestsInState(state provisioning.RequestStatus, limit int) ([]provisioning.Request, error) {
	return t.indexedRequests(bucketRequestsState, string(state), limit)
}

// RequestsBy implements provisioning.ReadTx. A limit of zero or less
// returns no requests.
func (t readTx) RequestsBy(userID string, limit int) ([]provisioning.Request, error) {
	return t.indexedRequests(bucketRequestsBy, userID, limit)
}

// indexedRequests returns up to limit requests named by the index entries
// prefix+"\x00"+id in index, newest (highest ID) first.
func (t readTx) indexedRequests(index []byte, prefix string, limit int) ([]provisioning.Request, error) {
	if limit <= 0 || strings.IndexByte(prefix, 0) >= 0 {
		return nil, nil
	}
	var out []provisioning.Request
	err := newestWithPrefix(t.bucket(index).Cursor(), prefix, func(id string) (bool, error) {
		v := t.bucket(bucketRequests).Get([]byte(id))
		if v == nil {
			return false, fmt.Errorf("store: %s names missing request %s", index, id)
		}
		var r provisioning.Request
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("store: decode request %s: %w", id, err)
		}
		out = append(out, r)
		return len(out) < limit, nil
	})
	return out, err
}

// newestWithPrefix walks the keys prefix+"\x00"+id of c backwards, from
// the highest id, and calls fn with each id until fn returns false or an
// error.
func newestWithPrefix(c *bolt.Cursor, prefix string, fn func(id string) (bool, error)) error {
	p := indexKey(prefix, "")
	// Every key with the prefix p sorts before prefix+"\x01"; step back
	// from there to the newest.
	k, _ := c.Seek(append([]byte(prefix), 1))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, _ = c.Prev() {
		more, err := fn(string(k[len(p):]))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// indexKey is prefix + "\x00" + id, the key of the request indexes.
func indexKey(prefix, id string) []byte {
	k := make([]byte, 0, len(prefix)+1+len(id))
	k = append(k, prefix...)
	k = append(k, 0)
	return append(k, id...)
}

// ForEachMember implements provisioning.ReadTx.
func (t readTx) ForEachMember(fn func(provisioning.Member) error) error {
	c := t.bucket(bucketMembers).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var m provisioning.Member
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("store: decode member %s: %w", k, err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// Audit implements provisioning.ReadTx.
func (t readTx) Audit(since time.Time, fn func(provisioning.AuditEvent) error) error {
	var seek [8]byte
	binary.BigEndian.PutUint64(seek[:], timeKey(since))
	c := t.bucket(bucketAudit).Cursor()
	for k, v := c.Seek(seek[:]); k != nil; k, v = c.Next() {
		ev, err := decodeAudit(k, v)
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// RecentAudit implements provisioning.ReadTx. A limit of zero or less
// returns no events.
func (t readTx) RecentAudit(limit int) ([]provisioning.AuditEvent, error) {
	var out []provisioning.AuditEvent
	c := t.bucket(bucketAudit).Cursor()
	for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
		ev, err := decodeAudit(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func decodeAudit(k, v []byte) (provisioning.AuditEvent, error) {
	var ev provisioning.AuditEvent
	if err := json.Unmarshal(v, &ev); err != nil {
		return provisioning.AuditEvent{}, fmt.Errorf("store: decode audit event %x: %w", k, err)
	}
	return ev, nil
}

// PutAssignments implements provisioning.Tx.
func (t *writeTx) PutAssignments(email string, as []provisioning.Assignment) error {
	if email == "" {
		return fmt.Errorf("store: put assignments: empty email: %w", provisioning.ErrInvalid)
	}
	b := t.bucket(bucketAssignments)
	if len(as) == 0 {
		if err := b.Delete([]byte(email)); err != nil {
			return fmt.Errorf("store: delete assignments %s: %w", email, err)
		}
		return nil
	}
	buf, err := json.Marshal(as)
	if err != nil {
		return fmt.Errorf("store: encode assignments %s: %w", email, err)
	}
	if err := b.Put([]byte(email), buf); err != nil {
		return fmt.Errorf("store: put assignments %s: %w", email, err)
	}
	return nil
}

// NewID implements provisioning.Tx. The ID is prefix, "-" and 12 hex
// digits of the meta bucket's sequence, so IDs sort in creation order.
// A sequence number used by a transaction that rolls back is reused, so an
// ID is unique only once its transaction commits.
func (t *writeTx) NewID(prefix string) (string, error) {
	if prefix == "" {
		return "", fmt.Errorf("store: new id: empty prefix: %w", provisioning.ErrInvalid)
	}
	n, err := t.bucket(bucketMeta).NextSequence()
	if err != nil {
		return "", fmt.Errorf("store: new id: %w", err)
	}
	return fmt.Sprintf("%s-%012x", prefix, n), nil
}

// PutJob implements provisioning.Tx. It moves the previous record's index
// entries (state, due time, email) to the new ones. It refuses a pending
// job for an email that already has a different pending job.
func (t *writeTx) PutJob(j provisioning.Job) error {
	switch _, ok := stateBuckets[j.State]; {
	case j.ID == "":
		return fmt.Errorf("store: put job: empty id: %w", provisioning.ErrInvalid)
	case !ok:
		return fmt.Errorf("store: put job %s: unknown state %q: %w", j.ID, j.State, provisioning.ErrInvalid)
	case j.Email == "" || strings.IndexByte(j.Email, 0) >= 0:
		return fmt.Errorf("store: put job %s: invalid email %q: %w", j.ID, j.Email, provisioning.ErrInvalid)
	}
	old, had, err := t.job(j.ID)
	if err != nil {
		return err
	}
	if j.State == provisioning.JobPending {
		v := t.bucket(bucketJobsPendingEmail).Get([]byte(j.Email))
		if v != nil && string(v) != j.ID {
			return fmt.Errorf("store: put job %s: %s already has pending job %s: %w", j.ID, j.Email, v, provisioning.ErrInvalid)
		}
	}
	if had {
		if err := t.unindexJob(old); err != nil {
			return fmt.Errorf("store: put job %s: %w", j.ID, err)
		}
	}
	buf, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("store: encode job %s: %w", j.ID, err)
	}
	if err := t.bucket(bucketJobs).Put([]byte(j.ID), buf); err != nil {
		return fmt.Errorf("store: put job %s: %w", j.ID, err)
	}
	if err := t.indexJob(j); err != nil {
		return fmt.Errorf("store: put job %s: %w", j.ID, err)
	}
	return nil
}

// indexJob adds j's index entries and counts it.
func (t *writeTx) indexJob(j provisioning.Job) error {
	id := []byte(j.ID)
	var err error
	if j.State == provisioning.JobPending {
		err = errors.Join(
			t.bucket(bucketJobsPending).Put(dueKey(j), id),
			t.bucket(bucketJobsPendingEmail).Put([]byte(j.Email), id),
		)
	} else {
		err = t.bucket(stateBuckets[j.State]).Put(id, nil)
	}
	return errors.Join(err,
		t.bucket(bucketJobsEmail).Put(emailKey(j), nil),
		addCount(t.bucket(bucketJobsCount), j.State, 1),
	)
}

// unindexJob removes the index entries of j, the job's stored record.
func (t *writeTx) unindexJob(j provisioning.Job) error {
	id := []byte(j.ID)
	var err error
	if j.State == provisioning.JobPending {
		err = t.bucket(bucketJobsPending).Delete(dueKey(j))
		b := t.bucket(bucketJobsPendingEmail)
		if v := b.Get([]byte(j.Email)); string(v) == j.ID {
			err = errors.Join(err, b.Delete([]byte(j.Email)))
		}
	} else {
		err = t.bucket(stateBuckets[j.State]).Delete(id)
	}
	return errors.Join(err,
		t.bucket(bucketJobsEmail).Delete(emailKey(j)),
		addCount(t.bucket(bucketJobsCount), j.State, -1),
	)
}

// PutRequest implements provisioning.Tx. It moves the previous record's
// entries in requests_state and requests_by to the new status and
// requester. A status or requester containing a NUL byte is refused, as
// it would break the index keys.
func (t *writeTx) PutRequest(r provisioning.Request) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("store: put request: empty id: %w", provisioning.ErrInvalid)
	case strings.IndexByte(string(r.Status), 0) >= 0 || strings.IndexByte(r.RequestedBy, 0) >= 0:
		return fmt.Errorf("store: put request %s: NUL byte in status or requester: %w", r.ID, provisioning.ErrInvalid)
	}
	b := t.bucket(bucketRequests)
	state, by := t.bucket(bucketRequestsState), t.bucket(bucketRequestsBy)
	if v := b.Get([]byte(r.ID)); v != nil {
		var old provisioning.Request
		if err := json.Unmarshal(v, &old); err != nil {
			return fmt.Errorf("store: decode request %s: %w", r.ID, err)
		}
		err := errors.Join(
			state.Delete(indexKey(string(old.Status), old.ID)),
			by.Delete(indexKey(old.RequestedBy, old.ID)),
		)
		if err != nil {
			return fmt.Errorf("store: put request %s: %w", r.ID, err)
		}
	}
	buf, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encode request %s: %w", r.ID, err)
	}
	err = errors.Join(
		b.Put([]byte(r.ID), buf),
		state.Put(indexKey(string(r.Status), r.ID), nil),
		by.Put(indexKey(r.RequestedBy, r.ID), nil),
	)
	if err != nil {
		return fmt.Errorf("store: put request %s: %w", r.ID, err)
	}
	return nil
}

// PutMembers implements provisioning.Tx. A member whose stored record is
// already the same is not rewritten, so a periodic full sync of an
// unchanged workspace dirties no pages.
func (t *writeTx) PutMembers(ms []provisioning.Member) error {
	b := t.bucket(bucketMembers)
	for _, m := range ms {
		if m.ID == "" {
			return fmt.Errorf("store: put member: empty id: %w", provisioning.ErrInvalid)
		}
		buf, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("store: encode member %s: %w", m.ID, err)
		}
		if bytes.Equal(b.Get([]byte(m.ID)), buf) {
			continue
		}
		if err := b.Put([]byte(m.ID), buf); err != nil {
			return fmt.Errorf("store: put member %s: %w", m.ID, err)
		}
	}
	return nil
}

// DeleteMembersExcept implements provisioning.Tx.
func (t *writeTx) DeleteMembersExcept(keep map[string]bool) (int, error) {
	b := t.bucket(bucketMembers)
	// Collect first: deleting under a cursor can make Next skip a key.
	var gone [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if !keep[string(k)] {
			gone = append(gone, slices.Clone(k))
		}
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("store: delete member %s: %w", k, err)
		}
	}
	return len(gone), nil
}

// AppendAudit implements provisioning.Tx. A zero ev.At is set to the
// store's clock. The ID is the hex of the key: At as big-endian UnixNano,
// then the audit bucket's sequence, so events sort by At and then by
// append order. Nothing in this package deletes audit events.
func (t *writeTx) AppendAudit(ev provisioning.AuditEvent) (provisioning.AuditEvent, error) {
	if ev.At.IsZero() {
		ev.At = t.now()
	}
	b := t.bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return provisioning.AuditEvent{}, fmt.Errorf("store: append audit: %w", err)
	}
	var key [16]byte
	binary.BigEndian.PutUint64(key[:8], timeKey(ev.At))
	binary.BigEndian.PutUint64(key[8:], seq)
	ev.ID = hex.EncodeToString(key[:])
	buf, err := json.Marshal(ev)
	if err != nil {
		return provisioning.AuditEvent{}, fmt.Errorf("store: encode audit event %s: %w", ev.ID, err)
	}
	if err := b.Put(key[:], buf); err != nil {
		return provisioning.AuditEvent{}, fmt.Errorf("store: append audit %s: %w", ev.ID, err)
	}
	return ev, nil
}

// timeKey is t as UnixNano for big-endian keys, clamped to [0, MaxInt64]
// so that the zero time and times before 1970 sort first.
func timeKey(t time.Time) uint64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}

// dueKey is j's key in jobs_pending.
func dueKey(j provisioning.Job) []byte {
	k := make([]byte, 8, 8+len(j.ID))
	binary.BigEndian.PutUint64(k, timeKey(j.NextAttempt))
	return append(k, j.ID...)
}

// emailPrefix is the jobs_email key prefix for email.
func emailPrefix(email string) []byte {
	return append([]byte(email), 0)
}

// emailKey is j's key in jobs_email.
func emailKey(j provisioning.Job) []byte {
	return append(emailPrefix(j.Email), j.ID...)
}

func getCount(b *bolt.Bucket, s provisioning.JobState) uint64 {
	v := b.Get([]byte(s))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func addCount(b *bolt.Bucket, s provisioning.JobState, delta int) error {
	n := int64(getCount(b, s)) + int64(delta)
	if n < 0 {
		return fmt.Errorf("job count for %s would be negative", s)
	}
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(n))
	return b.Put([]byte(s), v)
}

// The organization's directory: people, groups, grants and held changes.

// Person implements provisioning.ReadTx.
func (t readTx) Person(email string) (provisioning.Person, bool, error) {
	v := t.bucket(bucketPeople).Get([]byte(email))
	if v == nil {
		return provisioning.Person{}, false, nil
	}
	var p provisioning.Person
	if err := json.Unmarshal(v, &p); err != nil {
		return provisioning.Person{}, false, fmt.Errorf("store: decode person %s: %w", email, err)
	}
	return p, true, nil
}

// PersonByID implements provisioning.ReadTx.
func (t readTx) PersonByID(id string) (provisioning.Person, bool, error) {
	email := t.bucket(bucketPeopleID).Get([]byte(id))
	if email == nil {
		return provisioning.Person{}, false, nil
	}
	p, ok, err := t.Person(string(email))
	if err != nil {
		return provisioning.Person{}, false, err
	}
	if !ok {
		return provisioning.Person{}, false, fmt.Errorf("store: dir_people_id names missing person %s (%s)", email, id)
	}
	return p, true, nil
}

// ForEachPerson implements provisioning.ReadTx.
func (t readTx) ForEachPerson(fn func(provisioning.Person) error) error {
	c := t.bucket(bucketPeople).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var p provisioning.Person
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("store: decode person %s: %w", k, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// Group implements provisioning.ReadTx.
func (t readTx) Group(id string) (provisioning.Group, bool, error) {
	v := t.bucket(bucketGroups).Get([]byte(id))
	if v == nil {
		return provisioning.Group{}, false, nil
	}
	var g provisioning.Group
	if err := json.Unmarshal(v, &g); err != nil {
		return provisioning.Group{}, false, fmt.Errorf("store: decode group %s: %w", id, err)
	}
	return g, true, nil
}

// GroupByName implements provisioning.ReadTx. Names compare
// case-insensitively.
func (t readTx) GroupByName(name string) (provisioning.Group, bool, error) {
	id := t.bucket(bucketGroupsName).Get(groupNameKey(name))
	if id == nil {
		return provisioning.Group{}, false, nil
	}
	g, ok, err := t.Group(string(id))
	if err != nil {
		return provisioning.Group{}, false, err
	}
	if !ok {
		return provisioning.Group{}, false, fmt.Errorf("store: dir_groups_name names missing group %s (%q)", id, name)
	}
	return g, true, nil
}

// ForEachGroup implements provisioning.ReadTx.
func (t readTx) ForEachGroup(fn func(provisioning.Group) error) error {
	c := t.bucket(bucketGroups).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var g provisioning.Group
		if err := json.Unmarshal(v, &g); err != nil {
			return fmt.Errorf("store: decode group %s: %w", k, err)
		}
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}

// GroupsOf implements provisioning.ReadTx.
func (t readTx) GroupsOf(personID string) ([]provisioning.Group, error) {
	var out []provisioning.Group
	err := t.groupIDsOf(personID, func(gid string) error {
		g, ok, err := t.Group(gid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("store: dir_member_of names missing group %s", gid)
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

// InGroup implements provisioning.ReadTx. It seeks rather than Gets: an
// index entry's value is empty, and inside a write transaction bbolt's Get
// returns nil for an empty value put in that same transaction.
func (t readTx) InGroup(personID, groupID string) (bool, error) {
	key := indexKey(personID, groupID)
	k, _ := t.bucket(bucketMemberOf).Cursor().Seek(key)
	return bytes.Equal(k, key), nil
}

// groupIDsOf calls fn with the ID of each group personID is a member of,
// in ID order.
func (t readTx) groupIDsOf(personID string, fn func(groupID string) error) error {
	if personID == "" || strings.IndexByte(personID, 0) >= 0 {
		return nil
	}
	p := indexKey(personID, "")
	// Collect first: fn may write to the bucket.
	var ids []string
	c := t.bucket(bucketMemberOf).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		ids = append(ids, string(k[len(p):]))
	}
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// Grants implements provisioning.ReadTx.
func (t readTx) Grants() ([]provisioning.DirectoryGrant, error) {
	var out []provisioning.DirectoryGrant
	c := t.bucket(bucketGrants).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var g provisioning.DirectoryGrant
		if err := json.Unmarshal(v, &g); err != nil {
			return nil, fmt.Errorf("store: decode grant %s: %w", k, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// HeldChanges implements provisioning.ReadTx. It walks the held bucket
// from the newest ID; held changes are few. A limit of zero or less
// returns none.
func (t readTx) HeldChanges(state provisioning.HeldState, limit int) ([]provisioning.HeldChange, error) {
	var out []provisioning.HeldChange
	c := t.bucket(bucketHeld).Cursor()
	for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
		var h provisioning.HeldChange
		if err := json.Unmarshal(v, &h); err != nil {
			return nil, fmt.Errorf("store: decode held change %s: %w", k, err)
		}
		if h.State == state {
			out = append(out, h)
		}
	}
	return out, nil
}

// HeldChange implements provisioning.ReadTx.
func (t readTx) HeldChange(id string) (provisioning.HeldChange, error) {
	v := t.bucket(bucketHeld).Get([]byte(id))
	if v == nil {
		return provisioning.HeldChange{}, fmt.Errorf("store: held change %s: %w", id, provisioning.ErrNotFound)
	}
	var h provisioning.HeldChange
	if err := json.Unmarshal(v, &h); err != nil {
		return provisioning.HeldChange{}, fmt.Errorf("store: decode held change %s: %w", id, err)
	}
	return h, nil
}

// PutPerson implements provisioning.Tx. A person is keyed by email and
// indexed by ID: storing a known ID under a new email moves the record.
// It refuses an email that belongs to another person (ErrDuplicate).
func (t *writeTx) PutPerson(p provisioning.Person) error {
	switch {
	case p.ID == "" || strings.IndexByte(p.ID, 0) >= 0:
		return fmt.Errorf("store: put person %q: invalid id %q: %w", p.Email, p.ID, provisioning.ErrInvalid)
	case p.Email == "":
		return fmt.Errorf("store: put person %s: empty email: %w", p.ID, provisioning.ErrInvalid)
	}
	people, byID := t.bucket(bucketPeople), t.bucket(bucketPeopleID)
	if other, ok, err := t.Person(p.Email); err != nil {
		return err
	} else if ok && other.ID != p.ID {
		return fmt.Errorf("store: put person %s: %s belongs to person %s: %w", p.ID, p.Email, other.ID, provisioning.ErrDuplicate)
	}
	if old := byID.Get([]byte(p.ID)); old != nil && string(old) != p.Email {
		if err := people.Delete(slices.Clone(old)); err != nil {
			return fmt.Errorf("store: put person %s: move from %s: %w", p.ID, old, err)
		}
	}
	buf, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: encode person %s: %w", p.ID, err)
	}
	if err := errors.Join(people.Put([]byte(p.Email), buf), byID.Put([]byte(p.ID), []byte(p.Email))); err != nil {
		return fmt.Errorf("store: put person %s: %w", p.ID, err)
	}
	return nil
}

// DeletePerson implements provisioning.Tx. It removes the person from the
// Members of every group they belong to. Deleting an unknown email does
// nothing.
func (t *writeTx) DeletePerson(email string) error {
	p, ok, err := t.Person(email)
	if err != nil || !ok {
		return err
	}
	now := t.now().UTC()
	err = t.groupIDsOf(p.ID, func(gid string) error {
		g, ok, err := t.Group(gid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("dir_member_of names missing group %s", gid)
		}
		g.Members = slices.DeleteFunc(g.Members, func(id string) bool { return id == p.ID })
		g.UpdatedAt = now
		return t.PutGroup(g)
	})
	if err != nil {
		return fmt.Errorf("store: delete person %s: %w", email, err)
	}
	err = errors.Join(
		t.bucket(bucketPeople).Delete([]byte(email)),
		t.bucket(bucketPeopleID).Delete([]byte(p.ID)),
	)
	if err != nil {
		return fmt.Errorf("store: delete person %s: %w", email, err)
	}
	return nil
}

// PutGroup implements provisioning.Tx. Members are stored sorted and
// without duplicates, and must name stored people (ErrInvalid). It keeps
// dir_groups_name and dir_member_of in step, and refuses a name another
// group has (ErrDuplicate).
func (t *writeTx) PutGroup(g provisioning.Group) error {
	return t.PutGroups([]provisioning.Group{g})
}

// PutGroups implements provisioning.Tx: PutGroup for each group in turn,
// except that the dir_member_of entries of all of them are written last,
// in key order. bbolt does not split a page's node until commit, so
// inserting many keys out of order into one node moves its tail at every
// insert: sorted, a 50,000-member import writes its index in linear time.
func (t *writeTx) PutGroups(gs []provisioning.Group) error {
	names, memberOf, byID := t.bucket(bucketGroupsName), t.bucket(bucketMemberOf), t.bucket(bucketPeopleID)
	var add, del [][]byte
	seen := make(map[string]bool, len(gs))
	for _, g := range gs {
		switch {
		case g.ID == "" || strings.IndexByte(g.ID, 0) >= 0:
			return fmt.Errorf("store: put group %q: invalid id %q: %w", g.Name, g.ID, provisioning.ErrInvalid)
		case strings.TrimSpace(g.Name) == "":
			return fmt.Errorf("store: put group %s: empty name: %w", g.ID, provisioning.ErrInvalid)
		case seen[g.ID]:
			return fmt.Errorf("store: put group %s: twice in one call: %w", g.ID, provisioning.ErrInvalid)
		}
		seen[g.ID] = true
		if id := names.Get(groupNameKey(g.Name)); id != nil && string(id) != g.ID {
			return fmt.Errorf("store: put group %s: the name %q belongs to group %s: %w", g.ID, g.Name, id, provisioning.ErrDuplicate)
		}
		g.Members = slices.Compact(slices.Sorted(slices.Values(g.Members)))
		for _, m := range g.Members {
			if byID.Get([]byte(m)) == nil {
				return fmt.Errorf("store: put group %s: member %s is not a stored person: %w", g.ID, m, provisioning.ErrInvalid)
			}
		}
		old, had, err := t.Group(g.ID)
		if err != nil {
			return err
		}
		if had && !strings.EqualFold(old.Name, g.Name) {
			if err := names.Delete(groupNameKey(old.Name)); err != nil {
				return fmt.Errorf("store: put group %s: %w", g.ID, err)
			}
		}
		i, j := 0, 0 // merge the sorted old and new member lists
		for i < len(old.Members) || j < len(g.Members) {
			switch {
			case j == len(g.Members) || (i < len(old.Members) && old.Members[i] < g.Members[j]):
				del = append(del, indexKey(old.Members[i], g.ID))
				i++
			case i == len(old.Members) || g.Members[j] < old.Members[i]:
				add = append(add, indexKey(g.Members[j], g.ID))
				j++
			default:
				i, j = i+1, j+1
			}
		}
		buf, err := json.Marshal(g)
		if err != nil {
			return fmt.Errorf("store: encode group %s: %w", g.ID, err)
		}
		if err := errors.Join(t.bucket(bucketGroups).Put([]byte(g.ID), buf), names.Put(groupNameKey(g.Name), []byte(g.ID))); err != nil {
			return fmt.Errorf("store: put group %s: %w", g.ID, err)
		}
	}
	slices.SortFunc(add, bytes.Compare)
	for _, k := range del {
		if err := memberOf.Delete(k); err != nil {
			return fmt.Errorf("store: put groups: %w", err)
		}
	}
	for _, k := range add {
		if err := memberOf.Put(k, nil); err != nil {
			return fmt.Errorf("store: put groups: %w", err)
		}
	}
	return nil
}

// DeleteGroup implements provisioning.Tx. Deleting an unknown ID does
// nothing. Grants naming the group are left as they are.
func (t *writeTx) DeleteGroup(id string) error {
	g, ok, err := t.Group(id)
	if err != nil || !ok {
		return err
	}
	memberOf := t.bucket(bucketMemberOf)
	errs := []error{
		t.bucket(bucketGroups).Delete([]byte(id)),
		t.bucket(bucketGroupsName).Delete(groupNameKey(g.Name)),
	}
	for _, m := range g.Members {
		errs = append(errs, memberOf.Delete(indexKey(m, id)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: delete group %s: %w", id, err)
	}
	return nil
}

// PutGrant implements provisioning.Tx. A grant of the same kind and
// target (compared case-insensitively) is replaced.
func (t *writeTx) PutGrant(g provisioning.DirectoryGrant) error {
	key, err := grantKey(g.Kind, g.Target)
	if err != nil {
		return fmt.Errorf("store: put grant: %w", err)
	}
	buf, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("store: encode grant %s: %w", key, err)
	}
	if err := t.bucket(bucketGrants).Put(key, buf); err != nil {
		return fmt.Errorf("store: put grant %s: %w", key, err)
	}
	return nil
}

// DeleteGrant implements provisioning.Tx. Deleting an unknown grant does
// nothing.
func (t *writeTx) DeleteGrant(kind provisioning.GrantKind, target string) error {
	key, err := grantKey(kind, target)
	if err != nil {
		return fmt.Errorf("store: delete grant: %w", err)
	}
	if err := t.bucket(bucketGrants).Delete(key); err != nil {
		return fmt.Errorf("store: delete grant %s: %w", key, err)
	}
	return nil
}

// PutHeldChange implements provisioning.Tx.
func (t *writeTx) PutHeldChange(h provisioning.HeldChange) error {
	if h.ID == "" {
		return fmt.Errorf("store: put held change: empty id: %w", provisioning.ErrInvalid)
	}
	buf, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("store: encode held change %s: %w", h.ID, err)
	}
	if err := t.bucket(bucketHeld).Put([]byte(h.ID), buf); err != nil {
		return fmt.Errorf("store: put held change %s: %w", h.ID, err)
	}
	return nil
}

// groupNameKey is a group's key in dir_groups_name.
func groupNameKey(name string) []byte { return []byte(strings.ToLower(name)) }

// grantKey is a grant's key in dir_grants: kind, ":", lower-cased target.
func grantKey(kind provisioning.GrantKind, target string) ([]byte, error) {
	switch {
	case kind != provisioning.GrantGroup && kind != provisioning.GrantOrgUnit:
		return nil, fmt.Errorf("unknown grant kind %q: %w", kind, provisioning.ErrInvalid)
	case target == "":
		return nil, fmt.Errorf("%s grant without a target: %w", kind, provisioning.ErrInvalid)
	}
	return []byte(string(kind) + ":" + strings.ToLower(target)), nil
}

// settingPrefix keeps settings apart from the meta bucket's own keys.
const settingPrefix = "setting/"

// Setting returns a value stored with PutSetting, copied out of the mmap.
func (t readTx) Setting(key string) ([]byte, bool, error) {
	v := t.tx.Bucket(bucketMeta).Get([]byte(settingPrefix + key))
	if v == nil {
		return nil, false, nil
	}
	return bytes.Clone(v), true, nil
}

// PutSetting stores value under key.
func (t *writeTx) PutSetting(key string, value []byte) error {
	if key == "" {
		return fmt.Errorf("store: put setting: empty key: %w", provisioning.ErrInvalid)
	}
	if err := t.tx.Bucket(bucketMeta).Put([]byte(settingPrefix+key), value); err != nil {
		return fmt.Errorf("store: put setting %s: %w", key, err)
	}
	return nil
}
