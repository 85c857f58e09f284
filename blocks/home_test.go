package blocks_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/provisioning"
)

func typicalRows() []blocks.MemberRow {
	ada := member("U0ADA", "Ada Lovelace", "ada@example.com")
	grace := member("U0GRACE", "Grace Hopper", "grace@example.com")
	grace.Deleted = true
	guest := member("U0GUEST", "Guest Writer", "writer@agency.example")
	guest.IsRestricted = true
	owner := member("U0OWNER", "Olive Owner", "olive@example.com")
	owner.IsOwner = true
	bot := provisioning.Member{ID: "U0BOT", Name: "deploybot", IsBot: true}
	return []blocks.MemberRow{
		{Member: ada, Assignments: []provisioning.Assignment{
			{ID: "asg-1", Email: "ada@example.com", Source: provisioning.SourceDirect, GrantedBy: "U0ADMIN", CreatedAt: now.Add(-30 * 24 * time.Hour)},
			{ID: "asg-2", Email: "ada@example.com", Source: provisioning.SourceRequest, Ref: "req-000007", GrantedBy: "U0ADMIN", CreatedAt: now.Add(-24 * time.Hour), ExpiresAt: now.Add(2*24*time.Hour + 3*time.Hour)},
		}},
		{Member: grace},
		{Member: guest, Assignments: []provisioning.Assignment{
			{ID: "asg-3", Email: "writer@agency.example", Source: provisioning.SourceGroup, Ref: "contractors", GrantedBy: "system", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(36 * time.Hour)},
		}},
		{Member: owner, Assignments: []provisioning.Assignment{
			{ID: "asg-4", Email: "olive@example.com", Source: provisioning.SourceAdopted, GrantedBy: "system", CreatedAt: now.Add(-90 * 24 * time.Hour)},
		}},
		{Member: bot},
	}
}

func pendingRequest(id, addr, by string, d time.Duration, reason string, age time.Duration) provisioning.Request {
	return provisioning.Request{ID: id, Email: addr, RequestedBy: by, Duration: d, Reason: reason,
		Status: provisioning.StatusPending, CreatedAt: now.Add(-age), UpdatedAt: now.Add(-age)}
}

func failedJob(id, addr string, intent provisioning.Action, err string) provisioning.Job {
	return provisioning.Job{ID: id, Email: addr, Intent: intent, State: provisioning.JobFailed, Attempts: 8,
		LastError: err, StartedBy: "U0ADMIN", CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-time.Hour), FinishedAt: now.Add(-time.Hour)}
}

func typicalAudit() []provisioning.AuditEvent {
	return []provisioning.AuditEvent{
		{ID: "aud-3", At: now.Add(-5 * time.Minute), Actor: "U0ADMIN", Action: "assign", Email: "ada@example.com", Outcome: "ok", Detail: "job job-000010"},
		{ID: "aud-2", At: now.Add(-time.Hour), Actor: "system", Action: "job.invite", Email: "writer@agency.example", Outcome: "failed", Detail: "email_taken"},
		{ID: "aud-1", At: now.Add(-2 * time.Hour), Actor: "U0MALLORY", Action: "refuse", Email: "olive@example.com", Outcome: "refused", Detail: "revoke: not an admin"},
	}
}

