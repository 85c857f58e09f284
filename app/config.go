package app

import (
	"github.com/roster-app/roster/provisioning/scimserver"

	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"

	"github.com/roster-app/roster/provisioning"
)

// redactedText is what a Secret shows instead of its value.
const redactedText = "[redacted]"

// Secret is a token or password. It never shows its value: fmt (every verb,
// including %#v and %x), encoding/json, encoding.TextMarshaler and log/slog
// all see "[redacted]". Reveal returns the value, for the one place that
// sends it.
//
// Being a string type, it cannot stop a conversion (string(s)) or
// encoding/json's use of string-kinded map keys: never convert it other
// than through Reveal, and never use it as a map key.
type Secret string

// Reveal returns the secret value. Call it only where the value is sent to
// the service it is for, never to print or log it.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redactedText }

// GoString returns "[redacted]", for %#v.
func (s Secret) GoString() string { return redactedText }

// Format writes "[redacted]" whatever the verb and flags (%q quotes it), so
// that no verb, such as %x or %s of a field, shows the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprint(f, strconv.Quote(redactedText))
		return
	}
	fmt.Fprint(f, redactedText)
}

// MarshalJSON returns the JSON string "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedText + `"`), nil }

// MarshalText returns "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redactedText), nil }

// LogValue returns "[redacted]", so slog never logs the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redactedText) }

// Threshold is ROSTER_MAX_DEACTIVATIONS: one change that would deactivate
// more than Limit(active) people waits for an admin's confirmation. It is
// either a Count of people ("25") or a Percent of the active members
// ("10%"); Count, when positive, wins.
type Threshold struct {
	Count   int
	Percent float64
}

// Limit returns the most people one change may deactivate without an
// admin's confirmation, when the workspace has active members: Count, or
// Percent of active rounded down. It is never less than 1, also for the
// zero Threshold.
func (t Threshold) Limit(active int) int {
	if t.Count > 0 {
		return t.Count
	}
	n := 0
	if t.Percent > 0 && active > 0 {
		// The epsilon keeps 10% of 30 at 3 despite float rounding.
		n = int(math.Floor(float64(active)*t.Percent/100 + 1e-9))
	}
	return max(n, 1)
}

// String writes t as ROSTER_MAX_DEACTIVATIONS accepts it: "25" or "10%".
// The zero Threshold, whose limit is 1, is "1".
func (t Threshold) String() string {
	switch {
	case t.Count > 0:
		return strconv.Itoa(t.Count)
	case t.Percent > 0:
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	}
	return "1"
}

// Config is Roster's configuration, read from the environment by
// LoadConfig. Each field names its variable; Variables lists them all with
// their defaults and meanings. A Config from LoadConfig is valid and
// complete: defaults are filled in and URLs end with "/".
type Config struct {
	AppToken   Secret // SLACK_APP_TOKEN, xapp-…
	BotToken   Secret // SLACK_BOT_TOKEN, xoxb-…
	AdminToken Secret // SLACK_ADMIN_TOKEN, xoxp-…; may be empty in dry-run

	APIURL  string // SLACK_API_URL, absolute http(s) URL ending in "/"
	SCIMURL string // SLACK_SCIM_URL, absolute http(s) URL ending in "/"

	DB string // ROSTER_DB

	Admins    []string // ROSTER_ADMINS, deduplicated Slack user IDs; nil if none
	Approvers []string // ROSTER_APPROVERS, deduplicated Slack user IDs; nil if none

	ApprovalsChannel  string // ROSTER_APPROVALS_CHANNEL, a channel ID
	RequiredApprovals int    // ROSTER_REQUIRED_APPROVALS, 1 to 10

	MaxDuration time.Duration // ROSTER_MAX_DURATION
	RequestTTL  time.Duration // ROSTER_REQUEST_TTL
	ExpiryCheck time.Duration // ROSTER_EXPIRY_CHECK, at least 1s

	DryRun bool // ROSTER_DRY_RUN

	HTTPAddr string // ROSTER_HTTP_ADDR, host:port; empty: off

	SCIMAddr  string // ROSTER_SCIM_ADDR, host:port; empty: off
	SCIMToken Secret // ROSTER_SCIM_TOKEN, set exactly when SCIMAddr is
	// SCIMOrgUnit is ROSTER_SCIM_ORG_UNIT_ATTRIBUTE: the SCIM user
	// attribute a person's org unit is read from.
	SCIMOrgUnit string

	ReconcileSchedule string    // ROSTER_RECONCILE_SCHEDULE, valid for cron.ParseStandard
	MaxDeactivations  Threshold // ROSTER_MAX_DEACTIVATIONS

	LogLevel  slog.Level // ROSTER_LOG_LEVEL
	LogFormat string     // ROSTER_LOG_FORMAT, "text" or "json"

	Workers         int           // ROSTER_WORKERS, 1 to 64
	JobGiveUp       time.Duration // ROSTER_JOB_GIVE_UP, at least 1m
	SCIMRateShare   float64       // ROSTER_SCIM_RATE_SHARE as a fraction, 0.01 to 1
	ShutdownTimeout time.Duration // ROSTER_SHUTDOWN_TIMEOUT, at least 1s
}

