package handlers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/roster-app/roster/provisioning"
)

// Verb is a /roster subcommand.
type Verb string

// The /roster subcommands, as PRODUCT.md names them.
const (
	VerbHelp    Verb = "help"
	VerbAssign  Verb = "assign"
	VerbRevoke  Verb = "revoke"
	VerbRequest Verb = "request"
	VerbStatus  Verb = "status"
	VerbFind    Verb = "find"
)

// verbs is the order in which usage lists the subcommands.
var verbs = []Verb{VerbAssign, VerbRevoke, VerbRequest, VerbStatus, VerbFind, VerbHelp}

// forms are the right forms of the subcommands, shown with every UsageError.
var forms = map[Verb]string{
	VerbHelp:    "/roster help",
	VerbAssign:  "/roster assign EMAIL|group:NAME|ou:/PATH [for DURATION] [REASON…]",
	VerbRevoke:  "/roster revoke EMAIL|group:NAME|ou:/PATH [REASON…]",
	VerbRequest: "/roster request EMAIL [for DURATION] [REASON…]",
	VerbStatus:  "/roster status [EMAIL]",
	VerbFind:    "/roster find TEXT",
}

// Limits on what ParseCommand accepts.
const (
	maxCommandBytes  = 10000 // the whole text
	maxReasonChars   = 2000
	maxQueryChars    = 200
	maxQuotedWordLen = 40 // longer words are shortened when an error quotes them
)

// Target is whom a command is about: exactly one field is set, or none.
type Target struct {
	Email   string // normalized (lower-case) when an email was given
	UserID  string // when a mention was given; the caller resolves it to an email
	Group   string // assign or revoke group:NAME
	OrgUnit string // assign ou:/PATH; starts with "/"
}

// Command is a parsed /roster command line.
type Command struct {
	Verb     Verb
	Target   Target        // zero for bare assign, revoke, request, status and help
	Duration time.Duration // 0: none
	// Reason is the rest of the line, trimmed, as the user typed it: Slack's
	// &amp;, &lt; and &gt; are decoded, and mentions, broadcasts and links
	// (<@U123>, <!channel>, <https://…|…>) are kept verbatim. It is not
	// escaped: whoever shows it must escape it.
	Reason string
	// Query is find's TEXT, decoded like Reason, with Slack's links
	// (<mailto:ada@example.com|ada@example.com>) replaced by their text.
	Query string
	Modal bool // bare assign, revoke or request: open the modal
}

// UsageError says what was wrong with a command line and shows the right
// form. Problem may quote what the user typed, so it is escaped when shown
// like any user text; it never contains < or >, so it cannot carry a
// mention, broadcast or link even unescaped. It wraps provisioning.ErrInvalid.
type UsageError struct {
	Problem string // lower-case, no trailing period
	Form    string // CommandForms()[verb], or Usage() when the verb is unknown
}

// Error returns Problem.
func (e *UsageError) Error() string { return e.Problem }

// Unwrap returns provisioning.ErrInvalid.
func (e *UsageError) Unwrap() error { return provisioning.ErrInvalid }

// CommandForms returns the right form of each subcommand, e.g.
// "/roster revoke EMAIL [REASON…]". The map is a copy.
func CommandForms() map[Verb]string {
	m := make(map[Verb]string, len(forms))
	for v, f := range forms {
		m[v] = f
	}
	return m
}

// Usage returns the forms of every subcommand, one a line, in the order
// help shows them.
func Usage() string {
	lines := make([]string, len(verbs))
	for i, v := range verbs {
		lines[i] = forms[v]
	}
	return strings.Join(lines, "\n")
}

