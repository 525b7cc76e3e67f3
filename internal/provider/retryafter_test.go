package provider_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, retryAfter, ms string
		want                 time.Duration
		ok                   bool
	}{
		{"absent", "", "", 0, false},
		{"integer seconds", "3", "", 3 * time.Second, true},
		{"spaces", " 3 ", "", 3 * time.Second, true},
		{"zero", "0", "", 0, true},
		{"decimal seconds", "1.5", "", 1500 * time.Millisecond, true},
		{"small decimal", "0.25", "", 250 * time.Millisecond, true},
		{"many decimals", "2.0000000019", "", 2*time.Second + 1, true},
		{"leading zeros", "007", "", 7 * time.Second, true},
		{"negative", "-4", "", 0, false},
		{"plus sign", "+4", "", 0, false},
		{"point without digits after", "4.", "", 0, false},
		{"point without digits before", ".5", "", 0, false},
		{"two points", "1.2.3", "", 0, false},
		{"words", "soon", "", 0, false},
		{"exponent", "1e3", "", 0, false},
		{"NaN", "NaN", "", 0, false},
		{"infinity", "+Inf", "", 0, false},
		{"huge integer", "99999999999999999999999", "", provider.MaxRetryAfter, true},
		{"over the cap", "86401", "", provider.MaxRetryAfter, true},
		{"at the cap", "86400", "", provider.MaxRetryAfter, true},
		{"IMF-fixdate", "Fri, 02 Jan 2026 03:04:35 GMT", "", 30 * time.Second, true},
		{"RFC 850 date", "Friday, 02-Jan-26 03:04:35 GMT", "", 30 * time.Second, true},
		{"asctime date", "Fri Jan  2 03:04:35 2026", "", 30 * time.Second, true},
		{"date in the past", "Fri, 02 Jan 2026 03:00:00 GMT", "", 0, true},
		{"date far ahead", "Fri, 02 Jan 2027 03:00:00 GMT", "", provider.MaxRetryAfter, true},
		{"milliseconds", "", "250", 250 * time.Millisecond, true},
		{"decimal milliseconds", "", "12.5", 12500 * time.Microsecond, true},
		{"milliseconds win", "9", "250", 250 * time.Millisecond, true},
		{"bad milliseconds", "9", "bad", 9 * time.Second, true},
		{"negative milliseconds", "9", "-1", 9 * time.Second, true},
		{"huge milliseconds", "", "1000000000000", provider.MaxRetryAfter, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			if tt.ms != "" {
				h.Set("retry-after-ms", tt.ms)
			}
			got, ok := provider.RetryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Retry-After %q, retry-after-ms %q: got %v, %v; want %v, %v", tt.retryAfter, tt.ms, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"3", "1.5", "Fri, 02 Jan 2026 03:04:35 GMT", "-1", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := provider.ParseRetryAfter(v, now)
		if d < 0 || d > provider.MaxRetryAfter || !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
