package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/httpapi"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// syncBuffer is a log destination written by many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logOperatorKey is the operator credential of the access log test.
const logOperatorKey = "co_ci_" + "YWNjZXNzLWxvZy10ZXN0LWNyZWRlbnRpYWwtMDEyMzQ1"

// routeRequest is a request that reaches one route.
type routeRequest struct {
	method, path, body string
	key                string // "" for none
	model              bool   // the request calls a model: the line has model, tokens and cost
}

// traceIDPattern is a W3C trace ID.
var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAccessLogEveryRoute drives every route the server has and checks the
// fields docs/observability.md promises on its access log line: tenant, key,
// request ID equal to the trace ID, route pattern, status and latency, and
// model, tokens and cost on the routes that called a model.
func TestAccessLogEveryRoute(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "operators.jsonc")
	if err := os.WriteFile(keys, fmt.Appendf(nil, `{"keys": [{"id": "ci", "hash": %q}]}`, tenant.HashKey(logOperatorKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, copyTenants(t))
	cfg.OperatorKeys = keys
	logs := &syncBuffer{}
	s := startDeps(t, cfg, app.Deps{Logger: slog.New(slog.NewJSONHandler(logs, nil))})

	const key, op = "ck_dev_acme", logOperatorKey
	// The session and document the later requests name.
	res := send1(t, s, routeRequest{method: "POST", path: "/chat", key: key, body: `{"message":"What is the refund policy?","stream":false}`})
	var chat struct {
		Data struct {
			SessionID string `json:"sessionId"`
		} `json:"data"`
	}
	if err := json.Unmarshal(res, &chat); err != nil || chat.Data.SessionID == "" {
		t.Fatalf("POST /chat = %s", res)
	}
	session := chat.Data.SessionID
	acme, err := os.ReadFile(filepath.Join(cfg.TenantsDir, "acme", tenant.FileName))
	if err != nil {
		t.Fatal(err)
	}
	deploy, _ := json.Marshal(map[string]any{"content": string(acme), "dryRun": true})

	reqs := map[string]routeRequest{
		"GET /{$}":                                      {method: "GET", path: "/"},
		"GET /livez":                                    {method: "GET", path: "/livez"},
		"GET /readyz":                                   {method: "GET", path: "/readyz"},
		"GET /health":                                   {method: "GET", path: "/health", key: key},
		"GET /usage":                                    {method: "GET", path: "/usage", key: key},
		"POST /chat":                                    {method: "POST", path: "/chat", key: key, body: `{"message":"How are hotel costs refunded?","sessionId":"` + session + `"}`, model: true},
		"GET /chat/{sessionId}/history":                 {method: "GET", path: "/chat/" + session + "/history", key: key},
		"DELETE /chat/{sessionId}":                      {method: "DELETE", path: "/chat/" + session, key: key},
		"POST /documents":                               {method: "POST", path: "/documents", key: key, body: `{"id":"logs-doc","text":"Access logs carry the tenant of every request."}`, model: true},
		"GET /documents":                                {method: "GET", path: "/documents", key: key},
		"GET /documents/{id...}":                        {method: "GET", path: "/documents/logs-doc", key: key},
		"DELETE /documents/{id...}":                     {method: "DELETE", path: "/documents/logs-doc", key: key},
		"GET /jobs/{id}":                                {method: "GET", path: "/jobs/j_unknown", key: key},
		"POST /retrieve":                                {method: "POST", path: "/retrieve", key: key, body: `{"query":"refund policy"}`, model: true},
		"POST /search":                                  {method: "POST", path: "/search", key: key, body: `{"query":"What is the refund policy?"}`, model: true},
		"GET /tools":                                    {method: "GET", path: "/tools", key: key},
		"POST /tools/{name}/invoke":                     {method: "POST", path: "/tools/summarize/invoke", key: key, body: `{"args":{"text":"Cats purr when content. Dogs wag their tails."}}`},
		"GET /audit":                                    {method: "GET", path: "/audit", key: key},
		"POST /tts":                                     {method: "POST", path: "/tts", key: key, body: `{"text":"Your order has shipped.","stream":false}`, model: true},
		"GET /tts/voices":                               {method: "GET", path: "/tts/voices", key: key},
		"GET /tts/jobs/{id}":                            {method: "GET", path: "/tts/jobs/unknown", key: key},
		"POST /v1/chat/completions":                     {method: "POST", path: "/v1/chat/completions", key: key, body: `{"model":"builtin/extractive","messages":[{"role":"user","content":"What is the refund policy?"}]}`, model: true},
		"POST /v1/embeddings":                           {method: "POST", path: "/v1/embeddings", key: key, body: `{"model":"builtin/hash-384","input":"refund"}`, model: true},
		"GET /v1/models":                                {method: "GET", path: "/v1/models", key: key},
		"GET /v1/models/{model...}":                     {method: "GET", path: "/v1/models/builtin/extractive", key: key},
		"POST /v1/audio/speech":                         {method: "POST", path: "/v1/audio/speech", key: key, body: `{"model":"tts-1","input":"Hello there.","voice":"alloy"}`, model: true},
		"GET /operator/v1/tenants":                      {method: "GET", path: "/operator/v1/tenants", key: op},
		"GET /operator/v1/tenants/{id}":                 {method: "GET", path: "/operator/v1/tenants/acme", key: op},
		"GET /operator/v1/tenants/{id}/history":         {method: "GET", path: "/operator/v1/tenants/acme/history", key: op},
		"POST /operator/v1/tenants/{id}/deploy":         {method: "POST", path: "/operator/v1/tenants/acme/deploy", key: op, body: string(deploy)},
		"POST /operator/v1/tenants/{id}/rollback":       {method: "POST", path: "/operator/v1/tenants/unknown/rollback", key: op, body: `{"version":1}`},
		"DELETE /operator/v1/tenants/{id}":              {method: "DELETE", path: "/operator/v1/tenants/unknown", key: op},
		"GET /operator/v1/secrets":                      {method: "GET", path: "/operator/v1/secrets?names=MOCK_KEY", key: op},
		"POST /operator/v1/tenants/{id}/keys":           {method: "POST", path: "/operator/v1/tenants/unknown/keys", key: op, body: `{"scopes":["chat"]}`},
		"DELETE /operator/v1/tenants/{id}/keys/{keyId}": {method: "DELETE", path: "/operator/v1/tenants/unknown/keys/k1", key: op},
		"GET /operator/v1/tenants/{id}/usage":           {method: "GET", path: "/operator/v1/tenants/acme/usage", key: op},
		"GET /operator/v1/drift":                        {method: "GET", path: "/operator/v1/drift", key: op},
		"GET /me":                                       {method: "GET", path: "/me", key: key},
		"GET /console":                                  {method: "GET", path: "/console"},
		"GET /console/":                                 {method: "GET", path: "/console/chat"},
	}
	srv, ok := s.app.Handler().(*httpapi.Server)
	if !ok {
		t.Fatalf("handler is a %T", s.app.Handler())
	}
	routes := srv.Routes()
	for _, p := range routes {
		rq, ok := reqs[p]
		if !ok {
			t.Errorf("route %q has no request in this test: add one", p)
			continue
		}
		logs.mu.Lock()
		logs.b.Reset()
		logs.mu.Unlock()
		send1(t, s, rq)
		// The line is written once the handler returns, which may be just
		// after the client has the whole response.
		var line map[string]any
		for deadline := time.Now().Add(5 * time.Second); line == nil && time.Now().Before(deadline); {
			if line = accessLine(t, logs.String()); line == nil {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if line == nil {
			t.Errorf("%s: no access log line", p)
			continue
		}
		checkLine(t, p, rq, line)
	}
	if len(reqs) != len(routes) {
		t.Errorf("%d requests for %d routes: a route was removed, or a request names no route", len(reqs), len(routes))
	}
}

// send1 sends rq and returns the response body.
func send1(t *testing.T, s *started, rq routeRequest) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), rq.method, s.url+rq.path, strings.NewReader(rq.body))
	if rq.key != "" {
		req.Header.Set("Authorization", "Bearer "+rq.key)
	}
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// A redirect (GET /console) is the route's answer: not followed.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b
}

