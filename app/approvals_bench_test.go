package app_test

// BenchmarkApproveStorm and TestApproveStorm: the approval workflow under a
// burst of clicks, against fakeslack over a real Socket Mode WebSocket with
// the real app.Run (ROSTER_REQUIRED_APPROVALS=1, info-level logs).
//
// 100 requests are made through /roster request and wait in the approvals
// channel; then 10 approvers each click Approve on each of them, 1,000
// clicks shuffled and sent at once from several goroutines. Exactly one
// click per request may decide it: 100 grants, 100 SCIM POST /Users, and
// 900 clickers told the request was already approved.
//
// Measured (pooled over the iterations, in ms):
//   - ack: envelope sent → ack received, per click (fakeslack's
//     Ack.Latency);
//   - decision: a request's first click sent → the chat.update of its
//     approval message arriving at fakeslack;
//   - create: a request's first click sent → its SCIM POST /Users applied
//     (with the SCIM client's rate limits sped up, stormSCIMTimeScale);
//   - send-spread: first click sent → last click sent.
//
// The clicks are block_actions envelopes built from the approval messages
// and sent with fakeslack.SendEnvelope (sub-benchmark clicks=envelopes, and
// the test); clicks=BlockAction sends them with fakeslack.BlockAction,
// which is too slow to send 1,000 at once and delays the acks it measures
// (see stormBlockAction). The log line also gives the Router's own ack
// step from /metrics and the Web API calls the storm caused.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/app"
	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
)

const (
	stormRequests  = 100
	stormApprovers = 10
	stormSenders   = 8 // goroutines sending the clicks
	stormRequester = "U0S000100"
	// stormSCIMTimeScale speeds up the SCIM client's rate limits (Hooks.
	// SCIMLimits). At Slack's real POST /Users rate (180/min after a burst
	// of 17) the 100 creates take about 28 s, all of it waiting on the
	// limiter; ×20 they take under 2 s.
	stormSCIMTimeScale = 20
)

func stormApproverID(i int) string { return fmt.Sprintf("U0S%06d", i+1) }

func stormEmail(i int) string { return fmt.Sprintf("storm.%03d@example.com", i) }

// stormWorkspace is the demo workspace plus the 10 approvers and the
// requester, all plain members.
func stormWorkspace() *fakeslack.Workspace {
	w := fakeslack.DemoWorkspace()
	for i := range stormApprovers {
		name := fmt.Sprintf("approver.%02d", i+1)
		w.Add(fakeslack.User{ID: stormApproverID(i), Name: name, RealName: fmt.Sprintf("Approver %02d", i+1), Email: name + "@example.com"})
	}
	w.Add(fakeslack.User{ID: stormRequester, Name: "rita.requester", RealName: "Rita Requester", Email: "rita.requester@example.com"})
	return w
}

// stormStartBot runs the bot against fs, with the SCIM client's limits
// time-scaled, and returns the app once the socket is connected, and a
// stop function.
func stormStartBot(tb testing.TB, fs *fakeslack.Server, e map[string]string) (*app.App, func()) {
	tb.Helper()
	cfg, err := app.LoadConfig(getenv(e))
	if err != nil {
		tb.Fatalf("LoadConfig() = %v", err)
	}
	b := launch(tb, e, app.Hooks{
		PingInterval: 5 * time.Second,
		JobBackoff:   20 * time.Millisecond,
		SCIMLimits:   &scim.Limits{Share: cfg.SCIMRateShare, TimeScale: stormSCIMTimeScale},
	})
	if err := fs.WaitConnections(1, 10*time.Second); err != nil {
		tb.Fatalf("bot did not connect: %v", err)
	}
	return b.app, func() { b.stop() }
}

// stormWait polls cond every 20 ms for up to timeout.
func stormWait(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not done within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stormPct is the nearest-rank percentile p (0 < p ≤ 100) of ds.
func stormPct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func stormMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func stormSummary(ds []time.Duration) string {
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(ds), r(stormPct(ds, 50)), r(stormPct(ds, 99)), r(stormPct(ds, 100)))
}

