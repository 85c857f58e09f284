package fakeslack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SCIM v2 at /scim/v2/, with Slack's semantics (slack-platform.md §1):
//
//   - Authorization: Bearer AdminToken, else 401 with Slack's v1-style body
//     {"Errors":{"description":"invalid_authentication","code":401}}.
//   - Other errors use the v2 body {"schemas":[…Error],"detail":"<code>",
//     "status":N}; detail is Slack's error code.
//   - POST /Users: 201. A duplicate email, of any user even deactivated,
//     is 409 email_taken; a userName in use is 409 username_taken (Slack's
//     real status code for these is undocumented; 409 is RFC 7644's for
//     uniqueness conflicts, and the body carries "scimType":"uniqueness").
//     An invalid or missing email is 400 bad_email_address, a userName
//     over 21 characters is 400 username_too_long, an empty one 400
//     username_invalid. An email given as userName becomes its local part;
//     characters other than a-z 0-9 . _ - become _.
//   - PATCH /Users/{id} (RFC 7644 Operations; "active", "userName",
//     "displayName", "name.givenName", "name.familyName", "emails", or a
//     value object without path) and PUT: 200 with the user. DELETE: 204,
//     deactivates, idempotent. Deactivating the primary owner is 403
//     cannot_disable_primary_owner; a bot, 403
//     cannot_disable_bot_user_with_scim. Unknown IDs are 404.
//   - GET /Users filters on userName, emails (emails.value, email) and id
//     with eq, case-insensitively; startIndex is 1-based, count defaults to
//     10 and is capped at 1000. Deactivated users are listed with
//     "active":false.
//   - One write per user at a time: a non-GET on a user with a write in
//     progress (see WithSCIMLatency) gets 429 resource_locked with
//     Retry-After: 1. POST /Users locks the new email.
//   - WithSCIMLimits adds Slack's rate limits: 429 too_many_requests with
//     Retry-After.
//   - Account changes send Slack's events over Socket Mode, when a socket
//     is open: team_join on create, user_change on any change (deleted
//     true on deactivation, false on reactivation).
//
// The user resource follows Slack's documented example (id, userName,
// nickName, name, displayName, profileUrl, title, timezone, active,
// emails, photos, groups, meta). It adds a "roles" array
// ([{"value":"primary_owner"}, {"value":"owner"}, {"value":"admin"}], as
// applicable) and the guest extension for guests: Slack's real shape of
// these is not confirmed, so clients should not depend on them.

const (
	schemaUser     = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaList     = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaError    = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaPatchOp  = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaGuestExt = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User"
)

// SCIMRequest is one recorded SCIM request and the answer it got.
type SCIMRequest struct {
	Method      string
	Path        string // e.g. "/scim/v2/Users/U0D000010"
	Query       string // the raw query
	Status      int    // the status answered; 0 when the connection was dropped
	Body        []byte // the request body
	Response    []byte // the response body
	At          time.Time
	RateLimited bool // refused by the emulated rate limits (WithSCIMLimits)
	Locked      bool // refused by the per-user write lock
	Injected    bool // an injected Fault acted on it
	Applied     bool // a write that took effect, whatever the client saw
}

// SCIMCounts summarizes the SCIM traffic.
type SCIMCounts struct {
	Requests    int
	Writes      int // writes that took effect (SCIMWrites)
	RateLimited int // 429s from the emulated rate limits
	Locked      int // 429s from the per-user lock
	Injected    int // requests an injected Fault acted on
}

// SCIMRequests returns every SCIM request, oldest first.
func (s *Server) SCIMRequests() []SCIMRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scimReqs)
}

// SCIMWrites returns the non-GET SCIM requests whose write took effect:
// those answered with a status below 300, and those whose success an
// AfterWrite fault hid from the client.
func (s *Server) SCIMWrites() []SCIMRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SCIMRequest
	for _, r := range s.scimReqs {
		if r.Applied {
			out = append(out, r)
		}
	}
	return out
}