// Variable describes one environment variable of Roster's configuration.
// Default is the value used when the variable is unset or empty, "" when
// that means off or none, or the words "required" or "required unless
// dry-run".
type Variable struct {
	Name    string
	Default string
	Meaning string
}

// Variables lists every variable LoadConfig reads, in the order of
// PRODUCT.md's table, followed by those Roster adds (ROSTER_WORKERS,
// ROSTER_JOB_GIVE_UP, ROSTER_SCIM_RATE_SHARE, ROSTER_SHUTDOWN_TIMEOUT), for
// `roster help` and the README. LoadConfig takes its defaults from here.
// Problems in a ConfigError come in this order.
var Variables = []Variable{
	{"SLACK_APP_TOKEN", "required", "app-level token xapp-… with connections:write (Socket Mode)"},
	{"SLACK_BOT_TOKEN", "required", "bot token xoxb-…"},
	{"SLACK_ADMIN_TOKEN", "required unless dry-run", "user token xoxp-… of a workspace owner or admin with the admin scope, for the SCIM API"},
	{"SLACK_API_URL", "https://slack.com/api/", "Web API base URL (GovSlack and tests point it elsewhere)"},
	{"SLACK_SCIM_URL", "https://api.slack.com/scim/v2/", "SCIM API base URL"},
	{"ROSTER_DB", "roster.db", "bbolt database file"},
	{"ROSTER_ADMINS", "", "comma-separated Slack user IDs who are admins in Roster"},
	{"ROSTER_APPROVERS", "", "comma-separated Slack user IDs who may approve requests"},
	{"ROSTER_APPROVALS_CHANNEL", "required", "ID of the channel where requests are posted for approval"},
	{"ROSTER_REQUIRED_APPROVALS", "1", "approvals needed before a request is granted (1 to 10)"},
	{"ROSTER_MAX_DURATION", "2160h", "the longest time-bound grant a request may ask for (2160h is 90d)"},
	{"ROSTER_REQUEST_TTL", "168h", "a pending request expires after this"},
	{"ROSTER_EXPIRY_CHECK", "1m", "how often expired grants and requests are swept (at least 1s)"},
	{"ROSTER_DRY_RUN", "false", "record and show provisioning decisions, make no SCIM writes (true or false)"},
	{"ROSTER_HTTP_ADDR", "", "host:port for /healthz and /metrics; empty: off"},
	{"ROSTER_SCIM_ADDR", "", "host:port of Roster's own SCIM 2.0 endpoint for an IdP; empty: off"},
	{"ROSTER_SCIM_TOKEN", "", "bearer token the IdP sends to that endpoint (32 characters or more); set with ROSTER_SCIM_ADDR"},
	{"ROSTER_SCIM_ORG_UNIT_ATTRIBUTE", scimserver.DefaultOrgUnitAttribute, "the SCIM user attribute that holds a person's org unit"},
	{"ROSTER_RECONCILE_SCHEDULE", "@hourly", "cron schedule of the reconcile job (5 fields, or @hourly, @daily, @every 30m…)"},
	{"ROSTER_MAX_DEACTIVATIONS", "10%", "one change deactivating more people than this count (25) or share of active members (10%, at least 1) waits for an admin"},
	{"ROSTER_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"ROSTER_LOG_FORMAT", "text", "text or json"},
	{"ROSTER_WORKERS", "4", "provisioning jobs run at once (1 to 64)"},
	{"ROSTER_JOB_GIVE_UP", "24h", "a job that has not succeeded after this long is marked failed"},
	{"ROSTER_SCIM_RATE_SHARE", "100%", "share of Slack's org-wide SCIM rate limits Roster may use, as other SCIM apps in the org share them (1% to 100%)"},
	{"ROSTER_SHUTDOWN_TIMEOUT", "8s", "at shutdown, how long work in flight may take to finish before it is cut off"},
}

// ConfigError lists every problem LoadConfig found. Each problem is one
// sentence, "VARIABLE: what is wrong; how to fix it.", in the order of
// Variables, and never contains any part of a token. It unwraps to one
// error per problem, each wrapping provisioning.ErrInvalid.
type ConfigError struct {
	Problems []string
}

// Error returns a heading, "invalid configuration (N problems):", and then
// each problem on a line of its own.
func (e *ConfigError) Error() string {
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid configuration (%d %s):\n%s", len(e.Problems), noun, strings.Join(e.Problems, "\n"))
}

// Unwrap returns one error per problem, each wrapping
// provisioning.ErrInvalid, so that errors.Is(err, provisioning.ErrInvalid)
// holds.
func (e *ConfigError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = configProblem(p)
	}
	return errs
}

