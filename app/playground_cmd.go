package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/roster-app/roster/app/playground"
	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
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
		// The demo organization's directory, with no access assigned yet:
		// try `/roster assign group:Contractors` or `ou:/Engineering`.
		if _, err := a.Service.ApplyDirectory(ctx, playgroundDirectory()); err != nil {
			log.Warn("seed the demo directory", "err", err)
		}
		ready(playground.Running{DirectoryLen: a.Directory.Len})
	}})
}

// playgroundDirectory is the demo organization: people of the demo
// workspace and a few not in Slack yet, in org units and groups.
func playgroundDirectory() provisioning.DirectoryChange {
	p := func(email, name, ou string) provisioning.Person {
		return provisioning.Person{Email: email, Name: name, OrgUnit: ou, Status: provisioning.PersonEnabled}
	}
	return provisioning.DirectoryChange{
		By: "playground", Cause: "demo directory",
		Upsert: []provisioning.Person{
			p(fakeslack.DemoMemberEmail, "Mia Member", "/Engineering/Platform"),
			p("noah.baker@example.com", "Noah Baker", "/Engineering/Platform"),
			p("emma.clark@example.com", "Emma Clark", "/Engineering/Apps"),
			p("liam.davis@example.com", "Liam Davis", "/Sales"),
			p("ava.evans@example.com", "Ava Evans", "/Sales"),
			p(fakeslack.DemoDeactivatedEmail, "Dora Gone", "/Engineering/Apps"),
			p("nina.new@example.com", "Nina New", "/Engineering/Platform"),
			p("carl.contractor@example.com", "Carl Contractor", "/Contractors"),
			p("cleo.contractor@example.com", "Cleo Contractor", "/Contractors"),
		},
		UpsertGroups: []provisioning.GroupInput{
			{Name: "Contractors", MemberEmails: []string{"carl.contractor@example.com", "cleo.contractor@example.com"}},
			{Name: "On-call", MemberEmails: []string{fakeslack.DemoMemberEmail, "noah.baker@example.com", "nina.new@example.com"}},
		},
	}
}
