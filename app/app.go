// Package app wires Roster together: configuration, the store, the SCIM
// client, the provisioning service, the Socket Mode event loop, the cron
// scheduler, the health and metrics endpoint and the local control socket.
// It is the only package that imports everything.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"golang.org/x/sync/errgroup"

	"github.com/roster-app/roster/handlers"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
	"github.com/roster-app/roster/provisioning/scimserver"
	"github.com/roster-app/roster/store"
)

// Version is set at build time with -ldflags "-X github.com/roster-app/roster/app.Version=…".
var Version = "dev"

// Hooks let tests and the playground observe a running App.
type Hooks struct {
	// Ready, if set, is called once the bot has checked its tokens, opened
	// the store and started its loops.
	Ready func(*App)
	// HTTPClient, if set, is used for the Web API and SCIM.
	HTTPClient *http.Client
	// SCIMLimits overrides the SCIM client's rate limits (benchmarks scale
	// time with it).
	SCIMLimits *scim.Limits
	// JobBackoff overrides the base of the jobs' retry backoff.
	JobBackoff time.Duration
	// PingInterval overrides Socket Mode's longest tolerated silence.
	PingInterval time.Duration
}

// App is a running Roster.
type App struct {
	cfg       Config
	log       *slog.Logger
	DB        *store.DB
	Service   *provisioning.Service
	Router    *handlers.Router
	Directory *provisioning.Directory
	metrics   *metrics

	connected atomic.Bool
	httpAddr  string
	scimAddr  string
}

// SCIMAddr is the address Roster's SCIM endpoint listens on, or "".
func (a *App) SCIMAddr() string { return a.scimAddr }

// HTTPAddr is the address /healthz and /metrics are served on, or "".
func (a *App) HTTPAddr() string { return a.httpAddr }

