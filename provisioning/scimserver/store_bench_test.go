package scimserver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/provisioning/scimserver"
	"github.com/roster-app/roster/store"
)

// BenchmarkInitialPushStore10k pushes 10,000 users through the real
// server, the real provisioning service and a real bbolt file (each
// create is one fsynced transaction), as an identity provider's first
// sync does: serially, and from 8 connections at once.
func BenchmarkInitialPushStore10k(b *testing.B) {
	const users = 10000
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				db, err := store.Open(filepath.Join(b.TempDir(), "roster.db"), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				svc := provisioning.NewService(db, nil, nil, provisioning.Options{})
				const token = "bench-token-0123456789abcdef0123456789"
				srv := httptest.NewServer(scimserver.New(svc, db, scimserver.Options{Token: token}))
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
				var next, failed atomic.Int64
				var wg sync.WaitGroup
				b.StartTimer()
				start := time.Now()
				for range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > users {
								return
							}
							body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%05d@example.com","emails":[{"value":"user%05d@example.com","primary":true}],"active":true}`, i, i)
							req, _ := http.NewRequest(http.MethodPost, srv.URL+"/scim/v2/Users", strings.NewReader(body))
							req.Header.Set("Authorization", "Bearer "+token)
							req.Header.Set("Content-Type", "application/scim+json")
							resp, err := client.Do(req)
							if err != nil || resp.StatusCode != http.StatusCreated {
								failed.Add(1)
							}
							if resp != nil {
								resp.Body.Close()
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				if failed.Load() != 0 {
					b.Fatalf("%d creates failed", failed.Load())
				}
				b.ReportMetric(float64(users)/elapsed.Seconds(), "users/s")
				srv.Close()
				db.Close()
				b.StartTimer()
			}
		})
	}
}
