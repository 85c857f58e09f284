// Package provisioning is Roster's domain core: who is entitled to be an
// active member of the Slack workspace, and the durable jobs that make each
// person's Slack account match that entitlement.
//
// It imports neither slack-go nor bbolt. The interfaces it consumes (Store,
// Provider, Members) are defined here and implemented by adapters: store
// (bbolt), provisioning/scim (Slack's SCIM API) and app (the Web API).
package provisioning

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Domain sentinels. Adapters wrap them as fmt.Errorf("…: %w", err).
var (
	// ErrNotFound: no such record or account.
	ErrNotFound = errors.New("not found")
	// ErrEmailTaken: Slack already has an account (active or deactivated)
	// with this email (SCIM email_taken).
	ErrEmailTaken = errors.New("email taken")
	// ErrUsernameTaken: the SCIM userName is in use (SCIM username_taken).
	ErrUsernameTaken = errors.New("username taken")
	// ErrForbidden: the actor may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrProtected: the account may never be deactivated by Roster (owner,
	// admin, bot, or one of Roster's own admins).
	ErrProtected = errors.New("protected account")
	// ErrInvalid: the input is malformed; the wrapping text says how.
	ErrInvalid = errors.New("invalid input")
	// ErrAlreadyDecided: the request was decided before.
	ErrAlreadyDecided = errors.New("already decided")
	// ErrAlreadyEntitled: the person already has access.
	ErrAlreadyEntitled = errors.New("already entitled")
	// ErrDuplicate: the same thing exists already (a pending request for
	// the email, this approver's vote).
	ErrDuplicate = errors.New("duplicate")
)

// RetryableError is a failure worth retrying: a 429, a 5xx, a network error,
// a per-user write lock. After is the wait Slack asked for (Retry-After);
// zero means no hint, and the caller backs off on its own.
type RetryableError struct {
	After time.Duration
	Err   error
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError is a failure Slack will repeat however often it is asked:
// an invalid email, cannot_disable_primary_owner, a missing plan. Code is
// Slack's error code; Reason is a sentence for people.
type PermanentError struct {
	Code   string
	Reason string
}

func (e *PermanentError) Error() string {
	if e.Code == "" {
		return e.Reason
	}
	return e.Reason + " (" + e.Code + ")"
}

// Source says where an assignment came from.
type Source string

const (
	SourceDirect  Source = "direct"
	SourceRequest Source = "request"
	SourceGroup   Source = "group"
	SourceOrgUnit Source = "org-unit"
	SourceAdopted Source = "adopted"
)

// Assignment says "this email is entitled to be an active member".
// Several may exist for one email; the person is entitled while at least one
// is live.
type Assignment struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Source    Source    `json:"source"`
	Ref       string    `json:"ref,omitempty"` // request ID, group name or org unit path
	GrantedBy string    `json:"granted_by"`    // Slack user ID or "system"
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: no expiry
	// RemindedAt is when the person who asked was reminded that the grant
	// ends soon; zero: not yet.
	RemindedAt time.Time `json:"reminded_at,omitzero"`
}

// Live reports whether a is in force at now.
func (a Assignment) Live(now time.Time) bool {
	return a.ExpiresAt.IsZero() || now.Before(a.ExpiresAt)
}

// RequestStatus is the state of a Request.
type RequestStatus string

const (
	StatusPending   RequestStatus = "pending"
	StatusApproved  RequestStatus = "approved"
	StatusDenied    RequestStatus = "denied"
	StatusExpired   RequestStatus = "expired"
	StatusCancelled RequestStatus = "cancelled"
)

// Decision is one approver's vote on a request.
type Decision struct {
	By       string    `json:"by"`
	Approved bool      `json:"approved"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// Request is an assignment someone asked for, waiting for approval.
type Request struct {
	ID          string        `json:"id"`
	Email       string        `json:"email"`
	RequestedBy string        `json:"requested_by"`
	Duration    time.Duration `json:"duration,omitempty"` // zero: no expiry
	Reason      string        `json:"reason,omitempty"`
	Status      RequestStatus `json:"status"`
	Decisions   []Decision    `json:"decisions,omitempty"`
	DecidedBy   string        `json:"decided_by,omitempty"`
	Channel     string        `json:"channel,omitempty"` // where the approval message is
	MessageTS   string        `json:"message_ts,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// JobState is the life cycle of a Job.
type JobState string

const (
	JobPending JobState = "pending"
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobFailed  JobState = "failed"
)

// Action is the write a job decided to make.
type Action string

const (
	ActionNone       Action = "none"
	ActionInvite     Action = "invite"
	ActionActivate   Action = "activate"
	ActionDeactivate Action = "deactivate"
)

// Job makes one person's Slack account match their entitlement. It does not
// carry the write to make: at run time it reads the entitlement and the
// account's real state and makes the one write needed, so running it twice,
// or after a crash, is harmless.
//
// Intent is what the decision that caused the job expected (invite or
// activate when access was granted, deactivate when withdrawn); Action is
// what the job found it had to do, set when it ran.
type Job struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Intent      Action    `json:"intent"`
	Action      Action    `json:"action,omitempty"`
	State       JobState  `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	StartedBy   string    `json:"started_by"` // Slack user ID or "system": who is told the outcome
	DryRun      bool      `json:"dry_run,omitempty"`
	AccountID   string    `json:"account_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
}

