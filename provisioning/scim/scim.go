// Package scim implements provisioning.Provider over Slack's SCIM v2 API
// (https://api.slack.com/scim/v2/) with net/http only.
//
// The token is an org-admin user token (xoxp-…, admin scope), sent as
// "Authorization: Bearer …". Every request carries "Accept: application/json";
// POST and PATCH bodies carry "Content-Type: application/json". The exact
// payloads are recorded on each method. Sources: docs.slack.dev
// reference/scim-api and admins/scim-api, summarised in
// shared/docs/slack-platform.md §1.
//
// Errors follow provisioning.Provider: an error wrapping
// provisioning.ErrNotFound, ErrEmailTaken, ErrUsernameTaken or ErrInvalid, a
// *provisioning.RetryableError or a *provisioning.PermanentError (wrapped:
// use errors.As), or the caller's context error, wrapped. Error strings name
// the method, path and HTTP status, carry at most a 512-byte excerpt of the
// response body, and never contain the token. Emails are kept out of error
// strings (the house rule logs emails only at Debug).
//
//	caller's context ended            ctx.Err(), wrapped (not retryable)
//	network error, timeout, reset,
//	  unexpected EOF, bad 2xx body    *RetryableError{After: 0}
//	429, 408, 5xx                     *RetryableError{After: Retry-After}
//	404                               ErrNotFound (Deactivate: nil)
//	email_taken                       ErrEmailTaken
//	username_taken                    ErrUsernameTaken
//	resource_locked, too_many_requests,
//	  internal_error, service_unavailable
//	                                  *RetryableError{After: Retry-After}
//	invalid_authentication, invalid_auth, not_authed, token_revoked,
//	  account_inactive, missing_scope, plus_teams_only, non_org_teams_only
//	                                  *PermanentError about the token or plan
//	other known codes                 *PermanentError with a sentence per code
//	other 401, 403                    *PermanentError: invalid token or no admin scope
//	any other status                  *PermanentError{Code: Slack's code, if any}
//
// Slack's code is read from any of its error shapes (detail, Errors as an
// object or an array, error), alone or inside longer text.
//
// The client never retries: it returns RetryableError and lets the caller's
// job runner decide. It does limit its own request rate to Slack's SCIM
// table (see Limits).
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/roster-app/roster/provisioning"
)

var _ provisioning.Provider = (*Client)(nil)

const (
	schemaUser    = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "roster-scim (+https://github.com/roster-app/roster)"

	// MaxCount is the largest page Slack serves (larger counts are treated
	// as 1000 by Slack; List clamps them).
	MaxCount = 1000

	maxBody    = 64 << 20 // a successful response (1000 users is ~2 MB)
	maxErrBody = 1 << 20  // an error response; only 512 bytes are shown
)

// Client is a Slack SCIM v2 client. It is safe for concurrent use.
// Create it with New.
type Client struct {
	base    *url.URL // path ends in "/"
	token   string
	http    *http.Client
	ua      string
	observe func(op, result string, d time.Duration)
	limits  Limits
	lim     *limiters // nil when limits are disabled
	redact  func(string) string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send requests with hc. The default is a
// client of its own with a 30 s timeout over http.DefaultTransport. A nil hc
// is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithLimits sets the client-side rate limits (default DefaultLimits()).
func WithLimits(l Limits) Option {
	return func(c *Client) { c.limits = l }
}

// WithObserver makes the client call fn once per method call, for metrics,
// with the operation, its outcome and its duration (including any wait on
// the client-side rate limiter). fn runs synchronously on the caller's
// goroutine and must be safe for concurrent use.
//
// op is one of "lookup", "get", "create", "activate", "deactivate", "list"
// (List, and each page of ListAll) and "probe". result is one of "ok",
// "not_found", "rate_limited" (HTTP 429, too_many_requests, or a client-side
// limiter wait that would pass the context deadline), "transient" (5xx,
// network errors, resource_locked, unreadable 2xx bodies, and the caller's
// context ending), "permanent", "email_taken" and "username_taken".
// Deactivate reports "not_found" for an unknown user, although it returns nil.
func WithObserver(fn func(op, result string, d time.Duration)) Option {
	return func(c *Client) { c.observe = fn }
}

// WithUserAgent sets the User-Agent header (default
// "roster-scim (+https://github.com/roster-app/roster)").
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.ua = ua
		}
	}
}

