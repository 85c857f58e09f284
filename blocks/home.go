package blocks

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/provisioning"
)

// HomePageSize is the number of directory rows on one Admin Home page.
//
// Why 20: a Home tab holds at most 100 blocks. Everything on the Admin
// Home but the rows takes at most homeFixedBlocks (42) blocks when every
// list is full (10 pending requests, 5 failed jobs, 10 audit events, their
// "more" lines, notices, dry-run note, search and pager), and each row is
// one section, so a page could hold at most 58 rows. 20 leaves that
// headroom for sections still to come (held deactivations), keeps the
// largest page under 60 kB of JSON even with every name, email, reason
// and error at its longest (Slack allows 250 kB; a typical page is a few
// kB and quick to publish on every app_home_opened), and is about what
// one screen shows. Search, not paging, is how an admin finds one member
// of 50,000.
const HomePageSize = 20

// What the Admin Home shows of each list, at most.
const (
	homePending       = 10
	homeFailedJobs    = 5
	homeAudit         = 10
	homeNotices       = 5
	homeRowAssignment = 5 // per directory row, then "+N more"
	noticeBudget      = 500
)

// homeFixedBlocks is the most blocks the Admin Home uses besides its rows
// (one block each); see AdminHomeView for the count.
const homeFixedBlocks = 6 + heldBlocks + 3 + 1 + (3 + homePending) + (3 + homeFailedJobs) + (2 + homeAudit)

// Compile-time check: a full page fits in a Home tab.
var _ [maxViewBlocks - homeFixedBlocks - HomePageSize]struct{}

// MemberRow is one directory row: a Slack member and Roster's assignments
// for their email.
type MemberRow struct {
	Member      provisioning.Member
	Assignments []provisioning.Assignment
	// Directory is the access the organization's directory gives them
	// ("via group Contractors", "via /Engineering"), or
	// provisioning.ReasonDisabled.
	Directory []string
}

// AdminHome is what an admin's Home tab shows.
type AdminHome struct {
	Query string // the search, as typed
	Page  int    // 0-based
	Pages int
	Total int // members matching Query (all members when Query is empty)

	Rows       []MemberRow               // this page, at most HomePageSize
	Pending    []provisioning.Request    // newest first; the first 10 are shown
	FailedJobs []provisioning.Job        // newest first; the first 5 are shown
	Audit      []provisioning.AuditEvent // newest first; the first 10 are shown
	// Notices are problems admins should see, such as "Roster cannot post
	// in <#C123>". Each is mrkdwn built by the caller, with any
	// user-supplied part passed through Escape, like Text's argument.
	Notices []string
	// Held are pending held deactivations, newest first; the first 3
	// are shown, each with Confirm and Discard.
	Held []provisioning.HeldChange
	// Reconcile is the last reconcile's result, if one ran.
	Reconcile *provisioning.ReconcileResult
	DryRun    bool
	Now       time.Time
}

// AdminHomeView renders an admin's Home tab, in this order (block counts
// at most): header (1), dry-run note (1), notices (1), Assign / Revoke /
// Request buttons (1), divider (1); held deactivations: header, two
// blocks each, "more", divider (see heldBlocks); the directory: header, search field,
// "Showing 21–40 of 50,000 members" (3), one section per row (HomePageSize)
// and Previous/Next (1); pending requests: divider, header, requests, "N
// more" (3+10); failed jobs likewise (3+5); recent activity: divider,
// header, events (2+10).
func AdminHomeView(h AdminHome) slack.HomeTabViewRequest {
	bs := []slack.Block{header("Roster")}
	if h.DryRun {
		bs = append(bs, dryRunBlock())
	}
	if len(h.Notices) > 0 {
		bs = append(bs, notices(h.Notices))
	}
	assign := button(ActionOpenAssign, "", "Assign")
	assign.Style = slack.StylePrimary
	bs = append(bs,
		slack.NewActionBlock("", assign,
			button(ActionOpenRevoke, "", "Revoke"),
			button(ActionOpenRequest, "", "Request")),
		slack.NewDividerBlock(),
	)
	if h.Reconcile != nil {
		bs = append(bs, note(reconcileLine(*h.Reconcile, h.Now)))
	}
	if held := HeldSection(h.Held, h.Now); len(held) > 0 {
		bs = append(bs, held[1:]...) // the buttons' divider stands before
		bs = append(bs, slack.NewDividerBlock())
	}
	bs = append(bs, directory(h)...)
	bs = append(bs, pendingList(h.Pending, h.Now)...)
	bs = append(bs, failedList(h.FailedJobs)...)
	bs = append(bs, auditList(h.Audit)...)
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: bs}}
}

