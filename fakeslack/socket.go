package fakeslack

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Ack is one frame the app sent over Socket Mode: normally the
// acknowledgement of an envelope.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // the ack's "payload", nil if it had none
	Latency    time.Duration   // since the envelope was sent; 0 for unknown envelopes
	At         time.Time
}

// errNoConnection is returned when a send finds no open socket.
var errNoConnection = errors.New("fakeslack: no socket mode connection")

type wsConn struct {
	id     int
	ws     *websocket.Conn
	wmu    sync.Mutex // serializes writes; gorilla allows one writer at a time
	once   sync.Once
	closed chan struct{}
}

func (c *wsConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// close closes the connection with a close frame, once.
func (c *wsConn) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
		_ = c.ws.Close()
	})
}

// drop closes the TCP connection without a close frame.
func (c *wsConn) drop() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.ws.Close()
	})
}

type sentEnvelope struct {
	typ     string
	payload json.RawMessage
	sentAt  time.Time
	user    string // who acted, for ack effects
	channel string
	kind    string // payload "type" of interactive envelopes
	viewID  string // the view of a view_submission
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// track adds a goroutine to s.wg unless the server is closing.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.wg.Add(1)
	return true
}

// serveSocket serves /link/?ticket=N: a Socket Mode connection.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	ok := s.tickets[ticket]
	delete(s.tickets, ticket) // single use, as Slack's
	s.mu.Unlock()
	if !ok {
		http.Error(w, "invalid or used ticket", http.StatusBadRequest)
		return
	}
	if !s.track() {
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{ws: ws, closed: make(chan struct{})}
	s.mu.Lock()
	n := len(s.conns) + 1
	s.mu.Unlock()
	hello, _ := json.Marshal(map[string]any{
		"type": "hello", "num_connections": n,
		"connection_info": map[string]any{"app_id": AppID},
		"debug_info": map[string]any{
			"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060,
		},
	})
	// Register the connection only once hello is on the wire, so that
	// nothing sent to it can overtake the hello.
	err = c.write(hello)
	s.mu.Lock()
	select {
	case <-s.done:
		err = errClosed // Close has already closed the registered conns
	default:
	}
	if err == nil {
		s.totalConns++
		c.id = s.totalConns
		s.conns = append(s.conns, c)
		s.notifyLocked()
	}
	s.mu.Unlock()
	s.log.Debug("fakeslack: socket connected", "conn", c.id, "err", err)
	if err == nil && s.track() {
		go s.pingLoop(c)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				break
			}
			s.recordFrame(data)
		}
	}
	c.close()
	s.mu.Lock()
	s.conns = slices.DeleteFunc(s.conns, func(x *wsConn) bool { return x == c })
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Debug("fakeslack: socket closed", "conn", c.id)
}

func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// WriteControl may be called concurrently with other writes.
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second)); err != nil {
				c.drop()
				return
			}
		case <-c.closed:
			return
		case <-s.done:
			return
		}
	}
}

func (s *Server) recordFrame(data []byte) {
	var f struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		s.log.Debug("fakeslack: unparsable socket frame", "err", err)
	}
	now := time.Now()
	a := Ack{EnvelopeID: f.EnvelopeID, Payload: f.Payload, At: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if env, ok := s.envelopes[f.EnvelopeID]; ok {
		a.Latency = now.Sub(env.sentAt)
		s.applyAckLocked(env, f.Payload)
	}
	s.acks = append(s.acks, a)
	s.notifyLocked()
}

// applyAckLocked shows the effect of an ack payload as Slack would: a slash
// command's answer, a view submission's response_action.
func (s *Server) applyAckLocked(env *sentEnvelope, payload json.RawMessage) {
	var p map[string]any
	_ = json.Unmarshal(payload, &p)
	switch {
	case env.typ == "slash_commands" && len(p) > 0:
		if p["text"] != nil || p["blocks"] != nil {
			s.applyResponseLocked(responseTarget{channel: env.channel, user: env.user}, p)
		}
	case env.typ == "interactive" && env.kind == "view_submission":
		stack := s.modals[env.user]
		top := len(stack) - 1
		if top < 0 || stack[top].ID != env.viewID {
			return
		}
		switch p["response_action"] {
		case "errors":
		case "clear":
			delete(s.modals, env.user)
		case "update", "push":
			req, _ := p["view"].(map[string]any)
			if req == nil {
				return
			}
			if p["response_action"] == "update" {
				old := stack[top]
				stack[top] = s.buildViewLocked(req, old.ID, env.user, old.RootViewID, old.PreviousViewID)
				return
			}
			id := s.newViewIDLocked()
			s.modals[env.user] = append(stack, s.buildViewLocked(req, id, env.user, stack[0].ID, stack[top].ID))
		default:
			if top == 0 {
				delete(s.modals, env.user)
			} else {
				s.modals[env.user] = stack[:top]
			}
		}
	}
}

