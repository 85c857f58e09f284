package fakeslack_test

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/fakeslack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func TestSCIMAuth(t *testing.T) {
	s := demoServer(t)
	for _, tok := range []string{"", fakeslack.BotToken, "xoxp-wrong"} {
		status, _, body, err := scimDo(t, httpClient(t), s, "GET", "/Users", nil, tok)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"Errors": map[string]any{"description": "invalid_authentication", "code": 401.0}}
		if status != http.StatusUnauthorized {
			t.Errorf("token %q: status = %d, want 401", tok, status)
		}
		if diff := cmp.Diff(want, body); diff != "" {
			t.Errorf("token %q: body mismatch (-want +got):\n%s", tok, diff)
		}
	}
}

func TestSCIMGetAndList(t *testing.T) {
	s := demoServer(t)
	status, _, u := scim(t, s, "GET", "/Users/"+fakeslack.DemoPrimaryOwnerID, nil)
	if status != 200 || u["userName"] != "olivia.owner" || u["active"] != true {
		t.Errorf("GET owner = %d %v", status, u)
	}
	wantRoles := []any{
		map[string]any{"value": "primary_owner", "primary": true},
		map[string]any{"value": "owner", "primary": false},
		map[string]any{"value": "admin", "primary": false},
	}
	if diff := cmp.Diff(wantRoles, u["roles"]); diff != "" {
		t.Errorf("owner roles mismatch (-want +got):\n%s", diff)
	}
	if loc := u["meta"].(map[string]any)["location"]; loc != s.SCIMURL()+"Users/"+fakeslack.DemoPrimaryOwnerID {
		t.Errorf("meta.location = %v", loc)
	}

	status, _, body := scim(t, s, "GET", "/Users/U404", nil)
	want404 := map[string]any{
		"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, "detail": "user_not_found", "status": 404.0,
	}
	if diff := cmp.Diff(want404, body); status != 404 || diff != "" {
		t.Errorf("GET unknown = %d, body mismatch (-want +got):\n%s", status, diff)
	}

	for _, f := range []string{
		`userName eq "dora.gone"`, `emails eq "DORA.GONE@example.com"`, `email eq "dora.gone@example.com"`,
		`userName Eq "Dora.Gone"`,
	} {
		status, _, list := scim(t, s, "GET", "/Users?filter="+url.QueryEscape(f), nil)
		res, _ := list["Resources"].([]any)
		if status != 200 || list["totalResults"] != 1.0 || len(res) != 1 {
			t.Fatalf("filter %s = %d %v", f, status, list)
		}
		if r := res[0].(map[string]any); r["id"] != fakeslack.DemoDeactivatedID || r["active"] != false {
			t.Errorf("filter %s found %v, want the deactivated user", f, r)
		}
	}

	// Paging: count defaults to 10; startIndex is 1-based.
	all := len(s.Users())
	seen := map[string]bool{}
	for start := 1; start <= all; start += 10 {
		_, _, page := scim(t, s, "GET", "/Users?startIndex="+strconv.Itoa(start), nil)
		if page["totalResults"] != float64(all) || page["startIndex"] != float64(start) {
			t.Fatalf("page %d = %v", start, page)
		}
		for _, r := range page["Resources"].([]any) {
			seen[r.(map[string]any)["id"].(string)] = true
		}
	}
	if len(seen) != all {
		t.Errorf("paged through %d users, want %d", len(seen), all)
	}
}

