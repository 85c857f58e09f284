package blocks

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/provisioning"
)

// IDs of the directory's buttons.
const (
	ActionHeldConfirm     = "held.confirm"  // value: held change ID
	ActionHeldDiscard     = "held.discard"  // value: held change ID
	ActionGrantConfirm    = "grant.confirm" // value: EncodeGrant
	ActionGrantCancel     = "grant.cancel"
	ActionWithdrawConfirm = "grant.withdraw" // value: EncodeGrant
)

// What the Admin Home shows of held changes, at most.
const (
	homeHeld       = 3
	heldEmailsShow = 10
	heldBlocks     = 2 + 2*homeHeld + 1 // divider, header, section and buttons each, "more"
)

// HeldSection lists pending held deactivations with Confirm and Discard
// buttons: a change that would deactivate more people than
// ROSTER_MAX_DEACTIVATIONS waits here for an admin.
func HeldSection(hs []provisioning.HeldChange, now time.Time) []slack.Block {
	if len(hs) == 0 {
		return nil
	}
	bs := []slack.Block{slack.NewDividerBlock(), header(fmt.Sprintf("Held deactivations (%d)", len(hs)))}
	for i, h := range hs {
		if i == homeHeld {
			bs = append(bs, note(plural(len(hs)-i, "more held change", "more held changes")+" below these; decide these first."))
			break
		}
		var b strings.Builder
		fmt.Fprintf(&b, ":octagonal_sign: *%s* would deactivate *%s*", line(h.Cause, refBudget), plural(len(h.Emails), "person", "people"))
		if h.ActiveCount > 0 {
			fmt.Fprintf(&b, " of %s active members", count(h.ActiveCount))
		}
		fmt.Fprintf(&b, " · held %s by %s\n", ago(h.CreatedAt, now), who(h.By))
		for j, e := range h.Emails {
			if j == heldEmailsShow {
				fmt.Fprintf(&b, "… and %d more", len(h.Emails)-j)
				break
			}
			b.WriteString("• " + email(e) + "\n")
		}
		bs = append(bs, section(fit(strings.TrimRight(b.String(), "\n"), maxText)))
		confirm := button(repeated(ActionHeldConfirm, i), clip(h.ID, maxButtonValue), "Deactivate them")
		confirm.Style = slack.StyleDanger
		dialog := slack.NewConfirmationBlockObject(plain("Deactivate these accounts?"),
			md(fmt.Sprintf("Roster will deactivate %s who are no longer entitled. Anyone entitled again by then is left alone.", plural(len(h.Emails), "person", "people"))),
			plain("Deactivate"), plain("Cancel"))
		dialog.Style = slack.StyleDanger
		confirm.Confirm = dialog
		bs = append(bs, slack.NewActionBlock("", confirm, button(repeated(ActionHeldDiscard, i), clip(h.ID, maxButtonValue), "Discard")))
	}
	return bs
}

// EncodeGrant writes a directory grant awaiting confirmation into a
// button value.
func EncodeGrant(kind provisioning.GrantKind, target, reason string) string {
	v := url.Values{}
	v.Set("k", string(kind))
	v.Set("t", clip(target, 200))
	if reason != "" {
		v.Set("r", clip(reason, 1000))
	}
	return v.Encode()
}

// DecodeGrant reads a value written by EncodeGrant. The value comes from
// the client: the kind is checked; authority is checked by the caller.
func DecodeGrant(value string) (kind provisioning.GrantKind, target, reason string, err error) {
	v, err := url.ParseQuery(value)
	if err != nil {
		return "", "", "", fmt.Errorf("decode grant: %w", err)
	}
	kind = provisioning.GrantKind(v.Get("k"))
	if kind != provisioning.GrantGroup && kind != provisioning.GrantOrgUnit || v.Get("t") == "" {
		return "", "", "", fmt.Errorf("decode grant %q: bad kind or target", value)
	}
	return kind, v.Get("t"), v.Get("r"), nil
}

// GrantPreview asks the admin to confirm a grant to a group or org unit:
// how many people it would invite or reactivate, and who.
func GrantPreview(kind provisioning.GrantKind, target, reason string, reach []string, dryRun bool) []slack.Block {
	head := fmt.Sprintf("Assigning access to %s would invite or reactivate *%s*.", grantWhat(kind, target), plural(len(reach), "person", "people"))
	bs := []slack.Block{section(emailList(head, reach))}
	if strings.TrimSpace(reason) != "" {
		bs = append(bs, note("Reason: "+line(reason, 500)))
	}
	ok := button(ActionGrantConfirm, EncodeGrant(kind, target, reason), "Assign access")
	ok.Style = slack.StylePrimary
	bs = append(bs, slack.NewActionBlock("", ok, button(ActionGrantCancel, "", "Cancel")))
	if dryRun {
		bs = append(bs, dryRunBlock())
	}
	return bs
}

// WithdrawPreview asks the admin to confirm withdrawing access from a
// group or org unit: who would lose it (their accounts are deactivated
// unless something else entitles them), and whether the deactivations
// would wait for confirmation.
func WithdrawPreview(kind provisioning.GrantKind, target string, lose []string, held bool, dryRun bool) []slack.Block {
	head := fmt.Sprintf("Withdrawing access from %s would deactivate *%s* whom nothing else entitles.", grantWhat(kind, target), plural(len(lose), "person", "people"))
	bs := []slack.Block{section(emailList(head, lose))}
	if held {
		bs = append(bs, note("That is more than ROSTER_MAX_DEACTIVATIONS allows at once: the deactivations will wait in App Home for an admin's confirmation."))
	}
	ok := button(ActionWithdrawConfirm, EncodeGrant(kind, target, ""), "Withdraw access")
	ok.Style = slack.StyleDanger
	bs = append(bs, slack.NewActionBlock("", ok, button(ActionGrantCancel, "", "Cancel")))
	if dryRun {
		bs = append(bs, dryRunBlock())
	}
	return bs
}

// grantWhat names a grant's target in a sentence.
func grantWhat(kind provisioning.GrantKind, target string) string {
	if kind == provisioning.GrantOrgUnit {
		return "org unit *" + line(target, refBudget) + "* and its sub-units"
	}
	return "group *" + line(target, refBudget) + "*"
}

// emailList is head followed by the first emails, one a line, and how many
// more there are, cut to a section's limit.
func emailList(head string, emails []string) string {
	var b strings.Builder
	b.WriteString(head)
	for i, e := range emails {
		if i == heldEmailsShow {
			fmt.Fprintf(&b, "\n… and %d more", len(emails)-i)
			break
		}
		b.WriteString("\n• " + email(e))
	}
	return fit(b.String(), maxText)
}