// SCIMCounts returns counters of the SCIM traffic so far.
func (s *Server) SCIMCounts() SCIMCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scimCounts
}

// WaitSCIM returns the first recorded SCIM request for which pred is true,
// waiting until ctx ends.
func (s *Server) WaitSCIM(ctx context.Context, pred func(SCIMRequest) bool) (SCIMRequest, error) {
	var found SCIMRequest
	err := s.waitFor(ctx, func() bool {
		for _, r := range s.scimReqs {
			if pred(r) {
				found = r
				return true
			}
		}
		return false
	})
	if err != nil {
		return SCIMRequest{}, fmt.Errorf("fakeslack: wait for scim request: %w", err)
	}
	return found, nil
}

// WaitUserLocked waits until a SCIM write on userID holds the user's write
// lock (see WithSCIMLatency), for tests of concurrent writes.
func (s *Server) WaitUserLocked(ctx context.Context, userID string) error {
	err := s.waitFor(ctx, func() bool { return s.userLocks[userID] })
	if err != nil {
		return fmt.Errorf("fakeslack: wait for a write on %s: %w", userID, err)
	}
	return nil
}

// Fault is a SCIM failure to inject with InjectSCIM. It acts on the next
// Count requests that match Method and Path, before the real handler runs
// (after the token check).
type Fault struct {
	Method string // "GET", "POST", …; "" matches any
	// Path is a prefix of the path below /scim/v2, e.g. "/Users" or
	// "/Users/U0D000010"; a leading "/scim/v2" is ignored. "" matches any.
	Path       string
	Status     int           // the status to answer, e.g. 500, 503, 429
	RetryAfter time.Duration // if set, a Retry-After header (whole seconds, at least 1)
	Count      int           // how many requests fail; 0 means 1
	Body       string        // the raw body; default a v2 error naming the status
	Drop       bool          // drop the connection instead: the client sees a network error
	Delay      time.Duration // wait this long first; with no Status and no Drop, only delay
	// AfterWrite lets the request take effect first, then fails it with
	// Status, or drops the connection if Status is 0 or Drop is set: the
	// client sees an error although the write happened.
	AfterWrite bool
}

// InjectSCIM queues f. Faults are matched in the order they were injected.
func (s *Server) InjectSCIM(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	f.Path = strings.TrimPrefix(f.Path, "/scim/v2")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

func (s *Server) takeFaultLocked(method, rel string) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || strings.EqualFold(f.Method, method)) && strings.HasPrefix(rel, f.Path) {
			f.Count--
			if f.Count == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			c := *f
			return &c
		}
	}
	return nil
}

// scimResult is the answer of a SCIM handler.
type scimResult struct {
	status  int
	body    any // encoded as JSON; nil for no body
	header  map[string]string
	locked  bool
	applied bool
	events  []map[string]any // sent over Socket Mode after the change
}

func scimErr(status int, detail string) scimResult {
	return scimResult{status: status, body: map[string]any{
		"schemas": []string{schemaError}, "detail": detail, "status": status,
	}}
}

