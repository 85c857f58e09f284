package scimserver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/roster-app/roster/provisioning/scimserver"
)

// BenchmarkInitialPush10k is an identity provider's first push of 10,000
// users through the handler, against the in-memory directory: "post" is
// 10,000 POST /Users; "lookup+post" precedes each with the lookup Okta
// makes (GET /Users?filter=userName eq "…"). It measures the server's own
// cost; BenchmarkInitialPushStore10k runs it against the real service and
// store.
func BenchmarkInitialPush10k(b *testing.B) {
	const n = 10_000
	bodies := make([]string, n)
	lookups := make([]string, n)
	for i := range n {
		email := fmt.Sprintf("user%05d@example.com", i)
		bodies[i] = fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":%q,"externalId":"00u%05d","name":{"givenName":"User","familyName":"%05d"},"displayName":"User %05d",
			"emails":[{"primary":true,"value":%q,"type":"work"}],"active":true,
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering/Team %d"}}`,
			email, i, i, i, email, i%50)
		lookups[i] = "/scim/v2/Users?filter=" + strings.ReplaceAll(fmt.Sprintf("userName eq %q", email), " ", "%20") + "&startIndex=1&count=100"
	}
	for _, lookup := range []bool{false, true} {
		name := "post"
		if lookup {
			name = "lookup+post"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				dir := newFakeDir()
				h := scimserver.New(dir, dir, scimserver.Options{Token: token})
				b.StartTimer()
				for i := range n {
					if lookup {
						get := httptest.NewRequest("GET", lookups[i], nil)
						get.Header.Set("Authorization", "Bearer "+token)
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, get)
						if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"totalResults":0`) {
							b.Fatalf("lookup %d: %d %s", i, rec.Code, rec.Body)
						}
					}
					post := httptest.NewRequest("POST", "/scim/v2/Users", strings.NewReader(bodies[i]))
					post.Header.Set("Authorization", "Bearer "+token)
					post.Header.Set("Content-Type", "application/scim+json")
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, post)
					if rec.Code != http.StatusCreated {
						b.Fatalf("create %d: %d %s", i, rec.Code, rec.Body)
					}
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}
