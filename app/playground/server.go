package playground

import (
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/roster-app/roster/fakeslack"
)

//go:embed web
var webFiles embed.FS

// AckTimeout is how long the server waits for the bot to acknowledge an
// envelope it sent for the page. Slack waits 3 seconds.
const AckTimeout = 5 * time.Second

// maxBody bounds the JSON the page posts.
const maxBody = 256 << 10

// ServerOptions configure NewServer.
type ServerOptions struct {
	// Approvers are the IDs in ROSTER_APPROVERS, to label them on the page.
	Approvers []string
	// Log receives the server's errors; nil discards them.
	Log *slog.Logger
}

// Server serves the page and its JSON API in front of a fakeslack server:
// it reads what Roster showed each user from fakeslack, and turns the
// page's clicks into the envelopes Slack would send.
type Server struct {
	fs        *fakeslack.Server
	approvers map[string]bool
	log       *slog.Logger

	mu     sync.Mutex
	errors map[string]modalErrors // the last response_action: errors, by user
}

// modalErrors are the field errors of a view submission that Roster
// answered with response_action "errors", shown under the fields until the
// next submission or until the view goes away.
type modalErrors struct {
	viewID string
	errors map[string]string // block_id → message
}

// NewServer returns a Server for fs.
func NewServer(fs *fakeslack.Server, opts ServerOptions) *Server {
	s := &Server{fs: fs, approvers: map[string]bool{}, log: opts.Log, errors: map[string]modalErrors{}}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, id := range opts.Approvers {
		s.approvers[id] = true
	}
	return s
}

// Channels are the conversations the page shows besides each user's DM
// with Roster.
var Channels = []Channel{{ID: fakeslack.DemoApprovalsChannel, Name: "approvals"}}

// Channel is a channel the page shows.
type Channel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Handler returns the HTTP handler of the page and its API. host is the
// address the page is served on (HOST:PORT): requests naming another host
// are refused, so that no other web site can reach the API through DNS
// rebinding, and posts must be JSON from the page's own origin.
func (s *Server) Handler(host string) http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	files := http.FileServerFS(static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	mux.HandleFunc("GET /api/state", s.state)
	mux.HandleFunc("POST /api/command", s.command)
	mux.HandleFunc("POST /api/action", s.action)
	mux.HandleFunc("POST /api/submit", s.submit)
	mux.HandleFunc("POST /api/close", s.closeModal)
	mux.HandleFunc("POST /api/home-opened", s.homeOpened)
	return guard(host, mux)
}

