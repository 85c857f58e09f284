package provisioning

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// This file implements the directory contract of orgdir.go: the one
// entitlement function every decision uses, directory changes, grants to
// groups and org units, and held deactivations.

// Entitlement returns whether email is entitled and why.
func (s *Service) Entitlement(ctx context.Context, email string) (Entitlement, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Entitlement{}, err
	}
	var ent Entitlement
	err = s.store.View(ctx, func(tx ReadTx) error {
		var err error
		ent, err = s.entitlement(tx, email, s.opt.Now())
		return err
	})
	if err != nil {
		return Entitlement{}, fmt.Errorf("entitlement %s: %w", email, err)
	}
	return ent, nil
}

// Entitlements returns the entitlement of each email (normalized ones), in
// one transaction that resolves the directory grants once: App Home asks
// for a page of members at a time.
func (s *Service) Entitlements(ctx context.Context, emails []string) ([]Entitlement, error) {
	out := make([]Entitlement, len(emails))
	now := s.opt.Now()
	err := s.store.View(ctx, func(tx ReadTx) error {
		r, err := loadReach(tx)
		if err != nil {
			return err
		}
		for i, email := range emails {
			if out[i], err = entitle(tx, r, email, now, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("entitlements: %w", err)
	}
	return out, nil
}

// entitlement is the one definition of "entitled", used by jobs, Status,
// requests and expiry: a live assignment, or, when the directory has the
// person and their account is enabled, a grant on one of their groups or on
// their org unit or a parent unit. A disabled directory account entitles
// nobody, whatever else they have. email must be normalized.
func (s *Service) entitlement(tx ReadTx, email string, now time.Time) (Entitlement, error) {
	r, err := loadReach(tx)
	if err != nil {
		return Entitlement{}, err
	}
	return entitle(tx, r, email, now, true)
}

// reach is the directory grants of one transaction, resolved once for
// the many entitlement checks a change makes.
type reach struct {
	groups []grantedGroup // grants on groups that exist
	units  []grantedUnit
}

type grantedGroup struct{ id, name string }

type grantedUnit struct{ lower, path string }

func loadReach(tx ReadTx) (*reach, error) {
	grants, err := tx.Grants()
	if err != nil {
		return nil, err
	}
	r := &reach{}
	for _, g := range grants {
		switch g.Kind {
		case GrantGroup:
			grp, ok, err := tx.GroupByName(g.Target)
			if err != nil {
				return nil, err
			}
			if ok { // a grant outlives its group: it is inert until the name returns
				r.groups = append(r.groups, grantedGroup{grp.ID, grp.Name})
			}
		case GrantOrgUnit:
			r.units = append(r.units, grantedUnit{strings.ToLower(g.Target), g.Target})
		}
	}
	return r, nil
}

// ReasonDisabled is the one reason given when a disabled directory account
// overrides everything else.
const ReasonDisabled = "directory account disabled"

// entitle computes email's entitlement against the grants in r. With all
// false it stops at the first reason (Reasons then holds just that one).
func entitle(tx ReadTx, r *reach, email string, now time.Time, all bool) (Entitlement, error) {
	p, inDir, err := tx.Person(email)
	if err != nil {
		return Entitlement{}, err
	}
	if inDir && p.Status == PersonDisabled {
		return Entitlement{Disabled: true, Reasons: []string{ReasonDisabled}}, nil
	}
	as, err := tx.Assignments(email)
	if err != nil {
		return Entitlement{}, err
	}
	var e Entitlement
	done := func() bool { return !all && len(e.Reasons) > 0 }
	for _, a := range as {
		if a.Live(now) {
			e.Reasons = append(e.Reasons, assignmentReason(a))
			if done() {
				break
			}
		}
	}
	if inDir && !done() {
		for _, g := range r.groups {
			ok, err := tx.InGroup(p.ID, g.id)
			if err != nil {
				return Entitlement{}, err
			}
			if ok {
				e.Reasons = append(e.Reasons, "via group "+g.name)
				if done() {
					break
				}
			}
		}
	}
	if inDir && !done() && p.OrgUnit != "" {
		unit := strings.ToLower(p.OrgUnit)
		for _, u := range r.units {
			if unitCovers(u.lower, unit) {
				e.Reasons = append(e.Reasons, "via "+u.path)
				if done() {
					break
				}
			}
		}
	}
	e.Entitled = len(e.Reasons) > 0
	return e, nil
}

// assignmentReason is a in words: "direct (by U123)", "request req-…
// (until 2026-03-04 09:00 UTC)", "adopted".
func assignmentReason(a Assignment) string {
	var r string
	var details []string
	switch a.Source {
	case SourceDirect:
		r = "direct"
		if a.GrantedBy != "" {
			details = append(details, "by "+a.GrantedBy)
		}
	case SourceRequest:
		r = "request " + a.Ref
	case SourceGroup:
		r = "via group " + a.Ref
	case SourceOrgUnit:
		r = "via " + a.Ref
	case SourceAdopted:
		r = "adopted"
	default:
		r = strings.TrimSpace(string(a.Source) + " " + a.Ref)
	}
	if !a.ExpiresAt.IsZero() {
		details = append(details, "until "+a.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	if len(details) > 0 {
		r += " (" + strings.Join(details, ", ") + ")"
	}
	return strings.TrimSpace(r)
}

// unitCovers reports whether org unit unit is grant or below it; both
// lower-cased and normalized. "/engineering" covers
// "/engineering/platform" but not "/engineering2".
func unitCovers(grant, unit string) bool {
	return unit == grant || (strings.HasPrefix(unit, grant) && len(unit) > len(grant) && unit[len(grant)] == '/')
}

// NormalizeOrgUnit returns path as Roster stores org units: a leading "/",
// no trailing "/", no empty segments, spaces trimmed around each segment
// ("Engineering/ Platform/" becomes "/Engineering/Platform"). An empty
// path (or "/") is "", no org unit. "." and ".." segments and control
// characters are refused (ErrInvalid). Case is kept; comparisons ignore it.
func NormalizeOrgUnit(path string) (string, error) {
	if strings.ContainsFunc(path, unicode.IsControl) {
		return "", fmt.Errorf("org unit %q contains a control character: %w", path, ErrInvalid)
	}
	var segs []string
	for seg := range strings.SplitSeq(path, "/") {
		seg = strings.TrimSpace(seg)
		switch seg {
		case "":
			continue
		case ".", "..":
			return "", fmt.Errorf("org unit %q: %q is not allowed in a path like /Engineering/Platform: %w", path, seg, ErrInvalid)
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return "", nil
	}
	return "/" + strings.Join(segs, "/"), nil
}

// RecordError rejects a DirectoryChange because of one of its records.
// It wraps ErrInvalid, and Err, which says why (and may wrap ErrNotFound
// for an unknown ID, or ErrDuplicate for an email or name taken).
type RecordError struct {
	// Kind says which list of the change holds the record: "person"
	// (Upsert), "deleted person" (Delete), "group" (UpsertGroups) or
	// "deleted group" (DeleteGroups).
	Kind string
	// Index is the record's position in that list, from 0.
	Index int
	// Name is the record's email or group name as given.
	Name string
	Err  error
}

func (e *RecordError) Error() string {
	msg := strings.TrimSuffix(e.Err.Error(), ": "+ErrInvalid.Error())
	if e.Name == "" {
		return fmt.Sprintf("%s #%d: %s", e.Kind, e.Index+1, msg)
	}
	return fmt.Sprintf("%s %q: %s", e.Kind, e.Name, msg)
}

func (e *RecordError) Unwrap() []error { return []error{e.Err, ErrInvalid} }

// validateChange checks and normalizes every record of ch without reading
// the store: emails, statuses, org units, names, and records named twice.
func validateChange(ch DirectoryChange) (DirectoryChange, error) {
	out := ch
	out.Upsert = make([]Person, len(ch.Upsert))
	emails := make(map[string]int, len(ch.Upsert))
	ids := map[string]int{}
	for i, p := range ch.Upsert {
		bad := func(err error) error { return &RecordError{Kind: "person", Index: i, Name: p.Email, Err: err} }
		email, err := NormalizeEmail(p.Email)
		if err != nil {
			return out, bad(err)
		}
		if j, dup := emails[email]; dup {
			return out, bad(fmt.Errorf("%s appears twice (also person #%d): %w", email, j+1, ErrInvalid))
		}
		emails[email] = i
		if p.ID != "" {
			if j, dup := ids[p.ID]; dup {
				return out, bad(fmt.Errorf("ID %s appears twice (also person #%d): %w", p.ID, j+1, ErrInvalid))
			}
			ids[p.ID] = i
		}
		switch strings.ToLower(strings.TrimSpace(string(p.Status))) {
		case "", string(PersonEnabled):
			p.Status = PersonEnabled
		case string(PersonDisabled):
			p.Status = PersonDisabled
		default:
			return out, bad(fmt.Errorf("status %q is neither enabled nor disabled: %w", p.Status, ErrInvalid))
		}
		if p.OrgUnit, err = NormalizeOrgUnit(p.OrgUnit); err != nil {
			return out, bad(err)
		}
		p.Email, p.Name = email, strings.TrimSpace(p.Name)
		out.Upsert[i] = p
	}
	out.Delete = make([]string, 0, len(ch.Delete))
	for i, e := range ch.Delete {
		email, err := NormalizeEmail(e)
		if err != nil {
			return out, &RecordError{Kind: "deleted person", Index: i, Name: e, Err: err}
		}
		if _, both := emails[email]; both {
			return out, &RecordError{Kind: "deleted person", Index: i, Name: e, Err: fmt.Errorf("%s is both updated and deleted: %w", email, ErrInvalid)}
		}
		out.Delete = append(out.Delete, email)
	}
	out.UpsertGroups = make([]GroupInput, len(ch.UpsertGroups))
	names := make(map[string]int, len(ch.UpsertGroups))
	gids := map[string]int{}
	for i, g := range ch.UpsertGroups {
		bad := func(err error) error { return &RecordError{Kind: "group", Index: i, Name: g.Name, Err: err} }
		g.Name = strings.TrimSpace(g.Name)
		if g.Name == "" {
			return out, bad(fmt.Errorf("group without a name: %w", ErrInvalid))
		}
		if strings.ContainsFunc(g.Name, unicode.IsControl) {
			return out, bad(fmt.Errorf("group name contains a control character: %w", ErrInvalid))
		}
		key := strings.ToLower(g.Name)
		if j, dup := names[key]; dup {
			return out, bad(fmt.Errorf("group %q appears twice (also group #%d): %w", g.Name, j+1, ErrInvalid))
		}
		names[key] = i
		if g.ID != "" {
			if j, dup := gids[g.ID]; dup {
				return out, bad(fmt.Errorf("group ID %s appears twice (also group #%d): %w", g.ID, j+1, ErrInvalid))
			}
			gids[g.ID] = i
		}
		members := make([]string, 0, len(g.MemberEmails))
		for _, m := range g.MemberEmails {
			email, err := NormalizeEmail(m)
			if err != nil {
				return out, bad(fmt.Errorf("member: %w", err))
			}
			members = append(members, email)
		}
		slices.Sort(members)
		g.MemberEmails = slices.Compact(members)
		out.UpsertGroups[i] = g
	}
	out.DeleteGroups = make([]string, 0, len(ch.DeleteGroups))
	for i, n := range ch.DeleteGroups {
		name := strings.TrimSpace(n)
		if name == "" {
			return out, &RecordError{Kind: "deleted group", Index: i, Name: n, Err: fmt.Errorf("group without a name: %w", ErrInvalid)}
		}
		if _, both := names[strings.ToLower(name)]; both {
			return out, &RecordError{Kind: "deleted group", Index: i, Name: n, Err: fmt.Errorf("group %q is both updated and deleted: %w", name, ErrInvalid)}
		}
		out.DeleteGroups = append(out.DeleteGroups, name)
	}
	if out.By == "" {
		out.By = System
	}
	if out.Cause == "" {
		out.Cause = "directory change"
		if out.Full {
			out.Cause = "full directory sync"
		}
	}
	return out, nil
}

// dirPlan is what one DirectoryChange does, worked out against the store
// before anything is written.
type dirPlan struct {
	people       []personOp
	deletes      []Person
	groups       []groupOp
	groupDeletes []Group
	// affected lists the emails whose entitlement the change may alter,
	// each once; touched counts the people the change names.
	affected []string
	seen     map[string]bool
	touched  int
}

type personOp struct {
	old     Person
	had     bool
	new     Person
	changed bool
}

type groupOp struct {
	old     Group
	had     bool
	new     Group
	changed bool
}

func (p *dirPlan) affect(email string) {
	if email != "" && !p.seen[email] {
		p.seen[email] = true
		p.affected = append(p.affected, email)
	}
}

// planChange matches the records of ch (validated) with the store, gives
// new people and groups their IDs, and collects the affected emails. It
// writes nothing but IDs.
func planChange(tx Tx, ch DirectoryChange, now time.Time) (*dirPlan, error) {
	p := &dirPlan{seen: map[string]bool{}}
	touched := map[string]bool{}
	matched := make(map[string]bool, len(ch.Upsert)) // person IDs upserted
	byEmail := make(map[string]string, len(ch.Upsert))
	movedFrom := map[string]bool{} // old emails of people whose email changes
	// In email order, so that a large import writes the store's people and
	// ID index (IDs are time-ordered) in key order.
	order := make([]int, len(ch.Upsert))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ch.Upsert[a].Email, ch.Upsert[b].Email) })
	for _, i := range order {
		in := ch.Upsert[i]
		bad := func(err error) error { return &RecordError{Kind: "person", Index: i, Name: in.Email, Err: err} }
		var old Person
		var had bool
		var err error
		if in.ID != "" {
			if old, had, err = tx.PersonByID(in.ID); err != nil {
				return nil, err
			}
			if !had {
				return nil, bad(fmt.Errorf("no person has ID %s: %w", in.ID, ErrNotFound))
			}
			if old.Email != in.Email {
				if other, taken, err := tx.Person(in.Email); err != nil {
					return nil, err
				} else if taken {
					return nil, bad(fmt.Errorf("%s belongs to another person (%s): %w", in.Email, other.ID, ErrDuplicate))
				}
			}
		} else if old, had, err = tx.Person(in.Email); err != nil {
			return nil, err
		}
		if had && matched[old.ID] {
			return nil, bad(fmt.Errorf("names the same person (%s) as another record: %w", old.ID, ErrInvalid))
		}
		op := personOp{old: old, had: had, new: in}
		op.new.CreatedAt, op.new.UpdatedAt = now, now
		if had {
			op.new.ID, op.new.CreatedAt = old.ID, old.CreatedAt
			// A file import knows no IdP IDs: keep those SCIM set.
			op.new.ExternalID = cmp.Or(in.ExternalID, old.ExternalID)
			op.new.UserName = cmp.Or(in.UserName, old.UserName)
			op.changed = op.new.Email != old.Email || op.new.Name != old.Name || op.new.Status != old.Status ||
				op.new.OrgUnit != old.OrgUnit || op.new.ExternalID != old.ExternalID || op.new.UserName != old.UserName
			if !op.changed {
				op.new.UpdatedAt = old.UpdatedAt
			}
			if old.Email != in.Email {
				movedFrom[old.Email] = true
				p.affect(old.Email)
				touched[old.Email] = true
			}
		} else {
			id, err := tx.NewID("p")
			if err != nil {
				return nil, err
			}
			op.new.ID, op.changed = id, true
		}
		matched[op.new.ID] = true
		byEmail[in.Email] = op.new.ID
		touched[in.Email] = true
		if op.changed && (!had || op.new.Status != old.Status || op.new.OrgUnit != old.OrgUnit || op.new.Email != old.Email) {
			p.affect(in.Email)
		}
		p.people = append(p.people, op)
	}

	deleted := map[string]bool{} // person IDs
	for i, email := range ch.Delete {
		old, ok, err := tx.Person(email)
		if err != nil {
			return nil, err
		}
		if !ok || deleted[old.ID] {
			continue // already gone: deleting is idempotent
		}
		if matched[old.ID] {
			return nil, &RecordError{Kind: "deleted person", Index: i, Name: email, Err: fmt.Errorf("%s is both updated (under a new email) and deleted: %w", email, ErrInvalid)}
		}
		deleted[old.ID] = true
		p.deletes = append(p.deletes, old)
	}
	if ch.Full {
		err := tx.ForEachPerson(func(old Person) error {
			if !matched[old.ID] && !deleted[old.ID] {
				deleted[old.ID] = true
				p.deletes = append(p.deletes, old)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, d := range p.deletes {
		p.affect(d.Email)
		touched[d.Email] = true
	}

	// idAfter is the ID of the person with email once the change is made.
	idAfter := func(email string) (string, bool, error) {
		if id, ok := byEmail[email]; ok {
			return id, true, nil
		}
		if movedFrom[email] || ch.Full {
			return "", false, nil
		}
		old, ok, err := tx.Person(email)
		if err != nil || !ok || deleted[old.ID] {
			return "", false, err
		}
		return old.ID, true, nil
	}
	// emailOf is the email, before the change, of person id.
	emailOf := func(id string) (string, error) {
		old, ok, err := tx.PersonByID(id)
		if err != nil || !ok {
			return "", err
		}
		return old.Email, nil
	}

	groupsMatched := map[string]bool{}
	for i, in := range ch.UpsertGroups {
		bad := func(err error) error { return &RecordError{Kind: "group", Index: i, Name: in.Name, Err: err} }
		var old Group
		var had bool
		var err error
		if in.ID != "" {
			if old, had, err = tx.Group(in.ID); err != nil {
				return nil, err
			}
			if !had {
				return nil, bad(fmt.Errorf("no group has ID %s: %w", in.ID, ErrNotFound))
			}
			if !strings.EqualFold(old.Name, in.Name) {
				if other, taken, err := tx.GroupByName(in.Name); err != nil {
					return nil, err
				} else if taken {
					return nil, bad(fmt.Errorf("the name %q belongs to another group (%s): %w", in.Name, other.ID, ErrDuplicate))
				}
			}
		} else if old, had, err = tx.GroupByName(in.Name); err != nil {
			return nil, err
		}
		if had && groupsMatched[old.ID] {
			return nil, bad(fmt.Errorf("names the same group (%s) as another record: %w", old.ID, ErrInvalid))
		}
		members := make([]string, 0, len(in.MemberEmails))
		emails := make(map[string]string, len(in.MemberEmails)) // member ID → email after the change
		for _, email := range in.MemberEmails {
			id, ok, err := idAfter(email)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, bad(fmt.Errorf("member %s is not in the directory: %w", email, ErrInvalid))
			}
			members = append(members, id)
			emails[id] = email
		}
		slices.Sort(members)
		members = slices.Compact(members)
		op := groupOp{old: old, had: had, new: Group{ID: old.ID, ExternalID: cmp.Or(in.ExternalID, old.ExternalID), Name: in.Name,
			Members: members, CreatedAt: old.CreatedAt, UpdatedAt: now}}
		if !had {
			id, err := tx.NewID("g")
			if err != nil {
				return nil, err
			}
			op.new.ID, op.new.CreatedAt, op.changed = id, now, true
		} else {
			op.changed = old.Name != in.Name || old.ExternalID != op.new.ExternalID || !slices.Equal(old.Members, members)
			if !op.changed {
				op.new.UpdatedAt = old.UpdatedAt
			}
		}
		groupsMatched[op.new.ID] = true
		// Who may gain or lose access: everyone in a group that is new or
		// renamed (a grant may name the new name), else those who joined
		// or left.
		renamed := had && !strings.EqualFold(old.Name, in.Name)
		for _, id := range symmetricDiff(old.Members, members, !had || renamed) {
			email, ok := emails[id]
			if !ok { // a member who left
				if email, err = emailOf(id); err != nil {
					return nil, err
				}
			}
			p.affect(email)
			touched[email] = true
		}
		p.groups = append(p.groups, op)
	}

	groupDeleted := map[string]bool{}
	deleteGroup := func(g Group) error {
		groupDeleted[g.ID] = true
		p.groupDeletes = append(p.groupDeletes, g)
		for _, id := range g.Members {
			email, err := emailOf(id)
			if err != nil {
				return err
			}
			p.affect(email)
			touched[email] = true
		}
		return nil
	}
	for i, name := range ch.DeleteGroups {
		g, ok, err := tx.GroupByName(name)
		if err != nil {
			return nil, err
		}
		if !ok || groupDeleted[g.ID] {
			continue
		}
		if groupsMatched[g.ID] {
			return nil, &RecordError{Kind: "deleted group", Index: i, Name: name, Err: fmt.Errorf("group %q is both updated (under a new name) and deleted: %w", name, ErrInvalid)}
		}
		if err := deleteGroup(g); err != nil {
			return nil, err
		}
	}
	if ch.Full {
		var absent []Group
		err := tx.ForEachGroup(func(g Group) error {
			if !groupsMatched[g.ID] && !groupDeleted[g.ID] {
				absent = append(absent, g)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, g := range absent {
			if err := deleteGroup(g); err != nil {
				return nil, err
			}
		}
	}
	p.touched = len(touched)
	return p, nil
}

// symmetricDiff returns the IDs in exactly one of the sorted lists a and
// b, or, with all, every ID in either.
func symmetricDiff(a, b []string, all bool) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			if all {
				out = append(out, a[i])
			}
			i, j = i+1, j+1
		}
	}
	return out
}

// apply writes the plan: groups deleted, people stored, groups stored
// (a renamed group's grants follow it), people deleted.
func (p *dirPlan) apply(tx Tx) error {
	for _, g := range p.groupDeletes {
		if err := tx.DeleteGroup(g.ID); err != nil {
			return err
		}
	}
	for _, op := range p.people {
		if op.changed {
			if err := tx.PutPerson(op.new); err != nil {
				return err
			}
		}
	}
	var changed []Group
	for _, op := range p.groups {
		if op.changed {
			changed = append(changed, op.new)
		}
	}
	if err := tx.PutGroups(changed); err != nil {
		return err
	}
	var grants []DirectoryGrant
	for _, op := range p.groups {
		if !op.changed || !op.had || strings.EqualFold(op.old.Name, op.new.Name) {
			continue
		}
		if grants == nil {
			var err error
			if grants, err = tx.Grants(); err != nil {
				return err
			}
		}
		if err := followRename(tx, grants, op.old.Name, op.new.Name); err != nil {
			return err
		}
	}
	for _, d := range p.deletes {
		if err := tx.DeletePerson(d.Email); err != nil {
			return err
		}
	}
	return nil
}

// followRename moves a grant on group from to group to, unless to has one.
func followRename(tx Tx, grants []DirectoryGrant, from, to string) error {
	i := slices.IndexFunc(grants, func(g DirectoryGrant) bool { return g.Kind == GrantGroup && strings.EqualFold(g.Target, from) })
	if i < 0 {
		return nil
	}
	if err := tx.DeleteGrant(GrantGroup, from); err != nil {
		return err
	}
	if slices.ContainsFunc(grants, func(g DirectoryGrant) bool { return g.Kind == GrantGroup && strings.EqualFold(g.Target, to) }) {
		return nil
	}
	g := grants[i]
	g.Target = to
	return tx.PutGrant(g)
}

// entitledAll returns, for each email, whether it is entitled now.
func entitledAll(tx ReadTx, emails []string, now time.Time) ([]bool, error) {
	r, err := loadReach(tx)
	if err != nil {
		return nil, err
	}
	// Many people against many granted groups: read the memberships once
	// rather than seek once per person and group.
	var etx ReadTx = tx
	if len(emails)*len(r.groups) > 20000 {
		if etx, err = newMemberIndex(tx); err != nil {
			return nil, err
		}
	}
	out := make([]bool, len(emails))
	for i, email := range emails {
		e, err := entitle(etx, r, email, now, false)
		if err != nil {
			return nil, err
		}
		out[i] = e.Entitled
	}
	return out, nil
}

// flips fills res.Invites and res.Deactivate from the entitlement of
// emails before and after a change, sorted.
func flips(res *DirectoryResult, emails []string, before, after []bool) {
	for i, email := range emails {
		switch {
		case after[i] && !before[i]:
			res.Invites = append(res.Invites, email)
		case before[i] && !after[i]:
			res.Deactivate = append(res.Deactivate, email)
		}
	}
	slices.Sort(res.Invites)
	slices.Sort(res.Deactivate)
}

// holdLimit is ROSTER_MAX_DEACTIVATIONS as it stands for one change.
type holdLimit struct {
	on            bool
	limit, active int
}

func (s *Service) holdLimit() holdLimit {
	if s.opt.MaxDeactivations == nil || s.opt.ActiveMembers == nil {
		return holdLimit{}
	}
	active := s.opt.ActiveMembers()
	return holdLimit{on: true, limit: s.opt.MaxDeactivations(active), active: active}
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// settle queues the jobs res calls for, in tx: one per newly entitled
// email, and one per email no longer entitled unless there are more of
// those than the limit allows and the change touched more than one
// person: then the deactivations are stored as a pending HeldChange and
// the returned error wraps ErrHeld. With dry, it only fills res (Jobs and
// Held, without an ID) and writes nothing.
//
// Directory jobs are started by System: an admin who assigns a group is not
// sent one message per person.
func (s *Service) settle(tx Tx, res *DirectoryResult, touched int, cause, by string, lim holdLimit, now time.Time, dry bool) error {
	hold := lim.on && len(res.Deactivate) > lim.limit && touched > 1
	res.Jobs = len(res.Invites)
	if !hold {
		res.Jobs += len(res.Deactivate)
	}
	if hold {
		res.Held = &HeldChange{Cause: cause, By: by, Emails: slices.Clone(res.Deactivate), State: HeldPending,
			CreatedAt: now, ActiveCount: lim.active}
	}
	if dry {
		return nil
	}
	for _, email := range res.Invites {
		if _, err := s.enqueue(tx, email, ActionInvite, System, now); err != nil {
			return err
		}
	}
	if !hold {
		for _, email := range res.Deactivate {
			if _, err := s.enqueue(tx, email, ActionDeactivate, System, now); err != nil {
				return err
			}
		}
		return nil
	}
	id, err := tx.NewID("held")
	if err != nil {
		return err
	}
	res.Held.ID = id
	if err := tx.PutHeldChange(*res.Held); err != nil {
		return err
	}
	detail := fmt.Sprintf("held change %s (%s): %d deactivations wait for an admin's confirmation; the limit is %d with %d active members",
		id, cause, len(res.Deactivate), lim.limit, lim.active)
	if _, err := tx.AppendAudit(AuditEvent{At: now, Actor: by, Action: "directory.held", Outcome: "held", Detail: detail}); err != nil {
		return err
	}
	return heldError(*res.Held, lim.limit)
}

func heldError(h HeldChange, limit int) error {
	return fmt.Errorf("%s would deactivate %d people, more than ROSTER_MAX_DEACTIVATIONS allows at once (%d of %d active members); held change %s waits for an admin's confirmation in App Home: %w",
		h.Cause, len(h.Emails), limit, h.ActiveCount, h.ID, ErrHeld)
}

// ApplyDirectory makes one change to the directory in one transaction and,
// in the same transaction, queues a job for every email whose entitlement
// it turns on (invite or reactivate) or off (deactivate). People are
// matched by ID when one is given (which lets SCIM change an email), else
// by email; groups by ID when given (a rename; grants on the group follow
// it), else by name, case-insensitively. A person's ExternalID and
// UserName are kept when the change leaves them empty; Name, Status
// (empty: enabled) and OrgUnit are replaced. A group's MemberEmails
// replace its members, who must be in the directory once the change is
// made. Deleting a person or group the directory does not have is not an
// error. A deleted group's grants stay, inert, until withdrawn.
//
// Everything is validated first: an invalid record rejects the whole
// change with a *RecordError (wrapping ErrInvalid) and nothing is
// written.
//
// When the change deactivates more people than Options.MaxDeactivations
// allows and touches more than one person, those deactivations are not
// queued: they are stored as a pending HeldChange (Result.Held) and the
// error wraps ErrHeld; the rest of the change is committed. With DryRun,
// the result (including what would be held, without an ID) is computed
// and nothing is written; the error is then nil.
func (s *Service) ApplyDirectory(ctx context.Context, ch DirectoryChange) (DirectoryResult, error) {
	in, err := validateChange(ch)
	if err != nil {
		return DirectoryResult{}, fmt.Errorf("directory change: %w", err)
	}
	lim := s.holdLimit()
	now := s.opt.Now().UTC()
	var res DirectoryResult
	var held error
	err = s.store.Update(ctx, func(tx Tx) error {
		res, held = DirectoryResult{}, nil
		p, err := planChange(tx, in, now)
		if err != nil {
			return err
		}
		before, err := entitledAll(tx, p.affected, now)
		if err != nil {
			return err
		}
		if err := p.apply(tx); err != nil {
			return err
		}
		after, err := entitledAll(tx, p.affected, now)
		if err != nil {
			return err
		}
		flips(&res, p.affected, before, after)
		for _, op := range p.people {
			switch {
			case !op.had:
				res.PeopleAdded++
			case op.changed:
				res.PeopleUpdated++
			}
		}
		for _, op := range p.groups {
			switch {
			case !op.had:
				res.GroupsAdded++
			case op.changed:
				res.GroupsUpdated++
			}
		}
		res.PeopleDeleted, res.GroupsDeleted = len(p.deletes), len(p.groupDeletes)
		held = s.settle(tx, &res, p.touched, in.Cause, in.By, lim, now, in.DryRun)
		if held != nil && !errors.Is(held, ErrHeld) {
			return held
		}
		if in.DryRun {
			return errDryRun
		}
		detail := fmt.Sprintf("%s: people +%d ~%d -%d, groups +%d ~%d -%d; %d newly entitled, %d no longer entitled; %d job(s)",
			in.Cause, res.PeopleAdded, res.PeopleUpdated, res.PeopleDeleted, res.GroupsAdded, res.GroupsUpdated, res.GroupsDeleted,
			len(res.Invites), len(res.Deactivate), res.Jobs)
		if res.Held != nil {
			detail += ", deactivations held as " + res.Held.ID
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: in.By, Action: "directory.change", Outcome: "ok", Detail: detail})
		return err
	})
	switch {
	case errors.Is(err, errDryRun):
		return res, nil
	case err != nil:
		return DirectoryResult{}, fmt.Errorf("directory change: %w", err)
	}
	if res.Jobs > 0 {
		s.Wake()
	}
	if held != nil {
		return res, fmt.Errorf("directory change: %w", held)
	}
	return res, nil
}

// grantTarget checks and normalizes a grant's target: a group name
// (trimmed) or an org unit path (NormalizeOrgUnit, not empty).
func grantTarget(kind GrantKind, target string) (string, error) {
	switch kind {
	case GrantGroup:
		t := strings.TrimSpace(target)
		if t == "" {
			return "", fmt.Errorf("name a directory group, like group:Contractors: %w", ErrInvalid)
		}
		return t, nil
	case GrantOrgUnit:
		t, err := NormalizeOrgUnit(target)
		if err != nil {
			return "", err
		}
		if t == "" {
			return "", fmt.Errorf("name an org unit, like ou:/Engineering: %w", ErrInvalid)
		}
		return t, nil
	}
	return "", fmt.Errorf("unknown grant kind %q (group or org-unit): %w", kind, ErrInvalid)
}

// describeGrant is "group NAME" or "org unit /PATH".
func describeGrant(kind GrantKind, target string) string {
	if kind == GrantOrgUnit {
		return "org unit " + target
	}
	return "group " + target
}

// reachedBy returns the emails of the people, enabled or not, that a
// grant of kind on target reaches now: the group's members, or everyone in
// the org unit or below it.
func reachedBy(tx ReadTx, kind GrantKind, target string) ([]string, error) {
	var out []string
	switch kind {
	case GrantGroup:
		g, ok, err := tx.GroupByName(target)
		if err != nil || !ok {
			return nil, err
		}
		for _, id := range g.Members {
			p, ok, err := tx.PersonByID(id)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, p.Email)
			}
		}
		slices.Sort(out)
	case GrantOrgUnit:
		unit := strings.ToLower(target)
		err := tx.ForEachPerson(func(p Person) error {
			if p.OrgUnit != "" && unitCovers(unit, strings.ToLower(p.OrgUnit)) {
				out = append(out, p.Email)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GrantDirectory assigns access to every enabled member of a group (which
// must exist: ErrNotFound), or of an org unit and its sub-units (which need
// not have anyone yet), and queues a job for each person it newly
// entitles, in one transaction. A grant on the same target replaces the
// earlier one. The result lists those people in Invites.
func (s *Service) GrantDirectory(ctx context.Context, g DirectoryGrant) (DirectoryResult, error) {
	target, err := grantTarget(g.Kind, g.Target)
	if err != nil {
		return DirectoryResult{}, fmt.Errorf("assign %s: %w", describeGrant(g.Kind, g.Target), err)
	}
	g.Target = target
	if g.GrantedBy == "" {
		g.GrantedBy = System
	}
	now := s.opt.Now().UTC()
	g.CreatedAt = now
	var res DirectoryResult
	err = s.store.Update(ctx, func(tx Tx) error {
		res = DirectoryResult{}
		if g.Kind == GrantGroup {
			grp, ok, err := tx.GroupByName(g.Target)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("the directory has no group named %q: %w", g.Target, ErrNotFound)
			}
			g.Target = grp.Name
		}
		reached, err := reachedBy(tx, g.Kind, g.Target)
		if err != nil {
			return err
		}
		before, err := entitledAll(tx, reached, now)
		if err != nil {
			return err
		}
		if err := tx.PutGrant(g); err != nil {
			return err
		}
		after, err := entitledAll(tx, reached, now)
		if err != nil {
			return err
		}
		flips(&res, reached, before, after)
		if err := s.settle(tx, &res, len(reached), "", g.GrantedBy, holdLimit{}, now, false); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s reaches %d people; %d newly entitled, %d job(s)", describeGrant(g.Kind, g.Target), len(reached), len(res.Invites), res.Jobs)
		if g.Reason != "" {
			detail += ", reason: " + g.Reason
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: g.GrantedBy, Action: "directory.grant", Outcome: "ok", Detail: detail})
		return err
	})
	if err != nil {
		return DirectoryResult{}, fmt.Errorf("assign %s: %w", describeGrant(g.Kind, g.Target), err)
	}
	if res.Jobs > 0 {
		s.Wake()
	}
	return res, nil
}

// PreviewGrant returns the emails of the enabled people a grant of kind on
// target would newly entitle: those it reaches who are not entitled now,
// sorted. A group must exist (ErrNotFound).
func (s *Service) PreviewGrant(ctx context.Context, kind GrantKind, target string) ([]string, error) {
	t, err := grantTarget(kind, target)
	if err != nil {
		return nil, fmt.Errorf("preview %s: %w", describeGrant(kind, target), err)
	}
	now := s.opt.Now()
	var out []string
	err = s.store.View(ctx, func(tx ReadTx) error {
		out = nil
		if kind == GrantGroup {
			grp, ok, err := tx.GroupByName(t)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("the directory has no group named %q: %w", t, ErrNotFound)
			}
			t = grp.Name
		}
		reached, err := reachedBy(tx, kind, t)
		if err != nil {
			return err
		}
		r, err := loadReach(tx)
		if err != nil {
			return err
		}
		for _, email := range reached {
			e, err := entitle(tx, r, email, now, false)
			if err != nil {
				return err
			}
			if !e.Entitled && !e.Disabled {
				out = append(out, email)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("preview %s: %w", describeGrant(kind, t), err)
	}
	return out, nil
}

// WithdrawDirectory deletes the grant of kind on target (ErrNotFound if
// there is none) and queues a deactivation for each person it alone
// entitled, in one transaction. More deactivations than
// Options.MaxDeactivations allows are held, as in ApplyDirectory: the
// grant is withdrawn, Result.Held is the pending HeldChange and the error
// wraps ErrHeld.
func (s *Service) WithdrawDirectory(ctx context.Context, kind GrantKind, target, by string) (DirectoryResult, error) {
	return s.withdraw(ctx, kind, target, by, false)
}

// PreviewWithdraw returns what withdrawing the grant would do (Deactivate:
// the people it would leave without access; Held when over the limit),
// changing nothing.
func (s *Service) PreviewWithdraw(ctx context.Context, kind GrantKind, target string) (DirectoryResult, error) {
	return s.withdraw(ctx, kind, target, System, true)
}

func (s *Service) withdraw(ctx context.Context, kind GrantKind, target, by string, dry bool) (DirectoryResult, error) {
	t, err := grantTarget(kind, target)
	if err != nil {
		return DirectoryResult{}, fmt.Errorf("withdraw %s: %w", describeGrant(kind, target), err)
	}
	if by == "" {
		by = System
	}
	lim := s.holdLimit()
	now := s.opt.Now().UTC()
	var res DirectoryResult
	var held error
	err = s.store.Update(ctx, func(tx Tx) error {
		res, held = DirectoryResult{}, nil
		grants, err := tx.Grants()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(grants, func(g DirectoryGrant) bool { return g.Kind == kind && strings.EqualFold(g.Target, t) })
		if i < 0 {
			return fmt.Errorf("no access is assigned to %s: %w", describeGrant(kind, t), ErrNotFound)
		}
		t = grants[i].Target
		reached, err := reachedBy(tx, kind, t)
		if err != nil {
			return err
		}
		before, err := entitledAll(tx, reached, now)
		if err != nil {
			return err
		}
		if err := tx.DeleteGrant(kind, t); err != nil {
			return err
		}
		after, err := entitledAll(tx, reached, now)
		if err != nil {
			return err
		}
		flips(&res, reached, before, after)
		cause := "grant withdrawn: " + describeGrant(kind, t)
		held = s.settle(tx, &res, len(reached), cause, by, lim, now, dry)
		if held != nil && !errors.Is(held, ErrHeld) {
			return held
		}
		if dry {
			return errDryRun
		}
		detail := fmt.Sprintf("%s: reached %d people; %d no longer entitled, %d job(s)", describeGrant(kind, t), len(reached), len(res.Deactivate), res.Jobs)
		if res.Held != nil {
			detail += ", deactivations held as " + res.Held.ID
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: by, Action: "directory.withdraw", Outcome: "ok", Detail: detail})
		return err
	})
	if errors.Is(err, errDryRun) {
		return res, nil
	}
	if err != nil {
		return DirectoryResult{}, fmt.Errorf("withdraw %s: %w", describeGrant(kind, t), err)
	}
	if res.Jobs > 0 {
		s.Wake()
	}
	if held != nil {
		return res, fmt.Errorf("withdraw %s: %w", describeGrant(kind, t), held)
	}
	return res, nil
}

// DirectoryGrants returns every grant to a group or org unit, groups
// first, each kind by target.
func (s *Service) DirectoryGrants(ctx context.Context) ([]DirectoryGrant, error) {
	var out []DirectoryGrant
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		out, err = tx.Grants()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory grants: %w", err)
	}
	return out, nil
}

// ConfirmHeld lets a held change's deactivations go: it marks it
// confirmed and queues a deactivation job for each of its emails, in one
// transaction. Each job re-reads the entitlement when it runs, so anyone
// entitled again meanwhile keeps their account. A change not pending is
// refused (ErrAlreadyDecided), and the refusal audited.
func (s *Service) ConfirmHeld(ctx context.Context, id, by string) (HeldChange, error) {
	return s.decideHeld(ctx, id, by, true)
}

// DiscardHeld drops a held change: it is marked discarded and nobody is
// deactivated. A change not pending is refused (ErrAlreadyDecided).
func (s *Service) DiscardHeld(ctx context.Context, id, by string) (HeldChange, error) {
	return s.decideHeld(ctx, id, by, false)
}

func (s *Service) decideHeld(ctx context.Context, id, by string, confirm bool) (HeldChange, error) {
	if by == "" {
		by = System
	}
	action, state := "held.discard", HeldDiscarded
	if confirm {
		action, state = "held.confirm", HeldConfirmed
	}
	now := s.opt.Now().UTC()
	var h HeldChange
	var refusal error
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		refusal = nil
		if h, err = tx.HeldChange(id); err != nil {
			return err
		}
		if h.State != HeldPending {
			refusal = fmt.Errorf("held change %s was %s by %s at %s: %w", id, h.State, orSystem(h.DecidedBy), h.DecidedAt.Format("2006-01-02 15:04 MST"), ErrAlreadyDecided)
			_, err := tx.AppendAudit(AuditEvent{At: now, Actor: by, Action: action, Outcome: "refused", Detail: innerText(refusal)})
			return err
		}
		h.State, h.DecidedBy, h.DecidedAt = state, by, now
		if err := tx.PutHeldChange(h); err != nil {
			return err
		}
		if confirm {
			for _, email := range h.Emails {
				if _, err := s.enqueue(tx, email, ActionDeactivate, System, now); err != nil {
					return err
				}
			}
		}
		detail := fmt.Sprintf("held change %s (%s): %d deactivations", h.ID, h.Cause, len(h.Emails))
		if confirm {
			detail += " queued"
		} else {
			detail += " dropped"
		}
		_, err = tx.AppendAudit(AuditEvent{At: now, Actor: by, Action: action, Outcome: "ok", Detail: detail})
		return err
	})
	if err != nil {
		return HeldChange{}, fmt.Errorf("%s %s: %w", strings.TrimPrefix(action, "held."), id, err)
	}
	if refusal != nil {
		return h, refusal
	}
	if confirm && len(h.Emails) > 0 {
		s.Wake()
	}
	return h, nil
}
