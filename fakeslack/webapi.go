package fakeslack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Call is one recorded Web API request.
type Call struct {
	Method string         // e.g. "chat.postMessage"
	Token  string         // from "Authorization: Bearer", else the "token" field
	Form   url.Values     // form fields and query parameters
	JSON   map[string]any // the JSON body, if the request had one
	At     time.Time
	Error  string // the error code answered, "" when the answer was ok
}

// Param returns field name as a string, from the form or query, else from
// the JSON body (numbers and booleans formatted, objects re-encoded as JSON).
// It returns "" if the field is absent.
func (c Call) Param(name string) string {
	if v, ok := c.Form[name]; ok && len(v) > 0 {
		return v[0]
	}
	switch v := c.JSON[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Decode decodes field into v, whether the field came as a JSON string in a
// form (as slack-go sends chat.postMessage's "blocks", and Bolt sends
// "view") or as JSON in a JSON body. A field that is plain text decodes
// into a *string.
func (c Call) Decode(field string, v any) error {
	if vals, ok := c.Form[field]; ok && len(vals) > 0 {
		return decodeText(vals[0], v)
	}
	raw, ok := c.JSON[field]
	if !ok {
		return fmt.Errorf("fakeslack: %s call has no field %q", c.Method, field)
	}
	if s, ok := raw.(string); ok {
		return decodeText(s, v)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Has reports whether the call carries field.
func (c Call) Has(field string) bool {
	if _, ok := c.Form[field]; ok {
		return true
	}
	_, ok := c.JSON[field]
	return ok
}

func decodeText(s string, v any) error {
	err := json.Unmarshal([]byte(s), v)
	if err == nil {
		return nil
	}
	if p, ok := v.(*string); ok {
		*p = s
		return nil
	}
	return err
}

// Calls returns the recorded calls of method, oldest first; "" returns all
// calls.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCall returns the first recorded call of method for which pred (nil
// matches any) is true, waiting for one to arrive until ctx ends. Calls
// recorded before WaitCall count.
func (s *Server) WaitCall(ctx context.Context, method string, pred func(Call) bool) (Call, error) {
	var found Call
	err := s.waitFor(ctx, func() bool {
		for _, c := range s.calls {
			if c.Method == method && (pred == nil || pred(c)) {
				found = c
				return true
			}
		}
		return false
	})
	if err != nil {
		return Call{}, fmt.Errorf("fakeslack: wait for %s call: %w", method, err)
	}
	return found, nil
}

type apiLimit struct {
	n          int
	retryAfter time.Duration
	errCode    string // FailAPI: answer this error with HTTP 200 instead of a 429
}

// RateLimitAPI makes the next n calls of method answer HTTP 429 with a
// Retry-After header (retryAfter rounded up to whole seconds, at least 1)
// and {"ok":false,"error":"ratelimited"}, as Slack does. It replaces an
// earlier RateLimitAPI or FailAPI for method; n = 0 clears it.
func (s *Server) RateLimitAPI(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.apiLimits, method)
		return
	}
	s.apiLimits[method] = &apiLimit{n: n, retryAfter: retryAfter}
}

// FailAPI makes the next n calls of method answer HTTP 200 with
// {"ok":false,"error":errCode} (e.g. "not_enabled" for views.publish,
// "channel_not_found", "internal_error") without running the method. It
// replaces an earlier FailAPI or RateLimitAPI for method; n = 0 clears it.
func (s *Server) FailAPI(method string, n int, errCode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.apiLimits, method)
		return
	}
	s.apiLimits[method] = &apiLimit{n: n, errCode: errCode}
}

// retryAfterSeconds renders d as a Retry-After value: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// Message is a message the app posted (chat.postMessage, chat.update,
// chat.postEphemeral, a response_url or a slash command's ack).
type Message struct {
	Channel   string          `json:"channel"`
	TS        string          `json:"ts"`
	User      string          `json:"user"` // the poster, BotUserID
	Text      string          `json:"text"`
	Blocks    json.RawMessage `json:"blocks,omitempty"`
	ThreadTS  string          `json:"thread_ts,omitempty"`
	Edited    bool            `json:"edited,omitempty"`    // changed by chat.update or a response_url
	Ephemeral bool            `json:"ephemeral,omitempty"` // seen by one user only
}

