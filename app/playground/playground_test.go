package playground_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/app"
	"github.com/roster-app/roster/app/playground"
	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/fakeslack"
)

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

// running is a `roster playground` started in this process.
type running struct {
	URL     string
	Startup time.Duration // from the start to the URL line
	Stderr  *syncBuffer

	mu    sync.Mutex
	lines []string // everything printed to stdout
	stop  func() int
}

// Lines returns what the playground printed to stdout so far.
func (r *running) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// Stop ends the playground as SIGINT does and returns its exit status.
func (r *running) Stop() int { return r.stop() }

// startPlayground runs app.PlaygroundMain (what `roster playground ARGS`
// runs) and waits for the URL line. It is stopped at cleanup if the test
// did not stop it.
func startPlayground(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &running{Stderr: &syncBuffer{}}
	urlc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			first := len(r.lines) == 1
			r.mu.Unlock()
			if first {
				urlc <- sc.Text()
			}
		}
	}()
	start := time.Now()
	exit := make(chan int, 1)
	go func() {
		code := app.PlaygroundMain(ctx, args, pw, r.Stderr)
		pw.Close()
		exit <- code
	}()
	var once sync.Once
	code := -1
	r.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-exit:
			case <-time.After(15 * time.Second):
				t.Errorf("playground did not stop within 15s; stderr:\n%s", r.Stderr)
			}
			<-scanned
		})
		return code
	}
	t.Cleanup(func() { r.stop() })
	select {
	case r.URL = <-urlc:
		r.Startup = time.Since(start)
	case c := <-exit:
		cancel()
		t.Fatalf("playground exited with %d before printing its URL; stderr:\n%s", c, r.Stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("playground printed no URL within 30s; stderr:\n%s", r.Stderr)
	}
	return r
}

