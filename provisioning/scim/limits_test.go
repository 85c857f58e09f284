package scim_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
)

// The tests here run in a synctest bubble: the client's limiter and the
// stamps below read the bubble's fake clock, which only moves when every
// goroutine in the bubble is blocked, so the timings are exact. The fake
// Slack runs outside the bubble on loopback (network I/O is not "durably
// blocking", so time stands still while a request is in flight), and the
// client's transport keeps no idle connections, so no bubble goroutine
// outlives a request.

// stampTransport records when (in the bubble's time, since start) each
// request left the client.
type stampTransport struct {
	start time.Time
	base  http.RoundTripper

	mu   sync.Mutex
	sent map[string][]time.Duration // by "METHOD /path"
}

func newStamps() *stampTransport {
	return &stampTransport{
		start: time.Now(),
		base:  &http.Transport{DisableKeepAlives: true},
		sent:  map[string][]time.Duration{},
	}
}

func (s *stampTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	k := r.Method + " " + r.URL.Path
	s.sent[k] = append(s.sent[k], time.Since(s.start))
	s.mu.Unlock()
	return s.base.RoundTrip(r)
}

func (s *stampTransport) times(key string) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := slices.Clone(s.sent[key])
	slices.Sort(ts)
	return ts
}

// slackish answers every user request successfully.
func slackish(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(201)
			io.WriteString(w, userJSON("U1", "ada", "ada@example.com", true))
		case r.Method == http.MethodDelete:
			w.WriteHeader(204)
		case r.Method == http.MethodGet && r.URL.Path == "/Users":
			io.WriteString(w, `{"totalResults":0,"Resources":[]}`)
		default:
			io.WriteString(w, userJSON("U1", "ada", "ada@example.com", true))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// near reports whether got is within a millisecond of want (the limiter
// computes in float64 seconds).
func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Millisecond && d < time.Millisecond
}

func TestRateLimitBurstThenRate(t *testing.T) {
	create := func(ctx context.Context, c *scim.Client) error {
		_, err := c.Create(ctx, provisioning.NewAccount{Email: "ada@example.com", UserName: "ada"})
		return err
	}
	tests := []struct {
		name      string
		limits    scim.Limits
		call      func(context.Context, *scim.Client) error
		key       string
		wantBurst int
		wantEvery time.Duration
	}{
		// Bursts are Slack's (times Share) less the reserve, the tokens one
		// second of the real rate refills: 20 - 3 = 17, 10 - 2 = 8.
		{"create, default limits", scim.DefaultLimits(), create, "POST /Users", 17, time.Second / 3},
		{"create, half share", scim.Limits{Share: 0.5, TimeScale: 1}, create, "POST /Users", 8, 2 * time.Second / 3},
		{"create, time scale 60", scim.Limits{Share: 1, TimeScale: 60}, create, "POST /Users", 17, time.Second / 180},
		{"create, half share, time scale 60", scim.Limits{Share: 0.5, TimeScale: 60}, create, "POST /Users", 8, time.Second / 90},
		{"activate", scim.DefaultLimits(), func(ctx context.Context, c *scim.Client) error { return c.Activate(ctx, "U1") },
			"PATCH /Users/U1", 17, time.Second / 3},
		{"deactivate", scim.DefaultLimits(), func(ctx context.Context, c *scim.Client) error { return c.Deactivate(ctx, "U1") },
			"DELETE /Users/U1", 17, time.Second / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := slackish(t)
			synctest.Test(t, func(t *testing.T) {
				st := newStamps()
				c := scim.New(srv.URL, testToken, scim.WithLimits(tt.limits), scim.WithHTTPClient(&http.Client{Transport: st}))
				const n = 25
				var wg sync.WaitGroup
				for range n {
					wg.Go(func() {
						if err := tt.call(t.Context(), c); err != nil {
							t.Errorf("call = %v, want nil", err)
						}
					})
				}
				wg.Wait()

				got := st.times(tt.key)
				if len(got) != n {
					t.Fatalf("%d requests sent, want %d", len(got), n)
				}
				for i, at := range got {
					want := time.Duration(0)
					if i >= tt.wantBurst {
						want = time.Duration(i-tt.wantBurst+1) * tt.wantEvery
					}
					if !near(at, want) {
						t.Errorf("request %d sent at %v, want %v", i, at, want)
					}
				}
			})
		})
	}
}

