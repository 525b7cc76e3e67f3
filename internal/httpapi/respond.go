package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/store"
)

// statuses maps each error code to its HTTP status. It is the one place
// where that mapping lives; docs/errors.md lists the same table.
var statuses = map[api.ErrorCode]int{
	api.CodeInvalidRequest:       http.StatusBadRequest,
	api.CodeModelNotAllowed:      http.StatusBadRequest,
	api.CodeBudgetExceeded:       http.StatusPaymentRequired,
	api.CodeUpstreamError:        http.StatusBadGateway,
	api.CodeUpstreamTimeout:      http.StatusGatewayTimeout,
	api.CodeUnauthenticated:      http.StatusUnauthorized,
	api.CodeForbidden:            http.StatusForbidden,
	api.CodeTTSNotEnabled:        http.StatusForbidden,
	api.CodeNotFound:             http.StatusNotFound,
	api.CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	api.CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	api.CodeQuotaExceeded:        http.StatusRequestEntityTooLarge,
	api.CodeRequestTimeout:       http.StatusRequestTimeout,
	api.CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	api.CodeRateLimited:          http.StatusTooManyRequests,
	api.CodeHeadersTooLarge:      http.StatusRequestHeaderFieldsTooLarge,
	api.CodeConflict:             http.StatusConflict,
	api.CodeInternal:             http.StatusInternalServerError,
	api.CodeUnavailable:          http.StatusServiceUnavailable,
	api.CodeToolTimeout:          http.StatusGatewayTimeout,
}

// statusOf returns the HTTP status of code; an unknown code is a 500.
func statusOf(code api.ErrorCode) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeData writes a success envelope with data.
func writeData(w http.ResponseWriter, r *http.Request, status int, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return api.Internal(err)
	}
	writeEnvelope(w, status, api.Envelope{OK: true, Data: raw, TraceID: TraceID(r)})
	return nil
}

// writeError writes err as an error envelope. Internal errors are logged
// here, once, with their cause; the caller sees only "internal error".
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := api.AsError(err)
	logError(r, e)
	if e.Code == api.CodeInternal && errors.Is(e, store.ErrUnavailable) {
		// Storage went away during the request: nothing was stored, and
		// the client may retry.
		e = api.AsError(errStorageDown())
	}
	setRetryAfter(w.Header(), e)
	if metaOf(r).openai {
		status, body := openAIError(e)
		_ = writeJSON(w, status, body)
		return
	}
	writeEnvelope(w, statusOf(e.Code), api.Envelope{Error: e, TraceID: TraceID(r)})
}

// logError logs a server-side error with its cause, once; the caller sees
// only the code and message.
func logError(r *http.Request, e *api.Error) {
	if statusOf(e.Code) < 500 || e.Unwrap() == nil {
		return
	}
	m := metaOf(r)
	m.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
		slog.String("code", string(e.Code)),
		slog.String("error", e.Error()),
		slog.String("request_id", m.requestID),
		slog.String("trace_id", m.traceID),
	)
}

func writeEnvelope(w http.ResponseWriter, status int, env api.Envelope) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(env)
}

// setRetryAfter sets Retry-After from the error's details.retryAfter
// (seconds), unless the header is set already.
func setRetryAfter(h http.Header, e *api.Error) {
	if h.Get(ratelimit.HeaderRetryAfter) != "" || e.Details == nil {
		return
	}
	var secs int64
	switch v := e.Details["retryAfter"].(type) {
	case int:
		secs = int64(v)
	case int64:
		secs = v
	case float64:
		secs = int64(math.Ceil(v))
	default:
		return
	}
	if secs > 0 {
		h.Set(ratelimit.HeaderRetryAfter, strconv.FormatInt(secs, 10))
	}
}
