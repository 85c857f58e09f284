package handlers

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/roster-app/roster/provisioning"
)

// commandTests are the command lines ParseCommand accepts; they also seed
// FuzzParseCommand.
var commandTests = []struct {
	name string
	text string
	want Command
}{
	// help
	{"empty", "", Command{Verb: VerbHelp}},
	{"only space", " \t\n\u00a0", Command{Verb: VerbHelp}},
	{"help", "help", Command{Verb: VerbHelp}},
	{"help upper case", "HELP", Command{Verb: VerbHelp}},
	{"question mark", "?", Command{Verb: VerbHelp}},
	{"help with a topic", "help assign", Command{Verb: VerbHelp}},

	// assign
	{"assign opens the modal", "assign", Command{Verb: VerbAssign, Modal: true}},
	{"assign mixed case with space", "  AsSiGn \n", Command{Verb: VerbAssign, Modal: true}},
	{"assign email", "assign ada@example.com", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}}},
	{"assign email normalized", "assign Ada.Lovelace@Example.COM", Command{Verb: VerbAssign, Target: Target{Email: "ada.lovelace@example.com"}}},
	{"assign email with escaped ampersand", "assign r&amp;d@example.com", Command{Verb: VerbAssign, Target: Target{Email: "r&d@example.com"}}},
	{"assign mention", "assign <@U123>", Command{Verb: VerbAssign, Target: Target{UserID: "U123"}}},
	{"assign mention with name", "assign <@U123ABC|ada>", Command{Verb: VerbAssign, Target: Target{UserID: "U123ABC"}}},
	{"assign grid mention with spaced name", "assign <@W0ABC|Ada Lovelace> for 7d lab", Command{Verb: VerbAssign, Target: Target{UserID: "W0ABC"}, Duration: 7 * provisioning.Day, Reason: "lab"}},
	{"assign mailto link", "assign <mailto:ada@example.com|ada@example.com>", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}}},
	{"assign mailto link without text", "assign <mailto:Ada@Example.com>", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}}},
	{"assign mailto link upper case", "assign <MAILTO:Ada@Example.com|ada@example.com> new hire", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Reason: "new hire"}},
	{"assign for seconds", "assign ada@example.com for 90s", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 90 * time.Second}},
	{"assign for minutes", "assign ada@example.com for 30m", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 30 * time.Minute}},
	{"assign for hours", "assign ada@example.com for 12h", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 12 * time.Hour}},
	{"assign for days", "assign ada@example.com for 7d", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 7 * provisioning.Day}},
	{"assign for weeks", "assign ada@example.com for 2w", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 2 * provisioning.Week}},
	{"assign for weeks and days", "assign ada@example.com for 1w2d", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 9 * provisioning.Day}},
	{"assign for days and hours", "assign ada@example.com for 1d12h", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 36 * time.Hour}},
	{"assign for every unit", "assign ada@example.com for 1w1d1h1m1s", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: provisioning.Week + provisioning.Day + time.Hour + time.Minute + time.Second}},
	{"assign for fraction", "assign ada@example.com for 1.5h", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 90 * time.Minute}},
	{"assign for upper-case FOR", "assign ada@example.com FOR 7d", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 7 * provisioning.Day}},
	{"assign for with reason", "assign ada@example.com for 7d contractor onboarding", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 7 * provisioning.Day, Reason: "contractor onboarding"}},
	{"assign reason without duration", "assign ada@example.com contractor onboarding", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Reason: "contractor onboarding"}},
	{"assign for later in the reason is reason", "assign ada@example.com contract for 7d", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Reason: "contract for 7d"}},
	{"assign reason keeps inner space and lines", "assign ada@example.com for 2w  first line\n\tsecond  line \n ", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 2 * provisioning.Week, Reason: "first line\n\tsecond  line"}},
	{"assign reason with broadcast", "assign ada@example.com <!channel> look", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Reason: "<!channel> look"}},
	{"assign reason with mention", "assign ada@example.com for 7d asked by <@U123>", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 7 * provisioning.Day, Reason: "asked by <@U123>"}},
	{"assign reason with link", "assign ada@example.com see <https://evil.example|x> and <!here>", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Reason: "see <https://evil.example|x> and <!here>"}},
	{"assign reason with entities decoded", "assign ada@example.com R&amp;D &lt;lab&gt; &amp;lt;", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Reason: "R&D <lab> &lt;"}},
	{"assign reason of 2000 characters", "assign ada@example.com " + strings.Repeat("é", 2000), Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Reason: strings.Repeat("é", 2000)}},
	{"assign tabs newlines and nbsp", "assign\u00a0ada@example.com\tfor\n7d\u00a0\u2003why\u00a0", Command{Verb: VerbAssign, Target: Target{Email: "ada@example.com"}, Duration: 7 * provisioning.Day, Reason: "why"}},
	{"assign group", "assign group:Contractors", Command{Verb: VerbAssign, Target: Target{Group: "Contractors"}}},
	{"revoke group", "revoke group:Contractors contract over", Command{Verb: VerbRevoke, Target: Target{Group: "Contractors"}, Reason: "contract over"}},
	{"revoke org unit", "revoke ou:/Engineering/Platform", Command{Verb: VerbRevoke, Target: Target{OrgUnit: "/Engineering/Platform"}}},
	{"assign group upper-case prefix", "assign GROUP:eng-oncall for 30d rota", Command{Verb: VerbAssign, Target: Target{Group: "eng-oncall"}, Duration: 30 * provisioning.Day, Reason: "rota"}},
	{"assign quoted group", `assign group:"Contractors EU" for 7d Q3 audit`, Command{Verb: VerbAssign, Target: Target{Group: "Contractors EU"}, Duration: 7 * provisioning.Day, Reason: "Q3 audit"}},
	{"assign curly-quoted group", "assign group:“Contractors EU” why", Command{Verb: VerbAssign, Target: Target{Group: "Contractors EU"}, Reason: "why"}},
	{"assign group with entity", "assign group:R&amp;D", Command{Verb: VerbAssign, Target: Target{Group: "R&D"}}},
	{"assign root org unit", "assign ou:/", Command{Verb: VerbAssign, Target: Target{OrgUnit: "/"}}},
	{"assign org unit", "assign ou:/Engineering/Platform for 2w", Command{Verb: VerbAssign, Target: Target{OrgUnit: "/Engineering/Platform"}, Duration: 2 * provisioning.Week}},
	{"assign quoted org unit", `assign OU:"/Sales EMEA/London" new office`, Command{Verb: VerbAssign, Target: Target{OrgUnit: "/Sales EMEA/London"}, Reason: "new office"}},

	// revoke
	{"revoke opens the modal", "revoke", Command{Verb: VerbRevoke, Modal: true}},
	{"revoke email", "REVOKE Ada@Example.com", Command{Verb: VerbRevoke, Target: Target{Email: "ada@example.com"}}},
	{"revoke mention with reason", "revoke <@U123|ada> left the company", Command{Verb: VerbRevoke, Target: Target{UserID: "U123"}, Reason: "left the company"}},
	{"revoke mailto", "revoke <mailto:ada@example.com|ada@example.com>", Command{Verb: VerbRevoke, Target: Target{Email: "ada@example.com"}}},
	{"revoke reason starting with for", "revoke ada@example.com for misconduct", Command{Verb: VerbRevoke, Target: Target{Email: "ada@example.com"}, Reason: "for misconduct"}},
	{"revoke reason for an ordinal", "revoke ada@example.com for 2nd warning", Command{Verb: VerbRevoke, Target: Target{Email: "ada@example.com"}, Reason: "for 2nd warning"}},
	{"revoke reason is just for", "revoke ada@example.com for", Command{Verb: VerbRevoke, Target: Target{Email: "ada@example.com"}, Reason: "for"}},

	// request
	{"request opens the modal", "request", Command{Verb: VerbRequest, Modal: true}},
	{"request email", "request ada@example.com", Command{Verb: VerbRequest, Target: Target{Email: "ada@example.com"}}},
	{"request for duration with reason", "Request ada@example.com for 3d pairing with <@U999>", Command{Verb: VerbRequest, Target: Target{Email: "ada@example.com"}, Duration: 3 * provisioning.Day, Reason: "pairing with <@U999>"}},
	{"request mention", "request <@U42|bob> for 90s", Command{Verb: VerbRequest, Target: Target{UserID: "U42"}, Duration: 90 * time.Second}},

	// status
	{"status of yourself", "status", Command{Verb: VerbStatus}},
	{"status email", "status Ada@Example.com", Command{Verb: VerbStatus, Target: Target{Email: "ada@example.com"}}},
	{"status mention", "status <@U123|ada>\n", Command{Verb: VerbStatus, Target: Target{UserID: "U123"}}},
	{"status mailto", "STATUS <mailto:ada@example.com|ada@example.com>", Command{Verb: VerbStatus, Target: Target{Email: "ada@example.com"}}},

	// find
	{"find", "find ada", Command{Verb: VerbFind, Query: "ada"}},
	{"find several words", "FIND  Ada  Lovelace \n", Command{Verb: VerbFind, Query: "Ada  Lovelace"}},
	{"find email link", "find <mailto:ada@example.com|ada@example.com>", Command{Verb: VerbFind, Query: "ada@example.com"}},
	{"find web link", "find <http://example.com|example.com> <https://x.example>", Command{Verb: VerbFind, Query: "example.com https://x.example"}},
	{"find keeps mentions", "find <@U123>", Command{Verb: VerbFind, Query: "<@U123>"}},
	{"find entities", "find R&amp;D", Command{Verb: VerbFind, Query: "R&D"}},
	{"find 200 characters", "find " + strings.Repeat("ß", 200), Command{Verb: VerbFind, Query: strings.Repeat("ß", 200)}},
}

