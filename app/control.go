package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/roster-app/roster/store"
)

// The control socket lets subcommands such as `roster backup` reach a
// running bot, which holds the database's lock. It is a Unix socket beside
// the database file, readable and writable by its owner only, speaking
// HTTP.

// ControlPath is the control socket for the database at dbPath.
func ControlPath(dbPath string) string { return dbPath + ".sock" }

// route is one extra control-socket route.
type route struct {
	pattern string
	handler http.Handler
}

type control struct {
	srv  *http.Server
	path string
}

func (c *control) Close() error {
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	_ = os.Remove(c.path)
	return err
}

// listenControl serves the control socket for db. The database's lock is
// already held, so a socket file left behind is stale and is replaced.
// extra adds routes ("POST /directory/import") that need the running
// services.
func listenControl(dbPath string, db *store.DB, log *slog.Logger, extra ...route) (*control, error) {
	path := ControlPath(dbPath)
	_ = os.Remove(path)
	old := syscall.Umask(0o177) // the socket is created 0600
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := db.Backup(r.Context(), w); err != nil {
			log.ErrorContext(r.Context(), "backup over control socket", "err", err)
		}
	})
	// GET /audit?since=RFC3339 streams the audit log as JSON Lines for
	// `roster audit`; see auditHandler in audit.go.
	mux.Handle("GET /audit", auditHandler(db, log))
	for _, r := range extra {
		mux.Handle(r.pattern, r.handler)
	}
	c := &control{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, path: path}
	go func() {
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control socket", "err", err)
		}
	}()
	return c, nil
}

// controlClient returns an HTTP client that talks to the bot running on
// dbPath, or nil when no bot answers there.
func controlClient(dbPath string) *http.Client {
	path := ControlPath(dbPath)
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil
	}
	conn.Close()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// Backup writes a consistent copy of the database at dbPath to file: through
// the running bot when there is one, else by opening the database itself.
// The copy is written beside file and renamed into place, so file is never
// half-written.
func Backup(ctx context.Context, dbPath, file string) error {
	if abs, err := filepath.Abs(file); err == nil {
		if dabs, err := filepath.Abs(dbPath); err == nil && abs == dabs {
			return fmt.Errorf("backup: %s is the database itself; choose another file", file)
		}
	}
	if c := controlClient(dbPath); c != nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://roster/backup", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("backup through the running bot: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("backup through the running bot: %s", resp.Status)
		}
		if err := writeFileAtomic(file, resp.Body); err != nil {
			return err
		}
		return verifyBackup(file)
	}
	db, err := store.Open(dbPath, store.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.BackupFile(ctx, file); err != nil {
		return err
	}
	return verifyBackup(file)
}

// verifyBackup opens the copy read-only and runs bbolt's consistency check,
// so a copy cut short (the bot stopped mid-stream) is reported, not kept.
func verifyBackup(file string) error {
	db, err := bolt.Open(file, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("backup: the copy %s does not open: %w", file, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained: Check's goroutine ends
			if first == nil {
				first = fmt.Errorf("backup: the copy %s is inconsistent: %w", file, err)
			}
		}
		return first
	})
}

func writeFileAtomic(file string, r io.Reader) error {
	tmp := file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}
