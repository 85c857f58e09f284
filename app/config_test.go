package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/roster-app/roster/provisioning"
)

// Token values used across these tests. They are distinctive so that the
// leak test can look for any 8-character piece of them.
const (
	cfgAppToken   = "xapp-1-A0QZX7RK2M4-8831907731-f3a9c0e17b5d4e2a"
	cfgBotToken   = "xoxb-5512093377-KQ7MZT2WVB-hJ4nP8sLx2Rq"
	cfgAdminToken = "xoxp-6623104488-LR8NAU3XWC-iK5oQ9tMy3Sr"
	cfgSCIMToken  = "Zq3Vw9Lk7Pt2Rm8Xn4Bc6Hj1Gf5Ds0Ae"
)

// configEnv returns a getenv backed by the required variables, overridden by kv
// (an empty value unsets a variable).
func configEnv(kv map[string]string) func(string) string {
	m := map[string]string{
		"SLACK_APP_TOKEN":          cfgAppToken,
		"SLACK_BOT_TOKEN":          cfgBotToken,
		"SLACK_ADMIN_TOKEN":        cfgAdminToken,
		"ROSTER_APPROVALS_CHANNEL": "C0123ABCD",
	}
	for k, v := range kv {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// configDefaults is the Config LoadConfig returns for configEnv(nil).
func configDefaults() Config {
	return Config{
		AppToken:          cfgAppToken,
		BotToken:          cfgBotToken,
		AdminToken:        cfgAdminToken,
		APIURL:            "https://slack.com/api/",
		SCIMURL:           "https://api.slack.com/scim/v2/",
		DB:                "roster.db",
		ApprovalsChannel:  "C0123ABCD",
		RequiredApprovals: 1,
		MaxDuration:       90 * 24 * time.Hour,
		RequestTTL:        7 * 24 * time.Hour,
		ExpiryCheck:       time.Minute,
		ReconcileSchedule: "@hourly",
		MaxDeactivations:  Threshold{Percent: 10},
		LogLevel:          slog.LevelInfo,
		LogFormat:         "text",
		Workers:           4,
		JobGiveUp:         24 * time.Hour,
		SCIMRateShare:     1,
		ShutdownTimeout:   8 * time.Second,
		SCIMOrgUnit:       "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	got, err := LoadConfig(configEnv(nil))
	if err != nil {
		t.Fatalf("LoadConfig(required only) error: %v", err)
	}
	if diff := cmp.Diff(configDefaults(), got); diff != "" {
		t.Errorf("LoadConfig(required only) mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadConfigValid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{"tokens trimmed", map[string]string{"SLACK_APP_TOKEN": "  " + cfgAppToken + "\n", "SLACK_BOT_TOKEN": "\t" + cfgBotToken}, func(c *Config) {}},
		{"api url gets slash", map[string]string{"SLACK_API_URL": "http://127.0.0.1:9999/api"}, func(c *Config) { c.APIURL = "http://127.0.0.1:9999/api/" }},
		{"api url host only", map[string]string{"SLACK_API_URL": "https://slack-gov.com"}, func(c *Config) { c.APIURL = "https://slack-gov.com/" }},
		{"scim url kept", map[string]string{"SLACK_SCIM_URL": " https://api.slack.com/scim/v1/ "}, func(c *Config) { c.SCIMURL = "https://api.slack.com/scim/v1/" }},
		{"db", map[string]string{"ROSTER_DB": "/var/lib/roster/roster.db"}, func(c *Config) { c.DB = "/var/lib/roster/roster.db" }},
		{"admins with spaces and duplicates", map[string]string{"ROSTER_ADMINS": " U01AB , W02CD,U01AB,, "}, func(c *Config) { c.Admins = []string{"U01AB", "W02CD"} }},
		{"approvers", map[string]string{"ROSTER_APPROVERS": "U0123ABCD"}, func(c *Config) { c.Approvers = []string{"U0123ABCD"} }},
		{"only commas", map[string]string{"ROSTER_ADMINS": " , ,"}, func(c *Config) {}},
		{"private channel", map[string]string{"ROSTER_APPROVALS_CHANNEL": "G0123ABC"}, func(c *Config) { c.ApprovalsChannel = "G0123ABC" }},
		{"required approvals 3", map[string]string{"ROSTER_REQUIRED_APPROVALS": "3"}, func(c *Config) { c.RequiredApprovals = 3 }},
		{"required approvals 10", map[string]string{"ROSTER_REQUIRED_APPROVALS": "10"}, func(c *Config) { c.RequiredApprovals = 10 }},
		{"max duration days", map[string]string{"ROSTER_MAX_DURATION": "30d"}, func(c *Config) { c.MaxDuration = 30 * 24 * time.Hour }},
		{"request ttl weeks and days", map[string]string{"ROSTER_REQUEST_TTL": "1w2d"}, func(c *Config) { c.RequestTTL = 9 * 24 * time.Hour }},
		{"request ttl fraction", map[string]string{"ROSTER_REQUEST_TTL": "1.5h"}, func(c *Config) { c.RequestTTL = 90 * time.Minute }},
		{"expiry check 1s", map[string]string{"ROSTER_EXPIRY_CHECK": "1s"}, func(c *Config) { c.ExpiryCheck = time.Second }},
		{"dry run TRUE", map[string]string{"ROSTER_DRY_RUN": "TRUE"}, func(c *Config) { c.DryRun = true }},
		{"dry run 1", map[string]string{"ROSTER_DRY_RUN": "1"}, func(c *Config) { c.DryRun = true }},
		{"dry run yes", map[string]string{"ROSTER_DRY_RUN": "Yes"}, func(c *Config) { c.DryRun = true }},
		{"dry run no", map[string]string{"ROSTER_DRY_RUN": "no"}, func(c *Config) {}},
		{"dry run 0", map[string]string{"ROSTER_DRY_RUN": "0"}, func(c *Config) {}},
		{"dry run False", map[string]string{"ROSTER_DRY_RUN": "False"}, func(c *Config) {}},
		{"http addr port only", map[string]string{"ROSTER_HTTP_ADDR": ":8080"}, func(c *Config) { c.HTTPAddr = ":8080" }},
		{"http addr any port", map[string]string{"ROSTER_HTTP_ADDR": "127.0.0.1:0"}, func(c *Config) { c.HTTPAddr = "127.0.0.1:0" }},
		{"http addr ipv6", map[string]string{"ROSTER_HTTP_ADDR": "[::1]:9090"}, func(c *Config) { c.HTTPAddr = "[::1]:9090" }},
		{"http addr name", map[string]string{"ROSTER_HTTP_ADDR": "localhost:8080"}, func(c *Config) { c.HTTPAddr = "localhost:8080" }},
		{"scim endpoint", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": cfgSCIMToken}, func(c *Config) { c.SCIMAddr, c.SCIMToken = ":8081", cfgSCIMToken }},
		{"scim org unit attribute", map[string]string{"ROSTER_SCIM_ORG_UNIT_ATTRIBUTE": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"}, func(c *Config) {
			c.SCIMOrgUnit = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"
		}},
		{"scim token base64", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": "q+/Zq3Vw9Lk7Pt2Rm8Xn4Bc6Hj1Gf5Ds0A=="}, func(c *Config) { c.SCIMAddr, c.SCIMToken = ":8081", "q+/Zq3Vw9Lk7Pt2Rm8Xn4Bc6Hj1Gf5Ds0A==" }},
		{"schedule daily", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "@daily"}, func(c *Config) { c.ReconcileSchedule = "@daily" }},
		{"schedule fields", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "*/15 * * * *"}, func(c *Config) { c.ReconcileSchedule = "*/15 * * * *" }},
		{"schedule every", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "@every 30m"}, func(c *Config) { c.ReconcileSchedule = "@every 30m" }},
		{"schedule time zone", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "CRON_TZ=UTC 0 9 * * 1-5"}, func(c *Config) { c.ReconcileSchedule = "CRON_TZ=UTC 0 9 * * 1-5" }},
		{"max deactivations count", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "25"}, func(c *Config) { c.MaxDeactivations = Threshold{Count: 25} }},
		{"max deactivations percent", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "5 %"}, func(c *Config) { c.MaxDeactivations = Threshold{Percent: 5} }},
		{"max deactivations fraction of a percent", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "0.5%"}, func(c *Config) { c.MaxDeactivations = Threshold{Percent: 0.5} }},
		{"max deactivations all", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "100%"}, func(c *Config) { c.MaxDeactivations = Threshold{Percent: 100} }},
		{"log level DEBUG", map[string]string{"ROSTER_LOG_LEVEL": "DEBUG"}, func(c *Config) { c.LogLevel = slog.LevelDebug }},
		{"log level warning", map[string]string{"ROSTER_LOG_LEVEL": "warning"}, func(c *Config) { c.LogLevel = slog.LevelWarn }},
		{"log level warn", map[string]string{"ROSTER_LOG_LEVEL": "warn"}, func(c *Config) { c.LogLevel = slog.LevelWarn }},
		{"log level error", map[string]string{"ROSTER_LOG_LEVEL": "Error"}, func(c *Config) { c.LogLevel = slog.LevelError }},
		{"log format JSON", map[string]string{"ROSTER_LOG_FORMAT": "JSON"}, func(c *Config) { c.LogFormat = "json" }},
		{"workers 1", map[string]string{"ROSTER_WORKERS": "1"}, func(c *Config) { c.Workers = 1 }},
		{"workers 64", map[string]string{"ROSTER_WORKERS": "64"}, func(c *Config) { c.Workers = 64 }},
		{"job give up", map[string]string{"ROSTER_JOB_GIVE_UP": "1m"}, func(c *Config) { c.JobGiveUp = time.Minute }},
		{"rate share half", map[string]string{"ROSTER_SCIM_RATE_SHARE": "50%"}, func(c *Config) { c.SCIMRateShare = 0.5 }},
		{"rate share 1%", map[string]string{"ROSTER_SCIM_RATE_SHARE": "1%"}, func(c *Config) { c.SCIMRateShare = 0.01 }},
		{"rate share fraction", map[string]string{"ROSTER_SCIM_RATE_SHARE": "12.5%"}, func(c *Config) { c.SCIMRateShare = 0.125 }},
		{"shutdown timeout", map[string]string{"ROSTER_SHUTDOWN_TIMEOUT": "2s"}, func(c *Config) { c.ShutdownTimeout = 2 * time.Second }},
		{"empty means default", map[string]string{"ROSTER_WORKERS": "", "ROSTER_LOG_LEVEL": "  "}, func(c *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(configEnv(tt.env))
			if err != nil {
				t.Fatalf("LoadConfig(%v) error: %v", tt.env, err)
			}
			want := configDefaults()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("LoadConfig(%v) mismatch (-want +got):\n%s", tt.env, diff)
			}
		})
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		varName string // the one variable the problem names
		want    string // a substring of the problem
	}{
		{"app token missing", map[string]string{"SLACK_APP_TOKEN": ""}, "SLACK_APP_TOKEN", "missing; set the app-level token (xapp-) from Basic Information"},
		{"bot token in app variable", map[string]string{"SLACK_APP_TOKEN": cfgBotToken}, "SLACK_APP_TOKEN", "looks like a bot token (xoxb-); use the app-level token (xapp-)"},
		{"app token in bot variable", map[string]string{"SLACK_BOT_TOKEN": cfgAppToken}, "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN: looks like an app-level token (xapp-); use the bot token (xoxb-) from OAuth & Permissions."},
		{"user token in bot variable", map[string]string{"SLACK_BOT_TOKEN": cfgAdminToken}, "SLACK_BOT_TOKEN", "looks like a user token (xoxp-); use the bot token (xoxb-)"},
		{"rotating bot token", map[string]string{"SLACK_BOT_TOKEN": "xoxe.xoxb-1-MS0yLTk5OTk5"}, "SLACK_BOT_TOKEN", "looks like an expiring bot token (xoxe.xoxb-), which expires; turn off token rotation"},
		{"refresh token", map[string]string{"SLACK_BOT_TOKEN": "xoxe-1-My0xLTk5OTk5"}, "SLACK_BOT_TOKEN", "looks like a refresh token (xoxe-)"},
		{"browser token", map[string]string{"SLACK_BOT_TOKEN": "xoxc-12345-67890"}, "SLACK_BOT_TOKEN", "looks like a browser session token (xoxc-)"},
		{"not a token", map[string]string{"SLACK_BOT_TOKEN": "hunter2hunter2"}, "SLACK_BOT_TOKEN", "does not look like a Slack token (it should start with xoxb-)"},
		{"prefix only", map[string]string{"SLACK_BOT_TOKEN": "xoxb-"}, "SLACK_BOT_TOKEN", "holds only the prefix xoxb-"},
		{"white space inside", map[string]string{"SLACK_BOT_TOKEN": "xoxb-5512093377 KQ7MZT2WVB"}, "SLACK_BOT_TOKEN", "contains white space; paste the bot token (xoxb-) from OAuth & Permissions exactly as Slack shows it"},
		{"line break inside", map[string]string{"SLACK_BOT_TOKEN": "xoxb-5512093377\nKQ7MZT2WVB"}, "SLACK_BOT_TOKEN", "contains white space"},
		{"quoted", map[string]string{"SLACK_BOT_TOKEN": `"` + cfgBotToken + `"`}, "SLACK_BOT_TOKEN", "is wrapped in quotes"},
		{"bearer", map[string]string{"SLACK_BOT_TOKEN": "Bearer " + cfgBotToken}, "SLACK_BOT_TOKEN", `starts with "Bearer "`},
		{"control character", map[string]string{"SLACK_BOT_TOKEN": "xoxb-55120\x0093377"}, "SLACK_BOT_TOKEN", "contains control or non-ASCII characters"},
		{"admin token missing", map[string]string{"SLACK_ADMIN_TOKEN": ""}, "SLACK_ADMIN_TOKEN", "missing; set the user token (xoxp-) of a workspace owner or admin, with the admin scope, from OAuth & Permissions, or set ROSTER_DRY_RUN=true"},
		{"bot token in admin variable", map[string]string{"SLACK_ADMIN_TOKEN": cfgBotToken}, "SLACK_ADMIN_TOKEN", "looks like a bot token (xoxb-); use the user token (xoxp-)"},
		{"api url without scheme", map[string]string{"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL", `"slack.com/api" is not an http or https URL; use an absolute URL such as https://slack.com/api/`},
		{"api url ftp", map[string]string{"SLACK_API_URL": "ftp://slack.com/api/"}, "SLACK_API_URL", "is not an http or https URL"},
		{"api url userinfo", map[string]string{"SLACK_API_URL": "https://bob:s3cret@slack.com/api/"}, "SLACK_API_URL", "contains a user name or password, which is not shown"},
		{"api url query", map[string]string{"SLACK_API_URL": "https://slack.com/api/?x=1"}, "SLACK_API_URL", "has a query or fragment"},
		{"api url fragment", map[string]string{"SLACK_API_URL": "https://slack.com/api/#top"}, "SLACK_API_URL", "has a query or fragment"},
		{"api url no host", map[string]string{"SLACK_API_URL": "https:///api/"}, "SLACK_API_URL", "has no host"},
		{"api url malformed", map[string]string{"SLACK_API_URL": "http://[::1"}, "SLACK_API_URL", "is not a valid URL"},
		{"scim url relative", map[string]string{"SLACK_SCIM_URL": "/scim/v2/"}, "SLACK_SCIM_URL", "such as https://api.slack.com/scim/v2/"},
		{"token in db", map[string]string{"ROSTER_DB": cfgBotToken}, "ROSTER_DB", "looks like a Slack token, which is not shown"},
		{"token in url", map[string]string{"SLACK_API_URL": "https://slack.com/api/?token=" + cfgBotToken}, "SLACK_API_URL", "looks like a Slack token"},
		{"part of scim token in log level", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": cfgSCIMToken, "ROSTER_LOG_LEVEL": cfgSCIMToken[4:20]}, "ROSTER_LOG_LEVEL", "contains part of the value of ROSTER_SCIM_TOKEN, which is not shown"},
		{"admin not an id", map[string]string{"ROSTER_ADMINS": "U01AB,alice"}, "ROSTER_ADMINS", `"alice" is not a Slack user ID; list member IDs such as U012AB3CD`},
		{"admins several bad", map[string]string{"ROSTER_ADMINS": "u01ab, <@U01AB>, U01AB"}, "ROSTER_ADMINS", `"u01ab", "<@U01AB>" are not Slack user IDs`},
		{"approver is a channel", map[string]string{"ROSTER_APPROVERS": "C0123ABC"}, "ROSTER_APPROVERS", `"C0123ABC" is not a Slack user ID`},
		{"approver too short", map[string]string{"ROSTER_APPROVERS": "U1"}, "ROSTER_APPROVERS", `"U1" is not a Slack user ID`},
		{"channel missing", map[string]string{"ROSTER_APPROVALS_CHANNEL": ""}, "ROSTER_APPROVALS_CHANNEL", "missing; set the ID of the channel"},
		{"channel name", map[string]string{"ROSTER_APPROVALS_CHANNEL": "#access-requests"}, "ROSTER_APPROVALS_CHANNEL", `"#access-requests" is a channel name; use the channel's ID`},
		{"channel is a user", map[string]string{"ROSTER_APPROVALS_CHANNEL": "U0123ABC"}, "ROSTER_APPROVALS_CHANNEL", "is not a Slack channel ID"},
		{"channel lower case", map[string]string{"ROSTER_APPROVALS_CHANNEL": "c0123abc"}, "ROSTER_APPROVALS_CHANNEL", "is not a Slack channel ID"},
		{"approvals zero", map[string]string{"ROSTER_REQUIRED_APPROVALS": "0"}, "ROSTER_REQUIRED_APPROVALS", `"0" is out of range; use a whole number from 1 to 10`},
		{"approvals eleven", map[string]string{"ROSTER_REQUIRED_APPROVALS": "11"}, "ROSTER_REQUIRED_APPROVALS", "out of range"},
		{"approvals words", map[string]string{"ROSTER_REQUIRED_APPROVALS": "two"}, "ROSTER_REQUIRED_APPROVALS", `"two" is not a whole number; use one from 1 to 10`},
		{"approvals fraction", map[string]string{"ROSTER_REQUIRED_APPROVALS": "1.5"}, "ROSTER_REQUIRED_APPROVALS", "is not a whole number"},
		{"max duration no unit", map[string]string{"ROSTER_MAX_DURATION": "10"}, "ROSTER_MAX_DURATION", `ROSTER_MAX_DURATION: "10" is not a valid duration; add a unit, e.g. 90s, 30m, 12h, 7d, 2w.`},
		{"max duration negative", map[string]string{"ROSTER_MAX_DURATION": "-1d"}, "ROSTER_MAX_DURATION", "use a positive duration"},
		{"max duration zero", map[string]string{"ROSTER_MAX_DURATION": "0"}, "ROSTER_MAX_DURATION", "use a positive duration"},
		{"max duration years", map[string]string{"ROSTER_MAX_DURATION": "1y"}, "ROSTER_MAX_DURATION", `use the units s, m, h, d or w (not "y")`},
		{"max duration overflow", map[string]string{"ROSTER_MAX_DURATION": "200000w"}, "ROSTER_MAX_DURATION", "use at most 100 years"},
		{"request ttl garbage", map[string]string{"ROSTER_REQUEST_TTL": "forever"}, "ROSTER_REQUEST_TTL", `"forever" is not a valid duration; use a number with a unit`},
		{"expiry check too short", map[string]string{"ROSTER_EXPIRY_CHECK": "500ms"}, "ROSTER_EXPIRY_CHECK", `"500ms" is shorter than 1s; use 1s or more`},
		{"dry run maybe", map[string]string{"ROSTER_DRY_RUN": "maybe"}, "ROSTER_DRY_RUN", `"maybe" is not true or false`},
		{"http addr port number only", map[string]string{"ROSTER_HTTP_ADDR": "8080"}, "ROSTER_HTTP_ADDR", `"8080" has no host part; write ":8080"`},
		{"http addr no port", map[string]string{"ROSTER_HTTP_ADDR": "localhost"}, "ROSTER_HTTP_ADDR", `"localhost" is not a host:port address; use e.g. :8080`},
		{"http addr url", map[string]string{"ROSTER_HTTP_ADDR": "http://0.0.0.0:8080"}, "ROSTER_HTTP_ADDR", "is not a host:port address"},
		{"http addr named port", map[string]string{"ROSTER_HTTP_ADDR": ":http"}, "ROSTER_HTTP_ADDR", "has no valid port"},
		{"http addr big port", map[string]string{"ROSTER_HTTP_ADDR": ":70000"}, "ROSTER_HTTP_ADDR", "has no valid port; use a port number from 0 to 65535"},
		{"scim org unit attribute unknown", map[string]string{"ROSTER_SCIM_ORG_UNIT_ATTRIBUTE": "emails"}, "ROSTER_SCIM_ORG_UNIT_ATTRIBUTE", "is not a SCIM user attribute"},
		{"scim org unit attribute with a filter", map[string]string{"ROSTER_SCIM_ORG_UNIT_ATTRIBUTE": `emails[type eq "work"].value`}, "ROSTER_SCIM_ORG_UNIT_ATTRIBUTE", "is not a SCIM user attribute"},
		{"scim addr without token", map[string]string{"ROSTER_SCIM_ADDR": ":8081"}, "ROSTER_SCIM_TOKEN", "missing while ROSTER_SCIM_ADDR is set"},
		{"scim token without addr", map[string]string{"ROSTER_SCIM_TOKEN": cfgSCIMToken}, "ROSTER_SCIM_ADDR", "missing while ROSTER_SCIM_TOKEN is set"},
		{"scim addr malformed", map[string]string{"ROSTER_SCIM_ADDR": "scim", "ROSTER_SCIM_TOKEN": cfgSCIMToken}, "ROSTER_SCIM_ADDR", "is not a host:port address; use e.g. :8081"},
		{"scim token short", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": "short-secret"}, "ROSTER_SCIM_TOKEN", "is shorter than 32 characters; use a random secret"},
		{"scim token is a slack token", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": cfgAdminToken}, "ROSTER_SCIM_TOKEN", "looks like a Slack token, a user token (xoxp-); never reuse a Slack token here"},
		{"scim token with space", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": "Zq3Vw9Lk7Pt2Rm8X n4Bc6Hj1Gf5Ds0Ae"}, "ROSTER_SCIM_TOKEN", "contains white space"},
		{"scim token punctuation", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": "Zq3Vw9Lk7Pt2Rm8X;n4Bc6Hj1Gf5Ds0Ae"}, "ROSTER_SCIM_TOKEN", "contains characters a bearer token cannot carry"},
		{"scim token non-ascii", map[string]string{"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": "Zq3Vw9Lk7Pt2Rm8Xé4Bc6Hj1Gf5Ds0Ae"}, "ROSTER_SCIM_TOKEN", "contains control or non-ASCII characters"},
		{"schedule words", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "every hour"}, "ROSTER_RECONCILE_SCHEDULE", `"every hour" is not a cron schedule`},
		{"schedule out of range", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "61 * * * *"}, "ROSTER_RECONCILE_SCHEDULE", "is not a cron schedule"},
		{"schedule six fields", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "0 0 * * * *"}, "ROSTER_RECONCILE_SCHEDULE", "is not a cron schedule"},
		{"schedule every days", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "@every 7d"}, "ROSTER_RECONCILE_SCHEDULE", "is not a cron schedule"},
		{"deactivations zero", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "0"}, "ROSTER_MAX_DEACTIVATIONS", `"0" is less than 1; use a number of people such as 25`},
		{"deactivations negative", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "-5"}, "ROSTER_MAX_DEACTIVATIONS", "is less than 1"},
		{"deactivations zero percent", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "0%"}, "ROSTER_MAX_DEACTIVATIONS", `"0%" is out of range; use a share above 0% and at most 100%`},
		{"deactivations over 100 percent", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "150%"}, "ROSTER_MAX_DEACTIVATIONS", "is out of range"},
		{"deactivations words", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "ten"}, "ROSTER_MAX_DEACTIVATIONS", "is neither a count nor a percentage"},
		{"deactivations fraction count", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "2.5"}, "ROSTER_MAX_DEACTIVATIONS", "is neither a count nor a percentage"},
		{"deactivations bad percent", map[string]string{"ROSTER_MAX_DEACTIVATIONS": "NaN%"}, "ROSTER_MAX_DEACTIVATIONS", "is not a percentage"},
		{"log level", map[string]string{"ROSTER_LOG_LEVEL": "verbose"}, "ROSTER_LOG_LEVEL", `"verbose" is not a log level; use debug, info, warn or error`},
		{"log level number", map[string]string{"ROSTER_LOG_LEVEL": "-4"}, "ROSTER_LOG_LEVEL", "is not a log level"},
		{"log format", map[string]string{"ROSTER_LOG_FORMAT": "yaml"}, "ROSTER_LOG_FORMAT", `"yaml" is not a log format; use text or json`},
		{"workers zero", map[string]string{"ROSTER_WORKERS": "0"}, "ROSTER_WORKERS", "use a whole number from 1 to 64"},
		{"workers too many", map[string]string{"ROSTER_WORKERS": "65"}, "ROSTER_WORKERS", "out of range"},
		{"job give up short", map[string]string{"ROSTER_JOB_GIVE_UP": "30s"}, "ROSTER_JOB_GIVE_UP", `"30s" is shorter than 1m; use 1m or more`},
		{"job give up no unit", map[string]string{"ROSTER_JOB_GIVE_UP": "24"}, "ROSTER_JOB_GIVE_UP", "add a unit"},
		{"rate share without percent", map[string]string{"ROSTER_SCIM_RATE_SHARE": "50"}, "ROSTER_SCIM_RATE_SHARE", `"50" has no percent sign; write a share from 1% to 100%`},
		{"rate share fraction", map[string]string{"ROSTER_SCIM_RATE_SHARE": "0.5"}, "ROSTER_SCIM_RATE_SHARE", "has no percent sign"},
		{"rate share too small", map[string]string{"ROSTER_SCIM_RATE_SHARE": "0.5%"}, "ROSTER_SCIM_RATE_SHARE", "is out of range"},
		{"rate share too big", map[string]string{"ROSTER_SCIM_RATE_SHARE": "150%"}, "ROSTER_SCIM_RATE_SHARE", "is out of range"},
		{"rate share words", map[string]string{"ROSTER_SCIM_RATE_SHARE": "half%"}, "ROSTER_SCIM_RATE_SHARE", "is not a percentage"},
		{"shutdown zero", map[string]string{"ROSTER_SHUTDOWN_TIMEOUT": "0s"}, "ROSTER_SHUTDOWN_TIMEOUT", "use a positive duration"},
		{"shutdown too short", map[string]string{"ROSTER_SHUTDOWN_TIMEOUT": "100ms"}, "ROSTER_SHUTDOWN_TIMEOUT", "is shorter than 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(configEnv(tt.env))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadConfig(%q) error = %v, want a *ConfigError", tt.env, err)
			}
			if len(ce.Problems) != 1 {
				t.Fatalf("LoadConfig(%q) problems = %q, want exactly one", tt.env, ce.Problems)
			}
			p := ce.Problems[0]
			if !strings.HasPrefix(p, tt.varName+": ") {
				t.Errorf("problem = %q, want it to start with %q", p, tt.varName+": ")
			}
			if !strings.Contains(p, tt.want) {
				t.Errorf("problem = %q, want it to contain %q", p, tt.want)
			}
			if diff := cmp.Diff(Config{}, got); diff != "" {
				t.Errorf("LoadConfig(%q) with an error returned a non-zero Config (-want +got):\n%s", tt.env, diff)
			}
		})
	}
}