// Acks returns every frame received from the app, oldest first.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// WaitAck returns the first ack of envelopeID, waiting up to timeout.
func (s *Server) WaitAck(envelopeID string, timeout time.Duration) (Ack, error) {
	var found Ack
	err := s.waitTimeout(timeout, func() bool {
		for _, a := range s.acks {
			if a.EnvelopeID == envelopeID {
				found = a
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("fakeslack: wait for ack of %s: %w", envelopeID, err)
	}
	return found, nil
}

// Connections returns the number of open Socket Mode connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// TotalConnections returns how many Socket Mode connections were accepted
// since the server started, reconnects included.
func (s *Server) TotalConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalConns
}

// WaitConnections waits up to timeout until n Socket Mode connections have
// been accepted since the server started (reconnects count) and at least
// one is open, each having been sent its hello. After Disconnect, wait for
// TotalConnections()+1 to see the client come back.
func (s *Server) WaitConnections(n int, timeout time.Duration) error {
	err := s.waitTimeout(timeout, func() bool { return s.totalConns >= n && len(s.conns) > 0 })
	if err != nil {
		return fmt.Errorf("fakeslack: wait for %d connections (have %d): %w", n, s.TotalConnections(), err)
	}
	return nil
}

// Send writes v, JSON-encoded, as one frame to the newest open connection.
// If v is an envelope (it has an envelope_id), its acks are timed.
func (s *Server) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("fakeslack: send: %w", err)
	}
	var env struct {
		EnvelopeID string          `json:"envelope_id"`
		Type       string          `json:"type"`
		Payload    json.RawMessage `json:"payload"`
	}
	_ = json.Unmarshal(b, &env)
	s.mu.Lock()
	if env.EnvelopeID != "" {
		if _, ok := s.envelopes[env.EnvelopeID]; !ok {
			s.envelopes[env.EnvelopeID] = &sentEnvelope{typ: env.Type, payload: env.Payload}
		}
	}
	return s.sendLocked(env.EnvelopeID, b)
}

// sendLocked stamps the envelope's send time and writes b to the newest
// connection. It is called with s.mu held and releases it before writing.
func (s *Server) sendLocked(envelopeID string, b []byte) error {
	if len(s.conns) == 0 {
		s.mu.Unlock()
		return errNoConnection
	}
	c := s.conns[len(s.conns)-1]
	if e, ok := s.envelopes[envelopeID]; ok {
		e.sentAt = time.Now()
	}
	s.mu.Unlock()
	if err := c.write(b); err != nil {
		return fmt.Errorf("fakeslack: send on connection %d: %w", c.id, err)
	}
	return nil
}

func envelope(id, typ string, payload json.RawMessage, retryAttempt int, retryReason string) map[string]any {
	env := map[string]any{
		"envelope_id": id, "type": typ, "payload": payload,
		"accepts_response_payload": typ == "slash_commands" || typ == "interactive",
	}
	if typ == "events_api" {
		env["retry_attempt"], env["retry_reason"] = retryAttempt, retryReason
	}
	return env
}

func (s *Server) newEnvelopeIDLocked() string {
	return fmt.Sprintf("f4c35a1c-0000-4000-8000-%012d", s.nextLocked())
}

// sendEnvelope registers and sends an envelope; meta carries ack effects.
func (s *Server) sendEnvelope(typ string, payload any, meta sentEnvelope) (string, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("fakeslack: encode %s payload: %w", typ, err)
	}
	s.mu.Lock()
	id := s.newEnvelopeIDLocked()
	meta.typ, meta.payload = typ, raw
	s.envelopes[id] = &meta
	b, _ := json.Marshal(envelope(id, typ, raw, 0, ""))
	return id, s.sendLocked(id, b)
}

// SendEnvelope sends payload in a Socket Mode envelope of type typ
// ("events_api", "slash_commands" or "interactive") with a unique
// envelope_id, which it returns. accepts_response_payload is true for
// slash_commands and interactive; events_api envelopes carry
// retry_attempt 0 and an empty retry_reason (Slack sends those fields on
// events_api only).
func (s *Server) SendEnvelope(typ string, payload any) (string, error) {
	return s.sendEnvelope(typ, payload, sentEnvelope{})
}

