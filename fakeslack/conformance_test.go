package fakeslack_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/fakeslack"
	"github.com/slack-go/slack"
)

// installBolt is the command that installs the conformance client.
const installBolt = "cd fakeslack/conformance && npm ci"

// output collects a process's output and reports when a line "ready"
// appears.
type output struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	for _, line := range strings.Split(o.buf.String(), "\n") {
		if strings.TrimSpace(line) == "ready" {
			o.once.Do(func() { close(o.ready) })
		}
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestBoltConformance runs conformance/app.js, a Bolt for JavaScript app in
// Socket Mode, against fakeslack: a client of Slack's protocols that
// nobody here wrote. It needs node and `npm ci` in fakeslack/conformance.
// Without them it is skipped, unless ROSTER_BOLT_CONFORMANCE=1, which
// makes it required.
func TestBoltConformance(t *testing.T) {
	required := os.Getenv("ROSTER_BOLT_CONFORMANCE") == "1"
	dir := "conformance"
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@slack", "bolt", "package.json")); err != nil {
		if required {
			t.Fatalf("ROSTER_BOLT_CONFORMANCE=1 but Bolt is not installed (%v); run: %s", err, installBolt)
		}
		t.Skipf("Bolt for JavaScript is not installed; run `%s` (ROSTER_BOLT_CONFORMANCE=1 makes this test required)", installBolt)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if required {
			t.Fatalf("ROSTER_BOLT_CONFORMANCE=1 but node is not on PATH: %v", err)
		}
		t.Skipf("node is not on PATH: %v", err)
	}

	s := demoServer(t)
	out := &output{ready: make(chan struct{})}
	cmd := exec.Command(node, "app.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SLACK_API_URL="+s.APIURL(),
		"SLACK_BOT_TOKEN="+fakeslack.BotToken,
		"SLACK_APP_TOKEN="+fakeslack.AppToken,
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("node app.js output:\n%s", out)
		}
	})

	const startup = 30 * time.Second
	select {
	case <-out.ready:
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("node app.js exited before it was ready: %v", err)
	case <-time.After(startup):
		t.Fatalf("node app.js not ready within %s", startup)
	}
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	if c := s.Calls("apps.connections.open"); len(c) == 0 || c[0].Token != fakeslack.AppToken {
		t.Errorf("apps.connections.open calls = %+v, want the app token", c)
	}

	// An event: app_home_opened → views.publish.
	homeEnv, _, err := s.AppHomeOpened(fakeslack.DemoMemberID)
	if err != nil {
		t.Fatal(err)
	}
	publish, err := s.WaitCall(ctxTimeout(t), "views.publish", nil)
	if err != nil {
		t.Fatal(err)
	}
	var home slack.HomeTabViewRequest
	if err := publish.Decode("view", &home); err != nil {
		t.Fatalf("views.publish view: %v", err)
	}
	if publish.Error != "" || publish.Param("user_id") != fakeslack.DemoMemberID || home.Type != slack.VTHomeTab || len(home.Blocks.BlockSet) != 2 {
		t.Errorf("views.publish = error %q user %q view %+v", publish.Error, publish.Param("user_id"), home)
	}
	if _, ok := s.HomeView(fakeslack.DemoMemberID); !ok {
		t.Error("HomeView not stored")
	}

	// A slash command → ack, then chat.postMessage.
	cmdEnv, err := s.SlashCommand(fakeslack.DemoMemberID, "status")
	if err != nil {
		t.Fatal(err)
	}
	post, err := s.WaitCall(ctxTimeout(t), "chat.postMessage", nil)
	if err != nil {
		t.Fatal(err)
	}
	var text string
	var blocks slack.Blocks
	if err := post.Decode("text", &text); err != nil {
		t.Fatal(err)
	}
	if err := post.Decode("blocks", &blocks); err != nil {
		t.Fatalf("chat.postMessage blocks: %v", err)
	}
	if post.Error != "" || post.Token != fakeslack.BotToken || text != "roster status" || len(blocks.BlockSet) != 2 {
		t.Errorf("chat.postMessage = error %q token %q text %q blocks %d", post.Error, post.Token, text, len(blocks.BlockSet))
	}

	// A click on the posted button → ack.
	clickEnv, err := s.BlockAction(fakeslack.DemoMemberID, "conformance.click", "v1")
	if err != nil {
		t.Fatal(err)
	}

	for name, id := range map[string]string{"app_home_opened": homeEnv, "slash command": cmdEnv, "block_actions": clickEnv} {
		ack, err := s.WaitAck(id, wait)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ack.EnvelopeID != id {
			t.Errorf("%s ack envelope = %q, want %q", name, ack.EnvelopeID, id)
		}
	}
	for _, c := range s.Calls("") {
		if c.Error != "" {
			t.Errorf("Bolt's %s call failed: %s", c.Method, c.Error)
		}
	}
	if n := s.TotalConnections(); n != 1 {
		t.Errorf("TotalConnections() = %d, want 1 (Bolt reconnected)", n)
	}
}
