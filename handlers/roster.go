package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/provisioning"
)

// SlackAPI is the part of *slack.Client the Roster handlers use.
type SlackAPI interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error)
	PublishViewContext(ctx context.Context, req slack.PublishViewContextRequest) (*slack.ViewResponse, error)
	OpenConversationContext(ctx context.Context, params *slack.OpenConversationParameters) (*slack.Channel, bool, bool, error)
	GetUserInfoContext(ctx context.Context, user string, options ...slack.GetUserInfoOption) (*slack.User, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
}

// Service is the part of the provisioning service the handlers use.
type Service interface {
	Assign(ctx context.Context, g provisioning.Grant) (provisioning.Assignment, provisioning.Job, error)
	Revoke(ctx context.Context, email, by, reason string) ([]provisioning.Assignment, provisioning.Job, error)
	Status(ctx context.Context, email string) (provisioning.Status, error)
	DryRun() bool
	Approvals
	OrgDirectory
	LastReconcile(ctx context.Context) (provisioning.ReconcileResult, bool, error)
	Entitlements(ctx context.Context, emails []string) ([]provisioning.Entitlement, error)
}

// Directory is Roster's copy of the workspace's members.
type Directory interface {
	ByID(id string) (provisioning.Member, bool)
	ByEmail(email string) (provisioning.Member, bool)
	Search(q string, offset, limit int) ([]provisioning.Member, int)
	Put(m provisioning.Member)
}

// DirectoryUpdater applies team_join and user_change to Roster's copy.
type DirectoryUpdater interface {
	Apply(ctx context.Context, u slack.User) error
}

// Roster handles the /roster command, its modals, App Home and the
// directory events.
type Roster struct {
	slack     SlackAPI
	svc       Service
	approvals Approvals
	store     provisioning.Store
	dir       Directory
	updater   DirectoryUpdater
	log       *slog.Logger
	now       func() time.Time

	admins           []string // ROSTER_ADMINS
	approvers        []string // ROSTER_APPROVERS
	approvalsChannel string
	maxDuration      time.Duration

	mu      sync.Mutex
	dms     map[string]string    // user ID → DM channel ID (conversations.open)
	viewers map[string]bool      // users who opened the Home tab since start
	homes   map[string]homeState // per admin: the search and page they look at
	notices map[string]string    // problems admins see in App Home, by kind
}

type homeState struct {
	query string
	page  int
}

// Config holds the settings of the Roster handlers.
type Config struct {
	Admins           []string
	Approvers        []string
	ApprovalsChannel string
	MaxDuration      time.Duration
	Now              func() time.Time
}

// NewRoster returns the Roster handlers.
func NewRoster(api SlackAPI, svc Service, store provisioning.Store, dir Directory, updater DirectoryUpdater, log *slog.Logger, cfg Config) *Roster {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Roster{
		slack: api, svc: svc, approvals: svc, store: store, dir: dir, updater: updater, log: log, now: cfg.Now,
		admins: cfg.Admins, approvers: cfg.Approvers, approvalsChannel: cfg.ApprovalsChannel, maxDuration: cfg.MaxDuration,
		homes: map[string]homeState{}, notices: map[string]string{}, dms: map[string]string{}, viewers: map[string]bool{},
	}
}

// Register adds Roster's handlers to r.
func (h *Roster) Register(r *Router) {
	r.Command("/roster", h.command)
	r.View(blocks.CallbackAssign, h.assignSubmit)
	r.View(blocks.CallbackRevoke, h.revokeSubmit)
	r.View(blocks.CallbackRequest, h.requestSubmit)
	r.Action(blocks.ActionHomeSearch, h.homeSearch)
	r.Action(blocks.ActionHomePage, h.homePage)
	r.Action(blocks.ActionOpenAssign, h.openModal)
	r.Action(blocks.ActionOpenRevoke, h.openModal)
	r.Action(blocks.ActionOpenRequest, h.openModal)
	r.Action(blocks.ActionRevokeMember, h.openModal)
	r.Event("app_home_opened", h.homeOpened)
	r.Event("team_join", h.memberChanged)
	r.Event("user_change", h.memberChanged)
	h.registerApprovals(r)
	h.registerDirectory(r)
}

