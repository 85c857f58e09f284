package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roster-app/roster/app"
	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func importCmd(t *testing.T, e map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Main(append([]string{"directory", "import"}, args...), getenv(e), &out, &errOut)
	return code, out.String(), errOut.String()
}

func people(t *testing.T, dbPath string) map[string]provisioning.Person {
	t.Helper()
	db, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]provisioning.Person{}
	err = db.View(context.Background(), func(tx provisioning.ReadTx) error {
		return tx.ForEachPerson(func(p provisioning.Person) error { out[p.Email] = p; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The import command with the bot stopped: dry-run changes nothing, a full
// import records the directory, a malformed file is refused with its line
// and changes nothing, and --partial only adds and updates.
func TestDirectoryImportOffline(t *testing.T) {
	dir := t.TempDir()
	e := map[string]string{"ROSTER_DB": filepath.Join(dir, "roster.db")}
	full := writeFile(t, dir, "people.csv", "email,name,status,org_unit,groups\n"+
		"ada@example.com,Ada,enabled,/Engineering/Platform,Contractors\n"+
		"bob@example.com,Bob,enabled,/Sales,\n"+
		"cy@example.com,Cy,disabled,/Engineering,Contractors\n")
	code, out, errOut := importCmd(t, e, full, "--dry-run")
	if code != 0 || !strings.Contains(out, "3 would be added") {
		t.Fatalf("dry run = %d, %q, %q", code, out, errOut)
	}
	if p := people(t, e["ROSTER_DB"]); len(p) != 0 {
		t.Fatalf("dry run stored %d people", len(p))
	}
	if code, out, errOut = importCmd(t, e, full); code != 0 {
		t.Fatalf("import = %d, %q, %q", code, out, errOut)
	}
	p := people(t, e["ROSTER_DB"])
	if len(p) != 3 || p["cy@example.com"].Status != provisioning.PersonDisabled || p["ada@example.com"].OrgUnit != "/Engineering/Platform" {
		t.Fatalf("people = %+v", p)
	}
	bad := writeFile(t, dir, "bad.json", "[\n {\"email\": \"dee@example.com\"},\n {\"email\": \"not an email\"}\n]\n")
	code, _, errOut = importCmd(t, e, bad)
	if code != 1 || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("malformed import = %d, %q; want 1 naming line 3", code, errOut)
	}
	if p := people(t, e["ROSTER_DB"]); len(p) != 3 {
		t.Errorf("a malformed import changed the directory: %d people", len(p))
	}
	partial := writeFile(t, dir, "more.json", `[{"email": "dee@example.com", "name": "Dee", "groups": ["Contractors"]}]`)
	if code, out, errOut = importCmd(t, e, partial, "--partial"); code != 0 {
		t.Fatalf("partial import = %d, %q, %q", code, out, errOut)
	}
	if p := people(t, e["ROSTER_DB"]); len(p) != 4 {
		t.Errorf("after --partial: %d people, want 4 (nobody deleted)", len(p))
	}
	if code, _, _ = importCmd(t, e, partial); code != 0 {
		t.Fatal("full import failed")
	}
	if p := people(t, e["ROSTER_DB"]); len(p) != 1 {
		t.Errorf("after a full import of one person: %d people, want 1", len(p))
	}
	if code, _, errOut = importCmd(t, e); code != 2 {
		t.Errorf("no file: exit %d (%q), want 2", code, errOut)
	}
}

// Access assigned to a group follows its members, end to end: the grant
// invites them; an import that removes one from the group deactivates
// them; a full import that drops more people than ROSTER_MAX_DEACTIVATIONS
// is held until an admin confirms it in App Home.
func TestGroupAccessFollowsTheDirectory(t *testing.T) {
	fs := newFake(t)
	dir := t.TempDir()
	e := env(fs, dir, map[string]string{"ROSTER_MAX_DEACTIVATIONS": "2"})
	var rows []string
	for i := range 5 {
		rows = append(rows, fmt.Sprintf("crew%d@example.com,Crew %d,enabled,/Ops,Contractors", i, i))
	}
	header := "email,name,status,org_unit,groups\n"
	file := writeFile(t, dir, "crew.csv", header+strings.Join(rows, "\n")+"\n")
	if code, out, errOut := importCmd(t, e, file); code != 0 {
		t.Fatalf("import = %d, %q, %q", code, out, errOut)
	}
	b := startBot(t, fs, e)
	waitFor(t, "directory sync", func() bool { _, ok := b.app.Directory.ByEmail(fakeslack.DemoMemberEmail); return ok })

	got := command(t, fs, fakeslack.DemoAdminID, "assign group:Contractors summer crew")
	if !strings.Contains(got, "5 people") || !strings.Contains(got, blocks.ActionGrantConfirm) {
		t.Fatalf("preview = %q, want 5 people and a confirm button", got)
	}
	if len(fs.SCIMWrites()) != 0 {
		t.Fatalf("the preview provisioned something")
	}
	value := between(got, `"action_id":"`+blocks.ActionGrantConfirm+`"`, `"value":"`, `"`)
	click(t, fs, fakeslack.DemoAdminID, blocks.ActionGrantConfirm, value)
	waitFor(t, "5 invites", func() bool { return countWrites(fs, http.MethodPost) == 5 })
	// App Home says why they have access.
	waitFor(t, "crew1 in the directory copy", func() bool { _, ok := b.app.Directory.ByEmail("crew1@example.com"); return ok })
	openHome(t, fs, fakeslack.DemoAdminID)
	before := len(fs.Calls("views.publish"))
	click(t, fs, fakeslack.DemoAdminID, blocks.ActionHomeSearch, "crew1")
	waitFor(t, "search published", func() bool { return len(fs.Calls("views.publish")) > before })
	if home := homeText(t, fs, fakeslack.DemoAdminID); !strings.Contains(home, "crew1@example.com") || !strings.Contains(home, "via group Contractors") {
		t.Errorf("admin Home does not say crew1 has access via group Contractors")
	}

	// crew0 leaves the group: one person, not held.
	file = writeFile(t, dir, "crew.csv", header+strings.Replace(strings.Join(rows, "\n"), "/Ops,Contractors", "/Ops,", 1)+"\n")
	if code, out, errOut := importCmd(t, e, file); code != 0 {
		t.Fatalf("import through the bot = %d, %q, %q", code, out, errOut)
	}
	waitFor(t, "crew0 deactivated", func() bool { u, _ := fs.UserByEmail("crew0@example.com"); return u.Deleted })

	// Everyone else leaves the directory: 4 deactivations > 2 → held.
	file = writeFile(t, dir, "crew.csv", header+"crew0@example.com,Crew 0,enabled,/Ops,\n")
	code, out, errOut := importCmd(t, e, file)
	if code != 3 || !strings.Contains(errOut, "held") {
		t.Fatalf("big import = %d, %q, %q; want exit 3, held", code, out, errOut)
	}
	// Nothing was queued for the held people: their last job is the invite.
	err := b.app.DB.View(t.Context(), func(tx provisioning.ReadTx) error {
		for i := 1; i < 5; i++ {
			js, err := tx.JobsForEmail(fmt.Sprintf("crew%d@example.com", i), 1)
			if err != nil {
				return err
			}
			if len(js) != 1 || js[0].Intent == provisioning.ActionDeactivate {
				t.Errorf("crew%d: last job %+v, want the invite only while held", i, js)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	home := openHome(t, fs, fakeslack.DemoAdminID, "crew1@example.com", blocks.ActionHeldConfirm)
	heldID := between(home, `"action_id":"`+blocks.ActionHeldConfirm, `"value":"`, `"`)
	click(t, fs, fakeslack.DemoAdminID, blocks.ActionHeldConfirm+":0", heldID)
	for i := 1; i < 5; i++ {
		waitFor(t, fmt.Sprintf("crew%d deactivated", i), func() bool { u, _ := fs.UserByEmail(fmt.Sprintf("crew%d@example.com", i)); return u.Deleted })
	}
}

func countWrites(fs *fakeslack.Server, method string) int {
	n := 0
	for _, w := range fs.SCIMWrites() {
		if w.Method == method {
			n++
		}
	}
	return n
}

// between returns the text after the first `after` that follows `anchor`,
// up to `until`.
func between(s, anchor, after, until string) string {
	_, rest, _ := strings.Cut(s, anchor)
	_, rest, _ = strings.Cut(rest, after)
	v, _, _ := strings.Cut(rest, until)
	return strings.ReplaceAll(v, `\u0026`, "&")
}

// roster reconcile through the running bot: a dry run plans, the first run
// adopts, drift beyond ROSTER_MAX_DEACTIVATIONS is held (exit 3), and App
// Home shows the last result.
func TestReconcileCommand(t *testing.T) {
	fs := newFake(t)
	e := env(fs, t.TempDir(), map[string]string{"ROSTER_MAX_DEACTIVATIONS": "1"})
	b := startBot(t, fs, e)
	waitFor(t, "directory sync", func() bool { _, ok := b.app.Directory.ByEmail(fakeslack.DemoMemberEmail); return ok })
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := app.Main(append([]string{"reconcile"}, args...), getenv(e), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := run("--dry-run"); code != 0 || !strings.Contains(out, "dry run") || !strings.Contains(out, "first reconcile") {
		t.Fatalf("reconcile --dry-run = %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := run(); code != 0 || !strings.Contains(out, "adopt: ") {
		t.Fatalf("reconcile = %d, %q, %q", code, out, errOut)
	}
	if st, _ := b.app.Service.Status(t.Context(), fakeslack.DemoMemberEmail); !st.Entitled {
		t.Fatalf("member not adopted")
	}
	// Two members Roster deactivated come back outside Roster.
	for _, id := range []string{fakeslack.DemoMemberID, fakeslack.DemoGuestID} {
		u, _ := fs.User(id)
		command(t, fs, fakeslack.DemoAdminID, "revoke "+u.Email)
		waitFor(t, "revoke of "+u.Email, func() bool { u, _ := fs.User(id); return u.Deleted })
		u.Deleted = false
		fs.PutUser(u)
	}
	code, out, errOut := run()
	if code != 3 || !strings.Contains(errOut, "held") || !strings.Contains(out, "deactivate: 2") {
		t.Fatalf("reconcile with drift = %d, %q, %q; want exit 3 with 2 held", code, out, errOut)
	}
	// Home shows the last reconcile and the held change.
	openHome(t, fs, fakeslack.DemoAdminID, "Last reconcile", blocks.ActionHeldConfirm)
	if code, _, errOut := run("--force"); code != 2 {
		t.Errorf("reconcile --force = %d (%q), want 2", code, errOut)
	}
	// With the bot stopped, the command reads Slack itself.
	b.stop()
	if code, out, errOut := run("--dry-run"); code != 0 || !strings.Contains(out, "dry run") || !strings.Contains(out, "already held for confirmation: 2") {
		t.Errorf("reconcile --dry-run with the bot stopped = %d, %q, %q", code, out, errOut)
	}
}

// The Assign modal takes ou:/PATH (or group:NAME) in its Email field: the
// preview arrives by DM, and its button runs the grant.
func TestAssignModalToOrgUnit(t *testing.T) {
	fs := newFake(t)
	dir := t.TempDir()
	e := env(fs, dir, nil)
	file := writeFile(t, dir, "ops.json", `[{"email": "ops1@example.com", "org_unit": "/Ops/Night"}, {"email": "ops2@example.com", "org_unit": "/Ops"}, {"email": "dev@example.com", "org_unit": "/Dev"}]`)
	if code, out, errOut := importCmd(t, e, file); code != 0 {
		t.Fatalf("import = %d, %q, %q", code, out, errOut)
	}
	b := startBot(t, fs, e)
	waitFor(t, "directory sync", func() bool { _, ok := b.app.Directory.ByEmail(fakeslack.DemoMemberEmail); return ok })

	p := submit(t, fs, fakeslack.DemoAdminID, blocks.CallbackAssign, merge(field(blocks.BlockEmail, blocks.ActionEmail, "ou:Ops"), field(blocks.BlockDuration, blocks.ActionDuration, "")))
	if p["response_action"] != "errors" {
		t.Fatalf("ou: without a leading / = %v, want a field error", p)
	}
	p = submit(t, fs, fakeslack.DemoAdminID, blocks.CallbackAssign, merge(field(blocks.BlockEmail, blocks.ActionEmail, "ou:/Ops"), field(blocks.BlockDuration, blocks.ActionDuration, "")))
	if p["response_action"] == "errors" {
		t.Fatalf("ou:/Ops = %v", p)
	}
	var preview fakeslack.Message
	waitFor(t, "preview DM", func() bool {
		for _, m := range fs.Messages(fakeslack.DMChannel(fakeslack.DemoAdminID)) {
			if strings.Contains(string(m.Blocks), blocks.ActionGrantConfirm) {
				preview = m
				return true
			}
		}
		return false
	})
	if !strings.Contains(string(preview.Blocks), "2 people") || strings.Contains(string(preview.Blocks), "dev@example.com") {
		t.Fatalf("preview = %s, want the 2 people in /Ops and its sub-units", preview.Blocks)
	}
	click(t, fs, fakeslack.DemoAdminID, blocks.ActionGrantConfirm, between(string(preview.Blocks), `"action_id":"`+blocks.ActionGrantConfirm+`"`, `"value":"`, `"`))
	waitFor(t, "2 invites", func() bool { return countWrites(fs, http.MethodPost) == 2 })
	if _, ok := fs.UserByEmail("dev@example.com"); ok {
		t.Errorf("dev@example.com invited though /Dev has no access")
	}
}

// /roster revoke group:NAME shows who would lose access, then withdraws it.
func TestRevokeGroupAccess(t *testing.T) {
	fs := newFake(t)
	dir := t.TempDir()
	e := env(fs, dir, map[string]string{"ROSTER_MAX_DEACTIVATIONS": "5"})
	file := writeFile(t, dir, "g.csv", "email,groups\nq1@example.com,Temps\nq2@example.com,Temps\n")
	if code, out, errOut := importCmd(t, e, file); code != 0 {
		t.Fatalf("import = %d, %q, %q", code, out, errOut)
	}
	b := startBot(t, fs, e)
	waitFor(t, "directory sync", func() bool { _, ok := b.app.Directory.ByEmail(fakeslack.DemoMemberEmail); return ok })
	if _, err := b.app.Service.GrantDirectory(t.Context(), provisioning.DirectoryGrant{Kind: provisioning.GrantGroup, Target: "Temps", GrantedBy: fakeslack.DemoAdminID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 invites", func() bool { return countWrites(fs, http.MethodPost) == 2 })
	if got := command(t, fs, fakeslack.DemoMemberID, "revoke group:Temps"); !strings.Contains(got, "Only Roster admins") {
		t.Errorf("revoke group by a member = %q", got)
	}
	got := command(t, fs, fakeslack.DemoAdminID, "revoke group:Temps season over")
	if !strings.Contains(got, "2 people") || !strings.Contains(got, blocks.ActionWithdrawConfirm) {
		t.Fatalf("preview = %q", got)
	}
	if n := countWrites(fs, http.MethodDelete); n != 0 {
		t.Fatalf("the preview deactivated %d", n)
	}
	click(t, fs, fakeslack.DemoAdminID, blocks.ActionWithdrawConfirm, between(got, `"action_id":"`+blocks.ActionWithdrawConfirm+`"`, `"value":"`, `"`))
	waitFor(t, "2 deactivations", func() bool { return countWrites(fs, http.MethodDelete) == 2 })
	if got := command(t, fs, fakeslack.DemoAdminID, "revoke group:Temps"); !strings.Contains(got, "No access is assigned") {
		t.Errorf("second revoke = %q, want no access assigned", got)
	}
}
