package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/roster-app/roster/app/playground"
)

// PlaygroundMain runs `roster playground [--addr HOST:PORT] [--db FILE]`
// with args (after the command name) until ctx ends, and returns the exit
// status: 0 after a clean stop, 1 on a failure, 2 on bad usage. It prints
// the page's URL on a line of its own to stdout once everything is ready,
// and logs the rest to stderr.
func PlaygroundMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := playground.ParseArgs(args)
	var ue *playground.UsageError
	switch {
	case errors.Is(err, playground.ErrHelp):
		fmt.Fprintln(stdout, playground.Usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "roster playground: %v\n%s\n", err, playground.Usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "roster playground: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	err = playground.Run(ctx, opts, stdout, log, runPlaygroundBot)
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "roster playground: %v\n", err)
		return 2
	case err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)):
		log.Error("playground stopped", "err", err)
		return 1
	}
	log.Info("playground stopped")
	return 0
}

// runPlaygroundBot is playground.BotRunner: the real bot, configured from
// env exactly as `roster run` is from the environment.
func runPlaygroundBot(ctx context.Context, env map[string]string, log *slog.Logger, ready func(playground.Running)) error {
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	return Run(ctx, cfg, log, Hooks{Ready: func(a *App) {
		ready(playground.Running{DirectoryLen: a.Directory.Len})
	}})
}
