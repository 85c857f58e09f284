package scimserver

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/roster-app/roster/provisioning"
)

// groupHandlers serve /Groups.
type groupHandlers struct{ s *server }

// groupDoc renders g as a SCIM Group.
func groupDoc(g provisioning.Group, base string) map[string]any {
	d := map[string]any{
		"schemas":     []any{groupSchema},
		"id":          g.ID,
		"displayName": g.Name,
		"meta":        meta("Group", g.CreatedAt, g.UpdatedAt, base+"/Groups/"+g.ID),
	}
	if g.ExternalID != "" {
		d["externalId"] = g.ExternalID
	}
	if len(g.Members) > 0 {
		members := make([]any, len(g.Members))
		for i, id := range g.Members {
			members[i] = map[string]any{"value": id, "$ref": base + "/Users/" + id, "type": "User"}
		}
		d["members"] = members
	}
	return d
}

// groupInput is a Group resource as read from a request.
type groupInput struct {
	name, externalID string
	members          []string // person IDs
}

func parseGroup(d map[string]any) (groupInput, error) {
	var g groupInput
	var err error
	if g.name, err = stringAttr(d, "displayName"); err != nil {
		return g, err
	}
	if g.name == "" {
		return g, errorf(http.StatusBadRequest, "invalidValue", "displayName is required")
	}
	if g.externalID, err = stringAttr(d, "externalId"); err != nil {
		return g, err
	}
	var list []any
	switch v := d["members"].(type) {
	case nil:
	case []any:
		list = v
	default:
		return g, errorf(http.StatusBadRequest, "invalidValue", "members must be an array")
	}
	seen := map[string]bool{}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return g, errorf(http.StatusBadRequest, "invalidValue", "each member must be an object with a value (a user's id)")
		}
		id, err := stringAttr(m, "value")
		if err != nil || id == "" {
			return g, errorf(http.StatusBadRequest, "invalidValue", "each member needs a value (a user's id)")
		}
		if t, _ := m["type"].(string); t != "" && !strings.EqualFold(t, "User") {
			return g, errorf(http.StatusBadRequest, "invalidValue", "member %s is a %s: only users can be members (groups cannot be nested)", id, t)
		}
		if !seen[id] {
			seen[id] = true
			g.members = append(g.members, id)
		}
	}
	return g, nil
}

// memberEmails turns person IDs into emails. An unknown ID is a 400,
// except one in known (a member already, whose person has gone since),
// which is dropped.
func memberEmails(tx provisioning.ReadTx, ids []string, known map[string]bool) ([]string, error) {
	emails := make([]string, 0, len(ids))
	for _, id := range ids {
		p, ok, err := tx.PersonByID(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			if known[id] {
				continue
			}
			return nil, errorf(http.StatusBadRequest, "invalidValue", "member %s is not a user Roster knows: create the user first (groups cannot be members)", id)
		}
		emails = append(emails, p.Email)
	}
	return emails, nil
}

func (h groupHandlers) get(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	g, err := s.currentGroup(r.Context(), id)
	if err != nil {
		return err
	}
	writeResource(w, r, s.group, http.StatusOK, groupDoc(g, s.base(r)))
	return nil
}

func (s *server) currentGroup(ctx context.Context, id string) (provisioning.Group, error) {
	var g provisioning.Group
	var ok bool
	err := s.db.View(ctx, func(tx provisioning.ReadTx) (err error) {
		g, ok, err = tx.Group(id)
		return err
	})
	if err == nil && !ok {
		err = notFound(s.group, id)
	}
	return g, err
}

var groupProbes = map[string]bool{"displayName": true, "externalId": true, "id": true, "members": true}

func (h groupHandlers) list(w http.ResponseWriter, r *http.Request) error {
	s := h.s
	return listResources(w, r, s, s.group, groupProbes, func(g provisioning.Group, base string) map[string]any { return groupDoc(g, base) },
		func(tx provisioning.ReadTx, fn func(provisioning.Group) error) error { return tx.ForEachGroup(fn) },
		s.groupsFor)
}