// configProblem is one line of a ConfigError as an error.
type configProblem string

func (p configProblem) Error() string { return string(p) }
func (p configProblem) Unwrap() error { return provisioning.ErrInvalid }

// LoadConfig reads Roster's configuration through getenv (os.Getenv in
// main, a map in tests). Values are trimmed of surrounding white space; an
// empty value counts as unset and takes its default from Variables.
//
// It checks every variable and returns all problems at once, as a
// *ConfigError, with a zero Config. No problem quotes any part of a token:
// a token of the wrong kind is named by its kind ("looks like a bot token
// (xoxb-)"), and a value of another variable that looks like a token or
// contains part of one is not shown either.
func LoadConfig(getenv func(string) string) (Config, error) {
	l := &configLoader{getenv: getenv, problems: map[string]string{}}
	for _, name := range secretVariables {
		l.secrets = append(l.secrets, configSecret{name, strings.TrimSpace(getenv(name))})
	}

	var c Config
	c.DryRun = l.boolean("ROSTER_DRY_RUN")
	c.AppToken = l.slackToken("SLACK_APP_TOKEN", true)
	c.BotToken = l.slackToken("SLACK_BOT_TOKEN", true)
	c.AdminToken = l.slackToken("SLACK_ADMIN_TOKEN", !c.DryRun)
	c.APIURL = l.baseURL("SLACK_API_URL")
	c.SCIMURL = l.baseURL("SLACK_SCIM_URL")
	c.DB, _ = l.plain("ROSTER_DB")
	c.Admins = l.userIDs("ROSTER_ADMINS")
	c.Approvers = l.userIDs("ROSTER_APPROVERS")
	c.ApprovalsChannel = l.channel("ROSTER_APPROVALS_CHANNEL")
	c.RequiredApprovals = l.intRange("ROSTER_REQUIRED_APPROVALS", 1, 10)
	c.MaxDuration = l.duration("ROSTER_MAX_DURATION", 0)
	c.RequestTTL = l.duration("ROSTER_REQUEST_TTL", 0)
	c.ExpiryCheck = l.duration("ROSTER_EXPIRY_CHECK", time.Second)
	c.HTTPAddr = l.addr("ROSTER_HTTP_ADDR", ":8080")
	c.SCIMAddr = l.addr("ROSTER_SCIM_ADDR", ":8081")
	c.SCIMToken = l.scimToken("ROSTER_SCIM_TOKEN")
	c.SCIMOrgUnit = l.orgUnitAttribute("ROSTER_SCIM_ORG_UNIT_ATTRIBUTE")
	c.ReconcileSchedule = l.schedule("ROSTER_RECONCILE_SCHEDULE")
	c.MaxDeactivations = l.threshold("ROSTER_MAX_DEACTIVATIONS")
	c.LogLevel = l.logLevel("ROSTER_LOG_LEVEL")
	c.LogFormat = l.logFormat("ROSTER_LOG_FORMAT")
	c.Workers = l.intRange("ROSTER_WORKERS", 1, 64)
	c.JobGiveUp = l.duration("ROSTER_JOB_GIVE_UP", time.Minute)
	c.SCIMRateShare = l.share("ROSTER_SCIM_RATE_SHARE")
	c.ShutdownTimeout = l.duration("ROSTER_SHUTDOWN_TIMEOUT", time.Second)

	if len(l.problems) > 0 {
		e := &ConfigError{}
		for _, v := range Variables {
			if p, ok := l.problems[v.Name]; ok {
				e.Problems = append(e.Problems, v.Name+": "+p+".")
			}
		}
		return Config{}, e
	}
	return c, nil
}

