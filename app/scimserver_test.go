package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/roster-app/roster/fakeslack"
	"github.com/roster-app/roster/provisioning"
)

const testSCIMToken = "idp-token-0123456789abcdef0123456789abcdef"

// scimCall sends one SCIM request to Roster's endpoint and decodes the
// answer.
func scimCall(t *testing.T, addr, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+"/scim/v2"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testSCIMToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, out
}

// An identity provider pushes people and a group to Roster's SCIM
// endpoint; access assigned to the group invites its members; the IdP
// disabling one (Okta's PATCH) deactivates their Slack account.
func TestIdentityProviderPush(t *testing.T) {
	fs := newFake(t)
	b := startBot(t, fs, env(fs, t.TempDir(), map[string]string{"ROSTER_SCIM_ADDR": "127.0.0.1:0", "ROSTER_SCIM_TOKEN": testSCIMToken}))
	addr := b.app.SCIMAddr()

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/scim/v2/Users", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /Users without a token = %d, want 401", resp.StatusCode)
	}

	ids := map[string]string{}
	for _, u := range []struct{ user, dept string }{{"pia.push", "Engineering/Platform"}, {"pat.push", "Sales"}} {
		code, body := scimCall(t, addr, http.MethodPost, "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":"`+u.user+`@example.com","name":{"givenName":"P","familyName":"Push"},"emails":[{"value":"`+u.user+`@example.com","type":"work","primary":true}],"active":true,
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"`+u.dept+`"}}`)
		if code != http.StatusCreated {
			t.Fatalf("POST /Users %s = %d %v", u.user, code, body)
		}
		ids[u.user] = body["id"].(string)
	}
	code, body := scimCall(t, addr, http.MethodPost, "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Pushed",
		"members":[{"value":"`+ids["pia.push"]+`"},{"value":"`+ids["pat.push"]+`"}]}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /Groups = %d %v", code, body)
	}
	st, err := b.app.Service.Entitlement(t.Context(), "pia.push@example.com")
	if err != nil || st.Entitled {
		t.Fatalf("entitled before any grant: %+v, %v", st, err)
	}
	if _, err := b.app.Service.GrantDirectory(t.Context(), provisioning.DirectoryGrant{Kind: provisioning.GrantGroup, Target: "Pushed", GrantedBy: fakeslack.DemoAdminID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both invited", func() bool {
		a, okA := fs.UserByEmail("pia.push@example.com")
		c, okC := fs.UserByEmail("pat.push@example.com")
		return okA && okC && !a.Deleted && !c.Deleted
	})
	code, body = scimCall(t, addr, http.MethodPatch, "/Users/"+ids["pat.push"], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
	if code != http.StatusOK {
		t.Fatalf("PATCH active false = %d %v", code, body)
	}
	waitFor(t, "pat deactivated", func() bool { u, _ := fs.UserByEmail("pat.push@example.com"); return u.Deleted })
	if u, _ := fs.UserByEmail("pia.push@example.com"); u.Deleted {
		t.Errorf("pia was deactivated too")
	}
	st, _ = b.app.Service.Entitlement(t.Context(), "pia.push@example.com")
	if len(st.Reasons) != 1 || st.Reasons[0] != "via group Pushed" {
		t.Errorf("pia's reasons = %v, want via group Pushed", st.Reasons)
	}
}
