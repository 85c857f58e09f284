// Package blocks builds every Block Kit surface Roster shows in Slack: the
// Assign, Revoke, Request and Deny modals, the App Home tabs, and the blocks
// of ephemeral replies, DMs and approval messages. It also owns the block,
// action and callback IDs those surfaces carry.
//
// Builders are pure: no clock (callers pass now), no I/O. Every piece of
// user-supplied text (names, emails, reasons, search queries, error texts
// that may quote them) goes through Escape before it reaches mrkdwn, mrkdwn
// text objects are sent with verbatim: true, and everything is cut to
// Slack's limits (rune counts, ending in "…"). Nothing outside this package
// assembles blocks.
package blocks

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/provisioning"
)

// IDs are part of the wire contract with Slack and with handlers. Renaming
// one breaks buttons on messages and views already published.
const (
	CallbackAssign  = "assign.modal"
	CallbackRevoke  = "revoke.modal"
	CallbackRequest = "request.modal"
	// CallbackDeny is the short modal that asks an approver for a deny
	// reason; its private_metadata is the request ID.
	CallbackDeny = "deny.modal"

	// Modal fields: view_submission errors are keyed by the Block* IDs.
	BlockEmail, ActionEmail       = "field.email", "field.email.input"
	BlockDuration, ActionDuration = "field.duration", "field.duration.input"
	BlockReason, ActionReason     = "field.reason", "field.reason.input"
	// BlockMember holds a users_select (Revoke modal).
	BlockMember, ActionMember = "field.member", "field.member.input"

	// BlockHomeSearch holds the Admin Home's search field, a
	// plain_text_input that dispatches ActionHomeSearch when Enter is
	// pressed; the action's Value is the query.
	BlockHomeSearch, ActionHomeSearch = "home.search", "home.search.input"
	// ActionHomePage is on the Previous and Next buttons of the Admin Home
	// (as "home.page:prev" and "home.page:next", see BaseAction). The
	// value holds the page to show and the query: read it with DecodePage.
	ActionHomePage = "home.page"
	// ActionOpenAssign, ActionOpenRevoke and ActionOpenRequest are the
	// buttons on the Home tabs that open the modals.
	ActionOpenAssign  = "home.assign"
	ActionOpenRevoke  = "home.revoke"
	ActionOpenRequest = "home.request"
	// ActionRevokeMember is the "Revoke…" button of a directory row on the
	// Admin Home ("home.revoke_member:N", see BaseAction); its value is
	// the member's Slack user ID. It opens the Revoke modal prefilled.
	ActionRevokeMember = "home.revoke_member"
	// ActionCancelRequest is the Cancel button of a pending request on the
	// member's Home ("request.cancel:N", see BaseAction); value = request ID.
	ActionCancelRequest = "request.cancel"

	// ActionApprove and ActionDeny are the buttons of an approval message;
	// value = request ID.
	ActionApprove        = "approval.approve"
	ActionDeny           = "approval.deny"
	BlockApprovalActions = "approval.actions"
)

// actionSep separates an action ID constant from the suffix that keeps a
// repeated element's action_id unique.
const actionSep = ":"

// BaseAction returns the action ID constant an action_id was built from.
//
// Slack requires action_ids to be unique within a block, and Roster keeps
// them unique within a whole view or message, so an element that repeats
// (one per row, or Previous and Next) carries its constant plus ":" and a
// suffix: "home.revoke_member:3", "home.page:next", "request.cancel:0". The
// Router looks handlers up by BaseAction(act.ActionID); BaseAction of an
// unsuffixed ID is the ID itself. The suffix carries no meaning: read the
// element's value.
func BaseAction(actionID string) string {
	base, _, _ := strings.Cut(actionID, actionSep)
	return base
}

// repeated returns the action_id of the i-th repeated element for base.
func repeated(base string, i int) string { return base + actionSep + strconv.Itoa(i) }

// Slack's limits (docs/slack-platform.md §6), in characters (runes).
const (
	maxViewBlocks  = 100
	maxText        = 3000 // section text, any text object
	maxHeader      = 150
	maxButtonText  = 75
	maxButtonValue = 2000
	maxMetadata    = 3000 // private_metadata
)

