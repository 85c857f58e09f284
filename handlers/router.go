// Package handlers turns Slack's Socket Mode envelopes into calls on
// Roster's services: a Router that acknowledges every envelope exactly once,
// first, and feature handlers that register on it.
package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/roster-app/roster/blocks"
)

// CommandHandler handles a slash command after it was acknowledged.
type CommandHandler func(ctx context.Context, cmd slack.SlashCommand) error

// ActionHandler handles one block action after the click was acknowledged.
type ActionHandler func(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error

// ViewHandler validates a view submission on the dispatch loop, before the
// ack, so it must not do I/O. A non-nil resp is sent in the ack (field
// errors keep the modal open); followUp, if not nil, runs after the ack.
type ViewHandler func(ctx context.Context, cb slack.InteractionCallback) (resp *slack.ViewSubmissionResponse, followUp func(context.Context) error)

// EventHandler handles an Events API event (the inner event) after the
// envelope was acknowledged. raw is the inner event's JSON as Slack sent
// it: slackevents' types drop fields Roster needs (a user's email).
type EventHandler func(ctx context.Context, evt slackevents.EventsAPIInnerEvent, raw json.RawMessage) error

// acker is the part of *socketmode.Client the Router uses.
type acker interface {
	AckCtx(ctx context.Context, envelopeID string, payload any) error
}

// ackTimeout bounds how long an ack may wait for the socket's send queue.
// slack-go's Ack would wait forever when the queue is full.
const ackTimeout = 2 * time.Second

// Router acknowledges and routes Socket Mode envelopes, modelled on
// http.ServeMux and on Bolt's app.command / app.action / app.view.
type Router struct {
	log     *slog.Logger
	timeout time.Duration

	commands map[string]CommandHandler
	actions  map[string]ActionHandler
	views    map[string]ViewHandler
	events   map[string]EventHandler

	// OnAck, if set, is told each ack's result and the time from the
	// envelope's arrival to the ack being queued for the socket.
	OnAck func(kind string, d time.Duration, err error)

	seen *seenEvents
	wg   sync.WaitGroup
	sem  chan struct{} // bounds the handlers running at once
	now  func() time.Time
}

// maxHandlers bounds the handlers running at once. A burst of envelopes
// would otherwise start a goroutine per envelope, and the crowd delays the
// few goroutines that carry acks. Handlers waiting for a slot are parked;
// acks never wait for one.
const maxHandlers = 32

// NewRouter returns a Router whose handlers each get timeout to finish.
func NewRouter(log *slog.Logger, timeout time.Duration) *Router {
	return &Router{
		log:      log,
		timeout:  timeout,
		commands: map[string]CommandHandler{},
		actions:  map[string]ActionHandler{},
		views:    map[string]ViewHandler{},
		events:   map[string]EventHandler{},
		seen:     newSeenEvents(2 * time.Hour),
		sem:      make(chan struct{}, maxHandlers),
		now:      time.Now,
	}
}

func register[H any](m map[string]H, name string, h H) {
	if name == "" {
		panic("handlers: empty registration")
	}
	if _, dup := m[name]; dup {
		panic("handlers: duplicate registration for " + name)
	}
	m[name] = h
}

// Command registers h for a slash command such as "/roster".
func (r *Router) Command(name string, h CommandHandler) { register(r.commands, name, h) }

// Action registers h for a block action ID.
func (r *Router) Action(actionID string, h ActionHandler) { register(r.actions, actionID, h) }

// View registers h for a view submission callback ID.
func (r *Router) View(callbackID string, h ViewHandler) { register(r.views, callbackID, h) }

// Event registers h for an Events API inner event type such as
// "app_home_opened".
func (r *Router) Event(eventType string, h EventHandler) { register(r.events, eventType, h) }

// Serve reads events until ctx is done, dispatching each, then waits for
// the handlers in flight (each bounded by the Router's timeout).
func (r *Router) Serve(ctx context.Context, a acker, events <-chan socketmode.Event) {
	defer r.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-events:
			r.Dispatch(ctx, a, evt)
		}
	}
}

