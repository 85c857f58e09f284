package fakeslack_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/fakeslack"
	"github.com/slack-go/slack"
)

func TestUnknownMethod(t *testing.T) {
	s := demoServer(t)
	got, resp := apiCall(t, s, "users.teleport", fakeslack.BotToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	want := map[string]any{"ok": false, "error": "unknown_method"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users.teleport answer mismatch (-want +got):\n%s", diff)
	}
	if c := s.Calls("users.teleport"); len(c) != 1 || c[0].Error != "unknown_method" {
		t.Errorf("Calls = %+v, want one recorded with its error", c)
	}
}

func TestTokenChecks(t *testing.T) {
	s := demoServer(t)
	const revoked = "xoxb-revoked"
	s.RevokeToken(fakeslack.BotToken + "-old")
	s.RevokeToken(revoked)
	tests := []struct {
		name, method, token, wantErr string
	}{
		{"bot token", "auth.test", fakeslack.BotToken, ""},
		{"admin token on auth.test", "auth.test", fakeslack.AdminToken, ""},
		{"no token", "users.list", "", "not_authed"},
		{"unknown token", "users.list", "xoxb-nope", "invalid_auth"},
		{"revoked token", "users.list", revoked, "token_revoked"},
		{"app token on a bot method", "chat.postMessage", fakeslack.AppToken, "not_allowed_token_type"},
		{"admin token lacks the bot scope", "users.list", fakeslack.AdminToken, "missing_scope"},
		{"bot token on apps.connections.open", "apps.connections.open", fakeslack.BotToken, "not_allowed_token_type"},
		{"app token on apps.connections.open", "apps.connections.open", fakeslack.AppToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := apiCall(t, s, tt.method, tt.token, nil)
			gotErr, _ := got["error"].(string)
			if gotErr != tt.wantErr || got["ok"] != (tt.wantErr == "") {
				t.Errorf("%s with %q = %v, want error %q", tt.method, tt.token, got, tt.wantErr)
			}
		})
	}

	api := newAPI(t, s)
	resp, err := api.AuthTestContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if resp.UserID != fakeslack.BotUserID || resp.TeamID != fakeslack.TeamID || resp.BotID != fakeslack.BotID {
		t.Errorf("auth.test = %+v", resp)
	}
	s.RevokeToken(fakeslack.BotToken)
	_, err = api.AuthTestContext(t.Context())
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || se.Err != "token_revoked" {
		t.Errorf("auth.test after RevokeToken: err = %v, want token_revoked", err)
	}
}