// New returns a client for the SCIM v2 API at baseURL (normally
// "https://api.slack.com/scim/v2/"; the trailing slash is optional),
// authenticated with token.
//
// New does not fail: if baseURL is not an absolute http(s) URL, every call
// returns a *provisioning.PermanentError saying so. Check the token and URL
// at start-up with Probe.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		token:  token,
		http:   &http.Client{Timeout: defaultTimeout},
		ua:     defaultUserAgent,
		limits: DefaultLimits(),
		redact: newRedactor(token),
	}
	for _, o := range opts {
		o(c)
	}
	c.limits = c.limits.normalize()
	c.lim = newLimiters(c.limits)
	if u, err := url.Parse(baseURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		u.Fragment, u.RawFragment = "", ""
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
			u.RawPath = ""
		}
		c.base = u
	}
	return c
}

// Limits returns the client-side rate limits in force, after defaults were
// applied (see Limits).
func (c *Client) Limits() Limits { return c.limits }

// Page is one page of GET /Users.
type Page struct {
	Accounts     []provisioning.Account
	TotalResults int
	StartIndex   int
	ItemsPerPage int
}

// LookupByEmail returns the account whose email is email. It returns an
// error wrapping provisioning.ErrNotFound when Slack has none, and one
// wrapping provisioning.ErrInvalid, before any request, when email is empty
// or contains a double quote, a backslash or a control character (they
// would break out of the filter's string literal).
//
// Request (v2; the filter is URL-encoded, spaces as %20):
//
//	GET /Users?filter=emails eq "ada@example.com"
//
// SCIM v2 email filtering is observed to work but is not documented by Slack
// (the v2 reference says filters are "not applicable to SCIM v2.0"). If
// Slack answers the filter with a 400, LookupByEmail returns a
// *provisioning.PermanentError explaining that, keeping Slack's code
// (or "email_filter_rejected"). It deliberately does not fall back to
// `userName eq "…"`: a userName is derived from, but is not, the email, so
// such a match could select someone else's account and later deactivate it.
// For the same reason, if Slack returns users none of whose emails equal
// email (case-insensitively), the filter was evidently ignored and
// LookupByEmail returns a PermanentError with code "email_filter_ignored"
// rather than guess.
func (c *Client) LookupByEmail(ctx context.Context, email string) (provisioning.Account, error) {
	start := time.Now()
	a, err := c.lookupByEmail(ctx, email)
	return a, c.done("lookup", start, err)
}

func (c *Client) lookupByEmail(ctx context.Context, email string) (provisioning.Account, error) {
	if email == "" || strings.ContainsFunc(email, func(r rune) bool { return r == '"' || r == '\\' || unicode.IsControl(r) }) {
		return provisioning.Account{}, fmt.Errorf("scim lookup: email is empty or contains a double quote, backslash or control character: %w", provisioning.ErrInvalid)
	}
	q := "filter=" + queryEscape(`emails eq "`+email+`"`)
	var lr listResponse
	if err := c.do(ctx, "lookup", epList, http.MethodGet, "Users", q, nil, &lr); err != nil {
		return provisioning.Account{}, err
	}
	var matches []provisioning.Account
	for _, u := range lr.Resources {
		for _, e := range u.Emails {
			if strings.EqualFold(e.Value, email) {
				matches = append(matches, u.account())
				break
			}
		}
	}
	switch {
	case len(matches) > 0:
		for _, a := range matches {
			if strings.EqualFold(a.Email, email) { // prefer a primary-email match
				return a, nil
			}
		}
		return matches[0], nil
	case len(lr.Resources) > 0:
		return provisioning.Account{}, fmt.Errorf("scim GET /Users: %d users returned, none with the email asked for: %w", len(lr.Resources), &provisioning.PermanentError{
			Code:   "email_filter_ignored",
			Reason: "Slack ignored the SCIM v2 email filter, so Roster cannot look accounts up by email",
		})
	default:
		return provisioning.Account{}, fmt.Errorf("scim GET /Users: no user with that email: %w", provisioning.ErrNotFound)
	}
}