// Redeliver sends envelopeID's payload again, as Slack retries an
// unacknowledged event: a new envelope_id, the same payload (so the same
// event_id), retry_attempt attempt and retry_reason "timeout". It returns
// the new envelope ID.
func (s *Server) Redeliver(envelopeID string, attempt int) (string, error) {
	s.mu.Lock()
	old, ok := s.envelopes[envelopeID]
	if !ok {
		s.mu.Unlock()
		return "", fmt.Errorf("fakeslack: redeliver: no envelope %s", envelopeID)
	}
	id := s.newEnvelopeIDLocked()
	meta := *old
	s.envelopes[id] = &meta
	b, _ := json.Marshal(envelope(id, old.typ, old.payload, attempt, "timeout"))
	return id, s.sendLocked(id, b)
}

// Disconnect sends every open connection Slack's disconnect message
// ({"type":"disconnect","reason":reason}, e.g. "refresh_requested",
// "warning", "link_disabled") and then closes it, as Slack does before a
// refresh. Clients then open a new connection.
func (s *Server) Disconnect(reason string) error {
	s.mu.Lock()
	conns := append([]*wsConn(nil), s.conns...)
	s.mu.Unlock()
	if len(conns) == 0 {
		return errNoConnection
	}
	b, _ := json.Marshal(map[string]any{
		"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "applink-fake"},
	})
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.write(b))
		c.close()
	}
	return errors.Join(errs...)
}

// DropConnections closes every open connection abruptly, without a
// disconnect message or close frame: a network failure.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := append([]*wsConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
}

func userRef(u User) map[string]any {
	return map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": TeamID}
}

func teamRef() map[string]any { return map[string]any{"id": TeamID, "domain": TeamDomain} }

func (s *Server) actorLocked(userID string) (User, error) {
	u, ok := s.userLocked(userID)
	if !ok {
		return User{}, fmt.Errorf("fakeslack: no user %s in the workspace", userID)
	}
	if u.Deleted {
		return User{}, fmt.Errorf("fakeslack: user %s is deactivated and cannot act", userID)
	}
	return u, nil
}

func merge(p map[string]any, extra []map[string]any) {
	for _, e := range extra {
		maps.Copy(p, e)
	}
}

// SlashCommand sends a slash_commands envelope: userID typed "/roster text"
// in their DM with the app. The payload is Slack's (command, text, user_id,
// user_name, channel_id, channel_name, team_id, team_domain, api_app_id,
// trigger_id, response_url, is_enterprise_install); extra maps are merged
// over it, e.g. {"command": "/other", "channel_id": "C…"}. An answer in the
// ack payload, or posted to the response_url, shows up in Ephemerals(userID)
// (or in Messages for "response_type":"in_channel").
func (s *Server) SlashCommand(userID, text string, extra ...map[string]any) (string, error) {
	s.mu.Lock()
	u, err := s.actorLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	p := map[string]any{
		"token": "fakeverificationtoken", "team_id": TeamID, "team_domain": TeamDomain,
		"channel_id": DMChannel(userID), "channel_name": "directmessage",
		"user_id": u.ID, "user_name": u.Name, "command": "/roster", "text": text,
		"api_app_id": AppID, "is_enterprise_install": "false",
	}
	merge(p, extra)
	ch, _ := p["channel_id"].(string)
	if _, ok := p["response_url"]; !ok {
		p["response_url"] = s.newResponseURLLocked(ch, userID, "")
	}
	if _, ok := p["trigger_id"]; !ok {
		p["trigger_id"] = s.newTriggerLocked(userID)
	}
	s.mu.Unlock()
	return s.sendEnvelope("slash_commands", p, sentEnvelope{user: userID, channel: ch})
}

// actionLocation is where a clicked element was found.
type actionLocation struct {
	msg     *Message
	view    *View
	blockID string
	element map[string]any
}

// findElement looks for an interactive element with actionID (and value,
// when the element has one) in blocks.
func findElement(blocks json.RawMessage, actionID, value string) (string, map[string]any, bool) {
	var bs []map[string]any
	if json.Unmarshal(blocks, &bs) != nil {
		return "", nil, false
	}
	for _, b := range bs {
		blockID, _ := b["block_id"].(string)
		var els []any
		if e, ok := b["elements"].([]any); ok {
			els = append(els, e...)
		}
		for _, k := range []string{"accessory", "element"} {
			if e, ok := b[k].(map[string]any); ok {
				els = append(els, e)
			}
		}
		for _, e := range els {
			m, _ := e.(map[string]any)
			if m == nil || m["action_id"] != actionID {
				continue
			}
			if v, ok := m["value"].(string); ok && value != "" && v != value {
				continue
			}
			return blockID, m, true
		}
	}
	return "", nil, false
}

