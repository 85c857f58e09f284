package playground_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/roster-app/roster/app/playground"
	"github.com/roster-app/roster/blocks"
	"github.com/roster-app/roster/fakeslack"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

// stepTimeout bounds each step of a browser test.
const stepTimeout = 20 * time.Second

// browser is a headless Chromium with one tab, driven through the DevTools
// protocol.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string // folder of the screenshots
	n     int    // screenshots taken

	mu         sync.Mutex
	exceptions []string // uncaught exceptions on the page
	requests   []string // URLs the page asked for
}

// newBrowser starts Chromium, or skips the test when it is not installed,
// unless ROSTER_BROWSER_TEST=1 (CI) makes that a failure. Screenshots go to
// ROSTER_ARTIFACTS/<test name> if that is set, else to a temporary folder.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("ROSTER_BROWSER_TEST") == "1" {
			t.Fatalf("ROSTER_BROWSER_TEST=1 but %s is missing (%v): install Debian's chromium package", chromiumPath, err)
		}
		t.Skipf("%s not found: install Debian's chromium package to run the browser tests (with ROSTER_BROWSER_TEST=1 this is a failure)", chromiumPath)
	}
	shots := t.TempDir()
	if dir := os.Getenv("ROSTER_ARTIFACTS"); dir != "" {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(moduleRoot(t), dir)
		}
		shots = filepath.Join(dir, t.Name())
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	abs, _ := filepath.Abs(shots)
	t.Logf("screenshots: %s", abs)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// No traffic but to the page: the machine's network is closed.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, shots: shots}
	// The first Run starts the browser; it takes no timeout (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.URL)
			b.mu.Unlock()
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, m.Text)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught exception on the page: %s", e)
		}
	})
	return b
}

// moduleRoot is the folder of go.mod, for paths given relative to the
// repository.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// onlyFrom checks that every request the page made went to base: the page
// loads nothing from anywhere else.
func (b *browser) onlyFrom(base string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		b.t.Error("no request of the page was seen")
	}
	for _, u := range b.requests {
		if !strings.HasPrefix(u, base) && !strings.HasPrefix(u, "data:") {
			b.t.Errorf("the page requested %s, outside %s", u, base)
		}
	}
}

// do runs one step, within stepTimeout.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed")
		b.t.Fatalf("%s: %v", what, err)
	}
}

// until waits until the JavaScript expression is truthy on the page.
func (b *browser) until(what, expr string) {
	b.t.Helper()
	b.do(what, chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(stepTimeout))(ctx, t)
		return chromedp.Void{}, err
	}))
}

// eval returns the value of a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a screenshot of the page as NN-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.n++
	file := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Error(err)
	}
}

// js quotes s as a JavaScript string.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// as switches the page to the user with this ID, as picking them in the
// "You are" list does, and waits until the page shows what they see.
func (b *browser) as(id string) {
	b.t.Helper()
	b.do("pick "+id+" in the You are list",
		chromedp.SetValue(chromedp.CSS("#as-user"), id),
		chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`document.querySelector('#as-user').dispatchEvent(new Event('change'))`)(ctx, t)
			return chromedp.Void{}, err
		}))
	b.until("the page shows "+id, `(() => { const s = window.playground.state(); return s && s.user === `+js(id)+` && document.querySelector('#as-user').value === `+js(id)+`; })()`)
}

