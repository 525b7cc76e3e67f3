package httpapi

import (
	"net/http"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// withRateLimit charges every tenant route to the tenant's limits (the
// whole tenant, the key, the client IP) in one atomic check, after tenant
// resolution and before the handler. A refused request gets 429 with
// Retry-After; every checked response carries the RateLimit headers.
func (s *Server) withRateLimit(next http.Handler) http.Handler {
	if s.opts.Limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := metaOf(r)
		if m.route == nil || m.route.open || m.identity.Tenant == nil {
			next.ServeHTTP(w, r)
			return
		}
		rules := s.rateRules(r, m.identity)
		if len(rules) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		res, err := s.opts.Limiter.Check(r.Context(), m.identity.Tenant.ID, rules...)
		if err != nil {
			// Fail open: a limiter that cannot answer must not take the
			// API down; budgets still bound spending.
			s.log.Error("rate limiter failed; request admitted", "tenant", m.identity.Tenant.ID.String(), "error", err, "request_id", m.requestID)
			s.opts.Metrics.RateLimitErrors.Inc()
			next.ServeHTTP(w, r)
			return
		}
		ratelimit.SetHeaders(w.Header(), res)
		if !res.Allowed {
			policy := refusing(res)
			s.opts.Metrics.RateLimited.WithLabelValues(m.identity.Tenant.ID.String(), policy).Inc()
			writeError(w, r, api.Errorf(api.CodeRateLimited, "rate limit %q exceeded; retry in %d s", policy, res.RetryAfterSeconds()).
				WithDetails(map[string]any{"limit": policy, "retryAfter": res.RetryAfterSeconds()}))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withInFlight refuses requests beyond Options.MaxInFlight with 503 at
// once: under overload, a fast refusal keeps latency and memory bounded for
// the requests that are served.
func (s *Server) withInFlight(next http.Handler) http.Handler {
	if s.opts.MaxInFlight <= 0 {
		return next
	}
	slots := make(chan struct{}, s.opts.MaxInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := metaOf(r); m.route == nil || m.route.open {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			s.opts.Metrics.RateLimited.WithLabelValues("", "server").Inc()
			w.Header().Set(ratelimit.HeaderRetryAfter, "1")
			writeError(w, r, api.Errorf(api.CodeUnavailable, "the server is at its limit of %d requests in flight; retry shortly", s.opts.MaxInFlight).
				WithDetails(map[string]any{"limit": "server", "retryAfter": 1}))
		}
	})
}

// rateRules are the limits of a request: the tenant's, its key's (or, on
// a public route without a key, none: the IP limit covers it), its IP's.
func (s *Server) rateRules(r *http.Request, id tenant.Identity) []ratelimit.Rule {
	rl := id.Tenant.Config.Limits.Rate
	var rules []ratelimit.Rule
	if rl.Tenant != nil {
		rules = append(rules, ratelimit.Rule{Policy: "tenant", Key: "tenant", Limit: ratelimit.FromRate(*rl.Tenant)})
	}
	if rl.Key != nil && id.Key != nil {
		rules = append(rules, ratelimit.Rule{Policy: "key", Key: "key:" + id.Key.ID, Limit: ratelimit.FromRate(*rl.Key)})
	}
	if rl.IP != nil {
		if ip := ratelimit.ClientIP(r, s.opts.TrustedProxies); ip.IsValid() {
			rules = append(rules, ratelimit.Rule{Policy: "ip", Key: ratelimit.IPKey(ip), Limit: ratelimit.FromRate(*rl.IP)})
		}
	}
	return rules
}

// refusing names the policy that refused a request.
func refusing(res ratelimit.Result) string {
	for _, p := range res.Policies {
		if !p.Allowed && p.RetryAfter == res.RetryAfter {
			return p.Policy
		}
	}
	return "tenant"
}

// acquireStream takes one of the tenant's open-stream slots
// (limits.rate.concurrentStreams), or refuses with 429.
func (s *Server) acquireStream(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	if s.opts.Streams == nil {
		return func() {}, nil
	}
	t := Identity(r).Tenant
	release, ok := s.opts.Streams.Acquire(t.ID, t.Config.Limits.Rate.ConcurrentStreams)
	if !ok {
		s.opts.Metrics.RateLimited.WithLabelValues(t.ID.String(), "streams").Inc()
		w.Header().Set(ratelimit.HeaderRetryAfter, "1")
		return nil, api.Errorf(api.CodeRateLimited, "this tenant has %d streams open, its limit; retry shortly", t.Config.Limits.Rate.ConcurrentStreams).
			WithDetails(map[string]any{"limit": "streams", "retryAfter": 1})
	}
	return release, nil
}