// secretVariables are the variables whose values are never shown.
var secretVariables = []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "SLACK_ADMIN_TOKEN", "ROSTER_SCIM_TOKEN"}

// Redacted returns the effective configuration by variable name, as text a
// variable would accept, with "[redacted]" for every token that is set (""
// for one that is not), for logging at start or showing in `roster help`.
func (c Config) Redacted() map[string]string {
	secret := func(s Secret) string {
		if s == "" {
			return ""
		}
		return redactedText
	}
	return map[string]string{
		"SLACK_APP_TOKEN":                secret(c.AppToken),
		"SLACK_BOT_TOKEN":                secret(c.BotToken),
		"SLACK_ADMIN_TOKEN":              secret(c.AdminToken),
		"SLACK_API_URL":                  c.APIURL,
		"SLACK_SCIM_URL":                 c.SCIMURL,
		"ROSTER_DB":                      c.DB,
		"ROSTER_ADMINS":                  strings.Join(c.Admins, ","),
		"ROSTER_APPROVERS":               strings.Join(c.Approvers, ","),
		"ROSTER_APPROVALS_CHANNEL":       c.ApprovalsChannel,
		"ROSTER_REQUIRED_APPROVALS":      strconv.Itoa(c.RequiredApprovals),
		"ROSTER_MAX_DURATION":            durationText(c.MaxDuration),
		"ROSTER_REQUEST_TTL":             durationText(c.RequestTTL),
		"ROSTER_EXPIRY_CHECK":            durationText(c.ExpiryCheck),
		"ROSTER_DRY_RUN":                 strconv.FormatBool(c.DryRun),
		"ROSTER_HTTP_ADDR":               c.HTTPAddr,
		"ROSTER_SCIM_ADDR":               c.SCIMAddr,
		"ROSTER_SCIM_TOKEN":              secret(c.SCIMToken),
		"ROSTER_SCIM_ORG_UNIT_ATTRIBUTE": c.SCIMOrgUnit,
		"ROSTER_RECONCILE_SCHEDULE":      c.ReconcileSchedule,
		"ROSTER_MAX_DEACTIVATIONS":       c.MaxDeactivations.String(),
		"ROSTER_LOG_LEVEL":               strings.ToLower(c.LogLevel.String()),
		"ROSTER_LOG_FORMAT":              c.LogFormat,
		"ROSTER_WORKERS":                 strconv.Itoa(c.Workers),
		"ROSTER_JOB_GIVE_UP":             durationText(c.JobGiveUp),
		"ROSTER_SCIM_RATE_SHARE":         strconv.FormatFloat(c.SCIMRateShare*100, 'f', -1, 64) + "%",
		"ROSTER_SHUTDOWN_TIMEOUT":        durationText(c.ShutdownTimeout),
	}
}

func durationText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return provisioning.FormatDuration(d)
}

// LogValue logs the effective configuration as Redacted does, one
// attribute per variable in the order of Variables, so that
// log.Info("starting", "config", cfg) shows no secret.
func (c Config) LogValue() slog.Value {
	m := c.Redacted()
	attrs := make([]slog.Attr, 0, len(Variables))
	for _, v := range Variables {
		attrs = append(attrs, slog.String(v.Name, m[v.Name]))
	}
	return slog.GroupValue(attrs...)
}