// stormPending is one pending request and its approval message.
type stormPending struct {
	id, email, ts string
}

// stormResult is what one storm produced.
type stormResult struct {
	acks      []time.Duration // per click
	decisions []time.Duration // per request
	creates   []time.Duration // per request
	spread    time.Duration   // first click sent → last click sent
	sendTime  time.Duration   // wall time of the senders' loop
	total     time.Duration   // first click sent → everything settled
	lastAck   time.Duration   // first click sent → last ack received
	router    string          // Roster's own ack step, from /metrics
	webAPI    string          // Web API calls during the storm, by method

	clicks, acked, ackedTwice int
	approved, grants          int
	multiDecided              int // requests with more than one decision recorded
	scimCreates               int // applied POST /Users
	scimRefusedCreates        int // POST /Users not applied (409, 429 …)
	alreadyApproved           int // ephemerals "already approved"
	otherEphemerals           []string
	updates                   int // chat.update calls on the approval messages
	jobs                      map[provisioning.JobState]int
}

// setupStorm starts fakeslack and the bot and makes the stormRequests
// pending requests through /roster request.
func setupStorm(tb testing.TB) (*fakeslack.Server, *app.App, func(), []stormPending) {
	tb.Helper()
	fs := fakeslack.New(fakeslack.WithWorkspace(stormWorkspace()))
	approvers := make([]string, stormApprovers)
	for i := range approvers {
		approvers[i] = stormApproverID(i)
	}
	e := env(fs, tb.TempDir(), map[string]string{
		"ROSTER_APPROVERS":          strings.Join(approvers, ","),
		"ROSTER_ADMINS":             "",
		"ROSTER_REQUIRED_APPROVALS": "1",
		"ROSTER_LOG_LEVEL":          "info",
	})
	a, stop := stormStartBot(tb, fs, e)
	stopAll := func() { stop(); fs.Close() }
	stormWait(tb, "directory sync", 15*time.Second, func() bool { _, ok := a.Directory.ByEmail("rita.requester@example.com"); return ok })

	// The requests, sent at once as the requester's slash commands.
	for i := range stormRequests {
		if _, err := fs.SlashCommand(stormRequester, "request "+stormEmail(i)+" for 2w storm test"); err != nil {
			tb.Fatal(err)
		}
	}
	want := map[string]int{}
	for i := range stormRequests {
		want[stormEmail(i)] = i
	}
	pending := make([]stormPending, stormRequests)
	stormWait(tb, "100 approval messages", 30*time.Second, func() bool {
		n := 0
		for _, m := range fs.Messages(fakeslack.DemoApprovalsChannel) {
			for email, i := range want {
				if strings.Contains(string(m.Blocks), email) && strings.Contains(string(m.Blocks), blocks.ActionApprove) {
					pending[i] = stormPending{id: stormRequestID(tb, m), email: email, ts: m.TS}
					n++
					break
				}
			}
		}
		return n == stormRequests
	})
	// Setup settles: every requester answered, every message remembered.
	stormWait(tb, "requester answers", 30*time.Second, func() bool {
		n := 0
		for _, m := range fs.Ephemerals(stormRequester) {
			if strings.Contains(string(m.Blocks), "waiting for approval") {
				n++
			}
		}
		return n == stormRequests
	})
	for _, p := range pending {
		r, err := a.Service.Request(context.Background(), p.id)
		if err != nil || r.Status != provisioning.StatusPending || r.MessageTS != p.ts || r.Email != p.email {
			tb.Fatalf("request %s = %+v, %v; want pending %s with message %s", p.id, r, err, p.email, p.ts)
		}
	}
	return fs, a, stopAll, pending
}

func stormRequestID(tb testing.TB, m fakeslack.Message) string {
	_, after, ok := strings.Cut(string(m.Blocks), `"action_id":"`+blocks.ActionApprove+`"`)
	if !ok {
		tb.Fatalf("no Approve button in %s", m.Blocks)
	}
	_, after, _ = strings.Cut(after, `"value":"`)
	id, _, _ := strings.Cut(after, `"`)
	return id
}