// Wait waits for the handlers in flight.
func (r *Router) Wait() { r.wg.Wait() }

// Dispatch acknowledges evt (if it is an envelope) exactly once and routes
// it. Only view submissions run code before the ack, and that code does no
// I/O. Everything else runs in its own goroutine after the ack.
func (r *Router) Dispatch(ctx context.Context, a acker, evt socketmode.Event) {
	start := r.now()
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		r.ack(ctx, a, evt, "slash_commands", start, nil)
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			r.log.WarnContext(ctx, "bad slash command payload", "data", fmt.Sprintf("%T", evt.Data))
			return
		}
		log := r.log.With("command", cmd.Command, "user", cmd.UserID, "team", cmd.TeamID)
		h, ok := r.commands[cmd.Command]
		if !ok {
			log.WarnContext(ctx, "unhandled command")
			return
		}
		r.spawn(ctx, log, func(ctx context.Context) error { return h(ctx, cmd) })

	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			r.ack(ctx, a, evt, "interactive", start, nil)
			r.log.WarnContext(ctx, "bad interactive payload", "data", fmt.Sprintf("%T", evt.Data))
			return
		}
		r.interactive(ctx, a, evt, cb, start)

	case socketmode.EventTypeEventsAPI:
		r.ack(ctx, a, evt, "events_api", start, nil)
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			r.log.WarnContext(ctx, "bad events_api payload", "data", fmt.Sprintf("%T", evt.Data))
			return
		}
		if id := eventID(evt.Request); id != "" && !r.seen.first(id, r.now()) {
			r.log.DebugContext(ctx, "duplicate event ignored", "event_id", id, "retry_attempt", evt.Request.RetryAttempt)
			return
		}
		h, ok := r.events[ev.InnerEvent.Type]
		if !ok {
			r.log.DebugContext(ctx, "unhandled event", "event", ev.InnerEvent.Type)
			return
		}
		log := r.log.With("event", ev.InnerEvent.Type, "team", ev.TeamID)
		raw := innerEvent(evt.Request)
		r.spawn(ctx, log, func(ctx context.Context) error { return h(ctx, ev.InnerEvent, raw) })

	case socketmode.EventTypeErrorBadMessage:
		// slack-go could not parse the envelope (an unknown event type, a
		// malformed payload); it has no Request, so ack it by hand or
		// Slack keeps redelivering it.
		bad, ok := evt.Data.(*socketmode.ErrorBadMessage)
		if !ok {
			return
		}
		var env struct {
			EnvelopeID string `json:"envelope_id"`
			Type       string `json:"type"`
		}
		if json.Unmarshal(bad.Message, &env) != nil || env.EnvelopeID == "" {
			r.log.WarnContext(ctx, "unparsable socket message", "err", bad.Cause)
			return
		}
		actx, cancel := context.WithTimeout(ctx, ackTimeout)
		defer cancel()
		err := a.AckCtx(actx, env.EnvelopeID, nil)
		r.acked(ctx, env.Type, start, err)
		r.log.WarnContext(ctx, "acked an envelope slack-go could not parse", "type", env.Type, "err", bad.Cause)

	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorWriteFailed:
		r.log.WarnContext(ctx, "socket mode", "event", string(evt.Type), "data", fmt.Sprint(evt.Data))
	default:
		// hello, connecting, connected …: not envelopes, never acked.
		r.log.DebugContext(ctx, "socket mode", "event", string(evt.Type))
	}
}

