package provisioning_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

const (
	benchPeople  = 50_000
	benchGroups  = 500
	benchGranted = 10
)

// benchDirectory is an organization of n people in groups groups (person i
// in group i%groups) and 25 org units of 5 teams, as one full sync.
// Person i's email is person.<i+offset>@example.com, so an offset changes
// who is in it.
func benchDirectory(n, groups, offset int) provisioning.DirectoryChange {
	ch := provisioning.DirectoryChange{Full: true, By: "import", Cause: "import bench.csv"}
	ch.Upsert = make([]provisioning.Person, n)
	members := make([][]string, groups)
	for i := range n {
		k := i + offset
		email := fmt.Sprintf("person.%d@example.com", k)
		ch.Upsert[i] = provisioning.Person{Email: email, Name: fmt.Sprintf("Person %d", k),
			OrgUnit: fmt.Sprintf("/Division %d/Team %d", k%25, k%5)}
		members[k%groups] = append(members[k%groups], email)
	}
	ch.UpsertGroups = make([]provisioning.GroupInput, groups)
	for g := range groups {
		ch.UpsertGroups[g] = provisioning.GroupInput{Name: fmt.Sprintf("Group %d", g), MemberEmails: members[g]}
	}
	return ch
}

// newBenchService opens a fresh store with the granted groups (empty) and
// their grants. No worker runs: jobs are only queued.
func newBenchService(b *testing.B) (*provisioning.Service, *store.DB) {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := provisioning.NewService(db, nil, nil, provisioning.Options{})
	ctx := context.Background()
	var seed provisioning.DirectoryChange
	for g := range benchGranted {
		seed.UpsertGroups = append(seed.UpsertGroups, provisioning.GroupInput{Name: fmt.Sprintf("Group %d", g*(benchGroups/benchGranted))})
	}
	if _, err := svc.ApplyDirectory(ctx, seed); err != nil {
		b.Fatal(err)
	}
	for _, g := range seed.UpsertGroups {
		if _, err := svc.GrantDirectory(ctx, provisioning.DirectoryGrant{Kind: provisioning.GrantGroup, Target: g.Name, GrantedBy: "U1"}); err != nil {
			b.Fatal(err)
		}
	}
	return svc, db
}

// BenchmarkImport50k applies a full sync of 50,000 people in 500 groups,
// with access granted to 10 of the groups (1,000 people):
//   - initial: into an empty directory (1,000 invitations queued);
//   - unchanged: the same file again (nothing to write);
//   - churn: 1,000 people leave and 1,000 join (about 20 jobs each way).
func BenchmarkImport50k(b *testing.B) {
	full := benchDirectory(benchPeople, benchGroups, 0)
	churned := benchDirectory(benchPeople, benchGroups, 1000)
	cases := []struct {
		name        string
		before, run *provisioning.DirectoryChange
	}{
		{"initial", nil, &full},
		{"unchanged", &full, &full},
		{"churn", &full, &churned},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var res provisioning.DirectoryResult
			for b.Loop() {
				b.StopTimer()
				svc, _ := newBenchService(b)
				if c.before != nil {
					if _, err := svc.ApplyDirectory(context.Background(), *c.before); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				b.StartTimer()
				var err error
				if res, err = svc.ApplyDirectory(context.Background(), *c.run); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.Jobs), "jobs")
			b.ReportMetric(float64(res.PeopleAdded+res.PeopleUpdated+res.PeopleDeleted), "people-changed")
		})
	}
}