func TestParseCommand(t *testing.T) {
	for _, tt := range commandTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand(tt.text)
			if err != nil {
				t.Fatalf("ParseCommand(%q) = error %q, want %+v", tt.text, err, tt.want)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCommand(%q) mismatch (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

// commandErrorTests are the command lines ParseCommand refuses: verb is
// the subcommand whose form the error shows ("" for Usage()), problem a
// part of the error's text.
var commandErrorTests = []struct {
	name    string
	text    string
	verb    Verb
	problem string
}{
	{"unknown subcommand", "invite ada@example.com", "", `unknown subcommand "invite": use assign, revoke, request, status, find or help`},
	{"unknown subcommand is a mention", "<@U123> assign", "", "unknown subcommand: use assign"},
	{"unknown subcommand is an escaped broadcast", "&lt;!channel&gt;", "", "unknown subcommand: use assign"},
	{"verb with unicode folding", "\u017ftatus", "", "unknown subcommand"}, // long s: not "status"
	{"invalid UTF-8", "assign ada@example.com \xff\xfe", "", "not valid UTF-8"},
	{"10 kB line", "assign ada@example.com for 7d " + strings.Repeat("why ", 2500), VerbAssign, "too long: keep it under 10,000 characters"},
	{"10 kB line of one word", strings.Repeat("a", 10001), "", "too long"},
	{"10 kB line of invalid UTF-8", "find " + strings.Repeat("\xff", 10000), VerbFind, "too long"},

	{"plain word", "assign ada", VerbAssign, `"ada" is not an email address or a member mention`},
	{"email without domain dot", "assign ada@example", VerbAssign, `"ada@example" is not an email address`},
	{"email with display name", "assign Ada<ada@example.com>", VerbAssign, "that is not an email address"},
	{"email with trailing comma", "revoke ada@example.com, left", VerbRevoke, `"ada@example.com," is not an email address`},
	{"email too long once lower-cased", "assign " + strings.Repeat("Ⱥ", 120) + "@example.com", VerbAssign, `"ȺȺȺ`}, // ⱥ is longer than Ⱥ
	{"long word shortened", "assign " + strings.Repeat("x", 100), VerbAssign, `"` + strings.Repeat("x", 40) + `…" is not`},
	{"for is not a target", "assign for 7d", VerbAssign, `"for" is not an email address`},
	{"broadcast channel", "assign <!channel>", VerbAssign, "that is not an email address or a member mention"},
	{"broadcast here", "request <!here> please", VerbRequest, "that is not an email address or a member mention"},
	{"broadcast everyone", "revoke <!everyone>", VerbRevoke, "that is not an email address or a member mention"},
	{"user group", "assign <!subteam^S123|@eng>", VerbAssign, "that is not an email address or a member mention"},
	{"channel", "status <#C123|general>", VerbStatus, "that is not an email address or a member mention"},
	{"web link", "assign <https://evil.example|ada@example.com>", VerbAssign, "that is not an email address or a member mention"},
	{"escaped mention typed as text", "assign &lt;@U123&gt;", VerbAssign, "that is not an email address or a member mention"},
	{"mention of a bad ID", "assign <@X123>", VerbAssign, "that is not an email address or a member mention"},
	{"mention lower-case ID", "assign <@u123>", VerbAssign, "that is not an email address or a member mention"},
	{"mention without ID", "assign <@U>", VerbAssign, "that is not an email address or a member mention"},
	{"mention ID with punctuation", "assign <@U12-3|x>", VerbAssign, "that is not an email address or a member mention"},
	{"unclosed mention", "assign <@U123 for 7d", VerbAssign, "that is not an email address or a member mention"},
	{"mention glued to a word", "assign <@U123>, for 7d", VerbAssign, "leave a space after the mention"},
	{"mailto text differs", "assign <mailto:eve@evil.example|ada@example.com>", VerbAssign, "the email link's text is not its address"},
	{"mailto bad address", "assign <mailto:ada|ada>", VerbAssign, `"ada" is not an email address`},

	{"for without duration", "assign ada@example.com for", VerbAssign, `say how long after "for"`},
	{"for then space only", "request ada@example.com for \n ", VerbRequest, `say how long after "for"`},
	{"duration bad unit", "assign ada@example.com for 3x", VerbAssign, `"3x" is not a duration: use the units s, m, h, d or w (not "x"), e.g. 90s, 30m, 12h, 7d, 2w`},
	{"duration words", "request ada@example.com for 7 days", VerbRequest, `"7" is not a duration: add a unit, e.g. 90s`},
	{"duration spelled out", "assign ada@example.com for 7days", VerbAssign, `(not "days"), e.g. 90s`},
	{"duration upper-case unit", "assign ada@example.com for 7D", VerbAssign, `"7D" is not a duration`},
	{"duration zero", "assign ada@example.com for 0s", VerbAssign, `"0s" is not a duration: use a positive duration`},
	{"duration negative", "request ada@example.com for -1h", VerbRequest, `"-1h" is not a duration: use a positive duration`},
	{"duration too long", "assign ada@example.com for 6000w", VerbAssign, "use at most 100 years"},
	{"reason starting with for", "assign ada@example.com for the Q3 project", VerbAssign, `"the" is not a duration`},
	{"duration unit with angle bracket", "assign ada@example.com for 7d<", VerbAssign, "that is not a duration: use the units s, m, h, d or w, e.g. 90s"},
	{"duration is a link", "assign ada@example.com for <https://x.example|7d>", VerbAssign, "that is not a duration: use a number with a unit"},
	{"revoke with duration", "revoke ada@example.com for 3d", VerbRevoke, "revoke takes no duration"},
	{"revoke with upper-case duration", "revoke <@U123> FOR 1.5h sorry", VerbRevoke, "revoke takes no duration"},
	{"revoke with duration words", "revoke ada@example.com for 3 days", VerbRevoke, "revoke takes no duration"},
	{"revoke with spelled duration", "revoke ada@example.com for 2weeks", VerbRevoke, "revoke takes no duration"},
	{"revoke with bare number", "revoke ada@example.com for 3", VerbRevoke, "revoke takes no duration"},

	{"reason of 2001 characters", "assign ada@example.com " + strings.Repeat("é", 2001), VerbAssign, "keep the reason under 2,000 characters (this one has 2,001)"},
	{"revoke reason too long", "revoke ada@example.com " + strings.Repeat("x", 2500), VerbRevoke, "keep the reason under 2,000 characters"},
	{"request reason too long after duration", "request ada@example.com for 1d " + strings.Repeat("x", 2001), VerbRequest, "keep the reason under 2,000 characters"},

	{"request org unit", "request ou:/Engineering", VerbRequest, "only assign and revoke take group:NAME or ou:/PATH"},
	{"status group", "status GROUP:x", VerbStatus, "only assign and revoke take group:NAME or ou:/PATH"},
	{"group without name", "assign group:", VerbAssign, "write the group's name after group:"},
	{"group with empty quotes", `assign group:"  " why`, VerbAssign, "write the group's name after group:"},
	{"group with unclosed quotes", `assign group:"Contractors EU for 7d`, VerbAssign, "close the quotes around the group name"},
	{"group quote glued to a word", `assign group:"Contractors"EU`, VerbAssign, "leave a space after the quoted group name"},
	{"group with inner quote", `assign group:Contractors"EU"`, VerbAssign, "put the whole group name in quotes"},
	{"group is a link", "assign group:<http://eng.example|eng.example>", VerbAssign, "that is not a group name"},
	{"group with control character", "assign group:\"a\x01b\"", VerbAssign, "control characters"},
	{"org unit without path", "assign ou:", VerbAssign, "write the org unit's path after ou:"},
	{"org unit without slash", "assign ou:Engineering", VerbAssign, "start the org unit path with /"},
	{"org unit trailing slash", "assign ou:/Engineering/", VerbAssign, "end the org unit path without /"},
	{"org unit double slash", "assign ou://Engineering", VerbAssign, "single slashes"},
	{"org unit inner double slash", "assign ou:/Engineering//Platform", VerbAssign, "single slashes"},
	{"org unit dot dot", "assign ou:/Engineering/..", VerbAssign, "without . or .. parts"},
	{"org unit unclosed quotes", `assign ou:"/Sales EMEA`, VerbAssign, "close the quotes around the org unit path"},

	{"status with extra words", "status ada@example.com please", VerbStatus, "status takes one email address or member mention, and nothing after it"},
	{"status of a word", "status me", VerbStatus, `"me" is not an email address or a member mention`},
	{"status of a broadcast", "status <!here>", VerbStatus, "that is not an email address or a member mention"},
	{"find nothing", "find", VerbFind, "say what to find"},
	{"find only space", "find \u00a0\n\t", VerbFind, "say what to find"},
	{"find empty link", "find <https://x.example|>", VerbFind, "say what to find"},
	{"find too long", "find " + strings.Repeat("ß", 201), VerbFind, "keep the search under 200 characters (this one has 201)"},
}

func TestParseCommandErrors(t *testing.T) {
	for _, tt := range commandErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand(tt.text)
			if err == nil {
				t.Fatalf("ParseCommand(%q) = %+v, want an error containing %q", tt.text, got, tt.problem)
			}
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseCommand(%q) = error %T %q, want a *UsageError", tt.text, err, err)
			}
			if !strings.Contains(ue.Problem, tt.problem) {
				t.Errorf("ParseCommand(%q) = problem %q, want it to contain %q", tt.text, ue.Problem, tt.problem)
			}
			if ue.Error() != ue.Problem {
				t.Errorf("ParseCommand(%q).Error() = %q, want the problem %q", tt.text, ue.Error(), ue.Problem)
			}
			wantForm := Usage()
			if tt.verb != "" {
				wantForm = CommandForms()[tt.verb]
			}
			if ue.Form != wantForm {
				t.Errorf("ParseCommand(%q) = form %q, want %q", tt.text, ue.Form, wantForm)
			}
			if !errors.Is(err, provisioning.ErrInvalid) {
				t.Errorf("ParseCommand(%q) = error %q, want it to wrap provisioning.ErrInvalid", tt.text, err)
			}
			if strings.ContainsAny(ue.Problem, "<>") {
				t.Errorf("ParseCommand(%q) = problem %q, want no < or > in it", tt.text, ue.Problem)
			}
			if len(ue.Problem) > 300 {
				t.Errorf("ParseCommand(%q) = problem of %d bytes, want at most 300", tt.text, len(ue.Problem))
			}
			if got != (Command{}) {
				t.Errorf("ParseCommand(%q) = %+v with the error, want the zero Command", tt.text, got)
			}
		})
	}
}

