package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// countingStore is a storage backend that fails every call and counts them,
// to prove which requests reach storage.
type countingStore struct{ calls atomic.Int64 }

func (s *countingStore) Ping(context.Context) error {
	s.calls.Add(1)
	return errors.New("storage must not be called")
}

func registry(t *testing.T) *tenant.Registry {
	t.Helper()
	cfgs, err := tenant.LoadFS(tenants.Examples, "tenants", tenant.Options{AllowDevKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tenant.NewRegistry(cfgs, tenant.Options{AllowDevKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// echoBody is the request type of the test route POST /test/echo.
type echoBody struct {
	Name  string            `json:"name"`
	Count int               `json:"count"`
	Items []echoItem        `json:"items"`
	Tags  map[string]string `json:"tags"`
}

type echoItem struct {
	ID    string `json:"id"`
	Score int8   `json:"score"`
}

type testServer struct {
	*Server
	store *countingStore
	logs  *bytes.Buffer
}

func newTestServer(t *testing.T, storeOK bool) *testServer {
	t.Helper()
	reg := registry(t)
	logs := &bytes.Buffer{}
	ts := &testServer{store: &countingStore{}, logs: logs}
	opts := Options{
		Registry: func() *tenant.Registry { return reg },
		Version:  "test",
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Metrics:  obs.NewMetrics(),
		extra: []*route{
			{pattern: "POST /test/echo", family: "chat", scope: tenant.ScopeDocumentsWrite, h: func(w http.ResponseWriter, r *http.Request) error {
				var b echoBody
				if err := decodeJSON(w, r, &b); err != nil {
					return err
				}
				return writeData(w, r, http.StatusOK, b)
			}},
			{pattern: "GET /test/panic", family: "chat", h: func(http.ResponseWriter, *http.Request) error {
				panic("boom")
			}},
			{pattern: "GET /test/fail", family: "chat", h: func(http.ResponseWriter, *http.Request) error {
				return api.Internal(errors.New("disk on fire"))
			}},
		},
	}
	if storeOK {
		opts.Storage = okStore{ts.store}
	} else {
		opts.Storage = ts.store
	}
	ts.Server = New(opts)
	return ts
}

type okStore struct{ c *countingStore }

func (s okStore) Ping(context.Context) error { s.c.calls.Add(1); return nil }

type response struct {
	status int
	header http.Header
	env    api.Envelope
	raw    string
}

func (ts *testServer) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.env); err != nil {
			t.Fatalf("response is not an envelope: %v\n%s", err, rec.Body)
		}
	}
	return res
}

func TestTenantResolutionOverHTTP(t *testing.T) {
	const acme, globex = "Bearer ck_dev_acme", "Bearer ck_dev_globex"
	tests := []struct {
		name    string
		method  string
		path    string
		headers []string
		status  int
		code    api.ErrorCode
		tenant  string
	}{
		{"acme key", "GET", "/health", []string{"Authorization", acme}, 200, "", "acme"},
		{"globex key", "GET", "/health", []string{"Authorization", globex}, 200, "", "globex"},
		{"public host without key", "GET", "/health", []string{"Host", "acme.localhost"}, 200, "", "acme"},
		{"no key", "GET", "/health", nil, 401, api.CodeUnauthenticated, ""},
		{"wrong key", "GET", "/health", []string{"Authorization", "Bearer ck_wrong"}, 401, api.CodeUnauthenticated, ""},
		{"not bearer", "GET", "/health", []string{"Authorization", "Token ck_dev_acme"}, 401, api.CodeUnauthenticated, ""},
		{"key with other tenant's X-Tenant-ID", "GET", "/health", []string{"Authorization", acme, "X-Tenant-ID", "globex"}, 403, api.CodeForbidden, ""},
		// A key alone decides the tenant: another tenant's host answers
		// exactly like an unknown host, so hosts cannot be probed.
		{"key on other tenant's host", "GET", "/health", []string{"Authorization", globex, "Host", "acme.localhost"}, 200, "", "globex"},
		{"key on unknown host", "GET", "/health", []string{"Authorization", globex, "Host", "nobody.example"}, 200, "", "globex"},
		{"key with host's X-Tenant-ID", "GET", "/health", []string{"Authorization", globex, "Host", "acme.localhost", "X-Tenant-ID", "acme"}, 403, api.CodeForbidden, ""},
		{"missing scope", "POST", "/test/echo", []string{"Authorization", globex}, 403, api.CodeForbidden, ""},
		{"private route on public host", "POST", "/test/echo", []string{"Host", "acme.localhost"}, 401, api.CodeUnauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, true)
			res := ts.do(t, tt.method, tt.path, `{}`, tt.headers...)
			if res.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", res.status, tt.status, res.raw)
			}
			if tt.code != "" {
				if res.env.OK || res.env.Error == nil || res.env.Error.Code != tt.code {
					t.Fatalf("envelope = %s, want error %s", res.raw, tt.code)
				}
				if tt.status == 401 && res.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if n := ts.store.calls.Load(); n != 0 {
					t.Errorf("a rejected request made %d storage call(s)", n)
				}
				return
			}
			var h api.Health
			if err := json.Unmarshal(res.env.Data, &h); err != nil {
				t.Fatal(err)
			}
			if h.Tenant != tt.tenant || h.Version != "test" || !h.Storage.OK {
				t.Errorf("health = %+v, want tenant %s", h, tt.tenant)
			}
			if n := ts.store.calls.Load(); n != 1 {
				t.Errorf("an accepted health request made %d storage calls, want 1", n)
			}
		})
	}
}