// AuditEvent is an append-only record of a decision, a write or a refusal.
type AuditEvent struct {
	ID      string    `json:"id"` // time-ordered, assigned by the store
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`  // Slack user ID or "system"
	Action  string    `json:"action"` // e.g. "assign", "revoke", "job.invite", "refuse"
	Email   string    `json:"email,omitempty"`
	Outcome string    `json:"outcome"` // "ok", "refused", "failed", "dry-run", "retry"
	Detail  string    `json:"detail,omitempty"`
}

// Account is a Slack account as the SCIM API shows it.
type Account struct {
	ID       string
	UserName string
	Email    string
	Active   bool
	// Roles from the SCIM resource when Slack includes them ("owner",
	// "admin", "primary_owner"); guard rails also ask the Web API.
	Roles []string
}

// NewAccount is what an invite creates.
type NewAccount struct {
	Email       string
	UserName    string
	DisplayName string
}

// Provider performs account changes in Slack. Implementations must be
// idempotent: deactivating an inactive account returns nil.
//
// Errors: ErrNotFound (no account), ErrEmailTaken, ErrUsernameTaken,
// *RetryableError (429, 5xx, network, per-user lock), *PermanentError.
type Provider interface {
	LookupByEmail(ctx context.Context, email string) (Account, error)
	Get(ctx context.Context, id string) (Account, error)
	Create(ctx context.Context, a NewAccount) (Account, error)
	Activate(ctx context.Context, id string) error
	Deactivate(ctx context.Context, id string) error
}

// Member is a Slack member as the Web API (users.info, users.list) shows
// it: Roster's copy of the workspace directory, and what the guard rails
// need to know.
type Member struct {
	ID                string `json:"id"`
	Email             string `json:"email,omitempty"`
	Name              string `json:"name,omitempty"` // the handle
	RealName          string `json:"real_name,omitempty"`
	DisplayName       string `json:"display_name,omitempty"`
	Deleted           bool   `json:"deleted,omitempty"` // deactivated
	IsOwner           bool   `json:"is_owner,omitempty"`
	IsPrimaryOwner    bool   `json:"is_primary_owner,omitempty"`
	IsAdmin           bool   `json:"is_admin,omitempty"`
	IsBot             bool   `json:"is_bot,omitempty"`
	IsRestricted      bool   `json:"is_restricted,omitempty"`       // a guest
	IsUltraRestricted bool   `json:"is_ultra_restricted,omitempty"` // a single-channel guest
	Updated           int64  `json:"updated,omitempty"`             // Slack's "updated", Unix seconds
}

// Member types, as PRODUCT.md names them.
const (
	TypeMember        = "member"
	TypeMultiGuest    = "multi-channel guest"
	TypeSingleGuest   = "single-channel guest"
	TypeAdmin         = "admin"
	TypeOwner         = "owner"
	TypeBot           = "bot"
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
)

// Type is the member's type: member, multi-channel guest, single-channel
// guest, admin, owner or bot.
func (m Member) Type() string {
	switch {
	case m.IsBot:
		return TypeBot
	case m.IsOwner || m.IsPrimaryOwner:
		return TypeOwner
	case m.IsAdmin:
		return TypeAdmin
	case m.IsUltraRestricted:
		return TypeSingleGuest
	case m.IsRestricted:
		return TypeMultiGuest
	}
	return TypeMember
}

// Status is "active" or "deactivated".
func (m Member) Status() string {
	if m.Deleted {
		return StatusDeactivated
	}
	return StatusActive
}

// DisplayLabel is the best human name: real name, display name, handle or ID.
func (m Member) DisplayLabel() string {
	for _, s := range []string{m.RealName, m.DisplayName, m.Name} {
		if s != "" {
			return s
		}
	}
	return m.ID
}

// Members reads members through the Web API. MemberByID returns an error
// wrapping ErrNotFound for an unknown ID.
type Members interface {
	MemberByID(ctx context.Context, id string) (Member, error)
}

// ReadTx is a read-only view of the store inside one transaction. Values
// returned are copies, safe to keep after the transaction.
type ReadTx interface {
	// Assignments returns email's assignments (none: empty, no error).
	Assignments(email string) ([]Assignment, error)
	// ForEachAssignments calls fn for every email with assignments, in
	// email order; an error from fn stops the walk and is returned.
	ForEachAssignments(fn func(email string, as []Assignment) error) error
	// Job returns job id, or an error wrapping ErrNotFound.
	Job(id string) (Job, error)
	// PendingJob returns the pending job for email, if there is one.
	PendingJob(email string) (Job, bool, error)
	// DueJobs returns up to limit pending jobs whose NextAttempt is not
	// after now, earliest first.
	DueJobs(now time.Time, limit int) ([]Job, error)
	// NextDue returns the earliest NextAttempt of any pending job.
	NextDue() (time.Time, bool, error)
	// JobsInState returns up to limit jobs in state, newest first.
	JobsInState(state JobState, limit int) ([]Job, error)
	// CountJobs returns the number of jobs in each state.
	CountJobs() (map[JobState]int, error)
	// JobsForEmail returns up to limit of email's jobs, newest first.
	JobsForEmail(email string, limit int) ([]Job, error)
	// Request returns request id, or an error wrapping ErrNotFound.
	Request(id string) (Request, error)
	// Audit calls fn for each audit event at or after since, oldest first.
	Audit(since time.Time, fn func(AuditEvent) error) error
	// RecentAudit returns the newest limit audit events, newest first.
	RecentAudit(limit int) ([]AuditEvent, error)
	// Setting returns a small value Roster keeps about itself (the last
	// reconcile, whether it ran before); ok is false when it is unset.
	Setting(key string) (value []byte, ok bool, err error)
	// ForEachMember calls fn for every stored workspace member, in ID order.
	ForEachMember(fn func(Member) error) error
	// RequestsInState returns up to limit requests in state, newest first.
	RequestsInState(state RequestStatus, limit int) ([]Request, error)
	// RequestsBy returns up to limit requests made by the Slack user, newest first.
	RequestsBy(userID string, limit int) ([]Request, error)

	// The organization's directory (orgdir.go).

	// Person returns the person with email (lower-case), if there is one.
	Person(email string) (Person, bool, error)
	// PersonByID returns the person with Roster's ID id, if there is one.
	PersonByID(id string) (Person, bool, error)
	// ForEachPerson calls fn for every person, in email order; an error
	// from fn stops the walk and is returned.
	ForEachPerson(fn func(Person) error) error
	// Group returns group id, if there is one.
	Group(id string) (Group, bool, error)
	// GroupByName returns the group named name, compared
	// case-insensitively, if there is one.
	GroupByName(name string) (Group, bool, error)
	// ForEachGroup calls fn for every group, in ID order.
	ForEachGroup(fn func(Group) error) error
	// GroupsOf returns the groups the person with ID personID belongs to,
	// in ID order.
	GroupsOf(personID string) ([]Group, error)
	// InGroup reports whether the person with ID personID is a member of
	// group groupID, from the membership index (no group is decoded).
	InGroup(personID, groupID string) (bool, error)
	// Grants returns every directory grant.
	Grants() ([]DirectoryGrant, error)
	// HeldChanges returns up to limit held changes in state, newest first.
	HeldChanges(state HeldState, limit int) ([]HeldChange, error)
	// HeldChange returns held change id, or an error wrapping ErrNotFound.
	HeldChange(id string) (HeldChange, error)
}

// Tx is a read-write transaction. Everything done through one Tx commits
// together or not at all.
type Tx interface {
	ReadTx
	// PutAssignments replaces email's assignments; an empty slice deletes them.
	PutAssignments(email string, as []Assignment) error
	// NewID returns a new unique, time-ordered ID with the given prefix
	// ("asg", "job", "req").
	NewID(prefix string) (string, error)
	// PutJob stores j (ID required), keeping the indexes by state, due time
	// and email in step with j.State.
	PutJob(j Job) error
	// PutRequest stores r (ID required).
	PutRequest(r Request) error
	// AppendAudit stores ev with a new time-ordered ID and returns it.
	AppendAudit(ev AuditEvent) (AuditEvent, error)
	// PutSetting stores a value for Setting.
	PutSetting(key string, value []byte) error
	// PutMembers stores workspace members (Roster's copy of the directory),
	// replacing those with the same IDs.
	PutMembers(ms []Member) error
	// DeleteMembersExcept removes stored members whose IDs are not in keep
	// (after a full sync) and returns how many it removed.
	DeleteMembersExcept(keep map[string]bool) (int, error)

	// PutPerson stores p (ID and email required) under its email, keeping
	// the ID index: a known ID with a new email moves the record. An email
	// that belongs to another person is refused (ErrDuplicate).
	PutPerson(p Person) error
	// DeletePerson removes the person with email, from every group's
	// Members too. An unknown email is not an error.
	DeletePerson(email string) error
	// PutGroup stores g (ID and name required), keeping the name and
	// membership indexes. Members must be IDs of stored people; they are
	// stored sorted, without duplicates. A name another group has is
	// refused (ErrDuplicate).
	PutGroup(g Group) error
	// PutGroups is PutGroup for each of gs, faster for many groups.
	PutGroups(gs []Group) error
	// DeleteGroup removes group id and its index entries. An unknown ID is
	// not an error.
	DeleteGroup(id string) error
	// PutGrant stores g, replacing a grant of the same kind and target
	// (compared case-insensitively).
	PutGrant(g DirectoryGrant) error
	// DeleteGrant removes the grant of kind on target (compared
	// case-insensitively). An unknown grant is not an error.
	DeleteGrant(kind GrantKind, target string) error
	// PutHeldChange stores h (ID required).
	PutHeldChange(h HeldChange) error
}

// Store is Roster's durable state. Update runs fn in one read-write
// transaction: if fn returns an error, nothing is written and the error is
// returned unchanged. fn may run only once and must not do I/O outside the
// store.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(ReadTx) error) error
}
