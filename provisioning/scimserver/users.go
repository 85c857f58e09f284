package scimserver

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/roster-app/roster/provisioning"
)

// userHandlers serve /Users.
type userHandlers struct{ s *server }

// userDoc renders p as a SCIM User.
func (s *server) userDoc(p provisioning.Person, base string) map[string]any {
	d := map[string]any{
		"id":       p.ID,
		"userName": userNameOf(p),
		"emails":   []any{map[string]any{"value": p.Email, "type": "work", "primary": true}},
		"active":   p.Status != provisioning.PersonDisabled,
		"meta":     meta("User", p.CreatedAt, p.UpdatedAt, base+"/Users/"+p.ID),
	}
	schemas := []any{userSchema}
	if p.ExternalID != "" {
		d["externalId"] = p.ExternalID
	}
	if p.Name != "" {
		d["name"] = map[string]any{"formatted": p.Name}
		d["displayName"] = p.Name
	}
	if p.OrgUnit != "" {
		ou := s.orgUnitAttr()
		if ou.urn == "" {
			d[ou.a.Name] = p.OrgUnit
		} else {
			d[ou.urn] = map[string]any{ou.a.Name: p.OrgUnit}
			schemas = append(schemas, ou.urn)
		}
	}
	d["schemas"] = schemas
	return d
}

func meta(resourceType string, created, modified time.Time, location string) map[string]any {
	m := map[string]any{"resourceType": resourceType, "location": location}
	if !created.IsZero() {
		m["created"] = created.UTC().Format(time.RFC3339Nano)
	}
	if !modified.IsZero() {
		m["lastModified"] = modified.UTC().Format(time.RFC3339Nano)
	}
	return m
}

// orgUnitAttr is where the org unit sits in a User.
func (s *server) orgUnitAttr() ref {
	if s.user.Ext != nil {
		return ref{urn: s.user.Ext.ID, a: &s.user.Ext.Attributes[0]}
	}
	return ref{a: &s.user.Core.Attributes[len(s.user.Core.Attributes)-1]}
}

// parseUser reads a User resource (canonical names) into a person. cur is
// the person being replaced or patched, nil for a create: an absent
// "active" keeps cur's status (a create is enabled).
func (s *server) parseUser(d map[string]any, cur *provisioning.Person) (provisioning.Person, error) {
	var p provisioning.Person
	var err error
	if cur != nil {
		p.ID = cur.ID
	}
	if p.UserName, err = stringAttr(d, "userName"); err != nil {
		return p, err
	}
	if p.UserName == "" {
		return p, errorf(http.StatusBadRequest, "invalidValue", "userName is required")
	}
	if p.ExternalID, err = stringAttr(d, "externalId"); err != nil {
		return p, err
	}
	if p.Name, err = nameOf(d); err != nil {
		return p, err
	}
	email, err := chooseEmail(d)
	if err != nil {
		return p, err
	}
	if email == "" && strings.Contains(p.UserName, "@") {
		email = p.UserName
	}
	if email == "" {
		return p, errorf(http.StatusBadRequest, "invalidValue",
			"user %q has no email: Roster needs one, as a primary or work value in emails or as a userName that is an email address", p.UserName)
	}
	if p.Email, err = provisioning.NormalizeEmail(email); err != nil {
		return p, errorf(http.StatusBadRequest, "invalidValue", "%s", reason(err))
	}
	p.Status = provisioning.PersonEnabled
	if cur != nil {
		p.Status = cur.Status
	}
	if v := d["active"]; v != nil {
		b, ok := asBool(v)
		if !ok {
			return p, errorf(http.StatusBadRequest, "invalidValue", "active must be true or false, not %v", v)
		}
		p.Status = provisioning.PersonEnabled
		if !b {
			p.Status = provisioning.PersonDisabled
		}
	}
	ou := s.orgUnitAttr()
	if c := ou.container(d, false); c != nil {
		switch v := c[ou.a.Name].(type) {
		case nil:
		case string:
			if p.OrgUnit, err = provisioning.NormalizeOrgUnit(v); err != nil {
				return p, errorf(http.StatusBadRequest, "invalidValue", "%s", reason(err))
			}
		default:
			return p, errorf(http.StatusBadRequest, "invalidValue", "%s must be a string such as Engineering/Platform", ou.a.Name)
		}
	}
	return p, nil
}

