package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Names of the response header fields SetHeaders writes.
const (
	HeaderPolicy     = "RateLimit-Policy"
	HeaderRateLimit  = "RateLimit"
	HeaderRetryAfter = "Retry-After"
)

// SetHeaders writes res to h as the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-11, one list member per policy, and,
// when the request was refused, Retry-After in whole seconds. It replaces
// any values h had for the fields it writes. With no policies only Retry-After is written, since both
// fields must be non-empty lists.
func SetHeaders(h http.Header, res Result) {
	if len(res.Policies) > 0 {
		h.Set(HeaderPolicy, FormatPolicy(res.Policies))
		h.Set(HeaderRateLimit, FormatRateLimit(res.Policies))
	}
	if !res.Allowed {
		h.Set(HeaderRetryAfter, strconv.FormatInt(res.RetryAfterSeconds(), 10))
	}
}

// FormatPolicy returns the RateLimit-Policy field value for ps: a Structured
// Field list of quota policy items, each the quoted policy name with the
// quota q and the window w in seconds, e.g.
//
//	"tenant";q=600;w=60, "ip";q=60;w=60
//
// q and w state the steady rate, Requests per Per. The window must be whole
// seconds, so a Per that is not is rounded up to w seconds and q scaled down
// to match (10 per 1.5s is q=13;w=2).
func FormatPolicy(ps []PolicyResult) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		q, w := quotaWindow(p.Limit)
		writeString(&b, p.Policy)
		b.WriteString(";q=")
		b.WriteString(strconv.FormatInt(q, 10))
		b.WriteString(";w=")
		b.WriteString(strconv.FormatInt(w, 10))
	}
	return b.String()
}

// FormatRateLimit returns the RateLimit field value for ps: a Structured
// Field list of service limit items, each the quoted policy name with the
// available quota r (the requests admitted right now) and the effective
// window t (seconds until the bucket is full again, rounded up), e.g.
//
//	"tenant";r=599;t=1, "ip";r=0;t=60
//
// t is left out when the bucket is already full.
func FormatRateLimit(ps []PolicyResult) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		writeString(&b, p.Policy)
		b.WriteString(";r=")
		b.WriteString(strconv.Itoa(max(p.Remaining, 0)))
		if t := ceilSeconds(p.ResetAfter); t > 0 {
			b.WriteString(";t=")
			b.WriteString(strconv.FormatInt(t, 10))
		}
	}
	return b.String()
}

// quotaWindow returns a limit's rate as a quota per whole-second window.
func quotaWindow(l Limit) (q, w int64) {
	if l.Requests < 1 || l.Per <= 0 {
		return 0, 1
	}
	if l.Per%time.Second == 0 {
		return int64(l.Requests), int64(l.Per / time.Second)
	}
	w = ceilSeconds(l.Per)
	q = int64(float64(l.Requests) * float64(time.Duration(w)*time.Second) / float64(l.Per))
	return q, w
}

// writeString writes s as a Structured Field String (RFC 9651, section
// 4.1.6): quoted, with '"' and '\' escaped. Bytes outside printable ASCII
// cannot be written and become '?'.
func writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
