// Package fakeslack is a Slack stand-in for Roster's tests and local runs:
// the Web API methods Roster calls, Socket Mode, and the SCIM v2 API, all
// served by one local HTTP server.
//
// It is a product part, not a mock: where Roster depends on a Slack
// behaviour (error codes, pagination, deactivated users, rate limits, the
// per-user SCIM lock, retries over Socket Mode), fakeslack behaves like
// Slack, as described in shared/docs/slack-platform.md. Tests drive it from
// the outside (send a slash command, inject a SCIM fault) and inspect what
// the app did (Calls, Acks, Messages, SCIMRequests).
//
// A minimal test:
//
//	s := fakeslack.New(fakeslack.WithWorkspace(fakeslack.DemoWorkspace()))
//	defer s.Close()
//	api := slack.New(fakeslack.BotToken,
//		slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(fakeslack.AppToken))
//	// run the app with api, then:
//	if err := s.WaitConnections(1, 5*time.Second); err != nil { t.Fatal(err) }
//	id, _ := s.SlashCommand(fakeslack.DemoAdminID, "help")
//	ack, err := s.WaitAck(id, 5*time.Second)
//
// Every method of Server is safe for concurrent use. Configure the server
// with options passed to New; nothing is configured by setting fields.
package fakeslack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Tokens, IDs and names of the fake workspace and app.
const (
	BotToken   = "xoxb-fake-bot"   // the bot token, for Web API methods
	AppToken   = "xapp-fake-app"   // the app-level token, for apps.connections.open
	AdminToken = "xoxp-fake-admin" // the admin user token (scope "admin"), for SCIM
	TeamID     = "T0FAKE"          // the workspace
	TeamDomain = "fakeslack"       // the workspace's domain
	AppID      = "A0FAKE"          // the app
	BotID      = "B0FAKE"          // the app's bot (bot_id, not a user ID)
	BotUserID  = "U0FAKEBOT"       // the bot's own user: a member with is_bot
)

// Server is a running fake Slack. Create it with New and stop it with Close.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:PORT", with no
	// trailing slash.
	URL string

	srv *httptest.Server
	cfg config
	log *slog.Logger

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // goroutines started by the server

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever recorded state changes
	seq     int64         // source of unique IDs
	tsBase  int64         // unix seconds of the first message ts

	// Workspace.
	users      []User
	userIndex  map[string]int // by ID
	emailIndex map[string]int // by lowercased email
	nameIndex  map[string]int // by lowercased name
	usergroups map[string][]string
	created    map[string]time.Time // SCIM meta.created, by user ID
	started    time.Time

	// Web API.
	revoked    map[string]bool
	calls      []Call
	apiLimits  map[string]*apiLimit
	messages   map[string][]Message // by channel
	ephemerals map[string][]Message // by user
	homeViews  map[string]View      // by user
	modals     map[string][]View    // modal stack, by user
	triggers   map[string]*trigger
	responses  []Response
	respURLs   map[string]responseTarget

	// Socket Mode.
	tickets    map[string]bool // unused tickets from apps.connections.open
	conns      []*wsConn       // open connections, oldest first
	totalConns int
	envelopes  map[string]*sentEnvelope
	acks       []Ack

	// SCIM.
	scimReqs   []SCIMRequest
	faults     []*Fault
	userLocks  map[string]bool
	limiter    *scimLimiter
	scimCounts SCIMCounts
}

type config struct {
	workspace    *Workspace
	pingInterval time.Duration
	scimScale    float64 // 0: no emulated SCIM rate limits
	scimLatency  time.Duration
	triggerTTL   time.Duration
	logger       *slog.Logger
	addr         string
}

// Option configures a Server; pass options to New.
type Option func(*config)

// WithWorkspace seeds the server with a copy of w. The default is an empty
// workspace. Roster's bot user (BotUserID) is added if w lacks it.
func WithWorkspace(w *Workspace) Option { return func(c *config) { c.workspace = w } }

// WithPingInterval sets how often the server sends a WebSocket PING on each
// Socket Mode connection (default 100ms). Clients treat a long silence as a
// dead connection (slack-go's socketmode.OptionPingInterval, 30s by
// default), so keep this well below the client's interval.
func WithPingInterval(d time.Duration) Option { return func(c *config) { c.pingInterval = d } }

// WithSCIMLimits emulates Slack's SCIM rate limits (org-wide reads and
// writes, and per endpoint; see slack-platform.md §1) as token buckets.
// scale speeds up the refill: 1 is Slack's real rate, 20 refills twenty
// times faster. Bursts stay as Slack's. A request over a limit gets HTTP
// 429 with a Retry-After header in whole seconds, at least 1, and is
// recorded with SCIMRequest.RateLimited set. Without this option there are
// no SCIM rate limits.
func WithSCIMLimits(scale float64) Option { return func(c *config) { c.scimScale = scale } }

// WithSCIMLatency makes every SCIM write hold its per-user lock for d before
// it takes effect, so concurrent writes to one user meet Slack's "one update
// per user at a time" 429.
func WithSCIMLatency(d time.Duration) Option { return func(c *config) { c.scimLatency = d } }

// WithTriggerTTL sets how long a trigger_id handed out by the server can
// open a modal (default 3s, as in Slack).
func WithTriggerTTL(d time.Duration) Option { return func(c *config) { c.triggerTTL = d } }

