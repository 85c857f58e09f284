package provisioning

import (
	"context"
	"errors"
	"time"
)

// The organization's directory: people, groups and org units as the
// identity provider (over SCIM) or a file import describes them. Being in
// it does not entitle anyone; an assignment to the person, to one of their
// groups, or to their org unit or a parent unit does, while their directory
// account is enabled. Withdrawal follows the directory: a person deleted,
// disabled, moved out of an org unit with access or removed from a group
// with access loses that access, and their Slack account is deactivated
// unless something else still entitles them.

// PersonStatus is a directory account's state.
type PersonStatus string

const (
	PersonEnabled  PersonStatus = "enabled"
	PersonDisabled PersonStatus = "disabled"
)

// Person is someone in the organization's directory.
type Person struct {
	ID         string       `json:"id"`                    // Roster's ID, the SCIM resource id
	ExternalID string       `json:"external_id,omitempty"` // the IdP's ID
	UserName   string       `json:"user_name,omitempty"`   // SCIM userName
	Email      string       `json:"email"`                 // lower-case; unique
	Name       string       `json:"name,omitempty"`
	Status     PersonStatus `json:"status"`
	OrgUnit    string       `json:"org_unit,omitempty"` // "/Engineering/Platform"; "" for none
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
}

// Group is a directory group. Members are person IDs.
type Group struct {
	ID         string    `json:"id"`
	ExternalID string    `json:"external_id,omitempty"`
	Name       string    `json:"name"` // unique, case-insensitively
	Members    []string  `json:"members,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// GrantKind is what a directory grant gives access to.
type GrantKind string

const (
	GrantGroup   GrantKind = "group"
	GrantOrgUnit GrantKind = "org-unit"
)

// DirectoryGrant gives access to every enabled member of a group, or of an
// org unit and its sub-units.
type DirectoryGrant struct {
	Kind      GrantKind `json:"kind"`
	Target    string    `json:"target"` // group name, or org unit path
	GrantedBy string    `json:"granted_by"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// HeldState is the life cycle of a held change.
type HeldState string

const (
	HeldPending   HeldState = "pending"
	HeldConfirmed HeldState = "confirmed"
	HeldDiscarded HeldState = "discarded"
)

// HeldChange is a set of deactivations one change would cause, more than
// ROSTER_MAX_DEACTIVATIONS allows at once. The directory change itself is
// recorded; the deactivations wait until an admin confirms them in App Home
// (each then runs as a normal job, which re-reads the entitlement).
type HeldChange struct {
	ID          string    `json:"id"`
	Cause       string    `json:"cause"` // "import", "reconcile", "group deleted: X", "grant withdrawn: group X"…
	By          string    `json:"by"`
	Emails      []string  `json:"emails"`
	State       HeldState `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	DecidedBy   string    `json:"decided_by,omitempty"`
	DecidedAt   time.Time `json:"decided_at,omitzero"`
	ActiveCount int       `json:"active_count"` // active members when held, for the threshold shown
}

// Entitlement says whether an email is entitled and why.
type Entitlement struct {
	Entitled bool
	// Reasons in words: "direct (by U123)", "request req-…", "via group
	// Contractors", "via /Engineering", "adopted".
	Reasons []string
	// Disabled is true when the directory has the person and their
	// account is disabled: nothing entitles them then.
	Disabled bool
}

// ErrHeld means a change was recorded but its deactivations wait for an
// admin's confirmation; the wrapping text names the held change.
var ErrHeld = errors.New("held for confirmation")

// DirectoryChange is one change to the directory, from a SCIM request or a
// file import. People are matched by email, groups by name
// (case-insensitively). Group members are given as emails in MemberEmails.
type DirectoryChange struct {
	Upsert       []Person
	Delete       []string // emails
	UpsertGroups []GroupInput
	DeleteGroups []string // names
	// Full makes the change a full sync: people and groups absent from
	// Upsert and UpsertGroups are deleted.
	Full bool
	// DryRun computes the result and changes nothing.
	DryRun bool
	By     string // "scim", "import", or a Slack user ID
	Cause  string // for the audit log and held changes
}

// GroupInput is a group as a change describes it. MemberEmails replace
// the group's members.
type GroupInput struct {
	// ID, when set, names the stored group to update, so that a change can
	// rename it; otherwise the group is matched by Name.
	ID           string
	Name         string
	ExternalID   string
	MemberEmails []string
}

// DirectoryResult says what a change did (or, in dry-run, would do).
type DirectoryResult struct {
	PeopleAdded, PeopleUpdated, PeopleDeleted int
	GroupsAdded, GroupsUpdated, GroupsDeleted int
	Invites                                   []string // emails newly entitled (invite or reactivate)
	Deactivate                                []string // emails no longer entitled
	Held                                      *HeldChange
	Jobs                                      int
}

// These Service methods are implemented in orgdir_service.go.
var _ interface {
	Entitlement(ctx context.Context, email string) (Entitlement, error)
	ApplyDirectory(ctx context.Context, ch DirectoryChange) (DirectoryResult, error)
	GrantDirectory(ctx context.Context, g DirectoryGrant) (DirectoryResult, error)
	WithdrawDirectory(ctx context.Context, kind GrantKind, target, by string) (DirectoryResult, error)
	DirectoryGrants(ctx context.Context) ([]DirectoryGrant, error)
	PreviewGrant(ctx context.Context, kind GrantKind, target string) ([]string, error)
	ConfirmHeld(ctx context.Context, id, by string) (HeldChange, error)
	DiscardHeld(ctx context.Context, id, by string) (HeldChange, error)
} = (*Service)(nil)
