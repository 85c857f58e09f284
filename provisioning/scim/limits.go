package scim

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/roster-app/roster/provisioning"
)

// Limits configures the client-side rate limiter, which keeps the client
// within Slack's SCIM rate limits (docs.slack.dev reference/scim-api/rate-limits):
//
//	org-wide writes (POST, PUT, PATCH, DELETE)   600/min, burst 180
//	org-wide reads (GET, including GET /Users)  1000/min, burst 1000
//	POST /Users                                  180/min, burst 20
//	PATCH/PUT /Users/{id}                        180/min, burst 20
//	DELETE /Users/{id}                           180/min, burst 20
//	GET /Users/{id}                              300/min, burst 300
//
// Before each request the client waits, honouring its context, on the
// endpoint's limiter and on the org-wide read or write limiter. If the wait
// would end after the context's deadline, it returns at once a
// *provisioning.RetryableError whose After is the wait needed, without
// sending anything.
//
// After an HTTP 429 with Retry-After, the client also pauses that endpoint
// (all of POST /Users, say, not just the one user): no further request on
// it starts before Retry-After has passed. Slack answers a write to a user
// still being updated with 429 too, so a per-user lock briefly pauses the
// endpoint as well; that is the conservative reading.
//
// Each limiter keeps part of Slack's burst in reserve, the tokens its rate
// refills in one second (POST /Users bursts 17 of Slack's 20, org-wide
// writes 170 of 180): Slack counts a request when it arrives, the client
// when it sends it, and the reserve absorbs up to a second of variation in
// network latency that would otherwise end in a 429. The steady rate is
// Slack's.
//
// Slack's limits are per org and shared by every SCIM app in it; the client
// only knows its own traffic.
type Limits struct {
	// Share is the fraction of Slack's limits this client may use, in
	// (0, 1]: rates and bursts are multiplied by it, then the reserve is
	// taken off the bursts (bursts are at least 1). Zero, negative or NaN
	// means 1; more than 1 means 1.
	Share float64
	// TimeScale multiplies the rates (not the bursts, nor Retry-After
	// pauses), for benchmarks against a fake Slack on scaled time. Zero,
	// negative or NaN means 1.
	TimeScale float64
	// Disabled turns off the limiters and the pause after a 429.
	Disabled bool
}

// DefaultLimits returns Slack's full limits in real time.
func DefaultLimits() Limits { return Limits{Share: 1, TimeScale: 1} }

func (l Limits) normalize() Limits {
	if !(l.Share > 0) || l.Share > 1 { // !(x > 0) also catches NaN
		l.Share = 1
	}
	if !(l.TimeScale > 0) || math.IsInf(l.TimeScale, 0) {
		l.TimeScale = 1
	}
	return l
}

// endpoint is a class of request with its own Slack limit.
type endpoint int

const (
	epList   endpoint = iota // GET /Users (reads pool only)
	epGet                    // GET /Users/{id}
	epCreate                 // POST /Users
	epPatch                  // PATCH/PUT /Users/{id}
	epDelete                 // DELETE /Users/{id}
	numEndpoints
)

func (e endpoint) write() bool { return e == epCreate || e == epPatch || e == epDelete }

type slackLimit struct{ perMinute, burst float64 }

// latencyAllowance is how much the network latency of one request may
// exceed that of a later one before Slack sees the client over its limit.
//
// Slack counts a request when it arrives, the client when it sends it. A
// bucket that is full stops filling: Slack's starts to refill when the
// first request of a burst arrives, the client's when it was sent, one
// latency earlier. A client that spends its whole burst and then sends each
// request the moment its own bucket has a token is therefore ahead of
// Slack's bucket by the first request's latency minus the current one's,
// times the rate: whenever a request travels faster than the one that
// started the burst, it arrives before Slack has its token, and gets a 429
// (and a Retry-After of at least a whole second). Equal rates never make up
// the difference, and every pause long enough to fill the buckets starts it
// again.
//
// So each limiter's burst is Slack's minus the tokens its rate refills in
// latencyAllowance, rounded up. The reserve is computed on the real rate,
// like the bursts: under a TimeScale it absorbs latencyAllowance/TimeScale.
// The client's steady rate stays Slack's; the cost is those few tokens of
// the first burst after each pause.
const latencyAllowance = time.Second