func stringAttr(d map[string]any, name string) (string, error) {
	switch v := d[name].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	}
	return "", errorf(http.StatusBadRequest, "invalidValue", "%s must be a string", name)
}

// nameParts returns name.formatted, displayName, name.givenName and
// name.familyName.
func nameParts(d map[string]any) (formatted, display, given, family string, err error) {
	if display, err = stringAttr(d, "displayName"); err != nil {
		return
	}
	switch n := d["name"].(type) {
	case nil:
	case map[string]any:
		if formatted, err = stringAttr(n, "formatted"); err != nil {
			return
		}
		if given, err = stringAttr(n, "givenName"); err != nil {
			return
		}
		family, err = stringAttr(n, "familyName")
	default:
		err = errorf(http.StatusBadRequest, "invalidValue", "name must be an object")
	}
	return
}

// nameOf is the person's name: name.formatted, else displayName, else
// givenName familyName.
func nameOf(d map[string]any) (string, error) {
	formatted, display, given, family, err := nameParts(d)
	return cmp.Or(formatted, display, strings.TrimSpace(given+" "+family)), err
}

// nameAfterPatch is the name after a PATCH turned orig into d: the part
// the PATCH changed wins. When it set only givenName or only familyName,
// that part replaces the first or last word of the old name.
func nameAfterPatch(orig, d map[string]any, old string) (string, error) {
	of, od, _, _, _ := nameParts(orig)
	formatted, display, given, family, err := nameParts(d)
	if err != nil {
		return "", err
	}
	switch {
	case formatted != of:
		return cmp.Or(formatted, display, strings.TrimSpace(given+" "+family)), nil
	case display != od:
		return display, nil
	case given != "" && family != "":
		return given + " " + family, nil
	}
	words := strings.Fields(old)
	switch {
	case family != "" && len(words) >= 2:
		return strings.Join(words[:len(words)-1], " ") + " " + family, nil
	case family != "" && len(words) == 1:
		return words[0] + " " + family, nil
	case family != "":
		return family, nil
	case given != "" && len(words) >= 2:
		return given + " " + strings.Join(words[1:], " "), nil
	case given != "":
		return given, nil
	}
	return cmp.Or(formatted, display), nil
}

// chooseEmail returns the primary email, else the work one, else the first.
func chooseEmail(d map[string]any) (string, error) {
	var list []any
	switch v := d["emails"].(type) {
	case nil:
		return "", nil
	case []any:
		list = v
	default:
		return "", errorf(http.StatusBadRequest, "invalidValue", "emails must be an array")
	}
	var primary, work, first string
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return "", errorf(http.StatusBadRequest, "invalidValue", "each of emails must be an object with a value")
		}
		v, err := stringAttr(m, "value")
		if err != nil {
			return "", err
		}
		if v == "" {
			continue
		}
		first = cmp.Or(first, v)
		if b, _ := asBool(m["primary"]); b && primary == "" {
			primary = v
		}
		if t, _ := m["type"].(string); strings.EqualFold(t, "work") && work == "" {
			work = v
		}
	}
	return cmp.Or(primary, work, first), nil
}

func samePerson(a, b provisioning.Person) bool {
	return a.ID == b.ID && a.ExternalID == b.ExternalID && a.UserName == b.UserName && a.Email == b.Email &&
		a.Name == b.Name && a.Status == b.Status && a.OrgUnit == b.OrgUnit
}

func cause(r *http.Request) string {
	return "scim: " + r.Method + " " + strings.TrimPrefix(r.URL.Path, prefix)
}