// groupsFor returns the groups the probes find, in ID order.
func (s *server) groupsFor(tx provisioning.ReadTx, probes []probe) ([]provisioning.Group, error) {
	found := map[string]provisioning.Group{}
	add := func(g provisioning.Group, ok bool, err error) error {
		if ok {
			found[g.ID] = g
		}
		return err
	}
	for _, pr := range probes {
		var err error
		switch pr.attr {
		case "displayName":
			err = add(tx.GroupByName(pr.value))
		case "externalId":
			if id, ok := s.idx.groupByExternalID(pr.value); ok {
				err = add(tx.Group(id))
			}
		case "id":
			err = add(tx.Group(pr.value))
		case "members":
			var gs []provisioning.Group
			gs, err = tx.GroupsOf(pr.value)
			for _, g := range gs {
				found[g.ID] = g
			}
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]provisioning.Group, 0, len(found))
	for _, g := range found {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b provisioning.Group) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (h groupHandlers) create(w http.ResponseWriter, r *http.Request) error {
	s := h.s
	d, err := decodeResource(w, r, s.group)
	if err != nil {
		return err
	}
	in, err := parseGroup(d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.ensureIndexLocked(ctx); err != nil {
		return err
	}
	var emails []string
	err = s.db.View(ctx, func(tx provisioning.ReadTx) error {
		g, ok, err := tx.GroupByName(in.name)
		if err != nil {
			return err
		}
		if ok {
			return errorf(http.StatusConflict, "uniqueness", "a group named %q exists: %s", g.Name, g.ID)
		}
		emails, err = memberEmails(tx, in.members, nil)
		return err
	})
	if err != nil {
		return err
	}
	g, err := s.writeGroup(ctx, nil, in, emails, cause(r))
	if err != nil {
		return err
	}
	writeResource(w, r, s.group, http.StatusCreated, groupDoc(g, s.base(r)))
	return nil
}

func (h groupHandlers) replace(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	d, err := decodeResource(w, r, s.group)
	if err != nil {
		return err
	}
	return s.updateGroup(w, r, id, func(provisioning.Group) (map[string]any, error) { return d, nil })
}

func (h groupHandlers) patch(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	var req patchRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	base := s.base(r)
	return s.updateGroup(w, r, id, func(cur provisioning.Group) (map[string]any, error) {
		d := groupDoc(cur, base)
		return d, s.group.applyPatch(d, req.Operations)
	})
}

// updateGroup replaces group id with the resource change makes of it.
func (s *server) updateGroup(w http.ResponseWriter, r *http.Request, id string, change func(provisioning.Group) (map[string]any, error)) error {
	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.ensureIndexLocked(ctx); err != nil {
		return err
	}
	cur, err := s.currentGroup(ctx, id)
	if err != nil {
		return err
	}
	d, err := change(cur)
	if err != nil {
		return err
	}
	in, err := parseGroup(d)
	if err != nil {
		return err
	}
	var emails []string
	err = s.db.View(ctx, func(tx provisioning.ReadTx) error {
		if !strings.EqualFold(in.name, cur.Name) {
			g, ok, err := tx.GroupByName(in.name)
			if err != nil {
				return err
			}
			if ok && g.ID != cur.ID {
				return errorf(http.StatusConflict, "uniqueness", "a group named %q exists: %s", g.Name, g.ID)
			}
		}
		known := map[string]bool{}
		for _, m := range cur.Members {
			known[m] = true
		}
		emails, err = memberEmails(tx, in.members, known)
		return err
	})
	if err != nil {
		return err
	}
	g, err := s.writeGroup(ctx, &cur, in, emails, cause(r))
	if err != nil {
		return err
	}
	writeResource(w, r, s.group, http.StatusOK, groupDoc(g, s.base(r)))
	return nil
}

// writeGroup stores in, which was cur (nil: new), and returns it as
// stored. An unchanged group is not written. An update names the group by
// ID, so that a new displayName renames it.
func (s *server) writeGroup(ctx context.Context, cur *provisioning.Group, in groupInput, emails []string, cause string) (provisioning.Group, error) {
	gi := provisioning.GroupInput{Name: in.name, ExternalID: in.externalID, MemberEmails: emails}
	if cur != nil {
		// The directory keeps an external ID a change leaves empty.
		gi.ID, gi.ExternalID = cur.ID, cmp.Or(in.externalID, cur.ExternalID)
		if cur.Name == gi.Name && cur.ExternalID == gi.ExternalID && sameSet(cur.Members, in.members) {
			return *cur, nil
		}
	}
	ch := provisioning.DirectoryChange{UpsertGroups: []provisioning.GroupInput{gi}, By: "scim", Cause: cause}
	if err := s.apply(ctx, ch); err != nil {
		return provisioning.Group{}, err
	}
	var g provisioning.Group
	err := s.db.View(ctx, func(tx provisioning.ReadTx) error {
		var ok bool
		var err error
		g, ok, err = tx.GroupByName(in.name)
		if err == nil && !ok {
			err = fmt.Errorf("scim: group %q missing after %s", in.name, cause)
		}
		return err
	})
	if err != nil {
		return provisioning.Group{}, err
	}
	s.idx.setGroup(cur, &g)
	return g, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[string]bool, len(a))
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}

func (h groupHandlers) delete(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur, err := s.currentGroup(ctx, id)
	if err != nil {
		return err
	}
	ch := provisioning.DirectoryChange{DeleteGroups: []string{cur.Name}, By: "scim", Cause: cause(r)}
	if err := s.apply(ctx, ch); err != nil {
		return err
	}
	s.idx.setGroup(&cur, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
