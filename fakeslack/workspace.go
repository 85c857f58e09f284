package fakeslack

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// User is a Slack account as fakeslack keeps it. It is JSON-encoded like
// Slack's user object (users.info, users.list, team_join), with the email
// and names under "profile".
type User struct {
	ID                string
	Name              string // the handle, e.g. "ada.lovelace"
	RealName          string
	Email             string
	Deleted           bool // deactivated
	IsOwner           bool
	IsPrimaryOwner    bool
	IsAdmin           bool
	IsBot             bool
	IsRestricted      bool // a guest (multi- or single-channel)
	IsUltraRestricted bool // a single-channel guest (IsRestricted is true too)
	Updated           int64
}

type userJSON struct {
	ID                string      `json:"id"`
	TeamID            string      `json:"team_id"`
	Name              string      `json:"name"`
	RealName          string      `json:"real_name"`
	Deleted           bool        `json:"deleted"`
	IsAdmin           bool        `json:"is_admin"`
	IsOwner           bool        `json:"is_owner"`
	IsPrimaryOwner    bool        `json:"is_primary_owner"`
	IsRestricted      bool        `json:"is_restricted"`
	IsUltraRestricted bool        `json:"is_ultra_restricted"`
	IsBot             bool        `json:"is_bot"`
	IsAppUser         bool        `json:"is_app_user"`
	Updated           int64       `json:"updated"`
	TZ                string      `json:"tz"`
	Profile           profileJSON `json:"profile"`
}

type profileJSON struct {
	Email                 string `json:"email,omitempty"`
	RealName              string `json:"real_name"`
	RealNameNormalized    string `json:"real_name_normalized"`
	DisplayName           string `json:"display_name"`
	DisplayNameNormalized string `json:"display_name_normalized"`
	BotID                 string `json:"bot_id,omitempty"`
	Team                  string `json:"team"`
}

