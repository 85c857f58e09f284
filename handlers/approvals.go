package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/provisioning"
)

// Approvals is the part of the provisioning service the approval
// workflow uses.
type Approvals interface {
	CreateRequest(ctx context.Context, in provisioning.RequestInput) (provisioning.Request, error)
	SetRequestMessage(ctx context.Context, id, channel, ts string) error
	Decide(ctx context.Context, id, approver string, approve bool, reason string) (provisioning.Request, provisioning.Job, error)
	CancelRequest(ctx context.Context, id, by string) (provisioning.Request, error)
	Request(ctx context.Context, id string) (provisioning.Request, error)
	RequiredApprovals() int
}

func (h *Roster) registerApprovals(r *Router) {
	r.Action(blocks.ActionApprove, h.approveClick)
	r.Action(blocks.ActionDeny, h.denyClick)
	r.View(blocks.CallbackDeny, h.denySubmit)
	r.Action(blocks.ActionCancelRequest, h.cancelClick)
}

// isApprover reports whether userID may decide requests: an admin, or one
// of ROSTER_APPROVERS.
func (h *Roster) isApprover(ctx context.Context, userID string) (bool, error) {
	if slices.Contains(h.approvers, userID) {
		return true, nil
	}
	return h.isAdmin(ctx, userID)
}

// createRequest records the request, posts it for approval and tells the
// requester what happened, through tell.
func (h *Roster) createRequest(ctx context.Context, in provisioning.RequestInput, tell func(...slack.Block) error) error {
	r, err := h.approvals.CreateRequest(ctx, in)
	switch {
	case errors.Is(err, provisioning.ErrAlreadyEntitled):
		return tell(blocks.Text(":information_source: " + blocks.Escape(capitalize(innerText(err))) + ". No request is needed.")...)
	case errors.Is(err, provisioning.ErrDuplicate):
		return tell(blocks.Text(":information_source: " + blocks.Escape(capitalize(innerText(err))) + ".")...)
	case err != nil:
		return h.fail(ctx, err, tell)
	}
	h.refreshHome(ctx, in.RequestedBy)
	msg := blocks.ApprovalMessage(r, h.approvals.RequiredApprovals(), h.now())
	_, ts, err := h.slack.PostMessageContext(ctx, h.approvalsChannel,
		slack.MsgOptionText(fmt.Sprintf("Access request for %s", blocks.Escape(r.Email)), false),
		slack.MsgOptionBlocks(msg...), slack.MsgOptionDisableLinkUnfurl())
	if err == nil {
		if err := h.approvals.SetRequestMessage(ctx, r.ID, h.approvalsChannel, ts); err != nil {
			return fmt.Errorf("remember approval message of %s: %w", r.ID, err)
		}
		h.clearNotice(noticeChannel)
		return tell(blocks.Text(fmt.Sprintf(":incoming_envelope: Your request for *%s* is waiting for approval in <#%s>. You will get a message here when it is decided.", blocks.Escape(r.Email), h.approvalsChannel))...)
	}
	// The channel cannot take it: approvers get it by DM, the requester
	// and admins are told plainly.
	h.log.WarnContext(ctx, "post request to the approvals channel", "channel", h.approvalsChannel, "err", err)
	h.setNotice(noticeChannel, fmt.Sprintf(":warning: Roster cannot post requests in <#%s> (%s): approvers get them by direct message instead. Invite Roster to the channel (`/invite @roster`), or set ROSTER_APPROVALS_CHANNEL to another channel.", h.approvalsChannel, blocks.Escape(slackErrorCode(err))))
	sent := 0
	for _, id := range h.approverIDs() {
		if id == in.RequestedBy {
			continue
		}
		if derr := h.dm(ctx, id, msg); derr != nil {
			h.log.WarnContext(ctx, "DM request to approver", "approver", id, "err", derr)
			continue
		}
		sent++
	}
	h.audit(ctx, provisioning.AuditEvent{Actor: provisioning.System, Action: "request.post", Email: r.Email, Outcome: "failed",
		Detail: fmt.Sprintf("request %s: cannot post in %s (%s); sent to %d approvers by DM", r.ID, h.approvalsChannel, slackErrorCode(err), sent)})
	if sent == 0 {
		return tell(blocks.Text(fmt.Sprintf(":warning: Your request for *%s* is recorded (`%s`), but Roster could not post it in the approvals channel nor reach an approver. Tell a Roster admin.", blocks.Escape(r.Email), r.ID))...)
	}
	return tell(blocks.Text(fmt.Sprintf(":incoming_envelope: Your request for *%s* is recorded. Roster could not post it in the approvals channel, so it sent it to %d approvers directly.", blocks.Escape(r.Email), sent))...)
}

func slackErrorCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return "unreachable"
}