func TestCommandForms(t *testing.T) {
	want := map[Verb]string{
		VerbHelp:    "/roster help",
		VerbAssign:  "/roster assign EMAIL|group:NAME|ou:/PATH [for DURATION] [REASON…]",
		VerbRevoke:  "/roster revoke EMAIL|group:NAME|ou:/PATH [REASON…]",
		VerbRequest: "/roster request EMAIL [for DURATION] [REASON…]",
		VerbStatus:  "/roster status [EMAIL]",
		VerbFind:    "/roster find TEXT",
	}
	got := CommandForms()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CommandForms() mismatch (-want +got):\n%s", diff)
	}
	got[VerbHelp] = "changed"
	if f := CommandForms()[VerbHelp]; f != want[VerbHelp] {
		t.Errorf("CommandForms()[help] after changing a returned map = %q, want %q", f, want[VerbHelp])
	}
	wantUsage := strings.Join([]string{want[VerbAssign], want[VerbRevoke], want[VerbRequest], want[VerbStatus], want[VerbFind], want[VerbHelp]}, "\n")
	if u := Usage(); u != wantUsage {
		t.Errorf("Usage() = %q, want %q", u, wantUsage)
	}
}

// TestParseCommandLongInput checks that long lines are refused in linear
// time: a quadratic parser would take minutes on these.
func TestParseCommandLongInput(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"words", "assign ada@example.com for 7d " + strings.Repeat("a ", 1<<20)},
		{"unclosed mentions", "assign " + strings.Repeat("<@U1", 1<<20)},
		{"links", "find " + strings.Repeat("<https://x|y>", 1<<18)},
		{"entities", "assign ada@example.com " + strings.Repeat("&amp;", 1<<18)},
		{"spaces then a verb", strings.Repeat("\u00a0", 1<<20) + "help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := ParseCommand(tt.text)
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(ue.Problem, "too long") {
				t.Errorf("ParseCommand(%d bytes) = error %v, want a *UsageError saying it is too long", len(tt.text), err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("ParseCommand(%d bytes) took %v, want well under a second", len(tt.text), d)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {2001, "2,001"}, {10000, "10,000"}, {1234567, "1,234,567"}}
	for _, tt := range tests {
		if got := thousands(tt.n); got != tt.want {
			t.Errorf("thousands(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, tt := range commandTests {
		f.Add(tt.text)
	}
	for _, tt := range commandErrorTests {
		if len(tt.text) < 300 {
			f.Add(tt.text)
		}
	}
	known := CommandForms()
	usage := Usage()
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCommand(text)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseCommand(%q) = error %T %q, want a *UsageError", text, err, err)
			}
			if ue.Problem == "" || ue.Form == "" {
				t.Fatalf("ParseCommand(%q) = %#v, want a problem and a form", text, ue)
			}
			if strings.ContainsAny(ue.Problem, "<>") {
				t.Fatalf("ParseCommand(%q) = problem %q, want no < or >", text, ue.Problem)
			}
			if ue.Form != usage && ue.Form != known[verbFromForm(ue.Form)] {
				t.Fatalf("ParseCommand(%q) = form %q, want a form from CommandForms or Usage", text, ue.Form)
			}
			return
		}
		if _, ok := known[c.Verb]; !ok {
			t.Fatalf("ParseCommand(%q) = verb %q, want a known verb", text, c.Verb)
		}
		tg := c.Target
		if tg.Email != "" {
			if e, err := provisioning.NormalizeEmail(tg.Email); err != nil || e != tg.Email {
				t.Fatalf("ParseCommand(%q) = email %q; NormalizeEmail gives %q, %v", text, tg.Email, e, err)
			}
		}
		if tg.UserID != "" && !isUserID(tg.UserID) {
			t.Fatalf("ParseCommand(%q) = user ID %q, want [UW][A-Z0-9]+", text, tg.UserID)
		}
		if tg.OrgUnit != "" && (!strings.HasPrefix(tg.OrgUnit, "/") || strings.Contains(tg.OrgUnit, "//") || len(tg.OrgUnit) > 1 && strings.HasSuffix(tg.OrgUnit, "/")) {
			t.Fatalf("ParseCommand(%q) = org unit %q, want a clean path", text, tg.OrgUnit)
		}
		set := 0
		for _, s := range []string{tg.Email, tg.UserID, tg.Group, tg.OrgUnit} {
			if s != "" {
				set++
			}
		}
		if set > 1 || c.Modal && set != 0 {
			t.Fatalf("ParseCommand(%q) = %+v, want at most one target, and none with the modal", text, c)
		}
		if (tg.Group != "" || tg.OrgUnit != "") && c.Verb != VerbAssign && c.Verb != VerbRevoke {
			t.Fatalf("ParseCommand(%q) = %+v, want groups and org units only for assign and revoke", text, c)
		}
		if c.Duration < 0 || c.Duration > 0 && c.Verb != VerbAssign && c.Verb != VerbRequest {
			t.Fatalf("ParseCommand(%q) = duration %v for %s", text, c.Duration, c.Verb)
		}
		if strings.TrimFunc(c.Reason, unicode.IsSpace) != c.Reason || utf8.RuneCountInString(c.Reason) > 2000 {
			t.Fatalf("ParseCommand(%q) = reason %q, want it trimmed and at most 2,000 characters", text, c.Reason)
		}
		if c.Verb == VerbFind && (c.Query == "" || utf8.RuneCountInString(c.Query) > 200 || strings.TrimSpace(c.Query) != c.Query) {
			t.Fatalf("ParseCommand(%q) = query %q, want 1 to 200 characters, trimmed", text, c.Query)
		}
		if c.Verb != VerbFind && c.Query != "" {
			t.Fatalf("ParseCommand(%q) = query %q for %s", text, c.Query, c.Verb)
		}
	})
}

// verbFromForm returns the verb whose form is form, or "".
func verbFromForm(form string) Verb {
	for v, f := range CommandForms() {
		if f == form {
			return v
		}
	}
	return ""
}
