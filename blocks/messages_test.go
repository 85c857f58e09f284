package blocks_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/provisioning"
)

func textCases() []tcase {
	return []tcase{
		{"typical", msg(blocks.Text("Revoked *" + blocks.Escape("ada@example.com") + "*: nothing to deactivate."))},
		{"longest", msg(blocks.Text(blocks.Escape(longReason)))},
	}
}

func helpCases() []tcase {
	return []tcase{
		{"member", msg(blocks.Help(false, false))},
		{"admin", msg(blocks.Help(true, false))},
		{"admin_dry_run", msg(blocks.Help(true, true))},
	}
}

func usageCases() []tcase {
	return []tcase{
		{"typical", msg(blocks.Usage("“for” needs a duration after it.", "/roster assign EMAIL [for DURATION] [REASON…]"))},
		{"no_form", msg(blocks.Usage("Only admins can assign access.", ""))},
		{"longest", msg(blocks.Usage(longReason, longReason))},
		{"escaping", msg(blocks.Usage("Unknown command “"+evil+"”.", "/roster `"+evil+"`"))},
	}
}

func statusCases() []tcase {
	ada := member("U0ADA", "Ada Lovelace", "ada@example.com")
	assignments := []provisioning.Assignment{
		{Source: provisioning.SourceDirect, GrantedBy: "U0ADMIN", Reason: "Founding engineer", CreatedAt: now.Add(-30 * 24 * time.Hour)},
		{Source: provisioning.SourceRequest, Ref: "req-000007", GrantedBy: "U0ADMIN", CreatedAt: now.Add(-24 * time.Hour), ExpiresAt: now.Add(3 * 24 * time.Hour)},
		{Source: provisioning.SourceGroup, Ref: "contractors", GrantedBy: "system", CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
	}
	jobs := []provisioning.Job{
		{ID: "job-000012", Email: "ada@example.com", Intent: provisioning.ActionInvite, Action: provisioning.ActionActivate, State: provisioning.JobDone, Attempts: 1, StartedBy: "U0ADMIN", FinishedAt: now.Add(-23 * time.Hour)},
		{ID: "job-000011", Email: "ada@example.com", Intent: provisioning.ActionDeactivate, State: provisioning.JobFailed, Attempts: 8, LastError: "cannot_disable_primary_owner", StartedBy: "system", FinishedAt: now.Add(-40 * 24 * time.Hour)},
	}
	pending := pendingRequest("req-000020", "ada@example.com", "U0BOB", 7*24*time.Hour, "", time.Hour)
	decided := pendingRequest("req-000019", "ada@example.com", "U0BOB", 0, "", 48*time.Hour)
	decided.Status = provisioning.StatusDenied

	var manyAssignments []provisioning.Assignment
	for i := range 14 {
		manyAssignments = append(manyAssignments, provisioning.Assignment{Source: provisioning.SourceOrgUnit, Ref: "/" + strings.Repeat("Engineering/", 50),
			GrantedBy: strings.Repeat("system-", 40), Reason: longReason, CreatedAt: now.Add(-time.Duration(i) * time.Hour), ExpiresAt: now.Add(time.Duration(i) * time.Hour)})
	}
	var manyJobs []provisioning.Job
	var manyRequests []provisioning.Request
	for i := range 8 {
		manyJobs = append(manyJobs, failedJob(fmt.Sprintf("job-%06d", i), longEmail, provisioning.ActionInvite, longError))
		manyRequests = append(manyRequests, pendingRequest(fmt.Sprintf("req-%06d", i), longEmail, "U0BOB", time.Hour, longReason, time.Minute))
	}
	longMember := member("U0LONG", longName, longEmail)
	evilMember := member("U0EVIL", evil, "evil@example.com")

	return []tcase{
		{"no_slack_account", msg(blocks.StatusMessage(blocks.StatusView{Email: "new@example.com", Now: now,
			Status: provisioning.Status{Email: "new@example.com"}}))},
		{"active_with_assignments", msg(blocks.StatusMessage(blocks.StatusView{Email: "ada@example.com", Member: &ada, Now: now,
			Status:   provisioning.Status{Email: "ada@example.com", Entitled: true, Assignments: assignments, Jobs: jobs},
			Requests: []provisioning.Request{pending, decided}}))},
		{"dry_run", msg(blocks.StatusMessage(blocks.StatusView{Email: "ada@example.com", Member: &ada, DryRun: true, Now: now,
			Status: provisioning.Status{Email: "ada@example.com", Entitled: true, Assignments: assignments[:1],
				Jobs: []provisioning.Job{{ID: "job-1", Intent: provisioning.ActionInvite, Action: provisioning.ActionInvite, State: provisioning.JobDone, DryRun: true, FinishedAt: now}}}}))},
		{"longest", msg(blocks.StatusMessage(blocks.StatusView{Email: longEmail, Member: &longMember, Now: now,
			Status:   provisioning.Status{Email: longEmail, Entitled: true, Assignments: manyAssignments, Jobs: manyJobs},
			Requests: manyRequests}))},
		{"via_directory", msg(blocks.StatusMessage(blocks.StatusView{Email: "ada@example.com", Member: &ada, Now: now,
			Status: provisioning.Status{Email: "ada@example.com", Entitled: true, Jobs: jobs[:1],
				Entitlement: provisioning.Entitlement{Entitled: true, Reasons: []string{"via group Contractors", "via /Engineering"}}}}))},
		{"directory_disabled", msg(blocks.StatusMessage(blocks.StatusView{Email: "ada@example.com", Member: &ada, Now: now,
			Status: provisioning.Status{Email: "ada@example.com", Assignments: assignments[:1],
				Entitlement: provisioning.Entitlement{Disabled: true, Reasons: []string{"directory account disabled"}}}}))},
		{"escaping_reasons", msg(blocks.StatusMessage(blocks.StatusView{Email: "ada@example.com", Now: now,
			Status: provisioning.Status{Email: "ada@example.com", Entitled: true,
				Entitlement: provisioning.Entitlement{Entitled: true, Reasons: []string{"via group " + evil}}}}))},
		{"escaping", msg(blocks.StatusMessage(blocks.StatusView{Email: evil, Member: &evilMember, Now: now,
			Status: provisioning.Status{Email: evil, Assignments: []provisioning.Assignment{{Source: provisioning.SourceGroup, Ref: evil, GrantedBy: evil, Reason: evil}},
				Jobs: []provisioning.Job{{ID: evil, State: provisioning.JobFailed, LastError: evil}}},
			Requests: []provisioning.Request{pendingRequest("req-1", evil, evil, 0, evil, time.Hour)}}))},
	}
}

func findCases() []tcase {
	rows := typicalRows()
	var ms []provisioning.Member
	for _, r := range rows {
		ms = append(ms, r.Member)
	}
	var long []provisioning.Member
	for i := range blocks.FindLimit + 5 {
		long = append(long, member(fmt.Sprintf("U%07d", i), longName, longEmail))
	}
	return []tcase{
		{"no_match", msg(blocks.FindResults("nobody", nil, 0))},
		{"few", msg(blocks.FindResults("example", ms, len(ms)))},
		{"truncated", msg(blocks.FindResults("a", ms[:2], 1234))},
		{"longest", msg(blocks.FindResults(longQuery, long, 50000))},
		{"escaping", msg(blocks.FindResults(evil, []provisioning.Member{member("U0EVIL", evil, evil)}, 1))},
	}
}

func acceptedCases() []tcase {
	job := provisioning.Job{ID: "job-000042", Email: "ada@example.com", Intent: provisioning.ActionInvite, State: provisioning.JobPending, StartedBy: "U0ADMIN"}
	revokeJob := job
	revokeJob.Intent = provisioning.ActionDeactivate
	return []tcase{
		{"assign", msg(blocks.Accepted("assign", "ada@example.com", job, false))},
		{"revoke_dry_run", msg(blocks.Accepted("revoke", "ada@example.com", revokeJob, true))},
		{"no_job", msg(blocks.Accepted("assign", "ada@example.com", provisioning.Job{}, false))},
		{"longest", msg(blocks.Accepted("assign", longEmail, provisioning.Job{ID: strings.Repeat("job-", 100), Intent: provisioning.ActionActivate}, true))},
		{"escaping", msg(blocks.Accepted(evil, evil, provisioning.Job{ID: evil}, false))},
	}
}

func jobNoticeCases() []tcase {
	done := func(a provisioning.Action, dry bool) provisioning.Job {
		return provisioning.Job{ID: "job-000042", Email: "ada@example.com", Intent: provisioning.ActionInvite, Action: a,
			State: provisioning.JobDone, Attempts: 1, StartedBy: "U0ADMIN", DryRun: dry, FinishedAt: now}
	}
	return []tcase{
		{"invited", msg(blocks.JobNotice(done(provisioning.ActionInvite, false), false))},
		{"reactivated", msg(blocks.JobNotice(done(provisioning.ActionActivate, false), false))},
		{"deactivated", msg(blocks.JobNotice(done(provisioning.ActionDeactivate, false), false))},
		{"nothing_to_change", msg(blocks.JobNotice(done(provisioning.ActionNone, false), false))},
		{"dry_run_invite", msg(blocks.JobNotice(done(provisioning.ActionInvite, true), true))},
		{"failed", msg(blocks.JobNotice(failedJob("job-000043", "grace@example.com", provisioning.ActionActivate, "cannot_disable_primary_owner: the primary owner cannot be deactivated"), false))},
		{"failed_by_system", msg(blocks.JobNotice(provisioning.Job{ID: "job-000044", Email: "old@example.com", Intent: provisioning.ActionDeactivate,
			State: provisioning.JobFailed, Attempts: 1, StartedBy: "system", FinishedAt: now}, false))},
		{"longest", msg(blocks.JobNotice(failedJob("job-000045", longEmail, provisioning.ActionInvite, longError), true))},
		{"escaping", msg(blocks.JobNotice(provisioning.Job{ID: evil, Email: evil, State: provisioning.JobFailed, LastError: evil, StartedBy: evil}, false))},
	}
}

func TestText(t *testing.T) {
	runGolden(t, textCases())
	if got := blocks.Text(" "); got != nil {
		t.Errorf("Text(blank) = %v, want no blocks", got)
	}
}

func TestHelp(t *testing.T)          { runGolden(t, helpCases()) }
func TestUsage(t *testing.T)         { runGolden(t, usageCases()) }
func TestStatusMessage(t *testing.T) { runGolden(t, statusCases()) }
func TestFindResults(t *testing.T)   { runGolden(t, findCases()) }
func TestAccepted(t *testing.T)      { runGolden(t, acceptedCases()) }
func TestJobNotice(t *testing.T)     { runGolden(t, jobNoticeCases()) }

func TestHelpListsCommands(t *testing.T) {
	everyone := []string{"/roster request EMAIL [for DURATION] [REASON…]", "/roster request`", "/roster status [EMAIL]", "/roster help"}
	admin := []string{"/roster assign EMAIL [for DURATION] [REASON…]", "/roster assign`", "/roster assign group:NAME", "/roster assign ou:/PATH",
		"/roster revoke EMAIL [REASON…]", "/roster revoke`", "/roster find TEXT"}
	for _, isAdmin := range []bool{false, true} {
		j := textOf(t, msg(blocks.Help(isAdmin, false)))
		for _, s := range everyone {
			if !strings.Contains(j, s) {
				t.Errorf("Help(admin=%v) lacks %q", isAdmin, s)
			}
		}
		for _, s := range admin {
			if got := strings.Contains(j, s); got != isAdmin {
				t.Errorf("Help(admin=%v) lists %q: %v, want %v", isAdmin, s, got, isAdmin)
			}
		}
	}
}

func TestFindResultsMore(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		total int
		want  string
	}{
		{"all shown", 3, 3, ""},
		{"total above shown", 2, 1234, "and 1,232 more"},
		{"more than the limit given", blocks.FindLimit + 5, blocks.FindLimit + 5, "and 5 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ms []provisioning.Member
			for i := range tt.n {
				ms = append(ms, member(fmt.Sprintf("U%07d", i), "Name", "n@example.com"))
			}
			bs := blocks.FindResults("n", ms, tt.total)
			j := textOf(t, msg(bs))
			if tt.want == "" && strings.Contains(j, "more;") || tt.want != "" && !strings.Contains(j, tt.want) {
				t.Errorf("FindResults(%d members, total %d) = %s, want %q", tt.n, tt.total, j, tt.want)
			}
			if max := 1 + blocks.FindLimit + 1; len(bs) > max {
				t.Errorf("FindResults gave %d blocks, want at most %d", len(bs), max)
			}
		})
	}
}

