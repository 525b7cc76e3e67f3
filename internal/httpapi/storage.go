package httpapi

import (
	"net/http"

	"github.com/crispy-enigma/crispy/api"
)

// storageRetryAfter is the Retry-After, in seconds, of a request refused
// because storage does not answer.
const storageRetryAfter = 2

// errStorageDown is the error of a tenant request refused while storage
// does not answer.
func errStorageDown() error {
	return api.Errorf(api.CodeUnavailable, "storage is not answering; nothing was done, retry shortly").
		WithDetails(map[string]any{"storage": "unavailable", "retryAfter": storageRetryAfter})
}

// withStorage refuses tenant requests with 503 unavailable and Retry-After
// while Options.StorageUp reports storage down, before any handler runs,
// so that nothing is half done and clients back off instead of waiting for
// timeouts. GET /health still answers, with its report.
func (s *Server) withStorage(next http.Handler) http.Handler {
	if s.opts.StorageUp == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := metaOf(r)
		if m.route == nil || m.route.open || m.route.family == "health" {
			next.ServeHTTP(w, r)
			return
		}
		if err := s.opts.StorageUp(); err != nil {
			writeError(w, r, errStorageDown())
			return
		}
		next.ServeHTTP(w, r)
	})
}