// burstFor returns the client's burst for s under l: Slack's burst times
// l.Share, less the reserve for latencyAllowance, at least 1.
func burstFor(s slackLimit, l Limits) int {
	burst := math.Floor(s.burst * l.Share)
	reserve := math.Ceil(s.perMinute / 60 * l.Share * latencyAllowance.Seconds())
	return max(1, int(burst-reserve))
}

var (
	orgWrites = slackLimit{600, 180}
	orgReads  = slackLimit{1000, 1000}
	// endpointLimits by endpoint; zero: no limit of its own.
	endpointLimits = [numEndpoints]slackLimit{
		epGet:    {300, 300},
		epCreate: {180, 20},
		epPatch:  {180, 20},
		epDelete: {180, 20},
	}
)

type limiters struct {
	reads, writes *rate.Limiter
	eps           [numEndpoints]bucket
}

type bucket struct {
	lim *rate.Limiter // nil: only the org-wide pool applies

	mu    sync.Mutex
	until time.Time // paused until, after a 429 with Retry-After
}

// newLimiters returns the limiters for l (normalized), or nil if disabled.
func newLimiters(l Limits) *limiters {
	if l.Disabled {
		return nil
	}
	mk := func(s slackLimit) *rate.Limiter {
		r := rate.Limit(s.perMinute / 60 * l.Share * l.TimeScale)
		return rate.NewLimiter(r, burstFor(s, l))
	}
	ls := &limiters{reads: mk(orgReads), writes: mk(orgWrites)}
	for ep, s := range endpointLimits {
		if s.perMinute > 0 {
			ls.eps[ep].lim = mk(s)
		}
	}
	return ls
}

// pause stops requests on ep from starting before until.
func (l *limiters) pause(ep endpoint, until time.Time) {
	if l == nil {
		return
	}
	b := &l.eps[ep]
	b.mu.Lock()
	if until.After(b.until) {
		b.until = until
	}
	b.mu.Unlock()
}

// wait blocks until a request on ep may start: any pause has passed and
// both ep's limiter and the org-wide pool have a token. where names the
// request in errors.
func (l *limiters) wait(ctx context.Context, ep endpoint, where string) error {
	if l == nil {
		return sleep(ctx, 0, where) // only checks ctx
	}
	if err := l.waitPause(ctx, ep, where); err != nil {
		return err
	}
	org := l.reads
	if ep.write() {
		org = l.writes
	}
	now := time.Now()
	rs := []*rate.Reservation{org.ReserveN(now, 1)}
	if lim := l.eps[ep].lim; lim != nil {
		rs = append(rs, lim.ReserveN(now, 1))
	}
	var delay time.Duration
	for _, r := range rs {
		delay = max(delay, r.DelayFrom(now)) // bursts are ≥ 1, so r.OK()
	}
	cancel := func() {
		t := time.Now()
		for _, r := range rs {
			r.CancelAt(t)
		}
	}
	if err := sleep(ctx, delay, where); err != nil {
		cancel()
		return err
	}
	// A 429 may have arrived while we slept.
	return l.waitPause(ctx, ep, where)
}

func (l *limiters) waitPause(ctx context.Context, ep endpoint, where string) error {
	b := &l.eps[ep]
	for {
		b.mu.Lock()
		until := b.until
		b.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		if err := sleep(ctx, d, where); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx is done. If ctx's deadline comes first, it
// returns a RetryableError at once instead of waiting in vain.
func sleep(ctx context.Context, d time.Duration, where string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return &provisioning.RetryableError{After: d, Err: &failure{
			msg:    fmt.Sprintf("%s: client-side SCIM rate limit needs a wait past the context deadline", where),
			result: "rate_limited",
		}}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", where, ctx.Err())
	}
}
