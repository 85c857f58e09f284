package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/fakeslack"
)

// surfaces starts a bot against the demo workspace and waits until its
// directory holds the workspace.
func surfaces(t *testing.T) (*fakeslack.Server, *bot) {
	t.Helper()
	fs := newFake(t)
	b := startBot(t, fs, env(fs, t.TempDir(), nil))
	waitFor(t, "directory sync", func() bool {
		_, ok := b.app.Directory.ByEmail(fakeslack.DemoMemberEmail)
		return ok
	})
	return fs, b
}

// waitFor polls cond, for state that changes in another process or
// goroutine with no event to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// command sends /roster text as userID and returns the text of the
// ephemeral answer posted to the command's response_url.
func command(t *testing.T, fs *fakeslack.Server, userID, text string) string {
	t.Helper()
	before := len(fs.Responses())
	env, err := fs.SlashCommand(userID, text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(env, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	seen := map[string]bool{}
	var r fakeslack.Response
	_, err = fs.WaitResponse(ctx, func(x fakeslack.Response) bool {
		// Responses come oldest first; each scan sees them all again.
		key := x.ID + x.At.String() + string(x.Body)
		if seen[key] {
			return false
		}
		seen[key] = true
		// The answer is the first new response that is not a click's
		// replacement of its own message (which may land meanwhile).
		if len(seen) > before && !strings.Contains(string(x.Body), `"replace_original":true`) {
			r = x
			return true
		}
		return false
	})
	if err != nil {
		t.Fatalf("/roster %.40s by %s: no answer: %v", text, userID, err)
	}
	var msg struct {
		Text         string          `json:"text"`
		ResponseType string          `json:"response_type"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if err := r.Decode(&msg); err != nil {
		t.Fatal(err)
	}
	if msg.ResponseType != "ephemeral" {
		t.Errorf("/roster %.40s: response_type = %q, want ephemeral", text, msg.ResponseType)
	}
	return msg.Text + "\n" + string(msg.Blocks)
}

func TestCommandsByAdminAndMember(t *testing.T) {
	fs, _ := surfaces(t)
	tests := []struct {
		name, user, text string
		want             []string // all in the answer
		notWant          []string
	}{
		{"help admin", fakeslack.DemoAdminID, "help", []string{"assign", "revoke", "find"}, nil},
		{"help member", fakeslack.DemoMemberID, "", []string{"request", "status"}, []string{"/roster find"}},
		{"unknown", fakeslack.DemoMemberID, "frobnicate", []string{"frobnicate"}, nil},
		{"assign by member", fakeslack.DemoMemberID, "assign eve@example.com", []string{"Only Roster admins"}, nil},
		{"revoke by member", fakeslack.DemoMemberID, "revoke " + fakeslack.DemoGuestEmail, []string{"Only Roster admins"}, nil},
		{"find by member", fakeslack.DemoMemberID, "find mia", []string{"Only Roster admins"}, nil},
		{"find by admin", fakeslack.DemoAdminID, "find mia", []string{fakeslack.DemoMemberEmail}, nil},
		{"status own", fakeslack.DemoMemberID, "status", []string{fakeslack.DemoMemberEmail, "active"}, nil},
		{"status by mention", fakeslack.DemoMemberID, "status <@" + fakeslack.DemoDeactivatedID + "|dora>", []string{fakeslack.DemoDeactivatedEmail, "deactivated"}, nil},
		{"bad email", fakeslack.DemoAdminID, "assign not-an-email", []string{"/roster assign EMAIL"}, nil},
		{"bad duration", fakeslack.DemoAdminID, "assign eve@example.com for ever", []string{"ever"}, nil},
		{"request", fakeslack.DemoMemberID, "request new.person@example.com for 2w contractor", []string{"new.person@example.com", "waiting for approval"}, nil},
		{"request by admin", fakeslack.DemoAdminID, "request admin.asks@example.com", []string{"admin.asks@example.com", "waiting for approval"}, nil},
		{"status by admin", fakeslack.DemoAdminID, "status " + fakeslack.DemoGuestEmail, []string{fakeslack.DemoGuestEmail, "multi-channel guest"}, nil},
		{"assign form by member", fakeslack.DemoMemberID, "assign", []string{"Only Roster admins"}, nil},
		{"revoke an admin", fakeslack.DemoAdmin2ID, "revoke " + fakeslack.DemoAdminEmail + " testing", []string{"Roster refused", "admin"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := command(t, fs, tt.user, tt.text)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("/roster %s by %s = %q, want it to contain %q", tt.text, tt.user, got, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("/roster %s by %s = %q, want no %q", tt.text, tt.user, got, w)
				}
			}
		})
	}
	if w := fs.SCIMWrites(); len(w) != 0 {
		t.Errorf("SCIM writes = %d, want none (nothing above provisions)", len(w))
	}
}

func TestAssignAndRevokeFromTheCommand(t *testing.T) {
	fs, b := surfaces(t)
	got := command(t, fs, fakeslack.DemoAdminID, "assign eve.new@example.com for 7d starts Monday")
	if !strings.Contains(got, "eve.new@example.com") {
		t.Fatalf("assign answer = %q", got)
	}
	// The admin is told by DM when the job is done.
	dm := fakeslack.DMChannel(fakeslack.DemoAdminID)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if _, err := fs.WaitCall(ctx, "chat.postMessage", func(c fakeslack.Call) bool {
		return c.Param("channel") == dm && strings.Contains(c.Param("blocks"), "eve.new@example.com")
	}); err != nil {
		t.Fatalf("no DM about the finished job: %v", err)
	}
	if u, ok := fs.UserByEmail("eve.new@example.com"); !ok || u.Deleted {
		t.Fatalf("eve.new@example.com was not invited")
	}
	got = command(t, fs, fakeslack.DemoAdminID, "revoke <@"+mustUser(t, fs, "eve.new@example.com")+"> contract ended")
	if !strings.Contains(got, "eve.new@example.com") {
		t.Fatalf("revoke answer = %q", got)
	}
	waitFor(t, "deactivation", func() bool { u, _ := fs.UserByEmail("eve.new@example.com"); return u.Deleted })
	// Slack's team_join and user_change events keep Roster's copy of the
	// directory current, email included.
	waitFor(t, "user_change applied", func() bool {
		m, ok := b.app.Directory.ByID(mustUser(t, fs, "eve.new@example.com"))
		return ok && m.Deleted && m.Email == "eve.new@example.com"
	})
}

func mustUser(t *testing.T, fs *fakeslack.Server, email string) string {
	t.Helper()
	u, ok := fs.UserByEmail(email)
	if !ok {
		t.Fatalf("no user %s", email)
	}
	return u.ID
}

// submit sends a view submission and returns the ack payload.
func submit(t *testing.T, fs *fakeslack.Server, user, callback string, values map[string]map[string]any) map[string]any {
	t.Helper()
	env, err := fs.ViewSubmission(user, callback, values)
	if err != nil {
		t.Fatal(err)
	}
	a, err := fs.WaitAck(env, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if len(a.Payload) > 0 && string(a.Payload) != "null" {
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func field(block, action string, v any) map[string]map[string]any {
	return map[string]map[string]any{block: {action: v}}
}

func merge(ms ...map[string]map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestModalsInvalidThenValid(t *testing.T) {
	fs, _ := surfaces(t)
	tests := []struct {
		name, callback    string
		invalid, valid    map[string]map[string]any
		wantErrBlock      string
		wantSCIMWriteFrom string // email whose account the valid submission changes
	}{
		{
			name: "assign", callback: blocks.CallbackAssign,
			invalid:      merge(field(blocks.BlockEmail, blocks.ActionEmail, "not an email"), field(blocks.BlockDuration, blocks.ActionDuration, "")),
			valid:        merge(field(blocks.BlockEmail, blocks.ActionEmail, "modal.assign@example.com"), field(blocks.BlockDuration, blocks.ActionDuration, "2w"), field(blocks.BlockReason, blocks.ActionReason, "<!channel> hello")),
			wantErrBlock: blocks.BlockEmail, wantSCIMWriteFrom: "modal.assign@example.com",
		},
		{
			name: "assign bad duration", callback: blocks.CallbackAssign,
			invalid:      merge(field(blocks.BlockEmail, blocks.ActionEmail, "x@example.com"), field(blocks.BlockDuration, blocks.ActionDuration, "forever")),
			valid:        merge(field(blocks.BlockEmail, blocks.ActionEmail, fakeslack.DemoDeactivated2Email)),
			wantErrBlock: blocks.BlockDuration, wantSCIMWriteFrom: fakeslack.DemoDeactivated2Email,
		},
		{
			name: "revoke", callback: blocks.CallbackRevoke,
			invalid:      map[string]map[string]any{},
			valid:        merge(field(blocks.BlockMember, blocks.ActionMember, map[string]any{"type": "users_select", "selected_user": fakeslack.DemoGuestID}), field(blocks.BlockReason, blocks.ActionReason, "left")),
			wantErrBlock: blocks.BlockEmail, wantSCIMWriteFrom: fakeslack.DemoGuestEmail,
		},
		{
			name: "request", callback: blocks.CallbackRequest,
			invalid:      merge(field(blocks.BlockEmail, blocks.ActionEmail, "ada@"), field(blocks.BlockDuration, blocks.ActionDuration, "3x")),
			valid:        merge(field(blocks.BlockEmail, blocks.ActionEmail, "wanted@example.com"), field(blocks.BlockDuration, blocks.ActionDuration, "1w")),
			wantErrBlock: blocks.BlockEmail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := submit(t, fs, fakeslack.DemoAdminID, tt.callback, tt.invalid)
			errs, _ := p["errors"].(map[string]any)
			if p["response_action"] != "errors" || errs[tt.wantErrBlock] == nil {
				t.Fatalf("invalid submission ack = %v, want errors under %s", p, tt.wantErrBlock)
			}
			p = submit(t, fs, fakeslack.DemoAdminID, tt.callback, tt.valid)
			if p["response_action"] == "errors" {
				t.Fatalf("valid submission ack = %v, want no errors", p)
			}
			if tt.wantSCIMWriteFrom != "" {
				waitFor(t, "SCIM write for "+tt.wantSCIMWriteFrom, func() bool {
					for _, w := range fs.SCIMWrites() {
						if strings.Contains(string(w.Body), tt.wantSCIMWriteFrom) || strings.HasSuffix(w.Path, "/"+userIDOf(fs, tt.wantSCIMWriteFrom)) {
							return true
						}
					}
					return false
				})
			}
		})
	}
}

func userIDOf(fs *fakeslack.Server, email string) string {
	u, ok := fs.UserByEmail(email)
	if !ok {
		return "none"
	}
	return u.ID
}

// A plain member's modal submission is refused after the ack, audited, and
// provisions nothing.
func TestModalByMemberIsRefused(t *testing.T) {
	fs, b := surfaces(t)
	p := submit(t, fs, fakeslack.DemoMemberID, blocks.CallbackAssign, field(blocks.BlockEmail, blocks.ActionEmail, "sneaky@example.com"))
	if p["response_action"] == "errors" {
		t.Fatalf("ack = %v", p)
	}
	dm := fakeslack.DMChannel(fakeslack.DemoMemberID)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := fs.WaitCall(ctx, "chat.postMessage", func(c fakeslack.Call) bool {
		return c.Param("channel") == dm && strings.Contains(c.Param("blocks"), "Only Roster admins")
	}); err != nil {
		t.Fatalf("member not told: %v", err)
	}
	if st, _ := b.app.Service.Status(t.Context(), "sneaky@example.com"); len(st.Assignments) != 0 {
		t.Errorf("assignment recorded for a member's submission")
	}
}

func homeText(t *testing.T, fs *fakeslack.Server, user string) string {
	t.Helper()
	v, ok := fs.HomeView(user)
	if !ok {
		return ""
	}
	return string(v.Blocks)
}

func openHome(t *testing.T, fs *fakeslack.Server, user string, want ...string) string {
	t.Helper()
	before := len(fs.Calls("views.publish"))
	if _, _, err := fs.AppHomeOpened(user); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "views.publish", func() bool { return len(fs.Calls("views.publish")) > before })
	// A refresh the bot started earlier (a job finishing) may publish
	// after the event was sent: wait for the view that shows what the
	// test expects.
	var home string
	waitFor(t, fmt.Sprintf("Home showing %q", want), func() bool {
		home = homeText(t, fs, user)
		for _, w := range want {
			if !strings.Contains(home, w) {
				return false
			}
		}
		return true
	})
	return home
}

func TestHomeForAdminAndMember(t *testing.T) {
	fs, _ := surfaces(t)
	admin := openHome(t, fs, fakeslack.DemoAdminID)
	for _, want := range []string{fakeslack.DemoMemberEmail, fakeslack.DemoDeactivatedEmail, "deactivated", blocks.ActionOpenAssign, blocks.ActionHomeSearch} {
		if !strings.Contains(admin, want) {
			t.Errorf("admin Home lacks %q", want)
		}
	}
	member := openHome(t, fs, fakeslack.DemoMemberID)
	if !strings.Contains(member, blocks.ActionOpenRequest) {
		t.Errorf("member Home lacks the Request button")
	}
	for _, u := range fs.Users() {
		if u.Email != "" && strings.Contains(member, u.Email) {
			t.Errorf("member Home shows %s", u.Email)
		}
	}
}

func TestHomeSearchAndPaging(t *testing.T) {
	fs := newFake(t, fakeslack.WithWorkspace(fakeslack.DemoWorkspace().Add(fakeslack.GenerateMembers(120, 7)...)))
	b := startBot(t, fs, env(fs, t.TempDir(), nil))
	waitFor(t, "directory sync", func() bool { _, ok := b.app.Directory.ByEmail(fakeslack.DemoMemberEmail); return ok })
	openHome(t, fs, fakeslack.DemoAdminID)

	act := func(actionID, value string) string {
		t.Helper()
		before := len(fs.Calls("views.publish"))
		env, err := fs.BlockAction(fakeslack.DemoAdminID, actionID, value)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.WaitAck(env, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		waitFor(t, actionID, func() bool { return len(fs.Calls("views.publish")) > before })
		return homeText(t, fs, fakeslack.DemoAdminID)
	}
	got := act(blocks.ActionHomeSearch, "mia")
	if !strings.Contains(got, fakeslack.DemoMemberEmail) || strings.Contains(got, fakeslack.DemoAdminEmail) {
		t.Errorf("search for mia: Home does not show just the matches")
	}
	got = act(blocks.ActionHomeSearch, "")
	first := strings.Count(got, "@example.com")
	got = act(blocks.ActionHomePage, blocks.EncodePage(1, ""))
	if strings.Count(got, "@example.com") == 0 || got == "" {
		t.Errorf("page 2 shows no members")
	}
	if first == 0 {
		t.Errorf("page 1 shows no members")
	}
	var page2 []string
	for _, u := range fs.Users() {
		if u.Email != "" && strings.Contains(got, u.Email) {
			page2 = append(page2, u.Email)
		}
	}
	if len(page2) == 0 || len(page2) > blocks.HomePageSize {
		t.Errorf("page 2 shows %d members, want 1..%d", len(page2), blocks.HomePageSize)
	}
	// A page past the end (the directory shrank, an old button) shows the last page.
	got = act(blocks.ActionHomePage, blocks.EncodePage(99, ""))
	if !strings.Contains(got, "@example.com") || strings.Contains(got, "Showing 1981") {
		t.Errorf("page 100 of a smaller directory does not show its last page")
	}
}

func TestRedeliveredHomeEventHandledOnce(t *testing.T) {
	fs, _ := surfaces(t)
	env, _, err := fs.AppHomeOpened(fakeslack.DemoMemberID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "views.publish", func() bool { return len(fs.Calls("views.publish")) == 1 })
	retry, err := fs.Redeliver(env, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitAck(retry, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A later, distinct event is handled: once it is published, the retry
	// (dispatched before it) has been dropped.
	if _, _, err := fs.AppHomeOpened(fakeslack.DemoAdminID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "admin views.publish", func() bool {
		for _, c := range fs.Calls("views.publish") {
			if c.Param("user_id") == fakeslack.DemoAdminID {
				return true
			}
		}
		return false
	})
	n := 0
	for _, c := range fs.Calls("views.publish") {
		if c.Param("user_id") == fakeslack.DemoMemberID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("views.publish for the member = %d, want 1 (the retry is a duplicate)", n)
	}
}

// User text never reaches Slack able to mention, broadcast or link.
func TestUserTextIsEscaped(t *testing.T) {
	fs, _ := surfaces(t)
	evil := "<!channel> <@" + fakeslack.DemoMemberID + "> <https://evil.example|click> &amp;"
	command(t, fs, fakeslack.DemoAdminID, "assign evil.reason@example.com for 1d "+evil)
	command(t, fs, fakeslack.DemoAdminID, "find <!channel>")
	command(t, fs, fakeslack.DemoAdminID, "frobnicate <!here> <https://evil.example|x>")
	waitFor(t, "job DM", func() bool {
		for _, c := range fs.Calls("chat.postMessage") {
			if strings.Contains(c.Param("blocks"), "evil.reason@example.com") {
				return true
			}
		}
		return false
	})
	openHome(t, fs, fakeslack.DemoAdminID) // the audit shows the reason
	var sent []string
	for _, m := range []string{"chat.postMessage", "chat.postEphemeral", "chat.update", "views.publish", "views.open"} {
		for _, c := range fs.Calls(m) {
			sent = append(sent, c.Param("text"), c.Param("blocks"), c.Param("view"))
		}
	}
	for _, r := range fs.Responses() {
		sent = append(sent, string(r.Body))
	}
	for _, s := range sent {
		for _, bad := range []string{"<!channel>", "<!here>", "<https://evil", "<@" + fakeslack.DemoMemberID + ">"} {
			if strings.Contains(s, bad) || strings.Contains(s, strings.NewReplacer("<", `\u003c`, ">", `\u003e`).Replace(bad)) {
				t.Errorf("Slack received %q unescaped in %.200s", bad, s)
			}
		}
	}
}

func TestLongCommandIsAnswered(t *testing.T) {
	fs, _ := surfaces(t)
	got := command(t, fs, fakeslack.DemoAdminID, "assign ada@example.com for 1d "+strings.Repeat("very long reason ", 640))
	if got == "" {
		t.Fatal("no answer to a 10 kB command")
	}
	if len(fs.SCIMWrites()) != 0 {
		t.Errorf("a 10 kB command provisioned something")
	}
}
