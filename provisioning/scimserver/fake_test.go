package scimserver_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/roster-app/roster/provisioning"
)

// fakeDir is an in-memory directory: it applies DirectoryChanges as
// provisioning.Service.ApplyDirectory documents them (a person by ID when
// one is given, else by email; a group by ID when given, else by name
// case-insensitively; members given as emails; external IDs and userNames
// kept when a change leaves them empty; deleting what is gone is no
// error) and serves the ReadTx methods the server uses. Each change is
// all or nothing.
type fakeDir struct {
	mu      sync.RWMutex
	people  map[string]provisioning.Person // by ID
	byEmail map[string]string              // email → ID
	groups  map[string]provisioning.Group  // by ID
	seq     int
	now     time.Time

	changes []provisioning.DirectoryChange
	err     error // returned by the next ApplyDirectory, which then changes nothing
	hold    bool  // answer ErrHeld (the change is still applied)
}

func newFakeDir() *fakeDir {
	return &fakeDir{
		people:  map[string]provisioning.Person{},
		byEmail: map[string]string{},
		groups:  map[string]provisioning.Group{},
		now:     time.Date(2011, 5, 13, 4, 0, 0, 0, time.UTC),
	}
}

func (f *fakeDir) ApplyDirectory(ctx context.Context, ch provisioning.DirectoryChange) (provisioning.DirectoryResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, ch)
	if err := f.err; err != nil {
		f.err = nil
		return provisioning.DirectoryResult{}, err
	}
	// Writes go to the maps directly; undo restores them on an error.
	people, byEmail, groups := undoable(f.people), undoable(f.byEmail), undoable(f.groups)
	seq := f.seq
	now := f.now.Add(time.Hour)
	var res provisioning.DirectoryResult
	invalid := func(format string, args ...any) error {
		people.undo()
		byEmail.undo()
		groups.undo()
		return fmt.Errorf("directory change: "+format+": %w", append(args, provisioning.ErrInvalid)...)
	}

	upserted := map[string]bool{}
	for _, p := range ch.Upsert {
		email, err := provisioning.NormalizeEmail(p.Email)
		if err != nil {
			return provisioning.DirectoryResult{}, invalid("person: %v", err)
		}
		if p.OrgUnit, err = provisioning.NormalizeOrgUnit(p.OrgUnit); err != nil {
			return provisioning.DirectoryResult{}, invalid("person %s: %v", email, err)
		}
		p.Email = email
		p.Status = provisioning.PersonStatus(cmp.Or(string(p.Status), string(provisioning.PersonEnabled)))
		var old provisioning.Person
		var had bool
		if p.ID != "" {
			if old, had = people.m[p.ID]; !had {
				return provisioning.DirectoryResult{}, invalid("no person has ID %s: %w", p.ID, provisioning.ErrNotFound)
			}
			if other, taken := byEmail.m[email]; taken && other != p.ID {
				return provisioning.DirectoryResult{}, invalid("%s belongs to another person (%s): %w", email, other, provisioning.ErrDuplicate)
			}
		} else if id, ok := byEmail.m[email]; ok {
			old, had = people.m[id], true
		}
		if had {
			p.ID, p.CreatedAt = old.ID, old.CreatedAt
			p.ExternalID, p.UserName = cmp.Or(p.ExternalID, old.ExternalID), cmp.Or(p.UserName, old.UserName)
			byEmail.delete(old.Email)
			res.PeopleUpdated++
		} else {
			seq++
			p.ID, p.CreatedAt = fmt.Sprintf("u%05d", seq), now
			res.PeopleAdded++
		}
		p.UpdatedAt = now
		people.set(p.ID, p)
		byEmail.set(email, p.ID)
		upserted[p.ID] = true
	}
	for _, email := range ch.Delete {
		id, ok := byEmail.m[email]
		if !ok {
			continue
		}
		if upserted[id] {
			return provisioning.DirectoryResult{}, invalid("%s is both updated and deleted", email)
		}
		people.delete(id)
		byEmail.delete(email)
		for gid, g := range groups.m {
			if slices.Contains(g.Members, id) {
				g.Members = slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == id })
				groups.set(gid, g)
			}
		}
		res.PeopleDeleted++
	}
	byName := func(name string) (provisioning.Group, bool) {
		for _, g := range groups.m {
			if strings.EqualFold(g.Name, name) {
				return g, true
			}
		}
		return provisioning.Group{}, false
	}
	groupUpserted := map[string]bool{}
	for _, in := range ch.UpsertGroups {
		var old provisioning.Group
		var had bool
		if in.ID != "" {
			if old, had = groups.m[in.ID]; !had {
				return provisioning.DirectoryResult{}, invalid("no group has ID %s: %w", in.ID, provisioning.ErrNotFound)
			}
			if other, taken := byName(in.Name); taken && other.ID != in.ID {
				return provisioning.DirectoryResult{}, invalid("the name %q belongs to another group (%s): %w", in.Name, other.ID, provisioning.ErrDuplicate)
			}
		} else {
			old, had = byName(in.Name)
		}
		var members []string
		for _, e := range in.MemberEmails {
			id, ok := byEmail.m[e]
			if !ok {
				return provisioning.DirectoryResult{}, invalid("group %q: member %s is not in the directory", in.Name, e)
			}
			members = append(members, id)
		}
		slices.Sort(members)
		g := provisioning.Group{ID: old.ID, Name: in.Name, ExternalID: cmp.Or(in.ExternalID, old.ExternalID),
			Members: slices.Compact(members), CreatedAt: old.CreatedAt, UpdatedAt: now}
		if had {
			res.GroupsUpdated++
		} else {
			seq++
			g.ID, g.CreatedAt = fmt.Sprintf("g%05d", seq), now
			res.GroupsAdded++
		}
		groups.set(g.ID, g)
		groupUpserted[g.ID] = true
	}
	for _, name := range ch.DeleteGroups {
		g, ok := byName(name)
		if !ok {
			continue
		}
		if groupUpserted[g.ID] {
			return provisioning.DirectoryResult{}, invalid("group %q is both updated and deleted", name)
		}
		groups.delete(g.ID)
		res.GroupsDeleted++
	}
	f.seq, f.now = seq, now
	if f.hold {
		res.Held = &provisioning.HeldChange{ID: "held-1", Cause: ch.Cause, Emails: []string{"x@example.com"}}
		return res, fmt.Errorf("directory change: %w", provisioning.ErrHeld)
	}
	return res, nil
}