func TestRateLimitPools(t *testing.T) {
	srv := slackish(t)
	synctest.Test(t, func(t *testing.T) {
		// Share 0.01: org-wide reads burst 10 less a reserve of 1, at
		// 10/min; GET /Users/{id} burst 3 less 1 at 3/min; DELETE burst 1
		// at 1.8/min; writes burst 1.
		st := newStamps()
		c := scim.New(srv.URL, testToken, scim.WithLimits(scim.Limits{Share: 0.01}), scim.WithHTTPClient(&http.Client{Transport: st}))
		ctx := t.Context()
		for range 9 {
			if _, err := c.List(ctx, 1, 10); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Deactivate(ctx, "U1"); err != nil { // writes: a pool of their own
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "U1"); err != nil { // reads pool exhausted by the lists
			t.Fatal(err)
		}
		want := map[string][]time.Duration{
			"GET /Users":       slices.Repeat([]time.Duration{0}, 9),
			"DELETE /Users/U1": {0},
			"GET /Users/U1":    {6 * time.Second},
		}
		for k, w := range want {
			got := st.times(k)
			if len(got) != len(w) {
				t.Errorf("%s sent at %v, want %v", k, got, w)
				continue
			}
			for i := range got {
				if !near(got[i], w[i]) {
					t.Errorf("%s sent at %v, want %v", k, got, w)
					break
				}
			}
		}
	})
}

func TestRetryAfterPausesEndpoint(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && posts.Add(1) == 1:
			w.Header().Set("Retry-After", "10")
			w.WriteHeader(429)
			io.WriteString(w, `{"Errors":{"description":"too_many_requests","code":429}}`)
		case r.Method == http.MethodPost:
			w.WriteHeader(201)
			io.WriteString(w, userJSON("U1", "ada", "ada@example.com", true))
		default:
			io.WriteString(w, userJSON("U1", "ada", "ada@example.com", true))
		}
	}))
	defer srv.Close()
	synctest.Test(t, func(t *testing.T) {
		st := newStamps()
		c := scim.New(srv.URL, testToken, scim.WithHTTPClient(&http.Client{Transport: st}))
		ctx := t.Context()
		na := provisioning.NewAccount{Email: "ada@example.com", UserName: "ada"}

		_, err := c.Create(ctx, na)
		var re *provisioning.RetryableError
		if !errors.As(err, &re) || re.After != 10*time.Second {
			t.Fatalf("first Create = %v, want RetryableError after 10s", err)
		}
		// Another endpoint is not paused.
		if _, err := c.Get(ctx, "U1"); err != nil {
			t.Fatalf("Get = %v, want nil", err)
		}
		// A caller that cannot wait out the pause is told at once.
		short, cancel := context.WithTimeout(ctx, time.Second)
		_, err = c.Create(short, na)
		cancel()
		if !errors.As(err, &re) || !near(re.After, 10*time.Second) {
			t.Errorf("Create with 1s deadline = %v, want RetryableError after 10s", err)
		}
		// The next create waits for Retry-After.
		if _, err := c.Create(ctx, na); err != nil {
			t.Fatalf("second Create = %v, want nil", err)
		}
		if got, want := st.times("POST /Users"), []time.Duration{0, 10 * time.Second}; !cmp.Equal(got, want) {
			t.Errorf("POST /Users sent at %v, want %v", got, want)
		}
		if got, want := st.times("GET /Users/U1"), []time.Duration{0}; !cmp.Equal(got, want) {
			t.Errorf("GET /Users/U1 sent at %v, want %v", got, want)
		}
	})
}