func (s *Server) serveSCIM(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rel := strings.TrimPrefix(r.URL.Path, "/scim/v2")
	rec := SCIMRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body, At: time.Now()}
	s.log.Debug("fakeslack: scim", "method", r.Method, "path", r.URL.Path)

	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	authOK := tok == AdminToken && !s.revoked[tok]
	var fault *Fault
	if authOK {
		fault = s.takeFaultLocked(r.Method, rel)
	}
	s.mu.Unlock()

	if !authOK {
		s.finishSCIM(w, &rec, scimResult{status: http.StatusUnauthorized, body: map[string]any{
			"Errors": map[string]any{"description": "invalid_authentication", "code": 401},
		}})
		return
	}
	if fault != nil {
		rec.Injected = true
		if !s.sleep(r.Context(), fault.Delay) {
			s.finishSCIM(w, &rec, scimErr(http.StatusServiceUnavailable, "server_closing"))
			return
		}
		if !fault.AfterWrite {
			switch {
			case fault.Drop:
				s.dropSCIM(w, &rec)
				return
			case fault.Status != 0:
				s.finishSCIM(w, &rec, faultResult(fault))
				return
			}
		}
	}
	if s.limiter != nil {
		s.mu.Lock()
		ok, wait := s.limiter.take(r.Method, rel, time.Now())
		s.mu.Unlock()
		if !ok {
			rec.RateLimited = true
			res := scimErr(http.StatusTooManyRequests, "too_many_requests")
			res.header = map[string]string{"Retry-After": retryAfterSeconds(wait)}
			s.finishSCIM(w, &rec, res)
			return
		}
	}
	res := s.routeSCIM(r.Context(), r.Method, rel, r.URL.Query(), body)
	rec.Locked = res.locked
	rec.Applied = res.applied
	for _, ev := range res.events {
		_, _, _ = s.EventsAPI(ev) // no socket: Slack's delivery would be lost or retried later
	}
	if fault != nil && fault.AfterWrite {
		if fault.Drop || fault.Status == 0 {
			s.dropSCIM(w, &rec)
			return
		}
		res = faultResult(fault)
	}
	s.finishSCIM(w, &rec, res)
}

func faultResult(f *Fault) scimResult {
	res := scimErr(f.Status, strings.ToLower(strings.ReplaceAll(http.StatusText(f.Status), " ", "_")))
	if f.Body != "" {
		res.body = json.RawMessage(f.Body)
	}
	if f.RetryAfter > 0 {
		res.header = map[string]string{"Retry-After": retryAfterSeconds(f.RetryAfter)}
	}
	return res
}

// dropSCIM breaks the connection mid-response: the client reads a truncated
// status line, a network error that no HTTP client retries on its own.
func (s *Server) dropSCIM(w http.ResponseWriter, rec *SCIMRequest) {
	// Recorded before the client can see anything, so a test that reacts
	// to the answer finds the request in SCIMRequests.
	s.record(rec)
	if hj, ok := w.(http.Hijacker); ok {
		if c, buf, err := hj.Hijack(); err == nil {
			_, _ = buf.WriteString("HTTP/1.1 5")
			_ = buf.Flush()
			_ = c.Close()
		}
	}
}

func (s *Server) finishSCIM(w http.ResponseWriter, rec *SCIMRequest, res scimResult) {
	for k, v := range res.header {
		w.Header().Set(k, v)
	}
	rec.Status = res.status
	var buf bytes.Buffer
	if res.body != nil {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(res.body)
		rec.Response = buf.Bytes()
	}
	// Recorded before the answer is written, so a test that reacts to the
	// answer finds the request in SCIMRequests.
	s.record(rec)
	if res.body != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(res.status)
		_, _ = w.Write(buf.Bytes())
	} else {
		w.WriteHeader(res.status)
	}
}

func (s *Server) record(rec *SCIMRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scimReqs = append(s.scimReqs, *rec)
	c := &s.scimCounts
	c.Requests++
	if rec.Applied {
		c.Writes++
	}
	if rec.RateLimited {
		c.RateLimited++
	}
	if rec.Locked {
		c.Locked++
	}
	if rec.Injected {
		c.Injected++
	}
	s.notifyLocked()
}

