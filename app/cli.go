package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `Roster decides who is a member of a Slack workspace.

Usage:
  roster [run]            run the bot until SIGINT or SIGTERM
  roster backup FILE      write a consistent copy of the database to FILE
                          (works whether or not the bot is running)
  roster audit [--since DURATION] [--format text|csv|json]
                          print the audit log, oldest first: all of it, or
                          the last DURATION (7d, 12h); text, CSV or JSON Lines
                          (works whether or not the bot is running)
  roster reconcile [--dry-run]
                          compare who is entitled with Slack's accounts and
                          queue the jobs that repair the drift (--dry-run:
                          print the plan only); exits 3 when deactivations
                          wait for an admin's confirmation
  roster directory import FILE [--partial] [--dry-run]
                          load the organization's directory from a CSV or
                          JSON file: a full sync (people and groups missing
                          from FILE are deleted) unless --partial; --dry-run
                          prints what would change; exits 3 when the
                          deactivations wait for an admin's confirmation
  roster playground [--addr HOST:PORT] [--db FILE]
                          try Roster with no Slack workspace: runs the bot
                          against a built-in Slack stand-in with a demo
                          workspace and prints the URL of a page on
                          127.0.0.1 where you act as any of its users
  roster version          print the version
  roster help             print this help

Configuration comes from environment variables:
`

// Main runs the roster command line with args (without the program name)
// and returns the exit status: 0 success, 1 failure, 2 bad usage or
// configuration.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		if len(args) > 0 {
			fmt.Fprintf(stderr, "roster run takes no arguments, got %q\n", strings.Join(args, " "))
			return 2
		}
		return runBot(getenv, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "roster %s\n", Version)
		return 0
	case "help", "--help", "-h":
		printHelp(stdout)
		return 0
	case "reconcile":
		return reconcileCommand(args, getenv, stdout, stderr)
	case "directory":
		return directoryCommand(args, getenv, stdout, stderr)
	case "backup":
		if len(args) != 1 || strings.HasPrefix(args[0], "-") {
			fmt.Fprintln(stderr, "usage: roster backup FILE")
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		db := DBPath(getenv)
		if err := Backup(ctx, db, args[0]); err != nil {
			fmt.Fprintf(stderr, "roster backup: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote a copy of %s to %s\n", db, args[0])
		return 0
	case "audit":
		return auditMain(args, getenv, stdout, stderr) // app/audit.go
	case "playground":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return PlaygroundMain(ctx, args, stdout, stderr) // app/playground_cmd.go
	default:
		fmt.Fprintf(stderr, "roster: unknown command %q\n\n", cmd)
		printHelp(stderr)
		return 2
	}
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, v := range Variables {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "  %-27s %-18s %s\n", v.Name, def, v.Meaning)
	}
}

// DBPath is the database file the configuration names (ROSTER_DB), for
// subcommands that need nothing else.
func DBPath(getenv func(string) string) string {
	if p := strings.TrimSpace(getenv("ROSTER_DB")); p != "" {
		return p
	}
	return "roster.db"
}

func runBot(getenv func(string) string, stderr io.Writer) int {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "roster: %v\n", err)
		return 2
	}
	log := NewLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err = Run(ctx, cfg, log, Hooks{})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("roster stopped", "err", err)
		return 1
	}
	log.Info("clean shutdown", "uptime", time.Since(start).Round(time.Second).String())
	return 0
}

// NewLogger returns the slog logger cfg asks for, writing to w.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