// WithLogger logs requests and socket traffic to l, at Debug level (tokens
// are never logged). The default discards logs.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithAddr makes the server listen on addr (e.g. "127.0.0.1:8085", for a
// local playground) instead of a random loopback port. New panics if it
// cannot listen, as httptest.NewServer does.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// New starts a fake Slack on a loopback port.
func New(opts ...Option) *Server {
	cfg := config{pingInterval: 100 * time.Millisecond, triggerTTL: 3 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.pingInterval <= 0 {
		cfg.pingInterval = 100 * time.Millisecond
	}
	now := time.Now()
	s := &Server{
		cfg:        cfg,
		log:        cfg.logger,
		done:       make(chan struct{}),
		changed:    make(chan struct{}),
		tsBase:     now.Unix(),
		started:    now.UTC().Truncate(time.Second),
		userIndex:  map[string]int{},
		emailIndex: map[string]int{},
		nameIndex:  map[string]int{},
		usergroups: map[string][]string{},
		created:    map[string]time.Time{},
		revoked:    map[string]bool{},
		apiLimits:  map[string]*apiLimit{},
		messages:   map[string][]Message{},
		ephemerals: map[string][]Message{},
		homeViews:  map[string]View{},
		modals:     map[string][]View{},
		triggers:   map[string]*trigger{},
		respURLs:   map[string]responseTarget{},
		tickets:    map[string]bool{},
		envelopes:  map[string]*sentEnvelope{},
		userLocks:  map[string]bool{},
	}
	if cfg.scimScale > 0 {
		s.limiter = newSCIMLimiter(cfg.scimScale, now)
	}
	ws := NewWorkspace()
	if cfg.workspace != nil {
		ws = cfg.workspace.clone()
	}
	if _, ok := ws.index[BotUserID]; !ok {
		ws.Add(botUser())
	}
	for _, u := range ws.users {
		s.putUserLocked(u)
	}
	for id, m := range ws.usergroups {
		s.usergroups[id] = m
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/link/", s.serveSocket)
	mux.HandleFunc("/scim/v2/", s.serveSCIM)
	mux.HandleFunc("/response/", s.serveResponseURL)
	s.srv = httptest.NewUnstartedServer(mux)
	if cfg.addr != "" {
		l, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			panic("fakeslack: listen on " + cfg.addr + ": " + err.Error())
		}
		s.srv.Listener.Close()
		s.srv.Listener = l
	}
	// Set URL before Start: handlers read it, and a request from another
	// process has no happens-before edge with a later write.
	s.URL = "http://" + s.srv.Listener.Addr().String()
	s.srv.Start()
	return s
}

// APIURL is the Web API base URL with its trailing slash, for
// slack.OptionAPIURL and SLACK_API_URL.
func (s *Server) APIURL() string { return s.URL + "/api/" }

// SCIMURL is the SCIM v2 base URL with its trailing slash, for
// SLACK_SCIM_URL.
func (s *Server) SCIMURL() string { return s.URL + "/scim/v2/" }

// Close closes every Socket Mode connection, stops the server and waits for
// its goroutines. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.done) // under s.mu: see track and serveSocket
		conns := append([]*wsConn(nil), s.conns...)
		s.mu.Unlock()
		for _, c := range conns {
			c.close()
		}
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.wg.Wait()
	})
}

// errClosed is returned by waits and sends after Close.
var errClosed = errors.New("fakeslack: server closed")

// notifyLocked wakes every waiter. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextLocked returns a new sequence number. s.mu must be held.
func (s *Server) nextLocked() int64 {
	s.seq++
	return s.seq
}

// waitFor calls cond under s.mu until it reports true, waking on every
// state change; it never polls.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errClosed
		}
	}
}

func (s *Server) waitTimeout(timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.waitFor(ctx, cond)
}

// sleep waits d, or less if the server closes or ctx ends. It reports
// whether the full time passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// User returns the user with this ID.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(id)
}

// UserByEmail returns the user, active or deactivated, with this email
// (compared case-insensitively).
func (s *Server) UserByEmail(email string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userByEmailLocked(email)
}

// Users returns every user, in workspace order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]User(nil), s.users...)
}

// PutUser adds u, or replaces the user with u's ID, directly: no events are
// sent and nothing is recorded.
func (s *Server) PutUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putUserLocked(u)
	s.notifyLocked()
}

func (s *Server) userLocked(id string) (User, bool) {
	i, ok := s.userIndex[id]
	if !ok {
		return User{}, false
	}
	return s.users[i], true
}

func (s *Server) userByEmailLocked(email string) (User, bool) {
	i, ok := s.emailIndex[strings.ToLower(email)]
	if email == "" || !ok {
		return User{}, false
	}
	return s.users[i], true
}

func (s *Server) userByNameLocked(name string) (User, bool) {
	i, ok := s.nameIndex[strings.ToLower(name)]
	if name == "" || !ok {
		return User{}, false
	}
	return s.users[i], true
}

func (s *Server) putUserLocked(u User) {
	i, ok := s.userIndex[u.ID]
	if ok {
		old := s.users[i]
		if j, ok := s.emailIndex[strings.ToLower(old.Email)]; ok && j == i {
			delete(s.emailIndex, strings.ToLower(old.Email))
		}
		if j, ok := s.nameIndex[strings.ToLower(old.Name)]; ok && j == i {
			delete(s.nameIndex, strings.ToLower(old.Name))
		}
		s.users[i] = u
	} else {
		i = len(s.users)
		s.userIndex[u.ID] = i
		s.users = append(s.users, u)
	}
	if u.Email != "" {
		s.emailIndex[strings.ToLower(u.Email)] = i
	}
	if u.Name != "" {
		s.nameIndex[strings.ToLower(u.Name)] = i
	}
	if _, ok := s.created[u.ID]; !ok {
		s.created[u.ID] = s.started
	}
}

// RevokeToken makes tok answer token_revoked on the Web API (and
// apps.connections.open) and 401 on SCIM, as a revoked or uninstalled
// token does. Open sockets stay open.
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[tok] = true
}