// ParseCommand parses the text of a /roster command, as Slack sends it with
// should_escape: true (mentions as <@U123|name>, emails as
// <mailto:ada@example.com|ada@example.com>, & < > as entities).
//
//	help | ? | (empty)
//	assign | revoke | request                      open the modal
//	assign TARGET [for DURATION] [REASON…]         TARGET: EMAIL, group:NAME or ou:/PATH
//	revoke EMAIL [REASON…]
//	request EMAIL [for DURATION] [REASON…]
//	status [EMAIL]
//	find TEXT
//
// EMAIL is an address, a mention or a mailto link. Words are separated by
// any white space; verbs, "for", "group:" and "ou:" are case-insensitive.
// A group name or org unit path with spaces is quoted: group:"Contractors EU".
// Every error is a *UsageError. ParseCommand runs in time linear in the
// length of text and never panics.
func ParseCommand(text string) (Command, error) {
	word, rest := cutWord(text)
	verb, known := verbOf(word)
	if len(text) > maxCommandBytes {
		form := Usage()
		if known {
			form = forms[verb]
		}
		return Command{}, &UsageError{
			Problem: fmt.Sprintf("the command is too long: keep it under %s characters", thousands(maxCommandBytes)),
			Form:    form,
		}
	}
	if !utf8.ValidString(text) {
		return Command{}, &UsageError{Problem: "the command is not valid UTF-8 text", Form: Usage()}
	}
	if !known {
		names := make([]string, len(verbs))
		for i, v := range verbs {
			names[i] = string(v)
		}
		list := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
		p := "unknown subcommand: use " + list
		if w := quote(word); w != "" {
			p = "unknown subcommand " + w + ": use " + list
		}
		return Command{}, &UsageError{Problem: p, Form: Usage()}
	}
	p := parser{verb: verb}
	cmd, err := p.parse(rest)
	if err != nil {
		return Command{}, err
	}
	cmd.Verb = verb
	return cmd, nil
}

// verbOf maps the first word to its verb; the empty word and "?" are help.
func verbOf(word string) (Verb, bool) {
	switch w := strings.ToLower(word); w {
	case "", "?":
		return VerbHelp, true
	default:
		v := Verb(w)
		_, ok := forms[v]
		return v, ok
	}
}

// parser parses the words after the verb.
type parser struct{ verb Verb }

func (p parser) fail(format string, args ...any) error {
	return &UsageError{Problem: fmt.Sprintf(format, args...), Form: forms[p.verb]}
}

func (p parser) parse(rest string) (Command, error) {
	var cmd Command
	rest = trimLeft(rest)
	switch p.verb {
	case VerbHelp:
		return cmd, nil // "help assign" is still help
	case VerbFind:
		q := strings.TrimSpace(decode(unwrapLinks(rest)))
		switch n := utf8.RuneCountInString(q); {
		case n == 0:
			return cmd, p.fail("say what to find: part of a name or an email address")
		case n > maxQueryChars:
			return cmd, p.fail("keep the search under %d characters (this one has %s)", maxQueryChars, thousands(n))
		}
		cmd.Query = q
		return cmd, nil
	case VerbStatus:
		if rest == "" {
			return cmd, nil
		}
		t, after, err := p.target(rest)
		if err != nil {
			return cmd, err
		}
		if trimLeft(after) != "" {
			return cmd, p.fail("status takes one email address or member mention, and nothing after it")
		}
		cmd.Target = t
		return cmd, nil
	}

	// assign, revoke, request
	if rest == "" {
		cmd.Modal = true
		return cmd, nil
	}
	t, rest, err := p.target(rest)
	if err != nil {
		return cmd, err
	}
	cmd.Target = t
	rest = trimLeft(rest)
	if w, after := cutWord(rest); strings.ToLower(w) == "for" {
		d, after2, err := p.duration(after)
		if err != nil {
			return cmd, err
		}
		if d > 0 {
			cmd.Duration, rest = d, after2
		}
	}
	reason := decode(strings.TrimSpace(rest))
	if n := utf8.RuneCountInString(reason); n > maxReasonChars {
		return cmd, p.fail("keep the reason under %s characters (this one has %s)", thousands(maxReasonChars), thousands(n))
	}
	cmd.Reason = reason
	return cmd, nil
}

// duration parses the word after "for". For revoke it returns an error when
// the word looks like a duration and 0 otherwise: "revoke ada@example.com
// for misconduct" has the reason "for misconduct".
func (p parser) duration(s string) (time.Duration, string, error) {
	w, rest := cutWord(trimLeft(s))
	if p.verb == VerbRevoke {
		if looksLikeDuration(w, rest) {
			return 0, "", p.fail("revoke takes no duration: it withdraws access now")
		}
		return 0, s, nil
	}
	if w == "" {
		return 0, "", p.fail("say how long after \"for\", e.g. 90s, 30m, 12h, 7d, 2w")
	}
	d, err := provisioning.ParseDuration(w)
	if err != nil {
		// The fix may quote the unit the user typed; never a < or >.
		fix := "use the units s, m, h, d or w, e.g. 90s, 30m, 12h, 7d, 2w"
		var de *provisioning.DurationError
		if errors.As(err, &de) && !strings.ContainsAny(de.Fix, "<>") {
			fix = de.Fix
		}
		if q := quote(w); q != "" {
			return 0, "", p.fail("%s is not a duration: %s", q, fix)
		}
		return 0, "", p.fail("that is not a duration: %s", fix)
	}
	return d, rest, nil
}