// ---- authorization ----

// isAdmin reports whether userID is an admin in Roster: in ROSTER_ADMINS,
// or a workspace owner or admin. It asks Roster's copy of the directory
// (kept current by user_change) and only calls users.info for someone not
// in it yet.
func (h *Roster) isAdmin(ctx context.Context, userID string) (bool, error) {
	if admin, known := h.adminFromCache(userID); known {
		return admin, nil
	}
	u, err := h.slack.GetUserInfoContext(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("users.info %s: %w", userID, err)
	}
	m := MemberFromSlack(*u)
	h.dir.Put(m)
	return isAdminMember(m), nil
}

// adminFromCache answers from memory only, for paths where no I/O is
// allowed (before views.open, in a view submission's ack); known is false
// for someone not in the directory yet.
func (h *Roster) adminFromCache(userID string) (admin, known bool) {
	if slices.Contains(h.admins, userID) {
		return true, true
	}
	m, ok := h.dir.ByID(userID)
	return ok && isAdminMember(m), ok
}

func isAdminMember(m provisioning.Member) bool {
	return !m.Deleted && (m.IsAdmin || m.IsOwner || m.IsPrimaryOwner)
}

// refuse answers a refused attempt and audits it.
func (h *Roster) refuse(ctx context.Context, userID, action, target string, reply func(string) error) error {
	h.audit(ctx, provisioning.AuditEvent{Actor: userID, Action: action, Email: target, Outcome: "refused", Detail: "not an admin"})
	return reply(fmt.Sprintf("Only Roster admins can `%s`: workspace owners and admins, and the people in ROSTER_ADMINS. Ask one of them, or use `/roster request` to ask for access.", action))
}

func (h *Roster) audit(ctx context.Context, ev provisioning.AuditEvent) {
	ev.At = h.now().UTC()
	err := h.store.Update(context.WithoutCancel(ctx), func(tx provisioning.Tx) error {
		_, err := tx.AppendAudit(ev)
		return err
	})
	if err != nil {
		h.log.ErrorContext(ctx, "audit", "action", ev.Action, "err", err)
	}
}

// MemberFromSlack converts a Web API user into a directory member.
func MemberFromSlack(u slack.User) provisioning.Member {
	return provisioning.Member{
		ID: u.ID, Email: strings.ToLower(u.Profile.Email), Name: u.Name,
		RealName: firstNonEmpty(u.RealName, u.Profile.RealName), DisplayName: u.Profile.DisplayName,
		Deleted: u.Deleted, IsOwner: u.IsOwner, IsPrimaryOwner: u.IsPrimaryOwner, IsAdmin: u.IsAdmin,
		IsBot: u.IsBot || u.ID == "USLACKBOT", IsRestricted: u.IsRestricted, IsUltraRestricted: u.IsUltraRestricted,
		Updated: int64(u.Updated),
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// ---- the /roster command ----

func (h *Roster) command(ctx context.Context, cmd slack.SlashCommand) error {
	reply := h.replyTo(ctx, cmd)
	c, err := ParseCommand(cmd.Text)
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			return reply(blocks.Usage(ue.Problem, ue.Form)...)
		}
		return reply(blocks.Usage(err.Error(), "/roster help")...)
	}
	switch c.Verb {
	case VerbHelp:
		admin, err := h.isAdmin(ctx, cmd.UserID)
		if err != nil {
			h.log.WarnContext(ctx, "check admin for help", "err", err)
		}
		return reply(blocks.Help(admin, h.svc.DryRun())...)
	case VerbAssign, VerbRevoke, VerbFind:
		admin, err := h.isAdmin(ctx, cmd.UserID)
		if err != nil {
			_ = reply(blocks.Text("Roster could not check who you are with Slack just now; try again in a minute.")...)
			return err
		}
		if !admin {
			return h.refuse(ctx, cmd.UserID, string(c.Verb), c.Target.Email, func(s string) error { return reply(blocks.Text(blocks.Escape(s))...) })
		}
	}
	switch c.Verb {
	case VerbAssign:
		if c.Modal {
			return h.open(ctx, cmd.TriggerID, blocks.AssignModal(blocks.ModalInput{}, h.svc.DryRun()))
		}
		return h.assign(ctx, cmd.UserID, c, reply)
	case VerbRevoke:
		if c.Modal {
			return h.open(ctx, cmd.TriggerID, blocks.RevokeModal(blocks.ModalInput{}, h.svc.DryRun()))
		}
		return h.revoke(ctx, cmd.UserID, c.Target, c.Reason, reply)
	case VerbRequest:
		if c.Modal {
			return h.open(ctx, cmd.TriggerID, blocks.RequestModal(blocks.ModalInput{}, h.svc.DryRun()))
		}
		return h.request(ctx, cmd.UserID, c, reply)
	case VerbStatus:
		return h.status(ctx, cmd.UserID, c.Target, reply)
	case VerbFind:
		ms, total := h.dir.Search(c.Query, 0, 20)
		return reply(blocks.FindResults(c.Query, ms, total)...)
	}
	return reply(blocks.Usage("Unknown subcommand.", "/roster help")...)
}