// stormClickMode is how the clicks reach the bot.
type stormClickMode int

const (
	// stormEnvelopes sends block_actions envelopes built before the storm
	// from each approval message, as BlockAction builds them, through
	// fakeslack.SendEnvelope: the 1,000 clicks leave within milliseconds.
	stormEnvelopes stormClickMode = iota
	// stormBlockAction sends each click with fakeslack.BlockAction, which
	// looks the button up by decoding every message the app posted, under
	// fakeslack's lock: about 2.5 ms a click here, so the clicks spread
	// over seconds, and the app's acks and Web API calls wait for that
	// lock meanwhile.
	stormBlockAction
)

func (m stormClickMode) String() string {
	if m == stormBlockAction {
		return "BlockAction"
	}
	return "envelopes"
}

// stormClickPayload is the block_actions payload of user clicking Approve
// on p's approval message m, as fakeslack.BlockAction builds it (without a
// response_url, which Roster does not use for decisions).
func stormClickPayload(tb testing.TB, fs *fakeslack.Server, user string, p stormPending, m fakeslack.Message) json.RawMessage {
	tb.Helper()
	var bs []struct {
		BlockID  string           `json:"block_id"`
		Elements []map[string]any `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &bs); err != nil {
		tb.Fatal(err)
	}
	var action map[string]any
	for _, b := range bs {
		for _, el := range b.Elements {
			if el["action_id"] == blocks.ActionApprove && el["value"] == p.id {
				action = map[string]any{"action_id": blocks.ActionApprove, "block_id": b.BlockID, "type": el["type"],
					"text": el["text"], "value": p.id, "action_ts": fmt.Sprintf("%d.000100", time.Now().Unix())}
			}
		}
	}
	if action == nil {
		tb.Fatalf("no Approve button for %s in %s", p.id, m.Blocks)
	}
	u, ok := fs.User(user)
	if !ok {
		tb.Fatalf("no user %s", user)
	}
	payload := map[string]any{
		"type": "block_actions", "api_app_id": fakeslack.AppID, "token": "fakeverificationtoken",
		"user":       map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": fakeslack.TeamID},
		"team":       map[string]any{"id": fakeslack.TeamID, "domain": fakeslack.TeamDomain},
		"enterprise": nil, "is_enterprise_install": false,
		"trigger_id": fs.TriggerID(user), "actions": []any{action},
		"state":     map[string]any{"values": map[string]any{}},
		"container": map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": false},
		"channel":   map[string]any{"id": m.Channel, "name": "channel"},
		"message": map[string]any{"type": "message", "text": m.Text, "user": m.User, "bot_id": fakeslack.BotID,
			"app_id": fakeslack.AppID, "ts": m.TS, "team": fakeslack.TeamID, "blocks": m.Blocks},
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// runStorm sends every approver's Approve on every request, shuffled, at
// once, and waits until every outcome is visible.
func runStorm(tb testing.TB, fs *fakeslack.Server, a *app.App, pending []stormPending, mode stormClickMode) stormResult {
	tb.Helper()
	type click struct {
		user    string
		req     int
		payload json.RawMessage
	}
	clicks := make([]click, 0, stormRequests*stormApprovers)
	msgs := map[string]fakeslack.Message{}
	for _, m := range fs.Messages(fakeslack.DemoApprovalsChannel) {
		msgs[m.TS] = m
	}
	for r, p := range pending {
		for u := range stormApprovers {
			c := click{user: stormApproverID(u), req: r}
			if mode == stormEnvelopes {
				c.payload = stormClickPayload(tb, fs, c.user, p, msgs[p.ts])
			}
			clicks = append(clicks, c)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(clicks), func(i, j int) { clicks[i], clicks[j] = clicks[j], clicks[i] })

	envs := make([]string, len(clicks)) // envelope ID of click i
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(clicks))
	for g := range stormSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := g; i < len(clicks); i += stormSenders {
				var id string
				var err error
				if mode == stormEnvelopes {
					id, err = fs.SendEnvelope("interactive", clicks[i].payload)
				} else {
					id, err = fs.BlockAction(clicks[i].user, blocks.ActionApprove, pending[clicks[i].req].id)
				}
				if err != nil {
					errs <- err
					continue
				}
				envs[i] = id
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res := stormResult{clicks: len(clicks), sendTime: time.Since(t0), jobs: map[provisioning.JobState]int{}}
	close(errs)
	for err := range errs {
		tb.Fatalf("send click: %v", err)
	}

	// Every click acked.
	index := map[string]int{}
	for i, id := range envs {
		index[id] = i
	}
	var acks []fakeslack.Ack
	stormWait(tb, "1,000 acks", 30*time.Second, func() bool {
		acks = fs.Acks()
		n := 0
		for _, ack := range acks {
			if _, ok := index[ack.EnvelopeID]; ok {
				n++
			}
		}
		return n >= len(clicks)
	})
	sent := make([]time.Time, len(clicks))
	count := map[string]int{}
	for _, ack := range acks {
		i, ok := index[ack.EnvelopeID]
		if !ok {
			continue
		}
		count[ack.EnvelopeID]++
		if count[ack.EnvelopeID] > 1 {
			res.ackedTwice++
			continue
		}
		res.acked++
		res.acks = append(res.acks, ack.Latency)
		sent[i] = ack.At.Add(-ack.Latency)
	}
	first := make([]time.Time, len(pending)) // first click sent, per request
	var firstAll, lastAll time.Time
	for i, c := range clicks {
		s := sent[i]
		if first[c.req].IsZero() || s.Before(first[c.req]) {
			first[c.req] = s
		}
		if firstAll.IsZero() || s.Before(firstAll) {
			firstAll = s
		}
		if s.After(lastAll) {
			lastAll = s
		}
	}
	res.spread = lastAll.Sub(firstAll)
	for _, ack := range acks {
		if _, ok := index[ack.EnvelopeID]; ok {
			res.lastAck = max(res.lastAck, ack.At.Sub(firstAll))
		}
	}
	res.router = stormRouterAcks(a)

	// Every approval message updated, every account created, every other
	// clicker told, every job finished.
	byTS := map[string]int{}
	byEmail := map[string]int{}
	for i, p := range pending {
		byTS[p.ts] = i
		byEmail[p.email] = i
	}
	// Cheap checks while waiting (the harness shares the 2 CPUs with the
	// bot), the detailed scan once.
	stormWait(tb, "outcomes", 45*time.Second, func() bool {
		if fs.SCIMCounts().Writes < len(pending) || len(fs.Calls("chat.update")) < len(pending) ||
			len(fs.Calls("chat.postEphemeral")) < len(clicks)-len(pending) {
			return false
		}
		var jobs map[provisioning.JobState]int
		_ = a.DB.View(context.Background(), func(tx provisioning.ReadTx) error {
			var err error
			jobs, err = tx.CountJobs()
			return err
		})
		return jobs[provisioning.JobPending] == 0 && jobs[provisioning.JobDone] >= len(pending)
	})
	settled := time.Now()
	// A late duplicate would show up in this pause.
	time.Sleep(250 * time.Millisecond)

	var methods []string
	calls, bytes := map[string]int{}, map[string]int{}
	for _, c := range fs.Calls("") {
		if c.At.Before(firstAll) {
			continue
		}
		if calls[c.Method] == 0 {
			methods = append(methods, c.Method)
		}
		calls[c.Method]++
		bytes[c.Method] += len(c.Param("view")) + len(c.Param("blocks"))
	}
	slices.Sort(methods)
	for _, m := range methods {
		res.webAPI += fmt.Sprintf(" %s×%d(%dKB)", m, calls[m], bytes[m]/1024)
	}

	updated := make([]time.Time, len(pending))
	for _, c := range fs.Calls("chat.update") {
		if c.Param("channel") != fakeslack.DemoApprovalsChannel {
			continue
		}
		if i, ok := byTS[c.Param("ts")]; ok {
			res.updates++
			if updated[i].IsZero() {
				updated[i] = c.At
			}
		}
	}
	created := make([]time.Time, len(pending))
	for _, r := range fs.SCIMRequests() {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.Path, "/Users") {
			continue
		}
		if !r.Applied {
			res.scimRefusedCreates++
			continue
		}
		res.scimCreates++
		var in struct {
			Emails []struct {
				Value string `json:"value"`
			} `json:"emails"`
		}
		_ = json.Unmarshal(r.Body, &in)
		for _, e := range in.Emails {
			if i, ok := byEmail[e.Value]; ok && created[i].IsZero() {
				created[i] = r.At
			}
		}
	}
	for _, c := range fs.Calls("chat.postEphemeral") {
		if strings.Contains(c.Param("blocks"), "already approved") {
			res.alreadyApproved++
		} else {
			res.otherEphemerals = append(res.otherEphemerals, c.Param("user")+": "+c.Param("text"))
		}
	}
	_ = a.DB.View(context.Background(), func(tx provisioning.ReadTx) error {
		var err error
		res.jobs, err = tx.CountJobs()
		return err
	})
	res.total = settled.Sub(firstAll)
	for i := range pending {
		if !updated[i].IsZero() {
			res.decisions = append(res.decisions, updated[i].Sub(first[i]))
		}
		if !created[i].IsZero() {
			res.creates = append(res.creates, created[i].Sub(first[i]))
		}
	}

	// What the store holds.
	for _, p := range pending {
		r, err := a.Service.Request(context.Background(), p.id)
		if err != nil {
			tb.Fatal(err)
		}
		if r.Status == provisioning.StatusApproved {
			res.approved++
		}
		if len(r.Decisions) > 1 || len(provisioning.Approvals(r)) > 1 {
			res.multiDecided++
		}
	}
	err := a.DB.View(context.Background(), func(tx provisioning.ReadTx) error {
		for _, p := range pending {
			as, err := tx.Assignments(p.email)
			if err != nil {
				return err
			}
			for _, x := range as {
				if x.Source == provisioning.SourceRequest {
					res.grants++
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// stormRouterAcks summarizes roster_ack_latency_seconds{type="interactive"}
// from /metrics: the Router's part of the ack (envelope handed to the
// Router → ack queued for the socket), as opposed to the whole round trip
// fakeslack measures.
func stormRouterAcks(a *app.App) string {
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		return "router acks: " + err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var count, sum float64
	type bucket struct {
		le string
		n  float64
	}
	var buckets []bucket
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, `type="interactive"`) {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch {
		case strings.HasPrefix(line, "roster_ack_latency_seconds_count"):
			count = v
		case strings.HasPrefix(line, "roster_ack_latency_seconds_sum"):
			sum = v
		case strings.HasPrefix(line, "roster_ack_latency_seconds_bucket"):
			_, le, _ := strings.Cut(line, `le="`)
			le, _, _ = strings.Cut(le, `"`)
			buckets = append(buckets, bucket{le, v})
		}
	}
	if count == 0 {
		return "router acks: none in /metrics"
	}
	p99 := "?"
	for _, b := range buckets {
		if b.n >= 0.99*count {
			p99 = "≤" + b.le + "s"
			break
		}
	}
	return fmt.Sprintf("router ack step: n=%.0f mean=%s p99 %s", count,
		time.Duration(sum/count*float64(time.Second)).Round(10*time.Microsecond), p99)
}