func TestSCIMCreate(t *testing.T) {
	s := demoServer(t)
	tests := []struct {
		name       string
		body       map[string]any
		wantStatus int
		wantDetail string
	}{
		{"deactivated user's email", newUserBody("dora2", fakeslack.DemoDeactivatedEmail), 409, "email_taken"},
		{"active user's email, other case", newUserBody("mia2", "MIA.member@example.com"), 409, "email_taken"},
		{"username in use", newUserBody("mia.member", "mia2@example.com"), 409, "username_taken"},
		{"username too long", newUserBody("a-very-long-user-name-indeed", "long@example.com"), 400, "username_too_long"},
		{"bad email", newUserBody("bad", "not-an-email"), 400, "bad_email_address"},
		{"no email", map[string]any{"userName": "noemail"}, 400, "bad_email_address"},
		{"no userName", map[string]any{"emails": []any{map[string]any{"value": "x@example.com"}}}, 400, "username_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := scim(t, s, "POST", "/Users", tt.body)
			if status != tt.wantStatus || body["detail"] != tt.wantDetail {
				t.Errorf("POST = %d %v, want %d %s", status, body, tt.wantStatus, tt.wantDetail)
			}
		})
	}
	if w := s.SCIMWrites(); len(w) != 0 {
		t.Errorf("SCIMWrites = %d after failed creates, want 0", len(w))
	}

	status, h, body := scim(t, s, "POST", "/Users", newUserBody("Jane.Doe@example.com", "jane.doe@example.com"))
	if status != http.StatusCreated || body["userName"] != "jane.doe" || body["active"] != true {
		t.Fatalf("POST = %d %v, want 201 with userName jane.doe", status, body)
	}
	id := body["id"].(string)
	if h.Get("Location") != s.SCIMURL()+"Users/"+id {
		t.Errorf("Location = %q", h.Get("Location"))
	}
	u, ok := s.UserByEmail("jane.doe@example.com")
	if !ok || u.ID != id || u.RealName != "New Person" || u.Deleted {
		t.Errorf("UserByEmail = %+v, %v", u, ok)
	}
	if w := s.SCIMWrites(); len(w) != 1 || w[0].Status != 201 {
		t.Errorf("SCIMWrites = %+v, want the create", w)
	}
}

func TestSCIMDeactivateEmitsUserChange(t *testing.T) {
	s := demoServer(t)
	b := startBot(t, s, botOptions{})
	if err := s.WaitConnections(1, wait); err != nil {
		t.Fatal(err)
	}
	status, _, _ := scim(t, s, "DELETE", "/Users/"+fakeslack.DemoMemberID, nil)
	if status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", status)
	}
	if u, _ := s.User(fakeslack.DemoMemberID); !u.Deleted {
		t.Error("user not deactivated")
	}
	evt := b.next(t, socketmode.EventTypeEventsAPI)
	ch, ok := evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.UserChangeEvent)
	if !ok || ch.User.ID != fakeslack.DemoMemberID || !ch.User.Deleted {
		t.Fatalf("event = %+v, want user_change deleted", evt.Data)
	}
	if _, err := s.WaitAck(evt.Request.EnvelopeID, wait); err != nil {
		t.Fatal(err)
	}

	// Idempotent.
	if status, _, _ := scim(t, s, "DELETE", "/Users/"+fakeslack.DemoMemberID, nil); status != http.StatusNoContent {
		t.Errorf("second DELETE = %d, want 204", status)
	}
	// Reactivation: user_change with deleted false.
	status, _, body := scim(t, s, "PATCH", "/Users/"+fakeslack.DemoMemberID, activeBody(true))
	if status != 200 || body["active"] != true {
		t.Fatalf("PATCH active=true = %d %v", status, body)
	}
	evt = b.next(t, socketmode.EventTypeEventsAPI)
	ch, ok = evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.UserChangeEvent)
	if !ok || ch.User.Deleted {
		t.Errorf("event = %+v, want user_change not deleted", evt.Data)
	}
	// The value-object form of PATCH, with Azure AD's string boolean.
	status, _, body = scim(t, s, "PATCH", "/Users/"+fakeslack.DemoMemberID, map[string]any{
		"Operations": []any{map[string]any{"op": "Replace", "value": map[string]any{"active": "False"}}},
	})
	if status != 200 || body["active"] != false {
		t.Errorf("PATCH value {active:False} = %d %v", status, body)
	}

	// A create sends team_join.
	status, _, _ = scim(t, s, "POST", "/Users", newUserBody("newbie", "newbie@example.com"))
	if status != 201 {
		t.Fatalf("POST = %d", status)
	}
	for {
		evt = b.next(t, socketmode.EventTypeEventsAPI)
		if tj, ok := evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.TeamJoinEvent); ok {
			if tj.User == nil || tj.User.Profile.Email != "newbie@example.com" {
				t.Errorf("team_join user = %+v", tj.User)
			}
			break
		}
	}
}

func TestSCIMProtectedAccounts(t *testing.T) {
	s := demoServer(t)
	tests := []struct {
		id, detail string
	}{
		{fakeslack.DemoPrimaryOwnerID, "cannot_disable_primary_owner"},
		{fakeslack.DemoOtherBotID, "cannot_disable_bot_user_with_scim"},
		{fakeslack.BotUserID, "cannot_disable_bot_user_with_scim"},
	}
	for _, tt := range tests {
		for _, method := range []string{"DELETE", "PATCH"} {
			status, _, body := scim(t, s, method, "/Users/"+tt.id, activeBody(false))
			if status != http.StatusForbidden || body["detail"] != tt.detail {
				t.Errorf("%s %s = %d %v, want 403 %s", method, tt.id, status, body, tt.detail)
			}
		}
		if u, _ := s.User(tt.id); u.Deleted {
			t.Errorf("%s was deactivated", tt.id)
		}
	}
}