// TestRejectedRequestsTouchNoStore drives every rejection path against a
// store that fails on any call and checks that it was never called.
func TestRejectedRequestsTouchNoStore(t *testing.T) {
	ts := newTestServer(t, false)
	for _, headers := range [][]string{
		nil,
		{"Authorization", "Bearer nope"},
		{"Authorization", "Bearer ck_dev_acme", "X-Tenant-ID", "globex"},
		{"Authorization", "Bearer ck_dev_globex", "Host", "acme.localhost", "X-Tenant-ID", "acme"},
		{"Host", "acme.localhost", "X-Tenant-ID", "globex"},
	} {
		if res := ts.do(t, "GET", "/health", "", headers...); res.status != 401 && res.status != 403 {
			t.Errorf("headers %v: status %d", headers, res.status)
		}
	}
	if n := ts.store.calls.Load(); n != 0 {
		t.Fatalf("rejected requests made %d storage calls", n)
	}
	// The same store is reached, and its failure reported, once a request is accepted.
	res := ts.do(t, "GET", "/health", "", "Authorization", "Bearer ck_dev_acme")
	if res.status != 503 || res.env.Error.Code != api.CodeUnavailable {
		t.Fatalf("health with a failing store = %d %s", res.status, res.raw)
	}
	if strings.Contains(res.raw, "must not be called") {
		t.Error("storage error text leaked to the caller")
	}
	if n := ts.store.calls.Load(); n != 1 {
		t.Fatalf("storage calls = %d, want 1", n)
	}
}

func TestEnvelopeAndTraceHeaders(t *testing.T) {
	ts := newTestServer(t, true)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	res := ts.do(t, "GET", "/health", "", "Authorization", "Bearer ck_dev_acme", "traceparent", parent, "X-Request-ID", "client-req-42")
	if !res.env.OK || res.env.Error != nil || len(res.env.Data) == 0 {
		t.Fatalf("envelope = %s", res.raw)
	}
	if got, want := res.env.TraceID, "4bf92f3577b34da6a3ce929d0e0e4736"; got != want {
		t.Errorf("traceId = %s, want %s", got, want)
	}
	tp := res.header.Get("traceparent")
	if !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("traceparent = %q, want the same trace with a new span", tp)
	}
	if got := res.header.Get("X-Request-ID"); got != "client-req-42" {
		t.Errorf("X-Request-ID = %q, want the client's", got)
	}

	// No traceparent, an unusable request ID: both generated.
	res = ts.do(t, "GET", "/health", "", "Authorization", "Bearer ck_dev_acme", "X-Request-ID", "bad id\twith spaces")
	if len(res.env.TraceID) != 32 || res.env.TraceID == strings.Repeat("0", 32) {
		t.Errorf("generated traceId = %q", res.env.TraceID)
	}
	if id := res.header.Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " \t") {
		t.Errorf("X-Request-ID = %q, want a generated one", id)
	}
	if !strings.Contains(res.header.Get("traceparent"), res.env.TraceID) {
		t.Errorf("traceparent %q does not carry traceId %s", res.header.Get("traceparent"), res.env.TraceID)
	}

	// Errors carry the trace ID too.
	res = ts.do(t, "GET", "/health", "", "traceparent", parent)
	if res.env.OK || res.env.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("error envelope = %s", res.raw)
	}
}

