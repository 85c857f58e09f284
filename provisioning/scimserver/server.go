// Package scimserver is Roster's SCIM 2.0 service provider (RFC 7643,
// RFC 7644): the endpoint an identity provider (Okta, Entra ID, JumpCloud,
// OneLogin) pushes the organization's directory to.
//
// It serves /scim/v2/Users, /Groups, /ServiceProviderConfig,
// /ResourceTypes and /Schemas behind a bearer token. Users are Roster's
// directory people, groups its directory groups; every write becomes one
// provisioning.DirectoryChange (By "scim"), so the directory's rules —
// who is entitled, which Slack accounts are invited or deactivated, which
// changes are held for an admin — apply to SCIM exactly as to a file
// import. Reads come straight from the store.
//
// What a user becomes in Roster:
//   - email: the primary email, else the work one, else the first, else
//     userName when it is an email address; it is unique;
//   - name: name.formatted, else displayName, else givenName familyName;
//   - status: active false is a disabled directory account;
//   - org unit: the configured attribute (the enterprise extension's
//     department by default), "Engineering/Platform" stored as
//     "/Engineering/Platform".
//
// Group members are user ids in SCIM and emails in a DirectoryChange.
package scimserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/roster-app/roster/provisioning"
)

// Directory is the part of *provisioning.Service the server writes
// through.
type Directory interface {
	ApplyDirectory(ctx context.Context, ch provisioning.DirectoryChange) (provisioning.DirectoryResult, error)
}

// Reader is the part of the store the server reads through.
type Reader interface {
	View(ctx context.Context, fn func(provisioning.ReadTx) error) error
}

// Options configure the server.
type Options struct {
	// Token is the bearer token clients must send. It is compared in
	// constant time and never logged. Empty refuses every request.
	Token string
	// OrgUnitAttribute names the attribute a user's org unit is read
	// from; DefaultOrgUnitAttribute when empty. See
	// ValidateOrgUnitAttribute.
	OrgUnitAttribute string
	// Log receives one line per request (writes at Info, reads at
	// Debug, failures at Error); nil discards.
	Log *slog.Logger
	// BaseURL is the public URL of the SCIM root, such as
	// https://roster.example.com/scim/v2, for meta.location and Location
	// headers. Empty: http(s)://Host/scim/v2 from the request.
	BaseURL string
}

const (
	prefix       = "/scim/v2"
	maxBody      = 1 << 20 // bytes in a request body
	defaultCount = 100
	maxCount     = 1000
	contentType  = "application/scim+json"
)

type server struct {
	dir      Directory
	db       Reader
	log      *slog.Logger
	tokenSum [32]byte
	hasToken bool
	baseURL  string
	user     *resourceType
	group    *resourceType

	// writeMu serializes writes, so that the checks before a write
	// (uniqueness, the members a PATCH starts from) still hold when it
	// is applied.
	writeMu sync.Mutex
	idx     index
}

// New returns the SCIM service provider, serving under /scim/v2/. It
// panics if opts.OrgUnitAttribute is invalid (check it with
// ValidateOrgUnitAttribute when loading the configuration).
func New(dir Directory, reader Reader, opts Options) http.Handler {
	name := opts.OrgUnitAttribute
	if name == "" {
		name = DefaultOrgUnitAttribute
	}
	ou, err := parseOrgUnitAttr(name)
	if err != nil {
		panic("scimserver: " + err.Error())
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{
		dir:      dir,
		db:       reader,
		log:      log,
		hasToken: opts.Token != "",
		tokenSum: sha256.Sum256([]byte(opts.Token)),
		baseURL:  strings.TrimRight(opts.BaseURL, "/"),
	}
	s.user, s.group = resourceTypes(ou)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	err := s.route(sw, r)
	if err != nil {
		s.writeError(sw, r, err)
	}
	level := slog.LevelDebug
	if r.Method != http.MethodGet {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path), // ids only: filters (emails) stay out
		slog.Int("status", sw.status),
		slog.Duration("took", time.Since(start)),
	}
	var se *scimError
	switch {
	case sw.status >= 500:
		level = slog.LevelError
		attrs = append(attrs, slog.Any("err", err))
	case errors.As(err, &se):
		if se.scimType != "" {
			attrs = append(attrs, slog.String("scim_type", se.scimType))
		}
		// A refusal's detail may quote a userName or an email.
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			attrs = append(attrs, slog.String("detail", se.detail))
		}
	}
	s.log.LogAttrs(r.Context(), level, "scim request", attrs...)
}