func notices(ns []string) slack.Block {
	var b strings.Builder
	b.WriteString(":warning: *Needs attention*")
	for i, n := range ns {
		if i == homeNotices {
			fmt.Fprintf(&b, "\n• and %s", plural(len(ns)-i, "more notice", "more notices"))
			break
		}
		b.WriteString("\n• " + fit(strings.TrimSpace(n), noticeBudget))
	}
	return section(b.String())
}

func directory(h AdminHome) []slack.Block {
	search := slack.NewPlainTextInputBlockElement(plain("Name or email, then Enter"), ActionHomeSearch)
	search.InitialValue = clip(h.Query, MaxQueryLen)
	search.MaxLength = MaxQueryLen
	search.DispatchActionConfig = &slack.DispatchActionConfig{TriggerActionsOn: []string{"on_enter_pressed"}}
	in := slack.NewInputBlock(BlockHomeSearch, plain("Search members"), nil, search)
	in.DispatchAction = true
	in.Optional = true

	bs := []slack.Block{header("Directory"), in, note(showing(h))}
	rows := h.Rows
	if len(rows) > HomePageSize {
		rows = rows[:HomePageSize]
	}
	for i, r := range rows {
		bs = append(bs, memberRow(r, i, h.Now))
	}
	var pager []slack.BlockElement
	if h.Page > 0 {
		pager = append(pager, button(ActionHomePage+actionSep+"prev", EncodePage(h.Page-1, h.Query), "Previous"))
	}
	if h.Page+1 < h.Pages {
		pager = append(pager, button(ActionHomePage+actionSep+"next", EncodePage(h.Page+1, h.Query), "Next"))
	}
	if len(pager) > 0 {
		bs = append(bs, slack.NewActionBlock("", pager...))
	}
	return bs
}

// showing is the line above the rows: "Showing 21–40 of 50,000 members
// matching “ada” · page 2 of 2,500".
func showing(h AdminHome) string {
	matching := ""
	if h.Query != "" {
		matching = " matching “" + line(h.Query, queryBudget) + "”"
	}
	switch {
	case h.Total <= 0:
		if h.Query != "" {
			return "No members" + matching + "."
		}
		return "No members in Roster's copy of the directory yet."
	case len(h.Rows) == 0:
		return fmt.Sprintf("No members on page %s; %s%s.", count(h.Page+1), plural(h.Total, "member", "members"), matching)
	}
	from := h.Page*HomePageSize + 1
	to := from + min(len(h.Rows), HomePageSize) - 1
	s := fmt.Sprintf("Showing %s–%s of %s%s", count(from), count(to), plural(h.Total, "member", "members"), matching)
	if h.Pages > 1 {
		s += fmt.Sprintf(" · page %s of %s", count(h.Page+1), count(h.Pages))
	}
	return s
}

// memberRow is one section: name; email, status and type; then Roster's
// assignments; and a Revoke… button when revocable.
func memberRow(r MemberRow, i int, now time.Time) slack.Block {
	m := r.Member
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*\n%s · `%s` · %s", name(m), email(m.Email), m.Status(), m.Type())
	if len(r.Assignments) == 0 && len(r.Directory) == 0 {
		b.WriteString("\n_No Roster assignment_")
	}
	for j, reason := range r.Directory {
		if j == homeRowAssignment {
			fmt.Fprintf(&b, "\n• and %d more", len(r.Directory)-j)
			break
		}
		b.WriteString("\n• " + line(reason, refBudget))
	}
	for j, a := range r.Assignments {
		if j == homeRowAssignment {
			fmt.Fprintf(&b, "\n• and %s", plural(len(r.Assignments)-j, "more assignment", "more assignments"))
			break
		}
		b.WriteString("\n• " + assignment(a, now))
	}
	s := section(b.String())
	if revocable(r) {
		s.Accessory = slack.NewAccessory(button(repeated(ActionRevokeMember, i), clip(m.ID, maxButtonValue), "Revoke…"))
	}
	return s
}

// revocable reports whether a row gets a Revoke… button: not for owners,
// admins and bots, whom Roster refuses to deactivate, nor for a
// deactivated member with no assignment to withdraw.
func revocable(r MemberRow) bool {
	switch r.Member.Type() {
	case provisioning.TypeOwner, provisioning.TypeAdmin, provisioning.TypeBot:
		return false
	}
	return r.Member.ID != "" && !(r.Member.Deleted && len(r.Assignments) == 0)
}

// assignment is one line: "group `eng` · by system · expires in 2d".
func assignment(a provisioning.Assignment, now time.Time) string {
	s := line(string(a.Source), refBudget)
	if a.Ref != "" {
		s += " `" + line(a.Ref, refBudget) + "`"
	}
	return s + " · by " + who(a.GrantedBy) + " · " + expiry(a.ExpiresAt, now)
}