// Get returns user id. It returns an error wrapping provisioning.ErrNotFound
// for an unknown id, and one wrapping provisioning.ErrInvalid, before any
// request, when id is not [A-Z0-9]+.
//
// Request: GET /Users/{id}
func (c *Client) Get(ctx context.Context, id string) (provisioning.Account, error) {
	start := time.Now()
	var u user
	err := c.checkID("get", id)
	if err == nil {
		err = c.do(ctx, "get", epGet, http.MethodGet, "Users/"+url.PathEscape(id), "", nil, &u)
	}
	if err != nil {
		return provisioning.Account{}, c.done("get", start, err)
	}
	return u.account(), c.done("get", start, nil)
}

// Create creates (invites) a user and returns the account Slack made.
// Email and UserName are required (else an error wrapping
// provisioning.ErrInvalid). Slack refuses an email any account already has,
// even a deactivated one (provisioning.ErrEmailTaken): look up first and
// Activate instead.
//
// Request (v2; displayName only when a.DisplayName is set; Slack answers
// 201 with the User resource):
//
//	POST /Users
//	{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
//	 "userName":"ada","displayName":"Ada Lovelace",
//	 "emails":[{"value":"ada@example.com","primary":true}]}
//
// If Slack answers 2xx with a body that cannot be read as a User, Create
// returns a *provisioning.RetryableError; the user may exist by then, and
// the retry will see email_taken.
func (c *Client) Create(ctx context.Context, a provisioning.NewAccount) (provisioning.Account, error) {
	start := time.Now()
	if a.Email == "" || a.UserName == "" {
		return provisioning.Account{}, c.done("create", start, fmt.Errorf("scim create: email and userName are required: %w", provisioning.ErrInvalid))
	}
	body := createRequest{
		Schemas:     []string{schemaUser},
		UserName:    a.UserName,
		DisplayName: a.DisplayName,
		Emails:      []createEmail{{Value: a.Email, Primary: true}},
	}
	var u user
	if err := c.do(ctx, "create", epCreate, http.MethodPost, "Users", "", body, &u); err != nil {
		return provisioning.Account{}, c.done("create", start, err)
	}
	if u.ID == "" {
		err := &provisioning.RetryableError{Err: &failure{msg: "scim POST /Users: 2xx response without a user id", result: "transient"}}
		return provisioning.Account{}, c.done("create", start, err)
	}
	return u.account(), c.done("create", start, nil)
}

// Activate reactivates user id (a no-op for an active user). It returns an
// error wrapping provisioning.ErrNotFound for an unknown id.
//
// Request (v2; Slack answers 200 with the User, or 204):
//
//	PATCH /Users/{id}
//	{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//	 "Operations":[{"op":"replace","path":"active","value":true}]}
func (c *Client) Activate(ctx context.Context, id string) error {
	start := time.Now()
	err := c.checkID("activate", id)
	if err == nil {
		body := patchRequest{
			Schemas:    []string{schemaPatchOp},
			Operations: []patchOp{{Op: "replace", Path: "active", Value: true}},
		}
		err = c.do(ctx, "activate", epPatch, http.MethodPatch, "Users/"+url.PathEscape(id), "", body, nil)
	}
	return c.done("activate", start, err)
}

