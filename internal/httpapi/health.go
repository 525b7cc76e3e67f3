package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/crispy-enigma/crispy/api"
)

// storagePingTimeout bounds how long GET /health waits for storage.
const storagePingTimeout = 2 * time.Second

// health answers GET /health for the caller's tenant: the tenant ID, the
// server version and whether storage (and Redis, when configured) answer.
// It is 503 when storage does not; Redis down is reported with 200, as the
// API still serves (see docs/scale-out.md).
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	h := api.Health{
		Tenant:  Caller(r).Tenant.ID.String(),
		Version: s.opts.Version,
		Storage: api.Status{OK: true, Backend: s.opts.StorageBackend},
	}
	ctx, cancel := context.WithTimeout(r.Context(), storagePingTimeout)
	defer cancel()
	m := metaOf(r)
	if s.opts.Redis != nil {
		h.Redis = &api.Status{OK: true, Backend: "redis"}
		if err := s.opts.Redis.Ping(ctx); err != nil {
			m.log.WarnContext(r.Context(), "redis ping failed", "error", err, "request_id", m.requestID)
			h.Redis = &api.Status{OK: false, Backend: "redis", Error: "redis is not answering"}
		}
	}
	if s.opts.Storage != nil {
		if err := s.opts.Storage.Ping(ctx); err != nil {
			m.log.WarnContext(r.Context(), "storage ping failed", "error", err, "request_id", m.requestID)
			h.Storage = api.Status{OK: false, Backend: s.opts.StorageBackend, Error: "storage is not answering"}
			return api.Errorf(api.CodeUnavailable, "storage is not answering").WithDetails(map[string]any{"health": h, "retryAfter": storageRetryAfter})
		}
	}
	return writeData(w, r, http.StatusOK, h)
}

// livez answers GET /livez: the process is up.
func (s *Server) livez(w http.ResponseWriter, r *http.Request) error {
	return writeData(w, r, http.StatusOK, map[string]bool{"live": true})
}

// readyz answers GET /readyz: 200 once started, 503 while starting or draining.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if !s.ready.Load() {
		return api.Errorf(api.CodeUnavailable, "not ready: the server is starting or draining")
	}
	if s.opts.StorageUp != nil {
		if err := s.opts.StorageUp(); err != nil {
			return api.Errorf(api.CodeUnavailable, "not ready: storage is not answering").WithDetails(map[string]any{"storage": "unavailable"})
		}
	}
	return writeData(w, r, http.StatusOK, map[string]bool{"ready": true})
}