// check reports the exact counts the storm must produce.
func (r stormResult) check(tb testing.TB) {
	tb.Helper()
	want := []struct {
		what      string
		got, want int
	}{
		{"clicks acked", r.acked, r.clicks},
		{"clicks acked more than once", r.ackedTwice, 0},
		{"requests approved", r.approved, stormRequests},
		{"grants (request assignments)", r.grants, stormRequests},
		{"requests with more than one decision", r.multiDecided, 0},
		{"SCIM creates applied", r.scimCreates, stormRequests},
		{"SCIM creates refused", r.scimRefusedCreates, 0},
		{"chat.update of approval messages", r.updates, stormRequests},
		{"'already approved' ephemerals", r.alreadyApproved, r.clicks - stormRequests},
		{"other ephemerals", len(r.otherEphemerals), 0},
		{"jobs done", r.jobs[provisioning.JobDone], stormRequests},
		{"jobs failed", r.jobs[provisioning.JobFailed], 0},
	}
	for _, w := range want {
		if w.got != w.want {
			tb.Errorf("%s = %d, want %d", w.what, w.got, w.want)
		}
	}
	if len(r.otherEphemerals) > 0 {
		tb.Logf("other ephemerals (first 5): %q", r.otherEphemerals[:min(5, len(r.otherEphemerals))])
	}
}