// Redact replaces every token of c that appears in s (as is or
// URL-encoded) with "[redacted]", for the text of errors from libraries
// that might echo a request.
func (c Config) Redact(s string) string {
	for _, t := range []Secret{c.AppToken, c.BotToken, c.AdminToken, c.SCIMToken} {
		v := t.Reveal()
		if v == "" {
			continue
		}
		s = strings.ReplaceAll(s, v, redactedText)
		if e := url.QueryEscape(v); e != v {
			s = strings.ReplaceAll(s, e, redactedText)
		}
	}
	return s
}

// configLoader collects the problems of one LoadConfig call, at most one per
// variable.
type configLoader struct {
	getenv   func(string) string
	secrets  []configSecret
	problems map[string]string // variable → "what is wrong; how to fix it"
}

type configSecret struct{ name, value string }

// fail records the first problem of variable name. Problems are phrased
// "what is wrong; how to fix it", without the name or a final period.
func (l *configLoader) fail(name, format string, args ...any) {
	if _, ok := l.problems[name]; !ok {
		l.problems[name] = fmt.Sprintf(format, args...)
	}
}

// raw returns name's value, trimmed; "" if unset.
func (l *configLoader) raw(name string) string { return strings.TrimSpace(l.getenv(name)) }

// plain returns the value of a variable that is not a secret, or its
// default. If the value set looks like a Slack token or contains part of a
// token variable's value, it records a problem that does not show the value
// and returns "", false: no value returned by plain can leak a token into a
// message, a log line or Redacted.
func (l *configLoader) plain(name string) (string, bool) {
	v := l.raw(name)
	if v == "" {
		return defaultOf(name), true
	}
	if kind, _ := tokenKind(v, true); kind != "" {
		l.fail(name, "looks like a Slack token, which is not shown; put tokens only in SLACK_APP_TOKEN, SLACK_BOT_TOKEN and SLACK_ADMIN_TOKEN")
		return "", false
	}
	for _, s := range l.secrets {
		if sharesPart(v, s.value) {
			l.fail(name, "contains part of the value of %s, which is not shown; give %s its own value", s.name, name)
			return "", false
		}
	}
	return v, true
}

// defaultOf returns name's default from Variables; "" for a required
// variable.
func defaultOf(name string) string {
	for _, v := range Variables {
		if v.Name == name {
			if strings.HasPrefix(v.Default, "required") {
				return ""
			}
			return v.Default
		}
	}
	panic("app: no variable " + name + " in Variables")
}

// sharesPart reports whether v contains any 8-byte piece of secret.
func sharesPart(v, secret string) bool {
	const n = 8
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(v, secret[i:i+n]) {
			return true
		}
	}
	return false
}

// quoteValue quotes a value that plain let through, for a message, shortening
// long values.
func quoteValue(v string) string {
	const limit = 60
	if r := []rune(v); len(r) > limit {
		v = string(r[:limit-1]) + "…"
	}
	return strconv.Quote(v)
}

// tokenKinds are the Slack token prefixes Roster recognises, longest
// first, with what each is in words.
var tokenKinds = []struct{ prefix, kind string }{
	{"xoxe.xoxp-", "an expiring user or configuration token"},
	{"xoxe.xoxb-", "an expiring bot token"},
	{"xoxe-", "a refresh token"},
	{"xapp-", "an app-level token"},
	{"xoxb-", "a bot token"},
	{"xoxp-", "a user token"},
	{"xoxa-", "a workspace app token"},
	{"xoxc-", "a browser session token"},
	{"xoxd-", "a browser session cookie"},
	{"xoxs-", "a legacy session token"},
	{"xoxr-", "a refresh token"},
	{"xoxo-", "a legacy token"},
}

// tokenKind names the kind of Slack token v is: by its start or, when
// anywhere is true, by a token prefix anywhere in v (in any case). It
// returns "", "" when v has none.
func tokenKind(v string, anywhere bool) (kind, prefix string) {
	lower := strings.ToLower(v)
	for _, k := range tokenKinds {
		if strings.HasPrefix(v, k.prefix) || anywhere && strings.Contains(lower, k.prefix) {
			return k.kind, k.prefix
		}
	}
	return "", ""
}

// slackTokens says, per variable, which prefix its token has and where to
// find it.
var slackTokens = map[string]struct{ prefix, where string }{
	"SLACK_APP_TOKEN":   {"xapp-", "the app-level token (xapp-) from Basic Information → App-Level Tokens, with the connections:write scope"},
	"SLACK_BOT_TOKEN":   {"xoxb-", "the bot token (xoxb-) from OAuth & Permissions"},
	"SLACK_ADMIN_TOKEN": {"xoxp-", "the user token (xoxp-) of a workspace owner or admin, with the admin scope, from OAuth & Permissions"},
}

