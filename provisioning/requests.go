package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RequestInput is what someone asks for.
type RequestInput struct {
	Email       string
	RequestedBy string // Slack user ID
	Duration    time.Duration
	Reason      string
}

// RequiredApprovals is how many distinct approvers must approve a request.
func (s *Service) RequiredApprovals() int { return s.opt.RequiredApprovals }

// CreateRequest records a pending request. It refuses a duration above
// MaxDuration, a request for someone already entitled (ErrAlreadyEntitled,
// saying how), and a second pending request for the same email
// (ErrDuplicate, returning the pending one).
func (s *Service) CreateRequest(ctx context.Context, in RequestInput) (Request, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return Request{}, err
	}
	switch {
	case in.RequestedBy == "":
		return Request{}, fmt.Errorf("request without a requester: %w", ErrInvalid)
	case in.Duration < 0:
		return Request{}, fmt.Errorf("duration %s is negative: %w", in.Duration, ErrInvalid)
	case s.opt.MaxDuration > 0 && in.Duration > s.opt.MaxDuration:
		return Request{}, fmt.Errorf("%s is longer than the longest grant a request may ask for (%s): %w",
			FormatDuration(in.Duration), FormatDuration(s.opt.MaxDuration), ErrInvalid)
	case len([]rune(in.Reason)) > 2000:
		return Request{}, fmt.Errorf("keep the reason under 2,000 characters: %w", ErrInvalid)
	}
	now := s.opt.Now().UTC()
	var r Request
	err = s.store.Update(ctx, func(tx Tx) error {
		ent, err := s.entitlement(tx, email, now)
		if err != nil {
			return err
		}
		if ent.Entitled {
			return fmt.Errorf("%s already has access (%s): %w", email, strings.Join(ent.Reasons, "; "), ErrAlreadyEntitled)
		}
		pending, err := tx.RequestsInState(StatusPending, 1<<20)
		if err != nil {
			return err
		}
		for _, p := range pending {
			if p.Email == email {
				r = p
				return fmt.Errorf("a request for %s is already waiting for approval (%s, asked by %s): %w", email, p.ID, p.RequestedBy, ErrDuplicate)
			}
		}
		id, err := tx.NewID("req")
		if err != nil {
			return err
		}
		r = Request{ID: id, Email: email, RequestedBy: in.RequestedBy, Duration: in.Duration, Reason: in.Reason,
			Status: StatusPending, CreatedAt: now, UpdatedAt: now}
		if err := tx.PutRequest(r); err != nil {
			return err
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: in.RequestedBy, Action: "request", Email: email, Outcome: "ok",
			Detail: requestDetail(r)})
		return err
	})
	if err != nil {
		if errors.Is(err, ErrAlreadyEntitled) || errors.Is(err, ErrDuplicate) {
			s.auditOutcome(ctx, in.RequestedBy, "request", email, "refused", innerText(err))
		}
		return r, fmt.Errorf("request %s: %w", email, err)
	}
	return r, nil
}

func requestDetail(r Request) string {
	d := "request " + r.ID
	if r.Duration > 0 {
		d += " for " + FormatDuration(r.Duration)
	} else {
		d += " without expiry"
	}
	if r.Reason != "" {
		d += ", reason: " + r.Reason
	}
	return d
}

// SetRequestMessage records where the approval message of request id was
// posted, so that decisions and expiry can update it.
func (s *Service) SetRequestMessage(ctx context.Context, id, channel, ts string) error {
	return s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		r.Channel, r.MessageTS = channel, ts
		return tx.PutRequest(r)
	})
}

// Approvals returns the distinct approvers who approved r.
func Approvals(r Request) []string {
	var out []string
	for _, d := range r.Decisions {
		if d.Approved && !slices.Contains(out, d.By) {
			out = append(out, d.By)
		}
	}
	return out
}

