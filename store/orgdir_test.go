package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/roster-app/roster/provisioning"
)

// v2Buckets is the layout of schema version 2, frozen here.
var v2Buckets = append(slices.Clone(v1Buckets), "requests_state", "requests_by", "members")

// createV2 creates the version 2 buckets in tx and writes version as the
// schema version.
func createV2(tx *bolt.Tx, version string) error {
	for _, name := range v2Buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(version))
}

// checkDirIndexes checks that the directory's indexes say exactly what
// the canonical buckets say: dir_people_id maps every person's ID to
// their key, dir_groups_name every group's lower-cased name to its ID,
// dir_member_of holds one entry per (member, group), every member is a
// stored person, and each grant sits under its kind and lower-cased
// target.
func checkDirIndexes(t testing.TB, db *bolt.DB) {
	t.Helper()
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPeople) == nil {
			return nil // a file of an older schema
		}
		wantID, wantName, wantMember := map[string]string{}, map[string]string{}, map[string]string{}
		tx.Bucket(bucketPeople).ForEach(func(k, v []byte) error {
			var p provisioning.Person
			if err := json.Unmarshal(v, &p); err != nil {
				t.Errorf("decode person %s: %v", k, err)
			}
			if p.Email != string(k) || p.ID == "" {
				t.Errorf("person under key %s has email %q and ID %q", k, p.Email, p.ID)
			}
			if other, dup := wantID[p.ID]; dup {
				t.Errorf("people %s and %s share ID %s", other, k, p.ID)
			}
			wantID[p.ID] = p.Email
			return nil
		})
		tx.Bucket(bucketGroups).ForEach(func(k, v []byte) error {
			var g provisioning.Group
			if err := json.Unmarshal(v, &g); err != nil {
				t.Errorf("decode group %s: %v", k, err)
			}
			if g.ID != string(k) {
				t.Errorf("group under key %s has ID %q", k, g.ID)
			}
			wantName[strings.ToLower(g.Name)] = g.ID
			if !slices.IsSorted(g.Members) || len(slices.Compact(slices.Clone(g.Members))) != len(g.Members) {
				t.Errorf("group %s members %v are not sorted and unique", g.ID, g.Members)
			}
			for _, m := range g.Members {
				if _, ok := wantID[m]; !ok {
					t.Errorf("group %s has member %s, who is not a stored person", g.ID, m)
				}
				wantMember[string(indexKey(m, g.ID))] = ""
			}
			return nil
		})
		for name, want := range map[string]map[string]string{"dir_people_id": wantID, "dir_groups_name": wantName, "dir_member_of": wantMember} {
			got := map[string]string{}
			tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
				got[string(k)] = string(v)
				return nil
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s entries (-want +got):\n%s", name, diff)
			}
		}
		tx.Bucket(bucketGrants).ForEach(func(k, v []byte) error {
			var g provisioning.DirectoryGrant
			if err := json.Unmarshal(v, &g); err != nil {
				t.Errorf("decode grant %s: %v", k, err)
			}
			if want := string(g.Kind) + ":" + strings.ToLower(g.Target); string(k) != want {
				t.Errorf("grant under key %s, want %s", k, want)
			}
			return nil
		})
		return nil
	})
}

func person(id, email, ou string) provisioning.Person {
	return provisioning.Person{ID: id, Email: email, Name: strings.ToUpper(email[:1]) + email[1:strings.IndexByte(email, '@')],
		Status: provisioning.PersonEnabled, OrgUnit: ou, CreatedAt: t0, UpdatedAt: t0}
}

func group(id, name string, members ...string) provisioning.Group {
	return provisioning.Group{ID: id, Name: name, Members: members, CreatedAt: t0, UpdatedAt: t0}
}

// putDir stores people and then groups in one transaction.
func putDir(t testing.TB, d *DB, people []provisioning.Person, groups ...provisioning.Group) {
	t.Helper()
	update(t, d, func(tx provisioning.Tx) error {
		for _, p := range people {
			if err := tx.PutPerson(p); err != nil {
				return err
			}
		}
		for _, g := range groups {
			if err := tx.PutGroup(g); err != nil {
				return err
			}
		}
		return nil
	})
}

func emails(ps []provisioning.Person) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Email)
	}
	return out
}

func groupIDs(gs []provisioning.Group) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