// configProblemLine is the shape of every ConfigError line: the variable, what is
// wrong, a semicolon, how to fix it, and a period.
var configProblemLine = regexp.MustCompile(`^[A-Z_]+: [^\n]+; [^\n]+\.$`)

func TestLoadConfigAllProblemsAtOnce(t *testing.T) {
	_, err := LoadConfig(configEnv(map[string]string{
		"SLACK_BOT_TOKEN":          cfgAppToken,
		"SLACK_ADMIN_TOKEN":        "",
		"ROSTER_APPROVALS_CHANNEL": "#approvals",
		"ROSTER_MAX_DURATION":      "10",
		"ROSTER_LOG_LEVEL":         "loud",
		"ROSTER_SCIM_ADDR":         ":8081",
	}))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig error = %v, want a *ConfigError", err)
	}
	var names []string
	for _, p := range ce.Problems {
		name, _, _ := strings.Cut(p, ":")
		names = append(names, name)
		if !configProblemLine.MatchString(p) {
			t.Errorf("problem %q does not read \"VARIABLE: what is wrong; how to fix it.\"", p)
		}
	}
	want := []string{"SLACK_BOT_TOKEN", "SLACK_ADMIN_TOKEN", "ROSTER_APPROVALS_CHANNEL", "ROSTER_MAX_DURATION", "ROSTER_SCIM_TOKEN", "ROSTER_LOG_LEVEL"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("variables named by the problems, in order (-want +got):\n%s", diff)
	}
	text := err.Error()
	lines := strings.Split(text, "\n")
	if lines[0] != "invalid configuration (6 problems):" {
		t.Errorf("first line = %q, want %q", lines[0], "invalid configuration (6 problems):")
	}
	if diff := cmp.Diff(ce.Problems, lines[1:]); diff != "" {
		t.Errorf("Error() lines after the heading (-want +got):\n%s", diff)
	}
	if !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("errors.Is(%v, provisioning.ErrInvalid) = false, want true", err)
	}
}

