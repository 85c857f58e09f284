package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/roster-app/roster/provisioning"
)

// excerptMax is the most of a response body an error string shows.
const excerptMax = 512

// maxRetryAfter caps a Retry-After hint; Slack's SCIM windows are a minute.
const maxRetryAfter = time.Hour

// failure is the error text the client produces, with the outcome it
// reports to the observer and an optional cause for errors.Is/As. msg has
// already been redacted; cause is kept only when its own text is safe.
type failure struct {
	msg    string
	result string
	cause  error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.cause }

// Slack error codes by treatment. Sources: docs.slack.dev reference/scim-api
// (errors table) and admins/scim-api; see shared/docs/slack-platform.md §1.
var (
	// retryableCodes are worth retrying (Retry-After honoured if sent),
	// mapped to the observer's result.
	retryableCodes = map[string]string{
		"resource_locked":     "transient", // another write to this user is in progress
		"too_many_requests":   "rate_limited",
		"ratelimited":         "rate_limited",
		"internal_error":      "transient",
		"service_unavailable": "transient",
	}

	// authReasons are problems with the admin token or the plan: nothing
	// works until a person fixes them.
	authReasons = map[string]string{
		"invalid_authentication": "Slack rejected the SCIM admin token: it is invalid or was revoked; create a new org-admin user token (xoxp, admin scope)",
		"invalid_auth":           "Slack rejected the SCIM admin token: it is invalid or was revoked; create a new org-admin user token (xoxp, admin scope)",
		"not_authed":             "no SCIM admin token reached Slack; set the org-admin user token (xoxp, admin scope)",
		"token_revoked":          "the SCIM admin token was revoked; create a new org-admin user token (xoxp, admin scope)",
		"account_inactive":       "the SCIM admin token belongs to a deactivated user; create a token as an active owner or admin",
		"missing_scope":          "the SCIM admin token lacks the admin scope; reinstall the app with the admin scope and use the new user token",
		"plus_teams_only":        "SCIM needs Slack's Business+ or Enterprise plan, which this workspace does not have",
		"non_org_teams_only":     "on Enterprise Grid the SCIM token must come from an app installed on the org, not on a workspace",
	}

	// permanentReasons explain codes that retrying will not change.
	permanentReasons = map[string]string{
		"bad_email_address":                    "Slack rejected the email address as invalid",
		"invalid_email":                        "Slack rejected the email address as invalid",
		"user_creation_failed":                 "Slack could not create the user: an account may already exist, or Slack hit an error",
		"username_invalid":                     "Slack rejected the username: only a-z, 0-9, '.', '_' and '-' are allowed",
		"username_not_allowed":                 "Slack does not allow this username",
		"username_too_long":                    "the username is longer than Slack's 21-character limit",
		"username_required":                    "Slack needs a username for the user",
		"long_nickname":                        "the username is longer than Slack allows",
		"invalid_display_name":                 "Slack rejected the display name",
		"invalid_name_specials":                "Slack rejected a name because of its special characters",
		"invalid_starts_with_at":               "Slack rejected a name that starts with @",
		"cannot_disable_primary_owner":         "Slack refuses to deactivate the workspace's primary owner",
		"primary_owner_check_failure":          "Slack could not confirm the user is not the primary owner, so it refused the change",
		"cannot_disable_bot_user_with_scim":    "Slack does not let SCIM deactivate bot users",
		"cannot_modify_owner":                  "the SCIM admin token cannot change an owner (a token can only change accounts with the same or fewer permissions)",
		"missing_schema_element":               "Slack rejected the SCIM request as missing a required element",
		"invalid_schema":                       "Slack rejected the SCIM request's schema",
		"no_filters":                           "Slack rejected the SCIM filter",
		"incomplete_filter":                    "Slack rejected the SCIM filter as incomplete",
		"invalid_query":                        "Slack rejected the SCIM filter query",
		"invalid_filter_group":                 "Slack rejected the SCIM filter grouping",
		"query_building_failed":                "Slack could not build a query from the SCIM filter",
		"unable_to_create_team_profile_fields": "Slack has reached its limit of 50 custom profile fields",
	}
)

