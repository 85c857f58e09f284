package fakeslack_test

import (
	"encoding/json"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/roster-app/roster/fakeslack"
)

func TestCloseModal(t *testing.T) {
	s := demoServer(t)
	b := startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	modal := func(cb string, notify bool) slack.ModalViewRequest {
		return slack.ModalViewRequest{Type: slack.VTModal, CallbackID: cb, NotifyOnClose: notify,
			Title:  slack.NewTextBlockObject(slack.PlainTextType, "Title", false, false),
			Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewDividerBlock()}}}
	}
	user := fakeslack.DemoAdminID
	if _, err := s.CloseModal(user, ""); err == nil {
		t.Error("CloseModal with no modal open: err = nil")
	}
	root, err := b.api.OpenViewContext(t.Context(), s.TriggerID(user), modal("root", true))
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := b.api.PushViewContext(t.Context(), s.TriggerID(user), modal("pushed", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CloseModal(user, root.ID); err == nil {
		t.Error("CloseModal of a view that is not the visible one: err = nil")
	}
	// Closing the pushed view goes back to the root; no notification was asked for.
	env, err := s.CloseModal(user, pushed.ID)
	if err != nil || env != "" {
		t.Fatalf("CloseModal(pushed) = %q, %v; want no envelope", env, err)
	}
	if st := s.Modals(user); len(st) != 1 || st[0].ID != root.ID {
		t.Fatalf("stack after closing the pushed view = %v, want the root", st)
	}
	// Closing the root clears the stack and sends view_closed.
	env, err = s.CloseModal(user, "")
	if err != nil || env == "" {
		t.Fatalf("CloseModal(root) = %q, %v; want a view_closed envelope", env, err)
	}
	if st := s.Modals(user); len(st) != 0 {
		t.Errorf("stack after closing the root = %d views, want none", len(st))
	}
	evt := b.next(t, socketmode.EventTypeInteractive)
	var p struct {
		Type      string `json:"type"`
		IsCleared bool   `json:"is_cleared"`
		View      struct {
			ID         string `json:"id"`
			CallbackID string `json:"callback_id"`
		} `json:"view"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(evt.Request.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "view_closed" || !p.IsCleared || p.View.ID != root.ID || p.View.CallbackID != "root" || p.User.ID != user {
		t.Errorf("view_closed payload = %+v", p)
	}
	if _, err := s.WaitAck(env, wait); err != nil {
		t.Error(err)
	}
}
