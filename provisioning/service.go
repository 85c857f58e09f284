package provisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// System is the actor recorded for decisions nobody clicked.
const System = "system"

// Options tune a Service. Zero values take the documented defaults.
type Options struct {
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// DryRun makes jobs go through every step but the SCIM write.
	DryRun bool
	// Protected lists Slack user IDs Roster never deactivates (its own
	// admins, ROSTER_ADMINS).
	Protected []string
	// Workers bounds how many jobs run at once (default 4).
	Workers int
	// GiveUp is how long a job keeps retrying before it is marked failed
	// (default 24h).
	GiveUp time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff used when
	// Slack gives no Retry-After (defaults 2s and 5m).
	BackoffBase, BackoffMax time.Duration
	// MaxDuration bounds the duration a request may ask for (0: no bound).
	MaxDuration time.Duration
	// RequiredApprovals is how many distinct approvers must approve a
	// request (default 1).
	RequiredApprovals int
	// OnJobFinished is called once a job is done or has finally failed,
	// after its state is stored. It runs on the worker; keep it short.
	OnJobFinished func(ctx context.Context, j Job)
	// MaxDeactivations returns how many deactivations one directory change
	// may cause, given the number of active members, before they are held
	// for an admin's confirmation (ROSTER_MAX_DEACTIVATIONS). ActiveMembers
	// returns the workspace's active members. If either is nil, nothing is
	// ever held.
	MaxDeactivations func(active int) int
	ActiveMembers    func() int
}

// Service is the provisioning core: assignments and the jobs that make Slack
// match them.
type Service struct {
	store    Store
	provider Provider
	members  Members
	opt      Options
	log      *slog.Logger

	wake chan struct{}

	mu   sync.Mutex
	busy map[string]bool // emails with a job running in this process
}

// NewService returns a Service. members may be nil, in which case the guard
// rails rely on ROSTER_ADMINS and the roles the SCIM API reports.
func NewService(store Store, provider Provider, members Members, opt Options) *Service {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.GiveUp <= 0 {
		opt.GiveUp = 24 * time.Hour
	}
	if opt.BackoffBase <= 0 {
		opt.BackoffBase = 2 * time.Second
	}
	if opt.RequiredApprovals <= 0 {
		opt.RequiredApprovals = 1
	}
	if opt.BackoffMax <= 0 {
		opt.BackoffMax = 5 * time.Minute
	}
	return &Service{
		store:    store,
		provider: provider,
		members:  members,
		opt:      opt,
		log:      opt.Log,
		wake:     make(chan struct{}, 1),
		busy:     make(map[string]bool),
	}
}

// DryRun reports whether the service makes no SCIM writes.
func (s *Service) DryRun() bool { return s.opt.DryRun }

// NormalizeEmail checks that email is one plain address (no display name,
// no angle brackets, an ASCII local part and a host name for a domain) and
// returns it lower-cased.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	if e == "" {
		return "", fmt.Errorf("email is empty: %w", ErrInvalid)
	}
	if len(e) > 254 {
		return "", fmt.Errorf("email is longer than 254 characters: %w", ErrInvalid)
	}
	if !emailRE.MatchString(e) {
		return "", fmt.Errorf("%q is not an email address like ada@example.com: %w", e, ErrInvalid)
	}
	if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
		return "", fmt.Errorf("%q is not an email address like ada@example.com: %w", e, ErrInvalid)
	}
	return strings.ToLower(e), nil
}

// emailRE is the shape Roster accepts: RFC 5322's dot-atom local part in
// ASCII, and a domain of host-name labels with at least one dot.
var emailRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")

// Grant describes one assignment to make.
type Grant struct {
	Email  string
	Source Source
	Ref    string // request ID, group name or org unit path
	By     string // Slack user ID or System
	Reason string
	// Duration, when positive, makes the assignment expire that long after
	// it is made.
	Duration time.Duration
}

