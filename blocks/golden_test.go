package blocks_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/roster-app/roster/provisioning"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// golden compares v, as JSON, with testdata/<test name>.golden.json by
// meaning, not bytes. `go test ./blocks -update` accepts changes;
// review them in the git diff.
func golden(t *testing.T, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <@U123> readable in the golden file
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", strings.ReplaceAll(t.Name(), "/", "__")+".golden.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var gotV, wantV any
	if err := json.Unmarshal(buf.Bytes(), &gotV); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &wantV); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// message is how a golden file holds a message's blocks, so that Slack's
// tools read it as a message: {"blocks": [...]}.
type message struct {
	Blocks []slack.Block `json:"blocks"`
}

func msg(bs []slack.Block) message { return message{Blocks: bs} }

// tcase is one rendering of a builder: a golden file, and a subject of the
// limit and injection checks.
type tcase struct {
	name string
	v    any // slack.ModalViewRequest, slack.HomeTabViewRequest or message
}

// runGolden runs one subtest per case, comparing it with its golden file.
func runGolden(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) { golden(t, tt.v) })
	}
}

// Fixtures.
var (
	now = time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)

	// evil is user text that would mention, broadcast and link if it
	// reached mrkdwn unescaped, and an entity that must show as typed.
	evil = "<!channel> hi <@U123> see <https://evil.example|x> &amp; more"

	longReason = repeatTo("Needs access for the <launch> & the audit. ", 10000)
	longName   = repeatTo("Zoë Ångström-Łukasiewicz ", 1000)
	// longEmail is as long as an address can be: 64 + 1 + 189 = 254.
	longEmail = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"
	longQuery = repeatTo("ada lovelace ", 1000)
	longError = repeatTo(`scim: POST /Users: 400 {"detail":"invalid_email <x>"} `, 2000)
)

// repeatTo repeats s and cuts the result to n runes.
func repeatTo(s string, n int) string {
	r := []rune(strings.Repeat(s, n/len([]rune(s))+1))
	return string(r[:n])
}

func member(id, realName, addr string) provisioning.Member {
	return provisioning.Member{ID: id, Email: addr, Name: strings.ToLower(strings.Fields(realName + " x")[0]), RealName: realName}
}

func TestFixtures(t *testing.T) {
	for _, c := range []struct {
		name string
		s    string
		n    int
	}{
		{"longReason", longReason, 10000},
		{"longName", longName, 1000},
		{"longEmail", longEmail, 254},
		{"longQuery", longQuery, 1000},
	} {
		if got := len([]rune(c.s)); got != c.n {
			t.Errorf("len(%s) = %d runes, want %d", c.name, got, c.n)
		}
	}
}