func (s *Server) findActionLocked(userID, actionID, value string) actionLocation {
	var best actionLocation
	for _, ms := range s.messages {
		for i := range ms {
			if best.msg != nil && ms[i].TS <= best.msg.TS {
				continue
			}
			if bid, el, ok := findElement(ms[i].Blocks, actionID, value); ok {
				m := ms[i]
				best = actionLocation{msg: &m, blockID: bid, element: el}
			}
		}
	}
	if best.msg != nil {
		return best
	}
	stack := s.modals[userID]
	for i := len(stack) - 1; i >= 0; i-- {
		if bid, el, ok := findElement(stack[i].Blocks, actionID, value); ok {
			v := stack[i]
			return actionLocation{view: &v, blockID: bid, element: el}
		}
	}
	if v, ok := s.homeViews[userID]; ok {
		if bid, el, ok := findElement(v.Blocks, actionID, value); ok {
			return actionLocation{view: &v, blockID: bid, element: el}
		}
	}
	return actionLocation{}
}

// BlockAction sends an interactive block_actions envelope: userID clicked
// the element with actionID (and value). The element is looked up in the
// app's messages (newest first), then in userID's modals and Home tab, so
// the payload carries the real block_id, container, message or view, and a
// response_url tied to the message. A select's value becomes its
// selected_option or selected_user. extra maps are merged over the payload.
func (s *Server) BlockAction(userID, actionID, value string, extra ...map[string]any) (string, error) {
	s.mu.Lock()
	u, err := s.actorLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	loc := s.findActionLocked(userID, actionID, value)
	ts := s.newTSLocked()
	action := map[string]any{"action_id": actionID, "block_id": loc.blockID, "type": "button", "action_ts": ts}
	if loc.blockID == "" {
		action["block_id"] = "fake-block"
	}
	if el := loc.element; el != nil {
		if t, ok := el["type"].(string); ok {
			action["type"] = t
		}
		if t, ok := el["text"]; ok {
			action["text"] = t
		}
	}
	switch action["type"] {
	case "static_select", "external_select", "overflow", "radio_buttons":
		opt := map[string]any{"text": map[string]any{"type": "plain_text", "text": value}, "value": value}
		if opts, ok := loc.element["options"].([]any); ok {
			for _, o := range opts {
				if om, ok := o.(map[string]any); ok && om["value"] == value {
					opt = om
				}
			}
		}
		action["selected_option"] = opt
	case "users_select":
		action["selected_user"] = value
	case "conversations_select":
		action["selected_conversation"] = value
	case "channels_select":
		action["selected_channel"] = value
	default:
		action["value"] = value
	}
	p := map[string]any{
		"type": "block_actions", "user": userRef(u), "api_app_id": AppID, "token": "fakeverificationtoken",
		"team": teamRef(), "enterprise": nil, "is_enterprise_install": false,
		"trigger_id": s.newTriggerLocked(userID), "actions": []any{action},
		"state": map[string]any{"values": map[string]any{}},
	}
	meta := sentEnvelope{user: userID, kind: "block_actions"}
	switch {
	case loc.msg != nil:
		m := *loc.msg
		meta.channel = m.Channel
		p["container"] = map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": false}
		p["channel"] = map[string]any{"id": m.Channel, "name": "channel"}
		p["message"] = messageJSON(m)
		p["response_url"] = s.newResponseURLLocked(m.Channel, userID, m.TS)
	case loc.view != nil:
		var view map[string]any
		_ = json.Unmarshal(loc.view.JSON, &view)
		p["container"] = map[string]any{"type": "view", "view_id": loc.view.ID}
		p["view"] = view
	default:
		ch := DMChannel(userID)
		meta.channel = ch
		p["container"] = map[string]any{"type": "message", "channel_id": ch, "is_ephemeral": false}
		p["channel"] = map[string]any{"id": ch, "name": "directmessage"}
		p["response_url"] = s.newResponseURLLocked(ch, userID, "")
	}
	merge(p, extra)
	s.mu.Unlock()
	return s.sendEnvelope("interactive", p, meta)
}

// elementTypes maps block_id → action_id → element type of a view's input
// blocks.
func elementTypes(blocks json.RawMessage) map[string]map[string]string {
	out := map[string]map[string]string{}
	var bs []map[string]any
	_ = json.Unmarshal(blocks, &bs)
	for _, b := range bs {
		bid, _ := b["block_id"].(string)
		el, _ := b["element"].(map[string]any)
		aid, _ := el["action_id"].(string)
		typ, _ := el["type"].(string)
		if out[bid] == nil {
			out[bid] = map[string]string{}
		}
		out[bid][aid] = typ
	}
	return out
}