// Budgets for user-supplied text, after escaping. They keep every block
// well inside Slack's limits even when every field is as long as it can be.
const (
	nameBudget        = 80  // Slack's own display names stop at 80
	emailBudget       = 320 // RFC 5321's 254, plus room for escaped &
	refBudget         = 100 // group names, org unit paths, request IDs
	shortReasonBudget = 200 // a reason in a list
	longReasonBudget  = 1500
	confirmEmail      = 150 // an email in a confirm dialog (text ≤ 300)
	errorBudget       = 500 // a job's last error
	queryBudget       = 100
)

// Input limits: what the modal and Home fields accept, and the length
// prefilled values are cut to (an initial_value may not exceed max_length).
const (
	// MaxQueryLen is the longest search query the Home search field takes.
	MaxQueryLen = 100
	// MaxEmailLen is the longest email address (RFC 5321).
	MaxEmailLen = 254
	// MaxDurationLen is the longest duration the Duration field takes.
	MaxDurationLen = 32
	// MaxReasonLen is the longest reason the Reason field takes.
	MaxReasonLen = 2000
)

// escaper replaces in one pass, so "&" is never escaped twice: the effect
// is that of escaping & first, then < and >.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes user-supplied text safe inside mrkdwn: it replaces exactly
// &, < and > with &amp;, &lt; and &gt; (Slack decodes only those three), so
// the text can never mention, broadcast or link. "&amp;" typed by a user
// becomes "&amp;amp;" and is shown as typed.
func Escape(s string) string { return escaper.Replace(s) }

// esc escapes s and cuts the result to at most max runes, ending in "…"
// when it had to cut. It never cuts inside an entity such as &lt;.
func esc(s string, max int) string {
	e := Escape(s)
	if utf8.RuneCountInString(e) <= max {
		return e
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		k := utf8.RuneCountInString(piece)
		if n+k > max-1 {
			break
		}
		b.WriteString(piece)
		n += k
	}
	b.WriteString("…")
	return b.String()
}

// line is esc for text shown on one line: runs of white space, newlines
// included, become one space.
func line(s string, max int) string { return esc(strings.Join(strings.Fields(s), " "), max) }

// cut cuts plain (unescaped) text to at most max runes, ending in "…".
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// clip cuts s to at most max runes with no ellipsis: for input values,
// which are not shown as text but edited.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max])
}

// fit is the last guard on mrkdwn assembled from already escaped parts: if
// text is longer than max runes it ends it at a line break when one is near
// the end, otherwise before any unfinished <…> or &…; sequence, and adds
// "…". Budgets should make this rare.
func fit(text string, max int) string {
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	s := string([]rune(text)[:max-1])
	if i := strings.LastIndexByte(s, '\n'); i >= len(s)*3/4 {
		s = s[:i]
	} else {
		if i := strings.LastIndexByte(s, '<'); i > strings.LastIndexByte(s, '>') {
			s = s[:i]
		}
		if i := strings.LastIndexByte(s, '&'); i >= 0 && !strings.Contains(s[i:], ";") {
			s = s[:i]
		}
	}
	return s + "…"
}

// plain is a plain_text object; Slack shows it as is, never as markup.
func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// md is a mrkdwn object with verbatim: true, so Slack does not turn bare
// names, channels or URLs into links. s must be safe (escaped parts).
func md(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

// section is a section block of safe mrkdwn, cut to Slack's limit.
func section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(md(fit(text, maxText)), nil, nil)
}

// sections puts head and lines, one a line, in as few sections as Slack's
// 3000 characters allow, breaking only between lines, so that no line is
// lost to a cut.
func sections(head string, lines []string) []slack.Block {
	var bs []slack.Block
	cur, n := head, utf8.RuneCountInString(head)
	for _, l := range lines {
		l = fit(l, maxText)
		k := utf8.RuneCountInString(l)
		if n+1+k > maxText {
			bs = append(bs, section(cur))
			cur, n = l, k
			continue
		}
		cur += "\n" + l
		n += 1 + k
	}
	return append(bs, section(cur))
}

// note is a context block of one safe mrkdwn element.
func note(text string) *slack.ContextBlock {
	return slack.NewContextBlock("", md(fit(text, maxText)))
}

