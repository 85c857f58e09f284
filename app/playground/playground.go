// Package playground runs Roster on a laptop with no Slack workspace: the
// real bot, connected over Socket Mode to fakeslack seeded with a demo
// workspace, and a local web page that shows what each Slack user sees and
// lets you act as any of them (`roster playground`).
//
// The page draws the real Block Kit JSON Roster sent (App Home, modals with
// their errors, the approvals channel, DMs, ephemeral replies), and every
// interaction travels the path it does in Slack: the page asks this
// package's server, which asks fakeslack to send the envelope (a slash
// command, a block action, a view submission, app_home_opened); the bot
// acks it and calls the Web API. Everything listens on loopback only.
//
// This package does not import package app (which starts it): Run takes the
// bot as a BotRunner.
package playground

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/roster-app/roster/fakeslack"
)

// Usage is the synopsis of `roster playground`.
const Usage = "usage: roster playground [--addr HOST:PORT] [--db FILE]"

// DefaultAddr is where the page is served without --addr: a free port on
// 127.0.0.1.
const DefaultAddr = "127.0.0.1:0"

// StartTimeout bounds how long Run waits for the bot to be ready.
const StartTimeout = 30 * time.Second

// Options configure Run.
type Options struct {
	// Addr is the page's HOST:PORT, on a loopback address; "" means
	// DefaultAddr. Port 0 picks a free port.
	Addr string
	// DB is Roster's database file. "" puts it in a new temporary folder
	// that is removed at exit; a file given here is kept.
	DB string
}

// UsageError is a bad command line or option: `roster playground` exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ErrHelp is returned by ParseArgs for -h and --help.
var ErrHelp = errors.New("help requested")

