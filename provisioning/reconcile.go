package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AccountLister lists every Slack account (the SCIM client pages through
// them).
type AccountLister interface {
	ListAll(ctx context.Context, fn func(Account) error) error
}

// ReconcileResult is a reconcile's plan and, unless it was a dry run, what
// it queued.
type ReconcileResult struct {
	At       time.Time `json:"at"`
	By       string    `json:"by"`
	DryRun   bool      `json:"dry_run"`
	FirstRun bool      `json:"first_run"`
	Accounts int       `json:"accounts"` // Slack accounts with an email
	Active   int       `json:"active"`
	Entitled int       `json:"entitled"`
	// Emails, sorted.
	Invite     []string    `json:"invite,omitempty"`     // entitled, no Slack account
	Activate   []string    `json:"activate,omitempty"`   // entitled, account deactivated
	Deactivate []string    `json:"deactivate,omitempty"` // active, managed by Roster, no longer entitled
	Adopt      []string    `json:"adopt,omitempty"`      // first run: active members recorded as entitled
	Unmanaged  []string    `json:"unmanaged,omitempty"`  // active, not entitled, never managed by Roster: left alone
	Protected  []string    `json:"protected,omitempty"`  // owners, admins and Roster's admins: never deactivated
	Waiting    []string    `json:"waiting,omitempty"`    // already in a held change waiting for an admin
	Held       *HeldChange `json:"held,omitempty"`
	Jobs       int         `json:"jobs"`
}

const (
	settingReconciled    = "reconcile.first_done"
	settingLastReconcile = "reconcile.last"
)

// Reconcile compares who is entitled with Slack's real state and queues
// the jobs that repair the drift: invites and reactivations for entitled
// people, deactivations for active members Roster manages who are no
// longer entitled.
//
// Safety:
//   - on the first run, active members that nothing entitles are adopted
//     (an assignment with source adopted), and nobody is deactivated, so
//     turning Roster on never deactivates a workspace;
//   - members Roster has never managed (no assignment, no job, not in the
//     directory) are never deactivated, only reported;
//   - owners, admins and Roster's own admins are never deactivated;
//   - deactivations beyond ROSTER_MAX_DEACTIVATIONS are held for an
//     admin's confirmation (the error then wraps ErrHeld), and people in a
//     held change already waiting are not planned again.
//
// With dryRun, the plan is computed and kept for App Home, and nothing else
// changes.
func (s *Service) Reconcile(ctx context.Context, lister AccountLister, dryRun bool, by string) (ReconcileResult, error) {
	if by == "" {
		by = System
	}
	accounts := map[string]Account{}
	err := lister.ListAll(ctx, func(a Account) error {
		if e := strings.ToLower(strings.TrimSpace(a.Email)); e != "" {
			accounts[e] = a
		}
		return nil
	})
	if err != nil {
		return ReconcileResult{}, fmt.Errorf("reconcile: list Slack accounts: %w", err)
	}
	now := s.opt.Now().UTC()
	lim := s.holdLimit()
	res := ReconcileResult{At: now, By: by, DryRun: dryRun, Accounts: len(accounts)}
	var held error
	err = s.store.Update(ctx, func(tx Tx) error {
		res = ReconcileResult{At: now, By: by, DryRun: dryRun, Accounts: len(accounts)}
		held = nil
		_, done, err := tx.Setting(settingReconciled)
		if err != nil {
			return err
		}
		res.FirstRun = !done
		r, err := loadReach(tx)
		if err != nil {
			return err
		}
		waiting := map[string]bool{}
		hs, err := tx.HeldChanges(HeldPending, 1<<20)
		if err != nil {
			return err
		}
		for _, h := range hs {
			for _, e := range h.Emails {
				waiting[e] = true
			}
		}
		// Everyone who might be entitled: assignments and the directory.
		candidates := map[string]bool{}
		if err := tx.ForEachAssignments(func(email string, _ []Assignment) error { candidates[email] = true; return nil }); err != nil {
			return err
		}
		if err := tx.ForEachPerson(func(p Person) error { candidates[p.Email] = true; return nil }); err != nil {
			return err
		}
		for email := range accounts {
			candidates[email] = true
		}
		emails := make([]string, 0, len(candidates))
		for e := range candidates {
			emails = append(emails, e)
		}
		slices.Sort(emails)
		// entitle asks InGroup of every granted group in turn until one
		// has the person: with 500 granted groups and 50,000 people that
		// is millions of B+tree seeks. Read the memberships once instead.
		var etx ReadTx = tx
		if len(r.groups) > 0 {
			if etx, err = newMemberIndex(tx); err != nil {
				return err
			}
		}
		for _, email := range emails {
			ent, err := entitle(etx, r, email, now, false)
			if err != nil {
				return err
			}
			acct, has := accounts[email]
			if has && acct.Active {
				res.Active++
			}
			switch {
			case ent.Entitled:
				res.Entitled++
				if !has {
					res.Invite = append(res.Invite, email)
				} else if !acct.Active {
					res.Activate = append(res.Activate, email)
				}
			case !has || !acct.Active:
			case s.protectedAccount(acct):
				res.Protected = append(res.Protected, email)
			case res.FirstRun && !ent.Disabled:
				res.Adopt = append(res.Adopt, email)
			case res.FirstRun:
				// A disabled directory account is dealt with from the
				// second run: the first never deactivates.
			case waiting[email]:
				res.Waiting = append(res.Waiting, email)
			default:
				managed, err := s.managed(tx, email)
				if err != nil {
					return err
				}
				if managed {
					res.Deactivate = append(res.Deactivate, email)
				} else {
					res.Unmanaged = append(res.Unmanaged, email)
				}
			}
		}
		if !dryRun {
			for _, email := range res.Adopt {
				id, err := tx.NewID("asg")
				if err != nil {
					return err
				}
				as, err := tx.Assignments(email)
				if err != nil {
					return err
				}
				as = append(as, Assignment{ID: id, Email: email, Source: SourceAdopted, GrantedBy: by,
					Reason: "an active member when Roster first reconciled", CreatedAt: now})
				if err := tx.PutAssignments(email, as); err != nil {
					return err
				}
			}
			if err := tx.PutSetting(settingReconciled, []byte(now.Format(time.RFC3339))); err != nil {
				return err
			}
		}
		dres := DirectoryResult{Invites: append(slices.Clone(res.Invite), res.Activate...), Deactivate: res.Deactivate}
		held = s.settle(tx, &dres, len(res.Deactivate), "reconcile", by, lim, now, dryRun)
		if held != nil && !errors.Is(held, ErrHeld) {
			return held
		}
		res.Held, res.Jobs = dres.Held, dres.Jobs
		raw, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if err := tx.PutSetting(settingLastReconcile, raw); err != nil {
			return err
		}
		outcome := "ok"
		if dryRun {
			outcome = "dry-run"
		}
		detail := fmt.Sprintf("%d Slack accounts (%d active), %d entitled: invite %d, reactivate %d, deactivate %d, adopt %d, unmanaged %d, protected %d; %d job(s)",
			res.Accounts, res.Active, res.Entitled, len(res.Invite), len(res.Activate), len(res.Deactivate), len(res.Adopt), len(res.Unmanaged), len(res.Protected), res.Jobs)
		if res.Held != nil {
			detail += fmt.Sprintf("; %d deactivations held as %s", len(res.Held.Emails), res.Held.ID)
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: by, Action: "reconcile", Outcome: outcome, Detail: detail})
		return err
	})
	if err != nil {
		return ReconcileResult{}, fmt.Errorf("reconcile: %w", err)
	}
	if res.Jobs > 0 && !dryRun {
		s.Wake()
	}
	if held != nil {
		return res, fmt.Errorf("reconcile: %w", held)
	}
	return res, nil
}

