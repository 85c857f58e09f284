package provisioning_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
)

// testMembers is a small directory with the cases that matter: names with
// capitals, hyphens and accents, a deactivated member, a bot without an
// email, a member known only by handle, and two people with one name.
func testMembers() []provisioning.Member {
	return []provisioning.Member{
		{ID: "U01", Email: "Ada@Example.com", Name: "ada", RealName: "Ada Lovelace", DisplayName: "ada"},
		{ID: "U02", Email: "alan@example.com", Name: "alan.turing", RealName: "Alan Turing", DisplayName: "Alan T"},
		{ID: "U03", Email: "grace@example.com", Name: "grace", RealName: "Grace Hopper", Deleted: true},
		{ID: "U04", Email: "tim@example.com", Name: "timbl", RealName: "Tim Berners-Lee"},
		{ID: "U05", Name: "standup-bot", RealName: "Standup Bot", IsBot: true},
		{ID: "U06", Email: "emile@example.com", Name: "emile", RealName: "Émile Zola"},
		{ID: "U07", Email: "ghost@example.com", Name: "ghost"},
		{ID: "U09", Email: "ada2@example.com", Name: "ada.l", RealName: "Ada Lovelace"},
		{ID: "U08", Email: "ada3@example.com", Name: "ada.x", RealName: "ada lovelace"},
	}
}

func memberIDs(ms []provisioning.Member) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestDirectorySearch(t *testing.T) {
	d := provisioning.NewDirectory()
	d.Replace(testMembers())
	tests := []struct {
		name      string
		q         string
		want      []string
		wantTotal int
	}{
		// Labels compare by bytes after lower-casing, so "émile zola"
		// sorts after "tim berners-lee".
		{"empty lists everyone in label order", "", []string{"U01", "U08", "U09", "U02", "U07", "U03", "U05", "U04", "U06"}, 9},
		{"white space is empty", "  \t ", []string{"U01", "U08", "U09", "U02", "U07", "U03", "U05", "U04", "U06"}, 9},
		{"prefix of a last name", "lov", []string{"U01", "U08", "U09"}, 3},
		{"case-insensitive", "LOV", []string{"U01", "U08", "U09"}, 3},
		{"email prefix", "ada@", []string{"U01"}, 1},
		{"whole email, other case", "ADA@example.COM", []string{"U01"}, 1},
		{"handle prefix", "alan.t", []string{"U02"}, 1},
		{"display name word", "t", []string{"U02", "U04"}, 2},
		{"two words, both must match", "ada lov", []string{"U01", "U08", "U09"}, 3},
		{"two words in any order", "lovelace ada", []string{"U01", "U08", "U09"}, 3},
		{"two words that match different people", "ada turing", []string{}, 0},
		{"part of a hyphenated name", "lee", []string{"U04"}, 1},
		{"hyphenated name whole", "berners-lee", []string{"U04"}, 1},
		{"deactivated members are found", "grace", []string{"U03"}, 1},
		{"bots are found", "standup", []string{"U05"}, 1},
		{"accented capital", "émile", []string{"U06"}, 1},
		{"accented capital, upper-case query", "ÉMILE ZOLA", []string{"U06"}, 1},
		{"not a prefix", "ovelace", []string{}, 0},
		{"domain is not a word", "example", []string{}, 0},
		{"no match", "zzz", []string{}, 0},
		{"ID is not searched", "U01", []string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := d.Search(tt.q, 0, 100)
			if diff := cmp.Diff(tt.want, memberIDs(got)); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", tt.q, diff)
			}
			if total != tt.wantTotal {
				t.Errorf("Search(%q) total = %d, want %d", tt.q, total, tt.wantTotal)
			}
		})
	}
}