// undoMap is a map whose writes can be undone.
type undoMap[V any] struct {
	m   map[string]V
	log []func()
}

func undoable[V any](m map[string]V) *undoMap[V] { return &undoMap[V]{m: m} }

func (u *undoMap[V]) remember(k string) {
	old, had := u.m[k]
	u.log = append(u.log, func() {
		if had {
			u.m[k] = old
		} else {
			delete(u.m, k)
		}
	})
}

func (u *undoMap[V]) set(k string, v V) { u.remember(k); u.m[k] = v }

func (u *undoMap[V]) delete(k string) { u.remember(k); delete(u.m, k) }

func (u *undoMap[V]) undo() {
	for i := len(u.log) - 1; i >= 0; i-- {
		u.log[i]()
	}
	u.log = nil
}

// takeChanges returns the changes applied since the last call.
func (f *fakeDir) takeChanges() []provisioning.DirectoryChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.changes
	f.changes = nil
	return out
}

func (f *fakeDir) View(ctx context.Context, fn func(provisioning.ReadTx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return fn(fakeTx{f: f})
}

// fakeTx implements the ReadTx methods the server uses; the nil embedded
// interface makes any other call panic.
type fakeTx struct {
	provisioning.ReadTx
	f *fakeDir
}

func cloneGroup(g provisioning.Group) provisioning.Group {
	g.Members = slices.Clone(g.Members)
	return g
}

func (t fakeTx) Person(email string) (provisioning.Person, bool, error) {
	id, ok := t.f.byEmail[email]
	if !ok {
		return provisioning.Person{}, false, nil
	}
	return t.f.people[id], true, nil
}

func (t fakeTx) PersonByID(id string) (provisioning.Person, bool, error) {
	p, ok := t.f.people[id]
	return p, ok, nil
}

func (t fakeTx) ForEachPerson(fn func(provisioning.Person) error) error {
	for _, email := range slices.Sorted(maps.Keys(t.f.byEmail)) {
		if err := fn(t.f.people[t.f.byEmail[email]]); err != nil {
			return err
		}
	}
	return nil
}

func (t fakeTx) Group(id string) (provisioning.Group, bool, error) {
	g, ok := t.f.groups[id]
	return cloneGroup(g), ok, nil
}

func (t fakeTx) GroupByName(name string) (provisioning.Group, bool, error) {
	for _, g := range t.f.groups {
		if strings.EqualFold(g.Name, name) {
			return cloneGroup(g), true, nil
		}
	}
	return provisioning.Group{}, false, nil
}

func (t fakeTx) ForEachGroup(fn func(provisioning.Group) error) error {
	for _, id := range slices.Sorted(maps.Keys(t.f.groups)) {
		if err := fn(cloneGroup(t.f.groups[id])); err != nil {
			return err
		}
	}
	return nil
}

func (t fakeTx) GroupsOf(personID string) ([]provisioning.Group, error) {
	var out []provisioning.Group
	for _, id := range slices.Sorted(maps.Keys(t.f.groups)) {
		if g := t.f.groups[id]; slices.Contains(g.Members, personID) {
			out = append(out, cloneGroup(g))
		}
	}
	return out, nil
}
