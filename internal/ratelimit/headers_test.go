package ratelimit_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
)

func policy(name string, l ratelimit.Limit, remaining int, reset time.Duration) ratelimit.PolicyResult {
	return ratelimit.PolicyResult{Policy: name, Limit: l, Decision: ratelimit.Decision{
		Allowed: true, Limit: l.EffectiveBurst(), Remaining: remaining, ResetAfter: reset,
	}}
}

func TestFormat(t *testing.T) {
	perMinute := ratelimit.Limit{Requests: 600, Per: time.Minute, Burst: 60}
	tests := []struct {
		name       string
		ps         []ratelimit.PolicyResult
		wantPolicy string
		wantLimit  string
	}{
		{
			name:       "one policy",
			ps:         []ratelimit.PolicyResult{policy("tenant", perMinute, 59, 100*time.Millisecond)},
			wantPolicy: `"tenant";q=600;w=60`,
			wantLimit:  `"tenant";r=59;t=1`,
		},
		{
			name: "several policies, in order",
			ps: []ratelimit.PolicyResult{
				policy("tenant", perMinute, 59, 100*time.Millisecond),
				policy("key", ratelimit.Limit{Requests: 120, Per: time.Minute, Burst: 20}, 0, 10*time.Second),
				policy("day", ratelimit.Limit{Requests: 5000, Per: 24 * time.Hour}, 4999, 17*time.Second+280*time.Millisecond),
			},
			wantPolicy: `"tenant";q=600;w=60, "key";q=120;w=60, "day";q=5000;w=86400`,
			wantLimit:  `"tenant";r=59;t=1, "key";r=0;t=10, "day";r=4999;t=18`,
		},
		{
			name:       "full bucket: no effective window",
			ps:         []ratelimit.PolicyResult{policy("ip", perMinute, 60, 0)},
			wantPolicy: `"ip";q=600;w=60`,
			wantLimit:  `"ip";r=60`,
		},
		{
			name:       "period below a second is scaled to one",
			ps:         []ratelimit.PolicyResult{policy("fast", ratelimit.Limit{Requests: 5, Per: 100 * time.Millisecond}, 4, 20*time.Millisecond)},
			wantPolicy: `"fast";q=50;w=1`,
			wantLimit:  `"fast";r=4;t=1`,
		},
		{
			name:       "period of fractional seconds is rounded up, quota scaled down",
			ps:         []ratelimit.PolicyResult{policy("odd", ratelimit.Limit{Requests: 10, Per: 1500 * time.Millisecond}, 10, 0)},
			wantPolicy: `"odd";q=13;w=2`,
			wantLimit:  `"odd";r=10`,
		},
		{
			name:       "names are escaped Structured Field Strings",
			ps:         []ratelimit.PolicyResult{policy(`a "b" \c`+"\n\u00e9", perMinute, 1, time.Second)},
			wantPolicy: `"a \"b\" \\c???";q=600;w=60`,
			wantLimit:  `"a \"b\" \\c???";r=1;t=1`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.FormatPolicy(tt.ps); got != tt.wantPolicy {
				t.Errorf("FormatPolicy:\n got %s\nwant %s", got, tt.wantPolicy)
			}
			if got := ratelimit.FormatRateLimit(tt.ps); got != tt.wantLimit {
				t.Errorf("FormatRateLimit:\n got %s\nwant %s", got, tt.wantLimit)
			}
		})
	}
}

// Grammar of the two fields (RFC 9651 lists of items whose bare item is a
// String, draft-ietf-httpapi-ratelimit-headers-11 sections 3 and 4), for
// the parameters this package writes.
var (
	sfString    = `"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"`
	policyItem  = sfString + `;q=\d{1,15};w=[1-9]\d{0,14}`
	limitItem   = sfString + `;r=\d{1,15}(?:;t=\d{1,15})?`
	policyField = regexp.MustCompile(`^` + policyItem + `(?:, ` + policyItem + `)*$`)
	limitField  = regexp.MustCompile(`^` + limitItem + `(?:, ` + limitItem + `)*$`)
)

