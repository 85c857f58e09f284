package fakeslack

// Closing a modal from the user's side, for the playground's Cancel and ×
// buttons. Slack removes the view without asking the app, and tells it only
// when the view was opened with notify_on_close.

import (
	"encoding/json"
	"fmt"
)

// CloseModal closes userID's visible modal as the user does with its close
// button: Slack goes back to the view under it, or closes the whole stack
// when the view is the root or was opened with clear_on_close. If the view
// has notify_on_close, the app gets Slack's view_closed interactive
// envelope (with is_cleared true when the whole stack closed), whose ID is
// returned; otherwise the ID is "". It is an error when userID has no open
// modal, or when viewID is not "" and is not the visible modal's ID (the
// view changed under the user).
func (s *Server) CloseModal(userID, viewID string) (string, error) {
	s.mu.Lock()
	u, err := s.actorLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	stack := s.modals[userID]
	if len(stack) == 0 {
		s.mu.Unlock()
		return "", fmt.Errorf("fakeslack: %s has no open modal", userID)
	}
	top := stack[len(stack)-1]
	if viewID != "" && top.ID != viewID {
		s.mu.Unlock()
		return "", fmt.Errorf("fakeslack: the visible modal of %s is %s, not %s", userID, top.ID, viewID)
	}
	var vj map[string]any
	_ = json.Unmarshal(top.JSON, &vj)
	clearAll, _ := vj["clear_on_close"].(bool)
	notify, _ := vj["notify_on_close"].(bool)
	cleared := clearAll || len(stack) == 1
	if cleared {
		delete(s.modals, userID)
	} else {
		s.modals[userID] = stack[:len(stack)-1]
	}
	s.notifyLocked()
	if !notify {
		s.mu.Unlock()
		return "", nil
	}
	p := map[string]any{
		"type": "view_closed", "team": teamRef(), "user": userRef(u), "api_app_id": AppID,
		"token": "fakeverificationtoken", "view": vj, "is_cleared": cleared,
		"is_enterprise_install": false, "enterprise": nil,
	}
	s.mu.Unlock()
	return s.sendEnvelope("interactive", p, sentEnvelope{user: userID, kind: "view_closed", viewID: top.ID})
}
