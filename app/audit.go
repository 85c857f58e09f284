package app

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// `roster audit` prints the audit log, oldest first, in one of three
// formats:
//
//   - text: one line per event, for people: the time (RFC 3339, UTC, to the
//     second), actor, action, outcome, email and detail, in columns padded
//     to fixed widths (a longer value pushes the rest of its line right; an
//     empty value is "-"). Control characters, and the Unicode marks that
//     reorder text or break lines, are written as escapes such as \n, \x1b
//     or \u202e, so a reason cannot forge a line or colour the terminal.
//     Text is for reading; csv and json are exact.
//   - csv: RFC 4180 with the header time,actor,action,email,outcome,detail,id
//     (time to the nanosecond, UTC). A field that starts with =, +, -, @, a
//     tab or a carriage return gets a leading ' so that a spreadsheet shows
//     it as text rather than running it as a formula (CSV injection); strip
//     that quote to recover the stored value.
//   - json: JSON Lines, one provisioning.AuditEvent object per line (time
//     in UTC), not one array: each event is written as soon as it is read,
//     so an export of millions of events streams in constant memory and can
//     be piped to jq or split at any line.
//
// Nothing holds the whole log: events are read in batches of auditBatch,
// each batch in its own short read transaction, and written between
// transactions. While the bot runs it serves them as JSON Lines on the
// control socket (GET /audit?since=RFC3339) and the command formats them;
// otherwise the command opens the database itself. Both paths feed the same
// writer, so their output is identical.

const auditUsage = "usage: roster audit [--since DURATION] [--format text|csv|json]"

// Audit export formats.
const (
	AuditText = "text"
	AuditCSV  = "csv"
	AuditJSON = "json"
)

// auditBatch is how many events one read transaction reads.
const auditBatch = 1000

// auditStatusTrailer is the HTTP trailer with which GET /audit ends its
// stream: "ok" when every event was sent, else "error: …". A stream without
// it was cut short.
const auditStatusTrailer = "Roster-Audit-Status"

// AuditOptions select what ExportAudit writes.
type AuditOptions struct {
	// Since keeps the events at or after it; zero keeps all.
	Since time.Time
	// Format is AuditText, AuditCSV or AuditJSON; empty means AuditText.
	Format string
}

// auditArgs are the parsed arguments of `roster audit`.
type auditArgs struct {
	Since  time.Duration // zero: everything
	Format string
}

// errAuditHelp reports -h or --help.
var errAuditHelp = errors.New("help requested")

// auditUsageError is bad usage: its text is printed with the usage line
// and the command exits 2.
type auditUsageError struct{ msg string }

func (e *auditUsageError) Error() string { return e.msg }

// parseAuditArgs parses the arguments of `roster audit` (after the command
// word). Flags may be written -since or --since, with the value after = or
// as the next argument, in any order. The command takes no other
// arguments.
func parseAuditArgs(args []string) (auditArgs, error) {
	fs := flag.NewFlagSet("roster audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller, once
	since := fs.String("since", "", "")
	format := fs.String("format", AuditText, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return auditArgs{}, errAuditHelp
		}
		return auditArgs{}, &auditUsageError{err.Error()}
	}
	// flag stops at the first argument that is not a flag. There are no
	// positional arguments, so anything left is an error, wherever it was.
	if fs.NArg() > 0 {
		return auditArgs{}, &auditUsageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	a := auditArgs{Format: *format}
	switch a.Format {
	case AuditText, AuditCSV, AuditJSON:
	default:
		return auditArgs{}, &auditUsageError{fmt.Sprintf("unknown format %q: use text, csv or json", a.Format)}
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "since" })
	if set {
		d, err := provisioning.ParseDuration(*since)
		if err != nil {
			return auditArgs{}, err // its text says what to write instead
		}
		a.Since = d
	}
	return a, nil
}