func TestRateLimitWaitHonoursContext(t *testing.T) {
	srv := slackish(t)
	synctest.Test(t, func(t *testing.T) {
		// Share 0.05: POST /Users has burst 1 and 9/min (one per 6.67s).
		const every = 60 * time.Second / 9
		st := newStamps()
		obs := &observations{}
		c := scim.New(srv.URL, testToken, scim.WithLimits(scim.Limits{Share: 0.05}),
			scim.WithHTTPClient(&http.Client{Transport: st}), scim.WithObserver(obs.observe))
		na := provisioning.NewAccount{Email: "ada@example.com", UserName: "ada"}
		start := time.Now()

		if _, err := c.Create(t.Context(), na); err != nil {
			t.Fatalf("Create = %v, want nil", err)
		}

		// Cancelled while waiting for the limiter: returns at once.
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		_, err := c.Create(ctx, na)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Create cancelled while waiting = %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("Create returned at %v, want 1s (when cancelled)", got)
		}

		// A deadline before the next token: fails at once, saying how long.
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		_, err = c.Create(ctx, na)
		cancel()
		var re *provisioning.RetryableError
		if !errors.As(err, &re) || !near(re.After, every-time.Second) {
			t.Errorf("Create with short deadline = %v, want RetryableError after %v", err, every-time.Second)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("Create with short deadline returned at %v, want 1s (at once)", got)
		}

		// The abandoned waits gave their tokens back: the next create goes
		// when the first refill is due.
		if _, err := c.Create(t.Context(), na); err != nil {
			t.Fatalf("Create = %v, want nil", err)
		}
		got := st.times("POST /Users")
		if len(got) != 2 || got[0] != 0 || !near(got[1], every) {
			t.Errorf("POST /Users sent at %v, want [0 %v]", got, every)
		}
		want := []string{"create ok", "create transient", "create rate_limited", "create ok"}
		if diff := cmp.Diff(want, obs.list()); diff != "" {
			t.Errorf("observations mismatch (-want +got):\n%s", diff)
		}
	})
}

// arrivalTransport stands for Slack across a network: each request arrives
// latency(i) after it was sent (i counts requests in the order sent), and
// POST /Users is rate limited as Slack documents it, 180/min with a burst of
// 20, counted when the request arrives. It answers without the network.
type arrivalTransport struct {
	latency func(i int) time.Duration

	mu      sync.Mutex
	sent    int
	tokens  float64
	last    time.Time
	refused int
}

func (a *arrivalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	a.mu.Lock()
	i := a.sent
	a.sent++
	a.mu.Unlock()
	time.Sleep(a.latency(i))

	a.mu.Lock()
	now := time.Now()
	if a.last.IsZero() {
		a.tokens = 20
	} else {
		a.tokens = min(20, a.tokens+now.Sub(a.last).Seconds()*180/60)
	}
	a.last = now
	ok := a.tokens >= 1
	if ok {
		a.tokens--
	} else {
		a.refused++
	}
	a.mu.Unlock()

	resp := &http.Response{StatusCode: 201, Header: http.Header{}, Request: r,
		Body: io.NopCloser(strings.NewReader(userJSON("U1", "ada", "ada@example.com", true)))}
	if !ok {
		resp.StatusCode = 429
		resp.Header.Set("Retry-After", "1")
		resp.Body = io.NopCloser(strings.NewReader(`{"Errors":{"description":"too_many_requests","code":429}}`))
	}
	return resp, nil
}

// Slack counts a request when it arrives. When the requests that spend the
// burst travel slower than later ones (the first open connections, say),
// Slack's bucket starts refilling later than the client's: a client that
// spent Slack's whole burst would then send the first paced request before
// Slack has a token for it. The reserve absorbs that.
func TestRateLimitAbsorbsLatencyVariation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := &arrivalTransport{latency: func(i int) time.Duration {
			if i < 20 {
				return 300 * time.Millisecond
			}
			return 50 * time.Millisecond
		}}
		c := scim.New("https://slack.invalid/scim/v2/", testToken, scim.WithHTTPClient(&http.Client{Transport: at}))
		var wg sync.WaitGroup
		for range 60 {
			wg.Go(func() {
				if _, err := c.Create(t.Context(), provisioning.NewAccount{Email: "ada@example.com", UserName: "ada"}); err != nil {
					t.Errorf("Create = %v, want nil", err)
				}
			})
		}
		wg.Wait()
		if at.refused != 0 {
			t.Errorf("Slack refused %d of %d requests with 429, want none", at.refused, at.sent)
		}
	})
}
