package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/app"
	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// TestMain lets the test binary act as the roster command in a child
// process (crash and lock tests): ROSTER_TEST_MAIN=1 runs app.Main with the
// arguments in ROSTER_TEST_ARGS.
func TestMain(m *testing.M) {
	if os.Getenv("ROSTER_TEST_MAIN") == "1" {
		args := strings.Fields(os.Getenv("ROSTER_TEST_ARGS"))
		os.Exit(app.Main(args, os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// env is a configuration pointing at fs, with a database in dir.
func env(fs *fakeslack.Server, dir string, extra map[string]string) map[string]string {
	e := map[string]string{
		"SLACK_APP_TOKEN":          fakeslack.AppToken,
		"SLACK_BOT_TOKEN":          fakeslack.BotToken,
		"SLACK_ADMIN_TOKEN":        fakeslack.AdminToken,
		"SLACK_API_URL":            fs.APIURL(),
		"SLACK_SCIM_URL":           fs.SCIMURL(),
		"ROSTER_DB":                filepath.Join(dir, "roster.db"),
		"ROSTER_APPROVALS_CHANNEL": fakeslack.DemoApprovalsChannel,
		"ROSTER_ADMINS":            fakeslack.DemoApproverID,
		"ROSTER_HTTP_ADDR":         "127.0.0.1:0",
		"ROSTER_LOG_LEVEL":         "debug",
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bot is app.Run running in this process.
type bot struct {
	app     *app.App
	logs    *syncBuffer
	started time.Time            // just before app.Run was called
	ready   time.Time            // when the Ready hook ran
	stop    func() time.Duration // cancels Run and returns how long it took to return
}

// launch runs app.Run with e and hooks (launch sets Ready) until stop or
// the end of the test, logging to the bot's buffer at e's level. It
// returns once Ready has run; it does not wait for the socket.
func launch(tb testing.TB, e map[string]string, hooks app.Hooks) *bot {
	tb.Helper()
	cfg, err := app.LoadConfig(getenv(e))
	if err != nil {
		tb.Fatalf("LoadConfig() = %v", err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan *app.App, 1)
	done := make(chan error, 1)
	hooks.Ready = func(a *app.App) { readyc <- a }
	b := &bot{logs: logs, started: time.Now()}
	go func() { done <- app.Run(ctx, cfg, app.NewLogger(cfg, logs), hooks) }()
	select {
	case b.app = <-readyc:
		b.ready = time.Now()
	case err := <-done:
		cancel()
		tb.Fatalf("Run() = %v before it was ready; logs:\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatal("bot not ready within 60s")
	}
	var once sync.Once
	var took time.Duration
	b.stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run() = %v after cancel, want nil", err)
				}
			case <-time.After(20 * time.Second):
				tb.Errorf("Run() did not return within 20s of cancel")
			}
			took = time.Since(start)
			if tb.Failed() {
				out := logs.String()
				if len(out) > 20000 {
					out = "…" + out[len(out)-20000:]
				}
				tb.Logf("bot logs:\n%s", out)
			}
		})
		return took
	}
	tb.Cleanup(func() { b.stop() })
	return b
}

// startBot runs app.Run in this process against fs until the test ends,
// and waits for its socket.
func startBot(t *testing.T, fs *fakeslack.Server, e map[string]string) *bot {
	t.Helper()
	b := launch(t, e, app.Hooks{PingInterval: 5 * time.Second, JobBackoff: 20 * time.Millisecond})
	t.Cleanup(func() {
		b.stop()
		// Debug logs of a whole run, errors from Slack and SCIM included,
		// never carry a token.
		out := b.logs.String()
		for _, tok := range []string{fakeslack.BotToken, fakeslack.AppToken, fakeslack.AdminToken} {
			if strings.Contains(out, tok) || strings.Contains(out, tok[5:]) {
				t.Errorf("logs contain a token (%s…)", tok[:5])
			}
		}
		if !strings.Contains(out, "roster running") {
			t.Errorf("logs lack the start line; is the log captured?")
		}
	})
	if err := fs.WaitConnections(1, 10*time.Second); err != nil {
		t.Fatalf("bot did not connect: %v", err)
	}
	return b
}

func newFake(t *testing.T, opts ...fakeslack.Option) *fakeslack.Server {
	t.Helper()
	fs := fakeslack.New(append([]fakeslack.Option{fakeslack.WithWorkspace(fakeslack.DemoWorkspace())}, opts...)...)
	t.Cleanup(fs.Close)
	return fs
}

// Every envelope is acked exactly once and quickly, including ones slack-go
// cannot parse; nothing crashes.
func TestEveryEnvelopeIsAcked(t *testing.T) {
	fs := newFake(t)
	startBot(t, fs, env(fs, t.TempDir(), nil))

	var ids []string
	send := func(id string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	send(fs.SlashCommand(fakeslack.DemoMemberID, "help"))
	send(fs.SlashCommand(fakeslack.DemoAdminID, strings.Repeat("assign x@example.com ", 500)))
	send(fs.BlockAction(fakeslack.DemoAdminID, "unknown.action", "v"))
	send(fs.ViewSubmission(fakeslack.DemoAdminID, "unknown.view", nil))
	envID, _, err := fs.AppHomeOpened(fakeslack.DemoMemberID)
	send(envID, err)
	envID, _, err = fs.EventsAPI(map[string]any{"type": "made_up_event_type", "user": "U1"})
	send(envID, err)
	// A redelivery is acked too (Slack would otherwise retry again).
	send(fs.Redeliver(envID, 1))
	// A payload slack-go cannot decode at all.
	send(fs.SendEnvelope("interactive", "this is not an object"))
	send(fs.SendEnvelope("slash_commands", []int{1, 2, 3}))

	for _, id := range ids {
		a, err := fs.WaitAck(id, 5*time.Second)
		if err != nil {
			t.Errorf("envelope %s: %v", id, err)
			continue
		}
		if a.Latency > 3*time.Second {
			t.Errorf("envelope %s acked after %s, want within 3s", id, a.Latency)
		}
	}
	counts := map[string]int{}
	for _, a := range fs.Acks() {
		counts[a.EnvelopeID]++
	}
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("envelope %s acked %d times, want exactly once", id, counts[id])
		}
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	fs := newFake(t)
	b := startBot(t, fs, env(fs, t.TempDir(), nil))
	if _, _, err := b.app.Service.Assign(t.Context(), provisioning.Grant{Email: "metrics@example.com", By: fakeslack.DemoAdminID}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitSCIM(ctxTimeout(t, 10*time.Second), func(r fakeslack.SCIMRequest) bool { return r.Method == http.MethodPost && r.Applied }); err != nil {
		t.Fatal(err)
	}
	id, err := fs.SlashCommand(fakeslack.DemoMemberID, "help")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(id, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get("http://" + b.app.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]any
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || health["socket_connected"] != true || health["database_open"] != true {
		t.Errorf("GET /healthz = %d %v (%v), want 200 with socket and database up", resp.StatusCode, health, err)
	}

	// Metrics are read after the job is stored as done.
	var body string
	for range 100 {
		resp, err := http.Get("http://" + b.app.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(raw)
		if strings.Contains(body, `roster_jobs{state="done"} 1`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		`roster_jobs{state="done"} 1`,
		`roster_jobs{state="pending"} 0`,
		`roster_scim_calls_total{op="create",result="ok"} 1`,
		`roster_ack_latency_seconds_count{type="slash_commands"} 1`,
		`roster_socket_connected 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// With the socket gone, /healthz says so.
	fs.Close()
	for range 100 {
		resp, err := http.Get("http://" + b.app.HTTPAddr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("GET /healthz stayed 200 after the socket closed")
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// Bad or revoked tokens stop Roster at once with a message naming the
// variable, and never the token.
func TestBadTokensAreFatal(t *testing.T) {
	tests := []struct {
		name   string
		revoke string
		want   string
	}{
		{"bot token revoked", fakeslack.BotToken, "SLACK_BOT_TOKEN"},
		{"app token revoked", fakeslack.AppToken, "SLACK_APP_TOKEN"},
		{"admin token revoked", fakeslack.AdminToken, "SLACK_ADMIN_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFake(t)
			fs.RevokeToken(tt.revoke)
			var stderr bytes.Buffer
			start := time.Now()
			code := app.Main([]string{"run"}, getenv(env(fs, t.TempDir(), nil)), io.Discard, &stderr)
			if code != 1 {
				t.Errorf("exit status = %d, want 1", code)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s to give up, want a prompt failure", took)
			}
			out := stderr.String()
			if !strings.Contains(out, tt.want) {
				t.Errorf("output %q does not name %s", out, tt.want)
			}
			for _, tok := range []string{fakeslack.BotToken, fakeslack.AppToken, fakeslack.AdminToken} {
				if strings.Contains(out, tok) {
					t.Errorf("output contains a token: %q", out)
				}
			}
		})
	}
}

// A job that fails at Slack (401 from SCIM, a 500 with the request echoed)
// logs the failure without the token.
func TestSCIMFailuresAreLoggedWithoutTokens(t *testing.T) {
	fs := newFake(t)
	b := startBot(t, fs, env(fs, t.TempDir(), nil))
	fs.InjectSCIM(fakeslack.Fault{Method: http.MethodGet, Status: http.StatusInternalServerError, Count: 1,
		Body: `{"detail":"internal_error: Authorization: Bearer ` + fakeslack.AdminToken + `"}`})
	fs.InjectSCIM(fakeslack.Fault{Method: http.MethodGet, Status: http.StatusUnauthorized, Count: 1,
		Body: `{"Errors":{"description":"invalid_authentication token=` + fakeslack.AdminToken + `","code":401}}`})
	_, job, err := b.app.Service.Assign(t.Context(), provisioning.Grant{Email: "token.leak@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var j provisioning.Job
		err := b.app.DB.View(t.Context(), func(tx provisioning.ReadTx) error {
			var err error
			j, err = tx.Job(job.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if j.State == provisioning.JobFailed {
			if strings.Contains(j.LastError, fakeslack.AdminToken) {
				t.Errorf("job error contains the token: %q", j.LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s = %s, want failed (401 is permanent)", j.ID, j.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(b.logs.String(), "job failed") {
		t.Errorf("the failure was not logged")
	}
}

func TestDryRunSkipsSCIMProbe(t *testing.T) {
	fs := newFake(t)
	fs.RevokeToken(fakeslack.AdminToken)
	e := env(fs, t.TempDir(), map[string]string{"ROSTER_DRY_RUN": "true"})
	delete(e, "SLACK_ADMIN_TOKEN")
	b := startBot(t, fs, e)
	_, job, err := b.app.Service.Assign(t.Context(), provisioning.Grant{Email: "dry@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	if !job.DryRun {
		t.Errorf("job.DryRun = false in dry-run mode")
	}
}

func TestConfigurationProblemsExit2(t *testing.T) {
	var stderr bytes.Buffer
	e := map[string]string{
		"SLACK_APP_TOKEN":           "xoxb-1234-5678-secretsecretsecret",
		"SLACK_BOT_TOKEN":           "",
		"SLACK_ADMIN_TOKEN":         "xoxp-9999-8888-anothersecretvalue",
		"ROSTER_REQUIRED_APPROVALS": "many",
		"ROSTER_MAX_DURATION":       "10",
	}
	code := app.Main(nil, getenv(e), io.Discard, &stderr)
	if code != 2 {
		t.Errorf("exit status = %d, want 2", code)
	}
	out := stderr.String()
	for _, v := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "ROSTER_APPROVALS_CHANNEL", "ROSTER_REQUIRED_APPROVALS", "ROSTER_MAX_DURATION"} {
		if !strings.Contains(out, v) {
			t.Errorf("output does not name %s:\n%s", v, out)
		}
	}
	for _, secret := range []string{"secretsecretsecret", "anothersecretvalue", "1234-5678", "9999-8888"} {
		if strings.Contains(out, secret) {
			t.Errorf("output contains token text %q:\n%s", secret, out)
		}
	}
}

func TestSubcommands(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"version"}, 0, "roster "},
		{[]string{"help"}, 0, "ROSTER_APPROVALS_CHANNEL"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"backup"}, 2, "usage: roster backup FILE"},
		{[]string{"run", "extra"}, 2, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			code := app.Main(tt.args, getenv(nil), &out, &out)
			if code != tt.code || !strings.Contains(out.String(), tt.contains) {
				t.Errorf("Main(%q) = %d, %q; want %d containing %q", tt.args, code, out.String(), tt.code, tt.contains)
			}
		})
	}
}

// A backup taken through the running bot, while it writes, opens and holds
// the data; so does one taken with the bot stopped.
func TestBackupWhileRunning(t *testing.T) {
	fs := newFake(t)
	dir := t.TempDir()
	e := env(fs, dir, map[string]string{"ROSTER_DRY_RUN": "true"})
	b := startBot(t, fs, e)
	// The control socket beside the database is its owner's only.
	if fi, err := os.Stat(app.ControlPath(e["ROSTER_DB"])); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket = %v, %v; want a socket with mode 0600", fi.Mode(), err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	var written sync.Map
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			email := "backup" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "@example.com"
			if _, _, err := b.app.Service.Assign(ctx, provisioning.Grant{Email: email, By: fakeslack.DemoAdminID}); err == nil {
				written.Store(email, true)
			}
		}
	}()
	// Assignments committed before each backup must be in it.
	for i := range 3 {
		var before []string
		written.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })
		file := filepath.Join(dir, "copy.db")
		var out, errOut bytes.Buffer
		if code := app.Main([]string{"backup", file}, getenv(e), &out, &errOut); code != 0 {
			t.Fatalf("backup %d: exit %d: %s", i, code, errOut.String())
		}
		checkBackup(t, file, before)
	}
	cancel()
	wg.Wait()
	b.stop()

	file := filepath.Join(dir, "offline.db")
	var errOut bytes.Buffer
	if code := app.Main([]string{"backup", file}, getenv(e), io.Discard, &errOut); code != 0 {
		t.Fatalf("offline backup: exit %d: %s", code, errOut.String())
	}
	var all []string
	written.Range(func(k, _ any) bool { all = append(all, k.(string)); return true })
	checkBackup(t, file, all)
}

func checkBackup(t *testing.T, file string, emails []string) {
	t.Helper()
	db, err := store.Open(file, store.Options{})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer db.Close()
	err = db.View(t.Context(), func(tx provisioning.ReadTx) error {
		for _, e := range emails {
			as, err := tx.Assignments(e)
			if err != nil {
				return err
			}
			if len(as) == 0 {
				return errors.New("backup lacks " + e)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// SIGTERM-like shutdown while Slack is slow: Run returns well within 10s
// and the job cut off stays pending.
func TestShutdownWhileSlackIsSlow(t *testing.T) {
	fs := newFake(t, fakeslack.WithSCIMLatency(time.Minute))
	dir := t.TempDir()
	b := startBot(t, fs, env(fs, dir, nil))
	_, job, err := b.app.Service.Assign(t.Context(), provisioning.Grant{Email: "slow.slack@example.com", By: fakeslack.DemoAdminID})
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.WaitUserLocked(ctxTimeout(t, 10*time.Second), "email:slow.slack@example.com"); err != nil {
		t.Fatal(err)
	}
	if took := b.stop(); took > 10*time.Second {
		t.Errorf("shutdown took %s, want under 10s", took)
	}
	db, err := store.Open(filepath.Join(dir, "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(t.Context(), func(tx provisioning.ReadTx) error {
		j, err := tx.Job(job.ID)
		if err != nil {
			return err
		}
		if j.State != provisioning.JobPending {
			t.Errorf("job state after shutdown = %s, want pending", j.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