// checkUserName fails with 409 when another person than self has
// userName (RFC 7643 §4.1.1: unique, case-insensitively).
func (s *server) checkUserName(tx provisioning.ReadTx, userName, self string) error {
	ids := []string{}
	if id, ok := s.idx.personByUserName(userName); ok {
		ids = append(ids, id)
	}
	for _, id := range ids {
		p, ok, err := tx.PersonByID(id)
		if err != nil {
			return err
		}
		if ok && p.ID != self && strings.EqualFold(userNameOf(p), userName) {
			return errorf(http.StatusConflict, "uniqueness", "userName %q is taken by user %s", userName, p.ID)
		}
	}
	if email, err := provisioning.NormalizeEmail(userName); err == nil {
		p, ok, err := tx.Person(email)
		if err != nil {
			return err
		}
		if ok && p.ID != self && strings.EqualFold(userNameOf(p), userName) {
			return errorf(http.StatusConflict, "uniqueness", "userName %q is taken by user %s", userName, p.ID)
		}
	}
	return nil
}

// checkEmail fails with 409 when another person than self has email.
func checkEmail(tx provisioning.ReadTx, email, self string) error {
	p, ok, err := tx.Person(email)
	if err != nil {
		return err
	}
	if ok && p.ID != self {
		return errorf(http.StatusConflict, "uniqueness", "the email is taken by user %s", p.ID)
	}
	return nil
}

func (h userHandlers) get(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	var p provisioning.Person
	var ok bool
	err := s.db.View(r.Context(), func(tx provisioning.ReadTx) (err error) {
		p, ok, err = tx.PersonByID(id)
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return notFound(s.user, id)
	}
	writeResource(w, r, s.user, http.StatusOK, s.userDoc(p, s.base(r)))
	return nil
}

var userProbes = map[string]bool{"userName": true, "emails": true, "externalId": true, "id": true}

func (h userHandlers) list(w http.ResponseWriter, r *http.Request) error {
	s := h.s
	return listResources(w, r, s, s.user, userProbes, s.userDoc,
		func(tx provisioning.ReadTx, fn func(provisioning.Person) error) error { return tx.ForEachPerson(fn) },
		s.usersFor)
}

// usersFor returns the people the probes find, in email order.
func (s *server) usersFor(tx provisioning.ReadTx, probes []probe) ([]provisioning.Person, error) {
	found := map[string]provisioning.Person{}
	byID := func(id string) error {
		p, ok, err := tx.PersonByID(id)
		if ok {
			found[p.ID] = p
		}
		return err
	}
	byEmail := func(v string) error {
		email, err := provisioning.NormalizeEmail(v)
		if err != nil {
			return nil // not an email: nobody has it
		}
		p, ok, err := tx.Person(email)
		if ok {
			found[p.ID] = p
		}
		return err
	}
	for _, pr := range probes {
		var err error
		switch pr.attr {
		case "userName":
			if id, ok := s.idx.personByUserName(pr.value); ok {
				err = byID(id)
			}
			if err == nil {
				err = byEmail(pr.value)
			}
		case "emails":
			err = byEmail(pr.value)
		case "externalId":
			if id, ok := s.idx.personByExternalID(pr.value); ok {
				err = byID(id)
			}
		case "id":
			err = byID(pr.value)
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]provisioning.Person, 0, len(found))
	for _, p := range found {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b provisioning.Person) int { return strings.Compare(a.Email, b.Email) })
	return out, nil
}

func (h userHandlers) create(w http.ResponseWriter, r *http.Request) error {
	s := h.s
	d, err := decodeResource(w, r, s.user)
	if err != nil {
		return err
	}
	p, err := s.parseUser(d, nil)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.ensureIndexLocked(ctx); err != nil {
		return err
	}
	var cur *provisioning.Person
	err = s.db.View(ctx, func(tx provisioning.ReadTx) error {
		cur = nil
		existing, ok, err := tx.Person(p.Email)
		if err != nil {
			return err
		}
		self := ""
		if ok {
			// A person Roster knows from elsewhere (a file import) has no
			// userName yet: the identity provider takes them over. One
			// created over SCIM already is a duplicate.
			if existing.UserName != "" {
				return errorf(http.StatusConflict, "uniqueness", "a user with this email exists: %s", existing.ID)
			}
			cur, self = &existing, existing.ID
		}
		return s.checkUserName(tx, p.UserName, self)
	})
	if err != nil {
		return err
	}
	if cur != nil {
		p.ID = cur.ID
	}
	np, err := s.writePerson(ctx, cur, p, cause(r))
	if err != nil {
		return err
	}
	writeResource(w, r, s.user, http.StatusCreated, s.userDoc(np, s.base(r)))
	return nil
}