func TestDirectoryPaging(t *testing.T) {
	d := provisioning.NewDirectory()
	d.Replace(testMembers())
	all, _ := d.List(0, 100)
	tests := []struct {
		name          string
		q             string
		offset, limit int
		want          []string
		wantTotal     int
	}{
		{"first page", "", 0, 4, memberIDs(all[:4]), 9},
		{"second page", "", 4, 4, memberIDs(all[4:8]), 9},
		{"last, short page", "", 8, 4, memberIDs(all[8:]), 9},
		{"past the end", "", 9, 4, []string{}, 9},
		{"negative offset is zero", "", -3, 2, memberIDs(all[:2]), 9},
		{"zero limit: total only", "", 0, 0, []string{}, 9},
		{"negative limit: total only", "a", 0, -1, []string{}, 4},
		{"search, first page", "ada", 0, 2, []string{"U01", "U08"}, 3},
		{"search, second page", "ada", 2, 2, []string{"U09"}, 3},
		{"search, past the end", "ada", 3, 2, []string{}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := d.Search(tt.q, tt.offset, tt.limit)
			if diff := cmp.Diff(tt.want, memberIDs(got)); diff != "" {
				t.Errorf("Search(%q, %d, %d) (-want +got):\n%s", tt.q, tt.offset, tt.limit, diff)
			}
			if total != tt.wantTotal {
				t.Errorf("Search(%q, %d, %d) total = %d, want %d", tt.q, tt.offset, tt.limit, total, tt.wantTotal)
			}
		})
	}
}

func TestDirectoryLookups(t *testing.T) {
	d := provisioning.NewDirectory()
	if _, ok := d.ByID("U01"); ok {
		t.Errorf("ByID on an empty directory found a member")
	}
	d.Replace(testMembers())
	tests := []struct {
		name   string
		lookup func() (provisioning.Member, bool)
		wantID string // "" means not found
	}{
		{"ByID", func() (provisioning.Member, bool) { return d.ByID("U03") }, "U03"},
		{"ByID unknown", func() (provisioning.Member, bool) { return d.ByID("U99") }, ""},
		{"ByID is exact", func() (provisioning.Member, bool) { return d.ByID("u03") }, ""},
		{"ByEmail stored with capitals", func() (provisioning.Member, bool) { return d.ByEmail("ada@example.com") }, "U01"},
		{"ByEmail asked with capitals", func() (provisioning.Member, bool) { return d.ByEmail(" ALAN@Example.com ") }, "U02"},
		{"ByEmail deactivated", func() (provisioning.Member, bool) { return d.ByEmail("grace@example.com") }, "U03"},
		{"ByEmail unknown", func() (provisioning.Member, bool) { return d.ByEmail("nobody@example.com") }, ""},
		{"ByEmail empty is not the bot", func() (provisioning.Member, bool) { return d.ByEmail("") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := tt.lookup()
			if ok != (tt.wantID != "") || m.ID != tt.wantID {
				t.Errorf("lookup = %q, %v; want %q, %v", m.ID, ok, tt.wantID, tt.wantID != "")
			}
		})
	}
	if got := d.Len(); got != 9 {
		t.Errorf("Len() = %d, want 9", got)
	}
}

func TestDirectoryReplace(t *testing.T) {
	d := provisioning.NewDirectory()
	d.Replace(testMembers())
	v := d.Version()
	d.Replace([]provisioning.Member{
		{ID: "U1", Email: "old@example.com", RealName: "Old Name"},
		{ID: ""}, // skipped
		{ID: "U2", RealName: "Bea"},
		{ID: "U1", Email: "new@example.com", RealName: "New Name"}, // the last of one ID wins
	})
	if d.Version() == v {
		t.Errorf("Version() unchanged by Replace")
	}
	got, total := d.List(0, 10)
	if diff := cmp.Diff([]string{"U2", "U1"}, memberIDs(got)); diff != "" || total != 2 {
		t.Errorf("List after Replace = %v total %d (-want +got):\n%s", memberIDs(got), total, diff)
	}
	if m, _ := d.ByID("U1"); m.RealName != "New Name" {
		t.Errorf("ByID(U1).RealName = %q, want %q", m.RealName, "New Name")
	}
	if _, ok := d.ByEmail("old@example.com"); ok {
		t.Errorf("ByEmail(old@example.com) found a member; the later record has another email")
	}
	if ms, _ := d.Search("old", 0, 10); len(ms) != 0 {
		t.Errorf("Search(old) = %v, want none", memberIDs(ms))
	}
	if ms, _ := d.Search("lov", 0, 10); len(ms) != 0 {
		t.Errorf("Search(lov) after Replace = %v, want none: Replace drops everyone not in it", memberIDs(ms))
	}
	d.Replace(nil)
	if got := d.Len(); got != 0 {
		t.Errorf("Len after Replace(nil) = %d, want 0", got)
	}
}

