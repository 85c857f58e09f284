package blocks

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/provisioning"
)

// Blocks of the messages Roster sends: ephemeral replies (the command ack,
// response_url, chat.postEphemeral) and DMs. Each builder returns at most 50
// blocks, Slack's limit for a message.

// FindLimit is the most members FindResults lists; callers need not fetch
// more.
const FindLimit = 20

// What StatusMessage shows of each list, at most.
const (
	statusAssignments = 10
	statusRequests    = 5
	statusJobs        = 5
	statusReason      = 100
	problemBudget     = 1000
	formBudget        = 500
)

// Text is one section of mrkdwn the caller built from safe parts: every
// user-supplied piece in it must have gone through Escape. It is cut to
// Slack's 3000 characters. Empty text gives no blocks.
func Text(text string) []slack.Block {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	return []slack.Block{section(text)}
}

// Help is the usage of /roster: every subcommand and its form. Admin-only
// commands are listed for admins only.
func Help(isAdmin bool, dryRun bool) []slack.Block {
	bs := []slack.Block{
		section("*Roster* decides who is a member of this workspace. Type `/roster` and one of:"),
		section(strings.Join([]string{
			"`/roster request EMAIL [for DURATION] [REASON…]` — ask for access for someone; approvers decide",
			"`/roster request` — open the Request form",
			"`/roster status [EMAIL]` — Slack status, assignments, pending requests and recent jobs (without EMAIL: your own)",
			"`/roster help` — this help",
		}, "\n")),
	}
	if isAdmin {
		bs = append(bs,
			section("*For admins*\n"+strings.Join([]string{
				"`/roster assign EMAIL [for DURATION] [REASON…]` — give access now: invite, or reactivate a deactivated account",
				"`/roster assign` — open the Assign form",
				"`/roster assign group:NAME` or `/roster assign ou:/PATH` — give access to a directory group or org unit; shows how many people it affects and waits for your confirmation",
				"`/roster revoke EMAIL [REASON…]` — withdraw every assignment of EMAIL and deactivate the account",
				"`/roster revoke group:NAME` or `/roster revoke ou:/PATH` — withdraw that access; shows who would be deactivated first",
				"`/roster revoke` — open the Revoke form",
				"`/roster find TEXT` — search the directory by name or email",
			}, "\n")),
		)
	}
	bs = append(bs, note("EMAIL may also be a mention, such as @ada. DURATION: 90s, 30m, 12h, 7d or 2w; without it, access does not expire. Roster's App Home tab shows your requests and their states."))
	if dryRun {
		bs = append(bs, dryRunBlock())
	}
	return bs
}

// Usage answers a command Roster could not use: what was wrong, and what
// to type instead. Both are plain text and are escaped.
func Usage(problem, rightForm string) []slack.Block {
	bs := []slack.Block{section(":warning: " + line(problem, problemBudget))}
	if strings.TrimSpace(rightForm) != "" {
		bs = append(bs, section("Type: "+code(rightForm, formBudget)))
	}
	return append(bs, note("`/roster help` lists every command."))
}

// code renders plain text as inline code: escaped, on one line, with
// backticks (which would end the span) replaced by ˋ.
func code(s string, max int) string {
	return "`" + line(strings.ReplaceAll(s, "`", "ˋ"), max) + "`"
}

// StatusView is what /roster status shows for one email.
type StatusView struct {
	Email    string
	Member   *provisioning.Member   // nil: no Slack account with this email
	Status   provisioning.Status    // Roster's assignments and recent jobs
	Requests []provisioning.Request // requests for Email; pending ones are listed
	DryRun   bool
	Now      time.Time
}