func allPeople(t testing.TB, tx provisioning.ReadTx) []provisioning.Person {
	t.Helper()
	var out []provisioning.Person
	if err := tx.ForEachPerson(func(p provisioning.Person) error { out = append(out, p); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPeople(t *testing.T) {
	d := openTest(t)
	ada, bob := person("p-1", "ada@example.com", "/Engineering"), person("p-2", "bob@example.com", "")
	putDir(t, d, []provisioning.Person{bob, ada})

	view(t, d, func(tx provisioning.ReadTx) error {
		got, ok, err := tx.Person("ada@example.com")
		if diff := cmp.Diff(ada, got); !ok || err != nil || diff != "" {
			t.Errorf("Person(ada) = %v, %v (-want +got):\n%s", ok, err, diff)
		}
		got, ok, err = tx.PersonByID("p-2")
		if diff := cmp.Diff(bob, got); !ok || err != nil || diff != "" {
			t.Errorf("PersonByID(p-2) = %v, %v (-want +got):\n%s", ok, err, diff)
		}
		if _, ok, err := tx.Person("nobody@example.com"); ok || err != nil {
			t.Errorf("Person(nobody) = %v, %v; want not found, no error", ok, err)
		}
		if _, ok, err := tx.PersonByID("p-9"); ok || err != nil {
			t.Errorf("PersonByID(p-9) = %v, %v; want not found, no error", ok, err)
		}
		if diff := cmp.Diff([]string{"ada@example.com", "bob@example.com"}, emails(allPeople(t, tx))); diff != "" {
			t.Errorf("ForEachPerson order (-want +got):\n%s", diff)
		}
		return nil
	})

	// A new email for a known ID moves the record.
	ada2 := ada
	ada2.Email, ada2.OrgUnit = "ada.lovelace@example.com", "/Research"
	putDir(t, d, []provisioning.Person{ada2})
	view(t, d, func(tx provisioning.ReadTx) error {
		if _, ok, _ := tx.Person("ada@example.com"); ok {
			t.Errorf("Person(old email) still found after the email changed")
		}
		got, ok, err := tx.PersonByID("p-1")
		if !ok || err != nil || got.Email != "ada.lovelace@example.com" || got.OrgUnit != "/Research" {
			t.Errorf("PersonByID(p-1) = %+v, %v, %v; want the moved record", got, ok, err)
		}
		return nil
	})

	// Another person's email is refused and changes nothing.
	err := d.Update(t.Context(), func(tx provisioning.Tx) error {
		return tx.PutPerson(person("p-3", "bob@example.com", ""))
	})
	if !errors.Is(err, provisioning.ErrDuplicate) {
		t.Errorf("PutPerson(taken email) = %v, want ErrDuplicate", err)
	}
	for _, tt := range []struct {
		name string
		p    provisioning.Person
	}{
		{"no id", person("", "cy@example.com", "")},
		{"NUL in id", person("p\x00", "cy@example.com", "")},
		{"no email", provisioning.Person{ID: "p-4"}},
	} {
		err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutPerson(tt.p) })
		if !errors.Is(err, provisioning.ErrInvalid) {
			t.Errorf("PutPerson(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}

	// Deleting is idempotent.
	update(t, d, func(tx provisioning.Tx) error {
		return errors.Join(tx.DeletePerson("bob@example.com"), tx.DeletePerson("bob@example.com"), tx.DeletePerson("nobody@example.com"))
	})
	view(t, d, func(tx provisioning.ReadTx) error {
		if diff := cmp.Diff([]string{"ada.lovelace@example.com"}, emails(allPeople(t, tx))); diff != "" {
			t.Errorf("people after delete (-want +got):\n%s", diff)
		}
		if _, ok, _ := tx.PersonByID("p-2"); ok {
			t.Errorf("PersonByID(p-2) found after DeletePerson")
		}
		return nil
	})
}

func TestGroups(t *testing.T) {
	d := openTest(t)
	people := []provisioning.Person{
		person("p-1", "ada@example.com", ""), person("p-2", "bob@example.com", ""), person("p-3", "cy@example.com", ""),
	}
	putDir(t, d, people,
		group("g-1", "Contractors", "p-2", "p-1", "p-1"), // unsorted, a duplicate
		group("g-2", "Engineering", "p-1", "p-3"),
	)
	view(t, d, func(tx provisioning.ReadTx) error {
		g, ok, err := tx.GroupByName("CONTRACTORS")
		if !ok || err != nil || g.ID != "g-1" || !slices.Equal(g.Members, []string{"p-1", "p-2"}) {
			t.Errorf("GroupByName(CONTRACTORS) = %+v, %v, %v; want g-1 with members p-1 p-2", g, ok, err)
		}
		gs, err := tx.GroupsOf("p-1")
		if diff := cmp.Diff([]string{"g-1", "g-2"}, groupIDs(gs)); diff != "" || err != nil {
			t.Errorf("GroupsOf(p-1) = %v (-want +got):\n%s", err, diff)
		}
		for _, tt := range []struct {
			person, group string
			want          bool
		}{{"p-1", "g-1", true}, {"p-3", "g-1", false}, {"p-3", "g-2", true}, {"p-9", "g-2", false}} {
			if got, err := tx.InGroup(tt.person, tt.group); got != tt.want || err != nil {
				t.Errorf("InGroup(%s, %s) = %v, %v; want %v", tt.person, tt.group, got, err, tt.want)
			}
		}
		var all []provisioning.Group
		tx.ForEachGroup(func(g provisioning.Group) error { all = append(all, g); return nil })
		if diff := cmp.Diff([]string{"g-1", "g-2"}, groupIDs(all)); diff != "" {
			t.Errorf("ForEachGroup (-want +got):\n%s", diff)
		}
		return nil
	})

	// Rename and change members: the name index and membership follow.
	putDir(t, d, nil, group("g-1", "Vendors", "p-2", "p-3"))
	view(t, d, func(tx provisioning.ReadTx) error {
		if _, ok, _ := tx.GroupByName("contractors"); ok {
			t.Errorf("GroupByName(old name) found after a rename")
		}
		if g, ok, _ := tx.GroupByName("vendors"); !ok || g.ID != "g-1" {
			t.Errorf("GroupByName(vendors) = %+v, %v; want g-1", g, ok)
		}
		if in, _ := tx.InGroup("p-1", "g-1"); in {
			t.Errorf("p-1 still in g-1 after leaving it")
		}
		return nil
	})

	for _, tt := range []struct {
		name string
		g    provisioning.Group
		want error
	}{
		{"taken name", group("g-3", "ENGINEERING"), provisioning.ErrDuplicate},
		{"unknown member", group("g-3", "Sales", "p-9"), provisioning.ErrInvalid},
		{"no name", group("g-3", " "), provisioning.ErrInvalid},
		{"no id", group("", "Sales"), provisioning.ErrInvalid},
	} {
		err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutGroup(tt.g) })
		if !errors.Is(err, tt.want) {
			t.Errorf("PutGroup(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Deleting a person takes them out of every group.
	update(t, d, func(tx provisioning.Tx) error { return tx.DeletePerson("cy@example.com") })
	view(t, d, func(tx provisioning.ReadTx) error {
		for id, want := range map[string][]string{"g-1": {"p-2"}, "g-2": {"p-1"}} {
			g, _, err := tx.Group(id)
			if err != nil || !slices.Equal(g.Members, want) {
				t.Errorf("group %s members after DeletePerson(cy) = %v, %v; want %v", id, g.Members, err, want)
			}
		}
		if gs, _ := tx.GroupsOf("p-3"); len(gs) != 0 {
			t.Errorf("GroupsOf(deleted person) = %v, want none", groupIDs(gs))
		}
		return nil
	})

	update(t, d, func(tx provisioning.Tx) error { return errors.Join(tx.DeleteGroup("g-2"), tx.DeleteGroup("g-9")) })
	view(t, d, func(tx provisioning.ReadTx) error {
		if _, ok, _ := tx.Group("g-2"); ok {
			t.Errorf("Group(g-2) found after DeleteGroup")
		}
		if _, ok, _ := tx.GroupByName("engineering"); ok {
			t.Errorf("GroupByName(engineering) found after DeleteGroup")
		}
		if gs, _ := tx.GroupsOf("p-1"); len(gs) != 0 {
			t.Errorf("GroupsOf(p-1) = %v after its group was deleted, want none", groupIDs(gs))
		}
		return nil
	})
}

// A failed transaction leaves the directory and its indexes as they were
// (openTest's cleanup checks the indexes).
func TestDirectoryRollback(t *testing.T) {
	d := openTest(t)
	putDir(t, d, []provisioning.Person{person("p-1", "ada@example.com", "")}, group("g-1", "Staff", "p-1"))
	boom := errors.New("boom")
	err := d.Update(t.Context(), func(tx provisioning.Tx) error {
		if err := tx.PutPerson(person("p-2", "bob@example.com", "")); err != nil {
			return err
		}
		if err := tx.PutGroup(group("g-1", "Everyone", "p-1", "p-2")); err != nil {
			return err
		}
		if err := tx.DeletePerson("ada@example.com"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		g, ok, _ := tx.GroupByName("staff")
		if !ok || !slices.Equal(g.Members, []string{"p-1"}) {
			t.Errorf("group after rollback = %+v, %v; want Staff with p-1", g, ok)
		}
		if _, ok, _ := tx.Person("bob@example.com"); ok {
			t.Errorf("person of a rolled-back transaction found")
		}
		return nil
	})
}

func TestGrants(t *testing.T) {
	d := openTest(t)
	update(t, d, func(tx provisioning.Tx) error {
		return errors.Join(
			tx.PutGrant(provisioning.DirectoryGrant{Kind: provisioning.GrantOrgUnit, Target: "/Engineering", GrantedBy: "U1", CreatedAt: t0}),
			tx.PutGrant(provisioning.DirectoryGrant{Kind: provisioning.GrantGroup, Target: "Contractors", GrantedBy: "U1", CreatedAt: t0}),
			// The same target in another case replaces the first.
			tx.PutGrant(provisioning.DirectoryGrant{Kind: provisioning.GrantGroup, Target: "contractors", GrantedBy: "U2", CreatedAt: t0}),
		)
	})
	grants := func() []string {
		var out []string
		view(t, d, func(tx provisioning.ReadTx) error {
			gs, err := tx.Grants()
			for _, g := range gs {
				out = append(out, fmt.Sprintf("%s %s by %s", g.Kind, g.Target, g.GrantedBy))
			}
			return err
		})
		return out
	}
	if diff := cmp.Diff([]string{"group contractors by U2", "org-unit /Engineering by U1"}, grants()); diff != "" {
		t.Errorf("Grants (-want +got):\n%s", diff)
	}
	update(t, d, func(tx provisioning.Tx) error {
		return errors.Join(tx.DeleteGrant(provisioning.GrantOrgUnit, "/ENGINEERING"), tx.DeleteGrant(provisioning.GrantGroup, "nothing"))
	})
	if diff := cmp.Diff([]string{"group contractors by U2"}, grants()); diff != "" {
		t.Errorf("Grants after DeleteGrant (-want +got):\n%s", diff)
	}
	for _, g := range []provisioning.DirectoryGrant{{Kind: "team", Target: "x"}, {Kind: provisioning.GrantGroup}} {
		err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutGrant(g) })
		if !errors.Is(err, provisioning.ErrInvalid) {
			t.Errorf("PutGrant(%+v) = %v, want ErrInvalid", g, err)
		}
	}
}

func TestHeldChanges(t *testing.T) {
	d := openTest(t)
	update(t, d, func(tx provisioning.Tx) error {
		for i, st := range []provisioning.HeldState{provisioning.HeldPending, provisioning.HeldConfirmed, provisioning.HeldPending, provisioning.HeldPending} {
			id, err := tx.NewID("held")
			if err != nil {
				return err
			}
			h := provisioning.HeldChange{ID: id, Cause: fmt.Sprint("change ", i), Emails: []string{"a@example.com"}, State: st, CreatedAt: t0}
			if err := tx.PutHeldChange(h); err != nil {
				return err
			}
		}
		return nil
	})
	heldIDs := func(hs []provisioning.HeldChange) []string {
		out := []string{}
		for _, h := range hs {
			out = append(out, h.ID)
		}
		return out
	}
	view(t, d, func(tx provisioning.ReadTx) error {
		got, err := tx.HeldChanges(provisioning.HeldPending, 10)
		if diff := cmp.Diff([]string{"held-000000000004", "held-000000000003", "held-000000000001"}, heldIDs(got)); diff != "" || err != nil {
			t.Errorf("HeldChanges(pending) = %v (-want +got):\n%s", err, diff)
		}
		got, _ = tx.HeldChanges(provisioning.HeldPending, 2)
		if diff := cmp.Diff([]string{"held-000000000004", "held-000000000003"}, heldIDs(got)); diff != "" {
			t.Errorf("HeldChanges(pending, 2) (-want +got):\n%s", diff)
		}
		if got, _ := tx.HeldChanges(provisioning.HeldDiscarded, 10); len(got) != 0 {
			t.Errorf("HeldChanges(discarded) = %v, want none", heldIDs(got))
		}
		h, err := tx.HeldChange("held-000000000002")
		if err != nil || h.State != provisioning.HeldConfirmed || h.Cause != "change 1" {
			t.Errorf("HeldChange(2) = %+v, %v", h, err)
		}
		if _, err := tx.HeldChange("held-9"); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("HeldChange(unknown) = %v, want ErrNotFound", err)
		}
		return nil
	})
	err := d.Update(t.Context(), func(tx provisioning.Tx) error { return tx.PutHeldChange(provisioning.HeldChange{}) })
	if !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("PutHeldChange(no id) = %v, want ErrInvalid", err)
	}
}

// TestMigrate2to3 opens a version 2 file holding data: the directory's
// buckets appear, empty, and the data stays.
func TestMigrate2to3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.db")
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := createV2(tx, "2"); err != nil {
			return err
		}
		buf, _ := json.Marshal([]provisioning.Assignment{{ID: "asg-1", Email: "ada@example.com", Source: provisioning.SourceDirect}})
		return tx.Bucket(bucketAssignments).Put([]byte("ada@example.com"), buf)
	})
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open(version 2 file) = %v", err)
	}
	boltCheck(t, d.db)
	d.db.View(func(tx *bolt.Tx) error {
		for _, name := range dirBuckets {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %s missing after migration", name)
			}
		}
		return nil
	})
	view(t, d, func(tx provisioning.ReadTx) error {
		if as, err := tx.Assignments("ada@example.com"); len(as) != 1 || err != nil {
			t.Errorf("Assignments after migration = %v, %v; want 1", as, err)
		}
		return nil
	})
	putDir(t, d, []provisioning.Person{person("p-1", "ada@example.com", "")}, group("g-1", "Staff", "p-1"))
	checkDirIndexes(t, d.db)
	d.Close()
	if got := schemaVersion(t, path); got != "3" {
		t.Errorf("schema_version after migration = %q, want 3", got)
	}
}