// TestConfigProblemsAreSentences runs every invalid case of
// TestLoadConfigInvalid together and checks the shape of each line.
func TestConfigProblemsAreSentences(t *testing.T) {
	kv := map[string]string{
		"SLACK_APP_TOKEN": "", "SLACK_BOT_TOKEN": "xoxb-", "SLACK_ADMIN_TOKEN": "Bearer x",
		"SLACK_API_URL": "ftp://x/", "SLACK_SCIM_URL": "https://u:p@x/", "ROSTER_DB": "xoxp-1",
		"ROSTER_ADMINS": "bob", "ROSTER_APPROVERS": "a,b", "ROSTER_APPROVALS_CHANNEL": "#x",
		"ROSTER_REQUIRED_APPROVALS": "x", "ROSTER_MAX_DURATION": "1y", "ROSTER_REQUEST_TTL": "-1h",
		"ROSTER_EXPIRY_CHECK": "1ms", "ROSTER_DRY_RUN": "perhaps", "ROSTER_HTTP_ADDR": "9000",
		"ROSTER_SCIM_ADDR": "x", "ROSTER_SCIM_TOKEN": "short", "ROSTER_SCIM_ORG_UNIT_ATTRIBUTE": "active", "ROSTER_RECONCILE_SCHEDULE": "* *",
		"ROSTER_MAX_DEACTIVATIONS": "0%", "ROSTER_LOG_LEVEL": "trace", "ROSTER_LOG_FORMAT": "xml",
		"ROSTER_WORKERS": "100", "ROSTER_JOB_GIVE_UP": "1s", "ROSTER_SCIM_RATE_SHARE": "2",
		"ROSTER_SHUTDOWN_TIMEOUT": "soon",
	}
	_, err := LoadConfig(configEnv(kv))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("LoadConfig error = %v, want a *ConfigError", err)
	}
	if len(ce.Problems) != len(Variables) {
		t.Errorf("got %d problems, want one per variable (%d):\n%s", len(ce.Problems), len(Variables), err)
	}
	for i, p := range ce.Problems {
		if !configProblemLine.MatchString(p) {
			t.Errorf("problem %q does not read \"VARIABLE: what is wrong; how to fix it.\"", p)
		}
		if i < len(Variables) && !strings.HasPrefix(p, Variables[i].Name+": ") {
			t.Errorf("problem %d = %q, want it about %s (Variables order)", i, p, Variables[i].Name)
		}
	}
}

