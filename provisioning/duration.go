package provisioning

import (
	"strconv"
	"strings"
	"time"
)

// Day and Week are the units ParseDuration adds to Go's: d is 24h and w is 7d.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// maxDuration is the longest duration ParseDuration accepts: 100 years of
// 365 days, far beyond any sensible grant or interval and well inside
// time.Duration's range.
const maxDuration = 100 * 365 * Day

// durationExamples ends every ParseDuration error, so that whoever typed the
// value sees what a good one looks like.
const durationExamples = "e.g. 90s, 30m, 12h, 7d, 2w"

// DurationError reports a value ParseDuration cannot accept. It wraps
// ErrInvalid. Fix says, in words meant for the person who typed Input, what
// to write instead (always with examples), so that a modal or a
// configuration message can show it without the prefix.
type DurationError struct {
	Input string
	Fix   string
}

// Error returns `invalid duration "INPUT": FIX`.
func (e *DurationError) Error() string {
	return "invalid duration " + strconv.Quote(e.Input) + ": " + e.Fix
}

// Unwrap returns ErrInvalid.
func (e *DurationError) Unwrap() error { return ErrInvalid }

var durationUnits = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5 micro sign
	"μs": uint64(time.Microsecond), // U+03BC Greek mu
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(Day),
	"w":  uint64(Week),
}

// ParseDuration parses a positive duration written in Go's syntax
// (time.ParseDuration) extended with d (24h) and w (7d): "90s", "30m",
// "1.5h", "7d", "1d12h", "2w", "1w2d". Surrounding white space is ignored.
//
// It rejects what time.ParseDuration rejects, and also zero, negative
// values, numbers without a unit ("10") and durations longer than 100
// years. Every error is a *DurationError wrapping ErrInvalid whose text says
// what to write instead.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	fail := func(fix string) (time.Duration, error) {
		return 0, &DurationError{Input: orig, Fix: fix + ", " + durationExamples}
	}
	if s == "" {
		return fail("enter a number with a unit")
	}
	neg := false
	if c := s[0]; c == '-' || c == '+' {
		neg = c == '-'
		s = s[1:]
	}
	if s == "0" {
		return fail("use a positive duration")
	}
	if s == "" {
		return fail("use a number with a unit")
	}
	var total uint64
	for s != "" {
		// The grammar, as in package time: ([0-9]*(\.[0-9]*)?[a-zµμ]+)+
		if c := s[0]; c != '.' && (c < '0' || c > '9') {
			return fail("use a number with a unit")
		}
		before := len(s)
		v, rest, overflow := leadingInt(s)
		s = rest
		pre := len(s) != before
		var (
			f     uint64
			scale = 1.0
			post  bool
		)
		if s != "" && s[0] == '.' {
			s = s[1:]
			before := len(s)
			f, scale, s = leadingFraction(s)
			post = len(s) != before
		}
		if !pre && !post {
			return fail("use a number with a unit")
		}
		i := 0
		for ; i < len(s); i++ {
			if c := s[i]; c == '.' || '0' <= c && c <= '9' {
				break
			}
		}
		if i == 0 {
			return fail("add a unit")
		}
		u := s[:i]
		s = s[i:]
		unit, ok := durationUnits[u]
		if !ok {
			return fail("use the units s, m, h, d or w (not " + strconv.Quote(u) + ")")
		}
		if overflow || v > uint64(maxDuration)/unit {
			return fail(durationTooLong)
		}
		v *= unit
		if f > 0 {
			// f < scale, so this adds less than one unit: no overflow, and
			// float64 is exact enough (a week is 6.048e14ns < 2^53).
			v += uint64(float64(f) * (float64(unit) / scale))
		}
		total += v // total ≤ maxDuration and v < maxDuration+Week: no overflow
		if total > uint64(maxDuration) {
			return fail(durationTooLong)
		}
	}
	if neg || total == 0 {
		return fail("use a positive duration")
	}
	return time.Duration(total), nil
}

const durationTooLong = "use at most 100 years"

// leadingInt consumes the leading [0-9]* of s. overflow reports a value
// beyond 1<<63.
func leadingInt(s string) (x uint64, rest string, overflow bool) {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			break
		}
		if x > 1<<63/10 {
			overflow = true
			continue
		}
		x = x*10 + uint64(c) - '0'
		if x > 1<<63 {
			overflow = true
		}
	}
	return x, s[i:], overflow
}

// leadingFraction consumes the leading [0-9]* of s after a decimal point.
// It stops accumulating when x would overflow, as package time does: the
// further digits are below a nanosecond anyway.
func leadingFraction(s string) (x uint64, scale float64, rest string) {
	i := 0
	scale = 1
	overflow := false
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			break
		}
		if overflow {
			continue
		}
		if x > (1<<63-1)/10 {
			overflow = true
			continue
		}
		y := x*10 + uint64(c) - '0'
		if y > 1<<63 {
			overflow = true
			continue
		}
		x = y
		scale *= 10
	}
	return x, scale, s[i:]
}

// FormatDuration writes d in the units ParseDuration reads, largest first,
// each at most once: 90*time.Minute is "1h30m", 36*time.Hour is "1d12h".
// Whole days are written as weeks when they are two weeks or more and a
// whole number of weeks ("2w", "3w2h"); one week stays "7d". Below a second
// it uses ms, us and ns, so ParseDuration(FormatDuration(d)) == d for every
// positive d ParseDuration can return. Zero is "0s"; a negative d is its
// absolute value with a leading "-".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = -u // two's complement: correct even for math.MinInt64
	}
	days := u / uint64(Day)
	u -= days * uint64(Day)
	if days >= 14 && days%7 == 0 {
		putUnit(&b, days/7, "w")
	} else {
		putUnit(&b, days, "d")
	}
	for _, p := range []struct {
		unit time.Duration
		name string
	}{
		{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"},
		{time.Millisecond, "ms"}, {time.Microsecond, "us"}, {time.Nanosecond, "ns"},
	} {
		n := u / uint64(p.unit)
		u -= n * uint64(p.unit)
		putUnit(&b, n, p.name)
	}
	return b.String()
}

func putUnit(b *strings.Builder, n uint64, unit string) {
	if n == 0 {
		return
	}
	b.WriteString(strconv.FormatUint(n, 10))
	b.WriteString(unit)
}
