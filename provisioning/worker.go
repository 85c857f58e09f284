package provisioning

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// maxUserNameAttempts bounds the suffixes tried when Slack answers
// username_taken within one run of a job.
const maxUserNameAttempts = 5

// Run runs the job workers until ctx is done. Jobs left running by a
// previous process (a crash, a kill) are made pending again first: a job
// reads the real state of the account before it writes, so running it again
// is harmless.
//
// When ctx is done Run stops claiming jobs and waits for the jobs in flight.
// They see ctx's cancellation in their SCIM call; a job cut off that way is
// stored as pending again, without counting an attempt, and resumes at the
// next start.
func (s *Service) Run(ctx context.Context) error {
	if err := s.resume(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	sem := make(chan struct{}, s.opt.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if ctx.Err() != nil {
			return nil
		}
		claimed, blocked, err := s.claim(ctx, s.opt.Workers-len(sem))
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "claim jobs", "err", err)
		}
		for _, j := range claimed {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					<-sem
					s.release(j.Email) // wakes the loop
				}()
				s.execute(ctx, j)
			}()
		}
		wait := time.Minute
		if len(sem) < s.opt.Workers {
			var next time.Time
			var ok bool
			err := s.store.View(ctx, func(tx ReadTx) error {
				var err error
				next, ok, err = tx.NextDue()
				return err
			})
			if err == nil && ok {
				wait = max(next.Sub(s.opt.Now()), 0)
				if wait == 0 && blocked && len(claimed) == 0 {
					// The due jobs are all for people with a job in
					// flight; the one finishing wakes us.
					wait = time.Minute
				}
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// resume makes every running job pending again.
func (s *Service) resume(ctx context.Context) error {
	now := s.opt.Now().UTC()
	return s.store.Update(ctx, func(tx Tx) error {
		running, err := tx.JobsInState(JobRunning, 1<<30)
		if err != nil {
			return err
		}
		for _, j := range running {
			if p, ok, err := tx.PendingJob(j.Email); err != nil {
				return err
			} else if ok {
				// A newer decision is already queued; it converges the
				// same account, so this one is finished by it.
				j.State, j.Action, j.FinishedAt, j.UpdatedAt = JobDone, ActionNone, now, now
				j.LastError = "superseded by " + p.ID + " after a restart"
			} else {
				j.State, j.NextAttempt, j.UpdatedAt = JobPending, now, now
			}
			if err := tx.PutJob(j); err != nil {
				return err
			}
			if _, err := tx.AppendAudit(AuditEvent{At: now, Actor: System, Action: "job.resume", Email: j.Email, Outcome: "ok", Detail: fmt.Sprintf("job %s was running when Roster stopped; now %s", j.ID, j.State)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// claim marks up to n due jobs running, skipping people who already have a
// job in flight here, so that one person gets one write at a time. blocked
// reports that due jobs were left only because their people are busy.
func (s *Service) claim(ctx context.Context, n int) (claimed []Job, blocked bool, err error) {
	if n <= 0 {
		return nil, false, nil
	}
	now := s.opt.Now().UTC()
	var out []Job
	err = s.store.Update(ctx, func(tx Tx) error {
		out, blocked = out[:0], false
		s.mu.Lock()
		busy := len(s.busy)
		s.mu.Unlock()
		due, err := tx.DueJobs(now, n+busy)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, j := range due {
			if len(out) == n || seen[j.Email] || s.isBusy(j.Email) {
				continue
			}
			seen[j.Email] = true
			j.State, j.Attempts, j.UpdatedAt = JobRunning, j.Attempts+1, now
			if err := tx.PutJob(j); err != nil {
				return err
			}
			out = append(out, j)
		}
		blocked = len(due) > 0 && len(out) == 0
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	for _, j := range out {
		s.busy[j.Email] = true
	}
	s.mu.Unlock()
	return out, blocked, nil
}

func (s *Service) isBusy(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy[email]
}

func (s *Service) release(email string) {
	s.mu.Lock()
	delete(s.busy, email)
	s.mu.Unlock()
	s.Wake()
}

// execute runs one claimed job and stores its outcome.
func (s *Service) execute(ctx context.Context, j Job) {
	log := s.log.With("job", j.ID, "attempt", j.Attempts)
	res, err := s.converge(ctx, j)
	now := s.opt.Now().UTC()
	// The outcome is stored even when ctx is cancelled: that is how an
	// interrupted job becomes pending again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()

	j.UpdatedAt = now
	if res.accountID != "" {
		j.AccountID = res.accountID
	}
	ev := AuditEvent{At: now, Actor: System, Email: j.Email}
	var perm *PermanentError
	var rerr *RetryableError
	switch {
	case err == nil:
		j.State, j.Action, j.LastError, j.FinishedAt = JobDone, res.action, "", now
		ev.Action, ev.Outcome = "job."+string(res.action), "ok"
		ev.Detail = fmt.Sprintf("job %s", j.ID)
		if res.accountID != "" {
			ev.Detail += ", account " + res.accountID
		}
		if res.note != "" {
			ev.Detail += ", " + res.note
		}
		if j.DryRun && res.action != ActionNone {
			ev.Outcome = "dry-run"
			ev.Detail += ", dry run: no SCIM write made"
		}
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// Shutdown cut the job off: not an attempt, resume at next start.
		j.State, j.Attempts, j.NextAttempt = JobPending, max(j.Attempts-1, 0), now
		ev.Action, ev.Outcome, ev.Detail = "job.interrupted", "retry", fmt.Sprintf("job %s interrupted by shutdown", j.ID)
	case errors.Is(err, ErrProtected):
		j.State, j.Action, j.LastError, j.FinishedAt = JobFailed, res.action, err.Error(), now
		ev.Action, ev.Outcome, ev.Detail = "job.deactivate", "refused", fmt.Sprintf("job %s: %v", j.ID, err)
	case errors.As(err, &perm) || errors.Is(err, ErrInvalid):
		j.State, j.Action, j.LastError, j.FinishedAt = JobFailed, res.action, err.Error(), now
		ev.Action, ev.Outcome, ev.Detail = "job."+string(res.action), "failed", fmt.Sprintf("job %s: %v", j.ID, err)
	default:
		// Retryable, or an error we do not know: retry until GiveUp.
		j.LastError = err.Error()
		if now.Sub(j.CreatedAt) >= s.opt.GiveUp {
			j.State, j.Action, j.FinishedAt = JobFailed, res.action, now
			j.LastError = fmt.Sprintf("gave up after %d attempts over %s: %v", j.Attempts, FormatDuration(s.opt.GiveUp), err)
			ev.Action, ev.Outcome, ev.Detail = "job."+string(res.action), "failed", fmt.Sprintf("job %s: %s", j.ID, j.LastError)
			break
		}
		wait := s.backoff(j.Attempts)
		if errors.As(err, &rerr) && rerr.After > 0 {
			wait = rerr.After // honoured exactly: Slack said when
		}
		j.State, j.NextAttempt = JobPending, now.Add(wait)
		ev.Action, ev.Outcome = "job.retry", "retry"
		ev.Detail = fmt.Sprintf("job %s attempt %d: %v; next attempt in %s", j.ID, j.Attempts, err, wait.Round(time.Millisecond))
	}
	superseded := false
	uerr := s.store.Update(sctx, func(tx Tx) error {
		superseded = false
		if j.State == JobPending {
			// A newer decision for this person may have queued a job while
			// this one ran; keep one pending job per person.
			if p, ok, err := tx.PendingJob(j.Email); err != nil {
				return err
			} else if ok && p.ID != j.ID {
				if j.NextAttempt.After(p.NextAttempt) {
					p.NextAttempt = j.NextAttempt // keep honouring Retry-After
					if err := tx.PutJob(p); err != nil {
						return err
					}
				}
				j.State, j.FinishedAt, superseded = JobDone, now, true
				j.LastError = "superseded by " + p.ID + ": " + j.LastError
			}
		}
		if err := tx.PutJob(j); err != nil {
			return err
		}
		_, err := tx.AppendAudit(ev)
		return err
	})
	if uerr != nil {
		// The job stays running in the store and resumes at next start.
		log.ErrorContext(ctx, "store job outcome", "err", uerr)
		return
	}
	switch j.State {
	case JobDone:
		log.InfoContext(ctx, "job done", "action", j.Action, "dry_run", j.DryRun)
	case JobFailed:
		log.WarnContext(ctx, "job failed", "action", j.Action, "err", j.LastError)
	default:
		log.InfoContext(ctx, "job will retry", "next_attempt", j.NextAttempt, "err", j.LastError)
	}
	if (j.State == JobDone || j.State == JobFailed) && !superseded && s.opt.OnJobFinished != nil {
		s.opt.OnJobFinished(sctx, j)
	}
}

// backoff returns the wait before attempt n+1: exponential from BackoffBase,
// capped at BackoffMax, with jitter in [50%, 100%].
func (s *Service) backoff(attempts int) time.Duration {
	d := s.opt.BackoffBase
	for i := 1; i < attempts && d < s.opt.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.opt.BackoffMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

type result struct {
	action    Action
	accountID string
	note      string
}

// converge reads email's entitlement (assignments and the directory) and
// account and makes the one write needed: create, activate, deactivate,
// or none.
func (s *Service) converge(ctx context.Context, j Job) (result, error) {
	var ent Entitlement
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		ent, err = s.entitlement(tx, j.Email, s.opt.Now())
		return err
	})
	if err != nil {
		return result{action: ActionNone}, err
	}
	entitled := ent.Entitled
	acct, err := s.provider.LookupByEmail(ctx, j.Email)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return result{action: ActionNone}, fmt.Errorf("look up account: %w", err)
	}
	switch {
	case entitled && !found:
		return s.invite(ctx, j)
	case entitled && !acct.Active:
		return s.activate(ctx, j, acct)
	case entitled:
		return result{action: ActionNone, accountID: acct.ID, note: "already active"}, nil
	case !found:
		return result{action: ActionNone, note: "no Slack account"}, nil
	case !acct.Active:
		return result{action: ActionNone, accountID: acct.ID, note: "already deactivated"}, nil
	}
	res := result{action: ActionDeactivate, accountID: acct.ID}
	if err := s.guard(ctx, acct); err != nil {
		return res, err
	}
	if j.DryRun {
		return res, nil
	}
	if err := s.provider.Deactivate(ctx, acct.ID); err != nil {
		return res, fmt.Errorf("deactivate %s: %w", acct.ID, err)
	}
	return res, nil
}

func (s *Service) activate(ctx context.Context, j Job, acct Account) (result, error) {
	res := result{action: ActionActivate, accountID: acct.ID}
	if j.DryRun {
		return res, nil
	}
	if err := s.provider.Activate(ctx, acct.ID); err != nil {
		return res, fmt.Errorf("activate %s: %w", acct.ID, err)
	}
	return res, nil
}

// invite creates the account. Slack refuses a second account for an email,
// even a deactivated one (email_taken): then the account is looked up again
// and activated if needed, never re-created.
func (s *Service) invite(ctx context.Context, j Job) (result, error) {
	res := result{action: ActionInvite}
	if j.DryRun {
		res.note = "would create user " + UserName(j.Email, 0)
		return res, nil
	}
	for attempt := range maxUserNameAttempts {
		name := UserName(j.Email, attempt)
		acct, err := s.provider.Create(ctx, NewAccount{Email: j.Email, UserName: name})
		switch {
		case err == nil:
			res.accountID, res.note = acct.ID, "user "+acct.UserName
			return res, nil
		case errors.Is(err, ErrUsernameTaken):
			continue
		case errors.Is(err, ErrEmailTaken):
			acct, lerr := s.provider.LookupByEmail(ctx, j.Email)
			if errors.Is(lerr, ErrNotFound) {
				// Slack says the email exists but does not show it yet.
				return res, &RetryableError{Err: errors.New("slack reports the email taken but does not show the account yet")}
			}
			if lerr != nil {
				return res, fmt.Errorf("look up account after email_taken: %w", lerr)
			}
			if acct.Active {
				return result{action: ActionNone, accountID: acct.ID, note: "already active (email_taken)"}, nil
			}
			return s.activate(ctx, j, acct)
		default:
			return res, fmt.Errorf("create user %s: %w", name, err)
		}
	}
	return res, &PermanentError{Code: "username_taken", Reason: fmt.Sprintf("Slack refused %d user names derived from %s as taken", maxUserNameAttempts, j.Email)}
}