// Deactivate deactivates user id. Deactivating an inactive or unknown user
// returns nil, so retries are safe. Slack's change is not instantly visible
// to GET (its own SDK polls for up to 10 s).
//
// Request (v2; Slack answers 204, and 404 for an unknown id):
//
//	DELETE /Users/{id}
func (c *Client) Deactivate(ctx context.Context, id string) error {
	start := time.Now()
	err := c.checkID("deactivate", id)
	if err == nil {
		err = c.do(ctx, "deactivate", epDelete, http.MethodDelete, "Users/"+url.PathEscape(id), "", nil, nil)
	}
	err = c.done("deactivate", start, err)
	if errors.Is(err, provisioning.ErrNotFound) {
		return nil
	}
	return err
}

// List returns one page of users. startIndex is 1-based (values below 1
// mean 1); count is clamped to 1..1000.
//
// Request: GET /Users?count={count}&startIndex={startIndex}
//
// Response (v2): {"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
// "totalResults":…, "itemsPerPage":…, "startIndex":…, "Resources":[User…]}.
func (c *Client) List(ctx context.Context, startIndex, count int) (Page, error) {
	start := time.Now()
	p, err := c.list(ctx, "list", startIndex, count)
	return p, c.done("list", start, err)
}

func (c *Client) list(ctx context.Context, op string, startIndex, count int) (Page, error) {
	startIndex = max(startIndex, 1)
	count = min(max(count, 1), MaxCount)
	q := "count=" + strconv.Itoa(count) + "&startIndex=" + strconv.Itoa(startIndex)
	var lr listResponse
	if err := c.do(ctx, op, epList, http.MethodGet, "Users", q, nil, &lr); err != nil {
		return Page{}, err
	}
	p := Page{
		TotalResults: int(lr.TotalResults),
		StartIndex:   int(lr.StartIndex),
		ItemsPerPage: int(lr.ItemsPerPage),
		Accounts:     make([]provisioning.Account, 0, len(lr.Resources)),
	}
	for _, u := range lr.Resources {
		p.Accounts = append(p.Accounts, u.account())
	}
	return p, nil
}

// ListAll calls fn for every user, in pages of 1000. An error from fn stops
// the walk and is returned unchanged. Slack's list is not a snapshot: users
// created or deactivated during the walk may be missed or seen twice.
func (c *Client) ListAll(ctx context.Context, fn func(provisioning.Account) error) error {
	for startIndex := 1; ; {
		p, err := c.List(ctx, startIndex, MaxCount)
		if err != nil {
			return err
		}
		for _, a := range p.Accounts {
			if err := fn(a); err != nil {
				return err
			}
		}
		n := len(p.Accounts)
		switch {
		case n == 0:
			return nil
		case p.TotalResults > 0 && startIndex-1+n >= p.TotalResults:
			return nil
		case p.TotalResults <= 0 && n < MaxCount: // no total: stop at a short page
			return nil
		}
		startIndex += n
	}
}

// Probe checks that the token can use SCIM. A 401 or 403 (and Slack's auth
// and plan codes) give a *provisioning.PermanentError saying the admin token
// is invalid or lacks the admin scope, or that the plan lacks SCIM.
//
// Request: GET /Users?count=1&startIndex=1
func (c *Client) Probe(ctx context.Context) error {
	start := time.Now()
	_, err := c.list(ctx, "probe", 1, 1)
	return c.done("probe", start, err)
}

// checkID reports an error wrapping provisioning.ErrInvalid unless id is a
// Slack user ID ([A-Z0-9]+).
func (c *Client) checkID(op, id string) error {
	if id != "" && !strings.ContainsFunc(id, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') }) {
		return nil
	}
	shown := id
	if len(shown) > 32 {
		shown = shown[:32] + "…"
	}
	return fmt.Errorf("scim %s: user id %s is not a Slack user id ([A-Z0-9]+): %w", op, c.redact(strconv.QuoteToASCII(shown)), provisioning.ErrInvalid)
}

// done reports the outcome of op to the observer and returns err.
func (c *Client) done(op string, start time.Time, err error) error {
	if c.observe != nil {
		c.observe(op, resultOf(err), time.Since(start))
	}
	return err
}

