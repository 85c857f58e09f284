package fakeslack

import (
	"encoding/json"
	"fmt"
	"time"
)

// decodeView reads the "view" argument (a JSON string in a form, or JSON)
// and validates it for its surface. It returns an error response on failure.
func decodeView(c *Call, wantType string) (map[string]any, apiResp) {
	if !c.Has("view") {
		return nil, errResp("invalid_arguments", "[ERROR] missing required field: view")
	}
	var raw json.RawMessage
	if err := c.Decode("view", &raw); err != nil {
		return nil, errResp("invalid_arguments", "[ERROR] failed to parse view JSON")
	}
	if len(raw) > 250_000 {
		return nil, errResp("view_too_large")
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil || v == nil {
		return nil, errResp("invalid_arguments", "[ERROR] view must be an object")
	}
	typ, _ := v["type"].(string)
	if wantType != "" && typ != wantType {
		return nil, errResp("invalid_arguments",
			fmt.Sprintf("[ERROR] must be '%s' [json-pointer:/view/type]", wantType))
	}
	if msgs := validateView(v); len(msgs) > 0 {
		return nil, errResp("invalid_arguments", msgs...)
	}
	return v, nil
}

// buildViewLocked turns a view request into the view Slack returns.
func (s *Server) buildViewLocked(req map[string]any, id, user, rootID, prevID string) View {
	out := map[string]any{}
	for k, v := range req {
		out[k] = v
	}
	hash := fmt.Sprintf("%d.%08x", time.Now().Unix(), uint32(s.nextLocked()))
	str := func(k string) string { v, _ := req[k].(string); return v }
	for k, def := range map[string]any{
		"blocks": []any{}, "private_metadata": "", "callback_id": "", "external_id": "",
		"clear_on_close": false, "notify_on_close": false, "submit": nil, "close": nil, "title": nil,
	} {
		if _, ok := out[k]; !ok {
			out[k] = def
		}
	}
	var prev any
	if prevID != "" {
		prev = prevID
	}
	out["id"], out["team_id"], out["hash"] = id, TeamID, hash
	out["root_view_id"], out["previous_view_id"] = rootID, prev
	out["app_id"], out["bot_id"], out["app_installed_team_id"] = AppID, BotID, TeamID
	if _, ok := out["state"]; !ok {
		out["state"] = map[string]any{"values": map[string]any{}}
	}
	j, _ := json.Marshal(out)
	blocks, _ := json.Marshal(out["blocks"])
	return View{
		ID: id, Type: str("type"), UserID: user, CallbackID: str("callback_id"),
		ExternalID: str("external_id"), PrivateMetadata: str("private_metadata"), Hash: hash,
		RootViewID: rootID, PreviousViewID: prevID, Blocks: blocks, JSON: j,
	}
}

func (s *Server) newViewIDLocked() string { return fmt.Sprintf("V0%09d", s.nextLocked()) }

func viewResp(v View) apiResp { return okResp(apiResp{"view": v.JSON}) }

func (s *Server) viewsPublish(c *Call) apiResp {
	userID := c.Param("user_id")
	if userID == "" {
		return errResp("invalid_arguments", "[ERROR] missing required field: user_id")
	}
	if _, ok := s.userLocked(userID); !ok {
		return errResp("user_not_found")
	}
	req, e := decodeView(c, "home")
	if e != nil {
		return e
	}
	old, had := s.homeViews[userID]
	if h := c.Param("hash"); h != "" && had && h != old.Hash {
		return errResp("hash_conflict")
	}
	id := old.ID
	if !had {
		id = s.newViewIDLocked()
	}
	v := s.buildViewLocked(req, id, userID, id, "")
	s.homeViews[userID] = v
	return viewResp(v)
}

// useTriggerLocked checks and spends a trigger_id, returning its user.
func (s *Server) useTriggerLocked(c *Call) (string, apiResp) {
	id := c.Param("trigger_id")
	if id == "" {
		id = c.Param("interactivity_pointer")
	}
	if id == "" {
		return "", errResp("invalid_arguments", "[ERROR] missing required field: trigger_id")
	}
	t, ok := s.triggers[id]
	switch {
	case !ok:
		return "", errResp("invalid_trigger_id")
	case t.used:
		return "", errResp("exchanged_trigger_id")
	case time.Since(t.issued) > s.cfg.triggerTTL:
		return "", errResp("expired_trigger_id")
	}
	t.used = true
	return t.user, nil
}

func (s *Server) viewsOpen(c *Call) apiResp {
	req, e := decodeView(c, "modal")
	if e != nil {
		return e
	}
	user, e := s.useTriggerLocked(c)
	if e != nil {
		return e
	}
	id := s.newViewIDLocked()
	v := s.buildViewLocked(req, id, user, id, "")
	s.modals[user] = []View{v}
	return viewResp(v)
}

func (s *Server) viewsPush(c *Call) apiResp {
	req, e := decodeView(c, "modal")
	if e != nil {
		return e
	}
	user, e := s.useTriggerLocked(c)
	if e != nil {
		return e
	}
	stack := s.modals[user]
	if len(stack) >= 3 {
		return errResp("push_limit_reached")
	}
	id := s.newViewIDLocked()
	root, prev := id, ""
	if len(stack) > 0 {
		root, prev = stack[0].ID, stack[len(stack)-1].ID
	}
	v := s.buildViewLocked(req, id, user, root, prev)
	s.modals[user] = append(stack, v)
	return viewResp(v)
}

func (s *Server) viewsUpdate(c *Call) apiResp {
	viewID, extID := c.Param("view_id"), c.Param("external_id")
	if viewID == "" && extID == "" {
		return errResp("invalid_arguments", "[ERROR] either view_id or external_id is required")
	}
	match := func(v View) bool {
		return (viewID != "" && v.ID == viewID) || (viewID == "" && extID != "" && v.ExternalID == extID)
	}
	check := func(old View) (map[string]any, apiResp) {
		if h := c.Param("hash"); h != "" && h != old.Hash {
			return nil, errResp("hash_conflict")
		}
		return decodeView(c, old.Type)
	}
	for user, stack := range s.modals {
		for i, old := range stack {
			if !match(old) {
				continue
			}
			req, e := check(old)
			if e != nil {
				return e
			}
			v := s.buildViewLocked(req, old.ID, user, old.RootViewID, old.PreviousViewID)
			stack[i] = v
			return viewResp(v)
		}
	}
	for user, old := range s.homeViews {
		if !match(old) {
			continue
		}
		req, e := check(old)
		if e != nil {
			return e
		}
		v := s.buildViewLocked(req, old.ID, user, old.ID, "")
		s.homeViews[user] = v
		return viewResp(v)
	}
	return errResp("not_found")
}