func (r stormResult) log(tb testing.TB) {
	tb.Helper()
	tb.Logf("ack %s; decision %s; create %s; clicks sent in %s (spread %s); last ack %s and all settled %s after the first click; %s; Web API calls:%s",
		stormSummary(r.acks), stormSummary(r.decisions), stormSummary(r.creates),
		r.sendTime.Round(time.Millisecond), r.spread.Round(time.Millisecond), r.lastAck.Round(time.Millisecond),
		r.total.Round(time.Millisecond), r.router, r.webAPI)
}

// TestApproveStorm runs the storm once and checks the counts only; the
// latencies are logged, never asserted.
func TestApproveStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 clicks; skipped in -short")
	}
	fs, a, stop, pending := setupStorm(t)
	defer stop()
	res := runStorm(t, fs, a, pending, stormEnvelopes)
	res.check(t)
	res.log(t)
}

// BenchmarkApproveStorm: go test -run '^$' -bench ApproveStorm -benchtime 1x ./app/
//
// The envelopes sub-benchmark is the target's storm (1,000 clicks at once);
// BlockAction sends the same clicks through fakeslack.BlockAction, whose
// lookup spreads them over seconds and slows the fake itself, for
// comparison.
func BenchmarkApproveStorm(b *testing.B) {
	for _, mode := range []stormClickMode{stormEnvelopes, stormBlockAction} {
		b.Run("clicks="+mode.String(), func(b *testing.B) { benchStorm(b, mode) })
	}
}