// replyTo answers the person who typed cmd, and only them, through the
// command's response_url.
func (h *Roster) replyTo(ctx context.Context, cmd slack.SlashCommand) func(...slack.Block) error {
	return func(bs ...slack.Block) error {
		_, _, err := h.slack.PostMessageContext(ctx, cmd.ChannelID,
			slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeEphemeral),
			slack.MsgOptionText(fallbackText(bs), false),
			slack.MsgOptionBlocks(bs...))
		if err != nil {
			return fmt.Errorf("reply to %s: %w", cmd.UserID, err)
		}
		return nil
	}
}

// fallbackText is the notification text of a message: its first section,
// which the builders have already escaped.
func fallbackText(bs []slack.Block) string {
	for _, b := range bs {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			t := s.Text.Text
			if len([]rune(t)) > 300 {
				t = string([]rune(t)[:299]) + "…"
			}
			return t
		}
	}
	return "Roster"
}

func (h *Roster) open(ctx context.Context, triggerID string, view slack.ModalViewRequest) error {
	if _, err := h.slack.OpenViewContext(ctx, triggerID, view); err != nil {
		return fmt.Errorf("open %s modal: %w", view.CallbackID, err)
	}
	return nil
}

// resolve turns a command target into an email: a mention is looked up in
// the directory, then with users.info.
func (h *Roster) resolve(ctx context.Context, t Target) (string, error) {
	if t.Email != "" {
		return t.Email, nil
	}
	if t.UserID == "" {
		return "", fmt.Errorf("give an email address or a member mention: %w", provisioning.ErrInvalid)
	}
	m, ok := h.dir.ByID(t.UserID)
	if !ok {
		u, err := h.slack.GetUserInfoContext(ctx, t.UserID)
		if err != nil {
			var se slack.SlackErrorResponse
			if errors.As(err, &se) && se.Err == "user_not_found" {
				return "", fmt.Errorf("<@%s> is not a member of this workspace: %w", t.UserID, provisioning.ErrNotFound)
			}
			return "", fmt.Errorf("users.info %s: %w", t.UserID, err)
		}
		m = MemberFromSlack(*u)
		h.dir.Put(m)
	}
	if m.Email == "" {
		return "", fmt.Errorf("<@%s> has no email address Roster can see (a bot, or an account without one): %w", t.UserID, provisioning.ErrInvalid)
	}
	return m.Email, nil
}