// StatusMessage answers /roster status: the Slack account's status and
// type, Roster's assignments with source, grantor and expiry, pending
// requests, and the last jobs with their state, action and error.
func StatusMessage(v StatusView) []slack.Block {
	bs := []slack.Block{section("*Status of " + email(v.Email) + "*")}
	if v.DryRun {
		bs = append(bs, dryRunBlock())
	}
	if v.Member == nil {
		bs = append(bs, section("*Slack account*\nNone with this email. Assigning access invites them."))
	} else {
		m := *v.Member
		bs = append(bs, section(fmt.Sprintf("*Slack account*\n%s (%s) · `%s` · %s", name(m), who(m.ID), m.Status(), m.Type())))
	}

	head := "*Assignments*: not entitled"
	switch e := v.Status.Entitlement; {
	case e.Disabled:
		head = "*Assignments*: not entitled: the directory account is disabled"
	case v.Status.Entitled && len(e.Reasons) > 0:
		var why []string
		for i, r := range e.Reasons {
			if i == statusAssignments {
				why = append(why, "…")
				break
			}
			why = append(why, line(r, refBudget))
		}
		head = "*Assignments*: entitled to be an active member (" + strings.Join(why, "; ") + ")"
	case v.Status.Entitled:
		head = "*Assignments*: entitled to be an active member"
	}
	var lines []string
	if len(v.Status.Assignments) == 0 {
		lines = append(lines, "None.")
	}
	for i, a := range v.Status.Assignments {
		if i == statusAssignments {
			lines = append(lines, "• and "+plural(len(v.Status.Assignments)-i, "more assignment", "more assignments"))
			break
		}
		l := "• " + assignment(a, v.Now) + " · granted " + ago(a.CreatedAt, v.Now)
		if strings.TrimSpace(a.Reason) != "" {
			l += " · reason: " + line(a.Reason, statusReason)
		}
		lines = append(lines, l)
	}
	bs = append(bs, sections(head, lines)...)

	var pending []provisioning.Request
	for _, r := range v.Requests {
		if r.Status == provisioning.StatusPending {
			pending = append(pending, r)
		}
	}
	if len(pending) > 0 {
		lines = lines[:0]
		for i, r := range pending {
			if i == statusRequests {
				lines = append(lines, "• and "+count(len(pending)-i)+" more")
				break
			}
			lines = append(lines, fmt.Sprintf("• %s, by %s %s · %s", forDuration(r.Duration), who(r.RequestedBy), ago(r.CreatedAt, v.Now), approvalsSoFar(r)))
		}
		bs = append(bs, sections("*Pending requests*", lines)...)
	}

	lines = lines[:0]
	if len(v.Status.Jobs) == 0 {
		lines = append(lines, "None.")
	}
	for i, j := range v.Status.Jobs {
		if i == statusJobs {
			break
		}
		l := fmt.Sprintf("• %s · %s · %s", jobAction(j), line(string(j.State), refBudget), ago(jobTime(j), v.Now))
		if j.DryRun {
			l += " · dry-run"
		}
		if strings.TrimSpace(j.LastError) != "" {
			l += " · error: " + line(j.LastError, statusReason*2)
		}
		lines = append(lines, l)
	}
	return append(bs, sections("*Recent jobs*", lines)...)
}

// FindResults answers /roster find: each member's name, email, status and
// type, at most FindLimit of them, and how many more matched. total is the
// number of matches (at least len(members)).
func FindResults(query string, members []provisioning.Member, total int) []slack.Block {
	total = max(total, len(members))
	q := "“" + line(query, queryBudget) + "”"
	if total == 0 {
		return []slack.Block{section("No member matches " + q + ". Search by part of a name or an email.")}
	}
	bs := []slack.Block{section(fmt.Sprintf("%s matching %s", plural(total, "member", "members"), q))}
	for i, m := range members {
		if i == FindLimit {
			break
		}
		bs = append(bs, section(fmt.Sprintf("*%s* %s\n%s · `%s` · %s", name(m), who(m.ID), email(m.Email), m.Status(), m.Type())))
	}
	if shown := min(len(members), FindLimit); total > shown {
		bs = append(bs, note(fmt.Sprintf("and %s more; narrow the search to see them.", count(total-shown))))
	}
	return bs
}