// Assign records an assignment for g.Email and, in the same transaction,
// the job that provisions the account. A second assignment with the same
// source and ref replaces the first (new expiry, reason and grantor).
// When Assign returns, the decision is durable.
func (s *Service) Assign(ctx context.Context, g Grant) (Assignment, Job, error) {
	email, err := NormalizeEmail(g.Email)
	if err != nil {
		return Assignment{}, Job{}, err
	}
	if g.Source == "" {
		g.Source = SourceDirect
	}
	if g.By == "" {
		g.By = System
	}
	if g.Duration < 0 {
		return Assignment{}, Job{}, fmt.Errorf("duration %s is negative: %w", g.Duration, ErrInvalid)
	}
	now := s.opt.Now().UTC()
	var asg Assignment
	var job Job
	err = s.store.Update(ctx, func(tx Tx) error {
		as, err := tx.Assignments(email)
		if err != nil {
			return err
		}
		id, err := tx.NewID("asg")
		if err != nil {
			return err
		}
		asg = Assignment{
			ID: id, Email: email, Source: g.Source, Ref: g.Ref,
			GrantedBy: g.By, Reason: g.Reason, CreatedAt: now,
		}
		if g.Duration > 0 {
			asg.ExpiresAt = now.Add(g.Duration)
		}
		as = slices.DeleteFunc(as, func(a Assignment) bool { return a.Source == g.Source && a.Ref == g.Ref })
		as = append(as, asg)
		if err := tx.PutAssignments(email, as); err != nil {
			return err
		}
		job, err = s.enqueue(tx, email, ActionInvite, g.By, now)
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("source %s", g.Source)
		if g.Ref != "" {
			detail += " " + g.Ref
		}
		if !asg.ExpiresAt.IsZero() {
			detail += ", expires " + asg.ExpiresAt.Format(time.RFC3339)
		}
		if g.Reason != "" {
			detail += ", reason: " + g.Reason
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: g.By, Action: "assign", Email: email, Outcome: "ok", Detail: detail + ", job " + job.ID})
		return err
	})
	if err != nil {
		return Assignment{}, Job{}, fmt.Errorf("assign %s: %w", email, err)
	}
	s.Wake()
	return asg, job, nil
}

// Revoke withdraws every assignment of email and records the job that
// deactivates the account, in one transaction. It first asks Slack whether
// the account is protected (owner, admin, bot or one of Roster's admins)
// and refuses, changing nothing, if it is. If Slack cannot be asked, the
// revoke is recorded and the job checks again before any write.
func (s *Service) Revoke(ctx context.Context, email, by, reason string) ([]Assignment, Job, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, Job{}, err
	}
	if by == "" {
		by = System
	}
	if acct, err := s.provider.LookupByEmail(ctx, email); err == nil && acct.Active {
		if perr := s.guard(ctx, acct); errors.Is(perr, ErrProtected) {
			s.auditOutcome(ctx, by, "revoke", email, "refused", perr.Error())
			return nil, Job{}, fmt.Errorf("revoke %s: %w", email, perr)
		}
	}
	now := s.opt.Now().UTC()
	var removed []Assignment
	var job Job
	err = s.store.Update(ctx, func(tx Tx) error {
		as, err := tx.Assignments(email)
		if err != nil {
			return err
		}
		removed = as
		if err := tx.PutAssignments(email, nil); err != nil {
			return err
		}
		job, err = s.enqueue(tx, email, ActionDeactivate, by, now)
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("%d assignment(s) withdrawn", len(as))
		if reason != "" {
			detail += ", reason: " + reason
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: by, Action: "revoke", Email: email, Outcome: "ok", Detail: detail + ", job " + job.ID})
		return err
	})
	if err != nil {
		return nil, Job{}, fmt.Errorf("revoke %s: %w", email, err)
	}
	s.Wake()
	return removed, job, nil
}

// Status is what Roster knows of one email.
type Status struct {
	Email    string
	Entitled bool // Entitlement.Entitled
	// Entitlement says why the person is entitled (assignments, directory
	// groups and org units), or that their directory account is disabled.
	Entitlement Entitlement
	Assignments []Assignment
	Jobs        []Job // newest first
}

// Status returns email's entitlement, assignments and recent jobs from the
// store.
func (s *Service) Status(ctx context.Context, email string) (Status, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Status{}, err
	}
	st := Status{Email: email}
	err = s.store.View(ctx, func(tx ReadTx) error {
		if st.Assignments, err = tx.Assignments(email); err != nil {
			return err
		}
		if st.Entitlement, err = s.entitlement(tx, email, s.opt.Now()); err != nil {
			return err
		}
		st.Jobs, err = tx.JobsForEmail(email, 5)
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("status %s: %w", email, err)
	}
	st.Entitled = st.Entitlement.Entitled
	return st, nil
}

