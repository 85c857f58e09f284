package fakeslack_test

import (
	"net/url"
	"testing"

	"github.com/roster-app/roster/fakeslack"
	"github.com/slack-go/slack"
)

// BenchmarkUsersList pages through a 20,000-member workspace with slack-go.
func BenchmarkUsersList(b *testing.B) {
	s := fakeslack.New(fakeslack.WithWorkspace(fakeslack.NewWorkspace().Add(fakeslack.GenerateMembers(20000, 1)...)))
	defer s.Close()
	api := slack.New(fakeslack.BotToken, slack.OptionAPIURL(s.APIURL()))
	for b.Loop() {
		users, err := api.GetUsersContext(b.Context(), slack.GetUsersOptionLimit(1000))
		if err != nil || len(users) != 20001 {
			b.Fatalf("users = %d, %v", len(users), err)
		}
	}
}

// BenchmarkSCIMFilterByEmail looks one email up in a 50,000-member
// workspace, as an invite does before creating an account.
func BenchmarkSCIMFilterByEmail(b *testing.B) {
	members := fakeslack.GenerateMembers(50000, 1)
	s := fakeslack.New(fakeslack.WithWorkspace(fakeslack.NewWorkspace().Add(members...)))
	defer s.Close()
	c := httpClient(b)
	path := "/Users?filter=" + url.QueryEscape(`emails eq "`+members[len(members)/2].Email+`"`)
	for b.Loop() {
		status, _, _, err := scimDo(b, c, s, "GET", path, nil)
		if err != nil || status != 200 {
			b.Fatalf("GET = %d, %v", status, err)
		}
	}
}
