package provisioning

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"30m", 30 * time.Minute},
		{"12h", 12 * time.Hour},
		{"1.5h", 90 * time.Minute},
		{".5h", 30 * time.Minute},
		{"1.h", time.Hour},
		{"7d", 7 * 24 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1w2d", 9 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"0.5w", 84 * time.Hour},
		{"2h45m30s", 2*time.Hour + 45*time.Minute + 30*time.Second},
		{"1h1h", 2 * time.Hour},
		{"100ms", 100 * time.Millisecond},
		{"1500us", 1500 * time.Microsecond},
		{"3µs", 3 * time.Microsecond},
		{"3μs", 3 * time.Microsecond},
		{"1ns", time.Nanosecond},
		{"+5m", 5 * time.Minute},
		{"  7d\n", 7 * 24 * time.Hour},
		{"0.000000001s", time.Nanosecond},
		{"2160h", 90 * 24 * time.Hour},
		{"36500d", 100 * 365 * 24 * time.Hour},
		{"5214w2d", 100 * 365 * 24 * time.Hour},
		{"00000000000000000000000000001s", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v, want %v, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantFix string // a substring of the error
	}{
		{"", "enter a number with a unit"},
		{"   ", "enter a number with a unit"},
		{"10", "add a unit"},
		{"1h30", "add a unit"},
		{"0", "use a positive duration"},
		{"-0", "use a positive duration"},
		{"0s", "use a positive duration"},
		{"0d0h", "use a positive duration"},
		{"-5m", "use a positive duration"},
		{"-1w", "use a positive duration"},
		{"5y", `use the units s, m, h, d or w (not "y")`},
		{"5 m", `(not " m")`},
		{"7D", `(not "D")`},
		{"1h-5m", `(not "h-")`},
		{"abc", "use a number with a unit"},
		{"h", "use a number with a unit"},
		{".s", "use a number with a unit"},
		{"-", "use a number with a unit"},
		{"+", "use a number with a unit"},
		{"-abc", "use a number with a unit"},
		{"1e3s", `(not "e")`},
		{"36501d", "use at most 100 years"},
		{"5215w", "use at most 100 years"},
		{"876001h", "use at most 100 years"},
		{"36500d1ns", "use at most 100 years"},
		{"9223372036854775807ns", "use at most 100 years"},
		{"99999999999999999999999999h", "use at most 100 years"},
		{"2562047h47m16.854775808s", "use at most 100 years"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, nil, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseDuration(%q) error %v does not wrap ErrInvalid", tt.in, err)
			}
			var de *DurationError
			if !errors.As(err, &de) || de.Input != tt.in {
				t.Errorf("ParseDuration(%q) error = %#v, want a *DurationError with Input %q", tt.in, err, tt.in)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantFix) {
				t.Errorf("ParseDuration(%q) error = %q, want it to contain %q", tt.in, msg, tt.wantFix)
			}
			if !strings.HasSuffix(msg, "e.g. 90s, 30m, 12h, 7d, 2w") {
				t.Errorf("ParseDuration(%q) error = %q, want it to end with examples", tt.in, msg)
			}
		})
	}
}

func TestParseDurationErrorText(t *testing.T) {
	_, err := ParseDuration("10")
	want := `invalid duration "10": add a unit, e.g. 90s, 30m, 12h, 7d, 2w`
	if err == nil || err.Error() != want {
		t.Errorf("ParseDuration(%q) error = %v, want %q", "10", err, want)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Nanosecond, "1ns"},
		{1500 * time.Millisecond, "1s500ms"},
		{90 * time.Second, "1m30s"},
		{30 * time.Minute, "30m"},
		{90 * time.Minute, "1h30m"},
		{12 * time.Hour, "12h"},
		{24 * time.Hour, "1d"},
		{36 * time.Hour, "1d12h"},
		{7 * 24 * time.Hour, "7d"},
		{8 * 24 * time.Hour, "8d"},
		{14 * 24 * time.Hour, "2w"},
		{15 * 24 * time.Hour, "15d"},
		{21*24*time.Hour + 2*time.Hour, "3w2h"},
		{90 * 24 * time.Hour, "90d"},
		{168 * time.Hour, "7d"},
		{2160 * time.Hour, "90d"},
		{-90 * time.Minute, "-1h30m"},
		{time.Hour + time.Nanosecond, "1h1ns"},
		{time.Duration(1<<63 - 1), "106751d23h47m16s854ms775us807ns"},
		{time.Duration(-1 << 63), "-106751d23h47m16s854ms775us808ns"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatDuration(tt.in); got != tt.want {
				t.Errorf("FormatDuration(%d) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseDuration checks that ParseDuration never panics, that what it
// accepts FormatDuration writes back to the same value, and that it agrees
// with time.ParseDuration wherever both apply.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "1.5h", "1w2d", "10", "-5m", "0", "5y", "36500d", "1d12h30m15s500ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseDuration(%q) error %v does not wrap ErrInvalid", s, err)
			}
			if d != 0 {
				t.Errorf("ParseDuration(%q) = %v with an error, want 0", s, d)
			}
		} else {
			if d <= 0 || d > maxDuration {
				t.Fatalf("ParseDuration(%q) = %v, outside (0, 100 years]", s, d)
			}
			text := FormatDuration(d)
			back, err := ParseDuration(text)
			if err != nil || back != d {
				t.Fatalf("ParseDuration(FormatDuration(%v) = %q) = %v, %v, want %v, nil", d, text, back, err, d)
			}
		}

		// Without d and w, the syntax is Go's.
		trimmed := strings.TrimSpace(s)
		if strings.ContainsAny(trimmed, "dw") {
			return
		}
		goD, goErr := time.ParseDuration(trimmed)
		switch {
		case err == nil && (goErr != nil || goD != d):
			t.Errorf("ParseDuration(%q) = %v, but time.ParseDuration = %v, %v", s, d, goD, goErr)
		case err != nil && goErr == nil && goD > 0 && goD <= maxDuration:
			t.Errorf("ParseDuration(%q) = %v, but time.ParseDuration = %v", s, err, goD)
		}
	})
}
