package app

import (
	"path/filepath"
	"testing"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// The playground's demo directory is valid and assigns nothing by itself.
func TestPlaygroundDirectory(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := provisioning.NewService(db, nil, nil, provisioning.Options{})
	res, err := svc.ApplyDirectory(t.Context(), playgroundDirectory())
	if err != nil {
		t.Fatalf("ApplyDirectory(demo) = %v", err)
	}
	if res.PeopleAdded != 9 || res.GroupsAdded != 2 || res.Jobs != 0 {
		t.Errorf("demo directory = %d people, %d groups, %d jobs; want 9, 2, 0", res.PeopleAdded, res.GroupsAdded, res.Jobs)
	}
	reach, err := svc.PreviewGrant(t.Context(), provisioning.GrantOrgUnit, "/Engineering")
	if err != nil || len(reach) != 5 {
		t.Errorf("PreviewGrant(/Engineering) = %v, %v; want its 5 people", reach, err)
	}
}