// fullAdminHome is the largest Admin Home: a page of HomePageSize rows of
// the longest names and emails, each with 3 assignments, more pending
// requests, failed jobs, audit events and notices than are shown, the
// longest reasons and errors, the longest query, and both pager buttons.
func fullAdminHome() blocks.AdminHome {
	h := blocks.AdminHome{Query: longQuery, Page: 1249, Pages: 2500, Total: 50000, DryRun: true, Now: now,
		Reconcile: &provisioning.ReconcileResult{At: now, DryRun: true, Accounts: 50000, Entitled: 49000, Adopt: make([]string, 40000), Unmanaged: make([]string, 12), Held: &provisioning.HeldChange{Emails: make([]string, 9000)}}}
	for i := range blocks.HomePageSize {
		m := member(fmt.Sprintf("U%07d", i), longName, longEmail)
		m.Deleted = i%2 == 1
		var as []provisioning.Assignment
		for k, src := range []provisioning.Source{provisioning.SourceGroup, provisioning.SourceOrgUnit, provisioning.SourceRequest} {
			as = append(as, provisioning.Assignment{ID: fmt.Sprintf("asg-%d-%d", i, k), Email: longEmail, Source: src,
				Ref: "/" + strings.Repeat("Engineering/", 50), GrantedBy: strings.Repeat("system-", 40), Reason: longReason,
				CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Duration(k) * 24 * time.Hour)})
		}
		h.Rows = append(h.Rows, blocks.MemberRow{Member: m, Assignments: as})
	}
	for i := range 12 {
		r := pendingRequest(fmt.Sprintf("req-%06d", i), longEmail, "U0BOB", 90*24*time.Hour, longReason, time.Duration(i)*time.Hour)
		r.Decisions = []provisioning.Decision{{By: "U0ADMIN", Approved: true, At: now}}
		h.Pending = append(h.Pending, r)
	}
	for i := range 7 {
		h.FailedJobs = append(h.FailedJobs, failedJob(fmt.Sprintf("job-%06d", i), longEmail, provisioning.ActionInvite, longError))
	}
	for i := range 10 {
		h.Audit = append(h.Audit, provisioning.AuditEvent{ID: fmt.Sprintf("aud-%d", i), At: now.Add(-time.Duration(i) * time.Minute),
			Actor: "U0ADMIN", Action: "revoke", Email: longEmail, Outcome: "dry-run", Detail: longReason})
	}
	for range 7 {
		h.Notices = append(h.Notices, "Roster cannot post in <#C0APPROVALS>: invite it to the channel. "+blocks.Escape(longReason))
	}
	for i := range 5 {
		var emails []string
		for j := range 40 {
			emails = append(emails, fmt.Sprintf("%d.%s", j, longEmail))
		}
		h.Held = append(h.Held, provisioning.HeldChange{ID: fmt.Sprintf("held-%d", i), Cause: "group deleted: " + longReason, By: "U0ADMIN",
			Emails: emails, State: provisioning.HeldPending, CreatedAt: now.Add(-time.Hour), ActiveCount: 50000})
	}
	return h
}

func adminHomeCases() []tcase {
	rows := typicalRows()
	pending := []provisioning.Request{
		pendingRequest("req-000009", "linus@example.com", "U0BOB", 7*24*time.Hour, "Pairing on the kernel work", 2*time.Hour),
		pendingRequest("req-000008", "ken@example.com", "U0ADA", 0, "", 26*time.Hour),
	}
	pending[1].Decisions = []provisioning.Decision{{By: "U0ADMIN", Approved: true, At: now.Add(-time.Hour)}}
	failed := []provisioning.Job{failedJob("job-000003", "writer@agency.example", provisioning.ActionInvite, "email taken (email_taken)")}

	evilMember := member("U0EVIL", evil, evil+"@example.com")
	return []tcase{
		{"empty_workspace", blocks.AdminHomeView(blocks.AdminHome{Now: now})},
		{"first_page", blocks.AdminHomeView(blocks.AdminHome{Page: 0, Pages: 3, Total: 45, Rows: rows,
			Pending: pending, FailedJobs: failed, Audit: typicalAudit(), Now: now})},
		{"middle_page_with_query", blocks.AdminHomeView(blocks.AdminHome{Query: "example.com", Page: 1, Pages: 2500, Total: 50000, Rows: rows, Now: now})},
		{"last_page", blocks.AdminHomeView(blocks.AdminHome{Page: 2, Pages: 3, Total: 45, Rows: rows[:1], Audit: typicalAudit(), Now: now})},
		{"no_match", blocks.AdminHomeView(blocks.AdminHome{Query: "nobody", Now: now})},
		{"dry_run_with_notices", blocks.AdminHomeView(blocks.AdminHome{Pages: 1, Total: 5, Rows: rows, DryRun: true, Now: now,
			Notices: []string{"Roster cannot post in <#C0APPROVALS>: invite it to the channel.", "SCIM token rejected (invalid_authentication): jobs wait until it is replaced."}})},
		{"full_page", blocks.AdminHomeView(fullAdminHome())},
		{"directory_access", blocks.AdminHomeView(blocks.AdminHome{Pages: 1, Total: 2, Now: now, Rows: []blocks.MemberRow{
			{Member: member("U0ADA", "Ada Lovelace", "ada@example.com"), Directory: []string{"via group Contractors", "via /Engineering"}},
			{Member: member("U0BOB", "Bob", "bob@example.com"), Directory: []string{provisioning.ReasonDisabled}},
			{Member: member("U0EVL", "Eve", "eve@example.com"), Directory: []string{"via group " + evil}},
		}})},
		{"last_reconcile", blocks.AdminHomeView(blocks.AdminHome{Pages: 1, Total: 5, Rows: rows, Now: now, Reconcile: &provisioning.ReconcileResult{
			At: now.Add(-10 * time.Minute), Accounts: 520, Active: 500, Entitled: 480, Invite: []string{"a@example.com"},
			Deactivate: []string{"b@example.com", "c@example.com"}, Unmanaged: []string{"d@example.com"}}})},
		{"held_deactivations", blocks.AdminHomeView(blocks.AdminHome{Pages: 1, Total: 5, Rows: rows, Now: now, Held: []provisioning.HeldChange{
			{ID: "held-000002", Cause: "import roster.csv", By: "import", Emails: []string{"a@example.com", "b@example.com", "c@example.com"}, State: provisioning.HeldPending, CreatedAt: now.Add(-time.Minute), ActiveCount: 20},
			{ID: "held-000001", Cause: "group deleted: Contractors", By: "U0ADMIN", Emails: []string{"d@example.com", "e@example.com"}, State: provisioning.HeldPending, CreatedAt: now.Add(-time.Hour), ActiveCount: 20},
		}})},
		{"held_escaping", blocks.AdminHomeView(blocks.AdminHome{Now: now, Held: []provisioning.HeldChange{
			{ID: evil, Cause: evil, By: evil, Emails: []string{evil}, State: provisioning.HeldPending, CreatedAt: now}}})},
		{"escaping", blocks.AdminHomeView(blocks.AdminHome{Query: evil, Page: 1, Pages: 3, Total: 41, Now: now,
			Rows: []blocks.MemberRow{{Member: evilMember, Assignments: []provisioning.Assignment{
				{Source: provisioning.SourceGroup, Ref: evil, GrantedBy: evil, Reason: evil, CreatedAt: now}}}},
			Pending:    []provisioning.Request{pendingRequest("req-1", evil, evil, 0, evil, time.Hour)},
			FailedJobs: []provisioning.Job{failedJob("job-1", evil, provisioning.ActionDeactivate, evil)},
			Audit:      []provisioning.AuditEvent{{At: now, Actor: evil, Action: evil, Email: evil, Outcome: evil, Detail: evil}},
		})},
	}
}

