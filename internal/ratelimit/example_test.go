package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// A middleware checks each request against the tenant's, the API key's and
// the client's limits in one call, and writes the headers either way.
func ExampleLimiter() {
	limiter := ratelimit.New(ratelimit.NewMemory())
	limiter.Now = func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	rate := tenant.RateLimits{
		Tenant: &tenant.Rate{Requests: 600, Per: tenant.Duration(time.Minute), Burst: 60},
		IP:     &tenant.Rate{Requests: 60, Per: tenant.Duration(time.Minute), Burst: 2},
	}

	handle := func(w http.ResponseWriter, r *http.Request) {
		res, err := limiter.Check(r.Context(), tenant.MustID("acme"),
			ratelimit.Rule{Policy: "tenant", Key: "tenant", Limit: ratelimit.FromRate(*rate.Tenant)},
			ratelimit.Rule{Policy: "ip", Key: ratelimit.IPKey(ratelimit.ClientIP(r, proxies)), Limit: ratelimit.FromRate(*rate.IP)},
		)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		ratelimit.SetHeaders(w.Header(), res)
		if !res.Allowed {
			http.Error(w, "rate limited", http.StatusTooManyRequests)
			return
		}
		fmt.Fprintln(w, "ok")
	}

	for i := range 3 {
		r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/search", nil)
		r.RemoteAddr = "10.1.2.3:5555"                 // a trusted proxy
		r.Header.Set("X-Forwarded-For", "203.0.113.7") // the client
		w := httptest.NewRecorder()
		handle(w, r)
		h := w.Header()
		if i == 0 {
			fmt.Println("RateLimit-Policy:", h.Get("RateLimit-Policy"))
		}
		fmt.Println(w.Code, "RateLimit:", h.Get("RateLimit"))
		if v := h.Get("Retry-After"); v != "" {
			fmt.Println("Retry-After:", v)
		}
	}
	// Output:
	// RateLimit-Policy: "tenant";q=600;w=60, "ip";q=60;w=60
	// 200 RateLimit: "tenant";r=59;t=1, "ip";r=1;t=1
	// 200 RateLimit: "tenant";r=58;t=1, "ip";r=0;t=2
	// 429 RateLimit: "tenant";r=58;t=1, "ip";r=0;t=2
	// Retry-After: 1
}
