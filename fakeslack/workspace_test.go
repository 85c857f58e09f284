package fakeslack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/fakeslack"
	"github.com/slack-go/slack"
)

func TestDemoWorkspace(t *testing.T) {
	s := demoServer(t)
	tests := []struct {
		id, email string
		check     func(fakeslack.User) bool
	}{
		{fakeslack.DemoPrimaryOwnerID, fakeslack.DemoPrimaryOwnerEmail, func(u fakeslack.User) bool { return u.IsPrimaryOwner && u.IsOwner }},
		{fakeslack.DemoAdminID, fakeslack.DemoAdminEmail, func(u fakeslack.User) bool { return u.IsAdmin && !u.IsOwner }},
		{fakeslack.DemoAdmin2ID, fakeslack.DemoAdmin2Email, func(u fakeslack.User) bool { return u.IsAdmin }},
		{fakeslack.DemoApproverID, fakeslack.DemoApproverEmail, func(u fakeslack.User) bool { return !u.IsAdmin }},
		{fakeslack.DemoMemberID, fakeslack.DemoMemberEmail, func(u fakeslack.User) bool { return !u.IsAdmin && !u.Deleted }},
		{fakeslack.DemoGuestID, fakeslack.DemoGuestEmail, func(u fakeslack.User) bool { return u.IsRestricted && !u.IsUltraRestricted }},
		{fakeslack.DemoSingleGuestID, fakeslack.DemoSingleGuestEmail, func(u fakeslack.User) bool { return u.IsRestricted && u.IsUltraRestricted }},
		{fakeslack.DemoDeactivatedID, fakeslack.DemoDeactivatedEmail, func(u fakeslack.User) bool { return u.Deleted }},
		{fakeslack.DemoDeactivated2ID, fakeslack.DemoDeactivated2Email, func(u fakeslack.User) bool { return u.Deleted }},
		{fakeslack.DemoOtherBotID, "", func(u fakeslack.User) bool { return u.IsBot }},
		{fakeslack.BotUserID, "", func(u fakeslack.User) bool { return u.IsBot }},
	}
	for _, tt := range tests {
		u, ok := s.User(tt.id)
		if !ok || u.Email != tt.email || !tt.check(u) {
			t.Errorf("User(%s) = %+v, %v", tt.id, u, ok)
		}
		if tt.email != "" && !strings.HasSuffix(tt.email, "@example.com") {
			t.Errorf("%s: email %s not in example.com", tt.id, tt.email)
		}
	}
	members := 0
	for _, u := range s.Users() {
		if !u.IsAdmin && !u.IsBot && !u.IsRestricted && !u.Deleted {
			members++
		}
	}
	if members != 11 {
		t.Errorf("regular active members = %d, want 11", members)
	}
}

func TestUserJSONIsSlacksUserObject(t *testing.T) {
	in := fakeslack.User{ID: "U1", Name: "ada", RealName: "Ada Lovelace", Email: "ada@example.com",
		Deleted: true, IsAdmin: true, IsRestricted: true, Updated: 1700000000}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var su slack.User
	if err := json.Unmarshal(b, &su); err != nil {
		t.Fatal(err)
	}
	if su.ID != "U1" || su.TeamID != fakeslack.TeamID || su.Name != "ada" || su.RealName != "Ada Lovelace" ||
		!su.Deleted || !su.IsAdmin || !su.IsRestricted || su.Profile.Email != "ada@example.com" ||
		su.Profile.RealName != "Ada Lovelace" || su.Profile.DisplayName != "ada" {
		t.Errorf("as slack.User = %+v", su)
	}
	var out fakeslack.User
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}

func TestGenerateMembers(t *testing.T) {
	a, b := fakeslack.GenerateMembers(3000, 42), fakeslack.GenerateMembers(3000, 42)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different members (-first +second):\n%s", diff)
	}
	if c := fakeslack.GenerateMembers(3000, 43); cmp.Equal(a, c) {
		t.Error("different seeds gave the same members")
	}
	ids, emails := map[string]bool{}, map[string]bool{}
	deleted := 0
	for _, u := range a {
		if ids[u.ID] || emails[u.Email] {
			t.Fatalf("duplicate %s / %s", u.ID, u.Email)
		}
		ids[u.ID], emails[u.Email] = true, true
		if u.Deleted {
			deleted++
		}
	}
	if deleted == 0 || deleted > 300 {
		t.Errorf("deactivated = %d of 3000, want a few percent", deleted)
	}
}

func TestWorkspaceIsCopiedAndPutUserIsSilent(t *testing.T) {
	ws := fakeslack.NewWorkspace().Add(
		fakeslack.User{ID: "U1", Name: "one", Email: "one@example.com"},
		fakeslack.User{ID: "U3", Name: "three", Email: "three@example.com"})
	s := newServer(t, fakeslack.WithWorkspace(ws))
	ws.Add(fakeslack.User{ID: "U2", Name: "two"})
	if _, ok := s.User("U2"); ok {
		t.Error("a change to the Workspace after New reached the server")
	}
	if _, ok := s.User(fakeslack.BotUserID); !ok {
		t.Error("the bot user is missing")
	}
	startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	s.PutUser(fakeslack.User{ID: "U1", Name: "one", Email: "one@example.com", Deleted: true})
	if u, _ := s.UserByEmail("ONE@example.com"); !u.Deleted {
		t.Errorf("UserByEmail after PutUser = %+v", u)
	}
	// The bot acks in order: an event sent by PutUser would be acked first.
	if _, err := s.SlashCommand("U1", "help"); err == nil {
		t.Error("a deactivated user ran a slash command")
	}
	id, err := s.SlashCommand("U3", "help")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(id, wait); err != nil {
		t.Fatal(err)
	}
	if a := s.Acks(); len(a) != 1 {
		t.Errorf("acks = %d, want only the slash command's (PutUser sends no events)", len(a))
	}
}