func memberHomeCases() []tcase {
	approved := pendingRequest("req-000004", "linus@example.com", "U0BOB", 7*24*time.Hour, "Kernel work", 3*24*time.Hour)
	approved.Status, approved.DecidedBy = provisioning.StatusApproved, "U0ADMIN"
	approved.Decisions = []provisioning.Decision{{By: "U0ADMIN", Approved: true, At: now.Add(-2 * 24 * time.Hour)}}
	denied := pendingRequest("req-000003", "mallory@example.com", "U0BOB", 0, "", 5*24*time.Hour)
	denied.Status, denied.DecidedBy = provisioning.StatusDenied, "U0ADMIN"
	denied.Decisions = []provisioning.Decision{{By: "U0ADMIN", Approved: false, Reason: "Not a company address", At: now.Add(-4 * 24 * time.Hour)}}
	expired := pendingRequest("req-000002", "old@example.com", "U0BOB", 0, "", 10*24*time.Hour)
	expired.Status = provisioning.StatusExpired
	cancelled := pendingRequest("req-000001", "oops@example.com", "U0BOB", 0, "", 11*24*time.Hour)
	cancelled.Status = provisioning.StatusCancelled
	mixed := []provisioning.Request{
		pendingRequest("req-000005", "ken@example.com", "U0BOB", 2*7*24*time.Hour, "Joins the platform team", 10*time.Minute),
		approved, denied, expired, cancelled,
	}

	var longest []provisioning.Request
	for i := range 30 {
		r := pendingRequest(fmt.Sprintf("req-%06d", i), longEmail, "U0BOB", 90*24*time.Hour, longReason, time.Duration(i)*time.Hour)
		if i%2 == 1 {
			r.Status = provisioning.StatusDenied
			r.Decisions = []provisioning.Decision{{By: "U0ADMIN", Reason: longReason, At: now}}
		}
		longest = append(longest, r)
	}
	evilDenied := pendingRequest("req-2", evil, "U0BOB", 0, evil, time.Hour)
	evilDenied.Status = provisioning.StatusDenied
	evilDenied.Decisions = []provisioning.Decision{{By: evil, Reason: evil, At: now}}
	return []tcase{
		{"no_requests", blocks.MemberHomeView(blocks.MemberHome{Now: now})},
		{"every_state", blocks.MemberHomeView(blocks.MemberHome{Requests: mixed, Now: now})},
		{"dry_run", blocks.MemberHomeView(blocks.MemberHome{Requests: mixed[:1], DryRun: true, Now: now})},
		{"longest", blocks.MemberHomeView(blocks.MemberHome{Requests: longest, DryRun: true, Now: now})},
		{"escaping", blocks.MemberHomeView(blocks.MemberHome{Requests: []provisioning.Request{
			pendingRequest("req-1", evil, "U0BOB", 0, evil, time.Hour), evilDenied}, Now: now})},
	}
}

