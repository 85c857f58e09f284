package blocks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/roster-app/roster/blocks"
)

// allCases is every golden case of every builder, by test name.
func allCases() map[string][]tcase {
	return map[string][]tcase{
		"TestAssignModal":     assignModalCases(),
		"TestRevokeModal":     revokeModalCases(),
		"TestRequestModal":    requestModalCases(),
		"TestDenyModal":       denyModalCases(),
		"TestAdminHomeView":   adminHomeCases(),
		"TestMemberHomeView":  memberHomeCases(),
		"TestText":            textCases(),
		"TestHelp":            helpCases(),
		"TestUsage":           usageCases(),
		"TestStatusMessage":   statusCases(),
		"TestFindResults":     findCases(),
		"TestAccepted":        acceptedCases(),
		"TestJobNotice":       jobNoticeCases(),
		"TestApprovalMessage": approvalCases(),
		"TestGrantPreview":    grantCases(),
	}
}

// eachCase calls f for every case, sorted, as a subtest "Test…/case".
func eachCase(t *testing.T, f func(t *testing.T, c tcase)) {
	cases := allCases()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, c := range cases[n] {
			t.Run(n+"/"+c.name, func(t *testing.T) { f(t, c) })
		}
	}
}

// jsonOf encodes v as Slack receives it (markup unescaped, as in goldens).
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// textOf returns every string in v's JSON, one a line: what tests search
// (slack-go marshals context elements itself, escaping < and > as \u003c
// and \u003e, so the encoded JSON is not searchable).
func textOf(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	walk(decode(t, v), func(_ string, val any) {
		if s, ok := val.(string); ok {
			b.WriteString(s + "\n")
		}
	})
	return b.String()
}