func (h *Roster) assign(ctx context.Context, by string, c Command, reply func(...slack.Block) error) error {
	if c.Target.Group != "" || c.Target.OrgUnit != "" {
		return h.assignDirectory(ctx, c, reply)
	}
	email, err := h.resolve(ctx, c.Target)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	if h.maxDuration > 0 && c.Duration > h.maxDuration {
		return reply(blocks.Usage(fmt.Sprintf("%s is longer than the longest grant allowed here (%s).", provisioning.FormatDuration(c.Duration), provisioning.FormatDuration(h.maxDuration)), CommandForms()[VerbAssign])...)
	}
	_, job, err := h.svc.Assign(ctx, provisioning.Grant{Email: email, Source: provisioning.SourceDirect, By: by, Reason: c.Reason, Duration: c.Duration})
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	h.refreshHome(ctx, by)
	return reply(blocks.Accepted("assign", email, job, h.svc.DryRun())...)
}

func (h *Roster) revoke(ctx context.Context, by string, t Target, reason string, reply func(...slack.Block) error) error {
	if t.Group != "" || t.OrgUnit != "" {
		return h.revokeDirectory(ctx, t, reply)
	}
	email, err := h.resolve(ctx, t)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	_, job, err := h.svc.Revoke(ctx, email, by, reason)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	h.refreshHome(ctx, by)
	return reply(blocks.Accepted("revoke", email, job, h.svc.DryRun())...)
}

func (h *Roster) request(ctx context.Context, by string, c Command, reply func(...slack.Block) error) error {
	email, err := h.resolve(ctx, c.Target)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	if h.maxDuration > 0 && c.Duration > h.maxDuration {
		return reply(blocks.Usage(fmt.Sprintf("%s is longer than the longest grant a request may ask for (%s).", provisioning.FormatDuration(c.Duration), provisioning.FormatDuration(h.maxDuration)), CommandForms()[VerbRequest])...)
	}
	return h.createRequest(ctx, provisioning.RequestInput{Email: email, RequestedBy: by, Duration: c.Duration, Reason: c.Reason}, reply)
}

func (h *Roster) status(ctx context.Context, userID string, t Target, reply func(...slack.Block) error) error {
	email := t.Email
	if email == "" && t.UserID == "" {
		t.UserID = userID // your own
	}
	email, err := h.resolve(ctx, t)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	st, err := h.svc.Status(ctx, email)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	v := blocks.StatusView{Email: email, Status: st, DryRun: h.svc.DryRun(), Now: h.now()}
	err = h.store.View(ctx, func(tx provisioning.ReadTx) error {
		pending, err := tx.RequestsInState(provisioning.StatusPending, 1<<20)
		for _, r := range pending {
			if r.Email == email {
				v.Requests = append(v.Requests, r)
			}
		}
		return err
	})
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	if m, ok := h.dir.ByEmail(email); ok {
		v.Member = &m
	}
	return reply(blocks.StatusMessage(v)...)
}

// fail answers err in words; expected outcomes are not logged as errors.
func (h *Roster) fail(ctx context.Context, err error, reply func(...slack.Block) error) error {
	if rerr := reply(blocks.Text(blocks.Escape(UserMessage(err)))...); rerr != nil {
		return errors.Join(err, rerr)
	}
	if isUserError(err) {
		return nil
	}
	return err
}

// UserMessage is the single place errors become words a Slack user sees.
func UserMessage(err error) string {
	var de *provisioning.DurationError
	switch {
	case errors.As(err, &de):
		return de.Error()
	case errors.Is(err, provisioning.ErrProtected):
		return "Roster refused: " + innermost(err) + "."
	case errors.Is(err, provisioning.ErrInvalid), errors.Is(err, provisioning.ErrNotFound):
		return capitalize(innermost(err)) + "."
	case errors.Is(err, provisioning.ErrForbidden):
		return "You can't do that."
	case errors.Is(err, context.DeadlineExceeded):
		return "Slack or Roster took too long to answer; nothing was changed. Try again in a minute."
	default:
		return "Something went wrong and nothing was changed; the operators can see the details in Roster's log."
	}
}