func listHeader(title string, n int) []slack.Block {
	if n > 0 {
		title = fmt.Sprintf("%s (%s)", title, count(n))
	}
	return []slack.Block{slack.NewDividerBlock(), header(title)}
}

func more(n, shown int, what string) []slack.Block {
	if n <= shown {
		return nil
	}
	return []slack.Block{note(fmt.Sprintf("and %s more %s", count(n-shown), what))}
}

func pendingList(rs []provisioning.Request, now time.Time) []slack.Block {
	bs := listHeader("Pending requests", len(rs))
	if len(rs) == 0 {
		return append(bs, note("No request is waiting for approval."))
	}
	for i, r := range rs {
		if i == homePending {
			break
		}
		s := fmt.Sprintf("*%s* %s\nRequested by %s %s · %s",
			email(r.Email), forDuration(r.Duration), who(r.RequestedBy), ago(r.CreatedAt, now), approvalsSoFar(r))
		if strings.TrimSpace(r.Reason) != "" {
			s += "\n_Reason:_ " + line(r.Reason, shortReasonBudget)
		}
		bs = append(bs, section(s))
	}
	return append(bs, more(len(rs), homePending, "pending requests")...)
}

// approvalsSoFar: "no approval yet" or "approved by <@U1>, <@U2>".
func approvalsSoFar(r provisioning.Request) string {
	ids := approvers(r)
	if len(ids) == 0 {
		return "no approval yet"
	}
	return "approved by " + mentions(ids)
}

func failedList(js []provisioning.Job) []slack.Block {
	bs := listHeader("Failed jobs", len(js))
	if len(js) == 0 {
		return append(bs, note("No provisioning job has failed."))
	}
	for i, j := range js {
		if i == homeFailedJobs {
			break
		}
		bs = append(bs, section(fmt.Sprintf("*%s* %s failed after %s, %s · started by %s\n_Reason:_ %s",
			jobAction(j), email(j.Email), plural(j.Attempts, "attempt", "attempts"),
			date(jobTime(j)), who(j.StartedBy), jobError(j))))
	}
	return append(bs, more(len(js), homeFailedJobs, "failed jobs")...)
}

func auditList(es []provisioning.AuditEvent) []slack.Block {
	bs := []slack.Block{slack.NewDividerBlock(), header("Recent activity")}
	if len(es) == 0 {
		return append(bs, note("Nothing recorded yet."))
	}
	for i, e := range es {
		if i == homeAudit {
			break
		}
		bs = append(bs, note(auditLine(e)))
	}
	return bs
}

// auditLine: "<date> · <@U1> · assign · ada@example.com · ok — detail".
func auditLine(e provisioning.AuditEvent) string {
	s := fmt.Sprintf("%s · %s · %s", date(e.At), who(e.Actor), line(e.Action, refBudget))
	if e.Email != "" {
		s += " · " + email(e.Email)
	}
	s += " · *" + line(e.Outcome, refBudget) + "*"
	if strings.TrimSpace(e.Detail) != "" {
		s += " — " + line(e.Detail, shortReasonBudget)
	}
	return s
}

// jobAction is what a job did (Action), or meant to do (Intent) before it
// ran.
func jobAction(j provisioning.Job) string {
	a := j.Action
	if a == "" {
		a = j.Intent
	}
	if a == "" {
		return "job"
	}
	return line(string(a), refBudget)
}

// jobTime is when a job last changed.
func jobTime(j provisioning.Job) time.Time {
	switch {
	case !j.FinishedAt.IsZero():
		return j.FinishedAt
	case !j.UpdatedAt.IsZero():
		return j.UpdatedAt
	}
	return j.CreatedAt
}

func jobError(j provisioning.Job) string {
	if strings.TrimSpace(j.LastError) == "" {
		return "no error recorded"
	}
	return line(j.LastError, errorBudget)
}

// approvers returns the distinct Slack IDs that approved r, in order.
func approvers(r provisioning.Request) []string {
	var ids []string
	seen := map[string]bool{}
	for _, d := range r.Decisions {
		if d.Approved && !seen[d.By] {
			seen[d.By] = true
			ids = append(ids, d.By)
		}
	}
	return ids
}

// denial returns the decision that denied r, if any.
func denial(r provisioning.Request) (provisioning.Decision, bool) {
	for _, d := range r.Decisions {
		if !d.Approved {
			return d, true
		}
	}
	return provisioning.Decision{}, false
}

// maxMentions is how many approvers a line names before "and N more".
const maxMentions = 10

// mentions names ids: "<@U1>, <@U2>".
func mentions(ids []string) string {
	var ws []string
	for i, id := range ids {
		if i == maxMentions {
			ws = append(ws, "and "+count(len(ids)-i)+" more")
			break
		}
		ws = append(ws, who(id))
	}
	return strings.Join(ws, ", ")
}