// Decide records approver's decision on request id in one transaction.
// The caller has checked that approver may approve. A deny ends the
// request; the RequiredApprovals-th distinct approval grants it: the
// assignment (source request, expiring Duration after now) and its job are
// written in the same transaction.
//
// Refusals return the request as it stands with an error wrapping
// ErrAlreadyDecided (someone decided first), ErrForbidden (the requester
// deciding their own request) or ErrDuplicate (this approver approved
// already); they change nothing and are audited.
func (s *Service) Decide(ctx context.Context, id, approver string, approve bool, reason string) (Request, Job, error) {
	if approver == "" {
		return Request{}, Job{}, fmt.Errorf("decision without an approver: %w", ErrInvalid)
	}
	now := s.opt.Now().UTC()
	var r Request
	var job Job
	action := "deny"
	if approve {
		action = "approve"
	}
	// A refusal is audited in the same transaction that found it (one
	// write per click, even in a storm of clicks) and returned afterwards.
	var refusal error
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		job, refusal = Job{}, nil
		if r, err = tx.Request(id); err != nil {
			return err
		}
		switch {
		case r.Status != StatusPending:
			refusal = fmt.Errorf("request %s was %s by %s: %w", id, r.Status, orSystem(r.DecidedBy), ErrAlreadyDecided)
		case approver == r.RequestedBy:
			refusal = fmt.Errorf("you asked for this access, so someone else must decide: %w", ErrForbidden)
		case approve && slices.Contains(Approvals(r), approver):
			refusal = fmt.Errorf("you approved already; %d of %d approvals so far: %w", len(Approvals(r)), s.opt.RequiredApprovals, ErrDuplicate)
		}
		if refusal != nil {
			_, err := tx.AppendAudit(AuditEvent{At: now, Actor: approver, Action: action, Email: r.Email, Outcome: "refused", Detail: innerText(refusal)})
			return err
		}
		r.Decisions = append(r.Decisions, Decision{By: approver, Approved: approve, Reason: reason, At: now})
		r.UpdatedAt = now
		detail := fmt.Sprintf("request %s", r.ID)
		if reason != "" {
			detail += ", reason: " + reason
		}
		switch {
		case !approve:
			r.Status, r.DecidedBy = StatusDenied, approver
		case len(Approvals(r)) >= s.opt.RequiredApprovals:
			r.Status, r.DecidedBy = StatusApproved, approver
			if job, err = s.grant(tx, r, approver, now); err != nil {
				return err
			}
			detail += ", granted, job " + job.ID
		default:
			detail += fmt.Sprintf(", %d of %d approvals", len(Approvals(r)), s.opt.RequiredApprovals)
		}
		if err := tx.PutRequest(r); err != nil {
			return err
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: approver, Action: action, Email: r.Email, Outcome: "ok", Detail: detail})
		return err
	})
	if err != nil {
		return r, Job{}, err
	}
	if refusal != nil {
		return r, Job{}, refusal
	}
	if job.ID != "" {
		s.Wake()
	}
	return r, job, nil
}

// grant turns an approved request into an assignment and its job.
func (s *Service) grant(tx Tx, r Request, approver string, now time.Time) (Job, error) {
	as, err := tx.Assignments(r.Email)
	if err != nil {
		return Job{}, err
	}
	id, err := tx.NewID("asg")
	if err != nil {
		return Job{}, err
	}
	a := Assignment{ID: id, Email: r.Email, Source: SourceRequest, Ref: r.ID, GrantedBy: approver, Reason: r.Reason, CreatedAt: now}
	if r.Duration > 0 {
		a.ExpiresAt = now.Add(r.Duration)
	}
	as = slices.DeleteFunc(as, func(x Assignment) bool { return x.Source == SourceRequest && x.Ref == r.ID })
	if err := tx.PutAssignments(r.Email, append(as, a)); err != nil {
		return Job{}, err
	}
	// The requester hears when the account is ready.
	return s.enqueue(tx, r.Email, ActionInvite, r.RequestedBy, now)
}

// CancelRequest withdraws a pending request; only its requester may.
func (s *Service) CancelRequest(ctx context.Context, id, by string) (Request, error) {
	now := s.opt.Now().UTC()
	var r Request
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if r, err = tx.Request(id); err != nil {
			return err
		}
		if r.RequestedBy != by {
			return fmt.Errorf("only the person who asked can cancel a request: %w", ErrForbidden)
		}
		if r.Status != StatusPending {
			return fmt.Errorf("request %s was %s by %s: %w", id, r.Status, orSystem(r.DecidedBy), ErrAlreadyDecided)
		}
		r.Status, r.DecidedBy, r.UpdatedAt = StatusCancelled, by, now
		if err := tx.PutRequest(r); err != nil {
			return err
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: by, Action: "cancel", Email: r.Email, Outcome: "ok", Detail: "request " + r.ID})
		return err
	})
	if err != nil {
		if errors.Is(err, ErrForbidden) || errors.Is(err, ErrAlreadyDecided) {
			s.auditOutcome(ctx, by, "cancel", r.Email, "refused", innerText(err))
		}
		return r, err
	}
	return r, nil
}