// MarshalJSON encodes u as Slack's user object.
func (u User) MarshalJSON() ([]byte, error) {
	j := userJSON{
		ID: u.ID, TeamID: TeamID, Name: u.Name, RealName: u.RealName, Deleted: u.Deleted,
		IsAdmin: u.IsAdmin, IsOwner: u.IsOwner, IsPrimaryOwner: u.IsPrimaryOwner,
		IsRestricted: u.IsRestricted, IsUltraRestricted: u.IsUltraRestricted, IsBot: u.IsBot,
		Updated: u.Updated, TZ: "Europe/London",
		Profile: profileJSON{
			Email: u.Email, RealName: u.RealName, RealNameNormalized: u.RealName,
			DisplayName: u.Name, DisplayNameNormalized: u.Name, Team: TeamID,
		},
	}
	if u.IsBot {
		j.Profile.BotID = "B" + strings.TrimPrefix(u.ID, "U")
		j.Profile.Email = "" // bots have no email
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes Slack's user object, the inverse of MarshalJSON.
func (u *User) UnmarshalJSON(b []byte) error {
	var j userJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*u = User{
		ID: j.ID, Name: j.Name, RealName: j.RealName, Email: j.Profile.Email, Deleted: j.Deleted,
		IsOwner: j.IsOwner, IsPrimaryOwner: j.IsPrimaryOwner, IsAdmin: j.IsAdmin, IsBot: j.IsBot,
		IsRestricted: j.IsRestricted, IsUltraRestricted: j.IsUltraRestricted, Updated: j.Updated,
	}
	return nil
}

// Workspace is the initial state of a fake Slack workspace: its members and
// user groups. Build one with NewWorkspace or DemoWorkspace and pass it to
// New with WithWorkspace; the server copies it, so one Workspace can seed
// many servers. A Workspace is not safe for concurrent use.
type Workspace struct {
	users      []User
	index      map[string]int
	usergroups map[string][]string
}

// NewWorkspace returns an empty workspace. The server always adds its own bot
// user (BotUserID) if the workspace lacks it.
func NewWorkspace() *Workspace {
	return &Workspace{index: map[string]int{}, usergroups: map[string][]string{}}
}

// Add adds users, or replaces the users with the same ID, and returns w.
// It panics on an empty ID, as the IDs are the test's own constants.
func (w *Workspace) Add(users ...User) *Workspace {
	for _, u := range users {
		if u.ID == "" {
			panic("fakeslack: Workspace.Add: user without ID")
		}
		if i, ok := w.index[u.ID]; ok {
			w.users[i] = u
			continue
		}
		w.index[u.ID] = len(w.users)
		w.users = append(w.users, u)
	}
	return w
}

// Usergroup defines the user group id (an S… ID, as passed to
// usergroups.users.list) with the given members, and returns w.
func (w *Workspace) Usergroup(id string, members ...string) *Workspace {
	w.usergroups[id] = append([]string(nil), members...)
	return w
}

// Users returns a copy of the workspace's users in the order they were added.
func (w *Workspace) Users() []User { return append([]User(nil), w.users...) }

func (w *Workspace) clone() *Workspace {
	c := NewWorkspace()
	c.Add(w.users...)
	for id, m := range w.usergroups {
		c.Usergroup(id, m...)
	}
	return c
}

// The demo workspace (DemoWorkspace). IDs and emails are fixed so tests and
// the playground can refer to them:
//
//	ID          name              email                        role
//	U0D000001   olivia.owner      olivia.owner@example.com     primary owner (also owner, admin)
//	U0D000002   adam.admin        adam.admin@example.com       admin
//	U0D000003   ada.admin         ada.admin@example.com        admin
//	U0D000004   paul.approver     paul.approver@example.com    member, the demo approver
//	U0D000010   mia.member        mia.member@example.com       member (DemoMemberID)
//	U0D000011…  10 more members   first.last@example.com       member (U0D000011 … U0D000019)
//	U0D000020   gus.guest         gus.guest@example.com        multi-channel guest
//	U0D000021   sam.single        sam.single@example.com       single-channel guest
//	U0D000030   dora.gone         dora.gone@example.com        deactivated member
//	U0D000031   dan.departed      dan.departed@example.com     deactivated member
//	U0D000040   standup-bot       (none)                       another app's bot
//	U0FAKEBOT   roster            (none)                       Roster's own bot (BotUserID)
//
// User group DemoApproversGroup holds the approver and both admins.
// DemoApprovalsChannel and DemoGeneralChannel are channel IDs to use.
const (
	DemoPrimaryOwnerID = "U0D000001"
	DemoAdminID        = "U0D000002"
	DemoAdmin2ID       = "U0D000003"
	DemoApproverID     = "U0D000004"
	DemoMemberID       = "U0D000010"
	DemoGuestID        = "U0D000020"
	DemoSingleGuestID  = "U0D000021"
	DemoDeactivatedID  = "U0D000030"
	DemoDeactivated2ID = "U0D000031"
	DemoOtherBotID     = "U0D000040"

	DemoPrimaryOwnerEmail = "olivia.owner@example.com"
	DemoAdminEmail        = "adam.admin@example.com"
	DemoAdmin2Email       = "ada.admin@example.com"
	DemoApproverEmail     = "paul.approver@example.com"
	DemoMemberEmail       = "mia.member@example.com"
	DemoGuestEmail        = "gus.guest@example.com"
	DemoSingleGuestEmail  = "sam.single@example.com"
	DemoDeactivatedEmail  = "dora.gone@example.com"
	DemoDeactivated2Email = "dan.departed@example.com"

	DemoApproversGroup   = "S0DAPPROVE"
	DemoApprovalsChannel = "C0DAPPROVALS"
	DemoGeneralChannel   = "C0DGENERAL"
)

// demoUpdated is the fixed "updated" time of demo users (2024-01-02 UTC).
const demoUpdated = 1704153600

// DemoWorkspace returns a realistic small workspace with the fixed IDs and
// emails listed above: a primary owner, two admins, an approver, eleven
// members, a multi-channel and a single-channel guest, two deactivated
// members, another app's bot, Roster's bot, and one user group.
func DemoWorkspace() *Workspace {
	w := NewWorkspace()
	add := func(id, name, real, email string, f func(*User)) {
		u := User{ID: id, Name: name, RealName: real, Email: email, Updated: demoUpdated}
		if f != nil {
			f(&u)
		}
		w.Add(u)
	}
	add(DemoPrimaryOwnerID, "olivia.owner", "Olivia Owner", DemoPrimaryOwnerEmail, func(u *User) {
		u.IsPrimaryOwner, u.IsOwner, u.IsAdmin = true, true, true
	})
	add(DemoAdminID, "adam.admin", "Adam Admin", DemoAdminEmail, func(u *User) { u.IsAdmin = true })
	add(DemoAdmin2ID, "ada.admin", "Ada Admin", DemoAdmin2Email, func(u *User) { u.IsAdmin = true })
	add(DemoApproverID, "paul.approver", "Paul Approver", DemoApproverEmail, nil)
	add(DemoMemberID, "mia.member", "Mia Member", DemoMemberEmail, nil)
	more := []string{"Noah Baker", "Emma Clark", "Liam Davis", "Ava Evans", "Lucas Fisher",
		"Zoe Green", "Ethan Hughes", "Isla Irwin", "Mason Jones", "Chloe King"}
	for i, real := range more {
		name := strings.ToLower(strings.ReplaceAll(real, " ", "."))
		add(fmt.Sprintf("U0D%06d", 11+i), name, real, name+"@example.com", nil)
	}
	add(DemoGuestID, "gus.guest", "Gus Guest", DemoGuestEmail, func(u *User) { u.IsRestricted = true })
	add(DemoSingleGuestID, "sam.single", "Sam Single", DemoSingleGuestEmail, func(u *User) {
		u.IsRestricted, u.IsUltraRestricted = true, true
	})
	add(DemoDeactivatedID, "dora.gone", "Dora Gone", DemoDeactivatedEmail, func(u *User) { u.Deleted = true })
	add(DemoDeactivated2ID, "dan.departed", "Dan Departed", DemoDeactivated2Email, func(u *User) { u.Deleted = true })
	add(DemoOtherBotID, "standup-bot", "Standup Bot", "", func(u *User) { u.IsBot = true })
	w.Add(botUser())
	w.Usergroup(DemoApproversGroup, DemoApproverID, DemoAdminID, DemoAdmin2ID)
	return w
}

func botUser() User {
	return User{ID: BotUserID, Name: "roster", RealName: "Roster", IsBot: true, Updated: demoUpdated}
}

var (
	firstNames = []string{"ada", "alan", "grace", "linus", "barbara", "ken", "dennis", "margaret",
		"edsger", "frances", "john", "radia", "tim", "katherine", "donald", "hedy", "niklaus",
		"sophie", "yukihiro", "guido", "rob", "anita", "leslie", "shafi"}
	lastNames = []string{"lovelace", "turing", "hopper", "torvalds", "liskov", "thompson", "ritchie",
		"hamilton", "dijkstra", "allen", "mccarthy", "perlman", "berners-lee", "johnson", "knuth",
		"lamarr", "wirth", "wilson", "matsumoto", "rossum", "pike", "borg", "lamport", "goldwasser"}
)

// GenerateMembers returns n deterministic members for large-workspace tests
// and benchmarks: IDs U0G000001…, unique emails first.last.N@example.com in
// example.com, and for the same seed always the same names and mix (about
// 3% deactivated, 2% multi-channel guests, 1% single-channel guests, 1%
// admins). Add them with NewWorkspace().Add(GenerateMembers(5000, 1)...).
func GenerateMembers(n int, seed uint64) []User {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]User, 0, n)
	for i := 1; i <= n; i++ {
		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		name := fmt.Sprintf("%s.%s.%d", first, last, i)
		u := User{
			ID:       fmt.Sprintf("U0G%06d", i),
			Name:     name,
			RealName: titleCase(first) + " " + titleCase(last),
			Email:    name + "@example.com",
			Updated:  demoUpdated + int64(r.IntN(86400*365)),
		}
		switch p := r.IntN(100); {
		case p < 3:
			u.Deleted = true
		case p < 5:
			u.IsRestricted = true
		case p < 6:
			u.IsRestricted, u.IsUltraRestricted = true, true
		case p < 7:
			u.IsAdmin = true
		}
		out = append(out, u)
	}
	return out
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
