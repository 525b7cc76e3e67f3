package api

import "encoding/json"

// Envelope is the body of every JSON response outside the SSE and
// OpenAI-compatible routes: {"ok":true,"data":...,"traceId":"..."} on success,
// {"ok":false,"error":{...},"traceId":"..."} on failure.
type Envelope struct {
	OK      bool            `json:"ok"`
	Data    json.RawMessage `json:"data,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	TraceID string          `json:"traceId"`
}

// Health is the data of GET /health: the tenant the caller resolved to, the
// server's version and the state of its storage.
type Health struct {
	Tenant  string `json:"tenant"`
	Version string `json:"version"`
	Storage Status `json:"storage"`
}

// Status reports whether a dependency answers.
type Status struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}
