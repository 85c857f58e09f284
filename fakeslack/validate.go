package fakeslack

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Block Kit validation: the limits of slack-platform.md §6 that Slack
// enforces with invalid_blocks (messages) or invalid_arguments (views).
// Messages follow Slack's "[ERROR] … [json-pointer:/blocks/0/text/text]"
// form. Unknown block and element types are accepted as they are.

type surface int

const (
	surfaceMessage surface = iota
	surfaceModal
	surfaceHome
)

type validator struct {
	msgs []string
}

func (v *validator) errorf(ptr, format string, args ...any) {
	v.msgs = append(v.msgs, fmt.Sprintf("[ERROR] "+format+" [json-pointer:%s]", append(args, ptr)...))
}

func (v *validator) maxLen(ptr, s string, n int) {
	if utf8.RuneCountInString(s) > n {
		v.errorf(ptr, "must be less than %d characters", n+1)
	}
}

// validateBlocks validates a message's blocks.
func validateBlocks(raw json.RawMessage, sf surface) []string {
	var blocks []any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return []string{"[ERROR] blocks must be an array [json-pointer:/blocks]"}
	}
	var v validator
	v.blocks("/blocks", blocks, sf)
	return v.msgs
}

// validateView validates a modal or Home tab view.
func validateView(view map[string]any) []string {
	var v validator
	sf := surfaceModal
	if view["type"] == "home" {
		sf = surfaceHome
	}
	str := func(k string) string { s, _ := view[k].(string); return s }
	v.maxLen("/view/callback_id", str("callback_id"), 255)
	v.maxLen("/view/external_id", str("external_id"), 255)
	v.maxLen("/view/private_metadata", str("private_metadata"), 3000)
	blocks, isArr := view["blocks"].([]any)
	switch b, ok := view["blocks"]; {
	case !ok || b == nil:
		v.errorf("/view/blocks", "missing required field: blocks")
	case !isArr:
		v.errorf("/view/blocks", "must be an array")
	}
	hasInput := false
	for _, b := range blocks {
		if m, ok := b.(map[string]any); ok && m["type"] == "input" {
			hasInput = true
		}
	}
	switch sf {
	case surfaceModal:
		if _, ok := view["title"]; !ok {
			v.errorf("/view/title", "missing required field: title")
		} else {
			v.text("/view/title", view["title"], 24, true)
		}
		if t, ok := view["submit"]; ok && t != nil {
			v.text("/view/submit", t, 24, true)
		} else if hasInput {
			v.errorf("/view/submit", "must provide a submit button when the view contains input blocks")
		}
		if t, ok := view["close"]; ok && t != nil {
			v.text("/view/close", t, 24, true)
		}
	case surfaceHome:
		for _, k := range []string{"submit", "close"} {
			if t, ok := view[k]; ok && t != nil {
				v.errorf("/view/"+k, "not allowed in a home view")
			}
		}
	}
	v.blocks("/view/blocks", blocks, sf)
	return v.msgs
}

func (v *validator) blocks(ptr string, blocks []any, sf surface) {
	limit := 100
	if sf == surfaceMessage {
		limit = 50
	}
	if len(blocks) > limit {
		v.errorf(ptr, "no more than %d items allowed", limit)
	}
	seen := map[string]bool{}
	for i, b := range blocks {
		p := fmt.Sprintf("%s/%d", ptr, i)
		m, ok := b.(map[string]any)
		if !ok {
			v.errorf(p, "must be an object")
			continue
		}
		if id, _ := m["block_id"].(string); id != "" {
			v.maxLen(p+"/block_id", id, 255)
			if seen[id] {
				v.errorf(p+"/block_id", "duplicate block_id")
			}
			seen[id] = true
		}
		v.block(p, m)
	}
}