// slackToken checks a Slack token variable. An optional one may be unset;
// if set it is checked all the same.
func (l *configLoader) slackToken(name string, required bool) Secret {
	want := slackTokens[name]
	v := l.raw(name)
	if v == "" {
		if required {
			if name == "SLACK_ADMIN_TOKEN" {
				l.fail(name, "missing; set %s, or set ROSTER_DRY_RUN=true to run without SCIM writes", want.where)
			} else {
				l.fail(name, "missing; set %s", want.where)
			}
		}
		return ""
	}
	if p := secretShapeProblem(v); p != "" {
		l.fail(name, "%s; paste %s exactly as Slack shows it", p, want.where)
		return ""
	}
	if !strings.HasPrefix(v, want.prefix) {
		kind, prefix := tokenKind(v, false)
		switch {
		case strings.HasPrefix(prefix, "xoxe"):
			l.fail(name, "looks like %s (%s), which expires; turn off token rotation for the app and use %s", kind, prefix, want.where)
		case kind != "":
			l.fail(name, "looks like %s (%s); use %s", kind, prefix, want.where)
		default:
			l.fail(name, "does not look like a Slack token (it should start with %s); use %s", want.prefix, want.where)
		}
		return ""
	}
	if v == want.prefix {
		l.fail(name, "holds only the prefix %s; paste the whole of %s", want.prefix, want.where)
		return ""
	}
	return Secret(v)
}

// secretShapeProblem says what is wrong with the shape of a secret value
// (quotes, a "Bearer " prefix, white space or control characters), without
// quoting it; "" if nothing.
func secretShapeProblem(v string) string {
	switch {
	case strings.ContainsAny(v[:1], `"'`) || strings.ContainsAny(v[len(v)-1:], `"'`):
		return "is wrapped in quotes, which are not part of it"
	case len(v) > 7 && strings.EqualFold(v[:7], "bearer "):
		return `starts with "Bearer ", which is not part of it`
	case strings.ContainsFunc(v, unicode.IsSpace):
		return "contains white space"
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r > 0x7e }):
		return "contains control or non-ASCII characters"
	}
	return ""
}

const scimTokenHint = "use a random secret of at least 32 characters, e.g. from `openssl rand -hex 32`"

// scimToken checks ROSTER_SCIM_TOKEN, which must be set exactly when
// ROSTER_SCIM_ADDR is.
func (l *configLoader) scimToken(name string) Secret {
	v := l.raw(name)
	addrSet := l.raw("ROSTER_SCIM_ADDR") != ""
	switch {
	case v == "" && addrSet:
		l.fail(name, "missing while ROSTER_SCIM_ADDR is set; %s, and give it to your IdP, or unset ROSTER_SCIM_ADDR", scimTokenHint)
		return ""
	case v == "":
		return ""
	case !addrSet:
		l.fail("ROSTER_SCIM_ADDR", "missing while ROSTER_SCIM_TOKEN is set; set the address of Roster's SCIM endpoint, e.g. :8081, or unset ROSTER_SCIM_TOKEN")
	}
	if p := secretShapeProblem(v); p != "" {
		l.fail(name, "%s; %s", p, scimTokenHint)
		return ""
	}
	if kind, prefix := tokenKind(v, true); kind != "" {
		l.fail(name, "looks like a Slack token, %s (%s); never reuse a Slack token here, %s", kind, prefix, scimTokenHint)
		return ""
	}
	if len(v) < 32 {
		l.fail(name, "is shorter than 32 characters; %s", scimTokenHint)
		return ""
	}
	if strings.ContainsFunc(v, func(r rune) bool { return !isTokenChar(r) }) {
		l.fail(name, "contains characters a bearer token cannot carry (only letters, digits and - . _ ~ + / = may appear); %s", scimTokenHint)
		return ""
	}
	return Secret(v)
}

// isTokenChar reports whether r may appear in an RFC 6750 bearer token.
func isTokenChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~+/=", r)
}