func header(text string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(plain(cut(text, maxHeader)))
}

func button(actionID, value, text string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(actionID, value, plain(cut(text, maxButtonText)))
}

// dryRunNote is shown on every surface while Roster runs in dry-run mode.
const dryRunNote = ":test_tube: *Dry-run:* Roster records and shows its decisions but makes no change to Slack accounts."

func dryRunBlock() slack.Block { return note(dryRunNote) }

// slackID matches Slack user IDs (U…, or W… on Enterprise Grid), the only
// text Roster puts in <@…> unescaped.
var slackID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// who renders an actor: a mention for a Slack user ID, otherwise the text
// itself (such as "system"), escaped.
func who(id string) string {
	if slackID.MatchString(id) {
		return "<@" + id + ">"
	}
	if id == "" {
		return "unknown"
	}
	return line(id, refBudget)
}

// email renders an address, escaped and cut.
func email(s string) string { return emailMax(s, emailBudget) }

// emailMax renders an address, escaped and cut to max runes: for texts
// with a tighter limit, such as a confirm dialog's 300.
func emailMax(s string, max int) string {
	if s == "" {
		return "_no email_"
	}
	return line(s, max)
}

// name renders a member's best name, escaped and cut to one line.
func name(m provisioning.Member) string { return line(m.DisplayLabel(), nameBudget) }

// date renders t with Slack's date formatting, shown in the reader's time
// zone, falling back to UTC text.
func date(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.Format("2006-01-02 15:04 UTC"))
}

// span writes d coarsely, in the units people read: "3d", "1d12h", "5h",
// "45m", "1m". Two days or more round to days, an hour or more to hours.
func span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 2*provisioning.Day:
		d = d.Round(provisioning.Day)
	case d >= time.Hour:
		d = d.Round(time.Hour)
	case d >= time.Minute:
		d = d.Round(time.Minute)
	default:
		return "less than a minute"
	}
	return provisioning.FormatDuration(d)
}

// ago writes how long before now t was: "3h ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	if !t.Before(now) {
		return "just now"
	}
	return span(now.Sub(t)) + " ago"
}

// expiry writes an assignment's end: "expires in 2d", "no expiry",
// "expired 1h ago".
func expiry(exp, now time.Time) string {
	switch {
	case exp.IsZero():
		return "no expiry"
	case !now.Before(exp):
		return "expired " + ago(exp, now)
	}
	return "expires in " + span(exp.Sub(now))
}

// duration writes a requested duration: "7d", or "no expiry" for zero.
func duration(d time.Duration) string {
	if d <= 0 {
		return "no expiry"
	}
	return provisioning.FormatDuration(d)
}

// forDuration writes a requested duration after a noun: "for 7d", or
// "with no expiry".
func forDuration(d time.Duration) string {
	if d <= 0 {
		return "with no expiry"
	}
	return "for " + provisioning.FormatDuration(d)
}

// count writes n with thousands separators: 50000 is "50,000".
func count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// plural returns "1 member", "2 members".
func plural(n int, one, many string) string {
	if n == 1 {
		return count(n) + " " + one
	}
	return count(n) + " " + many
}

// EncodePage writes the value of a Previous or Next button: the 0-based
// page to show and the search query, in URL query form so that the value
// holds no markup and stays under Slack's 2000-character limit (the query
// is cut to MaxQueryLen runes).
func EncodePage(page int, query string) string {
	v := url.Values{}
	v.Set("p", strconv.Itoa(max(page, 0)))
	if query != "" {
		v.Set("q", clip(query, MaxQueryLen))
	}
	return v.Encode()
}

// DecodePage reads a value written by EncodePage. Button values come from
// the client: the page is checked to be a number ≥ 0, and the query is
// cut to MaxQueryLen runes.
func DecodePage(value string) (page int, query string, err error) {
	v, err := url.ParseQuery(value)
	if err != nil {
		return 0, "", fmt.Errorf("decode page %q: %w", value, err)
	}
	page, err = strconv.Atoi(v.Get("p"))
	if err != nil || page < 0 {
		return 0, "", fmt.Errorf("decode page %q: bad page number", value)
	}
	return page, clip(v.Get("q"), MaxQueryLen), nil
}