// Messages returns the messages in channel (C…, G… or D…), oldest first.
// Posting to a user ID lands in that user's DM channel, DMChannel(user).
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages[channel]...)
}

// Ephemerals returns the ephemeral messages shown to userID, oldest first:
// chat.postEphemeral, and slash command answers through the ack or the
// response_url.
func (s *Server) Ephemerals(userID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.ephemerals[userID]...)
}

// DMChannel returns the ID of the direct-message channel between the bot
// and userID, as conversations.open returns it.
func DMChannel(userID string) string {
	if len(userID) > 1 {
		return "D" + userID[1:]
	}
	return "D" + userID
}

// View is a view the app published or opened.
type View struct {
	ID              string
	Type            string // "home" or "modal"
	UserID          string
	CallbackID      string
	ExternalID      string
	PrivateMetadata string
	Hash            string
	RootViewID      string
	PreviousViewID  string
	Blocks          json.RawMessage
	JSON            json.RawMessage // the whole view, as Slack returns it
}

// Decode decodes the whole view, e.g. into a *slack.View.
func (v View) Decode(dst any) error { return json.Unmarshal(v.JSON, dst) }

// HomeView returns the last Home tab view published for userID.
func (s *Server) HomeView(userID string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.homeViews[userID]
	return v, ok
}

// Modals returns userID's open modal stack, the root first and the visible
// modal last. It is empty once the stack is closed.
func (s *Server) Modals(userID string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.modals[userID]...)
}

type trigger struct {
	user   string
	issued time.Time
	used   bool
}

// TriggerID hands out a fresh trigger_id for userID, valid for one
// views.open or views.push within the trigger TTL (3s by default). The
// payload helpers (SlashCommand, BlockAction, …) mint their own; use this
// for envelopes built by hand.
func (s *Server) TriggerID(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newTriggerLocked(userID)
}

func (s *Server) newTriggerLocked(userID string) string {
	n := s.nextLocked()
	id := fmt.Sprintf("%d.%d.%016x", s.tsBase, n, uint64(n)*0x9e3779b97f4a7c15)
	s.triggers[id] = &trigger{user: userID, issued: time.Now()}
	return id
}

func (s *Server) newTSLocked() string {
	n := s.nextLocked()
	return fmt.Sprintf("%d.%06d", s.tsBase+n/1e6, n%1e6)
}

// Response is one POST to a response_url.
type Response struct {
	ID   string          // the ID in the URL, /response/ID
	Body json.RawMessage // the JSON posted
	At   time.Time
}

// Decode decodes the posted body.
func (r Response) Decode(v any) error { return json.Unmarshal(r.Body, v) }

type responseTarget struct {
	channel, user, ts string
	uses              int
}

// ResponseURL returns the response_url with this ID: URL+"/response/"+id.
// POSTs to it are recorded (Responses). URLs that the payload helpers hand
// out also act like Slack's: an ephemeral answer by default,
// "response_type":"in_channel" posts to the channel, "replace_original" and
// "delete_original" change the message the action came from. Each URL
// accepts 5 posts, as Slack's do.
func (s *Server) ResponseURL(id string) string { return s.URL + "/response/" + id }

// Responses returns the posts to response URLs, oldest first.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.responses...)
}

// WaitResponse returns the first post to a response URL for which pred (nil
// matches any) is true, waiting until ctx ends.
func (s *Server) WaitResponse(ctx context.Context, pred func(Response) bool) (Response, error) {
	var found Response
	err := s.waitFor(ctx, func() bool {
		for _, r := range s.responses {
			if pred == nil || pred(r) {
				found = r
				return true
			}
		}
		return false
	})
	if err != nil {
		return Response{}, fmt.Errorf("fakeslack: wait for response_url post: %w", err)
	}
	return found, nil
}

func (s *Server) newResponseURLLocked(channel, user, ts string) string {
	id := strconv.FormatInt(s.nextLocked(), 10)
	s.respURLs[id] = responseTarget{channel: channel, user: user, ts: ts}
	return s.ResponseURL(id)
}