func (s *server) route(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return errorf(http.StatusNotFound, "", "no SCIM endpoint at %s; the root is %s/", r.URL.Path, prefix)
	}
	if err := s.authenticate(r); err != nil {
		return err
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	if len(segs) > 2 {
		return errorf(http.StatusNotFound, "", "no SCIM endpoint at %s", r.URL.Path)
	}
	id := ""
	if len(segs) == 2 {
		id = segs[1]
	}
	switch strings.ToLower(segs[0]) {
	case "users":
		return s.resource(w, r, s.user, id, userHandlers{s})
	case "groups":
		return s.resource(w, r, s.group, id, groupHandlers{s})
	case "serviceproviderconfig":
		if id != "" {
			break
		}
		return s.discovery(w, r, s.serviceProviderConfig)
	case "resourcetypes":
		return s.discovery(w, r, func(r *http.Request) (any, error) { return s.resourceTypes(r, id) })
	case "schemas":
		return s.discovery(w, r, func(r *http.Request) (any, error) { return s.schemas(r, id) })
	case ".search", "bulk", "me":
		if id == "" {
			return errorf(http.StatusNotImplemented, "", "%s is not supported (see /ServiceProviderConfig)", segs[0])
		}
	}
	return errorf(http.StatusNotFound, "", "no SCIM endpoint at %s", r.URL.Path)
}

// handlers are the operations on one resource type.
type handlers interface {
	list(w http.ResponseWriter, r *http.Request) error
	create(w http.ResponseWriter, r *http.Request) error
	get(w http.ResponseWriter, r *http.Request, id string) error
	replace(w http.ResponseWriter, r *http.Request, id string) error
	patch(w http.ResponseWriter, r *http.Request, id string) error
	delete(w http.ResponseWriter, r *http.Request, id string) error
}

func (s *server) resource(w http.ResponseWriter, r *http.Request, rt *resourceType, id string, h handlers) error {
	if id == "" {
		switch r.Method {
		case http.MethodGet:
			return h.list(w, r)
		case http.MethodPost:
			return h.create(w, r)
		}
		return methodNotAllowed(w, r, "GET, POST")
	}
	switch r.Method {
	case http.MethodGet:
		return h.get(w, r, id)
	case http.MethodPut:
		return h.replace(w, r, id)
	case http.MethodPatch:
		return h.patch(w, r, id)
	case http.MethodDelete:
		return h.delete(w, r, id)
	case http.MethodPost:
		if id == ".search" {
			return errorf(http.StatusNotImplemented, "", "POST %s/.search is not supported: use GET %s?filter=", rt.Endpoint, rt.Endpoint)
		}
	}
	return methodNotAllowed(w, r, "GET, PUT, PATCH, DELETE")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	w.Header().Set("Allow", allow)
	return errorf(http.StatusMethodNotAllowed, "", "%s is not allowed here; use %s", r.Method, allow)
}

// authenticate checks the bearer token. Both sides are hashed first so
// the comparison takes the same time whatever the token's length.
func (s *server) authenticate(r *http.Request) error {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return &scimError{status: http.StatusUnauthorized, wwwAuth: `Bearer realm="roster"`,
			detail: "authentication required: send Authorization: Bearer followed by the token set in ROSTER_SCIM_TOKEN"}
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) != 1 || !s.hasToken {
		return &scimError{status: http.StatusUnauthorized, wwwAuth: `Bearer realm="roster", error="invalid_token"`,
			detail: "the bearer token is not valid"}
	}
	return nil
}

// scimError is an error response (RFC 7644 §3.12).
type scimError struct {
	status   int
	scimType string
	detail   string
	wwwAuth  string
}

func (e *scimError) Error() string { return e.detail }