// MemberHome is what a member who is not an admin sees on Roster's Home
// tab. Requests must be the viewer's own (RequestsBy), newest first.
type MemberHome struct {
	Requests []provisioning.Request
	DryRun   bool
	Now      time.Time
}

// memberHomeRequests is how many requests the member's Home lists.
const memberHomeRequests = 25

// MemberHomeView renders the Home tab of a member who is not an admin: a
// Request button and their own requests with their states, with a Cancel
// button on pending ones. It shows only what h.Requests holds, and nothing
// of the directory: no other member's email.
func MemberHomeView(h MemberHome) slack.HomeTabViewRequest {
	bs := []slack.Block{header("Roster")}
	if h.DryRun {
		bs = append(bs, dryRunBlock())
	}
	req := button(ActionOpenRequest, "", "Request")
	req.Style = slack.StylePrimary
	bs = append(bs,
		section("Need someone to get access to this workspace? Request it: approvers decide in the approvals channel, and you get a DM when they do."),
		slack.NewActionBlock("", req),
		slack.NewDividerBlock(),
		header("Your requests"),
	)
	if len(h.Requests) == 0 {
		bs = append(bs, note("You have not requested anything yet."))
	}
	for i, r := range h.Requests {
		if i == memberHomeRequests {
			break
		}
		s := section(requestLine(r, h.Now))
		if r.Status == provisioning.StatusPending {
			c := button(repeated(ActionCancelRequest, i), clip(r.ID, maxButtonValue), "Cancel")
			c.Confirm = slack.NewConfirmationBlockObject(plain("Cancel this request?"),
				md("The request for "+emailMax(r.Email, confirmEmail)+" is withdrawn; approvers can no longer approve it."),
				plain("Cancel request"), plain("Keep it"))
			s.Accessory = slack.NewAccessory(c)
		}
		bs = append(bs, s)
	}
	bs = append(bs, more(len(h.Requests), memberHomeRequests, "requests")...)
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: bs}}
}

// requestState is a request's state in words, with who decided it.
func requestState(r provisioning.Request) string {
	switch r.Status {
	case provisioning.StatusPending:
		return ":hourglass_flowing_sand: pending, " + approvalsSoFar(r)
	case provisioning.StatusApproved:
		ids := approvers(r)
		if len(ids) == 0 && r.DecidedBy != "" {
			ids = []string{r.DecidedBy}
		}
		if len(ids) == 0 {
			return ":white_check_mark: approved"
		}
		return ":white_check_mark: approved by " + mentions(ids)
	case provisioning.StatusDenied:
		s := ":x: denied"
		d, ok := denial(r)
		if by := cmp.Or(d.By, r.DecidedBy); by != "" {
			s += " by " + who(by)
		}
		if ok && strings.TrimSpace(d.Reason) != "" {
			s += " (“" + line(d.Reason, shortReasonBudget) + "”)"
		}
		return s
	case provisioning.StatusExpired:
		return ":hourglass: expired without a decision"
	case provisioning.StatusCancelled:
		return ":heavy_minus_sign: cancelled"
	}
	return line(string(r.Status), refBudget)
}

// requestLine is a request on its requester's Home: "*ada@example.com*
// for 7d · requested 2h ago", its state, and the reason they gave.
func requestLine(r provisioning.Request, now time.Time) string {
	s := fmt.Sprintf("*%s* %s · requested %s\n%s", email(r.Email), forDuration(r.Duration), ago(r.CreatedAt, now), requestState(r))
	if strings.TrimSpace(r.Reason) != "" {
		s += "\n_Your reason:_ " + line(r.Reason, shortReasonBudget)
	}
	return s
}

// reconcileLine summarizes the last reconcile in one line.
func reconcileLine(r provisioning.ReconcileResult, now time.Time) string {
	kind := "Last reconcile"
	if r.DryRun {
		kind = "Last reconcile plan (dry run)"
	}
	s := fmt.Sprintf(":arrows_counterclockwise: %s %s: %s Slack accounts, %s entitled · invite %d · reactivate %d · deactivate %d",
		kind, ago(r.At, now), count(r.Accounts), count(r.Entitled), len(r.Invite), len(r.Activate), len(r.Deactivate))
	if len(r.Adopt) > 0 {
		s += fmt.Sprintf(" · adopted %d", len(r.Adopt))
	}
	if len(r.Unmanaged) > 0 {
		s += fmt.Sprintf(" · %d unmanaged members left alone", len(r.Unmanaged))
	}
	if r.Held != nil {
		s += fmt.Sprintf(" · %d deactivations held below", len(r.Held.Emails))
	}
	return s
}
