package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// auditBase is the fixed "now" of the format tests.
var auditBase = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// seedAudit creates a database at path holding four events before base,
// whose details try to forge lines, mention the channel, quote, and start
// formulas, and returns them as stored. It closes the database.
func seedAudit(t *testing.T, path string, base time.Time) []provisioning.AuditEvent {
	t.Helper()
	in := []provisioning.AuditEvent{
		{At: base.Add(-30 * provisioning.Day), Actor: "U111", Action: "assign", Email: "ada@example.com", Outcome: "ok",
			Detail: "onboarding\n2025-03-01T12:00:00Z  system  revoke  ok  ceo@example.com  forged"},
		{At: base.Add(-2 * provisioning.Day), Actor: "U222", Action: "request", Email: "bob@example.com", Outcome: "ok",
			Detail: `<!channel> said "hi", then left`},
		{At: base.Add(-time.Hour), Actor: "U333", Action: "revoke", Email: "eve@example.com", Outcome: "refused",
			Detail: `=HYPERLINK("http://evil.example","click")`},
		{At: base.Add(-time.Minute), Actor: "system", Action: "job.invite", Outcome: "failed",
			Detail: "-1 \x1b[31mred\x1b[0m \u202eevil"},
	}
	return appendAudit(t, path, in)
}