// durationWords are units people write after a number.
var durationWords = map[string]bool{
	"": true, "s": true, "sec": true, "secs": true, "second": true, "seconds": true,
	"m": true, "min": true, "mins": true, "minute": true, "minutes": true,
	"h": true, "hr": true, "hrs": true, "hour": true, "hours": true,
	"d": true, "day": true, "days": true, "w": true, "wk": true, "wks": true, "week": true, "weeks": true,
	"mo": true, "month": true, "months": true, "y": true, "yr": true, "yrs": true, "year": true, "years": true,
}

// looksLikeDuration reports whether w (followed by rest) reads as a
// duration: "3d", "1.5h", "3days", "3 days", "3".
func looksLikeDuration(w, rest string) bool {
	if _, err := provisioning.ParseDuration(w); err == nil {
		return true
	}
	unit := strings.TrimLeft(w, "0123456789.")
	if !strings.ContainsAny(w[:len(w)-len(unit)], "0123456789") {
		return false
	}
	unit = strings.ToLower(unit)
	if unit == "" {
		next, _ := cutWord(trimLeft(rest))
		return next == "" || durationWords[strings.ToLower(next)]
	}
	return durationWords[unit]
}

// target parses the target at the start of s (which starts with a
// non-space) and returns what follows it.
func (p parser) target(s string) (Target, string, error) {
	notTarget := func(word string) error {
		if q := quote(word); q != "" {
			return p.fail("%s is not an email address or a member mention", q)
		}
		return p.fail("that is not an email address or a member mention")
	}
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return Target{}, "", notTarget("<")
		}
		seq, rest := s[1:end], s[end+1:]
		if !startsWithSpace(rest) {
			return Target{}, "", p.fail("leave a space after the mention or email address")
		}
		switch {
		case strings.HasPrefix(seq, "@"):
			id, _, _ := strings.Cut(seq[1:], "|")
			if !isUserID(id) {
				return Target{}, "", notTarget("<")
			}
			return Target{UserID: id}, rest, nil
		case hasPrefixFold(seq, "mailto:"):
			addr, label, labelled := strings.Cut(seq[len("mailto:"):], "|")
			addr, label = decode(addr), decode(label)
			email, ok := normalizeEmail(addr)
			if !ok {
				return Target{}, "", notTarget(addr)
			}
			if labelled && label != "" && !strings.EqualFold(strings.TrimSpace(label), addr) {
				return Target{}, "", p.fail("the email link's text is not its address: type the address itself")
			}
			return Target{Email: email}, rest, nil
		default:
			return Target{}, "", notTarget("<") // <!channel>, <#C123>, <https://…>, …
		}
	}

	word, rest := cutWord(s)
	for _, kind := range []string{"group:", "ou:"} {
		if !hasPrefixFold(word, kind) {
			continue
		}
		if p.verb != VerbAssign && p.verb != VerbRevoke {
			return Target{}, "", p.fail("only assign and revoke take group:NAME or ou:/PATH")
		}
		name, rest, err := p.name(kind, s[len(kind):])
		if err != nil {
			return Target{}, "", err
		}
		if kind == "group:" {
			return Target{Group: name}, rest, nil
		}
		if err := p.checkOrgUnit(name); err != nil {
			return Target{}, "", err
		}
		return Target{OrgUnit: name}, rest, nil
	}
	email, ok := normalizeEmail(decode(word))
	if !ok {
		return Target{}, "", notTarget(word)
	}
	return Target{Email: email}, rest, nil
}

// name parses the group name or org unit path after "group:" or "ou:": the
// rest of the word, or a quoted string, and returns what follows it.
func (p parser) name(kind, s string) (string, string, error) {
	what := "group name"
	if kind == "ou:" {
		what = "org unit path"
	}
	var raw, rest string
	if r, size := utf8.DecodeRuneInString(s); r == '"' || r == '“' {
		end := strings.IndexAny(s[size:], "\"”")
		if end < 0 {
			return "", "", p.fail("close the quotes around the %s", what)
		}
		raw, rest = s[size:size+end], s[size+end:]
		_, size = utf8.DecodeRuneInString(rest)
		rest = rest[size:]
		if !startsWithSpace(rest) {
			return "", "", p.fail("leave a space after the quoted %s", what)
		}
	} else {
		raw, rest = cutWord(s)
		if strings.ContainsAny(raw, "\"“”") {
			return "", "", p.fail("put the whole %s in quotes: %s\"…\"", what, kind)
		}
	}
	if strings.ContainsAny(raw, "<>") {
		return "", "", p.fail("that is not a %s", what)
	}
	name := strings.TrimSpace(decode(raw))
	if name == "" {
		if kind == "ou:" {
			return "", "", p.fail("write the org unit's path after ou:, e.g. ou:/Engineering")
		}
		return "", "", p.fail("write the group's name after group:, e.g. group:Contractors")
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", "", p.fail("the %s contains control characters", what)
	}
	return name, rest, nil
}

