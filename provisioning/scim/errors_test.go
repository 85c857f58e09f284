package scim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
)

// kind names the class of err, to compare against a table.
func kind(err error) string {
	var re *provisioning.RetryableError
	var pe *provisioning.PermanentError
	switch {
	case err == nil:
		return "nil"
	case errors.As(err, &re):
		return "retryable"
	case errors.As(err, &pe):
		return "permanent"
	case errors.Is(err, provisioning.ErrNotFound):
		return "not_found"
	case errors.Is(err, provisioning.ErrEmailTaken):
		return "email_taken"
	case errors.Is(err, provisioning.ErrUsernameTaken):
		return "username_taken"
	default:
		return "other: " + err.Error()
	}
}

func v2err(detail string, status int) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":%q,"status":%d}`, detail, status)
}

func v1err(desc string, code int) string {
	return fmt.Sprintf(`{"Errors":{"description":%q,"code":%d}}`, desc, code)
}

func arrErr(desc string, code int) string {
	return fmt.Sprintf(`{"Errors":[{"description":%q,"code":%d}]}`, desc, code)
}

func TestErrorMapping(t *testing.T) {
	type want struct {
		kind   string
		after  time.Duration // retryable
		code   string        // permanent
		reason string        // permanent: a substring of Reason
		result string        // observer
	}
	retry := func(after time.Duration, result string) want {
		return want{kind: "retryable", after: after, result: result}
	}
	perm := func(code, reason string) want {
		return want{kind: "permanent", code: code, reason: reason, result: "permanent"}
	}
	const html = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		want       want
	}{
		// Rate limits and server errors.
		{"429 Retry-After seconds", 429, "7", v2err("too_many_requests", 429), retry(7*time.Second, "rate_limited")},
		{"429 Retry-After HTTP-date", 429, "Sat, 01 Jan 2000 00:00:30 GMT", "", retry(30*time.Second, "rate_limited")},
		{"429 Retry-After date in the past", 429, "Fri, 31 Dec 1999 23:59:00 GMT", "", retry(0, "rate_limited")},
		{"429 Retry-After garbage", 429, "soon", "", retry(0, "rate_limited")},
		{"429 Retry-After huge", 429, "99999999999", "", retry(time.Hour, "rate_limited")},
		{"429 no Retry-After", 429, "", "", retry(0, "rate_limited")},
		{"429 per-user lock", 429, "2", v1err("resource_locked", 429), retry(2*time.Second, "rate_limited")},
		{"500 v2 body", 500, "", v2err("internal_error", 500), retry(0, "transient")},
		{"502 HTML body", 502, "", html, retry(0, "transient")},
		{"503 empty body with Retry-After", 503, "5", "", retry(5*time.Second, "transient")},
		{"504 empty body", 504, "", "", retry(0, "transient")},
		{"408 request timeout", 408, "", "", retry(0, "transient")},
		{"400 resource_locked", 400, "", v2err("resource_locked", 400), retry(0, "transient")},
		{"400 too_many_requests array", 400, "3", arrErr("too_many_requests", 400), retry(3*time.Second, "rate_limited")},
		{"400 internal_error v1", 400, "", v1err("internal_error", 400), retry(0, "transient")},
		{"400 service_unavailable", 400, "", v2err("service_unavailable", 400), retry(0, "transient")},

		// Not found and taken.
		{"404 v2 body", 404, "", v2err("user_not_found", 404), want{kind: "not_found", result: "not_found"}},
		{"404 empty body", 404, "", "", want{kind: "not_found", result: "not_found"}},
		{"404 HTML", 404, "", "<html>Not Found</html>", want{kind: "not_found", result: "not_found"}},
		{"409 email_taken v2", 409, "", v2err("email_taken", 409), want{kind: "email_taken", result: "email_taken"}},
		{"400 email_taken embedded", 400, "", v2err("email_taken existing_user=U0123ABC", 400), want{kind: "email_taken", result: "email_taken"}},
		{"400 email_taken v1", 400, "", v1err("email_taken", 400), want{kind: "email_taken", result: "email_taken"}},
		{"400 email_taken array", 400, "", arrErr("email_taken existing_user=U0123ABC", 400), want{kind: "email_taken", result: "email_taken"}},
		{"400 email_taken after user_creation_failed", 400, "", v2err("user_creation_failed: email_taken", 400), want{kind: "email_taken", result: "email_taken"}},
		{"409 username_taken v2", 409, "", v2err("username_taken", 409), want{kind: "username_taken", result: "username_taken"}},
		{"400 username_taken array", 400, "", arrErr("username_taken", 400), want{kind: "username_taken", result: "username_taken"}},
		{"400 user_creation_failed stays permanent", 400, "", v2err("user_creation_failed already exists", 400), perm("user_creation_failed", "already exist")},

		// Token and plan.
		{"401 invalid_authentication v1", 401, "", v1err("invalid_authentication", 401), perm("invalid_authentication", "admin token")},
		{"401 not_authed", 401, "", v2err("not_authed", 401), perm("not_authed", "admin token")},
		{"401 invalid_auth array", 401, "", arrErr("invalid_auth", 401), perm("invalid_auth", "admin token")},
		{"401 token_revoked", 401, "", v2err("token_revoked", 401), perm("token_revoked", "revoked")},
		{"403 missing_scope", 403, "", v2err("missing_scope", 403), perm("missing_scope", "admin scope")},
		{"403 plus_teams_only", 403, "", v1err("plus_teams_only", 403), perm("plus_teams_only", "Business+")},
		{"400 non_org_teams_only", 400, "", v2err("non_org_teams_only", 400), perm("non_org_teams_only", "installed on the org")},
		{"401 empty body", 401, "", "", perm("", "admin token")},
		{"403 HTML", 403, "", "<html>Forbidden</html>", perm("", "admin scope")},
		{"401 Web API shape", 401, "", `{"ok":false,"error":"invalid_auth"}`, perm("invalid_auth", "admin token")},

		// Other permanent codes.
		{"400 bad_email_address", 400, "", v2err("bad_email_address", 400), perm("bad_email_address", "email address")},
		{"400 invalid_email v1", 400, "", v1err("invalid_email", 400), perm("invalid_email", "email address")},
		{"400 username_invalid", 400, "", v2err("username_invalid", 400), perm("username_invalid", "username")},
		{"400 username_too_long", 400, "", arrErr("username_too_long", 400), perm("username_too_long", "21")},
		{"400 cannot_disable_primary_owner", 400, "", v2err("cannot_disable_primary_owner", 400), perm("cannot_disable_primary_owner", "primary owner")},
		{"403 primary_owner_check_failure", 403, "", v1err("primary_owner_check_failure", 403), perm("primary_owner_check_failure", "primary owner")},
		{"400 cannot_disable_bot_user_with_scim", 400, "", v2err("cannot_disable_bot_user_with_scim", 400), perm("cannot_disable_bot_user_with_scim", "bot")},
		{"403 cannot_modify_owner", 403, "", v2err("cannot_modify_owner", 403), perm("cannot_modify_owner", "owner")},
		{"400 code inside a sentence", 400, "", v2err("Request failed: missing_schema_element (emails)", 400), perm("missing_schema_element", "missing a required element")},
		{"400 v2 status as string", 400, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"invalid_email","status":"400"}`, perm("invalid_email", "email address")},
		{"400 v1 code as string", 400, "", `{"Errors":{"description":"invalid_email","code":"400"}}`, perm("invalid_email", "email address")},
		{"422 unknown code", 422, "", v2err("brand_new_error", 422), perm("brand_new_error", "HTTP 422")},
		{"400 unknown sentence", 400, "", v2err("Something odd happened", 400), perm("", "HTTP 400")},
		{"400 HTML", 400, "", "<html><body>Bad Request</body></html>", perm("", "HTTP 400")},
		{"400 empty", 400, "", "", perm("", "HTTP 400")},
		{"400 plain-text code", 400, "", "invalid_email\n", perm("invalid_email", "email address")},
		{"400 Errors as string", 400, "", `{"Errors":"invalid_email"}`, perm("invalid_email", "email address")},
		{"400 truncated JSON", 400, "", `{"detail":"invalid_em`, perm("", "HTTP 400")},
		{"418 teapot", 418, "", "", perm("", "HTTP 418")},
		{"400 huge body", 400, "", v2err("invalid_email "+strings.Repeat("x", 100_000), 400), perm("invalid_email", "email address")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			// In a bubble the clock reads 2000-01-01 00:00:00 UTC, which
			// makes Retry-After dates exact.
			synctest.Test(t, func(t *testing.T) {
				obs := &observations{}
				c := scim.New(srv.URL, testToken, scim.WithObserver(obs.observe),
					scim.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}))
				_, err := c.Get(t.Context(), "U1")
				if got := kind(err); got != tt.want.kind {
					t.Fatalf("Get = %v (%s), want %s", err, got, tt.want.kind)
				}
				var re *provisioning.RetryableError
				if errors.As(err, &re) && re.After != tt.want.after {
					t.Errorf("After = %v, want %v", re.After, tt.want.after)
				}
				var pe *provisioning.PermanentError
				if errors.As(err, &pe) {
					if pe.Code != tt.want.code {
						t.Errorf("Code = %q, want %q", pe.Code, tt.want.code)
					}
					if !strings.Contains(pe.Reason, tt.want.reason) {
						t.Errorf("Reason = %q, want it to mention %q", pe.Reason, tt.want.reason)
					}
				}
				msg := err.Error()
				if !strings.Contains(msg, "GET /Users/U1") || !strings.Contains(msg, fmt.Sprintf("status %d", tt.status)) {
					t.Errorf("error = %q, want method, path and status %d", msg, tt.status)
				}
				if tt.body != "" && !strings.Contains(msg, "body: ") {
					t.Errorf("error = %q, want a body excerpt", msg)
				}
				if len(msg) > 512+400 {
					t.Errorf("error is %d bytes, want at most a 512-byte excerpt plus context", len(msg))
				}
				if got := obs.list(); len(got) != 1 || got[0] != "get "+tt.want.result {
					t.Errorf("observations = %q, want [get %s]", got, tt.want.result)
				}
			})
		})
	}
}

