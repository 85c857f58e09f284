package fakeslack_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/fakeslack"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func TestPingsKeepClientConnected(t *testing.T) {
	s := demoServer(t, fakeslack.WithPingInterval(50*time.Millisecond))
	const clientInterval = 300 * time.Millisecond
	b := startBot(t, s, botOptions{pingInterval: clientInterval})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	// Deliberately let several of the client's ping windows pass: without
	// server pings slack-go would reconnect once per window.
	time.Sleep(6 * clientInterval)
	if got := s.TotalConnections(); got != 1 {
		t.Errorf("TotalConnections() = %d after %s, want 1 (client reconnected)", got, 6*clientInterval)
	}
	if got := b.connects(); got != 1 {
		t.Errorf("client connecting events = %d, want 1", got)
	}
	if got := s.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
	// Still alive: an envelope gets through.
	id, err := s.SlashCommand(fakeslack.DemoMemberID, "help")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(id, wait); err != nil {
		t.Fatal(err)
	}
}

func TestSlashCommandAcked(t *testing.T) {
	s := demoServer(t)
	b := startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	if calls := s.Calls("apps.connections.open"); len(calls) != 1 || calls[0].Token != fakeslack.AppToken {
		t.Errorf("apps.connections.open calls = %+v, want one with the app token", calls)
	}
	id, err := s.SlashCommand(fakeslack.DemoMemberID, "status ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ack, err := s.WaitAck(id, wait)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Latency <= 0 || ack.Latency > wait {
		t.Errorf("ack latency = %s, want in (0, %s]", ack.Latency, wait)
	}
	evt := b.next(t, socketmode.EventTypeSlashCommand)
	if evt.Request.EnvelopeID != id || !evt.Request.AcceptsResponsePayload {
		t.Errorf("request = %+v, want envelope %s accepting a response payload", evt.Request, id)
	}
	cmd := evt.Data.(slack.SlashCommand)
	want := slack.SlashCommand{
		Command: "/roster", Text: "status ada@example.com", UserID: fakeslack.DemoMemberID,
		UserName: "mia.member", TeamID: fakeslack.TeamID, TeamDomain: fakeslack.TeamDomain,
		ChannelID: fakeslack.DMChannel(fakeslack.DemoMemberID), ChannelName: "directmessage",
		APIAppID: fakeslack.AppID, Token: "fakeverificationtoken", IsEnterpriseInstall: false,
	}
	got := cmd
	got.TriggerID, got.ResponseURL = "", ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slash command mismatch (-want +got):\n%s", diff)
	}
	if cmd.TriggerID == "" || !strings.HasPrefix(cmd.ResponseURL, s.URL+"/response/") {
		t.Errorf("trigger_id = %q, response_url = %q; want both set, the URL on the fake", cmd.TriggerID, cmd.ResponseURL)
	}
}