func (b *browser) click(what, css string) {
	b.t.Helper()
	// The page re-renders a view when the bot publishes a new one, which
	// can replace the element between finding it and clicking it: then it
	// is found again, as a person would click the new one.
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	for {
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css)))
		if err == nil {
			return
		}
		// Click waits for the selector itself; an error before the
		// deadline is the element going stale ("Could not find node…").
		if ctx.Err() != nil {
			b.shot("failed")
			b.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// message is the JavaScript expression of the first message in the open
// conversation whose text holds text, or undefined.
func message(text string) string {
	return `[...document.querySelectorAll('#messages .msg')].find(m => m.textContent.includes(` + js(text) + `))`
}

// homeRow is the JavaScript expression of the Home section whose text holds
// text, or undefined.
func homeRow(text string) string {
	return `[...document.querySelectorAll('#home .blk-section')].find(s => s.textContent.includes(` + js(text) + `))`
}

// member is the CSS selector of a row of the members panel.
func member(email, state string) string {
	return `#members-list li.member[data-email=` + js(email) + `][data-state=` + js(state) + `]`
}

// search types query in the admin's Home search field and presses Enter,
// until cond holds: Roster updates its copy of the directory from Slack's
// events a moment after the account changes, and Home shows it at the next
// search, as it would for a person searching again.
func (b *browser) search(query, what, cond string) {
	b.t.Helper()
	const field = `#home .blk-input[data-block-id="` + blocks.BlockHomeSearch + `"] input`
	deadline := time.Now().Add(stepTimeout)
	for {
		b.do("search Home for "+query,
			// Empty the field as a person's select-all and delete does,
			// with an input event, then type.
			chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
				_, err := chromedp.Evaluate[bool](`(() => { const f = document.querySelector(`+js(field)+`); f.value = ''; return f.dispatchEvent(new Event('input')); })()`)(ctx, t)
				return chromedp.Void{}, err
			}),
			chromedp.SendKeys(chromedp.CSS(field), query+"\r"))
		ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(3*time.Second)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.shot("failed")
			b.t.Fatalf("%s: not shown within %s of searching", what, stepTimeout)
		}
	}
}