// LastReconcile returns the last reconcile's result, for App Home.
func (s *Service) LastReconcile(ctx context.Context) (ReconcileResult, bool, error) {
	var res ReconcileResult
	var ok bool
	err := s.store.View(ctx, func(tx ReadTx) error {
		raw, found, err := tx.Setting(settingLastReconcile)
		if err != nil || !found {
			return err
		}
		ok = true
		return json.Unmarshal(raw, &res)
	})
	return res, ok, err
}

// protectedAccount reports what the guard rails can tell without the Web
// API: SCIM roles and ROSTER_ADMINS. Each job asks the Web API again
// before it writes.
func (s *Service) protectedAccount(a Account) bool {
	for _, r := range a.Roles {
		switch strings.ToLower(r) {
		case "owner", "primary_owner", "admin":
			return true
		}
	}
	return slices.Contains(s.opt.Protected, a.ID)
}

// managed reports whether Roster has ever managed email: it is in the
// directory, or has assignments or jobs.
func (s *Service) managed(tx ReadTx, email string) (bool, error) {
	if _, ok, err := tx.Person(email); err != nil || ok {
		return ok, err
	}
	if as, err := tx.Assignments(email); err != nil || len(as) > 0 {
		return len(as) > 0, err
	}
	js, err := tx.JobsForEmail(email, 1)
	return len(js) > 0, err
}

// memberIndex is tx with every group's members read once: its InGroup
// answers from memory. It is only valid while nothing writes groups.
type memberIndex struct {
	ReadTx
	of map[string][]string // person ID → the IDs of their groups
	// The last person asked about and their groups: entitle asks about
	// one person for each granted group in turn.
	last   string
	groups []string
}

func newMemberIndex(tx ReadTx) (*memberIndex, error) {
	m := &memberIndex{ReadTx: tx, of: map[string][]string{}}
	err := tx.ForEachGroup(func(g Group) error {
		for _, id := range g.Members {
			m.of[id] = append(m.of[id], g.ID)
		}
		return nil
	})
	return m, err
}

// InGroup implements ReadTx.
func (m *memberIndex) InGroup(personID, groupID string) (bool, error) {
	if personID != m.last {
		m.last, m.groups = personID, m.of[personID]
	}
	return slices.Contains(m.groups, groupID), nil
}
