package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// fakeAcker records acks and, through seq, the order of acks and handler
// calls.
type fakeAcker struct {
	mu   sync.Mutex
	acks []ackRec
	rec  *recorder
}

type ackRec struct {
	id      string
	payload any
}

func (f *fakeAcker) AckCtx(_ context.Context, id string, payload any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, ackRec{id, payload})
	f.rec.add("ack " + id)
	return nil
}

type recorder struct {
	mu  sync.Mutex
	seq []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.seq = append(r.seq, s)
	r.mu.Unlock()
}

func newTestRouter(logs *bytes.Buffer) (*Router, *fakeAcker, *recorder) {
	rec := &recorder{}
	r := NewRouter(slog.New(slog.NewTextHandler(logs, nil)), 10*time.Second)
	return r, &fakeAcker{rec: rec}, rec
}

func slash(env, text string) socketmode.Event {
	return socketmode.Event{
		Type:    socketmode.EventTypeSlashCommand,
		Data:    slack.SlashCommand{Command: "/roster", Text: text, UserID: "U1"},
		Request: &socketmode.Request{EnvelopeID: env},
	}
}

func eventsAPI(env, eventID, typ string, retry int) socketmode.Event {
	payload, _ := json.Marshal(map[string]any{"type": "event_callback", "event_id": eventID})
	return socketmode.Event{
		Type: socketmode.EventTypeEventsAPI,
		Data: slackevents.EventsAPIEvent{
			Type:       slackevents.CallbackEvent,
			InnerEvent: slackevents.EventsAPIInnerEvent{Type: typ},
		},
		Request: &socketmode.Request{EnvelopeID: env, Payload: payload, RetryAttempt: retry},
	}
}

func TestCommandIsAckedBeforeItRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r, a, rec := newTestRouter(&logs)
		r.Command("/roster", func(ctx context.Context, cmd slack.SlashCommand) error {
			rec.add("run " + cmd.Text)
			return nil
		})
		r.Dispatch(t.Context(), a, slash("env-1", "help"))
		synctest.Wait()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if diff := cmp.Diff([]string{"ack env-1", "run help"}, rec.seq); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
	})
}

func TestHandlerPanicAndErrorAreLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r, a, _ := newTestRouter(&logs)
		r.Command("/roster", func(ctx context.Context, cmd slack.SlashCommand) error {
			if cmd.Text == "panic" {
				panic("boom")
			}
			return errors.New("it failed")
		})
		r.Dispatch(t.Context(), a, slash("env-1", "panic"))
		r.Dispatch(t.Context(), a, slash("env-2", "error"))
		synctest.Wait()
		if len(a.acks) != 2 {
			t.Errorf("acks = %d, want 2", len(a.acks))
		}
		out := logs.String()
		if strings.Count(out, "handler panic") != 1 || strings.Count(out, "handler failed") != 1 {
			t.Errorf("logs = %q, want one panic and one failure", out)
		}
	})
}

func TestHandlerTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r, a, _ := newTestRouter(&logs)
		var got error
		r.Command("/roster", func(ctx context.Context, _ slack.SlashCommand) error {
			<-ctx.Done()
			got = ctx.Err()
			return got
		})
		r.Dispatch(t.Context(), a, slash("env-1", "slow"))
		time.Sleep(11 * time.Second) // fake time inside the bubble
		synctest.Wait()
		if !errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("handler ctx.Err() = %v, want DeadlineExceeded after the router's timeout", got)
		}
	})
}

func TestViewSubmissionErrorsGoInTheAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r, a, rec := newTestRouter(&logs)
		r.View("assign.modal", func(ctx context.Context, cb slack.InteractionCallback) (*slack.ViewSubmissionResponse, func(context.Context) error) {
			if cb.View.State == nil {
				return slack.NewErrorsViewSubmissionResponse(map[string]string{"assign.email": "Enter an email address."}), nil
			}
			return nil, func(context.Context) error { rec.add("follow-up"); return nil }
		})
		sub := func(env string, state *slack.ViewState) socketmode.Event {
			return socketmode.Event{
				Type: socketmode.EventTypeInteractive,
				Data: slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission,
					View: slack.View{CallbackID: "assign.modal", State: state}},
				Request: &socketmode.Request{EnvelopeID: env},
			}
		}
		r.Dispatch(t.Context(), a, sub("env-bad", nil))
		r.Dispatch(t.Context(), a, sub("env-ok", &slack.ViewState{}))
		synctest.Wait()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(a.acks) != 2 {
			t.Fatalf("acks = %d, want 2", len(a.acks))
		}
		resp, ok := a.acks[0].payload.(*slack.ViewSubmissionResponse)
		if !ok || resp.ResponseAction != slack.RAErrors || resp.Errors["assign.email"] == "" {
			t.Errorf("ack payload = %#v, want field errors", a.acks[0].payload)
		}
		if a.acks[1].payload != nil {
			t.Errorf("valid submission ack payload = %#v, want none", a.acks[1].payload)
		}
		if diff := cmp.Diff([]string{"ack env-bad", "ack env-ok", "follow-up"}, rec.seq); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
	})
}

func TestRedeliveredEventRunsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r, a, rec := newTestRouter(&logs)
		r.Event("app_home_opened", func(ctx context.Context, _ slackevents.EventsAPIInnerEvent, _ json.RawMessage) error {
			rec.add("home")
			return nil
		})
		for _, evt := range []socketmode.Event{
			eventsAPI("env-1", "Ev1", "app_home_opened", 0),
			eventsAPI("env-2", "Ev1", "app_home_opened", 1), // Slack's retry
			eventsAPI("env-3", "Ev2", "app_home_opened", 0),
		} {
			r.Dispatch(t.Context(), a, evt)
			synctest.Wait()
		}
		want := []string{"ack env-1", "home", "ack env-2", "ack env-3", "home"}
		if diff := cmp.Diff(want, rec.seq); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
	})
}

func TestUnparsableEnvelopeIsAcked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r, a, _ := newTestRouter(&logs)
		r.Dispatch(t.Context(), a, socketmode.Event{
			Type: socketmode.EventTypeErrorBadMessage,
			Data: &socketmode.ErrorBadMessage{Cause: errors.New("unknown event"),
				Message: json.RawMessage(`{"envelope_id":"env-bad","type":"events_api","payload":{"event":{"type":"new_thing"}}}`)},
		})
		r.Dispatch(t.Context(), a, socketmode.Event{Type: socketmode.EventTypeHello, Request: &socketmode.Request{}})
		r.Dispatch(t.Context(), a, socketmode.Event{Type: socketmode.EventTypeConnected})
		synctest.Wait()
		if diff := cmp.Diff([]ackRec{{id: "env-bad"}}, a.acks, cmp.AllowUnexported(ackRec{})); diff != "" {
			t.Errorf("acks (-want +got):\n%s", diff)
		}
	})
}

func TestRegistrationPanicsOnDuplicates(t *testing.T) {
	r := NewRouter(slog.New(slog.DiscardHandler), time.Second)
	r.Action("a", func(context.Context, slack.InteractionCallback, *slack.BlockAction) error { return nil })
	defer func() {
		if recover() == nil {
			t.Errorf("a duplicate Action registration did not panic")
		}
	}()
	r.Action("a", func(context.Context, slack.InteractionCallback, *slack.BlockAction) error { return nil })
}
