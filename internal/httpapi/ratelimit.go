package httpapi

import (
	"net/http"
	"sync"
	"sync/atomic"

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
		if m.route == nil || m.route.open || m.caller.Tenant == nil {
			next.ServeHTTP(w, r)
			return
		}
		rules := s.rateRules(r, m.caller)
		if len(rules) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		span := s.startAdmission(r, m.caller)
		res, err := s.opts.Limiter.Check(r.Context(), m.caller.Tenant.ID, rules...)
		endAdmission(span, res, err)
		if err != nil {
			// Fail open: a limiter that cannot answer must not take the
			// API down; budgets still bound spending.
			s.log.Error("rate limiter failed; request admitted", "tenant", m.caller.Tenant.ID.String(), "error", err, "request_id", m.requestID)
			s.opts.Metrics.RateLimitErrors.Inc()
			next.ServeHTTP(w, r)
			return
		}
		ratelimit.SetHeaders(w.Header(), res)
		if !res.Allowed {
			policy := refusing(res)
			s.opts.Metrics.RateLimited.WithLabelValues(m.caller.Tenant.ID.String(), policy).Inc()
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
			s.opts.Metrics.RateLimited.WithLabelValues("none", "server").Inc()
			w.Header().Set(ratelimit.HeaderRetryAfter, "1")
			writeError(w, r, api.Errorf(api.CodeUnavailable, "the server is at its limit of %d requests in flight; retry shortly", s.opts.MaxInFlight).
				WithDetails(map[string]any{"limit": "server", "retryAfter": 1}))
		}
	})
}

// TenantShare is the share of Options.MaxInFlight a tenant may hold when
// its config sets no limits.maxInFlight: one in TenantShare.
const TenantShare = 4

// tenantInFlightCap is the most requests tenant t may have in flight; 0:
// no cap. This is the one tenant default not filled in when the config
// loads (tenant.Config.WithDefaults), nor stated in the schema: it depends
// on the server's --max-in-flight, which only the server knows.
func (s *Server) tenantInFlightCap(t *tenant.Tenant) int {
	if n := t.Config.Limits.MaxInFlight; n > 0 {
		return n
	}
	if s.opts.MaxInFlight <= 0 {
		return 0
	}
	return max(1, s.opts.MaxInFlight/TenantShare)
}

// withTenantInFlight refuses a tenant's request beyond its share of the
// requests in flight with 429 at once: one tenant's slow or numerous
// requests fill its share, never the server's cap that every tenant
// shares.
func (s *Server) withTenantInFlight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := metaOf(r)
		t := m.caller.Tenant
		if m.route == nil || m.route.open || t == nil {
			next.ServeHTTP(w, r)
			return
		}
		limit := s.tenantInFlightCap(t)
		if limit <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		v, _ := s.inFlight.LoadOrStore(t.ID, new(atomic.Int64))
		n := v.(*atomic.Int64)
		if n.Add(1) > int64(limit) {
			n.Add(-1)
			s.opts.Metrics.RateLimited.WithLabelValues(t.ID.String(), "inFlight").Inc()
			noteRefusal(r, t.ID.String(), "inFlight")
			w.Header().Set(ratelimit.HeaderRetryAfter, "1")
			writeError(w, r, api.Errorf(api.CodeRateLimited, "this tenant has %d requests in flight, its share of the server; retry shortly", limit).
				WithDetails(map[string]any{"limit": "inFlight", "retryAfter": 1}))
			return
		}
		defer func() {
			// The last request of a tenant that is no longer served
			// drops its counter, so that removed tenants leave nothing.
			if n.Add(-1) == 0 {
				if _, ok := s.opts.Registry().Tenant(t.ID.String()); !ok {
					s.inFlight.CompareAndDelete(t.ID, v)
				}
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// rateRules are the limits of a request: the tenant's, its key's (or, on
// a public route without a key, none: the IP limit covers it), its IP's.
func (s *Server) rateRules(r *http.Request, id tenant.Caller) []ratelimit.Rule {
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
	t := Caller(r).Tenant
	slot, ok := s.opts.Streams.Acquire(t.ID, t.Config.Limits.Rate.ConcurrentStreams)
	if !ok {
		s.opts.Metrics.RateLimited.WithLabelValues(t.ID.String(), "streams").Inc()
		w.Header().Set(ratelimit.HeaderRetryAfter, "1")
		return nil, api.Errorf(api.CodeRateLimited, "this tenant has %d streams open, its limit; retry shortly", t.Config.Limits.Rate.ConcurrentStreams).
			WithDetails(map[string]any{"limit": "streams", "retryAfter": 1})
	}
	route := "unmatched"
	if m := metaOf(r); m.route != nil {
		route = m.route.pattern
	}
	open := s.opts.Metrics.StreamsOpen.WithLabelValues(t.ID.String(), route)
	open.Inc()
	var once sync.Once
	return func() { once.Do(func() { open.Dec(); slot() }) }, nil
}