func isUserError(err error) bool {
	return errors.Is(err, provisioning.ErrProtected) || errors.Is(err, provisioning.ErrInvalid) ||
		errors.Is(err, provisioning.ErrNotFound) || errors.Is(err, provisioning.ErrForbidden)
}

// innermost returns err's text without the sentinel's suffix and the
// operation prefixes ("revoke a@b: x is an admin: protected account" →
// "x is an admin").
func innermost(err error) string {
	s := err.Error()
	for _, sentinel := range []error{provisioning.ErrProtected, provisioning.ErrInvalid, provisioning.ErrNotFound, provisioning.ErrForbidden} {
		s = strings.TrimSuffix(s, ": "+sentinel.Error())
	}
	for _, prefix := range []string{"revoke ", "assign ", "status ", "lookup ", "withdraw ", "preview "} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			if _, after, ok := strings.Cut(rest, ": "); ok {
				s = after
			}
		}
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if r[0] >= 'a' && r[0] <= 'z' {
		r[0] -= 'a' - 'A'
	}
	return string(r)
}

// ---- modals ----

func (h *Roster) openModal(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	dry := h.svc.DryRun()
	if act.ActionID == blocks.ActionOpenRequest {
		return h.open(ctx, cb.TriggerID, blocks.RequestModal(blocks.ModalInput{}, dry))
	}
	// No I/O before views.open: the trigger expires in 3 seconds. The
	// submission checks authorization again.
	if admin, known := h.adminFromCache(cb.User.ID); known && !admin {
		return h.refuse(ctx, cb.User.ID, strings.TrimPrefix(act.ActionID, "home."), "", func(s string) error { return h.dm(ctx, cb.User.ID, blocks.Text(blocks.Escape(s))) })
	}
	switch act.ActionID {
	case blocks.ActionOpenAssign:
		return h.open(ctx, cb.TriggerID, blocks.AssignModal(blocks.ModalInput{}, dry))
	case blocks.ActionRevokeMember:
		in := blocks.ModalInput{MemberID: act.Value}
		if m, ok := h.dir.ByID(act.Value); ok {
			in.Email = m.Email
		}
		return h.open(ctx, cb.TriggerID, blocks.RevokeModal(in, dry))
	default:
		return h.open(ctx, cb.TriggerID, blocks.RevokeModal(blocks.ModalInput{}, dry))
	}
}

// validateModal checks a submission without I/O and returns field errors.
func (h *Roster) validateModal(in blocks.ModalInput, needEmail, withDuration bool) (email string, d time.Duration, errs map[string]string) {
	errs = map[string]string{}
	if needEmail || strings.TrimSpace(in.Email) != "" {
		e, err := provisioning.NormalizeEmail(in.Email)
		if err != nil {
			errs[blocks.BlockEmail] = "Enter one email address, like ada@example.com."
		}
		email = e
	}
	if withDuration && strings.TrimSpace(in.Duration) != "" {
		v, err := provisioning.ParseDuration(in.Duration)
		switch {
		case err != nil:
			errs[blocks.BlockDuration] = UserMessage(err)
		case h.maxDuration > 0 && v > h.maxDuration:
			errs[blocks.BlockDuration] = fmt.Sprintf("At most %s here.", provisioning.FormatDuration(h.maxDuration))
		}
		d = v
	}
	if n := len([]rune(in.Reason)); n > 2000 {
		errs[blocks.BlockReason] = fmt.Sprintf("Keep the reason under 2,000 characters (it has %d).", n)
	}
	return email, d, errs
}