// approverIDs is everyone who may decide: ROSTER_APPROVERS and
// ROSTER_ADMINS, or, when both are empty, the workspace's owners and
// admins from the directory.
func (h *Roster) approverIDs() []string {
	ids := slices.Clone(h.approvers)
	for _, id := range h.admins {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		return ids
	}
	all, _ := h.dir.Search("", 0, 1<<30)
	for _, m := range all {
		if isAdminMember(m) && !m.IsBot {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// approveClick records an approval. Authority comes from who clicked,
// checked here, never from the button.
func (h *Roster) approveClick(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	ok, err := h.isApprover(ctx, cb.User.ID)
	if err != nil {
		return err
	}
	if !ok {
		h.audit(ctx, provisioning.AuditEvent{Actor: cb.User.ID, Action: "approve", Outcome: "refused", Detail: "not an approver, request " + act.Value})
		return h.ephemeral(ctx, cb, "Only approvers can decide requests: Roster admins, workspace owners and admins, and the people in ROSTER_APPROVERS.")
	}
	return h.decide(ctx, cb, act.Value, true, "")
}

// denyClick opens the short modal for a reason; the submission denies.
func (h *Roster) denyClick(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	if ok, known := h.approverFromCache(cb.User.ID); known && !ok {
		h.audit(ctx, provisioning.AuditEvent{Actor: cb.User.ID, Action: "deny", Outcome: "refused", Detail: "not an approver, request " + act.Value})
		return h.ephemeral(ctx, cb, "Only approvers can decide requests: Roster admins, workspace owners and admins, and the people in ROSTER_APPROVERS.")
	}
	view := blocks.DenyModal(act.Value)
	// The modal remembers the message to update, beside the request ID.
	view.PrivateMetadata = act.Value + "|" + cb.Channel.ID + "|" + cb.Container.MessageTs
	return h.open(ctx, cb.TriggerID, view)
}

func (h *Roster) approverFromCache(userID string) (ok, known bool) {
	if slices.Contains(h.approvers, userID) {
		return true, true
	}
	return h.adminFromCache(userID)
}

func (h *Roster) denySubmit(ctx context.Context, cb slack.InteractionCallback) (*slack.ViewSubmissionResponse, func(context.Context) error) {
	in := blocks.ReadModal(cb.View.State)
	if n := len([]rune(in.Reason)); n > 2000 {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{blocks.BlockReason: fmt.Sprintf("Keep the reason under 2,000 characters (it has %d).", n)}), nil
	}
	id, channel, ts := splitMeta(cb.View.PrivateMetadata)
	user := cb.User
	return nil, func(ctx context.Context) error {
		ok, err := h.isApprover(ctx, user.ID)
		if err != nil {
			return err
		}
		click := slack.InteractionCallback{User: user, Channel: slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: channel}}}}
		click.Container.MessageTs = ts
		if !ok {
			h.audit(ctx, provisioning.AuditEvent{Actor: user.ID, Action: "deny", Outcome: "refused", Detail: "not an approver, request " + id})
			return h.dm(ctx, user.ID, blocks.Text("Only approvers can decide requests."))
		}
		return h.decide(ctx, click, id, false, strings.TrimSpace(in.Reason))
	}
}

func splitMeta(meta string) (id, channel, ts string) {
	parts := strings.SplitN(meta, "|", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2]
}

// decide records the decision, updates the approval message(s) and tells
// the requester; a refused decision is explained to the clicker only.
func (h *Roster) decide(ctx context.Context, cb slack.InteractionCallback, id string, approve bool, reason string) error {
	r, _, err := h.approvals.Decide(ctx, id, cb.User.ID, approve, reason)
	switch {
	case errors.Is(err, provisioning.ErrAlreadyDecided):
		return h.tellClicker(ctx, cb, fmt.Sprintf("This request was already %s by %s.", r.Status, mention(r.DecidedBy)))
	case errors.Is(err, provisioning.ErrForbidden), errors.Is(err, provisioning.ErrDuplicate):
		return h.tellClicker(ctx, cb, capitalize(innerText(err))+".")
	case errors.Is(err, provisioning.ErrNotFound):
		return h.tellClicker(ctx, cb, "That request no longer exists.")
	case err != nil:
		_ = h.tellClicker(ctx, cb, UserMessage(err))
		return fmt.Errorf("decide %s: %w", id, err)
	}
	h.updateApprovalMessages(ctx, r, cb)
	if r.Status != provisioning.StatusPending {
		if derr := h.dm(ctx, r.RequestedBy, blocks.ApprovalMessage(r, h.approvals.RequiredApprovals(), h.now())); derr != nil {
			h.log.WarnContext(ctx, "tell requester", "request", r.ID, "err", derr)
		}
		h.refreshHome(ctx, r.RequestedBy)
	}
	h.refreshHome(ctx, cb.User.ID)
	return nil
}