func TestFormAndJSONBodies(t *testing.T) {
	s := demoServer(t)
	api := newAPI(t, s)
	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*hi*", false, false), nil, nil)

	// slack-go sends chat.postMessage as a form, blocks as a JSON string.
	if _, _, err := api.PostMessageContext(t.Context(), fakeslack.DemoGeneralChannel,
		slack.MsgOptionText("form", false), slack.MsgOptionBlocks(section)); err != nil {
		t.Fatal(err)
	}
	// A JSON body with a Bearer token and blocks as JSON.
	got := apiJSON(t, s, "chat.postMessage", fakeslack.BotToken, map[string]any{
		"channel": fakeslack.DemoGeneralChannel, "text": "json",
		"blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*hi*"}}},
	})
	if got["ok"] != true {
		t.Fatalf("JSON chat.postMessage = %v", got)
	}

	calls := s.Calls("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("chat.postMessage calls = %d, want 2", len(calls))
	}
	for i, c := range calls {
		if c.Token != fakeslack.BotToken {
			t.Errorf("call %d token = %q", i, c.Token)
		}
		var blocks slack.Blocks
		if err := c.Decode("blocks", &blocks); err != nil {
			t.Fatalf("call %d: Decode(blocks) = %v", i, err)
		}
		if len(blocks.BlockSet) != 1 || blocks.BlockSet[0].BlockType() != slack.MBTSection {
			t.Errorf("call %d blocks = %+v, want one section", i, blocks.BlockSet)
		}
		var text string
		if err := c.Decode("text", &text); err != nil || text != []string{"form", "json"}[i] {
			t.Errorf("call %d Decode(text) = %q, %v", i, text, err)
		}
	}
	msgs := s.Messages(fakeslack.DemoGeneralChannel)
	if len(msgs) != 2 || msgs[0].Text != "form" || msgs[1].Text != "json" || msgs[0].TS >= msgs[1].TS {
		t.Errorf("Messages = %+v, want form then json with increasing ts", msgs)
	}

	// views.publish as JSON (slack-go) and as a form with view as a string (Bolt).
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{section}}}
	if _, err := api.PublishViewContext(t.Context(), slack.PublishViewContextRequest{UserID: fakeslack.DemoAdminID, View: home}); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"user_id": {fakeslack.DemoMemberID}, "view": {`{"type":"home","blocks":[{"type":"divider"}]}`}}
	if got, _ := apiCall(t, s, "views.publish", fakeslack.BotToken, form); got["ok"] != true {
		t.Fatalf("form views.publish = %v", got)
	}
	for _, user := range []string{fakeslack.DemoAdminID, fakeslack.DemoMemberID} {
		v, ok := s.HomeView(user)
		if !ok {
			t.Fatalf("HomeView(%s) missing", user)
		}
		var sv slack.View
		if err := v.Decode(&sv); err != nil || sv.Type != slack.VTHomeTab || sv.ID == "" || len(sv.Blocks.BlockSet) != 1 {
			t.Errorf("HomeView(%s) = %+v, %v", user, sv, err)
		}
	}
	for i, c := range s.Calls("views.publish") {
		var v slack.HomeTabViewRequest
		if err := c.Decode("view", &v); err != nil || v.Type != slack.VTHomeTab {
			t.Errorf("views.publish call %d: Decode(view) = %+v, %v", i, v, err)
		}
	}
}