// ExpireRequests ends pending requests older than ttl and returns them.
func (s *Service) ExpireRequests(ctx context.Context, ttl time.Duration) ([]Request, error) {
	if ttl <= 0 {
		return nil, nil
	}
	now := s.opt.Now().UTC()
	var out []Request
	err := s.store.Update(ctx, func(tx Tx) error {
		out = out[:0]
		pending, err := tx.RequestsInState(StatusPending, 1<<30)
		if err != nil {
			return err
		}
		for _, r := range pending {
			if now.Sub(r.CreatedAt) < ttl {
				continue
			}
			r.Status, r.DecidedBy, r.UpdatedAt = StatusExpired, System, now
			if err := tx.PutRequest(r); err != nil {
				return err
			}
			if _, err := tx.AppendAudit(AuditEvent{At: now, Actor: System, Action: "request.expire", Email: r.Email, Outcome: "ok",
				Detail: fmt.Sprintf("request %s waited longer than %s", r.ID, FormatDuration(ttl))}); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire requests: %w", err)
	}
	return out, nil
}

// Reminder is a time-bound grant about to end, for the person to tell.
type Reminder struct {
	Assignment Assignment
	Tell       string // Slack user ID: the requester of a request, else the grantor
}

// DueReminders marks and returns grants longer than two days that end
// within a day and whose holder was not reminded yet.
func (s *Service) DueReminders(ctx context.Context) ([]Reminder, error) {
	now := s.opt.Now().UTC()
	dueNow := func(a Assignment) bool {
		return !a.ExpiresAt.IsZero() && a.RemindedAt.IsZero() && a.Live(now) &&
			a.ExpiresAt.Sub(a.CreatedAt) > 2*Day && a.ExpiresAt.Sub(now) <= Day
	}
	// Found read-only first; the write lock only when someone is due.
	due, err := s.emailsWith(ctx, dueNow)
	if err != nil || len(due) == 0 {
		return nil, err
	}
	var out []Reminder
	err = s.store.Update(ctx, func(tx Tx) error {
		out = out[:0]
		for _, email := range due {
			as, err := tx.Assignments(email)
			if err != nil {
				return err
			}
			changed := false
			for i, a := range as {
				if dueNow(a) {
					as[i].RemindedAt = now
					changed = true
					out = append(out, Reminder{Assignment: as[i]})
				}
			}
			if changed {
				if err := tx.PutAssignments(email, as); err != nil {
					return err
				}
			}
		}
		for i := range out {
			out[i].Tell = s.whoToTell(tx, out[i].Assignment)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reminders: %w", err)
	}
	return out, nil
}

// WhoToTell returns the Slack user to tell about a's end: the requester of
// the request that granted it, else who granted it ("" for System).
func (s *Service) WhoToTell(ctx context.Context, a Assignment) string {
	var who string
	_ = s.store.View(ctx, func(tx ReadTx) error {
		who = s.whoToTell(tx, a)
		return nil
	})
	return who
}

func (s *Service) whoToTell(tx ReadTx, a Assignment) string {
	if a.Source == SourceRequest && a.Ref != "" {
		if r, err := tx.Request(a.Ref); err == nil {
			return r.RequestedBy
		}
	}
	if a.GrantedBy == System {
		return ""
	}
	return a.GrantedBy
}

// Request returns request id.
func (s *Service) Request(ctx context.Context, id string) (Request, error) {
	var r Request
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		r, err = tx.Request(id)
		return err
	})
	return r, err
}

func (s *Service) auditOutcome(ctx context.Context, actor, action, email, outcome, detail string) {
	err := s.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		_, err := tx.AppendAudit(AuditEvent{At: s.opt.Now().UTC(), Actor: actor, Action: action, Email: email, Outcome: outcome, Detail: detail})
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}

func orSystem(id string) string {
	if id == "" {
		return System
	}
	return id
}

// innerText is err's message without the sentinel's suffix.
func innerText(err error) string {
	s := err.Error()
	for _, sentinel := range []error{ErrAlreadyDecided, ErrAlreadyEntitled, ErrDuplicate, ErrForbidden, ErrProtected, ErrInvalid, ErrNotFound} {
		s = strings.TrimSuffix(s, ": "+sentinel.Error())
	}
	return s
}