func TestLoadConfigDryRun(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" for no error
	}{
		{"dry run without admin token", map[string]string{"ROSTER_DRY_RUN": "true", "SLACK_ADMIN_TOKEN": ""}, ""},
		{"dry run with admin token", map[string]string{"ROSTER_DRY_RUN": "yes"}, ""},
		{"dry run with a wrong admin token", map[string]string{"ROSTER_DRY_RUN": "1", "SLACK_ADMIN_TOKEN": cfgBotToken}, "SLACK_ADMIN_TOKEN: looks like a bot token (xoxb-)"},
		{"dry run off without admin token", map[string]string{"ROSTER_DRY_RUN": "false", "SLACK_ADMIN_TOKEN": ""}, "SLACK_ADMIN_TOKEN: missing"},
		{"dry run malformed without admin token", map[string]string{"ROSTER_DRY_RUN": "sure", "SLACK_ADMIN_TOKEN": ""}, "SLACK_ADMIN_TOKEN: missing"},
		{"dry run does not excuse the bot token", map[string]string{"ROSTER_DRY_RUN": "true", "SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(configEnv(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadConfig(%q) error: %v", tt.env, err)
				}
				if !cfg.DryRun {
					t.Errorf("LoadConfig(%q).DryRun = false, want true", tt.env)
				}
				if got, want := cfg.AdminToken.Reveal(), configEnv(tt.env)("SLACK_ADMIN_TOKEN"); got != want {
					t.Errorf("AdminToken = %q, want %q", got, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadConfig(%q) error = %v, want one containing %q", tt.env, err, tt.wantErr)
			}
		})
	}
}

