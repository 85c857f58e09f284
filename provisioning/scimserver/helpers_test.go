package scimserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/roster-app/roster/provisioning/scimserver"
)

const token = "scim-test-token-7f3a"

// env is the server over real HTTP, against a fake directory.
type env struct {
	t    *testing.T
	dir  *fakeDir
	url  string
	logs *syncBuffer
}

func newEnv(t *testing.T, opts scimserver.Options) *env {
	t.Helper()
	dir := newFakeDir()
	logs := &syncBuffer{}
	if opts.Token == "" {
		opts.Token = token
	}
	opts.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(scimserver.New(dir, dir, opts))
	t.Cleanup(srv.Close)
	return &env{t: t, dir: dir, url: srv.URL, logs: logs}
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request with the right bearer token. path is relative to
// /scim/v2 and may carry a query written plainly (spaces, quotes).
func (e *env) do(method, path, body string) response {
	e.t.Helper()
	return e.send(method, path, body, "Bearer "+token, "application/scim+json")
}

func (e *env) send(method, path, body, auth, ctype string) response {
	e.t.Helper()
	u := e.url + "/scim/v2" + path
	if p, q, ok := strings.Cut(path, "?"); ok {
		vals, err := url.ParseQuery(q)
		if err != nil {
			// A plain query: encode each name=value pair.
			vals = url.Values{}
			for _, kv := range strings.Split(q, "&") {
				k, v, _ := strings.Cut(kv, "=")
				vals.Add(k, v)
			}
		}
		u = e.url + "/scim/v2" + p + "?" + vals.Encode()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" && ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

// want fails the test unless r has status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body:\n%s", r.status, status, r.raw)
	}
	return r
}

// wantError checks an RFC 7644 §3.12 error response.
func (r response) wantError(t *testing.T, status int, scimType string) {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type = %q, want application/scim+json", ct)
	}
	if got := r.body["schemas"]; !equalJSON(got, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}) {
		t.Errorf("schemas = %v, want the Error schema", got)
	}
	if got, want := r.body["status"], strconv.Itoa(status); got != want {
		t.Errorf("status attribute = %#v, want %q (a string)", got, want)
	}
	if got, _ := r.body["scimType"].(string); got != scimType {
		t.Errorf("scimType = %q, want %q (detail %q)", got, scimType, r.body["detail"])
	}
	if d, _ := r.body["detail"].(string); d == "" {
		t.Errorf("detail is empty")
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// id returns the resource's id.
func (r response) id() string {
	s, _ := r.body["id"].(string)
	return s
}

// resources returns a ListResponse's Resources.
func (r response) resources() []map[string]any {
	list, _ := r.body["Resources"].([]any)
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i], _ = x.(map[string]any)
	}
	return out
}

// field returns the value at a dotted path of r's body.
func (r response) field(path string) any {
	return fieldOf(r.body, path)
}

func fieldOf(m map[string]any, path string) any {
	var v any = m
	for _, k := range splitPath(path) {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			if err := json.Unmarshal([]byte(k), &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// splitPath splits on dots, keeping URNs (which contain dots in their
// version, 2.0) whole: "urn:…:2.0:User.department" → [urn…User, department].
func splitPath(p string) []string {
	if strings.HasPrefix(p, "urn:") {
		i := strings.LastIndex(p, ":")
		j := strings.Index(p[i:], ".")
		if j < 0 {
			return []string{p}
		}
		return append([]string{p[:i+j]}, splitPath(p[i+j+1:])...)
	}
	return strings.Split(p, ".")
}

// body reads testdata/name.jsonc, drops its leading // comment lines and
// replaces each placeholder old with new.
func body(t *testing.T, name string, oldnew ...string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".jsonc"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	comments := true
	for _, l := range strings.Split(string(raw), "\n") {
		if comments && strings.HasPrefix(strings.TrimSpace(l), "//") {
			continue
		}
		comments = false
		lines = append(lines, l)
	}
	if !strings.HasPrefix(string(raw), "// Source: ") {
		t.Fatalf("testdata/%s.jsonc must start with a // Source: line", name)
	}
	s := strings.NewReplacer(oldnew...).Replace(strings.Join(lines, "\n"))
	if !json.Valid([]byte(s)) {
		t.Fatalf("testdata/%s.jsonc is not valid JSON after its comments", name)
	}
	return s
}

// user creates a user with POST /Users and returns its id.
func (e *env) user(userName, email, name string) string {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"name":     map[string]any{"formatted": name},
		"emails":   []any{map[string]any{"value": email, "type": "work", "primary": true}},
		"active":   true,
	})
	r := e.do("POST", "/Users", string(b)).want(e.t, http.StatusCreated)
	return r.id()
}

// group creates a group with POST /Groups and returns its id.
func (e *env) group(name string, members ...string) string {
	e.t.Helper()
	ms := []any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	b, _ := json.Marshal(map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": name,
		"members":     ms,
	})
	return e.do("POST", "/Groups", string(b)).want(e.t, http.StatusCreated).id()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
