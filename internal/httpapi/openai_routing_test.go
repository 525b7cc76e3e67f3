package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api/openai"
)

// TestOpenAIRoutingErrors checks that a path under /v1 that matches no
// route, or matches one with another method, answers in OpenAI's error
// shape, so that the SDKs raise their usual errors, while other paths keep
// the envelope.
func TestOpenAIRoutingErrors(t *testing.T) {
	ts := newTestServer(t, true)
	tests := []struct {
		method, path string
		status       int
		typ, code    string
		allow        string
	}{
		{"GET", "/v1/nope", 404, "not_found_error", "not_found", ""},
		{"POST", "/v1/completions", 404, "not_found_error", "not_found", ""},
		{"POST", "/v1/audio/transcriptions", 404, "not_found_error", "not_found", ""},
		{"GET", "/v1", 404, "not_found_error", "not_found", ""},
		{"GET", "/v1/chat/completions", 405, "invalid_request_error", "method_not_allowed", "POST"},
		{"DELETE", "/v1/models", 405, "invalid_request_error", "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		for _, auth := range []string{"", "Bearer ck_dev_acme"} {
			res := ts.do(t, tt.method, tt.path, "", "Authorization", auth)
			var body openai.ErrorResponse
			if err := json.Unmarshal([]byte(res.raw), &body); err != nil || res.status != tt.status ||
				body.Error.Type != tt.typ || body.Error.Code != tt.code || body.Error.Message == "" {
				t.Errorf("%s %s (auth %q) = %d %s, want %d with an OpenAI error %s/%s", tt.method, tt.path, auth, res.status, res.raw, tt.status, tt.typ, tt.code)
			}
			if strings.Contains(res.raw, `"ok"`) || strings.Contains(res.raw, "traceId") {
				t.Errorf("%s %s: the envelope leaked into an OpenAI error: %s", tt.method, tt.path, res.raw)
			}
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
			}
		}
	}
	// Not under /v1: the envelope, as before.
	for _, path := range []string{"/v1x", "/v2/models", "/nope/v1/"} {
		if res := ts.do(t, "GET", path, ""); res.status != 404 || res.env.Error == nil || res.env.Error.Code != "not_found" {
			t.Errorf("GET %s = %d %s, want a not_found envelope", path, res.status, res.raw)
		}
	}
}