func TestSCIMPerUserLock(t *testing.T) {
	s := demoServer(t, fakeslack.WithSCIMLatency(500*time.Millisecond))
	var wg sync.WaitGroup
	var firstStatus int
	wg.Go(func() {
		firstStatus, _, _, _ = scimDo(t, httpClient(t), s, "PATCH", "/Users/"+fakeslack.DemoMemberID, activeBody(false))
	})
	if err := s.WaitUserLocked(ctxTimeout(t), fakeslack.DemoMemberID); err != nil {
		t.Fatal(err)
	}
	status, h, body := scim(t, s, "DELETE", "/Users/"+fakeslack.DemoMemberID, nil)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") != "1" || body["detail"] != "resource_locked" {
		t.Errorf("concurrent DELETE = %d Retry-After %q %v, want 429, 1, resource_locked", status, h.Get("Retry-After"), body)
	}
	// Reads and writes on other users go through meanwhile.
	if status, _, _ := scim(t, s, "GET", "/Users/"+fakeslack.DemoMemberID, nil); status != 200 {
		t.Errorf("GET during the write = %d, want 200", status)
	}
	wg.Wait()
	if firstStatus != 200 {
		t.Errorf("first PATCH = %d, want 200", firstStatus)
	}
	c := s.SCIMCounts()
	if c.Locked != 1 || c.RateLimited != 0 || c.Writes != 1 {
		t.Errorf("SCIMCounts = %+v, want 1 locked, 1 write", c)
	}
}