var urlLine = regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/$`)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		want    playground.Options
		wantErr string
	}{
		{nil, playground.Options{Addr: "127.0.0.1:0"}, ""},
		{[]string{"--addr", "127.0.0.1:8085", "--db", "demo.db"}, playground.Options{Addr: "127.0.0.1:8085", DB: "demo.db"}, ""},
		{[]string{"--db=demo.db", "-addr=localhost:0"}, playground.Options{Addr: "127.0.0.1:0", DB: "demo.db"}, ""},
		{[]string{"--addr", "127.1.2.3:9000"}, playground.Options{Addr: "127.1.2.3:9000"}, ""},
		{[]string{"--addr", "[::1]:0"}, playground.Options{Addr: "[::1]:0"}, ""},
		{[]string{"--addr", "0.0.0.0:8080"}, playground.Options{}, "0.0.0.0 is not a loopback address"},
		{[]string{"--addr", ":8080"}, playground.Options{}, "every network interface"},
		{[]string{"--addr", "192.168.1.10:8080"}, playground.Options{}, "not a loopback address"},
		{[]string{"--addr", "example.com:80"}, playground.Options{}, "not a loopback address"},
		{[]string{"--addr", "127.0.0.1"}, playground.Options{}, "not HOST:PORT"},
		{[]string{"--addr", "127.0.0.1:99999"}, playground.Options{}, "no valid port"},
		{[]string{"--db", ""}, playground.Options{}, "--db needs a file name"},
		{[]string{"extra"}, playground.Options{}, `unexpected argument "extra"`},
		{[]string{"--port", "80"}, playground.Options{}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := playground.ParseArgs(tt.args)
			if tt.wantErr != "" {
				var ue *playground.UsageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseArgs(%q) = %v, want a usage error with %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseArgs(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
			}
		})
	}
	if _, err := playground.ParseArgs([]string{"--help"}); !errors.Is(err, playground.ErrHelp) {
		t.Errorf("ParseArgs(--help) = %v, want ErrHelp", err)
	}
}

func TestRefusesNonLoopbackAddress(t *testing.T) {
	for _, args := range [][]string{{"--addr", "0.0.0.0:8080"}, {"--addr=:8080"}, {"--db", "x.db", "--addr", "10.0.0.1:80"}} {
		var stdout, stderr bytes.Buffer
		code := app.Main(append([]string{"playground"}, args...), func(string) string { return "" }, &stdout, &stderr)
		if code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "loopback only") || !strings.Contains(stderr.String(), playground.Usage) {
			t.Errorf("roster playground %q = exit %d, stdout %q, stderr %q; want 2 and why", args, code, stdout.String(), stderr.String())
		}
	}
	var stdout bytes.Buffer
	if code := app.Main([]string{"playground", "--help"}, func(string) string { return "" }, &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), playground.Usage) {
		t.Errorf("roster playground --help = exit %d, %q", code, stdout.String())
	}
}

// The playground starts in under 5 seconds (a product requirement), prints
// only its URL to stdout, serves the page, and stops cleanly, removing its
// temporary database.
func TestStartsFastAndStopsCleanly(t *testing.T) {
	r := startPlayground(t)
	t.Logf("startup: %s (to the URL line)", r.Startup.Round(time.Millisecond))
	if r.Startup >= 5*time.Second {
		t.Errorf("startup took %s, want under 5s", r.Startup)
	}
	if !urlLine.MatchString(r.URL) {
		t.Errorf("URL line = %q, want http://127.0.0.1:PORT/", r.URL)
	}
	resp, err := http.Get(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `src="/static/app.js"`) {
		t.Errorf("GET / = %d %q", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	for _, f := range []string{"app.js", "style.css"} {
		resp, err := http.Get(r.URL + "static/" + f)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET /static/%s = %v %v", f, resp.Status, err)
		}
		resp.Body.Close()
	}
	db := regexp.MustCompile(`msg="playground ready".* db=(\S+)`).FindStringSubmatch(r.Stderr.String())
	if db == nil {
		t.Fatalf("no database in the logs:\n%s", r.Stderr)
	}
	if _, err := os.Stat(db[1]); err != nil {
		t.Errorf("database %s: %v", db[1], err)
	}
	if code := r.Stop(); code != 0 {
		t.Errorf("exit status after SIGINT = %d, want 0; stderr:\n%s", code, r.Stderr)
	}
	if lines := r.Lines(); len(lines) != 1 {
		t.Errorf("stdout = %q, want the URL line only", lines)
	}
	if _, err := os.Stat(filepath.Dir(db[1])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary database folder %s still there after exit (err %v)", filepath.Dir(db[1]), err)
	}
}

func TestDBFlagKeepsTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	r := startPlayground(t, "--db", db, "--addr", "127.0.0.1:0")
	if code := r.Stop(); code != 0 {
		t.Fatalf("exit = %d; stderr:\n%s", code, r.Stderr)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("--db %s after exit: %v", db, err)
	}
	// A second run opens the same database.
	r = startPlayground(t, "--db="+db)
	if code := r.Stop(); code != 0 {
		t.Fatalf("second run exit = %d; stderr:\n%s", code, r.Stderr)
	}
}

func TestBusyPortFailsAtOnce(t *testing.T) {
	r := startPlayground(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(r.URL, "http://"), "/")
	var stderr syncBuffer
	code := app.PlaygroundMain(t.Context(), []string{"--addr", addr}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("second playground on %s = exit %d, stderr %q; want 1 and why", addr, code, stderr.String())
	}
}

func TestCommandText(t *testing.T) {
	for in, want := range map[string]string{
		"/roster":                          "",
		"/roster help":                     "help",
		"  /roster   request a@b.c for 2w": "request a@b.c for 2w",
		"/roster\tstatus":                  "status",
	} {
		if got, ok := playground.CommandText(in); !ok || got != want {
			t.Errorf("CommandText(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"help", "/rosterhelp", "/invite @roster", ""} {
		if _, ok := playground.CommandText(in); ok {
			t.Errorf("CommandText(%q) accepted", in)
		}
	}
}

// client talks to the playground's API as the page does.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: base, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// post sends body as JSON and decodes the answer into out (if not nil). It
// returns the status code.
func (c *client) post(path string, body, out any) int {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			c.t.Fatalf("POST %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

func (c *client) mustPost(path string, body any) {
	c.t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if code := c.post(path, body, &e); code != 200 {
		c.t.Fatalf("POST %s %v = %d %s", path, body, code, e.Error)
	}
}

func (c *client) state(user string) playground.State {
	c.t.Helper()
	resp, err := c.http.Get(c.base + "api/state?user=" + user)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st playground.State
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET /api/state?user=%s = %s", user, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// waitState polls what user sees until cond holds: the bot acts in its own
// goroutines after the ack, with no event the test could wait on.
func (c *client) waitState(user, what string, cond func(playground.State) bool) playground.State {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := c.state(user)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not seen within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func messagesWith(ms []fakeslack.Message, text string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range ms {
		if strings.Contains(m.Text, text) || strings.Contains(string(m.Blocks), text) {
			out = append(out, m)
		}
	}
	return out
}

func userByEmail(st playground.State, email string) (playground.User, bool) {
	for _, u := range st.Users {
		if u.Email == email {
			return u, true
		}
	}
	return playground.User{}, false
}

func topModal(st playground.State) (id, callback string) {
	if len(st.Modals) == 0 {
		return "", ""
	}
	var v struct {
		ID         string `json:"id"`
		CallbackID string `json:"callback_id"`
	}
	_ = json.Unmarshal(st.Modals[len(st.Modals)-1], &v)
	return v.ID, v.CallbackID
}

// The page's API drives the real bot the way Slack would: the request,
// approval, Home and Revoke flow of the browser test, without a browser.
func TestAPIFlow(t *testing.T) {
	r := startPlayground(t)
	c := newClient(t, r.URL)
	const email = "api.newbie@example.com"
	member, approver, admin := fakeslack.DemoMemberID, fakeslack.DemoApproverID, fakeslack.DemoAdminID

	// The member asks; the answer shows in their DM only.
	c.mustPost("api/command", map[string]any{"user": member, "text": "/roster request " + email + " for 2w starting Monday"})
	st := c.waitState(member, "the member's ephemeral answer", func(st playground.State) bool {
		return len(messagesWith(st.Messages[st.DM], "waiting for approval")) > 0
	})
	if m := messagesWith(st.Messages[st.DM], "waiting for approval")[0]; !m.Ephemeral {
		t.Errorf("answer %+v is not ephemeral", m)
	}
	if len(messagesWith(c.state(approver).Messages[fakeslack.DMChannel(member)], "waiting")) != 0 {
		t.Errorf("another user sees the member's ephemeral answer")
	}

	// The approver sees the request in #approvals and approves it.
	st = c.waitState(approver, "the approval message", func(st playground.State) bool {
		return len(messagesWith(st.Messages[fakeslack.DemoApprovalsChannel], email)) > 0
	})
	msg := messagesWith(st.Messages[fakeslack.DemoApprovalsChannel], email)[0]
	id := regexp.MustCompile(`"action_id":"` + regexp.QuoteMeta(blocks.ActionApprove) + `"[^}]*"value":"([^"]+)"`).FindStringSubmatch(string(msg.Blocks))
	if id == nil {
		t.Fatalf("no Approve button in %s", msg.Blocks)
	}
	c.mustPost("api/action", map[string]any{"user": approver, "action_id": blocks.ActionApprove, "value": id[1]})
	c.waitState(approver, "the approval message updated in place", func(st playground.State) bool {
		ms := messagesWith(st.Messages[fakeslack.DemoApprovalsChannel], email)
		return len(ms) == 1 && ms[0].Edited && strings.Contains(string(ms[0].Blocks), "Approved") &&
			!strings.Contains(string(ms[0].Blocks), blocks.ActionApprove)
	})
	c.waitState(admin, "the new member active", func(st playground.State) bool {
		u, ok := userByEmail(st, email)
		return ok && !u.Deactivated && u.Type == "member"
	})
	c.waitState(member, "the requester's DM", func(st playground.State) bool {
		ms := messagesWith(st.Messages[st.DM], "Approved")
		return len(ms) > 0 && !ms[0].Ephemeral
	})

	// The admin opens Home, searches, and finds them.
	c.mustPost("api/home-opened", map[string]any{"user": admin})
	c.waitState(admin, "the admin's Home", func(st playground.State) bool {
		return strings.Contains(string(st.Home), blocks.ActionHomeSearch)
	})
	c.mustPost("api/action", map[string]any{"user": admin, "action_id": blocks.ActionHomeSearch, "value": "api.newbie"})
	c.waitState(admin, "the search result", func(st playground.State) bool {
		return strings.Contains(string(st.Home), email) && strings.Contains(string(st.Home), "`active`") &&
			!strings.Contains(string(st.Home), fakeslack.DemoMemberEmail)
	})

	// Revoke from the modal: an empty form gets Roster's error under Email.
	c.mustPost("api/action", map[string]any{"user": admin, "action_id": blocks.ActionOpenRevoke, "value": ""})
	st = c.waitState(admin, "the Revoke modal", func(st playground.State) bool {
		_, cb := topModal(st)
		return cb == blocks.CallbackRevoke
	})
	view, _ := topModal(st)
	var res playground.SubmitResult
	if code := c.post("api/submit", map[string]any{"user": admin, "view_id": view, "callback_id": blocks.CallbackRevoke,
		"values": map[string]any{blocks.BlockEmail: map[string]any{blocks.ActionEmail: map[string]any{"type": "plain_text_input", "value": nil}}}}, &res); code != 200 {
		t.Fatalf("empty submit = %d", code)
	}
	if res.ResponseAction != "errors" || res.Errors[blocks.BlockEmail] == "" {
		t.Fatalf("empty Revoke form: %+v, want an error under %s", res, blocks.BlockEmail)
	}
	st = c.state(admin)
	if v, _ := topModal(st); v != view || st.ModalErrors[blocks.BlockEmail] == "" {
		t.Errorf("after the error: modal %s errors %v; want the same modal with the error", v, st.ModalErrors)
	}
	if code := c.post("api/submit", map[string]any{"user": admin, "view_id": view, "callback_id": blocks.CallbackRevoke,
		"values": map[string]any{
			blocks.BlockEmail:  map[string]any{blocks.ActionEmail: map[string]any{"type": "plain_text_input", "value": email}},
			blocks.BlockReason: map[string]any{blocks.ActionReason: map[string]any{"type": "plain_text_input", "value": "contract ended"}},
		}}, &res); code != 200 || res.ResponseAction == "errors" {
		t.Fatalf("valid submit = %d %+v", code, res)
	}
	c.waitState(admin, "the modal closed", func(st playground.State) bool { return len(st.Modals) == 0 && len(st.ModalErrors) == 0 })
	c.waitState(admin, "the member deactivated", func(st playground.State) bool {
		u, ok := userByEmail(st, email)
		return ok && u.Deactivated
	})

	// Cancel closes a modal; a stale view cannot be submitted.
	c.mustPost("api/command", map[string]any{"user": admin, "text": "/roster assign"})
	st = c.waitState(admin, "the Assign modal", func(st playground.State) bool {
		_, cb := topModal(st)
		return cb == blocks.CallbackAssign
	})
	view, _ = topModal(st)
	c.mustPost("api/close", map[string]any{"user": admin, "view_id": view})
	if st := c.state(admin); len(st.Modals) != 0 {
		t.Errorf("modal still open after close")
	}
	if code := c.post("api/submit", map[string]any{"user": admin, "view_id": view, "callback_id": blocks.CallbackAssign, "values": map[string]any{}}, nil); code != http.StatusConflict {
		t.Errorf("submit of a closed modal = %d, want 409", code)
	}
}