// TestBrowserRequestApproveRevoke is the scenario in headless
// Chromium: a member requests access for a new email, the approver approves
// it in #approvals, an admin sees the new member active in App Home and
// revokes them from the Revoke modal, and the member shows deactivated.
func TestBrowserRequestApproveRevoke(t *testing.T) {
	b := newBrowser(t)
	start := time.Now()
	r := startPlayground(t)
	t.Logf("playground started in %s", r.Startup.Round(time.Millisecond))
	const email = "newbie@example.com"

	// 1. Mia Member requests access in her DM with Roster.
	b.do("open the page", chromedp.Navigate(r.URL+"#as="+fakeslack.DemoMemberID+"&view=dm"), chromedp.WaitVisible(chromedp.CSS("#composer-input")))
	b.until("Roster connected", `document.querySelector('#status').classList.contains('ok')`)
	b.do("type the request", chromedp.SendKeys(chromedp.CSS("#composer-input"), "/roster request "+email+" for 2w starting Monday\r"))
	b.until("the answer only Mia sees", `(() => { const m = `+message("waiting for approval")+`; return !!m && m.classList.contains('ephemeral') && m.textContent.includes('Only visible to you') && m.textContent.includes(`+js(email)+`); })()`)
	b.shot("member-requests-access")

	// Her Home lists the request with a Cancel button that asks first;
	// "Keep it" sends nothing.
	b.click("open Home", "#nav-home")
	cancel := `#home button[data-action-id^="` + blocks.ActionCancelRequest + `"]`
	b.do("her pending request on Home", chromedp.WaitVisible(chromedp.CSS(cancel)))
	b.click("click Cancel", cancel)
	b.until("the confirm dialog", `(() => { const d = document.querySelector('#confirm-layer:not([hidden]) .dialog'); return !!d && d.textContent.includes('Cancel this request?') && d.textContent.includes(`+js(email)+`) && document.querySelector('#confirm-no').textContent === 'Keep it'; })()`)
	b.shot("member-home-confirm")
	b.click("keep it", "#confirm-no")
	b.do("the dialog closes", chromedp.WaitNotVisible(chromedp.CSS("#confirm-layer")))

	// 2. Paul Approver approves it in #approvals.
	b.as(fakeslack.DemoApproverID)
	b.click("open #approvals", "#nav-approvals")
	b.until("the request with its buttons", `(() => { const m = `+message(email)+`; return !!m && !!m.querySelector('button.primary[data-action-id="`+blocks.ActionApprove+`"]') && !!m.querySelector('button.danger[data-action-id="`+blocks.ActionDeny+`"]') && m.textContent.includes('starting Monday') && m.textContent.includes('@mia.member'); })()`)
	b.shot("approver-sees-request")
	b.do("click Approve", chromedp.Click(chromedp.JSPath(message(email)+`.querySelector('button[data-action-id="`+blocks.ActionApprove+`"]')`)))
	b.until("the message updated in place", `(() => { const ms = [...document.querySelectorAll('#messages .msg')].filter(m => m.textContent.includes(`+js(email)+`) && !m.classList.contains('ephemeral')); return ms.length === 1 && ms[0].textContent.includes('Approved') && ms[0].textContent.includes('(edited)') && !ms[0].querySelector('button'); })()`)
	b.shot("request-approved")

	// 3. Adam Admin sees the new member active, in the members panel and in
	// App Home.
	b.as(fakeslack.DemoAdminID)
	b.do("the new member in the members panel", chromedp.WaitVisible(chromedp.CSS(member(email, "active"))))
	b.click("open Home", "#nav-home")
	b.until("the admin's Home", `!!document.querySelector('#home .blk-input[data-block-id="`+blocks.BlockHomeSearch+`"] input')`)
	b.search("newbie", "the new member active in Home", `(() => { const s = `+homeRow(email)+`; return !!s && s.querySelector('code') && s.querySelector('code').textContent === 'active' && !`+homeRow(fakeslack.DemoMemberEmail)+`; })()`)
	b.shot("admin-home-shows-member-active")

	// 4. He revokes them from the Revoke modal. Submitted empty, the form
	// shows Roster's error under Email; with the email it closes.
	b.click("click Revoke", `#home button[data-action-id="`+blocks.ActionOpenRevoke+`"]`)
	b.until("the Revoke modal", `(() => { const d = document.querySelector('#modal-layer:not([hidden]) .dialog'); return !!d && d.dataset.callbackId === `+js(blocks.CallbackRevoke)+` && d.querySelector('#modal-title').textContent === 'Revoke access'; })()`)
	b.click("submit the empty form", "#modal-submit")
	b.until("the error under Email", `(() => { const f = document.querySelector('#modal-layer .blk-input[data-block-id="`+blocks.BlockEmail+`"]'); return !!f && f.classList.contains('has-error') && !!f.querySelector('.field-error') && f.querySelector('.field-error').textContent.length > 0; })()`)
	b.shot("revoke-form-error")
	b.do("fill Email and Reason",
		chromedp.SendKeys(chromedp.CSS(`#modal-layer .blk-input[data-block-id="`+blocks.BlockEmail+`"] input`), email),
		chromedp.SendKeys(chromedp.CSS(`#modal-layer .blk-input[data-block-id="`+blocks.BlockReason+`"] textarea`), "Contract ended"))
	b.shot("revoke-form-filled")
	b.click("submit", "#modal-submit")
	b.do("the modal closes", chromedp.WaitNotVisible(chromedp.CSS("#modal-layer")))

	// 5. They are deactivated: in the members panel, and in Home.
	b.do("the member deactivated in the members panel", chromedp.WaitVisible(chromedp.CSS(member(email, "deactivated"))))
	// The row is found by the account's name: Roster's copy of the
	// directory takes the deactivation from Slack's user_change event.
	b.search("newbie", "the member deactivated in Home", `(() => { const s = [...document.querySelectorAll('#home .blk-section')].find(s => s.querySelector('b') && s.querySelector('b').textContent === 'newbie'); return !!s && !!s.querySelector('code') && s.querySelector('code').textContent === 'deactivated' && !s.querySelector('button'); })()`)
	b.shot("member-deactivated")
	b.onlyFrom(r.URL)
	t.Logf("browser scenario took %s", time.Since(start).Round(time.Millisecond))
}