func TestSCIMEmulatedRateLimits(t *testing.T) {
	// A tiny scale: the bucket refills too slowly to matter during the test.
	s := demoServer(t, fakeslack.WithSCIMLimits(0.01))
	c := httpClient(t)
	for i := range 20 {
		status, _, body, err := scimDo(t, c, s, "POST", "/Users", newUserBody("burst"+strconv.Itoa(i), "burst"+strconv.Itoa(i)+"@example.com"))
		if err != nil || status != http.StatusCreated {
			t.Fatalf("POST %d = %d %v %v, want 201 within the burst of 20", i, status, body, err)
		}
	}
	status, h, body, err := scimDo(t, c, s, "POST", "/Users", newUserBody("burst20", "burst20@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	if status != http.StatusTooManyRequests || ra < 1 || body["detail"] != "too_many_requests" {
		t.Errorf("21st POST = %d Retry-After %q %v, want 429 with Retry-After >= 1", status, h.Get("Retry-After"), body)
	}
	// Reads have their own, larger pool.
	if status, _, _, _ := scimDo(t, c, s, "GET", "/Users/"+fakeslack.DemoMemberID, nil); status != 200 {
		t.Errorf("GET after the write burst = %d, want 200", status)
	}
	reqs := s.SCIMRequests()
	if last := reqs[len(reqs)-2]; !last.RateLimited || last.Status != 429 {
		t.Errorf("21st request recorded as %+v, want RateLimited", last)
	}
	if got := s.SCIMCounts(); got.RateLimited != 1 || got.Writes != 20 || got.Injected != 0 {
		t.Errorf("SCIMCounts = %+v", got)
	}
	if _, ok := s.UserByEmail("burst20@example.com"); ok {
		t.Error("the rate-limited create took effect")
	}
}

func TestSCIMInjectedFaults(t *testing.T) {
	t.Run("status with Retry-After, twice", func(t *testing.T) {
		s := demoServer(t)
		s.InjectSCIM(fakeslack.Fault{Method: "DELETE", Path: "/Users", Status: 503, RetryAfter: 2 * time.Second, Count: 2})
		// A GET does not match.
		if status, _, _ := scim(t, s, "GET", "/Users/"+fakeslack.DemoMemberID, nil); status != 200 {
			t.Errorf("GET = %d, want 200", status)
		}
		for i := range 2 {
			status, h, _ := scim(t, s, "DELETE", "/Users/"+fakeslack.DemoMemberID, nil)
			if status != 503 || h.Get("Retry-After") != "2" {
				t.Errorf("DELETE %d = %d Retry-After %q, want 503, 2", i, status, h.Get("Retry-After"))
			}
		}
		if u, _ := s.User(fakeslack.DemoMemberID); u.Deleted {
			t.Error("a failed DELETE took effect")
		}
		if status, _, _ := scim(t, s, "DELETE", "/Users/"+fakeslack.DemoMemberID, nil); status != 204 {
			t.Errorf("third DELETE = %d, want 204", status)
		}
		if c := s.SCIMCounts(); c.Injected != 2 || c.Writes != 1 {
			t.Errorf("SCIMCounts = %+v, want 2 injected, 1 write", c)
		}
	})
	t.Run("custom body", func(t *testing.T) {
		s := demoServer(t)
		s.InjectSCIM(fakeslack.Fault{Status: 429, Body: `{"Errors":{"description":"too_many_requests","code":429}}`})
		status, h, body := scim(t, s, "GET", "/Users", nil)
		if status != 429 || h.Get("Retry-After") != "" || body["Errors"] == nil {
			t.Errorf("GET = %d %v %v", status, h, body)
		}
	})
	t.Run("drop", func(t *testing.T) {
		s := demoServer(t)
		s.InjectSCIM(fakeslack.Fault{Method: "GET", Drop: true})
		if _, _, _, err := scimDo(t, httpClient(t), s, "GET", "/Users/"+fakeslack.DemoMemberID, nil); err == nil {
			t.Error("GET with a dropped connection: err = nil, want a network error")
		}
		if status, _, _ := scim(t, s, "GET", "/Users/"+fakeslack.DemoMemberID, nil); status != 200 {
			t.Errorf("next GET = %d, want 200", status)
		}
	})
	t.Run("drop after write", func(t *testing.T) {
		s := demoServer(t)
		s.InjectSCIM(fakeslack.Fault{Method: "POST", Path: "/scim/v2/Users", AfterWrite: true})
		_, _, _, err := scimDo(t, httpClient(t), s, "POST", "/Users", newUserBody("ghost", "ghost@example.com"))
		if err == nil {
			t.Error("POST: err = nil, want a network error")
		}
		if _, ok := s.UserByEmail("ghost@example.com"); !ok {
			t.Error("the create did not take effect")
		}
		w := s.SCIMWrites()
		if len(w) != 1 || w[0].Status != 0 || !w[0].Injected || !w[0].Applied {
			t.Errorf("SCIMWrites = %+v, want the dropped but applied create", w)
		}
		// The client's retry meets Slack's duplicate check.
		status, _, body := scim(t, s, "POST", "/Users", newUserBody("ghost", "ghost@example.com"))
		if status != 409 || body["detail"] != "email_taken" {
			t.Errorf("retried POST = %d %v, want 409 email_taken", status, body)
		}
	})
	t.Run("status after write", func(t *testing.T) {
		s := demoServer(t)
		s.InjectSCIM(fakeslack.Fault{Method: "PATCH", Status: 502, AfterWrite: true})
		status, _, _ := scim(t, s, "PATCH", "/Users/"+fakeslack.DemoMemberID, activeBody(false))
		if status != 502 {
			t.Errorf("PATCH = %d, want 502", status)
		}
		if u, _ := s.User(fakeslack.DemoMemberID); !u.Deleted {
			t.Error("the PATCH did not take effect")
		}
	})
	t.Run("delay only", func(t *testing.T) {
		s := demoServer(t)
		s.InjectSCIM(fakeslack.Fault{Delay: 50 * time.Millisecond})
		start := time.Now()
		status, _, _ := scim(t, s, "GET", "/Users/"+fakeslack.DemoMemberID, nil)
		if status != 200 || time.Since(start) < 50*time.Millisecond {
			t.Errorf("GET = %d after %s, want 200 after at least 50ms", status, time.Since(start))
		}
	})
}

func TestCloseInterruptsSCIMLatency(t *testing.T) {
	s := fakeslack.New(fakeslack.WithWorkspace(fakeslack.DemoWorkspace()), fakeslack.WithSCIMLatency(time.Minute))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _, _ = scimDo(t, httpClient(t), s, "DELETE", "/Users/"+fakeslack.DemoMemberID, nil)
	}()
	if err := s.WaitUserLocked(ctxTimeout(t), fakeslack.DemoMemberID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > wait {
		t.Errorf("Close took %s during a write, want it to cut the latency short", d)
	}
	<-done
}