func (h *Roster) assignSubmit(ctx context.Context, cb slack.InteractionCallback) (*slack.ViewSubmissionResponse, func(context.Context) error) {
	in := blocks.ReadModal(cb.View.State)
	if t := strings.ToLower(strings.TrimSpace(in.Email)); strings.HasPrefix(t, "group:") || strings.HasPrefix(t, "ou:") {
		return h.assignDirectorySubmit(cb, in)
	}
	email, d, errs := h.validateModal(in, true, true)
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs), nil
	}
	return nil, h.asAdmin(cb.User.ID, "assign", email, func(ctx context.Context, tell func(...slack.Block) error) error {
		return h.assign(ctx, cb.User.ID, Command{Verb: VerbAssign, Target: Target{Email: email}, Duration: d, Reason: in.Reason}, tell)
	})
}

// assignDirectorySubmit handles group:NAME or ou:/PATH typed in the Assign
// modal's Email field: the preview goes to the admin by DM, with the
// button that runs it.
func (h *Roster) assignDirectorySubmit(cb slack.InteractionCallback, in blocks.ModalInput) (*slack.ViewSubmissionResponse, func(context.Context) error) {
	errs := map[string]string{}
	if strings.TrimSpace(in.Duration) != "" {
		errs[blocks.BlockDuration] = "Access through a group or org unit lasts while the directory says so; leave Duration empty."
	}
	c, err := ParseCommand("assign " + strings.TrimSpace(in.Email))
	if err != nil || (c.Target.Group == "" && c.Target.OrgUnit == "") || c.Reason != "" {
		problem := "Write group:NAME (quotes for spaces) or ou:/PATH, e.g. ou:/Engineering/Platform."
		var ue *UsageError
		if errors.As(err, &ue) {
			problem = capitalize(ue.Problem) + "."
		}
		errs[blocks.BlockEmail] = problem
	}
	if n := len([]rune(in.Reason)); n > 2000 {
		errs[blocks.BlockReason] = fmt.Sprintf("Keep the reason under 2,000 characters (it has %d).", n)
	}
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs), nil
	}
	c.Reason = strings.TrimSpace(in.Reason)
	target := c.Target.Group + c.Target.OrgUnit
	return nil, h.asAdmin(cb.User.ID, "assign", target, func(ctx context.Context, tell func(...slack.Block) error) error {
		return h.assignDirectory(ctx, c, tell)
	})
}

// asAdmin is the follow-up of an admin-only submission: it checks again,
// with users.info if need be, that user is an admin, then runs fn, which
// answers by DM through tell.
func (h *Roster) asAdmin(user, action, email string, fn func(ctx context.Context, tell func(...slack.Block) error) error) func(context.Context) error {
	return func(ctx context.Context) error {
		tell := func(bs ...slack.Block) error { return h.dm(ctx, user, bs) }
		ok, err := h.isAdmin(ctx, user)
		if err != nil {
			return err
		}
		if !ok {
			return h.refuse(ctx, user, action, email, func(s string) error { return tell(blocks.Text(blocks.Escape(s))...) })
		}
		return fn(ctx, tell)
	}
}

func (h *Roster) revokeSubmit(ctx context.Context, cb slack.InteractionCallback) (*slack.ViewSubmissionResponse, func(context.Context) error) {
	in := blocks.ReadModal(cb.View.State)
	if in.MemberID == "" && strings.TrimSpace(in.Email) == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{blocks.BlockEmail: "Pick a member or enter an email address."}), nil
	}
	email, _, errs := h.validateModal(in, false, false)
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs), nil
	}
	return nil, h.asAdmin(cb.User.ID, "revoke", email, func(ctx context.Context, tell func(...slack.Block) error) error {
		t := Target{Email: email}
		if email == "" {
			t.UserID = in.MemberID
		}
		return h.revoke(ctx, cb.User.ID, t, in.Reason, tell)
	})
}

func (h *Roster) requestSubmit(ctx context.Context, cb slack.InteractionCallback) (*slack.ViewSubmissionResponse, func(context.Context) error) {
	in := blocks.ReadModal(cb.View.State)
	email, d, errs := h.validateModal(in, true, true)
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs), nil
	}
	user := cb.User.ID
	return nil, func(ctx context.Context) error {
		tell := func(bs ...slack.Block) error { return h.dm(ctx, user, bs) }
		return h.request(ctx, user, Command{Verb: VerbRequest, Target: Target{Email: email}, Duration: d, Reason: in.Reason}, tell)
	}
}