// Run runs Roster until ctx is done, then shuts down: it stops reading
// envelopes, lets handlers and jobs in flight finish (within
// cfg.ShutdownTimeout) and closes the store. Every pending job stays stored.
func Run(ctx context.Context, cfg Config, log *slog.Logger, hooks Hooks) error {
	httpClient := hooks.HTTPClient
	if httpClient == nil {
		// Replies go out in bursts; keep connections to Slack for reuse
		// rather than a new TLS handshake per reply.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		httpClient = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	api := slack.New(cfg.BotToken.Reveal(),
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionAppLevelToken(cfg.AppToken.Reveal()),
		slack.OptionHTTPClient(httpClient),
	)
	db, err := store.Open(cfg.DB, store.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	// Roster's copy of the workspace directory serves App Home at once,
	// even before the first sync after a restart completes. Loading it
	// overlaps the token checks below.
	dir := provisioning.NewDirectory()
	dsync := newDirectorySync(api, db, dir, log.With("component", "directory"))
	loaded := make(chan error, 1)
	go func() {
		n, err := dsync.Load(ctx)
		if err == nil {
			log.Info("directory loaded from the database", "members", n)
		}
		loaded <- err
	}()
	if err := checkSlack(ctx, api); err != nil {
		<-loaded
		return err
	}

	m := newMetrics()
	limits := scim.DefaultLimits()
	limits.Share = cfg.SCIMRateShare
	if hooks.SCIMLimits != nil {
		limits = *hooks.SCIMLimits
	}
	sc := scim.New(cfg.SCIMURL, cfg.AdminToken.Reveal(),
		scim.WithHTTPClient(httpClient),
		scim.WithLimits(limits),
		scim.WithObserver(m.observeSCIM),
	)
	if !cfg.DryRun {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := sc.Probe(pctx)
		cancel()
		if err != nil {
			<-loaded
			return fmt.Errorf("check SLACK_ADMIN_TOKEN against the SCIM API at %s: %w", cfg.SCIMURL, err)
		}
	}
	if err := <-loaded; err != nil {
		return fmt.Errorf("load the directory: %w", err)
	}

	a := &App{cfg: cfg, log: log, DB: db, metrics: m}
	m.watchStore(db)
	m.connected = &a.connected

	a.Directory = dir

	var roster *handlers.Roster
	svc := provisioning.NewService(db, sc, slackMembers{api}, provisioning.Options{
		Log:               log.With("component", "provisioning"),
		DryRun:            cfg.DryRun,
		Protected:         cfg.Admins,
		Workers:           cfg.Workers,
		GiveUp:            cfg.JobGiveUp,
		BackoffBase:       hooks.JobBackoff,
		MaxDuration:       cfg.MaxDuration,
		RequiredApprovals: cfg.RequiredApprovals,
		MaxDeactivations:  cfg.MaxDeactivations.Limit,
		ActiveMembers:     dir.ActiveCount,
		OnJobFinished: func(ctx context.Context, j provisioning.Job) {
			roster.NotifyJob(ctx, j)
		},
	})
	a.Service = svc

	router := handlers.NewRouter(log.With("component", "router"), 30*time.Second)
	router.OnAck = m.observeAck
	a.Router = router
	roster = handlers.NewRoster(api, svc, db, dir, dsync, log.With("component", "handlers"), handlers.Config{
		Admins:           cfg.Admins,
		Approvers:        cfg.Approvers,
		ApprovalsChannel: cfg.ApprovalsChannel,
		MaxDuration:      cfg.MaxDuration,
	})
	roster.Register(router)

	smOpts := []socketmode.Option{socketmode.OptionLog(slog.NewLogLogger(log.Handler(), slog.LevelDebug))}
	if hooks.PingInterval > 0 {
		smOpts = append(smOpts, socketmode.OptionPingInterval(hooks.PingInterval))
	}
	sm := socketmode.New(api, smOpts...)

	ctl, err := listenControl(cfg.DB, db, log,
		route{"POST /directory/import", importHandler(svc)},
		route{"POST /reconcile", reconcileHandler(svc, sc)})
	if err != nil {
		return err
	}

	jobs := cron.New(
		cron.WithLocation(time.UTC),
		cron.WithLogger(cronLogger{log.With("component", "cron")}),
		cron.WithChain(cron.Recover(cronLogger{log}), cron.SkipIfStillRunning(cronLogger{log})),
	)
	sweep := func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		a.sweep(ctx, roster)
	}
	if _, err := jobs.AddFunc(fmt.Sprintf("@every %s", cfg.ExpiryCheck), sweep); err != nil {
		return fmt.Errorf("schedule expiry check: %w", err)
	}
	if _, err := jobs.AddFunc(cfg.ReconcileSchedule, func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		if res := runReconcile(ctx, svc, sc, cfg.DryRun, provisioning.System); res.Error != "" {
			log.WarnContext(ctx, "reconcile", "err", res.Error)
		}
	}); err != nil {
		return fmt.Errorf("schedule reconcile %q: %w", cfg.ReconcileSchedule, err)
	}
	// users.list is Tier 2: a full sync of a big workspace takes minutes,
	// so it runs at start and every few hours; events keep it current.
	if _, err := jobs.AddFunc("@every 6h", func() {
		ctx, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		if _, err := dsync.FullSync(ctx); err != nil {
			log.ErrorContext(ctx, "directory refresh", "err", err)
		}
	}); err != nil {
		return fmt.Errorf("schedule directory refresh: %w", err)
	}

	var srv *http.Server
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			ctl.Close()
			return fmt.Errorf("ROSTER_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
		}
		a.httpAddr = ln.Addr().String()
		srv = &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", "err", err)
			}
		}()
		log.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
	}

	// Roster's own SCIM endpoint, where an identity provider pushes the
	// organization's directory.
	var scimSrv *http.Server
	if cfg.SCIMAddr != "" {
		ln, err := net.Listen("tcp", cfg.SCIMAddr)
		if err != nil {
			ctl.Close()
			return fmt.Errorf("ROSTER_SCIM_ADDR %s: %w", cfg.SCIMAddr, err)
		}
		scimSrv = &http.Server{
			Handler: scimserver.New(svc, db, scimserver.Options{
				Token: cfg.SCIMToken.Reveal(), OrgUnitAttribute: cfg.SCIMOrgUnit, Log: log.With("component", "scim-server"),
			}),
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute,
		}
		a.scimAddr = ln.Addr().String()
		go func() {
			if err := scimSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("SCIM endpoint", "err", err)
			}
		}()
		log.Info("serving the SCIM endpoint for the identity provider", "url", "http://"+a.scimAddr+"/scim/v2/")
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error {
		err := sm.RunContext(gctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("socket mode: %w", redactErr(err, cfg))
		}
		return nil
	})
	g.Go(func() error { a.serveEvents(gctx, sm); return nil })
	g.Go(func() error { return svc.Run(gctx) })
	// Grants and requests that expired while Roster was stopped end now.
	g.Go(func() error { sweep(); return nil })
	g.Go(func() error {
		start := time.Now()
		if _, err := dsync.FullSync(gctx); err != nil && gctx.Err() == nil {
			log.Error("directory sync", "err", err, "after", time.Since(start).Round(time.Millisecond).String())
		}
		return nil
	})
	g.Go(func() error {
		jobs.Start()
		<-gctx.Done()
		<-jobs.Stop().Done()
		return nil
	})
	log.Info("roster running", "version", Version, "dry_run", cfg.DryRun, "db", cfg.DB)
	if hooks.Ready != nil {
		hooks.Ready(a)
	}

	errc := make(chan error, 1)
	go func() { errc <- g.Wait() }()
	var runErr error
	select {
	case runErr = <-errc:
	case <-ctx.Done():
		select {
		case runErr = <-errc:
		case <-time.After(cfg.ShutdownTimeout):
			log.Warn("shutdown timed out; handlers still running were cut off", "timeout", cfg.ShutdownTimeout)
		}
	}
	if ctx.Err() != nil && errors.Is(runErr, context.Canceled) {
		runErr = nil // asked to stop
	}
	for _, s := range []*http.Server{srv, scimSrv} {
		if s != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.Shutdown(sctx)
			cancel()
		}
	}
	ctl.Close()
	log.Info("roster stopped")
	return runErr
}