func (s *Server) routeSCIM(ctx context.Context, method, rel string, q map[string][]string, body []byte) scimResult {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "ServiceProviderConfig" && method == "GET":
		return scimResult{status: 200, body: serviceProviderConfig}
	case parts[0] != "Users" || len(parts) > 2:
		return scimErr(http.StatusNotFound, "not_found")
	case len(parts) == 1 && method == "GET":
		return s.scimList(q)
	case len(parts) == 1 && method == "POST":
		return s.scimCreate(ctx, body)
	case len(parts) == 1:
		return scimErr(http.StatusMethodNotAllowed, "method_not_allowed")
	}
	id := parts[1]
	switch method {
	case "GET":
		s.mu.Lock()
		defer s.mu.Unlock()
		u, ok := s.userLocked(id)
		if !ok {
			return scimErr(http.StatusNotFound, "user_not_found")
		}
		return scimResult{status: 200, body: s.scimUserLocked(u)}
	case "PATCH":
		return s.scimWrite(ctx, id, func() scimResult { return s.scimPatchLocked(id, body) })
	case "PUT":
		return s.scimWrite(ctx, id, func() scimResult { return s.scimPutLocked(id, body) })
	case "DELETE":
		return s.scimWrite(ctx, id, func() scimResult { return s.scimDeleteLocked(id) })
	}
	return scimErr(http.StatusMethodNotAllowed, "method_not_allowed")
}

var serviceProviderConfig = map[string]any{
	"schemas":        []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
	"patch":          map[string]any{"supported": true},
	"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
	"filter":         map[string]any{"supported": true, "maxResults": 1000},
	"changePassword": map[string]any{"supported": false},
	"sort":           map[string]any{"supported": false},
	"etag":           map[string]any{"supported": false},
	"authenticationSchemes": []any{map[string]any{
		"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
		"description": "Authentication scheme using the OAuth Bearer Token Standard",
	}},
}

// scimWrite runs apply under the per-user lock key, after the configured
// latency, with s.mu held. A second write on the same key meanwhile gets
// Slack's 429.
func (s *Server) scimWrite(ctx context.Context, key string, apply func() scimResult) scimResult {
	s.mu.Lock()
	if s.userLocks[key] {
		s.mu.Unlock()
		res := scimErr(http.StatusTooManyRequests, "resource_locked")
		res.header = map[string]string{"Retry-After": "1"}
		res.locked = true
		return res
	}
	s.userLocks[key] = true
	s.notifyLocked()
	s.mu.Unlock()
	// The write completes even if the client gives up meanwhile, as a
	// server-side write would; only Close cuts the wait short.
	s.sleep(context.WithoutCancel(ctx), s.cfg.scimLatency)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.userLocks, key)
	res := apply()
	s.notifyLocked()
	return res
}

func splitName(real string) (given, family string) {
	f := strings.Fields(real)
	if len(f) == 0 {
		return "", ""
	}
	return f[0], strings.Join(f[1:], " ")
}

func (s *Server) scimUserLocked(u User) map[string]any {
	given, family := splitName(u.RealName)
	emails := []any{}
	if u.Email != "" {
		emails = append(emails, map[string]any{"value": u.Email, "primary": true})
	}
	schemas := []string{schemaUser}
	out := map[string]any{
		"id": u.ID, "externalId": "", "userName": u.Name, "nickName": u.Name,
		"name":        map[string]any{"givenName": given, "familyName": family, "formatted": u.RealName},
		"displayName": u.Name, "profileUrl": "https://" + TeamDomain + ".slack.com/team/" + u.Name,
		"title": "", "timezone": "Europe/London", "active": !u.Deleted, "emails": emails,
		"photos": []any{}, "groups": []any{},
		"meta": map[string]any{
			"created":      s.created[u.ID].UTC().Format(time.RFC3339),
			"location":     s.SCIMURL() + "Users/" + u.ID,
			"resourceType": "User",
		},
	}
	var roles []any
	for _, r := range []struct {
		on   bool
		name string
	}{{u.IsPrimaryOwner, "primary_owner"}, {u.IsOwner, "owner"}, {u.IsAdmin, "admin"}} {
		if r.on {
			roles = append(roles, map[string]any{"value": r.name, "primary": len(roles) == 0})
		}
	}
	if roles != nil {
		out["roles"] = roles
	}
	if u.IsRestricted {
		typ := "multi"
		if u.IsUltraRestricted {
			typ = "single"
		}
		schemas = append(schemas, schemaGuestExt)
		out[schemaGuestExt] = map[string]any{"type": typ}
	}
	out["schemas"] = schemas
	return out
}

