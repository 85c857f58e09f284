package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/provisioning"
)

// OrgDirectory is the part of the provisioning service that manages access
// through the organization's directory.
type OrgDirectory interface {
	PreviewGrant(ctx context.Context, kind provisioning.GrantKind, target string) ([]string, error)
	GrantDirectory(ctx context.Context, g provisioning.DirectoryGrant) (provisioning.DirectoryResult, error)
	PreviewWithdraw(ctx context.Context, kind provisioning.GrantKind, target string) (provisioning.DirectoryResult, error)
	WithdrawDirectory(ctx context.Context, kind provisioning.GrantKind, target, by string) (provisioning.DirectoryResult, error)
	ConfirmHeld(ctx context.Context, id, by string) (provisioning.HeldChange, error)
	DiscardHeld(ctx context.Context, id, by string) (provisioning.HeldChange, error)
}

func (h *Roster) registerDirectory(r *Router) {
	r.Action(blocks.ActionGrantConfirm, h.grantConfirm)
	r.Action(blocks.ActionGrantCancel, h.grantCancel)
	r.Action(blocks.ActionWithdrawConfirm, h.withdrawConfirm)
	r.Action(blocks.ActionHeldConfirm, h.heldDecide)
	r.Action(blocks.ActionHeldDiscard, h.heldDecide)
}

// assignDirectory answers `/roster assign group:NAME` or `ou:/PATH`: it
// shows how many people the grant would invite or reactivate, and runs
// only when the admin confirms.
func (h *Roster) assignDirectory(ctx context.Context, c Command, reply func(...slack.Block) error) error {
	kind, target := provisioning.GrantGroup, c.Target.Group
	if c.Target.OrgUnit != "" {
		kind, target = provisioning.GrantOrgUnit, c.Target.OrgUnit
	}
	if c.Duration > 0 {
		return reply(blocks.Usage("Access through a group or org unit lasts while the directory says so; it takes no duration.", CommandForms()[VerbAssign])...)
	}
	reach, err := h.svc.PreviewGrant(ctx, kind, target)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	return reply(blocks.GrantPreview(kind, target, c.Reason, reach, h.svc.DryRun())...)
}

// grantConfirm runs a previewed grant. The button carries what to grant,
// not the authority to do it: the clicker is checked here.
func (h *Roster) grantConfirm(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	replace := h.replaceOriginal(ctx, cb)
	kind, target, reason, ok, err := h.grantClick(ctx, cb, act, "assign", replace)
	if !ok {
		return err
	}
	res, err := h.svc.GrantDirectory(ctx, provisioning.DirectoryGrant{Kind: kind, Target: target, GrantedBy: cb.User.ID, Reason: reason})
	if err != nil {
		return h.fail(ctx, err, replace)
	}
	h.refreshHome(ctx, cb.User.ID)
	what := "group " + target
	if kind == provisioning.GrantOrgUnit {
		what = "org unit " + target
	}
	return replace(blocks.Text(fmt.Sprintf(":white_check_mark: Access assigned to %s: %d provisioning jobs queued.", blocks.Escape(what), res.Jobs))...)
}

func (h *Roster) grantCancel(ctx context.Context, cb slack.InteractionCallback, _ *slack.BlockAction) error {
	return h.replaceOriginal(ctx, cb)(blocks.Text("Cancelled; nothing was assigned.")...)
}

// replaceOriginal answers a click by replacing the ephemeral message it
// came from.
func (h *Roster) replaceOriginal(ctx context.Context, cb slack.InteractionCallback) func(...slack.Block) error {
	return func(bs ...slack.Block) error {
		if cb.ResponseURL == "" {
			return h.dm(ctx, cb.User.ID, bs)
		}
		_, _, err := h.slack.PostMessageContext(ctx, cb.Channel.ID,
			slack.MsgOptionReplaceOriginal(cb.ResponseURL),
			slack.MsgOptionText(fallbackText(bs), false),
			slack.MsgOptionBlocks(bs...))
		if err != nil {
			return fmt.Errorf("answer %s: %w", cb.User.ID, err)
		}
		return nil
	}
}