func TestUsersListPaging(t *testing.T) {
	ws := fakeslack.DemoWorkspace().Add(fakeslack.GenerateMembers(437, 7)...)
	s := newServer(t, fakeslack.WithWorkspace(ws))
	api := newAPI(t, s)
	seen := map[string]int{}
	p := api.GetUsersPaginated(slack.GetUsersOptionLimit(100))
	pages := 0
	var err error
	for {
		p, err = p.Next(t.Context())
		if p.Done(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range p.Users {
			seen[u.ID]++
		}
	}
	want := len(s.Users())
	if len(seen) != want {
		t.Errorf("users seen = %d, want %d", len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("user %s seen %d times", id, n)
		}
	}
	if wantPages := (want + 99) / 100; pages != wantPages {
		t.Errorf("pages = %d, want %d", pages, wantPages)
	}
	if got, _ := apiCall(t, s, "users.list", fakeslack.BotToken, url.Values{"cursor": {"bogus"}}); got["error"] != "invalid_cursor" {
		t.Errorf("users.list with a bad cursor = %v, want invalid_cursor", got)
	}
}

func TestUsersLookupByEmailFindsDeactivated(t *testing.T) {
	s := demoServer(t)
	api := newAPI(t, s)
	u, err := api.GetUserByEmailContext(t.Context(), fakeslack.DemoDeactivatedEmail)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != fakeslack.DemoDeactivatedID || !u.Deleted || u.Profile.Email != fakeslack.DemoDeactivatedEmail {
		t.Errorf("lookupByEmail = %+v, want the deactivated demo user", u)
	}
	_, err = api.GetUserByEmailContext(t.Context(), "nobody@example.com")
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || se.Err != "users_not_found" {
		t.Errorf("lookupByEmail(unknown) err = %v, want users_not_found", err)
	}
	info, err := api.GetUserInfoContext(t.Context(), fakeslack.DemoPrimaryOwnerID)
	if err != nil || !info.IsPrimaryOwner || !info.IsOwner || !info.IsAdmin {
		t.Errorf("users.info(owner) = %+v, %v", info, err)
	}
	if _, err := api.GetUserInfoContext(t.Context(), "U404"); err == nil {
		t.Error("users.info(unknown): err = nil, want user_not_found")
	}
}

func TestRequiredArguments(t *testing.T) {
	s := demoServer(t)
	tests := []struct {
		method  string
		form    url.Values
		wantErr string
	}{
		{"chat.postMessage", url.Values{"text": {"x"}}, "channel_not_found"},
		{"chat.postMessage", url.Values{"channel": {"C1"}}, "no_text"},
		{"chat.postMessage", url.Values{"channel": {"U404"}, "text": {"x"}}, "channel_not_found"},
		{"chat.update", url.Values{"channel": {"C1"}, "ts": {"1.2"}, "text": {"x"}}, "message_not_found"},
		{"chat.postEphemeral", url.Values{"channel": {"C1"}, "text": {"x"}}, "user_not_found"},
		{"users.info", nil, "user_not_found"},
		{"conversations.open", nil, "users_list_not_supplied"},
		{"conversations.open", url.Values{"users": {fakeslack.DemoDeactivatedID}}, "user_disabled"},
		{"views.open", url.Values{"view": {`{"type":"modal","title":{"type":"plain_text","text":"T"},"blocks":[]}`}}, "invalid_arguments"},
		{"views.open", url.Values{"trigger_id": {"1.2.3"}, "view": {`{"type":"modal","title":{"type":"plain_text","text":"T"},"blocks":[]}`}}, "invalid_trigger_id"},
		{"views.publish", url.Values{"user_id": {fakeslack.DemoMemberID}}, "invalid_arguments"},
		{"views.update", url.Values{"view_id": {"V404"}, "view": {`{"type":"modal"}`}}, "not_found"},
		{"usergroups.users.list", url.Values{"usergroup": {"S404"}}, "no_such_subteam"},
		{"chat.postMessage", url.Values{"channel": {"C1"}, "blocks": {`[{"type":"section","text":{"type":"mrkdwn","text":""}}]`}}, "invalid_blocks"},
		{"views.publish", url.Values{"user_id": {fakeslack.DemoMemberID}, "view": {`{"type":"modal","blocks":[]}`}}, "invalid_arguments"},
	}
	for _, tt := range tests {
		got, _ := apiCall(t, s, tt.method, fakeslack.BotToken, tt.form)
		if got["error"] != tt.wantErr {
			t.Errorf("%s(%v) = %v, want error %s", tt.method, tt.form, got, tt.wantErr)
		}
	}
}

func TestConversationsOpenAndUsergroups(t *testing.T) {
	s := demoServer(t)
	api := newAPI(t, s)
	ch, _, _, err := api.OpenConversationContext(t.Context(), &slack.OpenConversationParameters{Users: []string{fakeslack.DemoMemberID}})
	if err != nil {
		t.Fatal(err)
	}
	if ch.ID != fakeslack.DMChannel(fakeslack.DemoMemberID) || ch.ID[0] != 'D' {
		t.Errorf("conversations.open = %s, want %s", ch.ID, fakeslack.DMChannel(fakeslack.DemoMemberID))
	}
	if _, _, err := api.PostMessageContext(t.Context(), fakeslack.DemoMemberID, slack.MsgOptionText("dm", false)); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(ch.ID); len(m) != 1 || m[0].Text != "dm" {
		t.Errorf("Messages(%s) = %+v, want the DM posted to the user ID", ch.ID, m)
	}
	members, err := api.GetUserGroupMembersContext(t.Context(), fakeslack.DemoApproversGroup)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{fakeslack.DemoApproverID, fakeslack.DemoAdminID, fakeslack.DemoAdmin2ID}, members); diff != "" {
		t.Errorf("usergroup members mismatch (-want +got):\n%s", diff)
	}
}

