package provisioning

import (
	"cmp"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Directory is Roster's in-memory copy of the workspace directory, indexed
// for App Home: lookup by ID and email, and prefix search over names and
// emails that stays fast at 50,000 members. It is safe for concurrent use;
// searches run in parallel and wait only for a Put or Replace in progress.
//
// The order of listing is DisplayLabel lower-cased, then ID. Deactivated
// members are kept and listed (their Status says so); so are bots.
//
// # Index
//
// Each member has a stable slot (until the next Replace). order lists the
// slots in display order and rank is its inverse. The search index is a
// slice of (token, slot) sorted by token, so the tokens starting with a
// query word form one contiguous run found by binary search. Matches are
// collected in a bitset over ranks, so reading the bitset in order yields
// the results already sorted, without sorting, and its population count is
// the total.
//
// Put must stay cheap at 50,000 members, so it never moves the big token
// slice: when a member's tokens change it bumps the member's generation,
// which makes the old entries stale (searches skip them), and inserts the
// new ones into recent, a small sorted overlay searched alongside. When
// recent or the stale entries grow past a share of the index, one linear
// merge folds them back. A change of label moves the member in order
// (int32s, no pointers) and renumbers the ranks in between.
type Directory struct {
	mu      sync.RWMutex
	ix      dirIndex
	version atomic.Uint64
}

type dirIndex struct {
	slots   []dirEntry       // by slot
	gen     []uint32         // by slot: token entries of another generation are stale
	order   []int32          // slots in display order
	rank    []int32          // rank[slot] is slot's position in order
	byID    map[string]int32 // ID → slot
	byEmail map[string]int32 // lower-cased email → slot
	tokens  []dirToken       // sorted by compareTokens; may hold stale entries
	recent  []dirToken       // sorted; entries added by Put since the last merge
	stale   int              // stale entries in tokens and recent
}

type dirEntry struct {
	m   Member
	key string // strings.ToLower(m.DisplayLabel()), the sort key
}

type dirToken struct {
	text string
	slot int32
	gen  uint32
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{ix: dirIndex{byID: map[string]int32{}, byEmail: map[string]int32{}}}
}

// Version is a counter that changes on every change to the directory, for
// caches of views built from it.
func (d *Directory) Version() uint64 { return d.version.Load() }

// Len returns the number of members, deactivated ones included.
func (d *Directory) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.ix.slots)
}

// Replace makes ms the whole directory (the result of a full sync).
// Members without an ID are skipped; of several with one ID the last wins.
// The index is built before the lock is taken, so searches go on meanwhile;
// a Put that lands during that time is overwritten, so callers that mix
// the two serialise them (app's directory sync does).
func (d *Directory) Replace(ms []Member) {
	ix := dirIndex{
		slots:   make([]dirEntry, 0, len(ms)),
		byID:    make(map[string]int32, len(ms)),
		byEmail: make(map[string]int32, len(ms)),
	}
	for _, m := range ms {
		if m.ID == "" {
			continue
		}
		if s, ok := ix.byID[m.ID]; ok {
			ix.slots[s] = dirEntry{m: m, key: sortKey(m)}
			continue
		}
		ix.byID[m.ID] = int32(len(ix.slots))
		ix.slots = append(ix.slots, dirEntry{m: m, key: sortKey(m)})
	}
	n := len(ix.slots)
	ix.gen = make([]uint32, n)
	ix.order = make([]int32, n)
	ix.rank = make([]int32, n)
	for s := range ix.order {
		ix.order[s] = int32(s)
	}
	slices.SortFunc(ix.order, ix.compare)
	for r, s := range ix.order {
		ix.rank[s] = int32(r)
	}
	ix.tokens = make([]dirToken, 0, 4*n)
	var buf []string
	for s := range ix.slots {
		m := ix.slots[s].m
		if e := strings.ToLower(m.Email); e != "" {
			ix.byEmail[e] = int32(s)
		}
		buf = memberTokens(buf[:0], m)
		for _, t := range buf {
			ix.tokens = append(ix.tokens, dirToken{text: t, slot: int32(s)})
		}
	}
	slices.SortFunc(ix.tokens, compareTokens)

	d.mu.Lock()
	d.ix = ix
	d.version.Add(1)
	d.mu.Unlock()
}