var filterRE = regexp.MustCompile(`(?i)^\s*([a-z.]+)\s+eq\s+("(?:[^"\\]|\\.)*")\s*$`)

func (s *Server) scimList(q map[string][]string) scimResult {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	match := func(User) bool { return true }
	var indexed func() (User, bool) // a lookup that replaces the scan
	if f := get("filter"); f != "" {
		m := filterRE.FindStringSubmatch(f)
		var want string
		if m == nil || json.Unmarshal([]byte(m[2]), &want) != nil {
			return scimErr(http.StatusBadRequest, "invalid_filter")
		}
		switch strings.ToLower(m[1]) {
		case "username":
			indexed = func() (User, bool) { return s.userByNameLocked(want) }
		case "emails", "emails.value", "email":
			indexed = func() (User, bool) { return s.userByEmailLocked(want) }
		case "id":
			match = func(u User) bool { return u.ID == want }
		default:
			return scimErr(http.StatusBadRequest, "invalid_filter")
		}
	}
	start, count := 1, 10
	if v := get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return scimErr(http.StatusBadRequest, "invalid_start_index")
		}
		start = max(n, 1)
	}
	if v := get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return scimErr(http.StatusBadRequest, "invalid_count")
		}
		count = min(max(n, 0), 1000)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []User
	if indexed != nil {
		if u, ok := indexed(); ok {
			all = append(all, u)
		}
	} else {
		for _, u := range s.users {
			if match(u) {
				all = append(all, u)
			}
		}
	}
	res := []any{}
	for i := start - 1; i < len(all) && len(res) < count; i++ {
		res = append(res, s.scimUserLocked(all[i]))
	}
	return scimResult{status: 200, body: map[string]any{
		"schemas": []string{schemaList}, "totalResults": len(all), "itemsPerPage": len(res),
		"startIndex": start, "Resources": res,
	}}
}

// scimUserIn is the body of POST and PUT /Users.
type scimUserIn struct {
	UserName    *string `json:"userName"`
	DisplayName *string `json:"displayName"`
	Name        *struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Emails []struct {
		Value   string `json:"value"`
		Primary bool   `json:"primary"`
	} `json:"emails"`
	Active *bool `json:"active"`
	Guest  *struct {
		Type string `json:"type"`
	} `json:"urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User"`
}

func (in scimUserIn) email() string {
	for _, e := range in.Emails {
		if e.Primary {
			return e.Value
		}
	}
	if len(in.Emails) > 0 {
		return in.Emails[0].Value
	}
	return ""
}

var usernameBad = regexp.MustCompile(`[^a-z0-9._-]`)

// normalizeUsername applies Slack's rules: an email becomes its local part,
// letters are lowercased, other characters become "_".
func normalizeUsername(name string) (string, string) {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	name = usernameBad.ReplaceAllString(strings.ToLower(strings.TrimSpace(name)), "_")
	switch {
	case name == "":
		return "", "username_invalid"
	case len(name) > 21:
		return "", "username_too_long"
	}
	return name, ""
}

func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e {
		return false
	}
	at := strings.LastIndexByte(e, '@')
	return at > 0 && strings.Contains(e[at+1:], ".")
}

// checkTakenLocked reports a uniqueness conflict with a user other than id.
func (s *Server) checkTakenLocked(id, name, email string) (scimResult, bool) {
	detail := ""
	if o, ok := s.userByEmailLocked(email); ok && o.ID != id {
		detail = "email_taken"
	} else if o, ok := s.userByNameLocked(name); ok && o.ID != id {
		detail = "username_taken"
	}
	if detail == "" {
		return scimResult{}, false
	}
	r := scimErr(http.StatusConflict, detail)
	r.body.(map[string]any)["scimType"] = "uniqueness"
	return r, true
}