func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method_not_allowed", http.StatusMethodNotAllowed)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, known := s.respURLs[id]
	if known {
		if t.uses >= 5 {
			http.Error(w, "used_url", http.StatusNotFound)
			return
		}
		t.uses++
		s.respURLs[id] = t
		s.applyResponseLocked(t, msg)
	}
	s.responses = append(s.responses, Response{ID: id, Body: body, At: time.Now()})
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// applyResponseLocked shows a response_url post (or a slash command's ack
// payload) the way Slack does.
func (s *Server) applyResponseLocked(t responseTarget, msg map[string]any) {
	text, _ := msg["text"].(string)
	var blocks json.RawMessage
	if b, ok := msg["blocks"]; ok {
		blocks, _ = json.Marshal(b)
	}
	truthy := func(k string) bool {
		switch v := msg[k].(type) {
		case bool:
			return v
		case string:
			return v == "true"
		}
		return false
	}
	switch {
	case truthy("delete_original") && t.ts != "":
		ms := s.messages[t.channel]
		for i := range ms {
			if ms[i].TS == t.ts {
				s.messages[t.channel] = append(ms[:i:i], ms[i+1:]...)
				break
			}
		}
	case truthy("replace_original") && t.ts != "":
		ms := s.messages[t.channel]
		for i := range ms {
			if ms[i].TS == t.ts {
				ms[i].Text, ms[i].Blocks, ms[i].Edited = text, blocks, true
			}
		}
	case msg["response_type"] == "in_channel" && t.channel != "":
		s.messages[t.channel] = append(s.messages[t.channel], Message{
			Channel: t.channel, TS: s.newTSLocked(), User: BotUserID, Text: text, Blocks: blocks,
		})
	case t.user != "":
		s.ephemerals[t.user] = append(s.ephemerals[t.user], Message{
			Channel: t.channel, TS: s.newTSLocked(), User: BotUserID, Text: text, Blocks: blocks, Ephemeral: true,
		})
	}
}

// Token kinds, as a bit set of what a method accepts.
type tokenKind int

const (
	tokBot tokenKind = 1 << iota
	tokApp
	tokAdmin
	tokAny = tokBot | tokApp | tokAdmin
)

func kindOf(tok string) tokenKind {
	switch tok {
	case BotToken:
		return tokBot
	case AppToken:
		return tokApp
	case AdminToken:
		return tokAdmin
	}
	return 0
}

type apiResp = map[string]any

type apiMethod struct {
	tokens tokenKind
	scope  string // the bot scope the method needs, reported by missing_scope
	fn     func(s *Server, c *Call) apiResp
}

var apiMethods = map[string]apiMethod{
	"auth.test":              {tokAny, "", (*Server).authTest},
	"apps.connections.open":  {tokApp, "connections:write", (*Server).appsConnectionsOpen},
	"users.list":             {tokBot, "users:read", (*Server).usersList},
	"users.info":             {tokBot, "users:read", (*Server).usersInfo},
	"users.lookupByEmail":    {tokBot, "users:read.email", (*Server).usersLookupByEmail},
	"conversations.open":     {tokBot, "im:write", (*Server).conversationsOpen},
	"chat.postMessage":       {tokBot, "chat:write", (*Server).chatPostMessage},
	"chat.update":            {tokBot, "chat:write", (*Server).chatUpdate},
	"chat.postEphemeral":     {tokBot, "chat:write", (*Server).chatPostEphemeral},
	"views.publish":          {tokBot, "", (*Server).viewsPublish},
	"views.open":             {tokBot, "", (*Server).viewsOpen},
	"views.push":             {tokBot, "", (*Server).viewsPush},
	"views.update":           {tokBot, "", (*Server).viewsUpdate},
	"usergroups.users.list":  {tokBot, "usergroups:read", (*Server).usergroupsUsersList},
	"conversations.info":     {tokBot, "channels:read", (*Server).conversationsInfo},
	"users.getPresence":      {tokBot, "users:read", (*Server).usersGetPresence},
	"bots.info":              {tokBot, "users:read", (*Server).botsInfo},
	"team.info":              {tokBot, "team:read", (*Server).teamInfo},
	"apps.connections.close": {tokApp, "connections:write", func(*Server, *Call) apiResp { return okResp(nil) }},
}