// do sends one request and decodes a 2xx JSON body into out (if non-nil).
// rel is the path below the base URL ("Users/U123"); rawQuery is already
// encoded. Every failure goes through classify.
func (c *Client) do(ctx context.Context, op string, ep endpoint, method, rel, rawQuery string, in, out any) error {
	path := "/" + rel
	where := "scim " + method + " " + path
	if c.base == nil {
		return fmt.Errorf("%s: %w", where, &provisioning.PermanentError{
			Code:   "invalid_base_url",
			Reason: "the SCIM base URL is not an absolute http(s) URL",
		})
	}
	if err := c.lim.wait(ctx, ep, where); err != nil {
		return err
	}
	u := *c.base
	u.Path = c.base.Path + rel
	u.RawPath = ""
	if rawQuery != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += rawQuery
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", where, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		// The error would quote the URL, which may hold secrets.
		return fmt.Errorf("%s: cannot build the request", where)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return c.classify(ctx, op, where, nil, nil, err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := int64(maxErrBody)
	if ok {
		limit = maxBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if !ok {
		// A partial error body still has a status worth mapping.
		if resp.StatusCode == http.StatusTooManyRequests {
			c.lim.pause(ep, time.Now().Add(retryAfter(resp.Header, time.Now())))
		}
		return c.classify(ctx, op, where, resp, b, nil)
	}
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("response body over %d bytes", limit)
	}
	if err == nil && out != nil {
		err = json.Unmarshal(b, out)
		if err != nil {
			err = fmt.Errorf("unreadable response body: %w", err)
		}
	}
	if err != nil {
		return c.classify(ctx, op, where, resp, b, err)
	}
	return nil
}

// queryEscape escapes s for a query value, with spaces as %20 rather than
// "+" (a literal "+" is %2B either way).
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// Wire types.

type createRequest struct {
	Schemas     []string      `json:"schemas"`
	UserName    string        `json:"userName"`
	DisplayName string        `json:"displayName,omitempty"`
	Emails      []createEmail `json:"emails"`
}

type createEmail struct {
	Value   string `json:"value"`
	Primary bool   `json:"primary"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

type listResponse struct {
	TotalResults flexInt `json:"totalResults"`
	ItemsPerPage flexInt `json:"itemsPerPage"`
	StartIndex   flexInt `json:"startIndex"`
	Resources    []user  `json:"Resources"`
}

// user is the part of a SCIM User resource Roster reads. Fields Slack might
// send in another JSON type are decoded leniently.
type user struct {
	ID       string            `json:"id"`
	UserName string            `json:"userName"`
	Active   flexBool          `json:"active"`
	Emails   []userEmail       `json:"emails"`
	Roles    []json.RawMessage `json:"roles"`
}

type userEmail struct {
	Value   string   `json:"value"`
	Primary flexBool `json:"primary"`
}

// account maps a SCIM User to an Account: Email is the primary email, else
// the first; Roles are roles[].value (or bare strings); a missing "active"
// reads as false.
func (u user) account() provisioning.Account {
	a := provisioning.Account{ID: u.ID, UserName: u.UserName, Active: bool(u.Active)}
	for _, e := range u.Emails {
		if e.Primary {
			a.Email = e.Value
			break
		}
	}
	if a.Email == "" && len(u.Emails) > 0 {
		a.Email = u.Emails[0].Value
	}
	for _, raw := range u.Roles {
		var r struct {
			Value string `json:"value"`
		}
		var s string
		switch {
		case json.Unmarshal(raw, &r) == nil && r.Value != "":
			a.Roles = append(a.Roles, r.Value)
		case json.Unmarshal(raw, &s) == nil && s != "":
			a.Roles = append(a.Roles, s)
		}
	}
	return a
}

// flexInt decodes a JSON number or a numeric string; anything else is 0.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.Atoi(s)
	if err != nil {
		*n = 0
		return nil
	}
	*n = flexInt(v)
	return nil
}

// flexBool decodes true, false, "true" or "false" (any case); anything else
// is false.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	*v = flexBool(strings.EqualFold(strings.Trim(string(b), `"`), "true"))
	return nil
}