// TestBrowserRendersEveryRosterSurface renders every Block Kit golden file
// of package blocks (every surface Roster sends, escaping cases included)
// with the page's renderer, and checks that nothing is unsupported, that
// user text is never turned into markup, and how mrkdwn is drawn.
func TestBrowserRendersEveryRosterSurface(t *testing.T) {
	b := newBrowser(t)
	r := startPlayground(t)
	b.do("open the page", chromedp.Navigate(r.URL+"#as="+fakeslack.DemoAdminID+"&view=dm"))
	b.until("the state", `!!window.playground.state()`)

	files, err := filepath.Glob("../../blocks/testdata/*.golden.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	type result struct {
		Unsupported []string `json:"unsupported"`
		Tags        []string `json:"tags"`
		Text        string   `json:"text"`
		Links       []string `json:"links"`
	}
	// render draws blocks (a view or a block array) in a detached element
	// and reports what it made.
	const render = `(input) => {
		const blocks = Array.isArray(input) ? input : input.blocks;
		const el = window.playground.renderBlocks(blocks);
		const tags = [...new Set([...el.querySelectorAll('*')].map(e => e.tagName.toLowerCase()))];
		return {
			unsupported: [...el.querySelectorAll('.unsupported')].map(e => e.textContent),
			tags, text: el.textContent,
			links: [...el.querySelectorAll('a')].map(a => a.getAttribute('href')),
		};
	}`
	allowed := map[string]bool{"div": true, "span": true, "b": true, "i": true, "s": true, "code": true, "pre": true,
		"blockquote": true, "hr": true, "button": true, "label": true, "input": true, "textarea": true, "select": true, "option": true}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res := eval[result](b, `(`+render+`)(`+string(raw)+`)`)
		name := filepath.Base(f)
		if len(res.Unsupported) > 0 {
			t.Errorf("%s: %v", name, res.Unsupported)
		}
		for _, tag := range res.Tags {
			if !allowed[tag] {
				t.Errorf("%s: the renderer made a <%s>", name, tag)
			}
		}
		if len(res.Links) > 0 {
			t.Errorf("%s: links %v; Roster sends none", name, res.Links)
		}
		if strings.Contains(name, "escaping") && !strings.Contains(res.Text, "<!channel> hi <@U123> see <https://evil.example|x> &amp; more") &&
			!strings.Contains(res.Text, "<!channel> hi <@U123> see <https://evil.example|x> &amp; …") {
			t.Errorf("%s: user text not shown as typed; text = %q", name, res.Text)
		}
		if strings.Contains(res.Text, "<!date^") {
			t.Errorf("%s: a date token shown raw", name)
		}
	}

	// mrkdwn forms, one by one.
	type md struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	}
	// The HTML is read back only to compare structure: the renderer never
	// writes it.
	mrkdwn := func(src string) md {
		return eval[md](b, `(() => { const e = window.playground.renderMrkdwn(`+js(src)+`); return {html: e.innerHTML, text: e.textContent}; })()`)
	}
	for _, tt := range []struct{ src, html, text string }{
		{"*bold* and _italic_ and ~gone~", "<b>bold</b> and <i>italic</i> and <s>gone</s>", ""},
		{"`code *not bold*`", "<code>code *not bold*</code>", ""},
		{"snake_case_name and 2*3*4", "snake_case_name and 2*3*4", ""},
		{"&lt;b&gt;not a tag&lt;/b&gt; &amp;amp;", "", "<b>not a tag</b> &amp;"},
		{"<@" + fakeslack.DemoAdminID + "> and <@U0UNKNOWN>", "", "@adam.admin and @U0UNKNOWN"},
		{"in <#" + fakeslack.DemoApprovalsChannel + ">", "", "in #approvals"},
		{"<!date^1772463845^{date_short_pretty} {time}|2026-03-02 15:04 UTC>", "", "2026-03-02 15:04 UTC"},
		{"<!channel> <!here>", "", "@channel @here"},
		{"<https://example.com/a?b=1&amp;c=2|the docs> <javascript:alert(1)|click>", "", "the docs click"},
		{":white_check_mark: *Approved*: *a@example.com*", "✅ <b>Approved</b>: <b>a@example.com</b>", ""},
		{"line one\nline two", "", "line one\nline two"},
	} {
		got := mrkdwn(tt.src)
		if tt.html != "" && got.HTML != tt.html {
			t.Errorf("mrkdwn %q: html %q, want %q", tt.src, got.HTML, tt.html)
		}
		if tt.text != "" && got.Text != tt.text {
			t.Errorf("mrkdwn %q: text %q, want %q", tt.src, got.Text, tt.text)
		}
	}
	links := eval[[]string](b, `[...window.playground.renderMrkdwn("<https://example.com/a?b=1&amp;c=2|docs> <javascript:alert(1)|x>").querySelectorAll('a')].map(a => a.getAttribute('href'))`)
	if len(links) != 1 || links[0] != "https://example.com/a?b=1&c=2" {
		t.Errorf("links = %q, want only the https one, decoded", links)
	}

	// Anything else is a labelled box, and the rest of the view still shows.
	res := eval[result](b, `(`+render+`)([{"type":"image","image_url":"https://example.com/x.png","alt_text":"x"},{"type":"section","text":{"type":"plain_text","text":"still here"},"accessory":{"type":"overflow","options":[]}},{"type":"rich_text","elements":[]},{"nonsense":true}])`)
	want := []string{"unsupported block: image", "unsupported element: overflow", "unsupported block: rich_text", "unsupported block: (no type)"}
	if strings.Join(res.Unsupported, "|") != strings.Join(want, "|") || !strings.Contains(res.Text, "still here") {
		t.Errorf("unknown blocks: %v, text %q; want %v and the section's text", res.Unsupported, res.Text, want)
	}
}