// appendAudit appends evs to the database at path in one transaction and
// returns them as stored, with their IDs.
func appendAudit(t *testing.T, path string, evs []provisioning.AuditEvent) []provisioning.AuditEvent {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := make([]provisioning.AuditEvent, 0, len(evs))
	err = db.Update(t.Context(), func(tx provisioning.Tx) error {
		for _, ev := range evs {
			ev, err := tx.AppendAudit(ev)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func exportString(t *testing.T, path string, opts AuditOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := exportAudit(t.Context(), path, opts, &out, 50*time.Millisecond); err != nil {
		t.Fatalf("exportAudit(%+v) = %v", opts, err)
	}
	return out.String()
}

func TestAuditText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	seedAudit(t, path, auditBase)

	got := exportString(t, path, AuditOptions{Format: AuditText})
	want := "" +
		`2025-01-30T12:00:00Z  U111         assign           ok       ada@example.com                 onboarding\n2025-03-01T12:00:00Z  system  revoke  ok  ceo@example.com  forged` + "\n" +
		`2025-02-27T12:00:00Z  U222         request          ok       bob@example.com                 <!channel> said "hi", then left` + "\n" +
		`2025-03-01T11:00:00Z  U333         revoke           refused  eve@example.com                 =HYPERLINK("http://evil.example","click")` + "\n" +
		`2025-03-01T11:59:00Z  system       job.invite       failed   -                               -1 \x1b[31mred\x1b[0m \u202eevil` + "\n"
	if diff := cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")); diff != "" {
		t.Errorf("text export mismatch (-want +got):\n%s", diff)
	}
	if strings.ContainsAny(got, "\x1b\r\u202e") {
		t.Errorf("text export = %q, want no escape, carriage return or bidi override", got)
	}
}

func TestAuditTextField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "-"},
		{"plain <!channel>, \"quoted\"", "plain <!channel>, \"quoted\""},
		{"a\nb\r\tc", `a\nb\r\tc`},
		{"\x1b[2J\x07\x7f", `\x1b[2J\x07\x7f`},
		{"\u009b31m", `\x9b31m`}, // the 8-bit CSI
		{"x\u2028y\u2029z", `x\u2028y\u2029z`},
		{"\u202eabc\u2066\u200f", `\u202eabc\u2066\u200f`},
		{"naïve café 😀", "naïve café 😀"},
	}
	for _, tt := range tests {
		if got := textField(tt.in); got != tt.want {
			t.Errorf("textField(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAuditCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	evs := seedAudit(t, path, auditBase)

	got := exportString(t, path, AuditOptions{Format: AuditCSV})
	recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV export does not parse: %v\n%s", err, got)
	}
	want := [][]string{
		{"time", "actor", "action", "email", "outcome", "detail", "id"},
		{"2025-01-30T12:00:00Z", "U111", "assign", "ada@example.com", "ok",
			"onboarding\n2025-03-01T12:00:00Z  system  revoke  ok  ceo@example.com  forged", evs[0].ID},
		{"2025-02-27T12:00:00Z", "U222", "request", "bob@example.com", "ok", `<!channel> said "hi", then left`, evs[1].ID},
		{"2025-03-01T11:00:00Z", "U333", "revoke", "eve@example.com", "refused", `'=HYPERLINK("http://evil.example","click")`, evs[2].ID},
		{"2025-03-01T11:59:00Z", "system", "job.invite", "", "failed", "'-1 \x1b[31mred\x1b[0m \u202eevil", evs[3].ID},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("CSV export mismatch (-want +got):\n%s", diff)
	}
}

func TestAuditCSVField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
		{"ada@example.com", "ada@example.com"},
	}
	for _, tt := range tests {
		if got := csvField(tt.in); got != tt.want {
			t.Errorf("csvField(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAuditJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	evs := seedAudit(t, path, auditBase)

	got := exportString(t, path, AuditOptions{Format: AuditJSON})
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("JSON export has %d lines, want one per event (%d):\n%s", len(lines), len(evs), got)
	}
	var dec []provisioning.AuditEvent
	for _, l := range lines {
		var ev provisioning.AuditEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		dec = append(dec, ev)
	}
	if diff := cmp.Diff(evs, dec); diff != "" {
		t.Errorf("JSON export mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(lines[1], `"detail":"<!channel> said \"hi\", then left"`) {
		t.Errorf("JSON line = %s, want <!channel> unescaped", lines[1])
	}
	if !strings.Contains(lines[0], `"at":"2025-01-30T12:00:00Z"`) {
		t.Errorf("JSON line = %s, want the time in UTC", lines[0])
	}
}

// auditEnv is a getenv naming the database at path.
func auditEnv(path string) func(string) string {
	return func(k string) string {
		if k == "ROSTER_DB" {
			return path
		}
		return ""
	}
}

func runAudit(t *testing.T, path string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(append([]string{"audit"}, args...), auditEnv(path), &out, &errOut)
	return code, out.String(), errOut.String()
}

func actions(t *testing.T, jsonl string) []string {
	t.Helper()
	var out []string
	dec := json.NewDecoder(strings.NewReader(jsonl))
	for {
		var ev provisioning.AuditEvent
		if err := dec.Decode(&ev); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Action)
	}
}

func TestAuditSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	seedAudit(t, path, time.Now()) // 30d, 2d, 1h and 1m ago
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"assign", "request", "revoke", "job.invite"}},
		{[]string{"--since", "2w"}, []string{"request", "revoke", "job.invite"}},
		{[]string{"--since=3d"}, []string{"request", "revoke", "job.invite"}},
		{[]string{"-since", "90m"}, []string{"revoke", "job.invite"}},
		{[]string{"-since=10m"}, []string{"job.invite"}},
		{[]string{"--since", "30s"}, nil},
	}
	for _, tt := range tests {
		args := append([]string{"--format", "json"}, tt.args...)
		code, out, errOut := runAudit(t, path, args...)
		if code != 0 {
			t.Fatalf("roster audit %q = exit %d, want 0; stderr: %s", args, code, errOut)
		}
		if diff := cmp.Diff(tt.want, actions(t, out)); diff != "" {
			t.Errorf("roster audit %q: actions mismatch (-want +got):\n%s", args, diff)
		}
	}
}

func TestAuditArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want auditArgs
	}{
		{"defaults", nil, auditArgs{Format: AuditText}},
		{"since", []string{"--since", "7d"}, auditArgs{Since: 7 * provisioning.Day, Format: AuditText}},
		{"equals", []string{"--since=7d", "--format=csv"}, auditArgs{Since: 7 * provisioning.Day, Format: AuditCSV}},
		{"format first", []string{"--format", "json", "--since", "12h"}, auditArgs{Since: 12 * time.Hour, Format: AuditJSON}},
		{"single dash", []string{"-format", "csv", "-since", "2w"}, auditArgs{Since: 2 * provisioning.Week, Format: AuditCSV}},
		{"last wins", []string{"--format", "csv", "--format", "text"}, auditArgs{Format: AuditText}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuditArgs(tt.args)
			if err != nil {
				t.Fatalf("parseAuditArgs(%q) = %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseAuditArgs(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestAuditBadArgs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db") // never created
	tests := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"unknown flag", []string{"--bogus"}, []string{"flag provided but not defined: -bogus", auditUsage}},
		{"argument", []string{"extra"}, []string{`unexpected argument "extra"`, auditUsage}},
		{"argument after flags", []string{"--since", "7d", "extra"}, []string{`unexpected argument "extra"`, auditUsage}},
		{"argument before flags", []string{"extra", "--since", "7d"}, []string{`unexpected argument "extra"`, auditUsage}},
		{"after --", []string{"--", "--since", "7d"}, []string{`unexpected argument "--since"`, auditUsage}},
		{"missing value", []string{"--since"}, []string{"flag needs an argument: -since", auditUsage}},
		{"bad format", []string{"--format", "xml"}, []string{`unknown format "xml"`, auditUsage}},
		{"bad duration", []string{"--since", "7x"}, []string{`invalid duration "7x"`, "e.g. 90s, 30m, 12h, 7d, 2w"}},
		{"negative duration", []string{"--since=-7d"}, []string{`invalid duration "-7d": use a positive duration`}},
		{"empty duration", []string{"--since="}, []string{`invalid duration ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runAudit(t, path, tt.args...)
			if code != 2 {
				t.Errorf("roster audit %q = exit %d, want 2", tt.args, code)
			}
			if out != "" {
				t.Errorf("roster audit %q wrote %q to stdout, want nothing", tt.args, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("roster audit %q: stderr = %q, want it to contain %q", tt.args, errOut, w)
				}
			}
		})
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad usage touched the database: stat = %v", err)
	}
	if code, out, _ := runAudit(t, path, "--help"); code != 0 || !strings.Contains(out, auditUsage) {
		t.Errorf("roster audit --help = exit %d, stdout %q; want 0 and the usage", code, out)
	}
}

