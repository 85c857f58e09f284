package scim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
)

const testToken = "xoxp-test-token"

// request is what a fake Slack saw.
type request struct {
	Method      string
	Path        string
	RawQuery    string
	Auth        string
	ContentType string
	UserAgent   string
	Body        any // decoded JSON, nil if empty
}

// fakeSlack is an httptest SCIM server that records requests and answers
// with reply (200 "{}" when nil).
type fakeSlack struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []request
	reply http.HandlerFunc
}

func newFake(t *testing.T, reply http.HandlerFunc) *fakeSlack {
	t.Helper()
	f := &fakeSlack{reply: reply}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := request{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"),
			UserAgent: r.Header.Get("User-Agent"),
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &rec.Body); err != nil {
				rec.Body = "undecodable: " + string(b)
			}
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		if f.reply == nil {
			io.WriteString(w, "{}")
			return
		}
		f.reply(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// observations records WithObserver calls.
type observations struct {
	mu  sync.Mutex
	got []string // "op result"
}

func (o *observations) observe(op, result string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, op+" "+result)
}

func (o *observations) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// newClient returns a client for f with rate limits off, unless opts
// override them.
func newClient(f *fakeSlack, obs *observations, opts ...scim.Option) *scim.Client {
	base := []scim.Option{scim.WithHTTPClient(f.Client()), scim.WithLimits(scim.Limits{Disabled: true})}
	if obs != nil {
		base = append(base, scim.WithObserver(obs.observe))
	}
	return scim.New(f.URL+"/scim/v2/", testToken, append(base, opts...)...)
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func userJSON(id, userName, email string, active bool) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":%q,"userName":%q,"active":%t,`+
		`"emails":[{"value":%q,"primary":true}],"meta":{"created":"2026-01-01T00:00:00Z"}}`, id, userName, active, email)
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWriteRequests(t *testing.T) {
	tests := []struct {
		name   string
		reply  http.HandlerFunc
		call   func(ctx context.Context, c *scim.Client) (any, error)
		want   request
		wantV  any
		wantOb string
	}{
		{
			name:  "create with display name",
			reply: reply(201, userJSON("U0123ABC", "ada", "ada@example.com", true)),
			call: func(ctx context.Context, c *scim.Client) (any, error) {
				return c.Create(ctx, provisioning.NewAccount{Email: "ada@example.com", UserName: "ada", DisplayName: "Ada Lovelace"})
			},
			want: request{Method: "POST", Path: "/scim/v2/Users", ContentType: "application/json", Body: decode(t, `
				{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
				 "userName":"ada","displayName":"Ada Lovelace",
				 "emails":[{"value":"ada@example.com","primary":true}]}`)},
			wantV:  provisioning.Account{ID: "U0123ABC", UserName: "ada", Email: "ada@example.com", Active: true},
			wantOb: "create ok",
		},
		{
			name:  "create without display name",
			reply: reply(201, userJSON("U0123ABC", "ada", "ada@example.com", true)),
			call: func(ctx context.Context, c *scim.Client) (any, error) {
				return c.Create(ctx, provisioning.NewAccount{Email: "ada@example.com", UserName: "ada"})
			},
			want: request{Method: "POST", Path: "/scim/v2/Users", ContentType: "application/json", Body: decode(t, `
				{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
				 "userName":"ada",
				 "emails":[{"value":"ada@example.com","primary":true}]}`)},
			wantV:  provisioning.Account{ID: "U0123ABC", UserName: "ada", Email: "ada@example.com", Active: true},
			wantOb: "create ok",
		},
		{
			name:  "activate",
			reply: reply(200, userJSON("W0123ABC", "ada", "ada@example.com", true)),
			call: func(ctx context.Context, c *scim.Client) (any, error) {
				return nil, c.Activate(ctx, "W0123ABC")
			},
			want: request{Method: "PATCH", Path: "/scim/v2/Users/W0123ABC", ContentType: "application/json", Body: decode(t, `
				{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				 "Operations":[{"op":"replace","path":"active","value":true}]}`)},
			wantOb: "activate ok",
		},
		{
			name:  "activate answered 204",
			reply: reply(204, ""),
			call: func(ctx context.Context, c *scim.Client) (any, error) {
				return nil, c.Activate(ctx, "U1")
			},
			want: request{Method: "PATCH", Path: "/scim/v2/Users/U1", ContentType: "application/json", Body: decode(t, `
				{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				 "Operations":[{"op":"replace","path":"active","value":true}]}`)},
			wantOb: "activate ok",
		},
		{
			name:  "deactivate",
			reply: reply(204, ""),
			call: func(ctx context.Context, c *scim.Client) (any, error) {
				return nil, c.Deactivate(ctx, "U0123ABC")
			},
			want:   request{Method: "DELETE", Path: "/scim/v2/Users/U0123ABC"},
			wantOb: "deactivate ok",
		},
		{
			name:  "get",
			reply: reply(200, userJSON("U0123ABC", "ada", "ada@example.com", false)),
			call: func(ctx context.Context, c *scim.Client) (any, error) {
				return c.Get(ctx, "U0123ABC")
			},
			want:   request{Method: "GET", Path: "/scim/v2/Users/U0123ABC"},
			wantV:  provisioning.Account{ID: "U0123ABC", UserName: "ada", Email: "ada@example.com"},
			wantOb: "get ok",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.reply)
			obs := &observations{}
			v, err := tt.call(t.Context(), newClient(f, obs))
			if err != nil {
				t.Fatalf("call = %v, want nil", err)
			}
			if diff := cmp.Diff(tt.wantV, v); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
			want := tt.want
			want.Auth = "Bearer " + testToken
			want.UserAgent = "roster-scim (+https://github.com/roster-app/roster)"
			if diff := cmp.Diff([]request{want}, f.requests()); diff != "" {
				t.Errorf("requests mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tt.wantOb}, obs.list()); diff != "" {
				t.Errorf("observations mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaseURLAndUserAgent(t *testing.T) {
	tests := []struct {
		name, suffix string
		opts         []scim.Option
		wantPath     string
		wantUA       string
	}{
		{"trailing slash", "/scim/v2/", nil, "/scim/v2/Users/U1", "roster-scim (+https://github.com/roster-app/roster)"},
		{"no trailing slash", "/scim/v2", nil, "/scim/v2/Users/U1", "roster-scim (+https://github.com/roster-app/roster)"},
		{"root", "", nil, "/Users/U1", "roster-scim (+https://github.com/roster-app/roster)"},
		{"user agent", "/scim/v2", []scim.Option{scim.WithUserAgent("roster/1.2")}, "/scim/v2/Users/U1", "roster/1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply(200, userJSON("U1", "ada", "ada@example.com", true)))
			opts := append([]scim.Option{scim.WithHTTPClient(f.Client())}, tt.opts...)
			c := scim.New(f.URL+tt.suffix, testToken, opts...)
			if _, err := c.Get(t.Context(), "U1"); err != nil {
				t.Fatalf("Get = %v, want nil", err)
			}
			got := f.requests()
			if len(got) != 1 || got[0].Path != tt.wantPath || got[0].UserAgent != tt.wantUA {
				t.Errorf("requests = %+v, want one to %s with User-Agent %q", got, tt.wantPath, tt.wantUA)
			}
		})
	}
}

func TestAccountMapping(t *testing.T) {
	tests := []struct {
		name string
		body string
		want provisioning.Account
	}{
		{
			name: "primary email not first, role objects",
			body: `{"id":"U1","userName":"ada","active":true,
				"emails":[{"value":"old@example.com"},{"value":"ada@example.com","primary":true}],
				"roles":[{"value":"admin","primary":true},{"value":"owner"}]}`,
			want: provisioning.Account{ID: "U1", UserName: "ada", Email: "ada@example.com", Active: true, Roles: []string{"admin", "owner"}},
		},
		{
			name: "no primary: first email",
			body: `{"id":"U1","userName":"ada","active":false,"emails":[{"value":"a@example.com","primary":false},{"value":"b@example.com"}]}`,
			want: provisioning.Account{ID: "U1", UserName: "ada", Email: "a@example.com"},
		},
		{
			name: "no emails, no active",
			body: `{"id":"U1","userName":"bot"}`,
			want: provisioning.Account{ID: "U1", UserName: "bot"},
		},
		{
			name: "lenient types",
			body: `{"id":"U1","userName":"ada","active":"true","emails":[{"value":"ada@example.com","primary":"true"}],"roles":["primary_owner"]}`,
			want: provisioning.Account{ID: "U1", UserName: "ada", Email: "ada@example.com", Active: true, Roles: []string{"primary_owner"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply(200, tt.body))
			got, err := newClient(f, nil).Get(t.Context(), "U1")
			if err != nil {
				t.Fatalf("Get = %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Get mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidInputSendsNothing(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *scim.Client) error
	}{
		{"get empty id", func(ctx context.Context, c *scim.Client) error { _, err := c.Get(ctx, ""); return err }},
		{"get lowercase id", func(ctx context.Context, c *scim.Client) error { _, err := c.Get(ctx, "u123"); return err }},
		{"get path traversal", func(ctx context.Context, c *scim.Client) error { _, err := c.Get(ctx, "U1/../Groups"); return err }},
		{"activate query", func(ctx context.Context, c *scim.Client) error { return c.Activate(ctx, "U1?x=1") }},
		{"deactivate space", func(ctx context.Context, c *scim.Client) error { return c.Deactivate(ctx, "U 1") }},
		{"deactivate unicode", func(ctx context.Context, c *scim.Client) error { return c.Deactivate(ctx, "U１") }},
		{"lookup empty", func(ctx context.Context, c *scim.Client) error { _, err := c.LookupByEmail(ctx, ""); return err }},
		{"lookup quote", func(ctx context.Context, c *scim.Client) error {
			_, err := c.LookupByEmail(ctx, `a" or userName pr or "@x.com`)
			return err
		}},
		{"lookup backslash", func(ctx context.Context, c *scim.Client) error {
			_, err := c.LookupByEmail(ctx, `a\@x.com`)
			return err
		}},
		{"lookup newline", func(ctx context.Context, c *scim.Client) error {
			_, err := c.LookupByEmail(ctx, "a@x.com\n")
			return err
		}},
		{"lookup NUL", func(ctx context.Context, c *scim.Client) error {
			_, err := c.LookupByEmail(ctx, "a\x00@x.com")
			return err
		}},
		{"create no email", func(ctx context.Context, c *scim.Client) error {
			_, err := c.Create(ctx, provisioning.NewAccount{UserName: "ada"})
			return err
		}},
		{"create no username", func(ctx context.Context, c *scim.Client) error {
			_, err := c.Create(ctx, provisioning.NewAccount{Email: "ada@example.com"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, nil)
			obs := &observations{}
			err := tt.call(t.Context(), newClient(f, obs))
			if !errors.Is(err, provisioning.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("requests sent = %d, want 0", n)
			}
			if got := obs.list(); len(got) != 1 || !strings.HasSuffix(got[0], " permanent") {
				t.Errorf("observations = %q, want one permanent", got)
			}
		})
	}
}

func TestLookupByEmail(t *testing.T) {
	tests := []struct {
		name       string
		email      string
		reply      http.HandlerFunc
		want       provisioning.Account
		wantErr    error  // errors.Is
		wantCode   string // PermanentError code
		wantResult string
	}{
		{
			name:       "found",
			email:      "a+b@example.com",
			reply:      reply(200, `{"totalResults":1,"Resources":[`+userJSON("U1", "ab", "a+b@example.com", false)+`]}`),
			want:       provisioning.Account{ID: "U1", UserName: "ab", Email: "a+b@example.com"},
			wantResult: "ok",
		},
		{
			name:  "found by secondary email, case-insensitive",
			email: "Ada@Example.com",
			reply: reply(200, `{"totalResults":1,"Resources":[{"id":"U2","userName":"ada","active":true,
				"emails":[{"value":"lovelace@example.com","primary":true},{"value":"ada@example.com"}]}]}`),
			want:       provisioning.Account{ID: "U2", UserName: "ada", Email: "lovelace@example.com", Active: true},
			wantResult: "ok",
		},
		{
			name:       "none",
			email:      "nobody@example.com",
			reply:      reply(200, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"itemsPerPage":0,"startIndex":1,"Resources":[]}`),
			wantErr:    provisioning.ErrNotFound,
			wantResult: "not_found",
		},
		{
			name:       "filter ignored",
			email:      "ada@example.com",
			reply:      reply(200, `{"totalResults":3000,"Resources":[`+userJSON("U9", "zed", "zed@example.com", true)+`]}`),
			wantCode:   "email_filter_ignored",
			wantResult: "permanent",
		},
		{
			name:       "filter rejected with code",
			email:      "ada@example.com",
			reply:      reply(400, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"invalid_query","status":400}`),
			wantCode:   "invalid_query",
			wantResult: "permanent",
		},
		{
			name:       "filter rejected without code",
			email:      "ada@example.com",
			reply:      reply(400, ``),
			wantCode:   "email_filter_rejected",
			wantResult: "permanent",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.reply)
			obs := &observations{}
			got, err := newClient(f, obs).LookupByEmail(t.Context(), tt.email)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("LookupByEmail = %v, want %v", err, tt.wantErr)
				}
			case tt.wantCode != "":
				var pe *provisioning.PermanentError
				if !errors.As(err, &pe) || pe.Code != tt.wantCode {
					t.Errorf("LookupByEmail = %v, want PermanentError %s", err, tt.wantCode)
				} else if tt.wantCode != "email_filter_ignored" && !strings.Contains(pe.Reason, "email filter") {
					t.Errorf("reason = %q, want it to explain the email filter", pe.Reason)
				}
			case err != nil:
				t.Fatalf("LookupByEmail = %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LookupByEmail mismatch (-want +got):\n%s", diff)
			}
			reqs := f.requests()
			wantQuery := "filter=" + strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40", "+", "%2B").
				Replace(`emails eq "`+tt.email+`"`)
			if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/scim/v2/Users" || reqs[0].RawQuery != wantQuery {
				t.Errorf("requests = %+v, want GET /scim/v2/Users?%s", reqs, wantQuery)
			}
			if diff := cmp.Diff([]string{"lookup " + tt.wantResult}, obs.list()); diff != "" {
				t.Errorf("observations mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLookupFilterDecodes(t *testing.T) {
	var got string
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query().Get("filter")
		io.WriteString(w, `{"totalResults":0,"Resources":[]}`)
	})
	const email = "o'hara+tag@example.com"
	newClient(f, nil).LookupByEmail(t.Context(), email)
	if want := `emails eq "` + email + `"`; got != want {
		t.Errorf("server decoded filter = %q, want %q", got, want)
	}
}

// pagedFake serves n users, recording each page's startIndex and count.
func pagedFake(t *testing.T, n int, withTotal bool) (*fakeSlack, func() [][2]int) {
	var mu sync.Mutex
	var pages [][2]int
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
		count, _ := strconv.Atoi(r.URL.Query().Get("count"))
		mu.Lock()
		pages = append(pages, [2]int{start, count})
		mu.Unlock()
		var res []string
		for i := start; i < start+count && i <= n; i++ {
			res = append(res, userJSON(fmt.Sprintf("U%05d", i), fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@example.com", i), true))
		}
		total := ""
		if withTotal {
			total = fmt.Sprintf(`"totalResults":%d,`, n)
		}
		fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],%s"itemsPerPage":%d,"startIndex":%d,"Resources":[%s]}`,
			total, len(res), start, strings.Join(res, ","))
	})
	return f, func() [][2]int {
		mu.Lock()
		defer mu.Unlock()
		return append([][2]int(nil), pages...)
	}
}

func TestListAll(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		withTotal bool
		wantPages [][2]int
	}{
		{"three pages", 2500, true, [][2]int{{1, 1000}, {1001, 1000}, {2001, 1000}}},
		{"three pages, no totalResults", 2500, false, [][2]int{{1, 1000}, {1001, 1000}, {2001, 1000}}},
		{"exactly two pages", 2000, true, [][2]int{{1, 1000}, {1001, 1000}}},
		{"exactly two pages, no totalResults", 2000, false, [][2]int{{1, 1000}, {1001, 1000}, {2001, 1000}}},
		{"empty", 0, true, [][2]int{{1, 1000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, pages := pagedFake(t, tt.n, tt.withTotal)
			obs := &observations{}
			var ids []string
			err := newClient(f, obs).ListAll(t.Context(), func(a provisioning.Account) error {
				ids = append(ids, a.ID)
				return nil
			})
			if err != nil {
				t.Fatalf("ListAll = %v, want nil", err)
			}
			var want []string
			for i := 1; i <= tt.n; i++ {
				want = append(want, fmt.Sprintf("U%05d", i))
			}
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("ListAll IDs mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPages, pages()); diff != "" {
				t.Errorf("pages mismatch (-want +got):\n%s", diff)
			}
			if got := len(obs.list()); got != len(tt.wantPages) {
				t.Errorf("observations = %d, want one per page (%d)", got, len(tt.wantPages))
			}
		})
	}
}

func TestListAllStopsOnCallbackError(t *testing.T) {
	f, pages := pagedFake(t, 2500, true)
	stop := errors.New("stop")
	calls := 0
	err := newClient(f, nil).ListAll(t.Context(), func(provisioning.Account) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("ListAll = %v, want the callback's error unchanged", err)
	}
	if calls != 3 || len(pages()) != 1 {
		t.Errorf("callbacks, pages = %d, %d, want 3, 1", calls, len(pages()))
	}
}

func TestListClamps(t *testing.T) {
	tests := []struct {
		startIndex, count int
		want              [2]int
	}{
		{1, 10, [2]int{1, 10}},
		{0, 0, [2]int{1, 1}},
		{-3, -1, [2]int{1, 1}},
		{5, 5000, [2]int{5, 1000}},
		{7, math.MaxInt, [2]int{7, 1000}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d,%d", tt.startIndex, tt.count), func(t *testing.T) {
			f, pages := pagedFake(t, 20, true)
			p, err := newClient(f, nil).List(t.Context(), tt.startIndex, tt.count)
			if err != nil {
				t.Fatalf("List = %v, want nil", err)
			}
			if diff := cmp.Diff([][2]int{tt.want}, pages()); diff != "" {
				t.Errorf("query mismatch (-want +got):\n%s", diff)
			}
			wantN := max(0, min(20, tt.want[0]+tt.want[1]-1)-tt.want[0]+1)
			if p.TotalResults != 20 || p.StartIndex != tt.want[0] || p.ItemsPerPage != wantN || len(p.Accounts) != wantN {
				t.Errorf("page = total %d, start %d, per page %d, %d accounts; want 20, %d, %d, %d",
					p.TotalResults, p.StartIndex, p.ItemsPerPage, len(p.Accounts), tt.want[0], wantN, wantN)
			}
		})
	}
}

func TestDeactivateIdempotent(t *testing.T) {
	tests := []struct {
		name       string
		reply      http.HandlerFunc
		wantResult string
	}{
		{"204", reply(204, ""), "ok"},
		{"200 with body", reply(200, `{}`), "ok"},
		{"404 unknown user", reply(404, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"not_found","status":404}`), "not_found"},
		{"404 empty", reply(404, ""), "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.reply)
			obs := &observations{}
			c := newClient(f, obs)
			for range 2 {
				if err := c.Deactivate(t.Context(), "U1"); err != nil {
					t.Errorf("Deactivate = %v, want nil", err)
				}
			}
			want := []string{"deactivate " + tt.wantResult, "deactivate " + tt.wantResult}
			if diff := cmp.Diff(want, obs.list()); diff != "" {
				t.Errorf("observations mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name       string
		reply      http.HandlerFunc
		wantCode   string // "" and wantReason "": success
		wantReason string
	}{
		{"ok", reply(200, `{"totalResults":1,"Resources":[`+userJSON("U1", "a", "a@example.com", true)+`]}`), "", ""},
		{"bad token, v1-style body", reply(401, `{"Errors":{"description":"invalid_authentication","code":401}}`), "invalid_authentication", "admin token"},
		{"missing scope", reply(403, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"missing_scope","status":403}`), "missing_scope", "admin scope"},
		{"401 empty", reply(401, ``), "", "admin scope"},
		{"403 html", reply(403, `<html><body>Forbidden</body></html>`), "", "admin token"},
		{"free plan", reply(403, `{"Errors":[{"description":"plus_teams_only","code":403}]}`), "plus_teams_only", "Business+"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.reply)
			obs := &observations{}
			err := newClient(f, obs).Probe(t.Context())
			if tt.wantReason == "" {
				if err != nil {
					t.Errorf("Probe = %v, want nil", err)
				}
			} else {
				var pe *provisioning.PermanentError
				if !errors.As(err, &pe) || pe.Code != tt.wantCode || !strings.Contains(pe.Reason, tt.wantReason) {
					t.Errorf("Probe = %v, want PermanentError code %q mentioning %q", err, tt.wantCode, tt.wantReason)
				}
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].RawQuery != "count=1&startIndex=1" {
				t.Errorf("requests = %+v, want one GET /Users?count=1&startIndex=1", reqs)
			}
			if got := obs.list(); len(got) != 1 || !strings.HasPrefix(got[0], "probe ") {
				t.Errorf("observations = %q, want one probe", got)
			}
		})
	}
}

func TestContextCancellation(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func(t *testing.T, arrived <-chan struct{}) context.Context
		wantReq int // -1: either
		wantErr error
	}{
		{
			name: "cancelled while in flight",
			ctx: func(t *testing.T, arrived <-chan struct{}) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				go func() { <-arrived; cancel() }()
				return ctx
			},
			wantErr: context.Canceled,
			wantReq: 1,
		},
		{
			name: "deadline passes while in flight",
			ctx: func(t *testing.T, arrived <-chan struct{}) context.Context {
				// The handler never answers, so the outcome does not depend
				// on timing; only whether the request got out in 50 ms does.
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			wantErr: context.DeadlineExceeded,
			wantReq: -1,
		},
		{
			name: "already cancelled",
			ctx: func(t *testing.T, _ <-chan struct{}) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return ctx
			},
			wantErr: context.Canceled,
			wantReq: 0,
		},
		{
			name: "already past deadline",
			ctx: func(t *testing.T, _ <-chan struct{}) context.Context {
				ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
				t.Cleanup(cancel)
				return ctx
			},
			wantErr: context.DeadlineExceeded,
			wantReq: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				select { // hang until the client gives up or the test ends
				case <-r.Context().Done():
				case <-release:
				}
			})
			defer close(release)
			obs := &observations{}
			c := newClient(f, obs, scim.WithLimits(scim.DefaultLimits()))
			done := make(chan error, 1)
			ctx := tt.ctx(t, arrived)
			go func() { done <- c.Deactivate(ctx, "U1") }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second): // a guard, not a wait: success returns at once
				t.Fatal("Deactivate did not return after the context ended")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Deactivate = %v, want %v", err, tt.wantErr)
			}
			var re *provisioning.RetryableError
			if errors.As(err, &re) {
				t.Errorf("Deactivate = %v, a RetryableError; want the context's error", err)
			}
			if n := len(f.requests()); tt.wantReq >= 0 && n != tt.wantReq {
				t.Errorf("requests = %d, want %d", n, tt.wantReq)
			}
			if diff := cmp.Diff([]string{"deactivate transient"}, obs.list()); diff != "" {
				t.Errorf("observations mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLimitsNormalized(t *testing.T) {
	tests := []struct {
		name string
		in   scim.Limits
		want scim.Limits
	}{
		{"default", scim.DefaultLimits(), scim.Limits{Share: 1, TimeScale: 1}},
		{"zero value", scim.Limits{}, scim.Limits{Share: 1, TimeScale: 1}},
		{"half", scim.Limits{Share: 0.5, TimeScale: 60}, scim.Limits{Share: 0.5, TimeScale: 60}},
		{"over 1", scim.Limits{Share: 2, TimeScale: -1}, scim.Limits{Share: 1, TimeScale: 1}},
		{"NaN", scim.Limits{Share: math.NaN(), TimeScale: math.Inf(1)}, scim.Limits{Share: 1, TimeScale: 1}},
		{"disabled", scim.Limits{Disabled: true}, scim.Limits{Share: 1, TimeScale: 1, Disabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scim.New("https://api.slack.com/scim/v2/", testToken, scim.WithLimits(tt.in)).Limits()
			if got != tt.want {
				t.Errorf("Limits() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