func okResp(m apiResp) apiResp {
	if m == nil {
		m = apiResp{}
	}
	m["ok"] = true
	return m
}

func errResp(code string, messages ...string) apiResp {
	m := apiResp{"ok": false, "error": code}
	if len(messages) > 0 {
		m["response_metadata"] = map[string]any{"messages": messages}
	}
	return m
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	c, parseErr := parseCall(r)
	c.At = time.Now()
	s.log.Debug("fakeslack: web api", "method", c.Method)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	record := func(status int, resp apiResp) {
		if e, _ := resp["error"].(string); e != "" {
			c.Error = e
		}
		s.calls = append(s.calls, c)
		writeJSON(w, status, resp)
	}
	if parseErr != "" {
		record(http.StatusOK, errResp(parseErr))
		return
	}
	if lim := s.apiLimits[c.Method]; lim != nil && lim.n > 0 {
		lim.n--
		if lim.errCode != "" {
			record(http.StatusOK, errResp(lim.errCode))
			return
		}
		w.Header().Set("Retry-After", retryAfterSeconds(lim.retryAfter))
		record(http.StatusTooManyRequests, errResp("ratelimited"))
		return
	}
	m, ok := apiMethods[c.Method]
	if !ok {
		record(http.StatusOK, errResp("unknown_method"))
		return
	}
	if e := s.tokenErrLocked(c.Token, m); e != nil {
		record(http.StatusOK, e)
		return
	}
	record(http.StatusOK, m.fn(s, &c))
}

func (s *Server) tokenErrLocked(tok string, m apiMethod) apiResp {
	switch {
	case tok == "":
		return errResp("not_authed")
	case s.revoked[tok]:
		return errResp("token_revoked")
	}
	kind := kindOf(tok)
	switch {
	case kind == 0:
		return errResp("invalid_auth")
	case m.tokens&kind != 0:
		return nil
	case kind == tokAdmin && m.scope != "":
		e := errResp("missing_scope")
		e["needed"], e["provided"] = m.scope, "admin"
		return e
	}
	return errResp("not_allowed_token_type")
}

// parseCall reads a Web API request: form-encoded, multipart, JSON or query
// string.
func parseCall(r *http.Request) (Call, string) {
	c := Call{Method: strings.TrimPrefix(r.URL.Path, "/api/"), Form: url.Values{}}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		c.Token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch ct {
	case "application/json":
		c.Form = r.URL.Query()
		var body []byte
		body, err = io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			err = dec.Decode(&c.JSON)
		}
	case "multipart/form-data":
		if err = r.ParseMultipartForm(8 << 20); err == nil {
			c.Form = r.Form
		}
	default:
		if err = r.ParseForm(); err == nil {
			c.Form = r.Form
		}
	}
	if c.Token == "" {
		c.Token = c.Form.Get("token")
	}
	switch {
	case err == nil:
		return c, ""
	case ct == "application/json":
		return c, "invalid_json"
	}
	return c, "invalid_form_data"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) authTest(c *Call) apiResp {
	resp := apiResp{
		"url": "https://" + TeamDomain + ".slack.com/", "team": "Fake Slack", "team_id": TeamID,
		"is_enterprise_install": false,
	}
	switch kindOf(c.Token) {
	case tokBot:
		resp["user"], resp["user_id"], resp["bot_id"] = "roster", BotUserID, BotID
	case tokAdmin:
		for _, u := range s.users {
			if u.IsPrimaryOwner {
				resp["user"], resp["user_id"] = u.Name, u.ID
				break
			}
		}
	default:
		return errResp("not_allowed_token_type")
	}
	return okResp(resp)
}

func (s *Server) appsConnectionsOpen(*Call) apiResp {
	ticket := strconv.FormatInt(s.nextLocked(), 10)
	s.tickets[ticket] = true
	host := strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	return okResp(apiResp{"url": "ws://" + host + "/link/?ticket=" + ticket + "&app_id=" + AppID})
}