// accessLine returns the last access log line of logs.
func accessLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	var line map[string]any
	for l := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		if m["msg"] == "request" {
			line = m
		}
	}
	return line
}

// checkLine checks the access log line of the request rq sent to route p.
func checkLine(t *testing.T, p string, rq routeRequest, line map[string]any) {
	t.Helper()
	str := func(k string) string {
		v, ok := line[k].(string)
		if !ok {
			t.Errorf("%s: %s = %#v, want a string", p, k, line[k])
		}
		return v
	}
	num := func(k string) float64 {
		v, ok := line[k].(float64)
		if !ok {
			t.Errorf("%s: %s = %#v, want a number", p, k, line[k])
		}
		return v
	}
	if got := str("route"); got != p {
		t.Errorf("%s: route = %q", p, got)
	}
	status := num("status")
	if status < 100 || status > 599 {
		t.Errorf("%s: status = %v", p, status)
	}
	if num("latency_ms") < 0 {
		t.Errorf("%s: negative latency", p)
	}
	num("bytes")
	rid, tid := str("request_id"), str("trace_id")
	if !traceIDPattern.MatchString(tid) || rid != tid {
		t.Errorf("%s: request_id %q, trace_id %q: want the same trace ID", p, rid, tid)
	}
	str("method")
	tn, key, op := str("tenant"), str("key"), str("operator")
	switch {
	case strings.HasPrefix(rq.key, "co_"):
		if tn != "none" || key != "" || op != "ci" {
			t.Errorf("%s: tenant %q key %q operator %q, want none, no key, operator ci", p, tn, key, op)
		}
	case rq.key != "":
		if tn != "acme" || key != "dev" || op != "" {
			t.Errorf("%s: tenant %q key %q operator %q, want acme, dev, no operator", p, tn, key, op)
		}
	default:
		if tn != "none" || key != "" {
			t.Errorf("%s: tenant %q key %q, want none and no key", p, tn, key)
		}
	}
	if rq.model && status < 300 {
		if m := str("model"); m == "" {
			t.Errorf("%s: empty model", p)
		}
		if num("model_calls") < 1 {
			t.Errorf("%s: model_calls < 1", p)
		}
		num("tokens_in")
		num("tokens_out")
		num("cost_usd")
	} else if rq.model {
		t.Errorf("%s: status %v, want a successful model call", p, status)
	}
	if !rq.model {
		if _, ok := line["model"]; ok && status < 300 && !strings.HasPrefix(p, "POST /tools") {
			t.Errorf("%s: model %v on a route that calls none", p, line["model"])
		}
	}
}