func (s *Server) scimCreate(ctx context.Context, body []byte) scimResult {
	var in scimUserIn
	if err := json.Unmarshal(body, &in); err != nil {
		return scimErr(http.StatusBadRequest, "invalid_json")
	}
	if in.UserName == nil {
		return scimErr(http.StatusBadRequest, "username_invalid")
	}
	name, e := normalizeUsername(*in.UserName)
	if e != "" {
		return scimErr(http.StatusBadRequest, e)
	}
	email := in.email()
	if !validEmail(email) {
		return scimErr(http.StatusBadRequest, "bad_email_address")
	}
	return s.scimWrite(ctx, "email:"+strings.ToLower(email), func() scimResult {
		if r, taken := s.checkTakenLocked("", name, email); taken {
			return r
		}
		u := User{ID: fmt.Sprintf("U0S%06d", s.nextLocked()), Name: name, Email: email, Updated: time.Now().Unix()}
		s.applyUserIn(&u, in)
		s.putUserLocked(u)
		s.created[u.ID] = time.Now().UTC().Truncate(time.Second)
		res := scimResult{status: http.StatusCreated, body: s.scimUserLocked(u), applied: true,
			header: map[string]string{"Location": s.SCIMURL() + "Users/" + u.ID}}
		if !u.Deleted {
			res.events = append(res.events, map[string]any{"type": "team_join", "user": u})
		}
		return res
	})
}

// applyUserIn copies the optional fields of in onto u.
func (s *Server) applyUserIn(u *User, in scimUserIn) {
	if in.Name != nil {
		u.RealName = strings.TrimSpace(in.Name.GivenName + " " + in.Name.FamilyName)
	}
	if u.RealName == "" && in.DisplayName != nil {
		u.RealName = *in.DisplayName
	}
	if in.Active != nil {
		u.Deleted = !*in.Active
	}
	if in.Guest != nil {
		u.IsRestricted = true
		u.IsUltraRestricted = in.Guest.Type == "single"
	}
}

// changeLocked validates and stores the new state of a user, returning the
// SCIM answer and Slack's user_change event.
func (s *Server) changeLocked(old, u User, status int) scimResult {
	if u.Deleted && !old.Deleted {
		switch {
		case old.IsPrimaryOwner:
			return scimErr(http.StatusForbidden, "cannot_disable_primary_owner")
		case old.IsBot:
			return scimErr(http.StatusForbidden, "cannot_disable_bot_user_with_scim")
		}
	}
	if r, taken := s.checkTakenLocked(u.ID, u.Name, u.Email); taken && (u.Name != old.Name || !strings.EqualFold(u.Email, old.Email)) {
		return r
	}
	res := scimResult{status: status, applied: true}
	if u != old {
		u.Updated = time.Now().Unix()
		s.putUserLocked(u)
		res.events = append(res.events, map[string]any{
			"type": "user_change", "user": u, "cache_ts": u.Updated,
		})
	}
	if status != http.StatusNoContent {
		res.body = s.scimUserLocked(u)
	}
	return res
}

func (s *Server) scimDeleteLocked(id string) scimResult {
	old, ok := s.userLocked(id)
	if !ok {
		return scimErr(http.StatusNotFound, "user_not_found")
	}
	u := old
	u.Deleted = true
	return s.changeLocked(old, u, http.StatusNoContent)
}

func (s *Server) scimPutLocked(id string, body []byte) scimResult {
	old, ok := s.userLocked(id)
	if !ok {
		return scimErr(http.StatusNotFound, "user_not_found")
	}
	var in scimUserIn
	if err := json.Unmarshal(body, &in); err != nil {
		return scimErr(http.StatusBadRequest, "invalid_json")
	}
	u := old
	if in.UserName != nil {
		name, e := normalizeUsername(*in.UserName)
		if e != "" {
			return scimErr(http.StatusBadRequest, e)
		}
		u.Name = name
	}
	if len(in.Emails) > 0 {
		if !validEmail(in.email()) {
			return scimErr(http.StatusBadRequest, "bad_email_address")
		}
		u.Email = in.email()
	}
	s.applyUserIn(&u, in)
	return s.changeLocked(old, u, http.StatusOK)
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// boolValue reads a PATCH value as a boolean: true, "true", "True" (Azure
// AD sends strings).
func boolValue(raw json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, true
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if v, err := strconv.ParseBool(strings.ToLower(str)); err == nil {
			return v, true
		}
	}
	return false, false
}