// acceptedVerbs turns command words into what Accepted says.
var acceptedVerbs = map[string]string{
	"assign":  "Assigned",
	"revoke":  "Revoked",
	"request": "Requested",
}

// Accepted confirms a change Roster stored: "Assigned *ada@example.com* —
// provisioning job `job-1` queued." verb is a command word (assign,
// revoke) or the past tense to show.
func Accepted(verb, addr string, job provisioning.Job, dryRun bool) []slack.Block {
	v, ok := acceptedVerbs[strings.ToLower(strings.TrimSpace(verb))]
	if !ok {
		v = line(verb, refBudget)
	}
	text := v + " *" + email(addr) + "*"
	if job.ID == "" {
		text += " — no provisioning needed."
	} else {
		text += " — provisioning job `" + line(job.ID, refBudget) + "` queued."
	}
	bs := []slack.Block{section(text)}
	if job.ID != "" {
		bs = append(bs, note(intentNote(job)+" You get a DM when it is done."))
	}
	if dryRun || job.DryRun {
		bs = append(bs, dryRunBlock())
	}
	return bs
}

func intentNote(j provisioning.Job) string {
	switch j.Intent {
	case provisioning.ActionInvite, provisioning.ActionActivate:
		return "It invites the person, or reactivates their account, if needed."
	case provisioning.ActionDeactivate:
		return "It deactivates the Slack account if it is still active."
	}
	return "It makes the Slack account match Roster's assignments."
}

// JobNotice is the DM sent when a job finished or finally failed: what
// happened, to whom, and why it failed.
func JobNotice(j provisioning.Job, dryRun bool) []slack.Block {
	dry := dryRun || j.DryRun
	addr := email(j.Email)
	var text string
	switch j.State {
	case provisioning.JobDone:
		done := map[provisioning.Action][2]string{
			provisioning.ActionInvite:     {"Invited *%s* to Slack.", "Dry-run: would have invited *%s* to Slack."},
			provisioning.ActionActivate:   {"Reactivated the Slack account of *%s*.", "Dry-run: would have reactivated the Slack account of *%s*."},
			provisioning.ActionDeactivate: {"Deactivated the Slack account of *%s*.", "Dry-run: would have deactivated the Slack account of *%s*."},
		}
		if f, ok := done[j.Action]; ok {
			if dry {
				text = ":white_check_mark: " + fmt.Sprintf(f[1], addr)
			} else {
				text = ":white_check_mark: " + fmt.Sprintf(f[0], addr)
			}
		} else {
			text = ":white_check_mark: The Slack account of *" + addr + "* already matched Roster's assignments; nothing to change."
		}
	case provisioning.JobFailed:
		text = fmt.Sprintf(":x: Could not %s *%s* after %s.\n*Reason:* %s\nAdmins see this job in Roster's App Home.",
			jobVerb(j), addr, plural(j.Attempts, "attempt", "attempts"), jobError(j))
	default:
		text = fmt.Sprintf(":hourglass_flowing_sand: The job for *%s* is %s.", addr, line(string(j.State), refBudget))
	}
	bs := []slack.Block{section(text)}
	ctx := "Job `" + line(j.ID, refBudget) + "` · started by " + who(j.StartedBy)
	if t := jobTime(j); !t.IsZero() {
		ctx += " · " + date(t)
	}
	bs = append(bs, note(ctx))
	if dry {
		bs = append(bs, dryRunBlock())
	}
	return bs
}

// jobVerb is what a failed job tried to do.
func jobVerb(j provisioning.Job) string {
	a := j.Action
	if a == "" || a == provisioning.ActionNone {
		a = j.Intent
	}
	switch a {
	case provisioning.ActionInvite:
		return "invite"
	case provisioning.ActionActivate:
		return "reactivate"
	case provisioning.ActionDeactivate:
		return "deactivate"
	}
	return "update the Slack account of"
}