func TestViewsTriggerAndStack(t *testing.T) {
	s := demoServer(t)
	api := newAPI(t, s)
	modal := func(cb string) slack.ModalViewRequest {
		return slack.ModalViewRequest{Type: slack.VTModal, CallbackID: cb,
			Title:  slack.NewTextBlockObject(slack.PlainTextType, "Title", false, false),
			Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewDividerBlock()}}}
	}
	trig := s.TriggerID(fakeslack.DemoAdminID)
	v, err := api.OpenViewContext(t.Context(), trig, modal("one"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.OpenViewContext(t.Context(), trig, modal("again"))
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || se.Err != "exchanged_trigger_id" {
		t.Errorf("second views.open with one trigger: err = %v, want exchanged_trigger_id", err)
	}
	if _, err := api.PushViewContext(t.Context(), s.TriggerID(fakeslack.DemoAdminID), modal("two")); err != nil {
		t.Fatal(err)
	}
	up, err := api.UpdateViewContext(t.Context(), modal("one-updated"), "", v.Hash, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.UpdateViewContext(t.Context(), modal("stale"), "", v.Hash, v.ID); err == nil {
		t.Error("views.update with a stale hash: err = nil, want hash_conflict")
	}
	stack := s.Modals(fakeslack.DemoAdminID)
	var got []string
	for _, m := range stack {
		got = append(got, m.CallbackID)
	}
	if diff := cmp.Diff([]string{"one-updated", "two"}, got); diff != "" {
		t.Errorf("modal stack mismatch (-want +got):\n%s", diff)
	}
	if up.ID != v.ID || stack[1].RootViewID != v.ID || stack[1].PreviousViewID != v.ID {
		t.Errorf("view ids: updated %s, pushed root %s prev %s; want all %s", up.ID, stack[1].RootViewID, stack[1].PreviousViewID, v.ID)
	}

	expired := newServer(t, fakeslack.WithWorkspace(fakeslack.DemoWorkspace()), fakeslack.WithTriggerTTL(time.Nanosecond))
	_, err = newAPI(t, expired).OpenViewContext(t.Context(), expired.TriggerID(fakeslack.DemoAdminID), modal("late"))
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || se.Err != "expired_trigger_id" {
		t.Errorf("views.open after the trigger TTL: err = %v, want expired_trigger_id", err)
	}
}

func TestRateLimitAPI(t *testing.T) {
	s := demoServer(t)
	api := newAPI(t, s)
	s.RateLimitAPI("users.info", 2, 1500*time.Millisecond)
	for i := range 2 {
		_, err := api.GetUserInfoContext(t.Context(), fakeslack.DemoMemberID)
		rl, ok := errors.AsType[*slack.RateLimitedError](err)
		if !ok || rl.RetryAfter != 2*time.Second {
			t.Errorf("call %d: err = %v, want RateLimitedError after 2s", i, err)
		}
	}
	if _, err := api.GetUserInfoContext(t.Context(), fakeslack.DemoMemberID); err != nil {
		t.Errorf("third call: %v, want success", err)
	}
	calls := s.Calls("users.info")
	if len(calls) != 3 || calls[0].Error != "ratelimited" || calls[2].Error != "" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestFailAPI(t *testing.T) {
	s := demoServer(t)
	api := newAPI(t, s)
	s.FailAPI("views.publish", 1, "not_enabled")
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewDividerBlock()}}}
	req := slack.PublishViewContextRequest{UserID: fakeslack.DemoMemberID, View: home}
	_, err := api.PublishViewContext(t.Context(), req)
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || se.Err != "not_enabled" {
		t.Errorf("first views.publish: err = %v, want not_enabled", err)
	}
	if _, ok := s.HomeView(fakeslack.DemoMemberID); ok {
		t.Error("a failed views.publish stored the view")
	}
	if _, err := api.PublishViewContext(t.Context(), req); err != nil {
		t.Errorf("second views.publish: %v", err)
	}
}