func (s *Server) scimPatchLocked(id string, body []byte) scimResult {
	old, ok := s.userLocked(id)
	if !ok {
		return scimErr(http.StatusNotFound, "user_not_found")
	}
	var in struct {
		Operations []patchOp `json:"Operations"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return scimErr(http.StatusBadRequest, "invalid_json")
	}
	if len(in.Operations) == 0 {
		return scimErr(http.StatusBadRequest, "no_operations")
	}
	u := old
	for _, op := range in.Operations {
		if o := strings.ToLower(op.Op); o != "replace" && o != "add" {
			return scimErr(http.StatusBadRequest, "unsupported_operation")
		}
		if op.Path == "" {
			var obj map[string]json.RawMessage
			if json.Unmarshal(op.Value, &obj) != nil {
				return scimErr(http.StatusBadRequest, "invalid_value")
			}
			for k, v := range obj {
				if r, bad := patchAttr(&u, k, v); bad {
					return r
				}
			}
			continue
		}
		if r, bad := patchAttr(&u, op.Path, op.Value); bad {
			return r
		}
	}
	return s.changeLocked(old, u, http.StatusOK)
}

// patchAttr applies one attribute of a PATCH; it reports a bad request.
func patchAttr(u *User, path string, v json.RawMessage) (scimResult, bool) {
	var str string
	strVal := func() bool { return json.Unmarshal(v, &str) == nil }
	switch p := strings.ToLower(path); {
	case p == "active":
		b, ok := boolValue(v)
		if !ok {
			return scimErr(http.StatusBadRequest, "invalid_value"), true
		}
		u.Deleted = !b
	case p == "username":
		if !strVal() {
			return scimErr(http.StatusBadRequest, "username_invalid"), true
		}
		name, e := normalizeUsername(str)
		if e != "" {
			return scimErr(http.StatusBadRequest, e), true
		}
		u.Name = name
	case p == "displayname":
		if !strVal() {
			return scimErr(http.StatusBadRequest, "invalid_display_name"), true
		}
		if len([]rune(str)) > 80 {
			return scimErr(http.StatusBadRequest, "invalid_display_name"), true
		}
	case p == "name.givenname", p == "name.familyname":
		if !strVal() {
			return scimErr(http.StatusBadRequest, "invalid_value"), true
		}
		given, family := splitName(u.RealName)
		if p == "name.givenname" {
			given = str
		} else {
			family = str
		}
		u.RealName = strings.TrimSpace(given + " " + family)
	case p == "name":
		var n struct{ GivenName, FamilyName string }
		if json.Unmarshal(v, &n) != nil {
			return scimErr(http.StatusBadRequest, "invalid_value"), true
		}
		u.RealName = strings.TrimSpace(n.GivenName + " " + n.FamilyName)
	case p == "emails" || strings.HasPrefix(p, "emails["):
		var in scimUserIn
		if strVal() {
			in.Emails = append(in.Emails, struct {
				Value   string `json:"value"`
				Primary bool   `json:"primary"`
			}{Value: str, Primary: true})
		} else if json.Unmarshal(v, &in.Emails) != nil {
			return scimErr(http.StatusBadRequest, "bad_email_address"), true
		}
		if !validEmail(in.email()) {
			return scimErr(http.StatusBadRequest, "bad_email_address"), true
		}
		u.Email = in.email()
	default:
		return scimErr(http.StatusBadRequest, "invalid_path"), true
	}
	return scimResult{}, false
}