// TestConfigSecretsNeverPrinted formats configurations and errors every way they
// might reach a log or a terminal and checks that no token, nor any
// 8-character piece of one, appears.
func TestConfigSecretsNeverPrinted(t *testing.T) {
	const (
		app  = "xapp-1-A0LEAKAPP77-9907731234-c0ffee1eaked4pp"
		bot  = "xoxb-4400112233-LEAKBOT7QZ-Tz9yXw8vUu7t"
		adm  = "xoxp-5500223344-LEAKADMN8R-Ss6rQq5pOo4n"
		scim = "LeakScim0Yb8Xc7Wd6Ve5Uf4Tg3Sh2Ri1Qj"
	)
	tokens := []string{app, bot, adm, scim}
	base := map[string]string{
		"SLACK_APP_TOKEN": app, "SLACK_BOT_TOKEN": bot, "SLACK_ADMIN_TOKEN": adm,
		"ROSTER_SCIM_ADDR": ":8081", "ROSTER_SCIM_TOKEN": scim,
	}
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"valid", nil},
		{"valid padded", map[string]string{"SLACK_BOT_TOKEN": "  " + bot + " \n"}},
		{"dry run", map[string]string{"ROSTER_DRY_RUN": "true"}},
		{"bot token in app variable", map[string]string{"SLACK_APP_TOKEN": bot}},
		{"app token in bot variable", map[string]string{"SLACK_BOT_TOKEN": app}},
		{"admin token in bot variable", map[string]string{"SLACK_BOT_TOKEN": adm}},
		{"bot token in admin variable", map[string]string{"SLACK_ADMIN_TOKEN": bot}},
		{"tokens swapped around", map[string]string{"SLACK_APP_TOKEN": adm, "SLACK_BOT_TOKEN": app, "SLACK_ADMIN_TOKEN": bot}},
		{"quoted", map[string]string{"SLACK_BOT_TOKEN": `'` + bot + `'`}},
		{"bearer", map[string]string{"SLACK_ADMIN_TOKEN": "Bearer " + adm}},
		{"space inside", map[string]string{"SLACK_APP_TOKEN": app[:20] + " " + app[20:]}},
		{"prefix mangled", map[string]string{"SLACK_BOT_TOKEN": "xoxb" + bot[5:]}},
		{"unknown kind", map[string]string{"SLACK_BOT_TOKEN": "xoxz-" + bot[5:]}},
		{"slack token as scim token", map[string]string{"ROSTER_SCIM_TOKEN": adm}},
		{"scim token short", map[string]string{"ROSTER_SCIM_TOKEN": scim[:20]}},
		{"scim token with punctuation", map[string]string{"ROSTER_SCIM_TOKEN": scim + "!"}},
		{"scim token without addr", map[string]string{"ROSTER_SCIM_ADDR": ""}},
		{"token in db", map[string]string{"ROSTER_DB": bot}},
		{"token in url", map[string]string{"SLACK_API_URL": "https://slack.com/api/?t=" + adm}},
		{"token in url userinfo", map[string]string{"SLACK_SCIM_URL": "https://" + scim + "@api.slack.com/scim/v2/"}},
		{"token in admins", map[string]string{"ROSTER_ADMINS": "U01AB," + app}},
		{"scim token in log level", map[string]string{"ROSTER_LOG_LEVEL": scim}},
		{"piece of scim token in schedule", map[string]string{"ROSTER_RECONCILE_SCHEDULE": "@every " + scim[3:15]}},
		{"piece of bot token in channel", map[string]string{"ROSTER_APPROVALS_CHANNEL": strings.ToUpper(bot[11:22])}},
		{"everything wrong", map[string]string{"SLACK_APP_TOKEN": bot, "SLACK_BOT_TOKEN": adm, "SLACK_ADMIN_TOKEN": app, "ROSTER_SCIM_TOKEN": bot, "ROSTER_DB": scim, "ROSTER_DRY_RUN": adm}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{}
			for k, v := range base {
				kv[k] = v
			}
			for k, v := range tt.env {
				kv[k] = v
			}
			cfg, err := LoadConfig(configEnv(kv))
			var out []string
			show := func(what string, s string) { out = append(out, what+": "+s) }

			// A config as if it had loaded, whatever LoadConfig said, so
			// that every case also prints secrets of its own.
			full := cfg
			full.AppToken, full.BotToken, full.AdminToken, full.SCIMToken = Secret(kv["SLACK_APP_TOKEN"]), Secret(kv["SLACK_BOT_TOKEN"]), Secret(kv["SLACK_ADMIN_TOKEN"]), Secret(kv["ROSTER_SCIM_TOKEN"])
			for _, c := range []Config{cfg, full} {
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T"} {
					show(verb, fmt.Sprintf(verb, c))
					show(verb+" pointer", fmt.Sprintf(verb, &c))
					show(verb+" token", fmt.Sprintf(verb, c.BotToken))
					show(verb+" tokens", fmt.Sprintf(verb, []Secret{c.AppToken, c.AdminToken, c.SCIMToken}))
				}
				show("Print", fmt.Sprint(c, c.AppToken))
				show("String", c.BotToken.String())
				show("GoString", c.BotToken.GoString())
				b, jerr := json.Marshal(c)
				show("json", string(b)+fmt.Sprint(jerr))
				b, jerr = json.Marshal(map[string]Secret{"bot": c.BotToken})
				show("json map", string(b)+fmt.Sprint(jerr))
				b, _ = c.AdminToken.MarshalText()
				show("text", string(b))
				show("redacted", fmt.Sprint(c.Redacted()))
				show("redact", c.Redact("got "+c.BotToken.Reveal()+" and "+c.AppToken.Reveal()+" and "+c.AdminToken.Reveal()+" and "+c.SCIMToken.Reveal()))
				for _, h := range []func(*bytes.Buffer) slog.Handler{
					func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
					func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
				} {
					var buf bytes.Buffer
					log := slog.New(h(&buf))
					log.Info("starting", "config", c, "config_ptr", &c, "bot", c.BotToken, slog.Any("scim", c.SCIMToken), "err", err)
					log.With("app", c.AppToken).Error("invalid configuration", "err", err, "admin", c.AdminToken)
					show("slog", buf.String())
				}
			}
			if err != nil {
				show("Error", err.Error())
				show("%+v error", fmt.Sprintf("%+v", err))
				show("%#v error", fmt.Sprintf("%#v", err))
				for _, e := range err.(*ConfigError).Unwrap() {
					show("unwrapped", e.Error())
				}
			}

			text := strings.Join(out, "\n")
			for _, tok := range tokens {
				for i := 0; i+8 <= len(tok); i++ {
					if piece := tok[i : i+8]; strings.Contains(text, piece) {
						at := strings.Index(text, piece)
						t.Fatalf("output contains %q, a piece of a token, near %q", piece, text[max(0, at-120):min(len(text), at+40)])
					}
				}
			}
			if !strings.Contains(text, "[redacted]") {
				t.Errorf("output never says [redacted]")
			}
		})
	}
}