// baseURL checks an absolute http or https base URL and makes it end in
// "/". A URL with a user name or password is never shown.
func (l *configLoader) baseURL(name string) string {
	v, ok := l.plain(name)
	if !ok {
		return ""
	}
	example := defaultOf(name)
	if strings.Contains(v, "@") {
		l.fail(name, "contains a user name or password, which is not shown; remove it, Roster signs in with its tokens")
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		l.fail(name, "%s is not a valid URL; use an absolute URL such as %s", quoteValue(v), example)
	case u.Scheme != "http" && u.Scheme != "https":
		l.fail(name, "%s is not an http or https URL; use an absolute URL such as %s", quoteValue(v), example)
	case u.Host == "":
		l.fail(name, "%s has no host; use an absolute URL such as %s", quoteValue(v), example)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		l.fail(name, "%s has a query or fragment; use a base URL such as %s", quoteValue(v), example)
	default:
		if !strings.HasSuffix(v, "/") {
			v += "/"
		}
		return v
	}
	return ""
}

var (
	userIDPattern    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	channelIDPattern = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
)

// userIDs reads a comma-separated list of Slack user IDs, tolerating
// spaces and empty items, and removes duplicates. It returns nil for none.
func (l *configLoader) userIDs(name string) []string {
	v, ok := l.plain(name)
	if !ok {
		return nil
	}
	var ids, bad []string
	seen := map[string]bool{}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "" || seen[f]:
		case !userIDPattern.MatchString(f):
			bad = append(bad, quoteValue(f))
		default:
			ids = append(ids, f)
		}
		seen[f] = true
	}
	const hint = "list member IDs such as U012AB3CD separated by commas (in Slack: a profile's ⋮ menu → Copy member ID)"
	switch len(bad) {
	case 0:
		return ids
	case 1:
		l.fail(name, "%s is not a Slack user ID; %s", bad[0], hint)
	default:
		l.fail(name, "%s are not Slack user IDs; %s", strings.Join(bad, ", "), hint)
	}
	return nil
}

// channel reads a required channel ID.
func (l *configLoader) channel(name string) string {
	v, ok := l.plain(name)
	const where = "e.g. C012AB3CD, shown at the bottom of the channel's details in Slack"
	switch {
	case !ok:
	case v == "":
		l.fail(name, "missing; set the ID of the channel where requests are posted for approval, %s", where)
	case strings.HasPrefix(v, "#"):
		l.fail(name, "%s is a channel name; use the channel's ID, %s", quoteValue(v), where)
	case !channelIDPattern.MatchString(v):
		l.fail(name, "%s is not a Slack channel ID; use the channel's ID, %s", quoteValue(v), where)
	default:
		return v
	}
	return ""
}

// intRange reads a whole number from lo to hi.
func (l *configLoader) intRange(name string, lo, hi int) int {
	v, ok := l.plain(name)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		l.fail(name, "%s is not a whole number; use one from %d to %d", quoteValue(v), lo, hi)
	case n < lo || n > hi:
		l.fail(name, "%s is out of range; use a whole number from %d to %d", quoteValue(v), lo, hi)
	default:
		return n
	}
	return 0
}

// duration reads a duration of at least minimum (and positive).
func (l *configLoader) duration(name string, minimum time.Duration) time.Duration {
	v, ok := l.plain(name)
	if !ok {
		return 0
	}
	d, err := provisioning.ParseDuration(v)
	if err != nil {
		fix := "use a positive duration, e.g. 90s, 30m, 12h, 7d, 2w"
		var de *provisioning.DurationError
		if errors.As(err, &de) {
			fix = de.Fix
		}
		l.fail(name, "%s is not a valid duration; %s", quoteValue(v), fix)
		return 0
	}
	if d < minimum {
		l.fail(name, "%s is shorter than %s; use %s or more", quoteValue(v), provisioning.FormatDuration(minimum), provisioning.FormatDuration(minimum))
		return 0
	}
	return d
}

// boolean reads true/false, 1/0 or yes/no in any case.
func (l *configLoader) boolean(name string) bool {
	v, ok := l.plain(name)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	}
	l.fail(name, "%s is not true or false; use true or false (or 1 and 0, yes and no)", quoteValue(v))
	return false
}