// Many people in many groups, then a third of the people deleted and every
// group rewritten: the indexes stay exact.
func TestDirectoryIndexesAtScale(t *testing.T) {
	d := openTest(t)
	const people, groups = 600, 20
	var ps []provisioning.Person
	for i := range people {
		ps = append(ps, person(fmt.Sprintf("p-%04d", i), fmt.Sprintf("u%04d@example.com", i), ""))
	}
	var gs []provisioning.Group
	for g := range groups {
		var members []string
		for i := g; i < people; i += groups / 2 {
			members = append(members, ps[i].ID)
		}
		gs = append(gs, group(fmt.Sprintf("g-%02d", g), fmt.Sprintf("Group %d", g), members...))
	}
	start := time.Now()
	putDir(t, d, ps, gs...)
	update(t, d, func(tx provisioning.Tx) error {
		for i := 0; i < people; i += 3 {
			if err := tx.DeletePerson(ps[i].Email); err != nil {
				return err
			}
		}
		return nil
	})
	checkDirIndexes(t, d.db)
	view(t, d, func(tx provisioning.ReadTx) error {
		for i := groups + 2; i < people; i += 3 { // not deleted: i%3 != 0
			gs, err := tx.GroupsOf(ps[i].ID)
			if err != nil || len(gs) != 2 {
				t.Fatalf("GroupsOf(%s) = %d groups, %v; want 2", ps[i].ID, len(gs), err)
			}
		}
		return nil
	})
	t.Logf("%d people, %d groups in %s", people, groups, time.Since(start))
}

// Reads inside the transaction that wrote see the writes, the membership
// index included (its values are empty, which bbolt's Get cannot tell
// from absent inside a write transaction).
func TestDirectoryReadYourWrites(t *testing.T) {
	d := openTest(t)
	update(t, d, func(tx provisioning.Tx) error {
		if err := tx.PutPerson(person("p-1", "ada@example.com", "")); err != nil {
			return err
		}
		if err := tx.PutGroup(group("g-1", "Staff", "p-1")); err != nil {
			return err
		}
		if in, err := tx.InGroup("p-1", "g-1"); !in || err != nil {
			t.Errorf("InGroup in the writing transaction = %v, %v; want true", in, err)
		}
		if gs, err := tx.GroupsOf("p-1"); len(gs) != 1 || err != nil {
			t.Errorf("GroupsOf in the writing transaction = %v, %v; want Staff", gs, err)
		}
		if err := tx.PutGroup(group("g-1", "Staff")); err != nil {
			return err
		}
		if in, _ := tx.InGroup("p-1", "g-1"); in {
			t.Errorf("InGroup after the member left = true")
		}
		return nil
	})
}