// stateValue turns a test's shorthand into a view state value: a map is
// used as it is; a string or []string becomes the field that the element's
// type uses (value, selected_user, selected_option, selected_date, …).
func stateValue(typ string, v any) any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	if typ == "" {
		typ = "plain_text_input"
	}
	out := map[string]any{"type": typ}
	switch typ {
	case "users_select":
		out["selected_user"] = v
	case "multi_users_select":
		out["selected_users"] = v
	case "conversations_select":
		out["selected_conversation"] = v
	case "channels_select":
		out["selected_channel"] = v
	case "static_select", "external_select", "radio_buttons":
		out["selected_option"] = map[string]any{"text": map[string]any{"type": "plain_text", "text": v}, "value": v}
	case "datepicker":
		out["selected_date"] = v
	case "timepicker":
		out["selected_time"] = v
	default:
		out["value"] = v
	}
	return out
}

// ViewSubmission sends an interactive view_submission envelope: userID
// submitted the modal with callbackID, with values[blockID][actionID] as
// the form state. A value may be a full state object (a map), or a string
// (or []string for multi-selects) which is shaped after the element's type
// in the open modal. The open modal with callbackID (Modals) supplies the
// view; without one a bare view is made up. The ack's response_action then
// acts on the modal stack: errors keeps it, clear closes it, update and
// push change it, an empty ack closes the top modal.
func (s *Server) ViewSubmission(userID, callbackID string, values map[string]map[string]any, extra ...map[string]any) (string, error) {
	s.mu.Lock()
	u, err := s.actorLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	var view View
	found := false
	stack := s.modals[userID]
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].CallbackID == callbackID {
			view, found = stack[i], true
			break
		}
	}
	if !found {
		id := s.newViewIDLocked()
		view = s.buildViewLocked(map[string]any{
			"type": "modal", "callback_id": callbackID,
			"title": map[string]any{"type": "plain_text", "text": "Modal"},
		}, id, userID, id, "")
	}
	types := elementTypes(view.Blocks)
	state := map[string]any{}
	for bid, acts := range values {
		m := map[string]any{}
		for aid, v := range acts {
			m[aid] = stateValue(types[bid][aid], v)
		}
		state[bid] = m
	}
	var vj map[string]any
	_ = json.Unmarshal(view.JSON, &vj)
	vj["state"] = map[string]any{"values": state}
	p := map[string]any{
		"type": "view_submission", "team": teamRef(), "user": userRef(u), "api_app_id": AppID,
		"token": "fakeverificationtoken", "trigger_id": s.newTriggerLocked(userID), "view": vj,
		"response_urls": []any{}, "is_enterprise_install": false, "enterprise": nil,
	}
	merge(p, extra)
	s.mu.Unlock()
	return s.sendEnvelope("interactive", p, sentEnvelope{user: userID, kind: "view_submission", viewID: view.ID})
}

// EventsAPI sends event (e.g. {"type":"app_home_opened","user":"U…"}) in an
// events_api envelope, wrapped in Slack's event_callback with a unique
// event_id; event_ts is added if missing. It returns the envelope and
// event IDs.
func (s *Server) EventsAPI(event map[string]any) (envelopeID, eventID string, err error) {
	ev := maps.Clone(event)
	s.mu.Lock()
	eventID = fmt.Sprintf("Ev0F%08d", s.nextLocked())
	if _, ok := ev["event_ts"]; !ok {
		ev["event_ts"] = s.newTSLocked()
	}
	s.mu.Unlock()
	p := map[string]any{
		"token": "fakeverificationtoken", "team_id": TeamID, "context_team_id": TeamID,
		"context_enterprise_id": nil, "api_app_id": AppID, "event": ev, "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(),
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": TeamID, "user_id": BotUserID, "is_bot": true,
			"is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false, "event_context": "4-fake-" + eventID,
	}
	envelopeID, err = s.sendEnvelope("events_api", p, sentEnvelope{})
	return envelopeID, eventID, err
}

// AppHomeOpened sends the app_home_opened event of userID opening the Home
// tab, with the last published home view if there is one.
func (s *Server) AppHomeOpened(userID string) (envelopeID, eventID string, err error) {
	ev := map[string]any{"type": "app_home_opened", "user": userID, "channel": DMChannel(userID), "tab": "home"}
	if v, ok := s.HomeView(userID); ok {
		var vj map[string]any
		_ = json.Unmarshal(v.JSON, &vj)
		ev["view"] = vj
	}
	return s.EventsAPI(ev)
}