func TestConfigSecret(t *testing.T) {
	s := Secret("xoxb-123-456-abcdef")
	if got := s.Reveal(); got != "xoxb-123-456-abcdef" {
		t.Errorf("Reveal() = %q, want the value", got)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"String", s.String(), "[redacted]"},
		{"GoString", s.GoString(), "[redacted]"},
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%s", fmt.Sprintf("%s", s), "[redacted]"},
		{"%#v", fmt.Sprintf("%#v", s), "[redacted]"},
		{"%x", fmt.Sprintf("%x", s), "[redacted]"},
		{"%q", fmt.Sprintf("%q", s), `"[redacted]"`},
		{"%d", fmt.Sprintf("%d", s), "[redacted]"},
		{"LogValue", s.LogValue().String(), "[redacted]"},
		{"struct %+v", fmt.Sprintf("%+v", struct{ T Secret }{s}), "{T:[redacted]}"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	b, err := json.Marshal(struct{ T Secret }{s})
	if got, want := string(b), `{"T":"[redacted]"}`; err != nil || got != want {
		t.Errorf("json.Marshal = %s, %v, want %s", got, err, want)
	}
	b, err = s.MarshalText()
	if err != nil || string(b) != "[redacted]" {
		t.Errorf("MarshalText() = %s, %v, want [redacted]", b, err)
	}
}

func TestThresholdLimit(t *testing.T) {
	tests := []struct {
		t      Threshold
		active int
		want   int
	}{
		{Threshold{Count: 25}, 1000, 25},
		{Threshold{Count: 25}, 10, 25},
		{Threshold{Count: 1}, 0, 1},
		{Threshold{Percent: 10}, 1000, 100},
		{Threshold{Percent: 10}, 30, 3},
		{Threshold{Percent: 10}, 39, 3},
		{Threshold{Percent: 10}, 9, 1},
		{Threshold{Percent: 10}, 0, 1},
		{Threshold{Percent: 10}, -5, 1},
		{Threshold{Percent: 100}, 57, 57},
		{Threshold{Percent: 33.3}, 1000, 333},
		{Threshold{Percent: 0.5}, 50000, 250},
		{Threshold{Percent: 0.1}, 999, 1},
		{Threshold{Percent: 7}, 300, 21},
		{Threshold{Percent: 29}, 100, 29},
		{Threshold{Percent: 1.1}, 1000, 11},
		{Threshold{Count: 5, Percent: 50}, 1000, 5},
		{Threshold{}, 1000, 1},
	}
	for _, tt := range tests {
		if got := tt.t.Limit(tt.active); got != tt.want {
			t.Errorf("%+v.Limit(%d) = %d, want %d", tt.t, tt.active, got, tt.want)
		}
	}
}

func TestThresholdString(t *testing.T) {
	tests := []struct {
		t    Threshold
		want string
	}{
		{Threshold{Count: 25}, "25"},
		{Threshold{Percent: 10}, "10%"},
		{Threshold{Percent: 0.5}, "0.5%"},
		{Threshold{Count: 3, Percent: 10}, "3"},
		{Threshold{}, "1"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.t, got, tt.want)
		}
	}
}