// updateApprovalMessages re-renders r in the approvals channel and, when the
// click came from another message (an approver's DM), in that one too.
func (h *Roster) updateApprovalMessages(ctx context.Context, r provisioning.Request, cb slack.InteractionCallback) {
	msg := blocks.ApprovalMessage(r, h.approvals.RequiredApprovals(), h.now())
	type ref struct{ ch, ts string }
	refs := []ref{}
	if r.Channel != "" && r.MessageTS != "" {
		refs = append(refs, ref{r.Channel, r.MessageTS})
	}
	if ts := cb.Container.MessageTs; cb.Channel.ID != "" && ts != "" && (ts != r.MessageTS || cb.Channel.ID != r.Channel) {
		refs = append(refs, ref{cb.Channel.ID, ts})
	}
	for _, m := range refs {
		_, _, _, err := h.slack.UpdateMessageContext(ctx, m.ch, m.ts,
			slack.MsgOptionText(fmt.Sprintf("Access request for %s: %s", blocks.Escape(r.Email), r.Status), false),
			slack.MsgOptionBlocks(msg...))
		if err != nil {
			h.log.WarnContext(ctx, "update approval message", "request", r.ID, "channel", m.ch, "err", err)
		}
	}
}

func mention(id string) string {
	if id == "" || id == provisioning.System {
		return "Roster"
	}
	return "<@" + id + ">"
}

// tellClicker answers whoever clicked, and only them.
func (h *Roster) tellClicker(ctx context.Context, cb slack.InteractionCallback, text string) error {
	if cb.Channel.ID == "" {
		return h.dm(ctx, cb.User.ID, blocks.Text(blocks.Escape(text)))
	}
	return h.ephemeral(ctx, cb, text)
}

// ephemeral posts text (plain words, escaped here) to the clicker only.
func (h *Roster) ephemeral(ctx context.Context, cb slack.InteractionCallback, text string) error {
	bs := blocks.Text(blocks.Escape(text))
	if cb.Channel.ID == "" {
		return h.dm(ctx, cb.User.ID, bs)
	}
	if _, err := h.slack.PostEphemeralContext(ctx, cb.Channel.ID, cb.User.ID, slack.MsgOptionText(blocks.Escape(text), false), slack.MsgOptionBlocks(bs...)); err != nil {
		return fmt.Errorf("ephemeral to %s: %w", cb.User.ID, err)
	}
	return nil
}

// cancelClick withdraws the clicker's own pending request from their Home.
func (h *Roster) cancelClick(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	r, err := h.approvals.CancelRequest(ctx, act.Value, cb.User.ID)
	switch {
	case errors.Is(err, provisioning.ErrForbidden), errors.Is(err, provisioning.ErrAlreadyDecided), errors.Is(err, provisioning.ErrNotFound):
		h.refreshHome(ctx, cb.User.ID)
		return h.dm(ctx, cb.User.ID, blocks.Text(blocks.Escape(capitalize(innerText(err))+".")))
	case err != nil:
		return err
	}
	h.updateApprovalMessages(ctx, r, slack.InteractionCallback{})
	h.refreshHome(ctx, cb.User.ID)
	return nil
}

// RequestsExpired updates the messages of requests nobody decided in time
// and tells their requesters.
func (h *Roster) RequestsExpired(ctx context.Context, rs []provisioning.Request) {
	for _, r := range rs {
		h.updateApprovalMessages(ctx, r, slack.InteractionCallback{})
		if err := h.dm(ctx, r.RequestedBy, blocks.ApprovalMessage(r, h.approvals.RequiredApprovals(), h.now())); err != nil {
			h.log.WarnContext(ctx, "tell requester of expiry", "request", r.ID, "err", err)
		}
	}
}

// GrantsEnded tells whoever asked for each ended grant.
func (h *Roster) GrantsEnded(ctx context.Context, ended []provisioning.Assignment, tell func(provisioning.Assignment) string, entitled func(email string) bool) {
	for _, a := range ended {
		who := tell(a)
		if who == "" {
			continue
		}
		if err := h.dm(ctx, who, blocks.GrantEnded(a, entitled(a.Email))); err != nil {
			h.log.WarnContext(ctx, "tell grant ended", "email", a.Email, "err", err)
		}
	}
}

// GrantsEnding reminds whoever asked that a grant ends within a day.
func (h *Roster) GrantsEnding(ctx context.Context, rs []provisioning.Reminder) {
	for _, r := range rs {
		if r.Tell == "" {
			continue
		}
		if err := h.dm(ctx, r.Tell, blocks.GrantEnding(r.Assignment, h.now())); err != nil {
			h.log.WarnContext(ctx, "remind grant ending", "email", r.Assignment.Email, "err", err)
		}
	}
}

// ---- notices shown to admins in App Home ----

const noticeChannel = "approvals-channel"

func (h *Roster) setNotice(key, text string) {
	h.mu.Lock()
	h.notices[key] = text
	h.mu.Unlock()
}

func (h *Roster) clearNotice(key string) {
	h.mu.Lock()
	delete(h.notices, key)
	h.mu.Unlock()
}

func (h *Roster) noticeList() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, n := range h.notices {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// innerText is err's message without the sentinel's suffix or operation
// prefix.
func innerText(err error) string {
	s := innermost(err)
	for _, sentinel := range []error{provisioning.ErrAlreadyDecided, provisioning.ErrAlreadyEntitled, provisioning.ErrDuplicate} {
		s = strings.TrimSuffix(s, ": "+sentinel.Error())
	}
	if rest, ok := strings.CutPrefix(s, "request "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			s = after
		}
	}
	return s
}