func decode(t *testing.T, v any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(jsonOf(t, v)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLimits checks every case against Slack's limits
// (docs/slack-platform.md §6) and Roster's own rules: at most 100 blocks
// in a view and 50 in a message, text lengths, unique IDs, and mrkdwn
// always sent with verbatim: true.
func TestLimits(t *testing.T) {
	eachCase(t, func(t *testing.T, c tcase) {
		for _, p := range checkSurface(decode(t, c.v), len(jsonOf(t, c.v))) {
			t.Error(p)
		}
	})
}

// checkSurface returns every limit v breaks. v is a decoded view or
// message ({"blocks": [...]}); size is its JSON length in bytes.
func checkSurface(v map[string]any, size int) []string {
	var c checker
	maxBlocks := 50
	switch v["type"] {
	case "modal":
		maxBlocks = 100
		if v["title"] == nil {
			c.add("view: modal without title")
		}
		for _, k := range []string{"title", "submit", "close"} {
			c.text("view."+k, v[k], 24, "plain_text")
		}
	case "home":
		maxBlocks = 100
		if v["submit"] != nil || v["close"] != nil {
			c.add("view: home view with submit or close")
		}
	}
	if v["type"] != nil {
		c.max("view.private_metadata", str(v["private_metadata"]), 3000)
		c.max("view.callback_id", str(v["callback_id"]), 255)
		if size > 250*1024 {
			c.add(fmt.Sprintf("view: %d bytes, at most 250 kB", size))
		}
	}
	bs, ok := v["blocks"].([]any)
	if !ok {
		c.add("blocks is not an array")
		return c.problems
	}
	if len(bs) == 0 || len(bs) > maxBlocks {
		c.add(fmt.Sprintf("%d blocks, want 1 to %d", len(bs), maxBlocks))
	}
	blockIDs, actionIDs := map[string]bool{}, map[string]bool{}
	for i, b := range bs {
		b := b.(map[string]any)
		at := fmt.Sprintf("blocks[%d] %v", i, b["type"])
		if id, ok := b["block_id"].(string); ok {
			c.max(at+".block_id", id, 255)
			if blockIDs[id] {
				c.add(at + ": duplicate block_id " + id)
			}
			blockIDs[id] = true
		}
		switch b["type"] {
		case "header":
			c.text(at+".text", b["text"], 150, "plain_text")
		case "section":
			fields, _ := b["fields"].([]any)
			if b["text"] == nil && len(fields) == 0 {
				c.add(at + ": section without text or fields")
			}
			c.text(at+".text", b["text"], 3000, "")
			if len(fields) > 10 {
				c.add(fmt.Sprintf("%s: %d fields, at most 10", at, len(fields)))
			}
			for j, f := range fields {
				c.text(fmt.Sprintf("%s.fields[%d]", at, j), f, 2000, "")
			}
			if a, ok := b["accessory"].(map[string]any); ok {
				c.element(at+".accessory", a)
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 25 {
				c.add(fmt.Sprintf("%s: %d elements, want 1 to 25", at, len(els)))
			}
			for j, e := range els {
				c.element(fmt.Sprintf("%s.elements[%d]", at, j), e.(map[string]any))
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				c.add(fmt.Sprintf("%s: %d elements, want 1 to 10", at, len(els)))
			}
			for j, e := range els {
				c.text(fmt.Sprintf("%s.elements[%d]", at, j), e, 3000, "")
			}
		case "input":
			c.text(at+".label", b["label"], 2000, "plain_text")
			if b["hint"] != nil {
				c.text(at+".hint", b["hint"], 2000, "plain_text")
			}
			c.element(at+".element", b["element"].(map[string]any))
		case "divider":
		default:
			c.add(at + ": unexpected block type")
		}
	}
	walk(v, func(key string, val any) {
		if key != "action_id" {
			return
		}
		id := str(val)
		c.max("action_id", id, 255)
		if actionIDs[id] {
			c.add("duplicate action_id " + id)
		}
		actionIDs[id] = true
	})
	return c.problems
}

type checker struct{ problems []string }

func (c *checker) add(p string) { c.problems = append(c.problems, p) }

func (c *checker) max(at, s string, n int) {
	if l := utf8.RuneCountInString(s); l > n {
		c.add(fmt.Sprintf("%s: %d characters, at most %d", at, l, n))
	}
}

// text checks a text object: its type (typ, or either), 1 to n characters,
// and verbatim: true on mrkdwn.
func (c *checker) text(at string, v any, n int, typ string) {
	if v == nil {
		return
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.add(at + ": not a text object")
		return
	}
	switch o["type"] {
	case "plain_text":
	case "mrkdwn":
		if o["verbatim"] != true {
			c.add(at + ": mrkdwn without verbatim: true")
		}
	default:
		c.add(fmt.Sprintf("%s: text type %v", at, o["type"]))
	}
	if typ != "" && o["type"] != typ {
		c.add(fmt.Sprintf("%s: %v, want %s", at, o["type"], typ))
	}
	s := str(o["text"])
	if strings.TrimSpace(s) == "" {
		c.add(at + ": empty text")
	}
	c.max(at, s, n)
}

func (c *checker) element(at string, e map[string]any) {
	switch e["type"] {
	case "button":
		c.text(at+".text", e["text"], 75, "plain_text")
		c.max(at+".value", str(e["value"]), 2000)
		if cf, ok := e["confirm"].(map[string]any); ok {
			c.text(at+".confirm.title", cf["title"], 100, "plain_text")
			c.text(at+".confirm.text", cf["text"], 300, "")
			c.text(at+".confirm.confirm", cf["confirm"], 30, "plain_text")
			c.text(at+".confirm.deny", cf["deny"], 30, "plain_text")
		}
	case "plain_text_input":
		ml, _ := e["max_length"].(float64)
		if ml > 3000 {
			c.add(at + ": max_length above 3000")
		}
		if ml > 0 {
			c.max(at+".initial_value", str(e["initial_value"]), int(ml))
		}
	case "users_select":
	default:
		c.add(fmt.Sprintf("%s: unexpected element %v", at, e["type"]))
	}
	if e["placeholder"] != nil {
		c.text(at+".placeholder", e["placeholder"], 150, "plain_text")
	}
	if e["action_id"] == nil {
		c.add(at + ": element without action_id")
	}
}

func str(v any) string { s, _ := v.(string); return s }

// walk calls f for every key and value in v, depth first.
func walk(v any, f func(key string, val any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			f(k, x)
			walk(x, f)
		}
	case []any:
		for _, x := range v {
			walk(x, f)
		}
	}
}

// TestNoInjection checks that user text never reaches Slack as markup: no
// case's JSON holds the broadcast, mention or link typed by the user,
// except where Slack never renders it (what an input box is prefilled
// with, private_metadata, button values), and the escaping cases show it
// escaped.
func TestNoInjection(t *testing.T) {
	eachCase(t, func(t *testing.T, c tcase) {
		var rendered strings.Builder
		walk(decode(t, c.v), func(key string, val any) {
			s, ok := val.(string)
			if !ok {
				return
			}
			switch key {
			case "initial_value", "private_metadata", "value":
				return
			}
			rendered.WriteString(s + "\n")
		})
		text := rendered.String()
		for _, bad := range []string{"<!channel>", "<@U123>", "<https://evil"} {
			if strings.Contains(text, bad) {
				t.Errorf("shows %q unescaped", bad)
			}
		}
		if strings.HasPrefix(c.name, "escaping") {
			for _, want := range []string{"&lt;!channel&gt;", "&lt;@U123&gt;", "&lt;https://evil.example|x&gt;", "&amp;amp;"} {
				if !strings.Contains(text, want) {
					t.Errorf("does not show %q", want)
				}
			}
		}
	})
}

func TestHomeFitsOnePage(t *testing.T) {
	v := blocks.AdminHomeView(fullAdminHome())
	if n := len(v.Blocks.BlockSet); n > 100 {
		t.Errorf("largest Admin Home = %d blocks, want at most 100", n)
	}
	if n := len(jsonOf(t, v)); n > 64*1024 {
		t.Errorf("largest Admin Home = %d bytes, want a view well under Slack's 250 kB", n)
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Ada Lovelace", "Ada Lovelace"},
		{"R&D", "R&amp;D"},
		{"<!channel>", "&lt;!channel&gt;"},
		{"<@U123|ada>", "&lt;@U123|ada&gt;"},
		{"<https://evil|x>", "&lt;https://evil|x&gt;"},
		{"&amp;", "&amp;amp;"},
		{"&lt;b&gt;", "&amp;lt;b&amp;gt;"},
		{"Zoë > Ådam & «Ève»", "Zoë &gt; Ådam &amp; «Ève»"},
		{`"quotes" 'stay' *bold* _it_`, `"quotes" 'stay' *bold* _it_`},
	}
	for _, tt := range tests {
		if got := blocks.Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBaseAction(t *testing.T) {
	tests := []struct{ in, want string }{
		{blocks.ActionApprove, blocks.ActionApprove},
		{blocks.ActionHomePage + ":next", blocks.ActionHomePage},
		{blocks.ActionRevokeMember + ":19", blocks.ActionRevokeMember},
		{blocks.ActionCancelRequest + ":0", blocks.ActionCancelRequest},
		{"", ""},
	}
	for _, tt := range tests {
		if got := blocks.BaseAction(tt.in); got != tt.want {
			t.Errorf("BaseAction(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodePage(t *testing.T) {
	tests := []struct {
		page      int
		query     string
		wantPage  int
		wantQuery string
	}{
		{0, "", 0, ""},
		{2499, "ada lovelace", 2499, "ada lovelace"},
		{3, evil, 3, evil},
		{-4, "x", 0, "x"},
		{1, "p=9&q=x", 1, "p=9&q=x"},
		{1, longQuery, 1, string([]rune(longQuery)[:blocks.MaxQueryLen])},
	}
	for _, tt := range tests {
		v := blocks.EncodePage(tt.page, tt.query)
		if len(v) > 2000 || strings.ContainsAny(v, "<>") {
			t.Errorf("EncodePage(%d, %q) = %q: too long or holds markup", tt.page, tt.query, v)
		}
		page, q, err := blocks.DecodePage(v)
		if err != nil || page != tt.wantPage || q != tt.wantQuery {
			t.Errorf("DecodePage(EncodePage(%d, %q)) = %d, %q, %v; want %d, %q", tt.page, tt.query, page, q, err, tt.wantPage, tt.wantQuery)
		}
	}
	for _, bad := range []string{"", "p=", "p=x", "p=-1", "q=ada", "%zz"} {
		if p, q, err := blocks.DecodePage(bad); err == nil {
			t.Errorf("DecodePage(%q) = %d, %q, nil; want an error", bad, p, q)
		}
	}
}