// sweep ends expired grants and requests and sends reminders, telling the
// people concerned. The state changes are durable before anyone is told.
func (a *App) sweep(ctx context.Context, roster *handlers.Roster) {
	svc := a.Service
	if ended, err := svc.ExpireAssignments(ctx); err != nil {
		a.log.ErrorContext(ctx, "expire assignments", "err", err)
	} else if len(ended) > 0 {
		roster.GrantsEnded(ctx, ended,
			func(asg provisioning.Assignment) string { return svc.WhoToTell(ctx, asg) },
			func(email string) bool { st, err := svc.Status(ctx, email); return err == nil && st.Entitled })
	}
	if expired, err := svc.ExpireRequests(ctx, a.cfg.RequestTTL); err != nil {
		a.log.ErrorContext(ctx, "expire requests", "err", err)
	} else {
		roster.RequestsExpired(ctx, expired)
	}
	if due, err := svc.DueReminders(ctx); err != nil {
		a.log.ErrorContext(ctx, "reminders", "err", err)
	} else {
		roster.GrantsEnding(ctx, due)
	}
}

// serveEvents is the Socket Mode event loop: it tracks the connection for
// /healthz and hands every event to the Router, which acks it first.
func (a *App) serveEvents(ctx context.Context, sm *socketmode.Client) {
	defer a.Router.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-sm.Events:
			switch evt.Type {
			case socketmode.EventTypeConnected, socketmode.EventTypeHello:
				a.connected.Store(true)
			case socketmode.EventTypeConnecting, socketmode.EventTypeConnectionError, socketmode.EventTypeDisconnect:
				a.connected.Store(false)
			}
			a.Router.Dispatch(ctx, sm, evt)
		}
	}
}

// checkSlack calls auth.test with the bot token and apps.connections.open
// with the app-level token, so that a wrong or revoked token stops Roster
// at once with a clear message instead of a reconnect loop.
func checkSlack(ctx context.Context, api *slack.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := api.AuthTestContext(ctx); err != nil {
		return fmt.Errorf("check SLACK_BOT_TOKEN with auth.test: %s", slackErrText(err))
	}
	if _, _, err := api.StartSocketModeContext(ctx); err != nil {
		return fmt.Errorf("check SLACK_APP_TOKEN with apps.connections.open: %s", slackErrText(err))
	}
	return nil
}

// slackErrText explains Slack's token errors in words.
func slackErrText(err error) string {
	var se slack.SlackErrorResponse
	code := err.Error()
	if errors.As(err, &se) {
		code = se.Err
	}
	switch code {
	case "invalid_auth", "not_authed":
		return code + ": the token is not valid; copy it again from the app's settings page"
	case "token_revoked", "token_expired":
		return code + ": the token was revoked; reinstall the app and use the new token"
	case "account_inactive":
		return code + ": the token belongs to a deactivated user or an uninstalled app"
	case "not_allowed_token_type":
		return code + ": this is the wrong kind of token for this variable"
	case "missing_scope":
		return code + ": the app lacks a scope; recreate it from manifest.yaml and reinstall"
	}
	return code
}

// redactErr removes token values from err's text, for errors of libraries
// that might echo a request.
func redactErr(err error, cfg Config) error {
	if err == nil {
		return nil
	}
	return redacted{err: err, cfg: cfg}
}

type redacted struct {
	err error
	cfg Config
}

func (r redacted) Error() string { return r.cfg.Redact(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }

type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}

// slackMembers answers the guard rails' questions through users.info.
type slackMembers struct{ api *slack.Client }

func (s slackMembers) MemberByID(ctx context.Context, id string) (provisioning.Member, error) {
	u, err := s.api.GetUserInfoContext(ctx, id)
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && (se.Err == "user_not_found" || se.Err == "user_not_visible") {
			return provisioning.Member{}, fmt.Errorf("users.info %s: %s: %w", id, se.Err, provisioning.ErrNotFound)
		}
		return provisioning.Member{}, fmt.Errorf("users.info %s: %w", id, err)
	}
	return handlers.MemberFromSlack(*u), nil
}