// TestConfigVariablesTable keeps Variables and LoadConfig in step: LoadConfig
// reads exactly the variables listed, and every listed default, set
// explicitly, gives the same Config as leaving the variable unset.
func TestConfigVariablesTable(t *testing.T) {
	var read []string
	getenv := configEnv(nil)
	_, err := LoadConfig(func(k string) string {
		if !slices.Contains(read, k) {
			read = append(read, k)
		}
		return getenv(k)
	})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, v := range Variables {
		listed = append(listed, v.Name)
		if v.Meaning == "" || strings.ContainsAny(v.Meaning, "\n") {
			t.Errorf("%s: Meaning %q, want one non-empty line", v.Name, v.Meaning)
		}
	}
	slices.Sort(read)
	slices.Sort(listed)
	if diff := cmp.Diff(listed, read); diff != "" {
		t.Errorf("variables LoadConfig reads vs. Variables (-listed +read):\n%s", diff)
	}

	for _, v := range Variables {
		if v.Default == "" || strings.HasPrefix(v.Default, "required") {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			got, err := LoadConfig(configEnv(map[string]string{v.Name: v.Default}))
			if err != nil {
				t.Fatalf("%s=%q: %v", v.Name, v.Default, err)
			}
			if diff := cmp.Diff(configDefaults(), got); diff != "" {
				t.Errorf("%s=%q differs from the default (-want +got):\n%s", v.Name, v.Default, diff)
			}
		})
	}
}