// classify is the one place a failed request becomes an error. resp is nil
// for a transport failure; err is non-nil for a transport failure or an
// unreadable 2xx body. op "lookup" turns a 400 into the email-filter
// explanation.
//
//	caller's ctx ended (any stage)    ctx.Err(), wrapped (not retryable)
//	transport error, timeout, reset,
//	  unexpected EOF, bad 2xx body    *RetryableError{After: 0}
//	429                               *RetryableError{After: Retry-After}
//	408, 5xx                          *RetryableError{After: Retry-After}
//	404                               ErrNotFound
//	email_taken                       ErrEmailTaken
//	username_taken                    ErrUsernameTaken
//	resource_locked, too_many_requests,
//	  internal_error, service_unavailable
//	                                  *RetryableError{After: Retry-After}
//	auth/plan codes (authReasons)     *PermanentError, reason about the token/plan
//	known codes (permanentReasons)    *PermanentError with the table's sentence
//	other 401, 403                    *PermanentError, "invalid token or no admin scope"
//	any other status                  *PermanentError{Code: Slack's code, if any}
//
// The Slack code is looked for in detail, Errors.description,
// Errors[i].description and error, alone or embedded in longer text
// ("email_taken existing_user=U123").
func (c *Client) classify(ctx context.Context, op, where string, resp *http.Response, body []byte, err error) error {
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", where, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, which may hold secrets
		}
		what := "network error"
		if resp != nil {
			what = fmt.Sprintf("status %d, %s", resp.StatusCode, c.excerpt(body))
		}
		return &provisioning.RetryableError{Err: &failure{
			msg:    c.redact(where + ": " + what + ": " + err.Error()),
			result: "transient",
			cause:  c.safeCause(err),
		}}
	}

	status := resp.StatusCode
	code := c.redact(slackCode(body))
	head := c.redact(fmt.Sprintf("%s: status %d, %s", where, status, c.excerpt(body)))
	retry := func(result, why string, after time.Duration) error {
		return &provisioning.RetryableError{After: after, Err: &failure{msg: head + ": " + why, result: result}}
	}
	wrap := func(result string, cause error) error {
		return &failure{msg: head + ": " + cause.Error(), result: result, cause: cause}
	}
	permanent := func(reason string) error {
		if op == "lookup" && status == http.StatusBadRequest {
			if code == "" {
				code = "email_filter_rejected"
			}
			reason = `Slack refused the SCIM v2 email filter (emails eq "…"), which it does not document for v2; Roster does not fall back to a userName filter, which could match the wrong account`
		}
		return wrap("permanent", &provisioning.PermanentError{Code: code, Reason: reason})
	}
	after := retryAfter(resp.Header, time.Now())

	switch {
	case status == http.StatusTooManyRequests:
		return retry("rate_limited", "rate limited by Slack", after)
	case status >= 500 || status == http.StatusRequestTimeout:
		return retry("transient", "Slack server error", after)
	case status == http.StatusNotFound:
		return wrap("not_found", provisioning.ErrNotFound)
	case code == "email_taken":
		return wrap("email_taken", provisioning.ErrEmailTaken)
	case code == "username_taken":
		return wrap("username_taken", provisioning.ErrUsernameTaken)
	case retryableCodes[code] != "":
		return retry(retryableCodes[code], "Slack asked to retry ("+code+")", after)
	case authReasons[code] != "":
		return wrap("permanent", &provisioning.PermanentError{Code: code, Reason: authReasons[code]})
	case permanentReasons[code] != "":
		return permanent(permanentReasons[code])
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return wrap("permanent", &provisioning.PermanentError{Code: code, Reason: fmt.Sprintf(
			"Slack rejected the SCIM admin token (HTTP %d): it is invalid, revoked, or lacks the admin scope", status)})
	default:
		return permanent(fmt.Sprintf("Slack refused the SCIM request (HTTP %d)", status))
	}
}

// resultOf maps an error from the client to the observer's result.
func resultOf(err error) string {
	var f *failure
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &f):
		return f.result
	case errors.Is(err, provisioning.ErrNotFound):
		return "not_found"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "transient"
	default:
		return "permanent" // invalid input, bad base URL
	}
}