// ParseArgs reads `roster playground` arguments (after the command name):
// --addr HOST:PORT and --db FILE, in any order, as "--addr X" or
// "--addr=X". It refuses an address that is not on loopback.
func ParseArgs(args []string) (Options, error) {
	fs := flag.NewFlagSet("roster playground", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller reports errors, once
	addr := fs.String("addr", DefaultAddr, "")
	db := fs.String("db", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Options{}, ErrHelp
		}
		return Options{}, &UsageError{err.Error()}
	}
	// flag stops at the first argument that is not a flag; there are no
	// positional arguments, so anything left is an error.
	if fs.NArg() > 0 {
		return Options{}, &UsageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["db"] && strings.TrimSpace(*db) == "" {
		return Options{}, &UsageError{"--db needs a file name"}
	}
	a, err := LoopbackAddr(*addr)
	if err != nil {
		return Options{}, err
	}
	return Options{Addr: a, DB: *db}, nil
}

// LoopbackAddr checks a listen address for the page and returns it with
// "localhost" written as 127.0.0.1 ("" gives DefaultAddr). The playground
// has no sign-in, so it refuses any host that is not a loopback address,
// and an empty host, which would listen on every interface.
func LoopbackAddr(addr string) (string, error) {
	if strings.TrimSpace(addr) == "" {
		return DefaultAddr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", &UsageError{fmt.Sprintf("--addr %q is not HOST:PORT; use e.g. 127.0.0.1:8080", addr)}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", &UsageError{fmt.Sprintf("--addr %q has no valid port; use a port number from 0 to 65535, e.g. 127.0.0.1:8080", addr)}
	}
	if host == "" {
		return "", &UsageError{fmt.Sprintf("--addr %q would listen on every network interface; the playground has no sign-in and serves loopback only: use 127.0.0.1:%s", addr, port)}
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", &UsageError{fmt.Sprintf("--addr %q: %s is not a loopback address; the playground has no sign-in and serves loopback only: use 127.0.0.1:%s", addr, host, port)}
	}
	return net.JoinHostPort(host, port), nil
}

// Running is what a BotRunner tells Run once the bot runs.
type Running struct {
	// DirectoryLen returns how many members Roster's copy of the
	// directory holds.
	DirectoryLen func() int
}

// BotRunner runs the real Roster bot with env as its environment (the
// variables `roster run` reads) and log as its logger, until ctx ends. It
// calls ready once, when the bot has checked its tokens and started.
type BotRunner func(ctx context.Context, env map[string]string, log *slog.Logger, ready func(Running)) error

// Workspace is the playground's Slack workspace: fakeslack's demo
// workspace (a primary owner, two admins, the approver, eleven members, two
// guests, two deactivated members, another app's bot, Roster's bot and the
// approvers' user group; see fakeslack.DemoWorkspace).
func Workspace() *fakeslack.Workspace { return fakeslack.DemoWorkspace() }

// Approvers are the people in ROSTER_APPROVERS: the demo approver. Admins
// and owners approve too.
var Approvers = []string{fakeslack.DemoApproverID}

// Env is the environment the bot gets: tokens and URLs of fs, the approvals
// channel and approver of the demo workspace, and db.
func Env(fs *fakeslack.Server, db string) map[string]string {
	return map[string]string{
		"SLACK_APP_TOKEN":          fakeslack.AppToken,
		"SLACK_BOT_TOKEN":          fakeslack.BotToken,
		"SLACK_ADMIN_TOKEN":        fakeslack.AdminToken,
		"SLACK_API_URL":            fs.APIURL(),
		"SLACK_SCIM_URL":           fs.SCIMURL(),
		"ROSTER_DB":                db,
		"ROSTER_APPROVALS_CHANNEL": fakeslack.DemoApprovalsChannel,
		"ROSTER_APPROVERS":         strings.Join(Approvers, ","),
	}
}

// Run starts fakeslack with the demo workspace, the bot (through bot) and
// the page's server, writes the page's URL to stdout on a line of its own
// once all three are ready, and runs until ctx ends. Then it stops the
// server, the bot and fakeslack, in that order, and removes the temporary
// database. Everything else is logged to log.
func Run(ctx context.Context, opts Options, stdout io.Writer, log *slog.Logger, bot BotRunner) (err error) {
	start := time.Now()
	addr, err := LoopbackAddr(opts.Addr)
	if err != nil {
		return err
	}
	// Listen first: a port in use fails at once, before anything starts.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s for the page: %w", addr, err)
	}
	defer ln.Close()

	db := opts.DB
	if db == "" {
		dir, err := os.MkdirTemp("", "roster-playground-")
		if err != nil {
			return fmt.Errorf("temporary folder for the database: %w", err)
		}
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = fmt.Errorf("remove the temporary database: %w", rerr)
			}
		}()
		db = filepath.Join(dir, "roster.db")
	}

	fs := fakeslack.New(
		fakeslack.WithWorkspace(Workspace()),
		fakeslack.WithLogger(log.With("component", "fakeslack")),
	)
	defer fs.Close()
	log.Info("fakeslack started", "url", fs.URL)

	botCtx, stopBot := context.WithCancel(ctx)
	defer stopBot()
	readyc := make(chan Running, 1)
	botDone := make(chan error, 1)
	go func() {
		botDone <- bot(botCtx, Env(fs, db), log, func(r Running) { readyc <- r })
	}()
	// After this point every return stops the bot and waits for it, so the
	// database is closed before fakeslack and the temporary folder go.
	waitBot := func() error {
		stopBot()
		return <-botDone
	}
	var running Running
	timeout := time.NewTimer(StartTimeout)
	defer timeout.Stop()
	select {
	case running = <-readyc:
	case err := <-botDone:
		if err == nil {
			err = errors.New("stopped before it was ready")
		}
		return fmt.Errorf("roster bot: %w", err)
	case <-ctx.Done():
		return errors.Join(waitBot(), ctx.Err())
	case <-timeout.C:
		return errors.Join(fmt.Errorf("roster bot not ready within %s", StartTimeout), waitBot())
	}
	if err := waitStarted(ctx, fs, running, time.Until(start.Add(StartTimeout))); err != nil {
		return errors.Join(err, waitBot())
	}

	srv := &http.Server{
		Handler:           NewServer(fs, ServerOptions{Approvers: Approvers, Log: log}).Handler(ln.Addr().String()),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/"
	log.Info("playground ready", "url", url, "startup", time.Since(start).Round(time.Millisecond).String(), "db", db)
	if _, err := fmt.Fprintln(stdout, url); err != nil {
		log.Warn("could not print the URL", "err", err)
	}

	select {
	case <-ctx.Done():
	case err := <-botDone:
		// The bot stopped by itself: nothing left to show.
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("roster bot: %w", err)
	case err := <-srvDone:
		return errors.Join(fmt.Errorf("page server: %w", err), waitBot())
	}
	log.Info("stopping the playground")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	if err := waitBot(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("roster bot: %w", err)
	}
	return nil
}

// waitStarted waits until the bot holds a Socket Mode connection and has
// its copy of the directory, so that the first click on the page works.
func waitStarted(ctx context.Context, fs *fakeslack.Server, r Running, budget time.Duration) error {
	budget = max(budget, time.Second)
	if err := fs.WaitConnections(1, budget); err != nil {
		return fmt.Errorf("roster bot did not connect over Socket Mode: %w", err)
	}
	if r.DirectoryLen == nil {
		return nil
	}
	// The directory fills from users.list right after the start; there is
	// no event to wait on, so look every few milliseconds.
	deadline := time.Now().Add(budget)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for r.DirectoryLen() == 0 {
		if time.Now().After(deadline) {
			return errors.New("roster bot did not load the directory in time")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
