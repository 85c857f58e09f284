package provisioning

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ExpireAssignments removes assignments whose expiry has passed and, in the
// same transaction, queues a job for each person no longer entitled (no
// other live assignment, directory group or org unit): the job deactivates
// the account.
// It returns the assignments it ended. An expiry that fell while Roster was
// stopped is ended at the first sweep after start.
func (s *Service) ExpireAssignments(ctx context.Context) ([]Assignment, error) {
	now := s.opt.Now().UTC()
	// Found read-only first: the sweep runs every ROSTER_EXPIRY_CHECK over
	// every assignment, and takes the write lock only when something ended.
	due, err := s.emailsWith(ctx, func(a Assignment) bool { return !a.Live(now) })
	if err != nil || len(due) == 0 {
		return nil, err
	}
	var ended []Assignment
	err = s.store.Update(ctx, func(tx Tx) error {
		ended = ended[:0]
		type change struct {
			email string
			keep  []Assignment
			gone  []Assignment
		}
		var changes []change
		for _, email := range due {
			as, err := tx.Assignments(email)
			if err != nil {
				return err
			}
			gone := slices.DeleteFunc(slices.Clone(as), func(a Assignment) bool { return a.Live(now) })
			if len(gone) == 0 {
				continue
			}
			keep := slices.DeleteFunc(slices.Clone(as), func(a Assignment) bool { return !a.Live(now) })
			changes = append(changes, change{email, keep, gone})
		}
		if len(changes) == 0 {
			return nil
		}
		r, err := loadReach(tx)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if err := tx.PutAssignments(c.email, c.keep); err != nil {
				return err
			}
			// Another live assignment, or the directory, keeps the account
			// as it is: no job.
			job := Job{ID: "none, still entitled"}
			ent, err := entitle(tx, r, c.email, now, false)
			if err != nil {
				return err
			}
			if !ent.Entitled {
				if job, err = s.enqueue(tx, c.email, ActionDeactivate, System, now); err != nil {
					return err
				}
			}
			for _, a := range c.gone {
				ended = append(ended, a)
				detail := fmt.Sprintf("assignment %s (source %s) expired at %s, job %s", a.ID, a.Source, a.ExpiresAt.Format(time.RFC3339), job.ID)
				if _, err := tx.AppendAudit(AuditEvent{At: now, Actor: System, Action: "expire", Email: c.email, Outcome: "ok", Detail: detail}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire assignments: %w", err)
	}
	if len(ended) > 0 {
		s.Wake()
	}
	return ended, nil
}

// emailsWith returns, from a read-only transaction, the emails that have an
// assignment matching pred.
func (s *Service) emailsWith(ctx context.Context, pred func(Assignment) bool) ([]string, error) {
	var out []string
	err := s.store.View(ctx, func(tx ReadTx) error {
		return tx.ForEachAssignments(func(email string, as []Assignment) error {
			if slices.ContainsFunc(as, pred) {
				out = append(out, email)
			}
			return nil
		})
	})
	return out, err
}