// heldDecide confirms or discards a held set of deactivations from App
// Home.
func (h *Roster) heldDecide(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	admin, err := h.isAdmin(ctx, cb.User.ID)
	if err != nil {
		return err
	}
	confirm := blocks.BaseAction(act.ActionID) == blocks.ActionHeldConfirm
	action := "held.discard"
	if confirm {
		action = "held.confirm"
	}
	if !admin {
		return h.refuse(ctx, cb.User.ID, action, "", func(s string) error { return h.dm(ctx, cb.User.ID, blocks.Text(blocks.Escape(s))) })
	}
	var held provisioning.HeldChange
	if confirm {
		held, err = h.svc.ConfirmHeld(ctx, act.Value, cb.User.ID)
	} else {
		held, err = h.svc.DiscardHeld(ctx, act.Value, cb.User.ID)
	}
	switch {
	case errors.Is(err, provisioning.ErrAlreadyDecided), errors.Is(err, provisioning.ErrNotFound):
		h.refreshHome(ctx, cb.User.ID)
		return h.dm(ctx, cb.User.ID, blocks.Text(blocks.Escape(capitalize(innerText(err))+".")))
	case err != nil:
		return err
	}
	h.refreshHome(ctx, cb.User.ID)
	if confirm {
		return h.dm(ctx, cb.User.ID, blocks.Text(fmt.Sprintf(":white_check_mark: Confirmed: %d deactivation jobs queued (%s).", len(held.Emails), blocks.Escape(held.Cause))))
	}
	return nil
}

// revokeDirectory answers `/roster revoke group:NAME` or `ou:/PATH`: who
// would lose access, and a button that withdraws it.
func (h *Roster) revokeDirectory(ctx context.Context, t Target, reply func(...slack.Block) error) error {
	kind, target := provisioning.GrantGroup, t.Group
	if t.OrgUnit != "" {
		kind, target = provisioning.GrantOrgUnit, t.OrgUnit
	}
	res, err := h.svc.PreviewWithdraw(ctx, kind, target)
	if err != nil {
		return h.fail(ctx, err, reply)
	}
	return reply(blocks.WithdrawPreview(kind, target, res.Deactivate, res.Held != nil, h.svc.DryRun())...)
}

// withdrawConfirm withdraws a previewed grant; the clicker must be an
// admin.
func (h *Roster) withdrawConfirm(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) error {
	replace := h.replaceOriginal(ctx, cb)
	kind, target, _, ok, err := h.grantClick(ctx, cb, act, "revoke", replace)
	if !ok {
		return err
	}
	res, err := h.svc.WithdrawDirectory(ctx, kind, target, cb.User.ID)
	switch {
	case errors.Is(err, provisioning.ErrHeld):
		h.refreshHome(ctx, cb.User.ID)
		return replace(blocks.Text(fmt.Sprintf(":octagonal_sign: Access withdrawn from %s. Its %d deactivations wait in App Home for an admin's confirmation.", blocks.Escape(target), len(res.Deactivate)))...)
	case err != nil:
		return h.fail(ctx, err, replace)
	}
	h.refreshHome(ctx, cb.User.ID)
	return replace(blocks.Text(fmt.Sprintf(":white_check_mark: Access withdrawn from %s: %d deactivation jobs queued.", blocks.Escape(target), res.Jobs))...)
}

// grantClick reads the grant a confirm button carries and checks that the
// clicker is an admin; the button carries what to do, never the authority.
// When ok is false the click was answered (or err is to be logged).
func (h *Roster) grantClick(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction, action string, replace func(...slack.Block) error) (kind provisioning.GrantKind, target, reason string, ok bool, err error) {
	kind, target, reason, err = blocks.DecodeGrant(act.Value)
	if err != nil {
		return "", "", "", false, replace(blocks.Text("That button is no longer valid; run the command again.")...)
	}
	admin, err := h.isAdmin(ctx, cb.User.ID)
	if err != nil {
		return "", "", "", false, err
	}
	if !admin {
		return "", "", "", false, h.refuse(ctx, cb.User.ID, action, "", func(s string) error { return h.ephemeral(ctx, cb, s) })
	}
	return kind, target, reason, true, nil
}
