package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// maxImportSize bounds an import file (50,000 people are about 5 MB).
const maxImportSize = 256 << 20

// exitHeld is the exit status of a command whose change waits for an
// admin's confirmation (PRODUCT.md).
const exitHeld = 3

// importResponse is what the running bot answers to an import.
type importResponse struct {
	Result provisioning.DirectoryResult `json:"result"`
	Held   bool                         `json:"held"`
	Error  string                       `json:"error,omitempty"`
	Status int                          `json:"status"` // the exit status
}

// directoryCommand runs `roster directory import FILE [--partial] [--dry-run]`.
func directoryCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	const use = "usage: roster directory import FILE [--partial] [--dry-run]"
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(stderr, use)
		return 2
	}
	var file string
	partial, dryRun := false, false
	for _, a := range args[1:] {
		switch a {
		case "--partial", "-partial":
			partial = true
		case "--dry-run", "-dry-run":
			dryRun = true
		default:
			if strings.HasPrefix(a, "-") || file != "" {
				fmt.Fprintf(stderr, "roster directory import: unexpected %q\n%s\n", a, use)
				return 2
			}
			file = a
		}
	}
	if file == "" {
		fmt.Fprintln(stderr, use)
		return 2
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "roster directory import: %v\n", err)
		return 1
	}
	data, err := io.ReadAll(io.LimitReader(f, maxImportSize+1))
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "roster directory import: %v\n", err)
		return 1
	}
	if len(data) > maxImportSize {
		fmt.Fprintf(stderr, "roster directory import: %s is larger than %d MB\n", file, maxImportSize>>20)
		return 1
	}
	ch, err := parseImport(data)
	if err != nil {
		fmt.Fprintf(stderr, "roster directory import: %s: %v; nothing was changed\n", file, err)
		return 1
	}
	ch.Full, ch.DryRun, ch.By, ch.Cause = !partial, dryRun, "import", "import "+file
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	resp := runImport(ctx, DBPath(getenv), getenv, ch)
	if resp.Error != "" && !resp.Held {
		fmt.Fprintf(stderr, "roster directory import: %s\n", resp.Error)
		return resp.Status
	}
	if dryRun {
		fmt.Fprintln(stdout, "dry run: nothing was changed")
	}
	fmt.Fprint(stdout, describeImport(resp.Result, dryRun))
	if resp.Held {
		fmt.Fprintln(stderr, "roster directory import: the deactivations are held until an admin confirms them in Roster's App Home")
		return exitHeld
	}
	return 0
}

// runImport applies ch through the running bot, or on the database file
// when no bot runs.
func runImport(ctx context.Context, dbPath string, getenv func(string) string, ch provisioning.DirectoryChange) importResponse {
	if c := controlClient(dbPath); c != nil {
		body, _ := json.Marshal(ch)
		var out importResponse
		if err := postControl(ctx, c, "/directory/import", body, &out); err != nil {
			return importResponse{Error: err.Error(), Status: 1}
		}
		return out
	}
	db, active, err := openOffline(ctx, dbPath)
	if err != nil {
		return importResponse{Error: err.Error(), Status: 1}
	}
	defer db.Close()
	threshold, err := thresholdFrom(getenv)
	if err != nil {
		return importResponse{Error: err.Error(), Status: 2}
	}
	// The import only records the change and its jobs; the bot runs them
	// at its next start. No Slack call is made here.
	svc := provisioning.NewService(db, nil, nil, provisioning.Options{
		MaxDeactivations: threshold.Limit,
		ActiveMembers:    func() int { return active },
	})
	return applyImport(ctx, svc, ch)
}

func applyImport(ctx context.Context, svc *provisioning.Service, ch provisioning.DirectoryChange) importResponse {
	res, err := svc.ApplyDirectory(ctx, ch)
	switch {
	case errors.Is(err, provisioning.ErrHeld):
		return importResponse{Result: res, Held: true, Error: err.Error(), Status: exitHeld}
	case errors.Is(err, provisioning.ErrInvalid):
		return importResponse{Error: err.Error() + "; nothing was changed", Status: 1}
	case err != nil:
		return importResponse{Error: err.Error(), Status: 1}
	}
	return importResponse{Result: res}
}

// importHandler serves POST /directory/import on the control socket.
func importHandler(svc *provisioning.Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ch provisioning.DirectoryChange
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxImportSize)).Decode(&ch); err != nil {
			http.Error(w, "bad import body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(applyImport(r.Context(), svc, ch))
	}
}

// thresholdFrom reads ROSTER_MAX_DEACTIVATIONS alone, for subcommands
// that run without the rest of the configuration.
func thresholdFrom(getenv func(string) string) (Threshold, error) {
	l := &configLoader{getenv: getenv, problems: map[string]string{}}
	t := l.threshold("ROSTER_MAX_DEACTIVATIONS")
	if p, ok := l.problems["ROSTER_MAX_DEACTIVATIONS"]; ok {
		return Threshold{}, fmt.Errorf("ROSTER_MAX_DEACTIVATIONS: %s", p)
	}
	return t, nil
}

// openOffline opens the database for a subcommand run while no bot runs,
// and counts the workspace's active members in Roster's stored copy: the
// base of ROSTER_MAX_DEACTIVATIONS when it is a share.
func openOffline(ctx context.Context, dbPath string) (*store.DB, int, error) {
	db, err := store.Open(dbPath, store.Options{Timeout: time.Second})
	if err != nil {
		return nil, 0, err
	}
	active := 0
	err = db.View(ctx, func(tx provisioning.ReadTx) error {
		return tx.ForEachMember(func(m provisioning.Member) error {
			if !m.Deleted && !m.IsBot {
				active++
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, 0, err
	}
	return db, active, nil
}

// postControl posts body to path on the running bot's control socket and
// decodes its JSON answer into out.
func postControl(ctx context.Context, c *http.Client, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://roster"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("through the running bot: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("through the running bot: %s", resp.Status)
	}
	return nil
}