// Enqueue records a job that converges email's account, for callers that
// change entitlement outside Assign and Revoke (expiry, directory changes).
// It must be called inside the transaction that makes the change.
func (s *Service) Enqueue(tx Tx, email string, intent Action, by string) (Job, error) {
	return s.enqueue(tx, email, intent, by, s.opt.Now().UTC())
}

// enqueue coalesces with email's pending job if it has one: that job will
// read the newest entitlement when it runs, so one job is enough.
func (s *Service) enqueue(tx Tx, email string, intent Action, by string, now time.Time) (Job, error) {
	j, ok, err := tx.PendingJob(email)
	if err != nil {
		return Job{}, err
	}
	if ok {
		j.Intent, j.StartedBy, j.UpdatedAt = intent, by, now
		j.DryRun = s.opt.DryRun
		return j, tx.PutJob(j)
	}
	id, err := tx.NewID("job")
	if err != nil {
		return Job{}, err
	}
	j = Job{
		ID: id, Email: email, Intent: intent, State: JobPending, NextAttempt: now,
		StartedBy: by, DryRun: s.opt.DryRun, CreatedAt: now, UpdatedAt: now,
	}
	return j, tx.PutJob(j)
}

// Wake tells the workers that a job may be due.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// guard returns an error wrapping ErrProtected when acct must never be
// deactivated by Roster, a *RetryableError when that cannot be known now,
// and nil when deactivating it is allowed.
func (s *Service) guard(ctx context.Context, acct Account) error {
	for _, r := range acct.Roles {
		switch strings.ToLower(r) {
		case "owner", "primary_owner", "admin":
			return fmt.Errorf("%s is a workspace %s; Roster never deactivates owners or admins: %w", acct.ID, strings.ReplaceAll(strings.ToLower(r), "_", " "), ErrProtected)
		}
	}
	if slices.Contains(s.opt.Protected, acct.ID) {
		return fmt.Errorf("%s is one of Roster's admins (ROSTER_ADMINS): %w", acct.ID, ErrProtected)
	}
	if s.members == nil {
		return nil
	}
	m, err := s.members.MemberByID(ctx, acct.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return &PermanentError{Code: "member_not_visible", Reason: fmt.Sprintf("Slack's Web API does not show member %s, so Roster cannot confirm they are not an owner, admin or bot; nothing was deactivated", acct.ID)}
	case err != nil:
		return &RetryableError{Err: fmt.Errorf("check member %s: %w", acct.ID, err)}
	}
	switch {
	case m.IsPrimaryOwner:
		return fmt.Errorf("%s is the workspace's primary owner; Roster never deactivates owners or admins: %w", acct.ID, ErrProtected)
	case m.IsOwner:
		return fmt.Errorf("%s is a workspace owner; Roster never deactivates owners or admins: %w", acct.ID, ErrProtected)
	case m.IsAdmin:
		return fmt.Errorf("%s is a workspace admin; Roster never deactivates owners or admins: %w", acct.ID, ErrProtected)
	case m.IsBot:
		return fmt.Errorf("%s is a bot; Roster never deactivates bots: %w", acct.ID, ErrProtected)
	}
	return nil
}

// UserName derives a Slack userName from email's local part under Slack's
// rules: lower case, at most 21 characters of a-z 0-9 . _ -, other
// characters as "_". attempt 0 is the plain name; attempt n > 0 appends n+1
// (ada, ada2, ada3 …), shortening the name to keep 21 characters.
func UserName(email string, attempt int) string {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	var b strings.Builder
	for _, r := range local {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.Trim(b.String(), "._-")
	if name == "" {
		name = "user"
	}
	suffix := ""
	if attempt > 0 {
		suffix = fmt.Sprint(attempt + 1)
	}
	if max := 21 - len(suffix); len(name) > max {
		name = strings.TrimRight(name[:max], "._-")
	}
	return name + suffix
}