func TestSlashCommandAnswerAndModalFlow(t *testing.T) {
	s := demoServer(t)
	startBot(t, s, botOptions{
		ackPayload: func(evt socketmode.Event) any {
			switch d := evt.Data.(type) {
			case slack.SlashCommand:
				if d.Text == "help" {
					return map[string]any{"text": "usage: /roster assign EMAIL"}
				}
			case slack.InteractionCallback:
				if d.Type != slack.InteractionTypeViewSubmission {
					return nil
				}
				if d.View.State.Values["email"]["email_input"].Value == "" {
					return slack.NewErrorsViewSubmissionResponse(map[string]string{"email": "Enter an email"})
				}
				return slack.NewClearViewSubmissionResponse()
			}
			return nil
		},
		onEvent: func(c *socketmode.Client, evt socketmode.Event) {
			cmd, ok := evt.Data.(slack.SlashCommand)
			if !ok || cmd.Text != "assign" {
				return
			}
			view := slack.ModalViewRequest{
				Type: slack.VTModal, CallbackID: "assign",
				Title:  slack.NewTextBlockObject(slack.PlainTextType, "Assign", false, false),
				Submit: slack.NewTextBlockObject(slack.PlainTextType, "Assign", false, false),
				Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewInputBlock("email",
					slack.NewTextBlockObject(slack.PlainTextType, "Email", false, false), nil,
					slack.NewPlainTextInputBlockElement(nil, "email_input"))}},
			}
			_, _ = c.OpenViewContext(t.Context(), cmd.TriggerID, view)
		},
	})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}

	id, err := s.SlashCommand(fakeslack.DemoMemberID, "help")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(id, wait); err != nil {
		t.Fatal(err)
	}
	eph := s.Ephemerals(fakeslack.DemoMemberID)
	if len(eph) != 1 || eph[0].Text != "usage: /roster assign EMAIL" {
		t.Errorf("Ephemerals = %+v, want the ack's answer", eph)
	}

	if _, err := s.SlashCommand(fakeslack.DemoAdminID, "assign"); err != nil {
		t.Fatal(err)
	}
	open, err := s.WaitCall(ctxTimeout(t), "views.open", nil)
	if err != nil {
		t.Fatal(err)
	}
	if open.Error != "" {
		t.Fatalf("views.open answered %s", open.Error)
	}
	if m := s.Modals(fakeslack.DemoAdminID); len(m) != 1 || m[0].CallbackID != "assign" {
		t.Fatalf("Modals = %+v, want the assign modal", m)
	}

	id, err = s.ViewSubmission(fakeslack.DemoAdminID, "assign", map[string]map[string]any{"email": {"email_input": ""}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := s.WaitAck(id, wait)
	if err != nil {
		t.Fatal(err)
	}
	var errs slack.ViewSubmissionResponse
	if err := json.Unmarshal(ack.Payload, &errs); err != nil || errs.ResponseAction != "errors" {
		t.Errorf("ack payload = %s, want errors", ack.Payload)
	}
	if m := s.Modals(fakeslack.DemoAdminID); len(m) != 1 {
		t.Errorf("after errors, %d modals open, want 1", len(m))
	}

	id, err = s.ViewSubmission(fakeslack.DemoAdminID, "assign", map[string]map[string]any{"email": {"email_input": "new@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(id, wait); err != nil {
		t.Fatal(err)
	}
	if m := s.Modals(fakeslack.DemoAdminID); len(m) != 0 {
		t.Errorf("after clear, %d modals open, want 0", len(m))
	}
}

func TestDisconnectReconnects(t *testing.T) {
	s := demoServer(t)
	startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	if err := s.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitConnections(2, wait); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Calls("apps.connections.open")); n != 2 {
		t.Errorf("apps.connections.open calls = %d, want 2 (a new ticket per connection)", n)
	}
	id, err := s.SlashCommand(fakeslack.DemoMemberID, "help")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(id, wait); err != nil {
		t.Fatal(err)
	}

	s.DropConnections()
	if err := s.WaitConnections(3, wait); err != nil {
		t.Fatalf("after a dropped connection: %v", err)
	}
}

func TestRedeliveryCarriesRetryAttempt(t *testing.T) {
	s := demoServer(t)
	b := startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	envID, eventID, err := s.AppHomeOpened(fakeslack.DemoMemberID)
	if err != nil {
		t.Fatal(err)
	}
	first := b.next(t, socketmode.EventTypeEventsAPI)
	if first.Request.RetryAttempt != 0 || first.Request.EnvelopeID != envID {
		t.Errorf("first delivery = %+v, want envelope %s, retry_attempt 0", first.Request, envID)
	}
	inner := first.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	if inner.User != fakeslack.DemoMemberID || inner.Tab != "home" {
		t.Errorf("app_home_opened = %+v", inner)
	}

	retryID, err := s.Redeliver(envID, 1)
	if err != nil {
		t.Fatal(err)
	}
	retry := b.next(t, socketmode.EventTypeEventsAPI)
	if retry.Request.EnvelopeID != retryID || retryID == envID {
		t.Errorf("retry envelope = %s, want a new one %s", retry.Request.EnvelopeID, retryID)
	}
	if retry.Request.RetryAttempt != 1 || retry.Request.RetryReason != "timeout" {
		t.Errorf("retry = attempt %d reason %q, want 1 \"timeout\"", retry.Request.RetryAttempt, retry.Request.RetryReason)
	}
	var p struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(retry.Request.Payload, &p); err != nil || p.EventID != eventID {
		t.Errorf("retry event_id = %q, want %q", p.EventID, eventID)
	}
	if _, err := s.WaitAck(retryID, wait); err != nil {
		t.Fatal(err)
	}
}

func TestBlockActionFromPostedMessage(t *testing.T) {
	s := demoServer(t)
	b := startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	approve := slack.NewButtonBlockElement("approval.approve", "req-1",
		slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	_, ts, err := b.api.PostMessageContext(t.Context(), fakeslack.DemoApprovalsChannel,
		slack.MsgOptionText("request", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("approval.actions", approve)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.BlockAction(fakeslack.DemoApproverID, "approval.approve", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	evt := b.next(t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("callback = %+v, want one block action", cb)
	}
	act := cb.ActionCallback.BlockActions[0]
	if act.ActionID != "approval.approve" || act.BlockID != "approval.actions" || act.Value != "req-1" {
		t.Errorf("action = %+v", act)
	}
	if cb.Container.MessageTs != ts || cb.Channel.ID != fakeslack.DemoApprovalsChannel || cb.User.ID != fakeslack.DemoApproverID {
		t.Errorf("container %+v channel %s user %s, want the posted message", cb.Container, cb.Channel.ID, cb.User.ID)
	}
	if _, err := s.WaitAck(id, wait); err != nil {
		t.Fatal(err)
	}

	// The response_url replaces the original message.
	resp, err := httpClient(t).Post(cb.ResponseURL, "application/json",
		strings.NewReader(`{"replace_original":true,"text":"Approved by <@U0D000004>"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	msgs := s.Messages(fakeslack.DemoApprovalsChannel)
	if len(msgs) != 1 || msgs[0].Text != "Approved by <@U0D000004>" || msgs[0].Blocks != nil || !msgs[0].Edited {
		t.Errorf("Messages = %+v, want the replaced message", msgs)
	}
	if r := s.Responses(); len(r) != 1 {
		t.Errorf("Responses() = %d, want 1", len(r))
	}
}

func TestConcurrentSendsAreSafe(t *testing.T) {
	s := demoServer(t)
	startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	const n = 30
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var id string
			var err error
			if i%2 == 0 {
				id, _, err = s.EventsAPI(map[string]any{"type": "app_home_opened", "user": fakeslack.DemoMemberID, "tab": "home"})
			} else {
				id, err = s.SlashCommand(fakeslack.DemoMemberID, "help")
			}
			if err != nil {
				t.Error(err)
			}
			ids <- id
		})
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if _, err := s.WaitAck(id, wait); err != nil {
			t.Error(err)
		}
	}
}

func TestSendWithoutConnection(t *testing.T) {
	s := demoServer(t)
	if _, err := s.SlashCommand(fakeslack.DemoMemberID, "help"); err == nil {
		t.Error("SlashCommand without a connection: err = nil, want an error")
	}
	if _, err := s.SlashCommand("UNKNOWN", "help"); err == nil {
		t.Error("SlashCommand by an unknown user: err = nil, want an error")
	}
}