func TestAPIRefusals(t *testing.T) {
	r := startPlayground(t)
	c := newClient(t, r.URL)
	var e struct {
		Error string `json:"error"`
	}
	if code := c.post("api/command", map[string]any{"user": fakeslack.DemoMemberID, "text": "/invite @roster"}, &e); code != 400 || !strings.Contains(e.Error, "Only the /roster command") {
		t.Errorf("another command = %d %q", code, e.Error)
	}
	if code := c.post("api/command", map[string]any{"user": fakeslack.DemoDeactivatedID, "text": "/roster help"}, &e); code != 409 || !strings.Contains(e.Error, "deactivated") {
		t.Errorf("a deactivated user's command = %d %q", code, e.Error)
	}
	if code := c.post("api/action", map[string]any{"user": "U0NOBODY", "action_id": "x"}, &e); code != 404 {
		t.Errorf("an unknown user's click = %d %q", code, e.Error)
	}
	if code := c.post("api/command", map[string]any{"user": fakeslack.DemoMemberID, "text": "/roster help", "channel": "C0SOMEWHERE"}, &e); code != 400 {
		t.Errorf("a command in an unknown channel = %d %q", code, e.Error)
	}

	// Only the page's own host and origin, and only JSON posts.
	do := func(method, path, host, origin, ctype string) int {
		req, _ := http.NewRequest(method, r.URL+path, strings.NewReader(`{"user":"`+fakeslack.DemoMemberID+`","text":"/roster help"}`))
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	port := strings.TrimSuffix(r.URL[strings.LastIndex(r.URL, ":")+1:], "/")
	for _, tt := range []struct {
		name                       string
		method, host, origin, ctyp string
		want                       int
	}{
		{"rebound host", "GET", "evil.example:" + port, "", "", http.StatusMisdirectedRequest},
		{"localhost", "GET", "localhost:" + port, "", "", http.StatusOK},
		{"form post", "POST", "", "", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"cross-origin post", "POST", "", "http://evil.example", "application/json", http.StatusForbidden},
		{"same-origin post", "POST", "", strings.TrimSuffix(r.URL, "/"), "application/json", http.StatusOK},
	} {
		path := "api/state?user=" + fakeslack.DemoMemberID
		if tt.method == "POST" {
			path = "api/command"
		}
		if got := do(tt.method, path, tt.host, tt.origin, tt.ctyp); got != tt.want {
			t.Errorf("%s: %s /%s = %d, want %d", tt.name, tt.method, path, got, tt.want)
		}
	}
}