// checkOrgUnit checks an org unit path: "/" or "/A/B", with no empty, "."
// or ".." parts.
func (p parser) checkOrgUnit(path string) error {
	const eg = ", e.g. ou:/Engineering/Platform"
	switch {
	case !strings.HasPrefix(path, "/"):
		return p.fail("start the org unit path with /" + eg)
	case path == "/":
		return nil
	case strings.HasSuffix(path, "/"):
		return p.fail("end the org unit path without /" + eg)
	case strings.Contains(path, "//"):
		return p.fail("write the org unit path with single slashes" + eg)
	}
	for part := range strings.SplitSeq(path[1:], "/") {
		if part == "." || part == ".." {
			return p.fail("write the org unit path without . or .. parts" + eg)
		}
	}
	return nil
}

// normalizeEmail is provisioning.NormalizeEmail, refusing the rare address
// whose normal form does not normalize to itself (lower-casing some letters
// lengthens them past the 254-byte limit).
func normalizeEmail(s string) (string, bool) {
	e, err := provisioning.NormalizeEmail(s)
	if err != nil {
		return "", false
	}
	if again, err := provisioning.NormalizeEmail(e); err != nil || again != e {
		return "", false
	}
	return e, true
}

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix,
// in any ASCII case (no Unicode folding: the Kelvin sign is not a k).
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// isUserID reports whether id is a Slack user ID: [UW][A-Z0-9]+.
func isUserID(id string) bool {
	if len(id) < 2 || id[0] != 'U' && id[0] != 'W' {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// entities decodes what Slack escapes in command text, in one pass.
var entities = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

func decode(s string) string { return entities.Replace(s) }

// unwrapLinks replaces Slack's links in s (<mailto:a@b.c|a@b.c>,
// <https://x.y|x.y>, <https://x.y>) by their text. Mentions and other
// control sequences stay.
func unwrapLinks(s string) string {
	var b strings.Builder
	for {
		start := strings.IndexByte(s, '<')
		if start < 0 {
			break
		}
		end := strings.IndexByte(s[start:], '>')
		if end < 0 {
			break
		}
		end += start
		seq := s[start+1 : end]
		url, label, labelled := strings.Cut(seq, "|")
		b.WriteString(s[:start])
		switch {
		case hasPrefixFold(url, "mailto:") && labelled:
			b.WriteString(label)
		case hasPrefixFold(url, "mailto:"):
			b.WriteString(url[len("mailto:"):])
		case hasPrefixFold(url, "http://") || hasPrefixFold(url, "https://"):
			if labelled {
				b.WriteString(label)
			} else {
				b.WriteString(url)
			}
		default:
			b.WriteString(s[start : end+1])
		}
		s = s[end+1:]
	}
	b.WriteString(s)
	return b.String()
}

// cutWord returns the first word of s, after any leading white space, and
// what follows it.
func cutWord(s string) (word, rest string) {
	s = trimLeft(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

func trimLeft(s string) string { return strings.TrimLeftFunc(s, unicode.IsSpace) }

func startsWithSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s == "" || unicode.IsSpace(r)
}

// quote quotes a word the user typed for an error message, shortened when
// long. It returns "" for a word with < or > (a Slack control sequence such
// as <!channel>, or one typed as &lt;!channel&gt;): an error never repeats
// one, even if whoever shows it forgets to escape it.
func quote(word string) string {
	w := decode(word)
	if w == "" || strings.ContainsAny(w, "<>") {
		return ""
	}
	if utf8.RuneCountInString(w) > maxQuotedWordLen {
		r := []rune(w)
		w = string(r[:maxQuotedWordLen]) + "…"
	}
	return strconv.Quote(w)
}

// thousands writes n with comma separators: 2,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
