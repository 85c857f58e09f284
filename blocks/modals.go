package blocks

import (
	"strings"

	"github.com/slack-go/slack"
)

// ModalInput is what a modal's fields hold: the values to prefill when
// opening one (from the command text, or a Home row), and what ReadModal
// extracts from a submission. Error, when set, is shown above the fields,
// for example why the command text could not be used as it was; it is
// plain text and is escaped. Field errors on submission are not shown this
// way: they go in the view_submission ack, keyed by the Block* IDs.
type ModalInput struct {
	Email    string
	Duration string
	Reason   string
	MemberID string // a Slack user ID (Revoke's Member picker)
	Error    string
}

// modalErrorBudget is the most of ModalInput.Error a modal shows.
const modalErrorBudget = 1000

// durationHint is the hint under every Duration field.
const durationHint = "e.g. 7d, 2w; empty: no expiry"

// AssignModal is the Assign modal (callback CallbackAssign): Email,
// Duration (optional) and Reason (optional, multiline), submitted with
// "Assign".
func AssignModal(in ModalInput, dryRun bool) slack.ModalViewRequest {
	bs := modalTop(in, dryRun,
		"Assigning access invites the person to this workspace, or reactivates their deactivated account.")
	bs = append(bs,
		emailInput(in.Email, false, "Their work email address, or group:NAME or ou:/PATH for everyone in a directory group or org unit (you see how many people first)."),
		durationInput(in.Duration),
		reasonInput(in.Reason, "Why they need access", "Kept in the audit log."),
	)
	return modal(CallbackAssign, "Assign access", "Assign", bs)
}

// RevokeModal is the Revoke modal (callback CallbackRevoke): Member (a
// users_select, prefilled with in.MemberID) and Email, both optional since
// either one is enough, and Reason (optional), submitted with "Revoke".
func RevokeModal(in ModalInput, dryRun bool) slack.ModalViewRequest {
	bs := modalTop(in, dryRun,
		"Revoking withdraws every assignment of the person and deactivates their Slack account. Owners, admins and bots are never deactivated.")
	member := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plain("Choose a member"), ActionMember)
	if slackID.MatchString(in.MemberID) {
		member.InitialUser = in.MemberID
	}
	mb := slack.NewInputBlock(BlockMember, plain("Member"), plain("Email or Member is enough."), member)
	mb.Optional = true
	bs = append(bs,
		mb,
		emailInput(in.Email, true, "Or type the email, for someone the Member picker does not list."),
		reasonInput(in.Reason, "Why their access ends", "Kept in the audit log."),
	)
	return modal(CallbackRevoke, "Revoke access", "Revoke", bs)
}

// RequestModal is the Request modal (callback CallbackRequest): Email,
// Duration (optional) and Reason (optional), submitted with "Request".
func RequestModal(in ModalInput, dryRun bool) slack.ModalViewRequest {
	bs := modalTop(in, dryRun,
		"Ask for someone to get access to this workspace. Approvers decide in the approvals channel, and you get a DM when they do.")
	bs = append(bs,
		emailInput(in.Email, false, "Their work email address."),
		durationInput(in.Duration),
		reasonInput(in.Reason, "Why they need access", "Approvers see this."),
	)
	return modal(CallbackRequest, "Request access", "Request", bs)
}

// DenyModal asks an approver for the reason of a Deny (callback
// CallbackDeny). Reason is optional; private_metadata holds requestID.
func DenyModal(requestID string) slack.ModalViewRequest {
	v := modal(CallbackDeny, "Deny request", "Deny", []slack.Block{
		section("Deny request `" + line(requestID, refBudget) + "`? Nobody is given access, and the requester is told."),
		reasonInput("", "Why you deny it", "The requester sees this."),
	})
	v.PrivateMetadata = clip(requestID, maxMetadata)
	return v
}

// ReadModal extracts the fields of a submitted Assign, Revoke, Request or
// Deny modal, with surrounding white space removed. Missing fields (and a
// nil state) give empty strings.
func ReadModal(state *slack.ViewState) ModalInput {
	if state == nil {
		return ModalInput{}
	}
	get := func(block, action string) slack.BlockAction {
		return state.Values[block][action] // indexing nil maps is fine
	}
	return ModalInput{
		Email:    strings.TrimSpace(get(BlockEmail, ActionEmail).Value),
		Duration: strings.TrimSpace(get(BlockDuration, ActionDuration).Value),
		Reason:   strings.TrimSpace(get(BlockReason, ActionReason).Value),
		MemberID: strings.TrimSpace(get(BlockMember, ActionMember).SelectedUser),
	}
}

func modal(callbackID, title, submit string, bs []slack.Block) slack.ModalViewRequest {
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: callbackID,
		Title:      plain(title),
		Submit:     plain(submit),
		Close:      plain("Cancel"),
		Blocks:     slack.Blocks{BlockSet: bs},
	}
}

// modalTop is what opens every modal: the error, if any, the dry-run note
// and a sentence on what submitting does.
func modalTop(in ModalInput, dryRun bool, intro string) []slack.Block {
	var bs []slack.Block
	if strings.TrimSpace(in.Error) != "" {
		bs = append(bs, section(":warning: "+esc(strings.TrimSpace(in.Error), modalErrorBudget)))
	}
	if dryRun {
		bs = append(bs, dryRunBlock())
	}
	return append(bs, note(intro))
}

func emailInput(initial string, optional bool, hint string) *slack.InputBlock {
	el := slack.NewPlainTextInputBlockElement(plain("ada@example.com"), ActionEmail)
	el.InitialValue = clip(strings.TrimSpace(initial), MaxEmailLen)
	el.MaxLength = MaxEmailLen
	b := slack.NewInputBlock(BlockEmail, plain("Email"), plain(hint), el)
	b.Optional = optional
	return b
}

func durationInput(initial string) *slack.InputBlock {
	el := slack.NewPlainTextInputBlockElement(plain("7d"), ActionDuration)
	el.InitialValue = clip(strings.TrimSpace(initial), MaxDurationLen)
	el.MaxLength = MaxDurationLen
	b := slack.NewInputBlock(BlockDuration, plain("Duration"), plain(durationHint), el)
	b.Optional = true
	return b
}

func reasonInput(initial, placeholder, hint string) *slack.InputBlock {
	el := slack.NewPlainTextInputBlockElement(plain(placeholder), ActionReason)
	el.InitialValue = clip(strings.TrimSpace(initial), MaxReasonLen)
	el.MaxLength = MaxReasonLen
	el.Multiline = true
	b := slack.NewInputBlock(BlockReason, plain("Reason"), plain(hint), el)
	b.Optional = true
	return b
}