func (v *validator) block(p string, m map[string]any) {
	typ, _ := m["type"].(string)
	switch typ {
	case "":
		v.errorf(p+"/type", "missing required field: type")
	case "section":
		_, hasText := m["text"]
		fields, _ := m["fields"].([]any)
		if !hasText && len(fields) == 0 {
			v.errorf(p, "must provide either text or fields")
		}
		if hasText {
			v.text(p+"/text", m["text"], 3000, false)
		}
		if len(fields) > 10 {
			v.errorf(p+"/fields", "no more than 10 items allowed")
		}
		for i, f := range fields {
			v.text(fmt.Sprintf("%s/fields/%d", p, i), f, 2000, false)
		}
		if a, ok := m["accessory"].(map[string]any); ok {
			v.element(p+"/accessory", a)
		}
	case "header":
		v.text(p+"/text", m["text"], 150, true)
	case "divider":
	case "actions":
		els, _ := m["elements"].([]any)
		if len(els) == 0 {
			v.errorf(p+"/elements", "must provide at least 1 item")
		}
		if len(els) > 25 {
			v.errorf(p+"/elements", "no more than 25 items allowed")
		}
		seen := map[string]bool{}
		for i, e := range els {
			ep := fmt.Sprintf("%s/elements/%d", p, i)
			em, _ := e.(map[string]any)
			if id, _ := em["action_id"].(string); id != "" {
				if seen[id] {
					v.errorf(ep+"/action_id", "duplicate action_id")
				}
				seen[id] = true
			}
			v.element(ep, em)
		}
	case "context":
		els, _ := m["elements"].([]any)
		if len(els) == 0 {
			v.errorf(p+"/elements", "must provide at least 1 item")
		}
		if len(els) > 10 {
			v.errorf(p+"/elements", "no more than 10 items allowed")
		}
		for i, e := range els {
			if em, ok := e.(map[string]any); ok && (em["type"] == "plain_text" || em["type"] == "mrkdwn") {
				v.text(fmt.Sprintf("%s/elements/%d", p, i), em, 3000, false)
			}
		}
	case "input":
		v.text(p+"/label", m["label"], 2000, true)
		if h, ok := m["hint"]; ok {
			v.text(p+"/hint", h, 2000, true)
		}
		el, ok := m["element"].(map[string]any)
		if !ok {
			v.errorf(p+"/element", "missing required field: element")
		} else {
			v.element(p+"/element", el)
		}
	}
}

// text validates a text object; plainOnly requires plain_text.
func (v *validator) text(p string, t any, maxLen int, plainOnly bool) {
	m, ok := t.(map[string]any)
	if !ok {
		v.errorf(p, "must be a text object")
		return
	}
	typ, _ := m["type"].(string)
	switch {
	case typ != "plain_text" && typ != "mrkdwn":
		v.errorf(p+"/type", "must be one of [plain_text, mrkdwn]")
	case plainOnly && typ != "plain_text":
		v.errorf(p+"/type", "must be plain_text")
	}
	s, _ := m["text"].(string)
	if s == "" {
		v.errorf(p+"/text", "must be more than 0 characters")
	}
	v.maxLen(p+"/text", s, maxLen)
}

func (v *validator) element(p string, m map[string]any) {
	if m == nil {
		v.errorf(p, "must be an object")
		return
	}
	if id, _ := m["action_id"].(string); id != "" {
		v.maxLen(p+"/action_id", id, 255)
	}
	if ph, ok := m["placeholder"]; ok {
		v.text(p+"/placeholder", ph, 150, true)
	}
	switch m["type"] {
	case "button":
		v.text(p+"/text", m["text"], 75, true)
		if s, _ := m["value"].(string); s != "" {
			v.maxLen(p+"/value", s, 2000)
		}
		if s, _ := m["url"].(string); s != "" {
			v.maxLen(p+"/url", s, 3000)
		}
	case "static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow":
		opts, _ := m["options"].([]any)
		if len(opts) > 100 {
			v.errorf(p+"/options", "no more than 100 items allowed")
		}
		for i, o := range opts {
			om, _ := o.(map[string]any)
			op := fmt.Sprintf("%s/options/%d", p, i)
			v.text(op+"/text", om["text"], 75, false)
			s, _ := om["value"].(string)
			v.maxLen(op+"/value", s, 150)
		}
	}
}