func TestDryRunIsVisible(t *testing.T) {
	job := provisioning.Job{ID: "job-1", State: provisioning.JobDone, Action: provisioning.ActionInvite}
	for name, v := range map[string]any{
		"AssignModal":    blocks.AssignModal(blocks.ModalInput{}, true),
		"RevokeModal":    blocks.RevokeModal(blocks.ModalInput{}, true),
		"RequestModal":   blocks.RequestModal(blocks.ModalInput{}, true),
		"AdminHomeView":  blocks.AdminHomeView(blocks.AdminHome{DryRun: true, Now: now}),
		"MemberHomeView": blocks.MemberHomeView(blocks.MemberHome{DryRun: true, Now: now}),
		"Help":           msg(blocks.Help(false, true)),
		"StatusMessage":  msg(blocks.StatusMessage(blocks.StatusView{Email: "a@example.com", DryRun: true, Now: now})),
		"Accepted":       msg(blocks.Accepted("assign", "a@example.com", job, true)),
		"JobNotice":      msg(blocks.JobNotice(job, true)),
	} {
		if !strings.Contains(textOf(t, v), "Dry-run") {
			t.Errorf("%s in dry-run does not say so", name)
		}
	}
	for name, v := range map[string]any{
		"AdminHomeView": blocks.AdminHomeView(blocks.AdminHome{Now: now}),
		"JobNotice":     msg(blocks.JobNotice(job, false)),
	} {
		if strings.Contains(textOf(t, v), "Dry-run") {
			t.Errorf("%s says Dry-run when not in dry-run", name)
		}
	}
}