func TestNetworkFailuresAreRetryable(t *testing.T) {
	hijack := func(t *testing.T, raw string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			buf.WriteString(raw)
			buf.Flush()
			if tc, ok := conn.(*net.TCPConn); ok && raw == "" {
				tc.SetLinger(0) // RST, not FIN: "connection reset by peer"
			}
			conn.Close()
		}
	}
	tests := []struct {
		name    string
		handler func(t *testing.T) http.HandlerFunc // nil: nothing listening
		timeout time.Duration
	}{
		{"connection refused", nil, 0},
		{"connection reset", func(t *testing.T) http.HandlerFunc { return hijack(t, "") }, 0},
		{"closed before the status line", func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			}
		}, 0},
		{"unexpected EOF in body", func(t *testing.T) http.HandlerFunc {
			return hijack(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":\"U1\",")
		}, 0},
		{"malformed response", func(t *testing.T) http.HandlerFunc { return hijack(t, "SMTP ready\r\n\r\n") }, 0},
		{"client timeout", func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		}, 50 * time.Millisecond},
		{"2xx HTML body", func(t *testing.T) http.HandlerFunc { return reply(200, "<html>captive portal</html>") }, 0},
		{"2xx empty body", func(t *testing.T) http.HandlerFunc { return reply(200, "") }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *httptest.Server
			if tt.handler == nil {
				srv = httptest.NewServer(http.NotFoundHandler())
				srv.Close()
			} else {
				srv = httptest.NewServer(tt.handler(t))
				defer srv.Close()
			}
			hc := &http.Client{Timeout: tt.timeout, Transport: &http.Transport{DisableKeepAlives: true}}
			obs := &observations{}
			c := scim.New(srv.URL, testToken, scim.WithHTTPClient(hc), scim.WithObserver(obs.observe))
			_, err := c.Get(t.Context(), "U1")
			var re *provisioning.RetryableError
			if !errors.As(err, &re) || re.After != 0 {
				t.Fatalf("Get = %v, want RetryableError with After 0", err)
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				t.Errorf("Get = %v, which callers would take for their own context ending", err)
			}
			if !strings.Contains(err.Error(), "GET /Users/U1") {
				t.Errorf("error = %q, want method and path", err)
			}
			if diff := obs.list(); len(diff) != 1 || diff[0] != "get transient" {
				t.Errorf("observations = %q, want [get transient]", diff)
			}
		})
	}
}