// auditMain runs `roster audit` and returns the exit status.
func auditMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	a, err := parseAuditArgs(args)
	var ue *auditUsageError
	switch {
	case errors.Is(err, errAuditHelp):
		fmt.Fprintln(stdout, auditUsage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "roster audit: %v\n%s\n", err, auditUsage)
		return 2
	case err != nil: // a bad duration
		fmt.Fprintf(stderr, "roster audit: --since: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := AuditOptions{Format: a.Format}
	if a.Since > 0 {
		opts.Since = time.Now().Add(-a.Since)
	}
	if err := ExportAudit(ctx, DBPath(getenv), opts, stdout); err != nil {
		fmt.Fprintf(stderr, "roster audit: %v\n", err)
		return 1
	}
	return 0
}

// ExportAudit writes the audit events of the database at dbPath to w,
// oldest first, as opts asks: through the running bot when one answers on
// the control socket, else by opening the database itself. Events are
// streamed, never all held in memory. On an error, the events written so
// far stay written.
func ExportAudit(ctx context.Context, dbPath string, opts AuditOptions, w io.Writer) error {
	return exportAudit(ctx, dbPath, opts, w, time.Second)
}

// exportAudit is ExportAudit waiting at most openTimeout for the file lock.
func exportAudit(ctx context.Context, dbPath string, opts AuditOptions, w io.Writer, openTimeout time.Duration) error {
	out, err := newAuditWriter(opts.Format, w)
	if err != nil {
		return err
	}
	err = auditFrom(ctx, dbPath, opts.Since, out, openTimeout)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

func auditFrom(ctx context.Context, dbPath string, since time.Time, out auditWriter, openTimeout time.Duration) error {
	c := controlClient(dbPath)
	if c == nil {
		if _, err := os.Stat(dbPath); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no database at %s (set ROSTER_DB to the bot's database file)", dbPath)
			}
			return err
		}
		db, err := store.Open(dbPath, store.Options{Timeout: openTimeout})
		if err == nil {
			defer db.Close()
			return forEachAudit(ctx, db, since, out.Write)
		}
		if !errors.Is(err, store.ErrInUse) {
			return err
		}
		// A bot that was starting may have opened its socket meanwhile.
		if c = controlClient(dbPath); c == nil {
			return fmt.Errorf("%w, and no running roster answers on %s: another command (or a roster without a control socket) holds it; try again when it is done", err, ControlPath(dbPath))
		}
	}
	return auditFromBot(ctx, c, since, out)
}

// auditFromBot asks the running bot for the events and writes them to out.
func auditFromBot(ctx context.Context, c *http.Client, since time.Time, out auditWriter) error {
	u := "http://roster/audit"
	if !since.IsZero() {
		u += "?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("audit through the running bot: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return errors.New("audit through the running bot: it is an older roster without audit export; upgrade it, or stop it and run roster audit again")
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("audit through the running bot: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev provisioning.AuditEvent
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("audit through the running bot: the export was cut short: %w", err)
		}
		if err := out.Write(ev); err != nil {
			return err
		}
	}
	// The body was read to its end, so the trailer is in.
	switch st := resp.Trailer.Get(auditStatusTrailer); st {
	case "ok":
		return nil
	case "":
		return errors.New("audit through the running bot: the export was cut short (did the bot stop?)")
	default:
		return fmt.Errorf("audit through the running bot: %s", st)
	}
}

// auditViewer is the part of *store.DB the export reads.
type auditViewer interface {
	View(ctx context.Context, fn func(provisioning.ReadTx) error) error
}

// errBatchFull ends one batch's walk of the audit bucket.
var errBatchFull = errors.New("batch full")

// forEachAudit calls fn for each audit event at or after since, oldest
// first. It reads auditBatch events per read transaction and calls fn
// between transactions, so neither a slow fn nor a long log keeps a
// transaction open. The walk is not one snapshot: an event appended while
// it runs is included if it sorts after the last event already read.
func forEachAudit(ctx context.Context, db auditViewer, since time.Time, fn func(provisioning.AuditEvent) error) error {
	batch := make([]provisioning.AuditEvent, 0, auditBatch)
	last := "" // ID of the last event passed to fn
	for {
		batch = batch[:0]
		err := db.View(ctx, func(tx provisioning.ReadTx) error {
			return tx.Audit(since, func(ev provisioning.AuditEvent) error {
				// The store's IDs are fixed-width hex of its keys, so they
				// sort as the events do. Events that share the last one's
				// time and were already read are skipped.
				if ev.ID <= last {
					return nil
				}
				batch = append(batch, ev)
				if len(batch) == auditBatch {
					return errBatchFull
				}
				return nil
			})
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return err
		}
		for _, ev := range batch {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(batch) < auditBatch {
			return nil
		}
		last, since = batch[len(batch)-1].ID, batch[len(batch)-1].At
	}
}

// auditHandler serves GET /audit?since=RFC3339 on the control socket: the
// events at or after since (all without it), oldest first, as JSON Lines,
// ending with the auditStatusTrailer trailer.
func auditHandler(db auditViewer, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339, s) // fractional seconds are accepted too
			if err != nil {
				http.Error(w, "since: want an RFC 3339 time such as 2024-05-01T00:00:00Z", http.StatusBadRequest)
				return
			}
			since = t
		}
		w.Header().Set("Trailer", auditStatusTrailer)
		w.Header().Set("Content-Type", "application/jsonl")
		enc := json.NewEncoder(w) // the ResponseWriter buffers and chunks
		enc.SetEscapeHTML(false)
		err := forEachAudit(r.Context(), db, since, func(ev provisioning.AuditEvent) error { return enc.Encode(ev) })
		status := "ok"
		if err != nil {
			if r.Context().Err() == nil { // not just the client leaving
				log.ErrorContext(r.Context(), "audit over control socket", "err", err)
			}
			status = "error: " + strings.Join(strings.Fields(err.Error()), " ")
		}
		w.Header().Set(auditStatusTrailer, status)
	}
}

