package provisioning_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
	"github.com/roster-app/roster/store"
)

// Slack's SCIM write limits (slack-platform.md §1), per minute and burst.
const (
	endpointPerMin, endpointBurst = 180.0, 20.0 // POST /Users, PATCH and DELETE /Users/{id}, each
	orgWritesPerMin, orgBurst     = 600.0, 180.0
)

// throughputRun is one provisioning run against fakeslack with Slack's SCIM
// limits emulated on scaled time.
type throughputRun struct {
	scale   float64 // fakeslack.WithSCIMLimits and scim.Limits.TimeScale
	workers int
	// Jobs to enqueue, interleaved: invites of new emails (POST /Users),
	// assignments of deactivated members (PATCH /Users/{id}), revocations
	// of active members (DELETE /Users/{id}).
	invites, activations, deactivations int
	// members is the size of the generated workspace added to the demo one
	// (activations and deactivations draw from it).
	members int
}

type throughputResult struct {
	elapsed     time.Duration // from Run to the last job finished
	failed      int
	writes      int // SCIM writes that took effect
	rateLimited int // 429s from fakeslack's emulated limits
	locked      int // 429s from the per-user lock
	permitted   float64
}

// writesPerSec is the achieved write rate.
func (r throughputResult) writesPerSec() float64 { return float64(r.writes) / r.elapsed.Seconds() }

// permittedPerSec is the write rate Slack's limits allow over the run,
// bursts included.
func (r throughputResult) permittedPerSec() float64 { return r.permitted / r.elapsed.Seconds() }

// ratio is achieved writes over permitted writes.
func (r throughputResult) ratio() float64 { return float64(r.writes) / r.permitted }

// permittedWrites is how many writes Slack's documented limits allow in
// elapsed, at the run's time scale, for the endpoints it uses: each
// endpoint's burst plus its rate, capped by the org-wide write pool's burst
// plus its rate.
func (tr throughputRun) permittedWrites(elapsed time.Duration) float64 {
	used := 0
	for _, n := range []int{tr.invites, tr.activations, tr.deactivations} {
		if n > 0 {
			used++
		}
	}
	t := elapsed.Seconds()
	eps := float64(used) * (endpointBurst + endpointPerMin/60*tr.scale*t)
	org := orgBurst + orgWritesPerMin/60*tr.scale*t
	return min(eps, org)
}