func TestRoutingErrors(t *testing.T) {
	ts := newTestServer(t, true)
	tests := []struct {
		method, path string
		status       int
		code         api.ErrorCode
		allow        string
	}{
		{"GET", "/nope", 404, api.CodeNotFound, ""},
		{"DELETE", "/health", 405, api.CodeMethodNotAllowed, "GET, HEAD"},
		{"GET", "/test/echo", 405, api.CodeMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		res := ts.do(t, tt.method, tt.path, "", "Authorization", "Bearer ck_dev_acme")
		if res.status != tt.status || res.env.Error == nil || res.env.Error.Code != tt.code {
			t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, res.status, res.raw, tt.status, tt.code)
		}
		if got := res.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	ts := newTestServer(t, true)
	tests := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   api.ErrorCode
		msg    string // substring of the message
		path   string // details.path, if any
	}{
		{"valid", `{"name":"a","count":2,"items":[{"id":"x","score":3}],"tags":{"k":"v"}}`, "application/json", 200, "", "", ""},
		{"unknown top-level field", `{"name":"a","colour":"blue"}`, "application/json", 400, api.CodeInvalidRequest, "unknown field", "/colour"},
		{"unknown nested field", `{"items":[{"id":"x"},{"id":"y","extra":1}]}`, "", 400, api.CodeInvalidRequest, "unknown field", "/items/1/extra"},
		{"wrong type", `{"count":"two"}`, "", 400, api.CodeInvalidRequest, "expected an integer, got a string", "/count"},
		{"wrong type in array", `{"items":[{"id":"x","score":1},{"id":7}]}`, "", 400, api.CodeInvalidRequest, "expected a string, got a number", "/items/1/id"},
		{"overflow", `{"items":[{"score":300}]}`, "", 400, api.CodeInvalidRequest, "fits int8", "/items/0/score"},
		{"wrong type in map", `{"tags":{"a/b":true}}`, "", 400, api.CodeInvalidRequest, "expected a string", "/tags/a~1b"},
		{"not an object", `[1,2]`, "", 400, api.CodeInvalidRequest, "expected an object", "/"},
		{"malformed", `{"name":`, "", 400, api.CodeInvalidRequest, "malformed JSON", ""},
		{"syntax error", `{"name" "a"}`, "", 400, api.CodeInvalidRequest, "malformed JSON at byte", ""},
		{"empty", ``, "", 400, api.CodeInvalidRequest, "empty", ""},
		{"two values", `{} {}`, "", 400, api.CodeInvalidRequest, "more than one JSON value", ""},
		{"wrong content type", `name=a`, "application/x-www-form-urlencoded", 415, api.CodeUnsupportedMediaType, "application/json", ""},
		{"too large", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, "", 413, api.CodePayloadTooLarge, "larger than 1048576 bytes", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{"Authorization", "Bearer ck_dev_acme"}
			if tt.ctype != "" {
				headers = append(headers, "Content-Type", tt.ctype)
			}
			res := ts.do(t, "POST", "/test/echo", tt.body, headers...)
			if res.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", res.status, tt.status, res.raw)
			}
			if tt.code == "" {
				if !res.env.OK {
					t.Fatalf("envelope = %s", res.raw)
				}
				return
			}
			e := res.env.Error
			if e == nil || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("error = %+v, want %s containing %q", e, tt.code, tt.msg)
			}
			if tt.path != "" {
				if got, _ := e.Details["path"].(string); got != tt.path {
					t.Errorf("details.path = %q, want %q", got, tt.path)
				}
			}
		})
	}
}