func TestAdminHomeView(t *testing.T)  { runGolden(t, adminHomeCases()) }
func TestMemberHomeView(t *testing.T) { runGolden(t, memberHomeCases()) }

// buttons maps the action IDs of the buttons in bs to their values.
func buttons(bs []slack.Block) map[string]string {
	out := map[string]string{}
	add := func(el slack.BlockElement) {
		if b, ok := el.(*slack.ButtonBlockElement); ok {
			out[b.ActionID] = b.Value
		}
	}
	for _, b := range bs {
		switch b := b.(type) {
		case *slack.ActionBlock:
			for _, el := range b.Elements.ElementSet {
				add(el)
			}
		case *slack.SectionBlock:
			if b.Accessory != nil && b.Accessory.ButtonElement != nil {
				add(b.Accessory.ButtonElement)
			}
		}
	}
	return out
}

func TestAdminHomePager(t *testing.T) {
	tests := []struct {
		name           string
		page, pages    int
		wantPrev, want string // want: the Next value
	}{
		{"only page", 0, 1, "", ""},
		{"first", 0, 3, "", "p=1&q=ada+%3C%21channel%3E"},
		{"middle", 1, 3, "p=0&q=ada+%3C%21channel%3E", "p=2&q=ada+%3C%21channel%3E"},
		{"last", 2, 3, "p=1&q=ada+%3C%21channel%3E", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := blocks.AdminHomeView(blocks.AdminHome{Query: "ada <!channel>", Page: tt.page, Pages: tt.pages, Total: 45, Rows: typicalRows(), Now: now})
			got := buttons(v.Blocks.BlockSet)
			prev, next := got[blocks.ActionHomePage+":prev"], got[blocks.ActionHomePage+":next"]
			if prev != tt.wantPrev || next != tt.want {
				t.Errorf("page %d of %d: Previous = %q, Next = %q; want %q, %q", tt.page, tt.pages, prev, next, tt.wantPrev, tt.want)
			}
			for id, val := range got {
				if blocks.BaseAction(id) != blocks.ActionHomePage {
					continue
				}
				page, q, err := blocks.DecodePage(val)
				if err != nil || q != "ada <!channel>" || (page != tt.page-1 && page != tt.page+1) {
					t.Errorf("DecodePage(%q) = %d, %q, %v; want page %d±1, the query", val, page, q, err, tt.page)
				}
			}
		})
	}
}

func TestAdminHomeRevokeButtons(t *testing.T) {
	v := blocks.AdminHomeView(blocks.AdminHome{Pages: 1, Total: 5, Rows: typicalRows(), Now: now})
	got := map[string]string{}
	for id, val := range buttons(v.Blocks.BlockSet) {
		if blocks.BaseAction(id) == blocks.ActionRevokeMember {
			got[val] = id
		}
	}
	// Not for the owner and the bot, whom Roster never deactivates, nor
	// for Grace, deactivated with nothing to withdraw.
	for id, want := range map[string]bool{"U0ADA": true, "U0GUEST": true, "U0GRACE": false, "U0OWNER": false, "U0BOT": false} {
		if _, ok := got[id]; ok != want {
			t.Errorf("Revoke… button with value %s: %v, want %v (buttons %v)", id, ok, want, got)
		}
	}
}

func TestMemberHomeNeverShowsOtherEmails(t *testing.T) {
	// The member's Home shows only the requests it is given; the
	// directory, pending requests of others and audit are Admin Home only.
	v := blocks.MemberHomeView(blocks.MemberHome{Requests: []provisioning.Request{
		pendingRequest("req-1", "ken@example.com", "U0BOB", 0, "", time.Hour)}, Now: now})
	j := textOf(t, v)
	for _, other := range []string{"ada@example.com", "grace@example.com"} {
		if strings.Contains(j, other) {
			t.Errorf("member Home shows %s", other)
		}
	}
	got := buttons(v.Blocks.BlockSet)
	if _, ok := got[blocks.ActionOpenRequest]; !ok {
		t.Errorf("no Request button; buttons %v", got)
	}
	if got[blocks.ActionCancelRequest+":0"] != "req-1" {
		t.Errorf("Cancel button value = %q, want req-1; buttons %v", got[blocks.ActionCancelRequest+":0"], got)
	}
}