// Put adds m, or replaces the member with m's ID (a team_join or
// user_change event), and re-indexes it. A member without an ID is
// ignored, and so is a Put that changes nothing.
func (d *Directory) Put(m Member) {
	if m.ID == "" {
		return
	}
	key := sortKey(m)
	toks := memberTokens(nil, m)

	d.mu.Lock()
	defer d.mu.Unlock()
	ix := &d.ix
	s, ok := ix.byID[m.ID]
	if ok && ix.slots[s].m == m {
		return
	}
	d.version.Add(1)
	if !ok {
		s = int32(len(ix.slots))
		ix.byID[m.ID] = s
		ix.slots = append(ix.slots, dirEntry{m: m, key: key})
		ix.gen = append(ix.gen, 0)
		ix.rank = append(ix.rank, 0)
		r := ix.insertOrder(s)
		ix.renumber(r, len(ix.order)-1)
		ix.setEmail(s, "", m.Email)
		ix.addTokens(s, toks)
		return
	}

	old := ix.slots[s]
	ix.slots[s] = dirEntry{m: m, key: key}
	ix.setEmail(s, old.m.Email, m.Email)
	if oldToks := memberTokens(nil, old.m); !slices.Equal(oldToks, toks) {
		ix.gen[s]++
		ix.stale += len(oldToks)
		ix.addTokens(s, toks)
	}
	if old.key != key {
		from := int(ix.rank[s])
		ix.order = slices.Delete(ix.order, from, from+1)
		to := ix.insertOrder(s)
		ix.renumber(min(from, to), max(from, to))
	}
}

// ByID returns the member with the Slack user ID id.
func (d *Directory) ByID(id string) (Member, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, ok := d.ix.byID[id]
	if !ok {
		return Member{}, false
	}
	return d.ix.slots[s].m, true
}

// ByEmail returns the member with email, compared case-insensitively.
func (d *Directory) ByEmail(email string) (Member, bool) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return Member{}, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, ok := d.ix.byEmail[email]
	if !ok {
		return Member{}, false
	}
	return d.ix.slots[s].m, true
}

// List returns the members from offset, up to limit, in display order,
// and the number of members. It is Search("", offset, limit).
func (d *Directory) List(offset, limit int) ([]Member, int) { return d.Search("", offset, limit) }

// Search returns the members matching q from offset, up to limit, in
// display order, and the number of members matching q.
//
// q is split into words at white space; a member matches when every word
// is, case-insensitively, a prefix of the member's email, handle, or a
// word of their real name or display name. So "lov" and "ada lov" find
// Ada Lovelace and "ada@" finds ada@example.com. A word of a name
// containing hyphens also matches from each part ("lee" finds
// Berners-Lee). An empty q matches everyone. A limit of zero or less
// returns only the total.
func (d *Directory) Search(q string, offset, limit int) ([]Member, int) {
	offset = max(offset, 0)
	words := strings.Fields(strings.ToLower(q))

	d.mu.RLock()
	defer d.mu.RUnlock()
	ix := &d.ix
	n := len(ix.order)
	if len(words) == 0 {
		if limit <= 0 || offset >= n {
			return nil, n
		}
		page := ix.order[offset:min(n, offset+limit)]
		out := make([]Member, len(page))
		for i, s := range page {
			out[i] = ix.slots[s].m
		}
		return out, n
	}

	// Match the narrowest word first: the others only filter its bitset.
	runs := make([]tokenRuns, len(words))
	for i, w := range words {
		runs[i] = tokenRuns{prefixRun(ix.tokens, w), prefixRun(ix.recent, w)}
	}
	slices.SortFunc(runs, func(a, b tokenRuns) int { return cmp.Compare(a.len(), b.len()) })
	if runs[0].len() == 0 {
		return nil, 0
	}
	match := make([]uint64, (n+63)/64)
	ix.mark(runs[0], match)
	if len(runs) > 1 {
		also := make([]uint64, len(match))
		for _, r := range runs[1:] {
			clear(also)
			ix.mark(r, also)
			for i := range match {
				match[i] &= also[i]
			}
		}
	}

	total := 0
	for _, w := range match {
		total += bits.OnesCount64(w)
	}
	if limit <= 0 || offset >= total {
		return nil, total
	}
	out := make([]Member, 0, min(limit, total-offset))
	skip := offset
	for i, w := range match {
		if c := bits.OnesCount64(w); skip >= c {
			skip -= c
			continue
		}
		for w != 0 {
			b := bits.TrailingZeros64(w)
			w &^= 1 << b
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, ix.slots[ix.order[i*64+b]].m)
			if len(out) == limit {
				return out, total
			}
		}
	}
	return out, total
}

// tokenRuns are the entries of tokens and of recent that start with one
// query word.
type tokenRuns struct{ base, recent []dirToken }

func (r tokenRuns) len() int { return len(r.base) + len(r.recent) }

// prefixRun returns the entries of the sorted ts whose text starts with w.
func prefixRun(ts []dirToken, w string) []dirToken {
	lo := sort.Search(len(ts), func(i int) bool { return ts[i].text >= w })
	ts = ts[lo:]
	return ts[:sort.Search(len(ts), func(i int) bool { return !strings.HasPrefix(ts[i].text, w) })]
}

// mark sets in set the rank of every member with a live entry in r.
func (ix *dirIndex) mark(r tokenRuns, set []uint64) {
	for _, run := range [2][]dirToken{r.base, r.recent} {
		for _, t := range run {
			if t.gen != ix.gen[t.slot] {
				continue
			}
			k := ix.rank[t.slot]
			set[k>>6] |= 1 << (k & 63)
		}
	}
}