// addr reads an optional host:port listen address with a numeric port.
func (l *configLoader) addr(name, example string) string {
	v, ok := l.plain(name)
	if !ok || v == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || strings.ContainsFunc(host, unicode.IsSpace) {
		if _, err := strconv.Atoi(v); err == nil {
			l.fail(name, "%s has no host part; write \":%s\" to listen on every interface, or e.g. 127.0.0.1:%s", quoteValue(v), v, v)
		} else {
			l.fail(name, "%s is not a host:port address; use e.g. %s or 127.0.0.1%s", quoteValue(v), example, example)
		}
		return ""
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		l.fail(name, "%s has no valid port; use a port number from 0 to 65535, e.g. %s", quoteValue(v), example)
		return ""
	}
	return v
}

// schedule reads a cron schedule in the standard five-field form or a
// descriptor such as @hourly or @every 30m.
func (l *configLoader) schedule(name string) string {
	v, ok := l.plain(name)
	if !ok {
		return ""
	}
	if _, err := cron.ParseStandard(v); err != nil {
		l.fail(name, "%s is not a cron schedule (%v); use five fields such as \"0 * * * *\", or @hourly, @daily or \"@every 30m\"", quoteValue(v), err)
		return ""
	}
	return v
}

// threshold reads a count ("25") or a percentage ("10%").
func (l *configLoader) threshold(name string) Threshold {
	v, ok := l.plain(name)
	if !ok {
		return Threshold{}
	}
	const hint = "use a number of people such as 25, or a share of the active members such as 10%"
	if num, ok := strings.CutSuffix(v, "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
			l.fail(name, "%s is not a percentage; %s", quoteValue(v), hint)
			return Threshold{}
		}
		if p <= 0 || p > 100 {
			l.fail(name, "%s is out of range; use a share above 0%% and at most 100%%, such as 10%%", quoteValue(v))
			return Threshold{}
		}
		return Threshold{Percent: p}
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		l.fail(name, "%s is neither a count nor a percentage; %s", quoteValue(v), hint)
	case n < 1:
		l.fail(name, "%s is less than 1; %s", quoteValue(v), hint)
	default:
		return Threshold{Count: n}
	}
	return Threshold{}
}

// share reads a percentage from 1% to 100% as a fraction.
func (l *configLoader) share(name string) float64 {
	v, ok := l.plain(name)
	if !ok {
		return 0
	}
	num, ok := strings.CutSuffix(v, "%")
	if !ok {
		l.fail(name, "%s has no percent sign; write a share from 1%% to 100%%, such as 50%%", quoteValue(v))
		return 0
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	switch {
	case err != nil || math.IsNaN(p):
		l.fail(name, "%s is not a percentage; write a share from 1%% to 100%%, such as 50%%", quoteValue(v))
	case p < 1 || p > 100:
		l.fail(name, "%s is out of range; write a share from 1%% to 100%%, such as 50%%", quoteValue(v))
	default:
		return p / 100
	}
	return 0
}

// logLevel reads debug, info, warn (or warning) or error, in any case.
func (l *configLoader) logLevel(name string) slog.Level {
	v, ok := l.plain(name)
	if !ok {
		return slog.LevelInfo
	}
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	l.fail(name, "%s is not a log level; use debug, info, warn or error", quoteValue(v))
	return slog.LevelInfo
}

// logFormat reads text or json, in any case.
func (l *configLoader) logFormat(name string) string {
	v, ok := l.plain(name)
	if !ok {
		return ""
	}
	switch f := strings.ToLower(v); f {
	case "text", "json":
		return f
	}
	l.fail(name, "%s is not a log format; use text or json", quoteValue(v))
	return ""
}

// orgUnitAttribute checks ROSTER_SCIM_ORG_UNIT_ATTRIBUTE: an attribute of
// the SCIM user (core or enterprise extension, with or without its URN).
func (l *configLoader) orgUnitAttribute(name string) string {
	v, ok := l.plain(name)
	if !ok || v == "" {
		return scimserver.DefaultOrgUnitAttribute
	}
	if err := scimserver.ValidateOrgUnitAttribute(v); err != nil {
		l.fail(name, "%q is not a SCIM user attribute Roster can read an org unit from (%v); use e.g. %s", v, err, scimserver.DefaultOrgUnitAttribute)
		return ""
	}
	return v
}