// guard refuses requests for another host, and posts that are not JSON or
// come from another origin; it sets headers that keep the page to its own
// files.
func guard(host string, next http.Handler) http.Handler {
	allowed := map[string]bool{host: true}
	if port, ok := strings.CutPrefix(host, "127.0.0.1:"); ok {
		allowed["localhost:"+port] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !allowed[r.Host] {
			http.Error(w, "this playground answers only on "+host, http.StatusMisdirectedRequest)
			return
		}
		if r.Method == http.MethodPost {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				http.Error(w, "send JSON", http.StatusUnsupportedMediaType)
				return
			}
			if o := r.Header.Get("Origin"); o != "" && !allowed[strings.TrimPrefix(o, "http://")] {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// User is a workspace member as the page lists them.
type User struct {
	ID          string `json:"id"`
	Name        string `json:"name"` // the handle, shown in mentions
	RealName    string `json:"real_name"`
	Email       string `json:"email,omitempty"`
	Type        string `json:"type"` // "primary owner", "admin", "member", "guest", "bot"…
	Deactivated bool   `json:"deactivated"`
	Approver    bool   `json:"approver,omitempty"` // in ROSTER_APPROVERS
}

// State is what GET /api/state returns: everything one user sees.
type State struct {
	User         string                         `json:"user"`
	BotConnected bool                           `json:"bot_connected"`
	Users        []User                         `json:"users"`
	Channels     []Channel                      `json:"channels"`
	DM           string                         `json:"dm"`   // the user's DM channel with Roster
	Home         json.RawMessage                `json:"home"` // the view last published for the user; null if none
	Modals       []json.RawMessage              `json:"modals"`
	ModalErrors  map[string]string              `json:"modal_errors"` // errors under the visible modal's fields
	Messages     map[string][]fakeslack.Message `json:"messages"`     // by channel ID, with the user's ephemerals
}

// UserType says what kind of member u is.
func UserType(u fakeslack.User) string {
	switch {
	case u.IsBot:
		return "bot"
	case u.IsPrimaryOwner:
		return "primary owner"
	case u.IsOwner:
		return "owner"
	case u.IsAdmin:
		return "admin"
	case u.IsUltraRestricted:
		return "single-channel guest"
	case u.IsRestricted:
		return "guest"
	}
	return "member"
}

func (s *Server) users() []User {
	var out []User
	for _, u := range s.fs.Users() {
		out = append(out, User{
			ID: u.ID, Name: u.Name, RealName: u.RealName, Email: u.Email, Type: UserType(u),
			Deactivated: u.Deleted, Approver: s.approvers[u.ID],
		})
	}
	return out
}

// StateOf returns what userID sees now.
func (s *Server) StateOf(userID string) (State, error) {
	if _, ok := s.fs.User(userID); !ok {
		return State{}, fmt.Errorf("no user %q in the workspace", userID)
	}
	st := State{
		User:         userID,
		BotConnected: s.fs.Connections() > 0,
		Users:        s.users(),
		Channels:     Channels,
		DM:           fakeslack.DMChannel(userID),
		Home:         json.RawMessage("null"),
		Modals:       []json.RawMessage{},
		ModalErrors:  map[string]string{},
		Messages:     map[string][]fakeslack.Message{},
	}
	if v, ok := s.fs.HomeView(userID); ok {
		st.Home = v.JSON
	}
	modals := s.fs.Modals(userID)
	for _, v := range modals {
		st.Modals = append(st.Modals, v.JSON)
	}
	s.mu.Lock()
	if e, ok := s.errors[userID]; ok && len(modals) > 0 && modals[len(modals)-1].ID == e.viewID {
		st.ModalErrors = e.errors
	}
	s.mu.Unlock()
	shown := []string{st.DM}
	for _, c := range Channels {
		shown = append(shown, c.ID)
	}
	for _, ch := range shown {
		st.Messages[ch] = append([]fakeslack.Message{}, s.fs.Messages(ch)...)
	}
	// Ephemeral messages show in the channel they were posted in, to this
	// user only; any other channel's go to the DM.
	for _, m := range s.fs.Ephemerals(userID) {
		ch := m.Channel
		if !slices.Contains(shown, ch) {
			ch = st.DM
		}
		st.Messages[ch] = append(st.Messages[ch], m)
	}
	for _, ms := range st.Messages {
		slices.SortStableFunc(ms, func(a, b fakeslack.Message) int { return compareTS(a.TS, b.TS) })
	}
	return st, nil
}

// compareTS orders Slack timestamps ("1700000000.000123") numerically.
func compareTS(a, b string) int {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	ai, _ := strconv.ParseInt(as, 10, 64)
	bi, _ := strconv.ParseInt(bs, 10, 64)
	if c := cmp.Compare(ai, bi); c != 0 {
		return c
	}
	af, bf = af+strings.Repeat("0", max(0, 6-len(af))), bf+strings.Repeat("0", max(0, 6-len(bf)))
	return cmp.Compare(af, bf)
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	st, err := s.StateOf(r.URL.Query().Get("user"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// apiError is the body of every failed API call.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}

// decode reads the posted JSON into v and checks that its user can act.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v interface{ actor() string }) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	u, ok := s.fs.User(v.actor())
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no user %q in the workspace", v.actor()))
		return false
	case u.Deleted:
		writeError(w, http.StatusConflict, u.RealName+" is deactivated and cannot act in Slack")
		return false
	case u.IsBot:
		writeError(w, http.StatusConflict, "a bot cannot act here")
		return false
	}
	return true
}

// sent waits for the ack of the envelope fakeslack sent and answers the
// page with it, or explains what went wrong.
func (s *Server) sent(w http.ResponseWriter, what, envelopeID string, err error) (fakeslack.Ack, bool) {
	if err != nil {
		s.log.Warn("playground: send", "what", what, "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not send the "+what+" to Roster: "+err.Error())
		return fakeslack.Ack{}, false
	}
	ack, err := s.fs.WaitAck(envelopeID, AckTimeout)
	if err != nil {
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("Roster did not acknowledge the %s within %s", what, AckTimeout))
		return fakeslack.Ack{}, false
	}
	return ack, true
}

type commandReq struct {
	User    string `json:"user"`
	Text    string `json:"text"`    // as typed: "/roster status", or "status"
	Channel string `json:"channel"` // where it was typed; "" is the DM with Roster
}

func (c *commandReq) actor() string { return c.User }

// CommandText returns the text of a /roster command typed in the page's
// message box, without the command, and whether it is one.
func CommandText(typed string) (string, bool) {
	t := strings.TrimSpace(typed)
	rest, ok := strings.CutPrefix(t, "/roster")
	if !ok || rest != "" && !strings.ContainsAny(rest[:1], " \t\n") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	var req commandReq
	if !s.decode(w, r, &req) {
		return
	}
	text, ok := CommandText(req.Text)
	if !ok {
		writeError(w, http.StatusBadRequest, "Only the /roster command works here: type /roster followed by what you want, e.g. /roster help")
		return
	}
	var extra []map[string]any
	if req.Channel != "" && req.Channel != fakeslack.DMChannel(req.User) {
		i := slices.IndexFunc(Channels, func(c Channel) bool { return c.ID == req.Channel })
		if i < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("no channel %q here", req.Channel))
			return
		}
		extra = append(extra, map[string]any{"channel_id": Channels[i].ID, "channel_name": Channels[i].Name})
	}
	env, err := s.fs.SlashCommand(req.User, text, extra...)
	if _, ok := s.sent(w, "command", env, err); ok {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
}

type actionReq struct {
	User     string `json:"user"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
}

func (a *actionReq) actor() string { return a.User }

func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	var req actionReq
	if !s.decode(w, r, &req) {
		return
	}
	if req.ActionID == "" {
		writeError(w, http.StatusBadRequest, "action_id is missing")
		return
	}
	env, err := s.fs.BlockAction(req.User, req.ActionID, req.Value)
	if _, ok := s.sent(w, "click", env, err); ok {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
}

type submitReq struct {
	User       string                               `json:"user"`
	ViewID     string                               `json:"view_id"`
	CallbackID string                               `json:"callback_id"`
	Values     map[string]map[string]map[string]any `json:"values"` // block_id → action_id → state value
}

func (q *submitReq) actor() string { return q.User }

// SubmitResult is what POST /api/submit returns: Roster's
// response_action and, for "errors", the messages by block_id.
type SubmitResult struct {
	ResponseAction string            `json:"response_action"`
	Errors         map[string]string `json:"errors,omitempty"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req submitReq
	if !s.decode(w, r, &req) {
		return
	}
	modals := s.fs.Modals(req.User)
	if len(modals) == 0 || modals[len(modals)-1].ID != req.ViewID || modals[len(modals)-1].CallbackID != req.CallbackID {
		writeError(w, http.StatusConflict, "this form is no longer open")
		return
	}
	values := map[string]map[string]any{}
	for bid, acts := range req.Values {
		values[bid] = map[string]any{}
		for aid, v := range acts {
			if t, _ := v["type"].(string); t == "" {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("value %s/%s has no type", bid, aid))
				return
			}
			values[bid][aid] = v
		}
	}
	env, err := s.fs.ViewSubmission(req.User, req.CallbackID, values)
	ack, ok := s.sent(w, "form", env, err)
	if !ok {
		return
	}
	var p struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if len(ack.Payload) > 0 && string(ack.Payload) != "null" {
		if err := json.Unmarshal(ack.Payload, &p); err != nil {
			writeError(w, http.StatusBadGateway, "Roster answered the form with something that is not JSON")
			return
		}
	}
	s.mu.Lock()
	if p.ResponseAction == "errors" {
		s.errors[req.User] = modalErrors{viewID: req.ViewID, errors: p.Errors}
	} else {
		delete(s.errors, req.User)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, SubmitResult{ResponseAction: p.ResponseAction, Errors: p.Errors})
}

type closeReq struct {
	User   string `json:"user"`
	ViewID string `json:"view_id"`
}

func (c *closeReq) actor() string { return c.User }

func (s *Server) closeModal(w http.ResponseWriter, r *http.Request) {
	var req closeReq
	if !s.decode(w, r, &req) {
		return
	}
	env, err := s.fs.CloseModal(req.User, req.ViewID)
	if err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	s.mu.Lock()
	delete(s.errors, req.User)
	s.mu.Unlock()
	if env != "" {
		if _, ok := s.sent(w, "close", env, nil); !ok {
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

type homeReq struct {
	User string `json:"user"`
}

func (h *homeReq) actor() string { return h.User }

func (s *Server) homeOpened(w http.ResponseWriter, r *http.Request) {
	var req homeReq
	if !s.decode(w, r, &req) {
		return
	}
	env, _, err := s.fs.AppHomeOpened(req.User)
	if _, ok := s.sent(w, "Home tab opening", env, err); ok {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
}
