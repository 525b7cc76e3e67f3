package httpapi

import (
	"net/http"

	"github.com/crispy-enigma/crispy/api"
)

// MetricsHandler returns the handler of the operator listener: GET /metrics
// in the Prometheus exposition format, and the probes GET /livez and GET
// /readyz. The API's own handler does not serve /metrics, because the
// metrics name every tenant and what it holds: they belong on an address
// that only operators reach (crispy serve --metrics-addr).
func (s *Server) MetricsHandler() http.Handler { return s.operator }

// operatorHandler builds the handler that MetricsHandler returns. Its
// requests are neither logged nor counted in the request metrics, so that
// scrapes and probes do not drown the API's traffic.
func (s *Server) operatorHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range []*route{
		{pattern: "GET /metrics", open: true, h: s.metrics},
		{pattern: "GET /livez", open: true, h: s.livez},
		{pattern: "GET /readyz", open: true, h: s.readyz},
		{pattern: "/", open: true, h: func(w http.ResponseWriter, r *http.Request) error {
			return api.Errorf(api.CodeNotFound, "no route for %s %s; this listener serves GET /metrics, /livez and /readyz", r.Method, r.URL.Path)
		}},
	} {
		mux.Handle(rt.pattern, rt)
	}
	return s.withRequestMeta(mux)
}

// metrics answers GET /metrics in the Prometheus exposition format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}
