package fakeslack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roster-app/roster/fakeslack"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

const wait = 5 * time.Second

func newServer(t *testing.T, opts ...fakeslack.Option) *fakeslack.Server {
	t.Helper()
	s := fakeslack.New(opts...)
	t.Cleanup(s.Close)
	return s
}

func demoServer(t *testing.T, opts ...fakeslack.Option) *fakeslack.Server {
	t.Helper()
	return newServer(t, append([]fakeslack.Option{fakeslack.WithWorkspace(fakeslack.DemoWorkspace())}, opts...)...)
}

// httpClient returns a client with its own transport, closed at cleanup.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func newAPI(t *testing.T, s *fakeslack.Server) *slack.Client {
	return slack.New(fakeslack.BotToken,
		slack.OptionAPIURL(s.APIURL()),
		slack.OptionAppLevelToken(fakeslack.AppToken),
		slack.OptionHTTPClient(httpClient(t)))
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// bot is a slack-go Socket Mode app under test: it acks every envelope
// (with the payload from ackPayload, if set) and forwards events.
type bot struct {
	api        *slack.Client
	sm         *socketmode.Client
	events     chan socketmode.Event
	mu         sync.Mutex
	connecting int
}

type botOptions struct {
	pingInterval time.Duration
	ackPayload   func(socketmode.Event) any
	onEvent      func(*socketmode.Client, socketmode.Event)
}

func startBot(t *testing.T, s *fakeslack.Server, o botOptions) *bot {
	t.Helper()
	if o.pingInterval == 0 {
		o.pingInterval = 2 * time.Second
	}
	b := &bot{api: newAPI(t, s), events: make(chan socketmode.Event, 100)}
	b.sm = socketmode.New(b.api, socketmode.OptionPingInterval(o.pingInterval))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = b.sm.RunContext(ctx)
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-b.sm.Events:
				if evt.Type == socketmode.EventTypeConnecting {
					b.mu.Lock()
					b.connecting++
					b.mu.Unlock()
				}
				if evt.Request != nil && evt.Request.EnvelopeID != "" {
					var payload any
					if o.ackPayload != nil {
						payload = o.ackPayload(evt)
					}
					actx, acancel := context.WithTimeout(ctx, time.Second)
					_ = b.sm.AckCtx(actx, evt.Request.EnvelopeID, payload)
					acancel()
				}
				if o.onEvent != nil {
					o.onEvent(b.sm, evt)
				}
				if evt.Request != nil {
					select {
					case b.events <- evt:
					default:
					}
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return b
}

func (b *bot) connects() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connecting
}

// next returns the next envelope event of type typ.
func (b *bot) next(t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case evt := <-b.events:
			if evt.Type == typ {
				return evt
			}
		case <-timer.C:
			t.Fatalf("no %s event within %s", typ, wait)
		}
	}
}

// apiCall posts form to the Web API method with token (as a form field)
// and returns the decoded answer and HTTP status.
func apiCall(t *testing.T, s *fakeslack.Server, method, token string, form url.Values) (map[string]any, *http.Response) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if token != "" {
		form.Set("token", token)
	}
	resp, err := httpClient(t).PostForm(s.APIURL()+method, form)
	if err != nil {
		t.Fatal(err)
	}
	return decodeBody(t, resp), resp
}

// apiJSON posts body as JSON with a Bearer token.
func apiJSON(t *testing.T, s *fakeslack.Server, method, token string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.APIURL()+method, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return decodeBody(t, resp)
}

func decodeBody(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
	}
	return m
}

// scimDo sends a SCIM request with the admin token (or tok, if given) and
// returns status, Retry-After and decoded body.
func scimDo(t testing.TB, c *http.Client, s *fakeslack.Server, method, path string, body any, tok ...string) (int, http.Header, map[string]any, error) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, strings.TrimSuffix(s.SCIMURL(), "/")+path, r)
	req.Header.Set("Content-Type", "application/json")
	token := fakeslack.AdminToken
	if len(tok) > 0 {
		token = tok[0]
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, decodeBody(t, resp), nil
}

func scim(t *testing.T, s *fakeslack.Server, method, path string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	status, h, m, err := scimDo(t, httpClient(t), s, method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, h, m
}

func newUserBody(userName, email string) map[string]any {
	return map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"name":     map[string]any{"givenName": "New", "familyName": "Person"},
		"emails":   []any{map[string]any{"value": email, "primary": true}},
	}
}

func activeBody(active bool) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": active}},
	}
}