// dm sends a direct message from Roster to userID.
func (h *Roster) dm(ctx context.Context, userID string, bs []slack.Block) error {
	h.mu.Lock()
	ch, ok := h.dms[userID]
	h.mu.Unlock()
	if !ok {
		c, _, _, err := h.slack.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{userID}, ReturnIM: true})
		if err != nil {
			return fmt.Errorf("open DM with %s: %w", userID, err)
		}
		ch = c.ID
		h.mu.Lock()
		h.dms[userID] = ch
		h.mu.Unlock()
	}
	_, _, err := h.slack.PostMessageContext(ctx, ch,
		slack.MsgOptionText(fallbackText(bs), false),
		slack.MsgOptionBlocks(bs...),
		slack.MsgOptionDisableLinkUnfurl())
	if err != nil {
		return fmt.Errorf("DM %s: %w", userID, err)
	}
	return nil
}

// NotifyJob tells whoever started j how it ended, by DM. It is the
// provisioning service's OnJobFinished hook.
func (h *Roster) NotifyJob(ctx context.Context, j provisioning.Job) {
	if j.StartedBy == "" || j.StartedBy == provisioning.System {
		return
	}
	if err := h.dm(ctx, j.StartedBy, blocks.JobNotice(j, j.DryRun)); err != nil {
		h.log.WarnContext(ctx, "tell job outcome", "job", j.ID, "user", j.StartedBy, "err", err)
	}
	h.refreshHome(ctx, j.StartedBy)
}

// ---- App Home ----

func (h *Roster) homeOpened(ctx context.Context, evt slackevents.EventsAPIInnerEvent, _ json.RawMessage) error {
	e, ok := evt.Data.(*slackevents.AppHomeOpenedEvent)
	if !ok || e.Tab != "home" {
		return nil
	}
	h.mu.Lock()
	h.viewers[e.User] = true
	h.mu.Unlock()
	return h.publishHome(ctx, e.User)
}

func (h *Roster) homeSearch(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	h.mu.Lock()
	h.homes[cb.User.ID] = homeState{query: strings.TrimSpace(act.Value)}
	h.mu.Unlock()
	return h.publishHome(ctx, cb.User.ID)
}

func (h *Roster) homePage(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	page, query, err := blocks.DecodePage(act.Value)
	if err != nil {
		return err // a value Roster did not write; nothing to show
	}
	h.mu.Lock()
	h.homes[cb.User.ID] = homeState{query: query, page: page}
	h.mu.Unlock()
	return h.publishHome(ctx, cb.User.ID)
}

// refreshHome re-publishes userID's Home after a change they made.
// Only people who opened the Home tab since Roster started can be looking
// at it; everyone else gets a fresh one from app_home_opened when they do.
func (h *Roster) refreshHome(ctx context.Context, userID string) {
	h.mu.Lock()
	viewer := h.viewers[userID]
	h.mu.Unlock()
	if !viewer {
		return
	}
	if err := h.publishHome(ctx, userID); err != nil {
		h.log.WarnContext(ctx, "refresh home", "user", userID, "err", err)
	}
}

// publishHome builds userID's Home tab from Roster's own copy of the
// directory and the store, then publishes it.
func (h *Roster) publishHome(ctx context.Context, userID string) error {
	admin, err := h.isAdmin(ctx, userID)
	if err != nil {
		return err
	}
	var view slack.HomeTabViewRequest
	if admin {
		v, err := h.adminHome(ctx, userID)
		if err != nil {
			return err
		}
		view = v
	} else {
		var reqs []provisioning.Request
		err := h.store.View(ctx, func(tx provisioning.ReadTx) error {
			var err error
			reqs, err = tx.RequestsBy(userID, 20)
			return err
		})
		if err != nil {
			return fmt.Errorf("home for %s: %w", userID, err)
		}
		view = blocks.MemberHomeView(blocks.MemberHome{Requests: reqs, DryRun: h.svc.DryRun(), Now: h.now()})
	}
	if _, err := h.slack.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: userID, View: view}); err != nil {
		return fmt.Errorf("publish home for %s: %w", userID, err)
	}
	return nil
}