// safeCause returns err if its text does not contain the token (so keeping
// it in the chain cannot leak it) and it is not a context error (an
// http.Client timeout wraps context.DeadlineExceeded, which callers would
// mistake for their own deadline).
func (c *Client) safeCause(err error) error {
	if c.redact(err.Error()) != err.Error() ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// excerpt describes body for an error string: at most excerptMax bytes of
// it, redacted first (so a token cut in half is still hidden), on one line.
func (c *Client) excerpt(body []byte) string {
	s := strings.TrimSpace(c.redact(strings.ToValidUTF8(string(body), "\uFFFD")))
	if s == "" {
		return "empty body"
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	const ell = "…"
	if len(s) > excerptMax {
		cut := excerptMax - len(ell)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + ell
	}
	return "body: " + s
}

// errorBody holds every error shape Slack's SCIM API is seen to use:
//
//	v2:       {"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"…","status":400}
//	v1-style: {"Errors":{"description":"…","code":401}}   (v2 returns it too)
//	array:    {"Errors":[{"description":"…","code":400}]}
//	Web API:  {"ok":false,"error":"…"}
type errorBody struct {
	Detail json.RawMessage `json:"detail"`
	Errors json.RawMessage `json:"Errors"`
	Error  json.RawMessage `json:"error"`
}

var (
	codeToken = regexp.MustCompile(`[a-z][a-z0-9_]*`)
	soleCode  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// slackCode finds Slack's error code in body, or "".
func slackCode(body []byte) string {
	var texts []string
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		texts = append(texts, jsonString(eb.Detail))
		var one struct {
			Description json.RawMessage `json:"description"`
		}
		var many []struct {
			Description json.RawMessage `json:"description"`
		}
		switch {
		case json.Unmarshal(eb.Errors, &one) == nil:
			texts = append(texts, jsonString(one.Description))
		case json.Unmarshal(eb.Errors, &many) == nil:
			for _, e := range many {
				texts = append(texts, jsonString(e.Description))
			}
		default:
			texts = append(texts, jsonString(eb.Errors))
		}
		texts = append(texts, jsonString(eb.Error))
	} else if s := strings.TrimSpace(string(body)); soleCode.MatchString(s) {
		return s // a bare code as plain text
	}

	// The specific "taken" codes win wherever they appear; then the first
	// known code; then a text that is a code on its own.
	var first string
	for _, t := range texts {
		for _, tok := range codeToken.FindAllString(strings.ToLower(t), -1) {
			switch {
			case tok == "email_taken" || tok == "username_taken":
				return tok
			case first == "" && isKnownCode(tok):
				first = tok
			}
		}
	}
	if first != "" {
		return first
	}
	for _, t := range texts {
		if t = strings.TrimSpace(t); soleCode.MatchString(t) {
			return t
		}
	}
	return ""
}

func isKnownCode(s string) bool {
	return retryableCodes[s] != "" || authReasons[s] != "" || permanentReasons[s] != ""
}

// jsonString returns raw as a string if it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// retryAfter parses Retry-After as delay-seconds or an HTTP-date (relative
// to now). Missing, invalid or past values give 0; values are capped at an
// hour.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || secs <= 0 {
			return 0
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// newRedactor returns a function replacing token, in every encoding a URL,
// a header or a JSON body might give it, with "[REDACTED]".
func newRedactor(token string) func(string) string {
	if token == "" {
		return func(s string) string { return s }
	}
	forms := map[string]bool{token: true}
	forms[url.QueryEscape(token)] = true
	forms[url.PathEscape(token)] = true
	forms[strings.ReplaceAll(url.QueryEscape(token), "+", "%20")] = true
	forms[url.User(token).String()] = true
	if b, err := json.Marshal(token); err == nil {
		forms[string(b[1:len(b)-1])] = true
	}
	list := make([]string, 0, len(forms))
	for f := range forms {
		if f != "" {
			list = append(list, f)
		}
	}
	// Longest first, so a longer encoding is replaced whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	var pairs []string
	for _, f := range list {
		pairs = append(pairs, f, "[REDACTED]")
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}