func TestDirectoryPut(t *testing.T) {
	ada := provisioning.Member{ID: "U01", Email: "ada@example.com", Name: "ada", RealName: "Ada Lovelace"}
	tests := []struct {
		name        string
		put         provisioning.Member
		wantVersion bool                // Version changes
		search      map[string][]string // query → IDs afterwards
		byEmail     map[string]string   // email → ID afterwards ("" = none)
	}{
		{
			name:        "same record changes nothing",
			put:         ada,
			wantVersion: false,
			search:      map[string][]string{"ada": {"U01"}, "": {"U01", "U02", "U03"}},
		},
		{
			name:        "new member is listed at its place",
			put:         provisioning.Member{ID: "U04", Email: "bea@example.com", RealName: "Bea Bell"},
			wantVersion: true,
			search:      map[string][]string{"": {"U01", "U02", "U04", "U03"}, "bell": {"U04"}},
			byEmail:     map[string]string{"BEA@example.com": "U04"},
		},
		{
			name:        "rename moves the member and its words",
			put:         provisioning.Member{ID: "U01", Email: "ada@example.com", Name: "ada", RealName: "Zelda Byron"},
			wantVersion: true,
			search:      map[string][]string{"": {"U02", "U03", "U01"}, "lov": {}, "byron": {"U01"}, "ada": {"U01"}},
		},
		{
			name:        "email change",
			put:         provisioning.Member{ID: "U01", Email: "ada.king@example.com", Name: "ada", RealName: "Ada Lovelace"},
			wantVersion: true,
			search:      map[string][]string{"ada@": {}, "ada.king@": {"U01"}},
			byEmail:     map[string]string{"ada@example.com": "", "ada.king@example.com": "U01"},
		},
		{
			name:        "deactivation keeps the member listed",
			put:         provisioning.Member{ID: "U01", Email: "ada@example.com", Name: "ada", RealName: "Ada Lovelace", Deleted: true},
			wantVersion: true,
			search:      map[string][]string{"": {"U01", "U02", "U03"}, "ada": {"U01"}},
			byEmail:     map[string]string{"ada@example.com": "U01"},
		},
		{
			name:        "empty ID is ignored",
			put:         provisioning.Member{RealName: "Nobody"},
			wantVersion: false,
			search:      map[string][]string{"nobody": {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := provisioning.NewDirectory()
			d.Replace([]provisioning.Member{
				ada,
				{ID: "U02", Email: "alan@example.com", Name: "alan", RealName: "Alan Turing"},
				{ID: "U03", Email: "grace@example.com", Name: "grace", RealName: "Grace Hopper"},
			})
			v := d.Version()
			d.Put(tt.put)
			if changed := d.Version() != v; changed != tt.wantVersion {
				t.Errorf("Version changed = %v, want %v", changed, tt.wantVersion)
			}
			if tt.put.ID != "" {
				if got, _ := d.ByID(tt.put.ID); got != tt.put {
					t.Errorf("ByID(%s) = %+v, want %+v", tt.put.ID, got, tt.put)
				}
			}
			for q, want := range tt.search {
				got, total := d.Search(q, 0, 10)
				if diff := cmp.Diff(want, memberIDs(got)); diff != "" || total != len(want) {
					t.Errorf("Search(%q) total %d (-want +got):\n%s", q, total, diff)
				}
			}
			for email, want := range tt.byEmail {
				m, _ := d.ByEmail(email)
				if m.ID != want {
					t.Errorf("ByEmail(%q) = %q, want %q", email, m.ID, want)
				}
			}
		})
	}
}

// naiveSearch is the specification of Search, written plainly: every
// member whose words all match, sorted by label and ID.
func naiveSearch(ms map[string]provisioning.Member, q string) []string {
	words := strings.Fields(strings.ToLower(q))
	var hits []provisioning.Member
	for _, m := range ms {
		var toks []string
		toks = append(toks, strings.ToLower(m.Email), strings.ToLower(m.Name))
		for _, w := range strings.Fields(strings.ToLower(m.RealName + " " + m.DisplayName)) {
			parts := strings.Split(w, "-")
			for i := range parts {
				toks = append(toks, strings.Join(parts[i:], "-"))
			}
		}
		ok := true
		for _, w := range words {
			ok = ok && slices.ContainsFunc(toks, func(t string) bool { return t != "" && strings.HasPrefix(t, w) })
		}
		if ok {
			hits = append(hits, m)
		}
	}
	slices.SortFunc(hits, func(a, b provisioning.Member) int {
		if c := strings.Compare(strings.ToLower(a.DisplayLabel()), strings.ToLower(b.DisplayLabel())); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return memberIDs(hits)
}

// TestDirectoryPutMatchesRebuild applies random Puts (new members,
// renames, email and flag changes, no-ops) and checks after each that
// searches and lookups agree with the plain specification and with a
// directory built from scratch: once with the overlay of recent tokens
// merged every few Puts, once never merged.
func TestDirectoryPutMatchesRebuild(t *testing.T) {
	for _, mergeMin := range []int{4, 1 << 20} {
		t.Run(fmt.Sprintf("mergeMin=%d", mergeMin), func(t *testing.T) {
			defer provisioning.SetDirectoryMergeMin(mergeMin)()
			testPutMatchesRebuild(t)
		})
	}
}

func testPutMatchesRebuild(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	firsts := []string{"Ada", "Alan", "Grace", "Tim", "Ann", "Anna", "Bo", ""}
	lasts := []string{"Lovelace", "Turing", "Hopper", "Berners-Lee", "Anders", "Bo", ""}
	random := func(id string) provisioning.Member {
		first, last := firsts[r.IntN(len(firsts))], lasts[r.IntN(len(lasts))]
		m := provisioning.Member{ID: id, RealName: strings.TrimSpace(first + " " + last), Deleted: r.IntN(5) == 0}
		if r.IntN(4) > 0 {
			m.Name = strings.ToLower(first) + fmt.Sprint(r.IntN(3))
		}
		if r.IntN(4) > 0 {
			m.Email = fmt.Sprintf("%s%d@Example.com", strings.ToLower(first), r.IntN(3))
		}
		if r.IntN(3) == 0 {
			m.DisplayName = lasts[r.IntN(len(lasts))]
		}
		return m
	}
	ref := map[string]provisioning.Member{}
	var initial []provisioning.Member
	for i := range 40 {
		m := random(fmt.Sprintf("U%03d", i))
		ref[m.ID] = m
		initial = append(initial, m)
	}
	d := provisioning.NewDirectory()
	d.Replace(initial)
	queries := []string{"", "a", "ad", "ada", "an", "ann", "lov", "lee", "berners-lee", "b", "bo", "ada lov",
		"a t", "ada0@", "example", "z", "hopper grace", "t"}
	for step := range 150 {
		id := fmt.Sprintf("U%03d", r.IntN(60)) // about a third are new
		m := random(id)
		if old, ok := ref[id]; ok && r.IntN(6) == 0 {
			m = old // a no-op Put
		}
		d.Put(m)
		ref[id] = m

		rebuilt := provisioning.NewDirectory()
		rebuilt.Replace(slices.Collect(maps.Values(ref)))
		for _, q := range queries {
			want := naiveSearch(ref, q)
			got, total := d.Search(q, 0, 1000)
			if diff := cmp.Diff(want, memberIDs(got)); diff != "" || total != len(want) {
				t.Fatalf("step %d, Put(%+v): Search(%q) total %d, want %d (-want +got):\n%s", step, m, q, total, len(want), diff)
			}
			again, _ := rebuilt.Search(q, 0, 1000)
			if diff := cmp.Diff(memberIDs(again), memberIDs(got)); diff != "" {
				t.Fatalf("step %d: Search(%q) differs from a rebuilt directory (-rebuilt +put):\n%s", step, q, diff)
			}
			// Every page of 7 is the matching slice of the full result.
			for off := 0; off < len(want); off += 7 {
				page, _ := d.Search(q, off, 7)
				if diff := cmp.Diff(want[off:min(off+7, len(want))], memberIDs(page)); diff != "" {
					t.Fatalf("step %d: Search(%q, %d, 7) (-want +got):\n%s", step, q, off, diff)
				}
			}
		}
		// Emails repeat here, which Slack does only briefly: ByEmail must
		// find one of the holders, and nobody for an email no one has.
		for _, m := range ref {
			if m.Email == "" {
				continue
			}
			got, ok := d.ByEmail(m.Email)
			if !ok || !strings.EqualFold(got.Email, m.Email) {
				t.Fatalf("step %d: ByEmail(%q) = %+v, %v", step, m.Email, got, ok)
			}
		}
		for _, e := range []string{"ada0@example.com", "bo2@example.com", "0@example.com"} {
			got, ok := d.ByEmail(e)
			held := slices.ContainsFunc(slices.Collect(maps.Values(ref)), func(m provisioning.Member) bool { return strings.EqualFold(m.Email, e) })
			if ok != held || ok && !strings.EqualFold(got.Email, e) {
				t.Fatalf("step %d: ByEmail(%q) = %q, %v; held by someone: %v", step, e, got.Email, ok, held)
			}
		}
		if d.Len() != len(ref) {
			t.Fatalf("step %d: Len() = %d, want %d", step, d.Len(), len(ref))
		}
	}
}

func TestDirectoryConcurrent(t *testing.T) {
	d := provisioning.NewDirectory()
	d.Replace(generated(2000))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 300 {
				d.Search([]string{"a", "ada lov", "", "grace"}[i%4], i%50, 25)
				d.ByEmail(fmt.Sprintf("x%d@example.com", i))
				d.Version()
			}
		})
		wg.Go(func() {
			for i := range 300 {
				d.Put(provisioning.Member{ID: fmt.Sprintf("UW%d-%d", w, i%40), RealName: fmt.Sprintf("Worker %d %d", w, i)})
			}
		})
	}
	wg.Go(func() { d.Replace(generated(2000)) })
	wg.Wait()
	if got := d.Len(); got < 2000 || got > 2000+4*40 {
		t.Errorf("Len() after concurrent Puts = %d, want 2000…2160", got)
	}
}

// generated returns n members like fakeslack.GenerateMembers(n, 1) as
// users.list shows them (the display name is the handle).
func generated(n int) []provisioning.Member {
	us := fakeslack.GenerateMembers(n, 1)
	out := make([]provisioning.Member, len(us))
	for i, u := range us {
		out[i] = provisioning.Member{
			ID: u.ID, Email: u.Email, Name: u.Name, RealName: u.RealName, DisplayName: u.Name,
			Deleted: u.Deleted, IsOwner: u.IsOwner, IsPrimaryOwner: u.IsPrimaryOwner, IsAdmin: u.IsAdmin,
			IsBot: u.IsBot, IsRestricted: u.IsRestricted, IsUltraRestricted: u.IsUltraRestricted, Updated: u.Updated,
		}
	}
	return out
}