func TestTenantBodyLimit(t *testing.T) {
	// globex allows 256 KiB; its key lacks the scope of /test/echo, so decode
	// directly with a resolved identity instead.
	reg := registry(t)
	globex, _ := reg.Tenant("globex")
	req := httptest.NewRequest("POST", "/test/echo", strings.NewReader(`{"name":"`+strings.Repeat("a", 300<<10)+`"}`))
	m := &meta{caller: tenant.Caller{Tenant: globex}, log: obs.Discard}
	req = req.WithContext(withMeta(req.Context(), m))
	var b echoBody
	err := decodeJSON(httptest.NewRecorder(), req, &b)
	if e := api.AsError(err); e.Code != api.CodePayloadTooLarge || !strings.Contains(e.Message, "262144") {
		t.Fatalf("err = %v, want payload_too_large at globex's 262144 bytes", err)
	}
}

func TestPanicAndInternalErrors(t *testing.T) {
	ts := newTestServer(t, true)
	res := ts.do(t, "GET", "/test/panic", "", "Authorization", "Bearer ck_dev_acme")
	if res.status != 500 || res.env.Error == nil || res.env.Error.Code != api.CodeInternal || res.env.Error.Message != "internal error" {
		t.Fatalf("panic response = %d %s", res.status, res.raw)
	}
	if !strings.Contains(ts.logs.String(), `"msg":"panic"`) || !strings.Contains(ts.logs.String(), "boom") {
		t.Errorf("panic not logged:\n%s", ts.logs)
	}

	res = ts.do(t, "GET", "/test/fail", "", "Authorization", "Bearer ck_dev_acme")
	if res.status != 500 || strings.Contains(res.raw, "disk on fire") {
		t.Fatalf("internal error response = %d %s", res.status, res.raw)
	}
	if !strings.Contains(ts.logs.String(), "disk on fire") {
		t.Errorf("internal error cause not logged:\n%s", ts.logs)
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	ts := newTestServer(t, true)
	ts.do(t, "GET", "/health", "", "Authorization", "Bearer ck_dev_acme", "X-Request-ID", "req-1")
	var line map[string]any
	for l := range strings.Lines(ts.logs.String()) {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]any{"route": "GET /health", "status": 200.0, "tenant": "acme", "key": "dev", "client_request_id": "req-1", "method": "GET"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v", k, line[k], v)
		}
	}
	if id, _ := line["request_id"].(string); len(id) != 32 || id != line["trace_id"] {
		t.Errorf("access log request_id = %v, want the trace ID %v", line["request_id"], line["trace_id"])
	}
	for _, k := range []string{"bytes", "latency_ms", "trace_id"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access log lacks %s", k)
		}
	}

	res := ts.operator(t, "GET", "/metrics")
	for _, want := range []string{
		`crispy_http_requests_total{code="200",route="GET /health",tenant="acme"} 1`,
		`crispy_http_request_duration_seconds_count{code="200",route="GET /health",tenant="acme"} 1`,
	} {
		if !strings.Contains(res.raw, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestProbes(t *testing.T) {
	ts := newTestServer(t, true)
	if res := ts.do(t, "GET", "/livez", ""); res.status != 200 {
		t.Errorf("livez = %d", res.status)
	}
	if res := ts.do(t, "GET", "/readyz", ""); res.status != 503 || res.env.Error.Code != api.CodeUnavailable {
		t.Errorf("readyz before ready = %d %s", res.status, res.raw)
	}
	ts.SetReady(true)
	if res := ts.do(t, "GET", "/readyz", ""); res.status != 200 {
		t.Errorf("readyz when ready = %d", res.status)
	}
	ts.SetReady(false)
	if res := ts.do(t, "GET", "/readyz", ""); res.status != 503 {
		t.Errorf("readyz while draining = %d", res.status)
	}
	if n := ts.store.calls.Load(); n != 0 {
		t.Errorf("probes made %d storage calls", n)
	}
}

// TestKeyAnswersAlikeOnEveryHost checks that a request with a key gets the
// same answer whatever its Host names (a host of another tenant, of the
// key's tenant, or of no tenant), so that a key holder cannot learn which
// hosts belong to a tenant.
func TestKeyAnswersAlikeOnEveryHost(t *testing.T) {
	ts := newTestServer(t, true)
	for _, c := range []struct {
		method, path string
		headers      []string
	}{
		{"GET", "/health", []string{"Authorization", "Bearer ck_dev_globex"}},
		{"POST", "/test/echo", []string{"Authorization", "Bearer ck_dev_globex"}},                    // scope missing
		{"GET", "/health", []string{"Authorization", "Bearer ck_dev_globex", "X-Tenant-ID", "acme"}}, // another tenant's ID
		{"GET", "/health", []string{"Authorization", "Bearer ck_nope"}},
	} {
		type answer struct {
			status int
			code   api.ErrorCode
			msg    string
		}
		var want answer
		for i, host := range []string{"nobody.example", "acme.localhost", "ACME.localhost:8080", "127.0.0.1:8080"} {
			res := ts.do(t, c.method, c.path, `{}`, append([]string{"Host", host}, c.headers...)...)
			got := answer{status: res.status}
			if res.env.Error != nil {
				got.code, got.msg = res.env.Error.Code, res.env.Error.Message
			}
			if i == 0 {
				want = got
				continue
			}
			if got != want {
				t.Errorf("%s %s %v on host %s: %+v; on an unknown host: %+v", c.method, c.path, c.headers, host, got, want)
			}
		}
	}
}

// operator sends a request to the operator listener's handler.
func (ts *testServer) operator(t *testing.T, method, path string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	ts.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.env); err != nil {
			t.Fatalf("%s %s: body is not an envelope: %v\n%s", method, path, err, res.raw)
		}
	}
	return res
}