// TestAuditOnlineMatchesOffline exports the same data with the database
// closed (the command opens it) and held by a process serving the control
// socket (the command asks it), and wants identical output.
func TestAuditOnlineMatchesOffline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	now := time.Now()
	seedAudit(t, path, now)
	// More than one batch, several events per timestamp, so that paging
	// happens on both paths.
	var filler []provisioning.AuditEvent
	for i := range auditBatch + 500 {
		filler = append(filler, provisioning.AuditEvent{
			At: now.Add(-10*provisioning.Day + time.Duration(i/3)*time.Millisecond), Actor: "system",
			Action: "job.retry", Email: fmt.Sprintf("p%04d@example.com", i), Outcome: "retry", Detail: "filler"})
	}
	appendAudit(t, path, filler)

	argSets := [][]string{
		{"--format", "text"},
		{"--format", "csv"},
		{"--format", "json"},
		{"--since", "7d", "--format", "csv"},
		{"--format=json", "--since=2w"},
	}
	offline := make([]string, len(argSets))
	for i, args := range argSets {
		code, out, errOut := runAudit(t, path, args...)
		if code != 0 {
			t.Fatalf("offline roster audit %q = exit %d; stderr: %s", args, code, errOut)
		}
		offline[i] = out
	}

	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctl, err := listenControl(path, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	for i, args := range argSets {
		// The database is held open here, so only the control socket can
		// answer.
		code, out, errOut := runAudit(t, path, args...)
		if code != 0 {
			t.Fatalf("online roster audit %q = exit %d; stderr: %s", args, code, errOut)
		}
		if out != offline[i] {
			t.Errorf("roster audit %q: online output differs from offline:\n%s", args,
				cmp.Diff(strings.Split(offline[i], "\n"), strings.Split(out, "\n")))
		}
	}
	if n := strings.Count(offline[0], "\n"); n != 4+len(filler) {
		t.Errorf("text export has %d lines, want %d", n, 4+len(filler))
	}
	if got := actions(t, offline[4]); len(got) != 3+len(filler) { // not the one 30 days ago
		t.Errorf("--since=2w exported %d events, want %d", len(got), 3+len(filler))
	}
	if n := strings.Count(offline[3], "\n"); n != 1+3 {
		t.Errorf("--since 7d CSV has %d lines, want a header and 3 events:\n%s", n, offline[3])
	}
}

func TestAuditDatabaseInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	seedAudit(t, path, auditBase)
	db, err := store.Open(path, store.Options{}) // held, with no control socket
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	err = exportAudit(t.Context(), path, AuditOptions{}, &out, 50*time.Millisecond)
	if !errors.Is(err, store.ErrInUse) {
		t.Fatalf("exportAudit() = %v, want ErrInUse", err)
	}
	for _, w := range []string{"database is in use by another process", "no running roster answers on " + ControlPath(path)} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("exportAudit() = %q, want it to say %q", err, w)
		}
	}
}

func TestAuditNoDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	code, out, errOut := runAudit(t, path)
	if code != 1 || out != "" || !strings.Contains(errOut, "no database at "+path) {
		t.Errorf("roster audit = exit %d, stdout %q, stderr %q; want 1, nothing, and no database at %s", code, out, errOut, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("roster audit created the database: stat = %v", err)
	}
}

// TestAuditFromBotErrors runs fake bots on the control socket.
func TestAuditFromBotErrors(t *testing.T) {
	line := `{"id":"01","at":"2025-03-01T12:00:00Z","actor":"U1","action":"assign","outcome":"ok"}` + "\n"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantOut string
		wantErr string
	}{
		{"cut short", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, line)
		}, line, "the export was cut short (did the bot stop?)"},
		{"cut mid-line", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", auditStatusTrailer)
			io.WriteString(w, line+`{"id":"02","at":`)
			w.Header().Set(auditStatusTrailer, "ok")
		}, line, "the export was cut short: unexpected EOF"},
		{"error trailer", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", auditStatusTrailer)
			io.WriteString(w, line)
			w.Header().Set(auditStatusTrailer, "error: store: decode audit event 00: boom")
		}, line, "audit through the running bot: error: store: decode audit event 00: boom"},
		{"older bot", http.NotFound, "", "older roster without audit export"},
		{"complete", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", auditStatusTrailer)
			io.WriteString(w, line)
			w.Header().Set(auditStatusTrailer, "ok")
		}, line, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "roster.db")
			ln, err := net.Listen("unix", ControlPath(path))
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: tt.handler}
			go srv.Serve(ln)
			defer srv.Close()

			var out bytes.Buffer
			err = ExportAudit(t.Context(), path, AuditOptions{Format: AuditJSON}, &out)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ExportAudit() = %v, want %q", err, tt.wantErr)
			}
			if out.String() != tt.wantOut {
				t.Errorf("ExportAudit() wrote %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestAuditHandlerBadSince(t *testing.T) {
	rec := httptest.NewRecorder()
	auditHandler(nil, slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/audit?since=yesterday", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("GET /audit?since=yesterday = %d, want 400", rec.Code)
	}
}

// countingViewer counts read transactions.
type countingViewer struct {
	db    *store.DB
	views int
}

func (c *countingViewer) View(ctx context.Context, fn func(provisioning.ReadTx) error) error {
	c.views++
	return c.db.View(ctx, fn)
}

// TestAuditPaging walks more than two batches, with runs of events that
// share one timestamp across the batch boundaries, and appends an event in
// the middle of the walk: a writer is never blocked by the export.
func TestAuditPaging(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	var in []provisioning.AuditEvent
	for i := range 2*auditBatch + 500 {
		in = append(in, provisioning.AuditEvent{At: auditBase.Add(time.Duration(i/700) * time.Second),
			Actor: "system", Action: "job.retry", Detail: fmt.Sprint(i), Outcome: "retry"})
	}
	want := appendAudit(t, path, in)
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	v := &countingViewer{db: db}
	var got []provisioning.AuditEvent
	err = forEachAudit(t.Context(), v, time.Time{}, func(ev provisioning.AuditEvent) error {
		if len(got) == auditBatch+1 {
			err := db.Update(t.Context(), func(tx provisioning.Tx) error {
				ev, err := tx.AppendAudit(provisioning.AuditEvent{At: auditBase.Add(time.Hour), Actor: "U1", Action: "late", Outcome: "ok"})
				want = append(want, ev)
				return err
			})
			if err != nil {
				return err
			}
		}
		got = append(got, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("forEachAudit() = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("forEachAudit() mismatch (-want +got):\n%s", diff)
	}
	if v.views != 3 {
		t.Errorf("forEachAudit() used %d read transactions, want 3 of at most %d events", v.views, auditBatch)
	}

	got = nil
	since := auditBase.Add(2 * time.Second) // from event 1400 on
	err = forEachAudit(t.Context(), db, since, func(ev provisioning.AuditEvent) error {
		got = append(got, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("forEachAudit(since) = %v", err)
	}
	if diff := cmp.Diff(want[1400:], got); diff != "" {
		t.Errorf("forEachAudit(since) mismatch (-want +got):\n%s", diff)
	}
}
