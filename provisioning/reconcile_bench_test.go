//go:build unix

package provisioning_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// sliceLister is an in-memory Slack workspace.
type sliceLister []provisioning.Account

func (l sliceLister) ListAll(ctx context.Context, fn func(provisioning.Account) error) error {
	for _, a := range l {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// TestReconcileGroupGrants checks the plan reconcile makes from group
// grants (memberships it reads once, for speed) against Entitlement, the
// one definition of entitled.
func TestReconcileGroupGrants(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := provisioning.NewService(db, nil, nil, provisioning.Options{})
	email := func(n string) string { return n + "@example.com" }
	ch := provisioning.DirectoryChange{By: "import", UpsertGroups: []provisioning.GroupInput{
		{Name: "G2", MemberEmails: []string{email("b"), email("c")}},
		{Name: "G1", MemberEmails: []string{email("a"), email("b")}}, // b: a granted group, then another
		{Name: "G3", MemberEmails: []string{email("d"), email("f")}},
	}}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		p := provisioning.Person{Email: email(n), Name: n}
		if n == "d" {
			p.Status = provisioning.PersonDisabled
		}
		ch.Upsert = append(ch.Upsert, p)
	}
	if _, err := svc.ApplyDirectory(ctx, ch); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"G2", "G3"} {
		if _, err := svc.GrantDirectory(ctx, provisioning.DirectoryGrant{Kind: provisioning.GrantGroup, Target: g, GrantedBy: "U1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Reconcile(ctx, sliceLister{}, false, "test"); err != nil { // the first run
		t.Fatal(err)
	}
	var workspace sliceLister
	for i, n := range []string{"a", "b", "c", "d", "e"} {
		workspace = append(workspace, provisioning.Account{ID: fmt.Sprintf("U%d", i), Email: email(n), Active: n != "c"})
	}
	res, err := svc.Reconcile(ctx, workspace, true, "test")
	if err != nil {
		t.Fatal(err)
	}
	var entitled []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		ent, err := svc.Entitlement(ctx, email(n))
		if err != nil {
			t.Fatal(err)
		}
		if ent.Entitled {
			entitled = append(entitled, email(n))
		}
	}
	if want := []string{email("b"), email("c"), email("f")}; !slices.Equal(entitled, want) {
		t.Fatalf("entitled = %v, want %v", entitled, want)
	}
	if res.Entitled != 3 || !slices.Equal(res.Invite, []string{email("f")}) || !slices.Equal(res.Activate, []string{email("c")}) ||
		!slices.Equal(res.Deactivate, []string{email("a"), email("d"), email("e")}) || len(res.Unmanaged) != 0 {
		t.Errorf("plan = entitled %d, invite %v, activate %v, deactivate %v, unmanaged %v; want 3, [f], [c], [a d e], []",
			res.Entitled, res.Invite, res.Activate, res.Deactivate, res.Unmanaged)
	}
}

// Shape of BenchmarkReconcilePlan50k's workspace: benchPeople people in
// the directory, all entitled (a grant on each of the benchGroups groups).
const (
	reconcileDeactivated = 500 // entitled, account deactivated: reactivate
	reconcileMissing     = 500 // entitled, no account: invite
	reconcileUnmanaged   = 500 // active, not entitled, never managed: left alone
)

// newReconcileBench returns a service on a real bbolt file whose directory
// holds benchPeople people in benchGroups groups with a grant on every
// group, and the Slack workspace to reconcile it against (benchPeople
// accounts):
//   - people 0 … 48,999 active;
//   - people 49,000 … 49,499 deactivated (reactivate);
//   - people 49,500 … 49,999 without an account (invite);
//   - 500 active accounts outside the directory, with no assignment or job
//     (unmanaged).
//
// The first reconcile (the one that adopts) has already run, when every
// person in the directory had an active account and nobody else did, so it
// adopted nobody and queued nothing.
func newReconcileBench(b *testing.B) (*provisioning.Service, sliceLister) {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(filepath.Join(b.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := provisioning.NewService(db, nil, nil, provisioning.Options{})
	if _, err := svc.ApplyDirectory(ctx, benchDirectory(benchPeople, benchGroups, 0)); err != nil {
		b.Fatal(err)
	}
	for g := range benchGroups {
		if _, err := svc.GrantDirectory(ctx, provisioning.DirectoryGrant{Kind: provisioning.GrantGroup,
			Target: fmt.Sprintf("Group %d", g), GrantedBy: "U1"}); err != nil {
			b.Fatal(err)
		}
	}

	// The first run: every person in the directory with an active account.
	first := make(sliceLister, benchPeople)
	for i := range first {
		first[i] = provisioning.Account{ID: fmt.Sprintf("U%07d", i),
			UserName: fmt.Sprintf("person.%d", i), Email: fmt.Sprintf("person.%d@example.com", i), Active: true}
	}
	if res, err := svc.Reconcile(ctx, first, false, "bench"); err != nil || !res.FirstRun || len(res.Adopt) != 0 || res.Jobs != 0 {
		b.Fatalf("first reconcile = first run %v, adopt %d, jobs %d, %v; want a first run adopting nobody and queueing nothing", res.FirstRun, len(res.Adopt), res.Jobs, err)
	}
	// Since then, Slack has drifted.
	active := benchPeople - reconcileDeactivated - reconcileMissing
	workspace := first[:active+reconcileDeactivated]
	for i := active; i < len(workspace); i++ {
		workspace[i].Active = false
	}
	for i := range reconcileUnmanaged {
		workspace = append(workspace, provisioning.Account{ID: fmt.Sprintf("UX%06d", i),
			UserName: fmt.Sprintf("outsider.%d", i), Email: fmt.Sprintf("outsider.%d@example.com", i), Active: true})
	}
	return svc, workspace
}

// heapInUse reads what runtime.MemStats calls HeapInuse without stopping
// the world.
var heapInUseMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

func heapInUse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// peakHeap samples the heap in use every millisecond until stop is called,
// which returns the highest figure seen.
func peakHeap() (stop func() uint64) {
	s := make([]metrics.Sample, len(heapInUseMetrics))
	for i, n := range heapInUseMetrics {
		s[i].Name = n
	}
	peak := heapInUse(s)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				peak = max(peak, heapInUse(s))
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, heapInUse(s))
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReconcilePlan50k plans a reconcile (a dry run) of 50,000
// entitled people against 50,000 Slack accounts on a real store: 500 to
// invite, 500 to reactivate, 500 unmanaged, nobody to deactivate. Each
// iteration starts after a GC.
//
// Besides the usual figures it reports, per reconcile:
//   - cpu-s/op: user and system CPU time of the process (getrusage),
//     which includes the garbage collector's work during the reconcile;
//   - peak-heap-MB: the highest heap in use (MemStats.HeapInuse, sampled
//     every millisecond), the store and the workspace included;
//   - base-heap-MB: the heap in use after a GC just before it;
//   - alloc-MB/op: the bytes it allocated (B/op in MB).
func BenchmarkReconcilePlan50k(b *testing.B) {
	svc, workspace := newReconcileBench(b)
	ctx := context.Background()
	var (
		cpu              time.Duration
		peak, base       uint64
		before, after    runtime.MemStats
		res              provisioning.ReconcileResult
		allocated, iters uint64
	)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		base = max(base, before.HeapInuse)
		stop := peakHeap()
		c0 := cpuTime(b)
		b.StartTimer()
		var err error
		res, err = svc.Reconcile(ctx, workspace, true, "bench")
		b.StopTimer()
		cpu += cpuTime(b) - c0
		peak = max(peak, stop())
		runtime.ReadMemStats(&after)
		allocated += after.TotalAlloc - before.TotalAlloc
		iters++
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if res.FirstRun || res.Accounts != benchPeople || res.Entitled != benchPeople ||
		len(res.Invite) != reconcileMissing || len(res.Activate) != reconcileDeactivated ||
		len(res.Deactivate) != 0 || len(res.Unmanaged) != reconcileUnmanaged || len(res.Adopt) != 0 || res.Jobs != reconcileMissing+reconcileDeactivated {
		b.Fatalf("plan = first run %v, %d accounts, %d entitled: invite %d, reactivate %d, deactivate %d, unmanaged %d, adopt %d, jobs %d; want not first, %d, %d: %d, %d, 0, %d, 0, %d",
			res.FirstRun, res.Accounts, res.Entitled, len(res.Invite), len(res.Activate), len(res.Deactivate), len(res.Unmanaged), len(res.Adopt), res.Jobs,
			benchPeople, benchPeople, reconcileMissing, reconcileDeactivated, reconcileUnmanaged, reconcileMissing+reconcileDeactivated)
	}
	const mb = 1 << 20
	b.ReportMetric(cpu.Seconds()/float64(iters), "cpu-s/op")
	b.ReportMetric(float64(peak)/mb, "peak-heap-MB")
	b.ReportMetric(float64(base)/mb, "base-heap-MB")
	b.ReportMetric(float64(allocated)/mb/float64(iters), "alloc-MB/op")
	b.ReportMetric(float64(res.Jobs), "jobs")
}