// TestMetricsOnlyOnOperatorHandler checks that the API does not serve
// /metrics, which names every tenant, and answers it like any unknown
// route, while the operator listener's handler serves it and the probes.
func TestMetricsOnlyOnOperatorHandler(t *testing.T) {
	ts := newTestServer(t, true)
	ts.do(t, "GET", "/health", "", "Authorization", "Bearer ck_dev_acme")
	unknown := ts.do(t, "GET", "/nothing-here", "")
	for _, path := range []string{"/metrics", "/metrics/", "/metrics?format=text"} {
		for _, headers := range [][]string{nil, {"Authorization", "Bearer ck_dev_acme"}, {"Host", "acme.localhost"}} {
			res := ts.do(t, "GET", path, "", headers...)
			if res.status != unknown.status || res.env.Error == nil || res.env.Error.Code != api.CodeNotFound {
				t.Errorf("API GET %s %v = %d %s, want %d not_found like an unknown route", path, headers, res.status, res.raw, unknown.status)
			}
			if strings.Contains(res.raw, "acme") || strings.Contains(res.raw, "crispy_") {
				t.Errorf("API GET %s %v reveals metrics: %s", path, headers, res.raw)
			}
		}
	}

	res := ts.operator(t, "GET", "/metrics")
	if res.status != 200 || !strings.Contains(res.raw, `crispy_http_requests_total{code="200",route="GET /health",tenant="acme"} 1`) {
		t.Errorf("operator GET /metrics = %d, lacks the /health request:\n%s", res.status, res.raw)
	}
	if strings.Contains(res.raw, `route="GET /metrics"`) {
		t.Error("scrapes are counted as API requests")
	}
	if res := ts.operator(t, "GET", "/livez"); res.status != 200 || !res.env.OK {
		t.Errorf("operator livez = %d %s", res.status, res.raw)
	}
	if res := ts.operator(t, "GET", "/readyz"); res.status != 503 || res.env.Error == nil || res.env.Error.Code != api.CodeUnavailable {
		t.Errorf("operator readyz before ready = %d %s", res.status, res.raw)
	}
	ts.SetReady(true)
	if res := ts.operator(t, "GET", "/readyz"); res.status != 200 {
		t.Errorf("operator readyz when ready = %d %s", res.status, res.raw)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/health"}, {"POST", "/metrics"}, {"GET", "/v1/models"}} {
		if res := ts.operator(t, c.method, c.path); res.status != 404 || res.env.Error == nil || res.env.Error.Code != api.CodeNotFound || res.env.TraceID == "" {
			t.Errorf("operator %s %s = %d %s, want a not_found envelope", c.method, c.path, res.status, res.raw)
		}
	}
	if n := ts.store.calls.Load(); n != 1 {
		t.Errorf("storage calls = %d, want 1 (the /health request)", n)
	}
}
