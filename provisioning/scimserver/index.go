package scimserver

import (
	"context"
	"strings"
	"sync"

	"github.com/roster-app/roster/provisioning"
)

// index finds people by userName and externalId and groups by externalId
// without reading the whole directory: identity providers look a user up
// by one of these before every create (Okta: userName, Entra ID:
// externalId or userName), which would otherwise cost a full scan each.
//
// It is built from the store on first use and kept in step with the
// server's own writes. Entries are hints: a hit is re-read from the store
// and checked against the filter, so a stale entry costs nothing but a
// miss. Other writers (file import) do not set userName or externalId;
// a person they create is found by email, as userName falls back to the
// email when it is empty.
type index struct {
	mu       sync.Mutex
	built    bool
	userName map[string]string // lower-case userName (or email) → person ID
	userExt  map[string]string // externalId → person ID
	groupExt map[string]string // externalId → group ID
}

func userNameOf(p provisioning.Person) string {
	if p.UserName != "" {
		return p.UserName
	}
	return p.Email
}

// ensureIndex builds the index if it is not built yet.
func (s *server) ensureIndex(ctx context.Context) error {
	if s.idx.isBuilt() {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.ensureIndexLocked(ctx)
}

// ensureIndexLocked builds the index if it is not built yet; the caller
// holds s.writeMu, so no write of the server's own is missed. idx.mu is
// never held across a store transaction.
func (s *server) ensureIndexLocked(ctx context.Context) error {
	if s.idx.isBuilt() {
		return nil
	}
	un, ue, ge := map[string]string{}, map[string]string{}, map[string]string{}
	err := s.db.View(ctx, func(tx provisioning.ReadTx) error {
		clear(un)
		clear(ue)
		clear(ge)
		err := tx.ForEachPerson(func(p provisioning.Person) error {
			un[strings.ToLower(userNameOf(p))] = p.ID
			if p.ExternalID != "" {
				ue[p.ExternalID] = p.ID
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.ForEachGroup(func(g provisioning.Group) error {
			if g.ExternalID != "" {
				ge[g.ExternalID] = g.ID
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	x := &s.idx
	x.mu.Lock()
	defer x.mu.Unlock()
	x.userName, x.userExt, x.groupExt, x.built = un, ue, ge, true
	return nil
}

func (x *index) isBuilt() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.built
}

func (x *index) get(m *map[string]string, key string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := (*m)[key]
	return id, ok
}

func (x *index) personByUserName(userName string) (string, bool) {
	return x.get(&x.userName, strings.ToLower(userName))
}

func (x *index) personByExternalID(id string) (string, bool) { return x.get(&x.userExt, id) }

func (x *index) groupByExternalID(id string) (string, bool) { return x.get(&x.groupExt, id) }

// setPerson records that old (nil: none) became p (nil: deleted).
func (x *index) setPerson(old, p *provisioning.Person) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.built {
		return
	}
	if old != nil {
		drop(x.userName, strings.ToLower(userNameOf(*old)), old.ID)
		drop(x.userExt, old.ExternalID, old.ID)
	}
	if p != nil {
		x.userName[strings.ToLower(userNameOf(*p))] = p.ID
		if p.ExternalID != "" {
			x.userExt[p.ExternalID] = p.ID
		}
	}
}

// setGroup records that old (nil: none) became g (nil: deleted).
func (x *index) setGroup(old, g *provisioning.Group) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.built {
		return
	}
	if old != nil {
		drop(x.groupExt, old.ExternalID, old.ID)
	}
	if g != nil && g.ExternalID != "" {
		x.groupExt[g.ExternalID] = g.ID
	}
}

// drop deletes key if it still names id.
func drop(m map[string]string, key, id string) {
	if key != "" && m[key] == id {
		delete(m, key)
	}
}