func TestSetHeaders(t *testing.T) {
	l, c := newLimiter(t)
	h := http.Header{}
	// Admitted: both fields, no Retry-After.
	res, err := l.Check(t.Context(), acme, tenantRule, keyRule, ipRule)
	if err != nil {
		t.Fatal(err)
	}
	ratelimit.SetHeaders(h, res)
	want := http.Header{
		"Ratelimit-Policy": {`"tenant";q=600;w=60, "key";q=120;w=60, "ip";q=60;w=60`},
		"Ratelimit":        {`"tenant";r=9;t=1, "key";r=2;t=1, "ip";r=4;t=1`},
	}
	checkHeaders(t, "admitted", h, want)

	// Refused by the key rule for 500ms: Retry-After rounds up to 1.
	for range 3 {
		res, err = l.Check(t.Context(), acme, tenantRule, keyRule, ipRule)
		if err != nil {
			t.Fatal(err)
		}
	}
	ratelimit.SetHeaders(h, res)
	want = http.Header{
		"Ratelimit-Policy": {`"tenant";q=600;w=60, "key";q=120;w=60, "ip";q=60;w=60`},
		"Ratelimit":        {`"tenant";r=7;t=1, "key";r=0;t=2, "ip";r=2;t=3`},
		"Retry-After":      {"1"},
	}
	checkHeaders(t, "refused", h, want)

	// Two seconds later the next request is admitted: no Retry-After.
	c.Advance(2 * time.Second)
	res, err = l.Check(t.Context(), acme, tenantRule, keyRule, ipRule)
	if err != nil {
		t.Fatal(err)
	}
	h = http.Header{}
	ratelimit.SetHeaders(h, res)
	if h.Get("Retry-After") != "" {
		t.Errorf("admitted request got Retry-After %q", h.Get("Retry-After"))
	}
}

func TestSetHeadersNoPolicies(t *testing.T) {
	h := http.Header{}
	ratelimit.SetHeaders(h, ratelimit.Result{Decision: ratelimit.Decision{RetryAfter: 2500 * time.Millisecond}})
	want := http.Header{"Retry-After": {"3"}}
	checkHeaders(t, "refused with no policies", h, want)
}

func checkHeaders(t *testing.T, step string, got, want http.Header) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got fields %v, want %v", step, got, want)
	}
	for k, w := range want {
		if g := got.Values(k); strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s: %s:\n got %q\nwant %q", step, k, g, w)
		}
	}
	if v := got.Get(ratelimit.HeaderPolicy); v != "" && !policyField.MatchString(v) {
		t.Errorf("%s: RateLimit-Policy %q does not match the draft's syntax", step, v)
	}
	if v := got.Get(ratelimit.HeaderRateLimit); v != "" && !limitField.MatchString(v) {
		t.Errorf("%s: RateLimit %q does not match the draft's syntax", step, v)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    ratelimit.Decision
		want int64
	}{
		{ratelimit.Decision{Allowed: true}, 0},
		{ratelimit.Decision{Allowed: true, RetryAfter: time.Second}, 0},
		{ratelimit.Decision{RetryAfter: 0}, 1},
		{ratelimit.Decision{RetryAfter: time.Nanosecond}, 1},
		{ratelimit.Decision{RetryAfter: time.Second}, 1},
		{ratelimit.Decision{RetryAfter: time.Second + time.Nanosecond}, 2},
		{ratelimit.Decision{RetryAfter: 59*time.Second + 500*time.Millisecond}, 60},
	}
	for _, tt := range tests {
		if got := tt.d.RetryAfterSeconds(); got != tt.want {
			t.Errorf("%+v.RetryAfterSeconds() = %d, want %d", tt.d, got, tt.want)
		}
	}
}
