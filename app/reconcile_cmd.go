package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scim"
)

// reconcileResponse is what the running bot answers to a reconcile.
type reconcileResponse struct {
	Result provisioning.ReconcileResult `json:"result"`
	Held   bool                         `json:"held"`
	Error  string                       `json:"error,omitempty"`
	Status int                          `json:"status"`
}

// reconcileCommand runs `roster reconcile [--dry-run]`.
func reconcileCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	dryRun := false
	for _, a := range args {
		switch a {
		case "--dry-run", "-dry-run":
			dryRun = true
		default:
			fmt.Fprintf(stderr, "roster reconcile: unexpected %q\nusage: roster reconcile [--dry-run]\n", a)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var resp reconcileResponse
	if c := controlClient(DBPath(getenv)); c != nil {
		resp = reconcileThroughBot(ctx, c, dryRun)
	} else {
		cfg, err := LoadConfig(getenv)
		if err != nil {
			fmt.Fprintf(stderr, "roster reconcile: %v\n", err)
			return 2
		}
		resp = reconcileOffline(ctx, cfg, dryRun)
	}
	if resp.Error != "" && !resp.Held {
		fmt.Fprintf(stderr, "roster reconcile: %s\n", resp.Error)
		return max(resp.Status, 1)
	}
	fmt.Fprint(stdout, describeReconcile(resp.Result))
	if resp.Held {
		fmt.Fprintln(stderr, "roster reconcile: the deactivations are held until an admin confirms them in Roster's App Home")
		return exitHeld
	}
	return 0
}

func reconcileThroughBot(ctx context.Context, c *http.Client, dryRun bool) reconcileResponse {
	path := "/reconcile"
	if dryRun {
		path += "?dry_run=1"
	}
	var out reconcileResponse
	if err := postControl(ctx, c, path, nil, &out); err != nil {
		return reconcileResponse{Error: err.Error(), Status: 1}
	}
	return out
}

// reconcileOffline reconciles with the bot stopped: it reads Slack's
// accounts with the SCIM token and queues jobs the bot runs at its next
// start.
func reconcileOffline(ctx context.Context, cfg Config, dryRun bool) reconcileResponse {
	db, active, err := openOffline(ctx, cfg.DB)
	if err != nil {
		return reconcileResponse{Error: err.Error(), Status: 1}
	}
	defer db.Close()
	limits := scim.DefaultLimits()
	limits.Share = cfg.SCIMRateShare
	sc := scim.New(cfg.SCIMURL, cfg.AdminToken.Reveal(), scim.WithLimits(limits))
	svc := provisioning.NewService(db, sc, nil, provisioning.Options{
		Protected: cfg.Admins, DryRun: cfg.DryRun,
		MaxDeactivations: cfg.MaxDeactivations.Limit, ActiveMembers: func() int { return active },
	})
	return runReconcile(ctx, svc, sc, dryRun, provisioning.System)
}

func runReconcile(ctx context.Context, svc *provisioning.Service, lister provisioning.AccountLister, dryRun bool, by string) reconcileResponse {
	res, err := svc.Reconcile(ctx, lister, dryRun, by)
	switch {
	case errors.Is(err, provisioning.ErrHeld):
		return reconcileResponse{Result: res, Held: true, Error: err.Error(), Status: exitHeld}
	case err != nil:
		return reconcileResponse{Error: err.Error(), Status: 1}
	}
	return reconcileResponse{Result: res}
}

// reconcileHandler serves POST /reconcile[?dry_run=1] on the control socket.
func reconcileHandler(svc *provisioning.Service, lister provisioning.AccountLister) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(runReconcile(r.Context(), svc, lister, r.URL.Query().Get("dry_run") == "1", "cli"))
	}
}

// describeReconcile is the summary `roster reconcile` prints.
func describeReconcile(r provisioning.ReconcileResult) string {
	var b strings.Builder
	if r.DryRun {
		b.WriteString("dry run: nothing was changed\n")
	}
	if r.FirstRun {
		b.WriteString("first reconcile: active members nothing entitles are adopted; nobody is deactivated\n")
	}
	fmt.Fprintf(&b, "Slack accounts: %d (%d active); entitled: %d\n", r.Accounts, r.Active, r.Entitled)
	list := func(title string, emails []string) {
		fmt.Fprintf(&b, "%s: %d\n", title, len(emails))
		for i, e := range emails {
			if i == 50 {
				fmt.Fprintf(&b, "  … and %d more\n", len(emails)-50)
				break
			}
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	list("invite", r.Invite)
	list("reactivate", r.Activate)
	list("deactivate", r.Deactivate)
	list("adopt", r.Adopt)
	list("unmanaged (left alone)", r.Unmanaged)
	list("protected (never deactivated)", r.Protected)
	if len(r.Waiting) > 0 {
		list("already held for confirmation", r.Waiting)
	}
	fmt.Fprintf(&b, "jobs queued: %d\n", r.Jobs)
	if r.Held != nil {
		fmt.Fprintf(&b, "held: %d deactivations wait for an admin's confirmation in Roster's App Home\n", len(r.Held.Emails))
	}
	return b.String()
}