// auditWriter writes events in one export format. Both the online and the
// offline path write through it, so their output is the same.
type auditWriter interface {
	Write(provisioning.AuditEvent) error
	// Flush writes whatever is buffered.
	Flush() error
}

func newAuditWriter(format string, w io.Writer) (auditWriter, error) {
	switch format {
	case AuditText, "":
		return &auditTextWriter{w: bufio.NewWriterSize(w, 32<<10)}, nil
	case AuditCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"time", "actor", "action", "email", "outcome", "detail", "id"}) // errors surface in Flush
		return &auditCSVWriter{w: cw}, nil
	case AuditJSON:
		bw := bufio.NewWriterSize(w, 32<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false) // keep <!channel> readable; JSON escapes control characters anyway
		return &auditJSONWriter{enc: enc, w: bw}, nil
	default:
		return nil, fmt.Errorf("unknown audit format %q: use text, csv or json", format)
	}
}

type auditTextWriter struct{ w *bufio.Writer } // its errors are sticky

// Column widths of the text format: an RFC 3339 UTC time, a Slack user ID
// or "system", an action such as "job.interrupted", an outcome such as
// "refused", an email.
const auditTextLine = "%-20s  %-11s  %-15s  %-7s  %-30s  %s\n"

func (t *auditTextWriter) Write(ev provisioning.AuditEvent) error {
	_, err := fmt.Fprintf(t.w, auditTextLine, ev.At.UTC().Format(time.RFC3339),
		textField(ev.Actor), textField(ev.Action), textField(ev.Outcome), textField(ev.Email), textField(ev.Detail))
	return err
}

func (t *auditTextWriter) Flush() error { return t.w.Flush() }

// textField is s for a terminal: "-" when empty, and with the characters
// that could forge lines or change the terminal (control characters, line
// and paragraph separators, bidirectional overrides) written as escapes.
func textField(s string) string {
	if s == "" {
		return "-"
	}
	if !strings.ContainsFunc(s, unsafeInText) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case !unsafeInText(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func unsafeInText(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL, C1 (which includes the 8-bit CSI)
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', // bidi marks
		'\u202a' <= r && r <= '\u202e', // bidi embeddings and overrides
		'\u2066' <= r && r <= '\u2069': // bidi isolates
		return true
	}
	return false
}

type auditCSVWriter struct{ w *csv.Writer }

func (c *auditCSVWriter) Write(ev provisioning.AuditEvent) error {
	rec := []string{ev.At.UTC().Format(time.RFC3339Nano), ev.Actor, ev.Action, ev.Email, ev.Outcome, ev.Detail, ev.ID}
	for i, f := range rec {
		rec[i] = csvField(f)
	}
	return c.w.Write(rec)
}

func (c *auditCSVWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// csvField guards f against CSV (formula) injection: a spreadsheet runs a
// cell that starts with =, +, - or @ as a formula, and some also after a
// leading tab or carriage return, so such a field gets a leading '.
func csvField(f string) string {
	if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) {
		return "'" + f
	}
	return f
}

type auditJSONWriter struct {
	enc *json.Encoder
	w   *bufio.Writer
}

func (j *auditJSONWriter) Write(ev provisioning.AuditEvent) error {
	ev.At = ev.At.UTC()
	return j.enc.Encode(ev)
}

func (j *auditJSONWriter) Flush() error { return j.w.Flush() }