// compare orders slots by sort key, then ID.
func (ix *dirIndex) compare(a, b int32) int {
	ea, eb := &ix.slots[a], &ix.slots[b]
	if c := strings.Compare(ea.key, eb.key); c != 0 {
		return c
	}
	return strings.Compare(ea.m.ID, eb.m.ID)
}

// insertOrder inserts slot s, which must not be in order, at its place
// and returns that position. rank is not updated.
func (ix *dirIndex) insertOrder(s int32) int {
	r, _ := slices.BinarySearchFunc(ix.order, s, ix.compare)
	ix.order = slices.Insert(ix.order, r, s)
	return r
}

// renumber sets rank for the positions from lo to hi inclusive.
func (ix *dirIndex) renumber(lo, hi int) {
	for r := lo; r <= hi; r++ {
		ix.rank[ix.order[r]] = int32(r)
	}
}

// addTokens adds slot s's tokens, of its current generation, to recent,
// and merges recent into tokens when it, or the stale entries, have grown
// past a share of the index: recent stays small enough to insert into
// cheaply, and a merge's linear cost is spread over many Puts.
func (ix *dirIndex) addTokens(s int32, toks []string) {
	for _, text := range toks {
		t := dirToken{text: text, slot: s, gen: ix.gen[s]}
		i, _ := slices.BinarySearchFunc(ix.recent, t, compareTokens)
		ix.recent = slices.Insert(ix.recent, i, t)
	}
	limit := max(dirMergeMin, len(ix.tokens)/32)
	if len(ix.recent) > limit || ix.stale > 4*limit {
		ix.merge()
	}
}

// dirMergeMin is the least size of recent that makes addTokens merge.
// Tests lower it to exercise merges in small directories.
var dirMergeMin = 1024

// merge folds recent into tokens and drops stale entries, in one pass.
func (ix *dirIndex) merge() {
	live := func(t dirToken) bool { return t.gen == ix.gen[t.slot] }
	out := make([]dirToken, 0, len(ix.tokens)+len(ix.recent)-ix.stale)
	a, b := ix.tokens, ix.recent
	for len(a) > 0 || len(b) > 0 {
		var t dirToken
		if len(b) == 0 || len(a) > 0 && compareTokens(a[0], b[0]) <= 0 {
			t, a = a[0], a[1:]
		} else {
			t, b = b[0], b[1:]
		}
		if live(t) {
			out = append(out, t)
		}
	}
	ix.tokens, ix.recent, ix.stale = out, nil, 0
}

// setEmail moves slot s's email entry from old to new. Slack's emails
// are unique, but while two accounts swap addresses events can show one
// email twice; the entry then names the latest, and when that one moves
// away it falls back to another holder (a scan, as email changes are rare).
func (ix *dirIndex) setEmail(s int32, old, new string) {
	old, new = strings.ToLower(old), strings.ToLower(new)
	if old == new {
		return
	}
	if cur, ok := ix.byEmail[old]; ok && cur == s {
		delete(ix.byEmail, old)
		for o := range ix.slots {
			if int32(o) != s && strings.EqualFold(ix.slots[o].m.Email, old) {
				ix.byEmail[old] = int32(o)
			}
		}
	}
	if new != "" {
		ix.byEmail[new] = s
	}
}

func compareTokens(a, b dirToken) int {
	if c := strings.Compare(a.text, b.text); c != 0 {
		return c
	}
	if c := cmp.Compare(a.slot, b.slot); c != 0 {
		return c
	}
	return cmp.Compare(a.gen, b.gen)
}

func sortKey(m Member) string { return strings.ToLower(m.DisplayLabel()) }

// memberTokens appends m's search tokens to dst, lower-cased and without
// duplicates: the email, the handle, and each word of the real name and
// display name, plus, for a word with hyphens, the part after each hyphen.
// Lower-casing an already lower-case string does not copy it, and the
// words are substrings, so tokens mostly share the member's own memory.
func memberTokens(dst []string, m Member) []string {
	add := func(t string) {
		if t != "" && !slices.Contains(dst, t) {
			dst = append(dst, t)
		}
	}
	add(strings.ToLower(m.Email))
	add(strings.ToLower(m.Name))
	for _, name := range [2]string{m.RealName, m.DisplayName} {
		for _, w := range strings.Fields(strings.ToLower(name)) {
			add(w)
			for i := strings.IndexByte(w, '-'); i >= 0; {
				w = w[i+1:]
				add(w)
				i = strings.IndexByte(w, '-')
			}
		}
	}
	return dst
}

// ActiveCount is the number of active (not deactivated) human members:
// the base of ROSTER_MAX_DEACTIVATIONS when it is a share.
func (d *Directory) ActiveCount() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := 0
	for _, slot := range d.ix.order {
		if m := d.ix.slots[slot].m; !m.Deleted && !m.IsBot {
			n++
		}
	}
	return n
}
