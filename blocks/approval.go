package blocks

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/provisioning"
)

// ApprovalMessage renders the message posted to the approvals channel for
// r, and its updates. While r is pending it shows the requester, email,
// duration, reason, "1 of 2 approvals (by <@U…>)" when required is 2, and
// the buttons Approve (primary) and Deny (danger; it opens the
// reason modal, which confirms), both with value r.ID. Once decided it shows the outcome, who
// decided and when, and no buttons. Times are Slack date tokens, shown in
// each reader's time zone and never stale; now stands in for a decision
// time the request lacks.
func ApprovalMessage(r provisioning.Request, required int, now time.Time) []slack.Block {
	required = max(required, 1)
	addr := email(r.Email)
	var bs []slack.Block
	switch r.Status {
	case provisioning.StatusPending:
		bs = append(bs, section(fmt.Sprintf(":raised_hand: %s requests access to this workspace for *%s*", who(r.RequestedBy), addr)))
	case provisioning.StatusApproved:
		bs = append(bs, section(fmt.Sprintf(":white_check_mark: *Approved*: *%s* gets access %s", addr, forDuration(r.Duration))))
	case provisioning.StatusDenied:
		bs = append(bs, section(fmt.Sprintf(":x: *Denied*: *%s* does not get access", addr)))
	case provisioning.StatusExpired:
		bs = append(bs, section(fmt.Sprintf(":hourglass: *Expired*: nobody decided on access for *%s* in time", addr)))
	case provisioning.StatusCancelled:
		bs = append(bs, section(fmt.Sprintf(":heavy_minus_sign: *Cancelled* by the requester: access for *%s*", addr)))
	default:
		bs = append(bs, section(fmt.Sprintf("*%s*: access for *%s*", line(string(r.Status), refBudget), addr)))
	}

	requested := r.CreatedAt
	if requested.IsZero() {
		requested = now
	}
	bs = append(bs, slack.NewSectionBlock(nil, []*slack.TextBlockObject{
		md("*Duration*\n" + duration(r.Duration)),
		md("*Requested by*\n" + who(r.RequestedBy)),
		md("*Requested*\n" + date(requested)),
	}, nil))
	reason := "_None given._"
	if strings.TrimSpace(r.Reason) != "" {
		reason = esc(strings.TrimSpace(r.Reason), longReasonBudget)
	}
	bs = append(bs, section("*Reason*\n"+reason))

	ids := approvers(r)
	if r.Status != provisioning.StatusPending {
		return append(bs, note(decidedLine(r, ids, now)))
	}
	progress := fmt.Sprintf("%d of %d approvals", min(len(ids), required), required)
	if required == 1 {
		progress = fmt.Sprintf("%d of 1 approval", min(len(ids), 1))
	}
	if len(ids) > 0 {
		progress += " (by " + mentions(ids) + ")"
	}
	bs = append(bs, note(progress+" · request `"+line(r.ID, refBudget)+"`"))

	approve := button(ActionApprove, clip(r.ID, maxButtonValue), "Approve")
	approve.Style = slack.StylePrimary
	deny := button(ActionDeny, clip(r.ID, maxButtonValue), "Deny")
	// No confirm dialog: Deny opens a short modal for the reason, which is
	// the confirmation.
	deny.Style = slack.StyleDanger
	return append(bs, slack.NewActionBlock(BlockApprovalActions, approve, deny))
}

// decidedLine says who decided r and when: "Approved by <@U1>, <@U2> ·
// <date>", "Denied by <@U2> · <date> · Reason: …".
func decidedLine(r provisioning.Request, ids []string, now time.Time) string {
	when := r.UpdatedAt
	for _, d := range r.Decisions {
		if d.At.After(when) {
			when = d.At
		}
	}
	if when.IsZero() {
		when = now
	}
	var s, tail string
	switch r.Status {
	case provisioning.StatusApproved:
		if len(ids) == 0 && r.DecidedBy != "" {
			ids = []string{r.DecidedBy}
		}
		s = "Approved by " + mentions(ids)
		if len(ids) == 0 {
			s = "Approved"
		}
	case provisioning.StatusDenied:
		d, ok := denial(r)
		by := d.By
		if by == "" {
			by = r.DecidedBy
		}
		s = "Denied by " + who(by)
		if ok && strings.TrimSpace(d.Reason) != "" {
			tail = " · Deny reason: " + line(d.Reason, longReasonBudget)
		}
	case provisioning.StatusExpired:
		s = "Expired"
	case provisioning.StatusCancelled:
		s = "Cancelled by " + who(r.RequestedBy)
	default:
		s = "Decided"
	}
	return s + " · " + date(when) + " · request `" + line(r.ID, refBudget) + "`" + tail
}

// GrantEnding is the reminder sent a day before a time-bound grant ends.
func GrantEnding(a provisioning.Assignment, now time.Time) []slack.Block {
	return []slack.Block{
		section(fmt.Sprintf(":hourglass_flowing_sand: Access for *%s* ends %s (%s).", email(a.Email), expiry(a.ExpiresAt, now), date(a.ExpiresAt))),
		note("To keep it, ask again with `/roster request` before then; an approver decides."),
	}
}

// GrantEnded tells the person who asked that a time-bound grant ended.
func GrantEnded(a provisioning.Assignment, stillEntitled bool) []slack.Block {
	text := fmt.Sprintf(":hourglass: Access for *%s* ended at %s.", email(a.Email), date(a.ExpiresAt))
	if stillEntitled {
		text += " Another assignment still gives them access, so their account stays active."
	} else {
		text += " Their Slack account is deactivated."
	}
	return []slack.Block{section(text)}
}