// users.list: a limit above 1000 is treated as 1000; no limit returns
// everyone in a workspace of up to 1000 users and limit_required beyond.
// The cursor is base64("user:<next user ID>"), like Slack's.
func (s *Server) usersList(c *Call) apiResp {
	limit := 0
	if l := c.Param("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return errResp("invalid_limit")
		}
		limit = min(n, 1000)
	}
	if limit == 0 {
		if len(s.users) > 1000 {
			return errResp("limit_required")
		}
		limit = len(s.users)
	}
	start := 0
	if cur := c.Param("cursor"); cur != "" {
		b, err := base64.StdEncoding.DecodeString(cur)
		id, ok := strings.CutPrefix(string(b), "user:")
		i, found := s.userIndex[id]
		if err != nil || !ok || !found {
			return errResp("invalid_cursor")
		}
		start = i
	}
	end := min(start+limit, len(s.users))
	members := append([]User{}, s.users[start:end]...)
	next := ""
	if end < len(s.users) {
		next = base64.StdEncoding.EncodeToString([]byte("user:" + s.users[end].ID))
	}
	return okResp(apiResp{
		"members": members, "cache_ts": time.Now().Unix(),
		"response_metadata": map[string]any{"next_cursor": next},
	})
}

func (s *Server) usersInfo(c *Call) apiResp {
	u, ok := s.userLocked(c.Param("user"))
	if !ok {
		return errResp("user_not_found")
	}
	return okResp(apiResp{"user": u})
}

// users.lookupByEmail finds deactivated users too, as Slack does.
func (s *Server) usersLookupByEmail(c *Call) apiResp {
	email := c.Param("email")
	if email == "" {
		return errResp("invalid_arguments", "[ERROR] missing required field: email")
	}
	u, ok := s.userByEmailLocked(email)
	if !ok {
		return errResp("users_not_found")
	}
	return okResp(apiResp{"user": u})
}

func (s *Server) usersGetPresence(c *Call) apiResp {
	if _, ok := s.userLocked(c.Param("user")); !ok {
		return errResp("user_not_found")
	}
	return okResp(apiResp{"presence": "active"})
}

func (s *Server) botsInfo(c *Call) apiResp {
	return okResp(apiResp{"bot": map[string]any{
		"id": BotID, "name": "roster", "deleted": false, "user_id": BotUserID, "app_id": AppID,
	}})
}

func (s *Server) teamInfo(*Call) apiResp {
	return okResp(apiResp{"team": map[string]any{
		"id": TeamID, "name": "Fake Slack", "domain": TeamDomain, "email_domain": "example.com",
	}})
}

func (s *Server) conversationsOpen(c *Call) apiResp {
	if ch := c.Param("channel"); ch != "" {
		return okResp(apiResp{"channel": map[string]any{"id": ch}, "no_op": true, "already_open": true})
	}
	users := strings.Split(c.Param("users"), ",")
	if len(users) == 1 && users[0] == "" {
		return errResp("users_list_not_supplied")
	}
	if len(users) > 8 {
		return errResp("too_many_users")
	}
	for _, id := range users {
		u, ok := s.userLocked(strings.TrimSpace(id))
		switch {
		case !ok:
			return errResp("user_not_found")
		case u.Deleted:
			return errResp("user_disabled")
		case u.IsBot && u.ID != BotUserID && len(users) == 1:
			return errResp("cannot_dm_bot")
		}
	}
	if len(users) > 1 {
		return okResp(apiResp{"channel": map[string]any{"id": "G" + strings.Join(users, "")[1:], "is_mpim": true}})
	}
	id := strings.TrimSpace(users[0])
	return okResp(apiResp{"channel": map[string]any{
		"id": DMChannel(id), "created": s.tsBase, "is_im": true, "is_org_shared": false,
		"user": id, "is_user_deleted": false, "priority": 0,
	}})
}

func (s *Server) conversationsInfo(c *Call) apiResp {
	ch, e := s.resolveChannelLocked(c.Param("channel"))
	if e != "" {
		return errResp(e)
	}
	info := map[string]any{"id": ch, "is_im": ch[0] == 'D', "is_channel": ch[0] == 'C', "is_private": ch[0] == 'G'}
	return okResp(apiResp{"channel": info})
}

