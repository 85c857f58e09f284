package fakeslack

import (
	"math"
	"strings"
	"time"
)

// bucket is a token bucket: rate tokens per second up to burst.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d*b.rate)
	}
	b.last = now
}

// wait is how long until the bucket holds one token.
func (b *bucket) wait() time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// scimLimiter emulates Slack's SCIM rate limits (slack-platform.md §1):
// per minute and burst, org-wide for reads and writes, and per endpoint. A
// request must fit both its org-wide bucket and its endpoint's bucket.
// It is guarded by Server.mu.
type scimLimiter struct {
	buckets map[string]*bucket
}

// scimLimits are Slack's limits: requests per minute, burst.
var scimLimits = map[string][2]float64{
	"writes":              {600, 180},
	"reads":               {1000, 1000},
	"GET /Users/{id}":     {300, 300},
	"POST /Users":         {180, 20},
	"PATCH /Users/{id}":   {180, 20}, // PUT too
	"DELETE /Users/{id}":  {180, 20},
	"GET /Groups/{id}":    {300, 300},
	"POST /Groups":        {180, 20},
	"PATCH /Groups/{id}":  {180, 80}, // PUT too
	"DELETE /Groups/{id}": {180, 20},
}

func newSCIMLimiter(scale float64, now time.Time) *scimLimiter {
	l := &scimLimiter{buckets: map[string]*bucket{}}
	for k, v := range scimLimits {
		l.buckets[k] = &bucket{rate: v[0] / 60 * scale, burst: v[1], tokens: v[1], last: now}
	}
	return l
}

// endpointKey names the endpoint of method and rel ("/Users/U1" →
// "PATCH /Users/{id}").
func endpointKey(method, rel string) string {
	if method == "PUT" {
		method = "PATCH"
	}
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	key := method + " /" + parts[0]
	if len(parts) > 1 {
		key += "/{id}"
	}
	return key
}

// take spends one token from each bucket the request counts against, or
// none if any is empty, in which case it returns how long to wait.
func (l *scimLimiter) take(method, rel string, now time.Time) (bool, time.Duration) {
	org := "writes"
	if method == "GET" {
		org = "reads"
	}
	bs := []*bucket{l.buckets[org]}
	if b, ok := l.buckets[endpointKey(method, rel)]; ok {
		bs = append(bs, b)
	}
	var wait time.Duration
	for _, b := range bs {
		b.refill(now)
		wait = max(wait, b.wait())
	}
	if wait > 0 {
		return false, wait
	}
	for _, b := range bs {
		b.tokens--
	}
	return true, 0
}