func errorf(status int, scimType, format string, args ...any) *scimError {
	return &scimError{status: status, scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

func notFound(rt *resourceType, id string) *scimError {
	return errorf(http.StatusNotFound, "", "%s %s not found", rt.Name, id)
}

// writeError answers err as RFC 7644 §3.12 says, mapping the domain's
// sentinels; anything else is a 500 whose cause goes to the log only.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var se *scimError
	switch {
	case errors.As(err, &se):
	// A record the directory refuses wraps ErrInvalid and, more
	// precisely, ErrDuplicate or ErrNotFound: those are checked first.
	case errors.Is(err, provisioning.ErrDuplicate), errors.Is(err, provisioning.ErrEmailTaken), errors.Is(err, provisioning.ErrUsernameTaken):
		se = errorf(http.StatusConflict, "uniqueness", "%s", err.Error())
	case errors.Is(err, provisioning.ErrNotFound):
		se = errorf(http.StatusNotFound, "", "%s", err.Error())
	case errors.Is(err, provisioning.ErrInvalid):
		se = errorf(http.StatusBadRequest, "invalidValue", "%s", reason(err))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		se = errorf(http.StatusServiceUnavailable, "", "the request was cancelled; retry it")
	default:
		se = errorf(http.StatusInternalServerError, "", "internal error; the details are in Roster's log")
	}
	if se.wwwAuth != "" {
		w.Header().Set("WWW-Authenticate", se.wwwAuth)
	}
	body := struct {
		Schemas  []string `json:"schemas"`
		Status   string   `json:"status"`
		ScimType string   `json:"scimType,omitempty"`
		Detail   string   `json:"detail,omitempty"`
	}{[]string{errorSchema}, strconv.Itoa(se.status), se.scimType, se.detail}
	writeJSON(w, se.status, body)
}

// reason is err's text without the ": invalid input" that the domain's
// sentinel adds.
func reason(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+provisioning.ErrInvalid.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing left to tell it
}

// writeResource answers one resource, with its Location (RFC 7644 §3.1).
func writeResource(w http.ResponseWriter, r *http.Request, rt *resourceType, status int, d map[string]any) {
	if m, ok := d["meta"].(map[string]any); ok {
		if loc, ok := m["location"].(string); ok {
			w.Header().Set("Location", loc)
		}
	}
	q := r.URL.Query()
	writeJSON(w, status, rt.project(d, q.Get("attributes"), q.Get("excludedAttributes")))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// decode reads a JSON request body of at most maxBody bytes into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != contentType && mt != "application/json") {
			return errorf(http.StatusUnsupportedMediaType, "", "send the body as %s (or application/json), not %q", contentType, ct)
		}
	}
	tooLarge := errorf(http.StatusRequestEntityTooLarge, "", "the request body is larger than %d bytes", maxBody)
	if r.ContentLength > maxBody {
		return tooLarge
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "invalidSyntax", "the request body is empty")
	case err != nil:
		return errorf(http.StatusBadRequest, "invalidSyntax", "the request body is not a valid JSON object: %v", err)
	}
	return nil
}

// decodeResource reads a User or Group body, canonicalizing its names.
func decodeResource(w http.ResponseWriter, r *http.Request, rt *resourceType) (map[string]any, error) {
	var d map[string]any
	if err := decode(w, r, &d); err != nil {
		return nil, err
	}
	if d == nil {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the request body must be a JSON object")
	}
	return rt.canonicalResource(d), nil
}

func (s *server) base(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + prefix
}

// page is a list request's startIndex and count (RFC 7644 §3.4.2.4).
type page struct{ start, count int }

func pageOf(q url.Values) (page, error) {
	p := page{start: 1, count: defaultCount}
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, errorf(http.StatusBadRequest, "invalidValue", "startIndex %q is not an integer", v)
		}
		p.start = max(n, 1) // less than 1 is 1 (RFC 7644 §3.4.2.4)
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, errorf(http.StatusBadRequest, "invalidValue", "count %q is not an integer", v)
		}
		p.count = min(max(n, 0), maxCount) // negative is 0
	}
	return p, nil
}

// lister collects one page of the resources that match.
type lister struct {
	page
	total     int
	resources []any
}

// offer counts one matching resource and keeps it if it is on the page;
// render is called only then.
func (l *lister) offer(render func() map[string]any) {
	l.total++
	if l.total >= l.start && len(l.resources) < l.count {
		l.resources = append(l.resources, render())
	}
}

func writeList(w http.ResponseWriter, l *lister) {
	resources := l.resources
	if resources == nil {
		resources = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{listSchema},
		"totalResults": l.total,
		"itemsPerPage": len(resources),
		"startIndex":   l.start,
		"Resources":    resources,
	})
}

