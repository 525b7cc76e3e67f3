package provider

import (
	"net/http"
	"strings"
	"time"
)

// MaxRetryAfter caps the delay RetryAfter returns: a provider that asks for
// more is treated as asking for this long (the gateway falls back long
// before; see gateway's maxRetryAfterWait).
const MaxRetryAfter = 24 * time.Hour

// RetryAfter reads how long a provider asks its callers to wait: the
// retry-after-ms header (milliseconds, OpenAI's), else Retry-After as
// delay-seconds or an HTTP date (RFC 9110, section 10.2.3). Seconds and
// milliseconds may be integers or decimals ("2", "1.5"); a date in the
// past means 0. The delay is capped at MaxRetryAfter. ok is false when
// neither header is there or readable.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	if d, ok := parseDelay(h.Get("Retry-After-Ms"), time.Millisecond); ok {
		return d, true
	}
	return ParseRetryAfter(h.Get("Retry-After"), now)
}

// ParseRetryAfter reads one Retry-After value: delay-seconds (an integer
// or a decimal) or an HTTP date, as RetryAfter does.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if d, ok := parseDelay(v, time.Second); ok {
		return d, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// parseDelay reads digits, optionally followed by a point and more digits,
// as a count of unit, capped at MaxRetryAfter. Signs, exponents, NaN and
// infinities are not delays.
func parseDelay(v string, unit time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	whole, frac, dotted := strings.Cut(v, ".")
	if whole == "" || !digits(whole) || dotted && (frac == "" || !digits(frac)) {
		return 0, false
	}
	limit := int64(MaxRetryAfter / unit)
	var n int64
	for i := 0; i < len(whole); i++ {
		n = n*10 + int64(whole[i]-'0')
		if n >= limit {
			return MaxRetryAfter, true
		}
	}
	d := time.Duration(n) * unit
	// The fraction, to the nanosecond: each digit is a tenth of the last.
	for i, step := 0, unit/10; i < len(frac) && step > 0; i, step = i+1, step/10 {
		d += time.Duration(frac[i]-'0') * step
	}
	return min(d, MaxRetryAfter), true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