func benchStorm(b *testing.B, mode stormClickMode) {
	var all stormResult
	for range b.N {
		b.StopTimer()
		fs, a, stop, pending := setupStorm(b)
		b.StartTimer()
		res := runStorm(b, fs, a, pending, mode)
		b.StopTimer()
		res.check(b)
		res.log(b)
		stop()
		all.acks = append(all.acks, res.acks...)
		all.decisions = append(all.decisions, res.decisions...)
		all.creates = append(all.creates, res.creates...)
		all.spread = max(all.spread, res.spread)
		b.StartTimer()
	}
	b.Logf("GOMAXPROCS=%d %s, SCIM time ×%d", runtime.GOMAXPROCS(0), runtime.Version(), stormSCIMTimeScale)
	b.ReportMetric(stormMS(stormPct(all.acks, 50)), "ack-p50-ms")
	b.ReportMetric(stormMS(stormPct(all.acks, 99)), "ack-p99-ms")
	b.ReportMetric(stormMS(stormPct(all.acks, 100)), "ack-max-ms")
	b.ReportMetric(stormMS(stormPct(all.decisions, 50)), "decision-p50-ms")
	b.ReportMetric(stormMS(stormPct(all.decisions, 99)), "decision-p99-ms")
	b.ReportMetric(stormMS(stormPct(all.creates, 50)), "create-p50-ms")
	b.ReportMetric(stormMS(stormPct(all.creates, 99)), "create-p99-ms")
	b.ReportMetric(stormMS(all.spread), "send-spread-ms")
}