func TestInvalidBaseURL(t *testing.T) {
	for _, base := range []string{"", "api.slack.com/scim/v2", "ftp://api.slack.com/", "http://[::1"} {
		t.Run(base, func(t *testing.T) {
			err := scim.New(base, testToken).Deactivate(t.Context(), "U1")
			var pe *provisioning.PermanentError
			if !errors.As(err, &pe) || pe.Code != "invalid_base_url" {
				t.Errorf("Deactivate = %v, want PermanentError invalid_base_url", err)
			}
		})
	}
}

// secret is distinctive and has characters that URL and JSON encodings
// change, so each encoded form is checked too.
const secret = "xoxp-77SECRET77-4242+/=<&>-zz"

// secretForms are the ways secret could leak.
var secretForms = []string{
	secret,
	"Bearer " + secret,
	url.QueryEscape(secret),
	url.PathEscape(secret),
	url.User(secret).String(),
	`xoxp-77SECRET77-4242+/=\u003c\u0026\u003e-zz`, // Go's JSON encoding
	"77SECRET77", // any recognisable fragment
}

// leaks returns where in err's chain a form of secret appears.
func leaks(err error) []string {
	var found []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		for _, s := range []string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e)} {
			for _, f := range secretForms {
				if strings.Contains(s, f) {
					found = append(found, fmt.Sprintf("%T %q contains %q", e, s, f))
				}
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return found
}

// echoTransport fails every request with an error quoting its URL and
// Authorization header.
type echoTransport struct{}

func (echoTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("dial %s failed (auth %s)", r.URL, r.Header.Get("Authorization"))
}

func TestTokenNeverInErrors(t *testing.T) {
	// echo writes the Authorization header and the full URL into bodies of
	// every shape Slack uses.
	echo := func(status int, shape string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			leak := r.Header.Get("Authorization") + " " + r.URL.String() + " " + r.URL.RawQuery
			var body string
			switch shape {
			case "v2":
				body = v2err("invalid_auth "+leak, status)
			case "v1":
				body = v1err(leak, status)
			case "array":
				body = arrErr(leak, status)
			case "html":
				body = "<html><body><pre>" + leak + "</pre></body></html>"
			case "text":
				body = leak
			case "straddle": // the token across the 512-byte excerpt boundary
				body = strings.Repeat("x", 512-len("Bearer xoxp-77")) + leak + strings.Repeat("y", 600)
			case "repeated":
				body = strings.Repeat(leak, 200)
			}
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	type call func(ctx context.Context, c *scim.Client) error
	get := func(ctx context.Context, c *scim.Client) error { _, err := c.Get(ctx, "U1"); return err }
	calls := map[string]call{
		"get": get,
		"lookup": func(ctx context.Context, c *scim.Client) error {
			_, err := c.LookupByEmail(ctx, "ada@example.com")
			return err
		},
		"create": func(ctx context.Context, c *scim.Client) error {
			_, err := c.Create(ctx, provisioning.NewAccount{Email: "a@example.com", UserName: "a"})
			return err
		},
		"activate":   func(ctx context.Context, c *scim.Client) error { return c.Activate(ctx, "U1") },
		"deactivate": func(ctx context.Context, c *scim.Client) error { return c.Deactivate(ctx, "U1") },
		"probe":      func(ctx context.Context, c *scim.Client) error { return c.Probe(ctx) },
		"list":       func(ctx context.Context, c *scim.Client) error { _, err := c.List(ctx, 1, 10); return err },
	}

	type tcase struct {
		name    string
		handler http.HandlerFunc // nil: nothing listening
		base    func(srvURL string) string
		hc      *http.Client
		call    call
	}
	var tests []tcase
	for _, status := range []int{400, 401, 403, 409, 422, 429, 500, 503} {
		for _, shape := range []string{"v2", "v1", "array", "html", "text", "straddle", "repeated"} {
			for _, name := range []string{"get", "create", "lookup"} {
				tests = append(tests, tcase{name: fmt.Sprintf("%d %s %s", status, shape, name), handler: echo(status, shape), call: calls[name]})
			}
		}
	}
	withToken := func(srvURL string) string { // token as userinfo and in the query
		u, _ := url.Parse(srvURL)
		u.User = url.User(secret)
		u.Path = "/scim/v2/"
		u.RawQuery = "token=" + url.QueryEscape(secret)
		return u.String()
	}
	for name, c := range calls {
		tests = append(tests,
			tcase{name: "token URL, connection refused, " + name, base: withToken, call: c},
			tcase{name: "token URL, echoing server, " + name, handler: echo(400, "text"), base: withToken, call: c},
			tcase{name: "token URL, transport error quoting the request, " + name, handler: echo(500, "text"), base: withToken,
				hc: &http.Client{Transport: echoTransport{}}, call: c},
		)
	}
	tests = append(tests,
		tcase{name: "2xx unreadable body echoing the header", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "not json: "+r.Header.Get("Authorization"))
		}, call: get},
		tcase{name: "malformed status line echoing the header", handler: func(w http.ResponseWriter, r *http.Request) {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString(r.Header.Get("Authorization") + "\r\n\r\n")
			buf.Flush()
			conn.Close()
		}, call: get},
		tcase{name: "malformed header echoing the header", handler: func(w http.ResponseWriter, r *http.Request) {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\n" + r.Header.Get("Authorization") + "\r\n\r\n")
			buf.Flush()
			conn.Close()
		}, call: get},
		tcase{name: "invalid id containing the token", handler: echo(400, "v2"), call: func(ctx context.Context, c *scim.Client) error {
			return c.Deactivate(ctx, secret)
		}},
		tcase{name: "email containing the token", handler: echo(400, "v2"), call: func(ctx context.Context, c *scim.Client) error {
			_, err := c.LookupByEmail(ctx, `"`+secret+`"@example.com`)
			return err
		}},
		tcase{name: "invalid base URL containing the token", base: func(string) string { return "http://[" + secret }, call: get},
		tcase{name: "client timeout", handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			base: withToken, hc: &http.Client{Timeout: 20 * time.Millisecond}, call: get},
	)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			if tt.handler == nil {
				srv.Close()
			} else {
				defer srv.Close()
			}
			base := srv.URL
			if tt.base != nil {
				base = tt.base(srv.URL)
			}
			hc := tt.hc
			if hc == nil {
				hc = srv.Client()
			}
			c := scim.New(base, secret, scim.WithHTTPClient(hc), scim.WithLimits(scim.Limits{Disabled: true}))
			err := tt.call(t.Context(), c)
			if err == nil {
				t.Fatal("call = nil, want an error")
			}
			for _, l := range leaks(err) {
				t.Errorf("token leaked: %s", l)
			}
		})
	}
}