func (r *Router) interactive(ctx context.Context, a acker, evt socketmode.Event, cb slack.InteractionCallback, start time.Time) {
	log := r.log.With("user", cb.User.ID, "team", cb.Team.ID, "interaction", string(cb.Type))
	switch cb.Type {
	case slack.InteractionTypeViewSubmission:
		h, ok := r.views[cb.View.CallbackID]
		if !ok {
			r.ack(ctx, a, evt, "interactive", start, nil)
			log.WarnContext(ctx, "unhandled view submission", "callback_id", cb.View.CallbackID)
			return
		}
		log = log.With("callback_id", cb.View.CallbackID)
		var resp *slack.ViewSubmissionResponse
		var followUp func(context.Context) error
		func() {
			defer func() {
				if p := recover(); p != nil {
					log.ErrorContext(ctx, "view handler panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					resp, followUp = nil, nil
				}
			}()
			resp, followUp = h(ctx, cb)
		}()
		if resp != nil {
			r.ack(ctx, a, evt, "interactive", start, resp)
		} else {
			r.ack(ctx, a, evt, "interactive", start, nil)
		}
		if followUp != nil {
			r.spawn(ctx, log, followUp)
		}
	case slack.InteractionTypeBlockActions:
		r.ack(ctx, a, evt, "interactive", start, nil)
		for _, act := range cb.ActionCallback.BlockActions {
			// Buttons that repeat on one view carry a suffix
			// ("home.page:next"); they route on the base ID.
			h, ok := r.actions[blocks.BaseAction(act.ActionID)]
			if !ok {
				log.WarnContext(ctx, "unhandled action", "action_id", act.ActionID)
				continue
			}
			alog := log.With("action_id", act.ActionID)
			r.spawn(ctx, alog, func(ctx context.Context) error { return h(ctx, cb, act) })
		}
	default:
		r.ack(ctx, a, evt, "interactive", start, nil)
		log.DebugContext(ctx, "unhandled interaction")
	}
}

// ack acknowledges evt's envelope with payload (nil for none).
func (r *Router) ack(ctx context.Context, a acker, evt socketmode.Event, kind string, start time.Time, payload any) {
	if evt.Request == nil || evt.Request.EnvelopeID == "" {
		return
	}
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	var err error
	if payload == nil {
		err = a.AckCtx(actx, evt.Request.EnvelopeID, nil)
	} else {
		err = a.AckCtx(actx, evt.Request.EnvelopeID, payload)
	}
	r.acked(ctx, kind, start, err)
}

func (r *Router) acked(ctx context.Context, kind string, start time.Time, err error) {
	if err != nil {
		r.log.ErrorContext(ctx, "ack failed", "kind", kind, "err", err)
	}
	if r.OnAck != nil {
		r.OnAck(kind, r.now().Sub(start), err)
	}
}

// spawn runs fn with a timeout and turns a panic into a logged error. It is
// the only place handler errors are logged.
func (r *Router) spawn(ctx context.Context, log *slog.Logger, fn func(context.Context) error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.sem <- struct{}{}
		defer func() { <-r.sem }()
		// Handlers finish their work even while the app shuts down, within
		// their own timeout.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "handler panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}()
		if err := fn(ctx); err != nil {
			log.ErrorContext(ctx, "handler failed", "err", err)
		}
	}()
}

// innerEvent returns the "event" object of an events_api envelope.
func innerEvent(req *socketmode.Request) json.RawMessage {
	if req == nil {
		return nil
	}
	var p struct {
		Event json.RawMessage `json:"event"`
	}
	if json.Unmarshal(req.Payload, &p) != nil {
		return nil
	}
	return p.Event
}

func eventID(req *socketmode.Request) string {
	if req == nil {
		return ""
	}
	var p struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(req.Payload, &p) != nil {
		return ""
	}
	return p.EventID
}

// seenEvents remembers event IDs for longer than Slack's retry window so a
// redelivered event is handled once.
type seenEvents struct {
	mu    sync.Mutex
	ttl   time.Duration
	ids   map[string]time.Time
	sweep time.Time
}

func newSeenEvents(ttl time.Duration) *seenEvents {
	return &seenEvents{ttl: ttl, ids: map[string]time.Time{}}
}

// first reports whether id is seen for the first time within the TTL.
func (s *seenEvents) first(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.sweep) > s.ttl/4 {
		for k, t := range s.ids {
			if now.Sub(t) > s.ttl {
				delete(s.ids, k)
			}
		}
		s.sweep = now
	}
	if t, ok := s.ids[id]; ok && now.Sub(t) <= s.ttl {
		return false
	}
	s.ids[id] = now
	return true
}