// resolveChannelLocked maps a channel argument to a channel ID. A user ID
// means that user's DM; C…, G… and D… IDs are taken as they are.
func (s *Server) resolveChannelLocked(ch string) (string, string) {
	if ch == "" {
		return "", "channel_not_found"
	}
	switch ch[0] {
	case 'U', 'W':
		if _, ok := s.userLocked(ch); !ok {
			return "", "channel_not_found"
		}
		return DMChannel(ch), ""
	case 'C', 'G', 'D':
		return ch, ""
	}
	return "", "channel_not_found"
}

// messageContent reads text and blocks of a chat.* call, validating blocks.
func messageContent(c *Call) (text string, blocks json.RawMessage, e apiResp) {
	text = c.Param("text")
	if c.Has("blocks") {
		if err := c.Decode("blocks", &blocks); err != nil {
			return "", nil, errResp("invalid_blocks_format")
		}
		if string(blocks) == "null" || string(blocks) == "[]" {
			blocks = nil
		}
	}
	if text == "" && blocks == nil && !c.Has("attachments") {
		return "", nil, errResp("no_text")
	}
	if len([]rune(text)) > 40000 {
		return "", nil, errResp("msg_too_long")
	}
	if blocks != nil {
		if msgs := validateBlocks(blocks, surfaceMessage); len(msgs) > 0 {
			e := errResp("invalid_blocks", msgs...)
			e["errors"] = msgs
			return "", nil, e
		}
	}
	return text, blocks, nil
}

func (s *Server) chatPostMessage(c *Call) apiResp {
	ch, e := s.resolveChannelLocked(c.Param("channel"))
	if e != "" {
		return errResp(e)
	}
	text, blocks, er := messageContent(c)
	if er != nil {
		return er
	}
	m := Message{Channel: ch, TS: s.newTSLocked(), User: BotUserID, Text: text, Blocks: blocks, ThreadTS: c.Param("thread_ts")}
	s.messages[ch] = append(s.messages[ch], m)
	return okResp(apiResp{"channel": ch, "ts": m.TS, "message": messageJSON(m)})
}

func messageJSON(m Message) map[string]any {
	out := map[string]any{
		"type": "message", "text": m.Text, "user": m.User, "bot_id": BotID, "app_id": AppID,
		"ts": m.TS, "team": TeamID,
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	return out
}

func (s *Server) chatUpdate(c *Call) apiResp {
	ch, e := s.resolveChannelLocked(c.Param("channel"))
	if e != "" {
		return errResp(e)
	}
	ts := c.Param("ts")
	if ts == "" {
		return errResp("message_not_found")
	}
	ms := s.messages[ch]
	for i := range ms {
		if ms[i].TS != ts {
			continue
		}
		text, blocks, er := messageContent(c)
		if er != nil {
			return er
		}
		ms[i].Text, ms[i].Edited = text, true
		if blocks != nil || c.Has("blocks") {
			ms[i].Blocks = blocks
		}
		return okResp(apiResp{"channel": ch, "ts": ts, "text": text, "message": messageJSON(ms[i])})
	}
	return errResp("message_not_found")
}

func (s *Server) chatPostEphemeral(c *Call) apiResp {
	ch, e := s.resolveChannelLocked(c.Param("channel"))
	if e != "" {
		return errResp(e)
	}
	u, ok := s.userLocked(c.Param("user"))
	if !ok {
		return errResp("user_not_found")
	}
	if u.Deleted {
		return errResp("user_not_in_channel")
	}
	text, blocks, er := messageContent(c)
	if er != nil {
		return er
	}
	m := Message{Channel: ch, TS: s.newTSLocked(), User: BotUserID, Text: text, Blocks: blocks,
		ThreadTS: c.Param("thread_ts"), Ephemeral: true}
	s.ephemerals[u.ID] = append(s.ephemerals[u.ID], m)
	return okResp(apiResp{"message_ts": m.TS})
}

func (s *Server) usergroupsUsersList(c *Call) apiResp {
	members, ok := s.usergroups[c.Param("usergroup")]
	if !ok {
		return errResp("no_such_subteam")
	}
	out := []string{}
	for _, id := range members {
		if u, ok := s.userLocked(id); ok && !u.Deleted {
			out = append(out, id)
		}
	}
	return okResp(apiResp{"users": out})
}