func (h *Roster) adminHome(ctx context.Context, userID string) (slack.HomeTabViewRequest, error) {
	h.mu.Lock()
	st := h.homes[userID]
	h.mu.Unlock()
	st.page = max(st.page, 0)
	ms, total := h.dir.Search(st.query, st.page*blocks.HomePageSize, blocks.HomePageSize)
	pages := max(1, (total+blocks.HomePageSize-1)/blocks.HomePageSize)
	if st.page >= pages { // the directory shrank under this page
		st.page = pages - 1
		ms, total = h.dir.Search(st.query, st.page*blocks.HomePageSize, blocks.HomePageSize)
	}
	home := blocks.AdminHome{Query: st.query, Page: st.page, Pages: pages, Total: total, DryRun: h.svc.DryRun(), Now: h.now(), Notices: h.noticeList()}
	if last, ok, err := h.svc.LastReconcile(ctx); err != nil {
		return slack.HomeTabViewRequest{}, fmt.Errorf("home for %s: %w", userID, err)
	} else if ok {
		home.Reconcile = &last
	}
	err := h.store.View(ctx, func(tx provisioning.ReadTx) error {
		for _, m := range ms {
			row := blocks.MemberRow{Member: m}
			if m.Email != "" {
				as, err := tx.Assignments(m.Email)
				if err != nil {
					return err
				}
				row.Assignments = as
			}
			home.Rows = append(home.Rows, row)
		}
		var err error
		if home.Pending, err = tx.RequestsInState(provisioning.StatusPending, 10); err != nil {
			return err
		}
		if home.FailedJobs, err = tx.JobsInState(provisioning.JobFailed, 5); err != nil {
			return err
		}
		if home.Held, err = tx.HeldChanges(provisioning.HeldPending, 10); err != nil {
			return err
		}
		home.Audit, err = tx.RecentAudit(10)
		return err
	})
	if err != nil {
		return slack.HomeTabViewRequest{}, fmt.Errorf("home for %s: %w", userID, err)
	}
	// Why the directory gives each row access (or why it withdraws it).
	emails := make([]string, len(home.Rows))
	for i, row := range home.Rows {
		emails[i] = row.Member.Email
	}
	ents, err := h.svc.Entitlements(ctx, emails)
	if err != nil {
		return slack.HomeTabViewRequest{}, fmt.Errorf("home for %s: %w", userID, err)
	}
	for i, e := range ents {
		if home.Rows[i].Member.Email == "" {
			continue
		}
		for _, r := range e.Reasons {
			if strings.HasPrefix(r, "via ") || r == provisioning.ReasonDisabled {
				home.Rows[i].Directory = append(home.Rows[i].Directory, r)
			}
		}
	}
	return blocks.AdminHomeView(home), nil
}

// ---- directory events ----

// memberChanged applies team_join and user_change to Roster's copy of the
// directory; a change to someone's admin flags changes what they may do at
// once.
func (h *Roster) memberChanged(ctx context.Context, evt slackevents.EventsAPIInnerEvent, raw json.RawMessage) error {
	// Decoded from Slack's JSON, not slackevents' User, which has no
	// email.
	var e struct {
		User slack.User `json:"user"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decode %s: %w", evt.Type, err)
	}
	u := e.User
	if u.ID == "" {
		return nil
	}
	if h.updater != nil {
		return h.updater.Apply(ctx, u)
	}
	h.dir.Put(MemberFromSlack(u))
	return nil
}
