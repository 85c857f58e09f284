package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
	"github.com/roster-app/roster/store"
)

// child is the roster command running in another process: the test binary
// re-executed, so that it can be killed with SIGKILL like a real crash.
type child struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startChild(t *testing.T, e map[string]string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ROSTER_TEST_MAIN=1", "ROSTER_TEST_ARGS=run")
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("child output:\n%s", out)
		}
	})
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	c.done <- nil // for the cleanup
}

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// jobsLeft reads the pending and running job counts from /metrics, or -1
// when the bot does not answer.
func jobsLeft(addr string) int {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		for _, s := range []string{`roster_jobs{state="pending"} `, `roster_jobs{state="running"} `} {
			if v, ok := strings.CutPrefix(line, s); ok {
				var k int
				fmt.Sscan(v, &k)
				n += k
			}
		}
	}
	return n
}

// A roster killed with SIGKILL, once with jobs pending and once with SCIM
// writes in flight, then restarted on the same database, completes every
// job with each effect exactly once.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	fs := newFake(t, fakeslack.WithSCIMLatency(200*time.Millisecond))
	dir := t.TempDir()
	httpAddr := freePort(t)
	e := env(fs, dir, map[string]string{"ROSTER_HTTP_ADDR": httpAddr, "ROSTER_LOG_LEVEL": "info"})
	dbPath := e["ROSTER_DB"]

	// Decisions stored while Roster is stopped: 12 invites, a
	// reactivation and a deactivation.
	db, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := provisioning.NewService(db, scim.New(fs.SCIMURL(), fakeslack.AdminToken), nil, provisioning.Options{})
	var invites []string
	for i := range 12 {
		email := fmt.Sprintf("crash.%02d@example.com", i)
		invites = append(invites, email)
		if _, _, err := svc.Assign(t.Context(), provisioning.Grant{Email: email, By: fakeslack.DemoAdminID}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.Assign(t.Context(), provisioning.Grant{Email: fakeslack.DemoDeactivatedEmail, By: fakeslack.DemoAdminID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Revoke(t.Context(), fakeslack.DemoMemberEmail, fakeslack.DemoAdminID, "left"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// 1. Killed with jobs pending and the first write in flight.
	c := startChild(t, e)
	if err := fs.WaitUserLocked(ctxTimeout(t, 20*time.Second), "email:crash.00@example.com"); err != nil {
		t.Fatal(err)
	}
	c.kill(t)

	// 2. Restarted, killed again while writes are in flight. Meanwhile a
	// second process cannot open the database.
	restarted := time.Now()
	c = startChild(t, e)
	ctx := ctxTimeout(t, 30*time.Second)
	seen := map[string]bool{} // applied writes since the restart
	if _, err := fs.WaitSCIM(ctx, func(r fakeslack.SCIMRequest) bool {
		if r.Applied && r.At.After(restarted) {
			seen[r.Method+r.Path+r.At.String()] = true
		}
		return len(seen) >= 3
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(dbPath, store.Options{Timeout: 300 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "database is in use by another process") {
		t.Errorf("second open while the bot runs = %v, want \"database is in use by another process\"", err)
	}
	c.kill(t) // four workers with 200ms writes: some are in flight

	// 3. Restarted: everything completes; SIGTERM stops it cleanly.
	c = startChild(t, e)
	deadline := time.Now().Add(60 * time.Second)
	for jobsLeft(httpAddr) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("jobs still pending after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("roster exited with %v after SIGTERM, want status 0", err)
		}
		c.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatalf("roster did not exit within 10s of SIGTERM")
	}
	t.Logf("clean exit %s after SIGTERM", time.Since(start).Round(time.Millisecond))

	// Every effect exactly once.
	applied := map[string]int{}
	for _, r := range fs.SCIMWrites() {
		key := r.Method + " " + strings.TrimPrefix(r.Path, "/scim/v2")
		if r.Method == http.MethodPost {
			key = "POST " + postedEmail(r.Body)
		}
		applied[key]++
	}
	for _, email := range invites {
		if n := applied["POST "+email]; n != 1 {
			t.Errorf("account for %s created %d times, want exactly once", email, n)
		}
		if u, ok := fs.UserByEmail(email); !ok || u.Deleted {
			t.Errorf("%s is not an active member", email)
		}
	}
	if n := applied["PATCH /Users/"+fakeslack.DemoDeactivatedID]; n != 1 {
		t.Errorf("reactivations = %d, want 1", n)
	}
	if n := applied["DELETE /Users/"+fakeslack.DemoMemberID]; n != 1 {
		t.Errorf("deactivations = %d, want 1", n)
	}
	if len(fs.SCIMWrites()) != len(invites)+2 {
		t.Errorf("SCIM writes = %d, want %d", len(fs.SCIMWrites()), len(invites)+2)
	}

	db, err = store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(context.Background(), func(tx provisioning.ReadTx) error {
		counts, err := tx.CountJobs()
		if err != nil {
			return err
		}
		if counts[provisioning.JobDone] != len(invites)+2 || counts[provisioning.JobFailed] != 0 {
			t.Errorf("jobs by state = %v, want %d done, none failed", counts, len(invites)+2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "roster.db.sock")); !os.IsNotExist(err) {
		t.Errorf("control socket left behind after a clean exit")
	}
}

func postedEmail(body []byte) string {
	var u struct {
		Emails []struct{ Value string } `json:"emails"`
	}
	if json.Unmarshal(body, &u) != nil || len(u.Emails) == 0 {
		return ""
	}
	return u.Emails[0].Value
}