// TestBrowserDocsScreenshot writes the README's picture of the playground
// (docs/playground.png) to the file ROSTER_DOCS_SCREENSHOT names: three
// requests in #approvals, approved, denied with a reason, and pending, as
// the approver sees them.
func TestBrowserDocsScreenshot(t *testing.T) {
	out := os.Getenv("ROSTER_DOCS_SCREENSHOT")
	if out == "" {
		t.Skip("set ROSTER_DOCS_SCREENSHOT=FILE (e.g. ../../docs/playground.png) to write the README's screenshot")
	}
	b := newBrowser(t)
	r := startPlayground(t)
	c := newClient(t, r.URL)
	approvals := fakeslack.DemoApprovalsChannel
	request := func(user, text, email string) string {
		t.Helper()
		c.mustPost("api/command", map[string]any{"user": user, "text": "/roster request " + text})
		st := c.waitState(fakeslack.DemoApproverID, "the request for "+email, func(st playground.State) bool {
			return len(messagesWith(st.Messages[approvals], email)) > 0
		})
		m := messagesWith(st.Messages[approvals], email)[0]
		id := regexp.MustCompile(`"value":"(req-[^"]+)"`).FindStringSubmatch(string(m.Blocks))
		if id == nil {
			t.Fatalf("no request ID in %s", m.Blocks)
		}
		return id[1]
	}
	intern := request("U0D000011", "sam.intern@example.com for 12w Summer internship with the platform team", "sam.intern@example.com")
	c.mustPost("api/action", map[string]any{"user": fakeslack.DemoApproverID, "action_id": blocks.ActionApprove, "value": intern})
	contractor := request("U0D000012", "contractor@gmail.com for 30d Design review", "contractor@gmail.com")
	c.mustPost("api/action", map[string]any{"user": fakeslack.DemoAdmin2ID, "action_id": blocks.ActionDeny, "value": contractor})
	st := c.waitState(fakeslack.DemoAdmin2ID, "the Deny modal", func(st playground.State) bool {
		_, cb := topModal(st)
		return cb == blocks.CallbackDeny
	})
	view, _ := topModal(st)
	c.mustPost("api/submit", map[string]any{"user": fakeslack.DemoAdmin2ID, "view_id": view, "callback_id": blocks.CallbackDeny,
		"values": map[string]any{blocks.BlockReason: map[string]any{blocks.ActionReason: map[string]any{"type": "plain_text_input", "value": "Please use their company address"}}}})
	request(fakeslack.DemoMemberID, "newbie@example.com for 2w starting Monday", "newbie@example.com")
	c.waitState(fakeslack.DemoApproverID, "the decisions", func(st playground.State) bool {
		text := ""
		for _, m := range st.Messages[approvals] {
			text += string(m.Blocks)
		}
		return strings.Contains(text, "Approved") && strings.Contains(text, "Denied")
	})
	b.do("open #approvals as the approver", chromedp.EmulateViewport(1400, 1200), chromedp.Navigate(r.URL+"#as="+fakeslack.DemoApproverID+"&view=approvals"))
	b.until("three requests, one with buttons", `document.querySelectorAll('#messages .msg').length === 3 && document.querySelectorAll('#messages button[data-action-id="`+blocks.ActionApprove+`"]').length === 1`)
	b.do("settle", chromedp.WaitVisible(chromedp.CSS(member("sam.intern@example.com", "active"))))
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}