// apply makes one directory change. A change whose deactivations are
// held for an admin's confirmation was still recorded: SCIM has no such
// state, so it is a success here, and App Home shows the held list.
func (s *server) apply(ctx context.Context, ch provisioning.DirectoryChange) error {
	res, err := s.dir.ApplyDirectory(ctx, ch)
	if err != nil && !errors.Is(err, provisioning.ErrHeld) {
		return err
	}
	if res.Held != nil || err != nil {
		attrs := []any{"cause", ch.Cause}
		if res.Held != nil {
			attrs = append(attrs, "held", res.Held.ID, "deactivations", len(res.Held.Emails))
		}
		s.log.InfoContext(ctx, "scim change held for an admin's confirmation in App Home", attrs...)
	}
	return nil
}

// project applies the attributes and excludedAttributes parameters (RFC
// 7644 §3.4.2.5) to top-level attributes: naming a sub-attribute keeps or
// drops the whole attribute, except that an excluded extension attribute
// is dropped alone. id and schemas are always returned.
func (rt *resourceType) project(d map[string]any, attributes, excluded string) map[string]any {
	if attributes == "" && excluded == "" {
		return d
	}
	out := make(map[string]any, len(d))
	if attributes != "" {
		out["id"], out["schemas"] = d["id"], d["schemas"]
		for _, name := range strings.Split(attributes, ",") {
			if r, ok := rt.lookupName(name); ok {
				key := r.a.Name
				if r.urn != "" {
					key = r.urn
				}
				if v, ok := d[key]; ok {
					out[key] = v
				}
			}
		}
		for k, v := range out {
			if v == nil {
				delete(out, k)
			}
		}
	} else {
		for k, v := range d {
			out[k] = v
		}
	}
	for _, name := range strings.Split(excluded, ",") {
		r, ok := rt.lookupName(name)
		if !ok || r.a.Returned == "always" {
			continue
		}
		if r.urn == "" {
			delete(out, r.a.Name)
			continue
		}
		if ext, ok := out[r.urn].(map[string]any); ok {
			rest := make(map[string]any, len(ext))
			for k, v := range ext {
				if k != r.a.Name {
					rest[k] = v
				}
			}
			if len(rest) == 0 {
				delete(out, r.urn)
			} else {
				out[r.urn] = rest
			}
		}
	}
	return out
}

// listResources answers GET /Users or /Groups: the filter is parsed; an
// indexed lookup (userName eq, externalId eq…) reads only the resources
// it finds, anything else walks them all; then the page is projected to
// the attributes asked for.
func listResources[T any](w http.ResponseWriter, r *http.Request, s *server, rt *resourceType, allowed map[string]bool,
	doc func(T, string) map[string]any,
	all func(provisioning.ReadTx, func(T) error) error,
	found func(provisioning.ReadTx, []probe) ([]T, error),
) error {
	q := r.URL.Query()
	pg, err := pageOf(q)
	if err != nil {
		return err
	}
	e, err := rt.parseFilter(q.Get("filter"))
	if err != nil {
		return err
	}
	base := s.base(r)
	sc := scope{rt: rt}
	var l lister
	offer := func(v T) {
		if e == nil {
			l.offer(func() map[string]any { return doc(v, base) })
			return
		}
		if d := doc(v, base); sc.match(e, d) {
			l.offer(func() map[string]any { return d })
		}
	}
	var probes []probe
	indexed := false
	if e != nil {
		probes, indexed = rt.probes(e, allowed)
	}
	if indexed {
		if err := s.ensureIndex(r.Context()); err != nil {
			return err
		}
	}
	err = s.db.View(r.Context(), func(tx provisioning.ReadTx) error {
		l = lister{page: pg}
		if !indexed {
			return all(tx, func(v T) error { offer(v); return nil })
		}
		vs, err := found(tx, probes)
		for _, v := range vs {
			offer(v)
		}
		return err
	})
	if err != nil {
		return err
	}
	for i, d := range l.resources {
		l.resources[i] = rt.project(d.(map[string]any), q.Get("attributes"), q.Get("excludedAttributes"))
	}
	writeList(w, &l)
	return nil
}