// writePerson stores p, which was cur (nil: new), and returns it as
// stored. An unchanged person is not written. An update names the person
// by ID, so that a new email is a change of email, not a new person.
func (s *server) writePerson(ctx context.Context, cur *provisioning.Person, p provisioning.Person, cause string) (provisioning.Person, error) {
	if cur != nil && samePerson(*cur, p) {
		return *cur, nil
	}
	ch := provisioning.DirectoryChange{Upsert: []provisioning.Person{p}, By: "scim", Cause: cause}
	if err := s.apply(ctx, ch); err != nil {
		return provisioning.Person{}, err
	}
	var np provisioning.Person
	err := s.db.View(ctx, func(tx provisioning.ReadTx) error {
		var ok bool
		var err error
		np, ok, err = tx.Person(p.Email)
		if err == nil && !ok {
			err = fmt.Errorf("scim: the person written by %s is missing", cause)
		}
		return err
	})
	if err != nil {
		return provisioning.Person{}, err
	}
	s.idx.setPerson(cur, &np)
	return np, nil
}

// current reads person id for a replace, patch or delete.
func (s *server) current(ctx context.Context, id string) (provisioning.Person, error) {
	var p provisioning.Person
	var ok bool
	err := s.db.View(ctx, func(tx provisioning.ReadTx) (err error) {
		p, ok, err = tx.PersonByID(id)
		return err
	})
	if err == nil && !ok {
		err = notFound(s.user, id)
	}
	return p, err
}

func (h userHandlers) replace(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	d, err := decodeResource(w, r, s.user)
	if err != nil {
		return err
	}
	return s.updateUser(w, r, id, func(cur provisioning.Person) (provisioning.Person, error) {
		return s.parseUser(d, &cur)
	})
}

func (h userHandlers) patch(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	var req patchRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	base := s.base(r)
	return s.updateUser(w, r, id, func(cur provisioning.Person) (provisioning.Person, error) {
		d := s.userDoc(cur, base)
		if err := s.user.applyPatch(d, req.Operations); err != nil {
			return provisioning.Person{}, err
		}
		p, err := s.parseUser(d, &cur)
		if err != nil {
			return p, err
		}
		p.Name, err = nameAfterPatch(s.userDoc(cur, base), d, cur.Name)
		return p, err
	})
}

// updateUser replaces person id with what change makes of it.
func (s *server) updateUser(w http.ResponseWriter, r *http.Request, id string, change func(provisioning.Person) (provisioning.Person, error)) error {
	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.ensureIndexLocked(ctx); err != nil {
		return err
	}
	cur, err := s.current(ctx, id)
	if err != nil {
		return err
	}
	p, err := change(cur)
	if err != nil {
		return err
	}
	// The directory keeps an external ID a change leaves empty.
	p.ExternalID = cmp.Or(p.ExternalID, cur.ExternalID)
	err = s.db.View(ctx, func(tx provisioning.ReadTx) error {
		if err := checkEmail(tx, p.Email, cur.ID); err != nil {
			return err
		}
		return s.checkUserName(tx, p.UserName, cur.ID)
	})
	if err != nil {
		return err
	}
	np, err := s.writePerson(ctx, &cur, p, cause(r))
	if err != nil {
		return err
	}
	writeResource(w, r, s.user, http.StatusOK, s.userDoc(np, s.base(r)))
	return nil
}

func (h userHandlers) delete(w http.ResponseWriter, r *http.Request, id string) error {
	s := h.s
	ctx := r.Context()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur, err := s.current(ctx, id)
	if err != nil {
		return err
	}
	ch := provisioning.DirectoryChange{Delete: []string{cur.Email}, By: "scim", Cause: cause(r)}
	if err := s.apply(ctx, ch); err != nil {
		return err
	}
	s.idx.setPerson(&cur, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