// TestConfigRedacted checks that Redacted's values, set as the environment, load
// the same Config again, and that it shows no token.
func TestConfigRedacted(t *testing.T) {
	kv := map[string]string{
		"ROSTER_ADMINS": "U01AB,W02CD", "ROSTER_APPROVERS": "U03EF", "ROSTER_REQUIRED_APPROVALS": "2",
		"ROSTER_MAX_DURATION": "1d12h", "ROSTER_REQUEST_TTL": "2w", "ROSTER_EXPIRY_CHECK": "90s",
		"ROSTER_DRY_RUN": "yes", "ROSTER_HTTP_ADDR": ":9090", "ROSTER_SCIM_ADDR": "127.0.0.1:8081",
		"ROSTER_SCIM_TOKEN": cfgSCIMToken, "ROSTER_RECONCILE_SCHEDULE": "@daily", "ROSTER_MAX_DEACTIVATIONS": "2.5%",
		"ROSTER_LOG_LEVEL": "WARN", "ROSTER_LOG_FORMAT": "json", "ROSTER_WORKERS": "8", "ROSTER_JOB_GIVE_UP": "36h",
		"ROSTER_SCIM_RATE_SHARE": "12.5%", "ROSTER_SHUTDOWN_TIMEOUT": "5s", "SLACK_API_URL": "http://localhost:1/api",
	}
	cfg, err := LoadConfig(configEnv(kv))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Redacted()
	want := map[string]string{
		"SLACK_APP_TOKEN": "[redacted]", "SLACK_BOT_TOKEN": "[redacted]", "SLACK_ADMIN_TOKEN": "[redacted]",
		"SLACK_API_URL": "http://localhost:1/api/", "SLACK_SCIM_URL": "https://api.slack.com/scim/v2/", "ROSTER_DB": "roster.db",
		"ROSTER_ADMINS": "U01AB,W02CD", "ROSTER_APPROVERS": "U03EF", "ROSTER_APPROVALS_CHANNEL": "C0123ABCD",
		"ROSTER_REQUIRED_APPROVALS": "2", "ROSTER_MAX_DURATION": "1d12h", "ROSTER_REQUEST_TTL": "2w", "ROSTER_EXPIRY_CHECK": "1m30s",
		"ROSTER_DRY_RUN": "true", "ROSTER_HTTP_ADDR": ":9090", "ROSTER_SCIM_ADDR": "127.0.0.1:8081", "ROSTER_SCIM_TOKEN": "[redacted]", "ROSTER_SCIM_ORG_UNIT_ATTRIBUTE": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
		"ROSTER_RECONCILE_SCHEDULE": "@daily", "ROSTER_MAX_DEACTIVATIONS": "2.5%", "ROSTER_LOG_LEVEL": "warn", "ROSTER_LOG_FORMAT": "json",
		"ROSTER_WORKERS": "8", "ROSTER_JOB_GIVE_UP": "1d12h", "ROSTER_SCIM_RATE_SHARE": "12.5%", "ROSTER_SHUTDOWN_TIMEOUT": "5s",
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("Redacted() mismatch (-want +got):\n%s", diff)
	}

	back := map[string]string{}
	for k, v := range m {
		if v != "[redacted]" {
			back[k] = v
		}
	}
	back["ROSTER_SCIM_TOKEN"] = cfgSCIMToken
	again, err := LoadConfig(configEnv(back))
	if err != nil {
		t.Fatalf("LoadConfig(Redacted()) error: %v", err)
	}
	if diff := cmp.Diff(cfg, again); diff != "" {
		t.Errorf("LoadConfig(Redacted()) mismatch (-want +got):\n%s", diff)
	}

	// LogValue lists every variable, in order.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", cfg)
	var logged struct{ Config map[string]string }
	if err := json.Unmarshal(buf.Bytes(), &logged); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, logged.Config); diff != "" {
		t.Errorf("logged config mismatch (-want +got):\n%s", diff)
	}
}

func TestConfigRedact(t *testing.T) {
	cfg := configDefaults()
	cfg.SCIMToken = "a+b/c=d-0123456789abcdef0123456789"
	in := fmt.Sprintf("post token=%s&x=%s: %s %s", cfgBotToken, "a%2Bb%2Fc%3Dd-0123456789abcdef0123456789", cfgAppToken, cfgAdminToken)
	want := "post token=[redacted]&x=[redacted]: [redacted] [redacted]"
	if got := cfg.Redact(in); got != want {
		t.Errorf("Redact(%q) = %q, want %q", in, got, want)
	}
	if got := (Config{}).Redact("nothing to hide"); got != "nothing to hide" {
		t.Errorf("Config{}.Redact = %q, want the input unchanged", got)
	}
}

func TestConfigErrorText(t *testing.T) {
	one := &ConfigError{Problems: []string{"ROSTER_WORKERS: \"0\" is out of range; use a whole number from 1 to 64."}}
	want := "invalid configuration (1 problem):\nROSTER_WORKERS: \"0\" is out of range; use a whole number from 1 to 64."
	if got := one.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var err error = one
	if !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("errors.Is(ConfigError, provisioning.ErrInvalid) = false, want true")
	}
	wrapped := fmt.Errorf("start: %w", err)
	var ce *ConfigError
	if !errors.As(wrapped, &ce) || ce != one {
		t.Errorf("errors.As(wrapped, *ConfigError) failed")
	}
}