// run enqueues the jobs with no worker running, then starts the service and
// waits, without polling, until every job is done or failed.
// In a benchmark, only the run is timed.
func (tr throughputRun) run(tb testing.TB) throughputResult {
	tb.Helper()
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer()
		defer b.StartTimer()
	}
	ws := fakeslack.DemoWorkspace()
	var toActivate, toDeactivate []string
	if tr.members > 0 {
		gen := fakeslack.GenerateMembers(tr.members, 1)
		ws.Add(gen...)
		for _, u := range gen {
			switch {
			case u.Deleted && len(toActivate) < tr.activations:
				toActivate = append(toActivate, u.Email)
			case !u.Deleted && !u.IsAdmin && !u.IsOwner && !u.IsBot && len(toDeactivate) < tr.deactivations:
				toDeactivate = append(toDeactivate, u.Email)
			}
		}
	}
	if len(toActivate) < tr.activations || len(toDeactivate) < tr.deactivations {
		tb.Fatalf("workspace of %d generated members has %d deactivated and %d deactivatable members, want %d and %d",
			tr.members, len(toActivate), len(toDeactivate), tr.activations, tr.deactivations)
	}

	fs := fakeslack.New(fakeslack.WithWorkspace(ws), fakeslack.WithSCIMLimits(tr.scale))
	defer fs.Close()
	db, err := store.Open(filepath.Join(tb.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	provider := scim.New(fs.SCIMURL(), fakeslack.AdminToken,
		scim.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
		scim.WithLimits(scim.Limits{Share: 1, TimeScale: tr.scale}))

	total := tr.invites + tr.activations + tr.deactivations
	var (
		mu       sync.Mutex
		finished int
		failed   int
		end      time.Time
		lastErr  string
		done     = make(chan struct{})
	)
	svc := provisioning.NewService(db, provider, members{fs}, provisioning.Options{
		Workers: tr.workers,
		OnJobFinished: func(_ context.Context, j provisioning.Job) {
			mu.Lock()
			defer mu.Unlock()
			finished++
			if j.State == provisioning.JobFailed {
				failed++
				lastErr = j.Email + ": " + j.LastError
			}
			if finished == total {
				end = time.Now()
				close(done)
			}
		},
	})

	ctx := context.Background()
	for i := 0; i < max(tr.invites, tr.activations, tr.deactivations); i++ {
		if i < tr.invites {
			if _, _, err := svc.Assign(ctx, provisioning.Grant{Email: fmt.Sprintf("bench.invite.%d@example.com", i), By: fakeslack.DemoAdminID}); err != nil {
				tb.Fatal(err)
			}
		}
		if i < tr.activations {
			if _, _, err := svc.Assign(ctx, provisioning.Grant{Email: toActivate[i], By: fakeslack.DemoAdminID}); err != nil {
				tb.Fatal(err)
			}
		}
		if i < tr.deactivations {
			if _, _, err := svc.Revoke(ctx, toDeactivate[i], fakeslack.DemoAdminID, "benchmark"); err != nil {
				tb.Fatal(err)
			}
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	if b, ok := tb.(*testing.B); ok {
		b.StartTimer()
	}
	start := time.Now()
	go func() { stopped <- svc.Run(runCtx) }()
	select {
	case <-done:
		if b, ok := tb.(*testing.B); ok {
			b.StopTimer()
		}
	case <-time.After(5 * time.Minute):
		mu.Lock()
		n := finished
		mu.Unlock()
		tb.Fatalf("%d of %d jobs finished within 5 minutes", n, total)
	}
	cancel()
	if err := <-stopped; err != nil {
		tb.Errorf("Run() = %v, want nil", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if failed > 0 {
		tb.Logf("%d jobs failed; last: %s", failed, lastErr)
	}
	c := fs.SCIMCounts()
	elapsed := end.Sub(start)
	return throughputResult{
		elapsed:     elapsed,
		failed:      failed,
		writes:      c.Writes,
		rateLimited: c.RateLimited,
		locked:      c.Locked,
		permitted:   tr.permittedWrites(elapsed),
	}
}

// BenchmarkProvisioningThroughput measures how close the provisioning core
// comes to Slack's SCIM write limits, emulated by fakeslack on scaled time,
// with the real store, SCIM client and worker pool. Targets: at least 90%
// of the permitted writes, no 429 from the emulated limits, no failed job.
//
//	invite: POST /Users only, 180/min burst 20.
//	mixed:  POST, PATCH and DELETE /Users, 180/min burst 20 each, all
//	        within the org-wide write pool (600/min burst 180).
func BenchmarkProvisioningThroughput(b *testing.B) {
	runs := []struct {
		name string
		run  throughputRun
	}{
		{"invite", throughputRun{scale: 30, workers: 4, invites: 400}},
		{"mixed", throughputRun{scale: 20, workers: 4, invites: 300, activations: 300, deactivations: 300, members: 20000}},
	}
	for _, r := range runs {
		b.Run(r.name, func(b *testing.B) {
			var sum throughputResult
			var writesPerSec, permittedPerSec, ratio float64
			n := 0
			for b.Loop() {
				res := r.run.run(b)
				n++
				sum.failed += res.failed
				sum.rateLimited += res.rateLimited
				sum.locked += res.locked
				writesPerSec += res.writesPerSec()
				permittedPerSec += res.permittedPerSec()
				ratio += res.ratio()
			}
			f := float64(n)
			b.ReportMetric(writesPerSec/f, "writes/s")
			b.ReportMetric(permittedPerSec/f, "permitted-writes/s")
			b.ReportMetric(100*ratio/f, "%-of-permitted")
			b.ReportMetric(float64(sum.rateLimited)/f, "429s/op")
			b.ReportMetric(float64(sum.locked)/f, "locked-429s/op")
			b.ReportMetric(float64(sum.failed)/f, "failed-jobs/op")
		})
	}
}

// TestThroughputStaysWithinLimits runs invites past the initial burst
// against Slack's emulated SCIM limits: the client's limiter must keep
// every request within them, so no request is refused and no job fails.
// It asserts no timing.
func TestThroughputStaysWithinLimits(t *testing.T) {
	tr := throughputRun{scale: 60, workers: 4, invites: 60}
	res := tr.run(t)
	if res.rateLimited != 0 {
		t.Errorf("%d requests got 429 from the emulated SCIM limits, want 0", res.rateLimited)
	}
	if res.failed != 0 {
		t.Errorf("%d jobs failed, want 0", res.failed)
	}
	if res.writes != tr.invites {
		t.Errorf("SCIM writes = %d, want %d", res.writes, tr.invites)
	}
	t.Logf("%d writes in %s: %.0f writes/s, %.0f%% of the %.0f/s permitted",
		res.writes, res.elapsed.Round(time.Millisecond), res.writesPerSec(), 100*res.ratio(), res.permittedPerSec())
}
