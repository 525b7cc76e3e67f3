package app_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// otlpReceiver is an OTLP/HTTP trace receiver on loopback: it keeps the
// spans of every export request, and the raw bodies.
type otlpReceiver struct {
	mu     sync.Mutex
	spans  []*tracepb.Span
	res    []*commonpb.KeyValue // of the last resource seen
	bodies [][]byte
	srv    *httptest.Server
}

func startReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
			http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
			return
		}
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		for _, rs := range req.ResourceSpans {
			rc.res = rs.GetResource().GetAttributes()
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// upstreamCall is a request the provider received.
type upstreamCall struct{ path, traceparent string }

// tracedTenant has the knowledge base on, a chat and an embedding model on
// the mock upstream at url, a rate limit, and one tool.
func tracedTenant(url string) string {
	return fmt.Sprintf(`{
  "id": "acme", "name": "Acme",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat", "search", "documents:read", "documents:write", "tools"], "dev": true}],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY", "timeout": "5s"}},
  "models": {"chat": {"model": "mock/gpt-test"}, "embedding": {"model": "mock/embed-test"}, "retries": 1},
  "limits": {"rate": {"tenant": {"requests": 1000, "per": "1m"}}},
  "rag": {"enabled": true, "chunkTokens": 64, "overlapTokens": 8, "topK": 4, "maxTopK": 10},
  "tools": {"enabled": ["classify_intent"], "intents": ["travel", "other"]},
}`, acmeDevHash, url)
}

const (
	tracedQuestion = "How much are hotel costs refunded per night in Reykjavik?"
	tracedReply    = "Hotel costs are refunded up to 180 euros per night [1]."
)

// TestTraceOfAChatTurn exports the spans of a chat turn (retrieval, a tool
// call, the model) to an OTLP/HTTP receiver and finds them in one trace:
// the caller's, with the tenant on every span, the GenAI attributes on the
// model calls, and the traceparent of each provider request naming the
// attempt that made it. No span holds the question, the answer or the
// document.
func TestTraceOfAChatTurn(t *testing.T) {
	rc := startReceiver(t)

	// The provider: a mock model behind a recorder of traceparents. The
	// model calls the tool first, then answers.
	var mu sync.Mutex
	var calls []upstreamCall
	mock := mockupstream.New(mockupstream.Config{
		APIKey: "mock-secret",
		Reply:  tracedReply,
		Decide: func(body []byte) (mockupstream.Step, bool) {
			if bytes.Contains(body, []byte(`"role":"tool"`)) {
				return mockupstream.Step{}, false
			}
			return mockupstream.Step{ToolCalls: []mockupstream.ToolCall{{ID: "call_1", Name: "classify_intent", Arguments: `{"text":"hotel"}`}}}, true
		},
	})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, upstreamCall{r.URL.Path, r.Header.Get("traceparent")})
		mu.Unlock()
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { mock.Close(); upstream.Close() })

	dir := t.TempDir()
	writeTenant(t, dir, "acme", tracedTenant(upstream.URL+"/v1"))
	env := map[string]string{
		"MOCK_KEY":                    "mock-secret",
		"OTEL_EXPORTER_OTLP_ENDPOINT": rc.srv.URL,
		"OTEL_SERVICE_NAME":           "crispy-test",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	a, err := app.New(t.Context(), testConfig(t, dir), app.Deps{LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	s := serveApp(t, a)
	t.Cleanup(func() { s.stop(t) })

	doc := "# Travel handbook\n\n## Hotels\n\nHotel costs are refunded up to 180 euros per night in Reykjavik and Oslo."
	if status, env := call(t, s, "acme", "POST", "/documents", "application/json", `{"id":"handbook","title":"Travel handbook","markdown":`+quote(doc)+`}`); status/100 != 2 {
		t.Fatalf("add document: %d %+v", status, env.Error)
	}
	mu.Lock()
	calls = nil // the document's embedding call is another trace
	mu.Unlock()

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	res := do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_acme", `{"message":`+quote(tracedQuestion)+`}`,
		"traceparent", "00-"+traceID+"-"+parentID+"-01")
	evs, _ := events(t, res.Body)
	res.Body.Close()
	var out api.ChatResult
	if last := evs[len(evs)-1]; last.Event != "done" || json.Unmarshal(last.Data, &out) != nil {
		t.Fatalf("last event %s %s", last.Event, last.Data)
	}
	s.stop(t) // flushes the spans

	rc.mu.Lock()
	defer rc.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()

	// One trace, the caller's, holds the turn.
	var spans []*tracepb.Span
	byID := map[string]*tracepb.Span{}
	for _, sp := range rc.spans {
		if hex.EncodeToString(sp.TraceId) == traceID {
			spans = append(spans, sp)
			byID[hex.EncodeToString(sp.SpanId)] = sp
		}
	}
	named := func(name string) []*tracepb.Span {
		var out []*tracepb.Span
		for _, sp := range spans {
			if sp.Name == name {
				out = append(out, sp)
			}
		}
		return out
	}
	one := func(name string) *tracepb.Span {
		t.Helper()
		got := named(name)
		if len(got) != 1 {
			var names []string
			for _, sp := range spans {
				names = append(names, sp.Name)
			}
			t.Fatalf("%d spans named %q in the trace, want 1; spans: %q", len(got), name, names)
		}
		return got[0]
	}
	parentOf := func(sp *tracepb.Span) *tracepb.Span { return byID[hex.EncodeToString(sp.ParentSpanId)] }

	root := one("POST /chat")
	if hex.EncodeToString(root.ParentSpanId) != parentID || root.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("request span: parent %x kind %v, want the caller's span %s, server", root.ParentSpanId, root.Kind, parentID)
	}
	wantAttrs(t, root, map[string]string{"http.route": "POST /chat", "http.request.method": "POST", "http.response.status_code": "200"})
	for _, name := range []string{"tenant.resolve", "tenant.admission", "rag.retrieve", "execute_tool classify_intent"} {
		if p := parentOf(one(name)); p != root {
			t.Errorf("span %q is not a child of the request's", name)
		}
	}
	wantAttrs(t, one("tenant.admission"), map[string]string{"crispy.result": "admitted"})
	retrieve := one("rag.retrieve")
	wantAttrs(t, retrieve, map[string]string{"crispy.rag.mode": "hybrid", "gen_ai.operation.name": "retrieval"})
	for _, stage := range []string{"bm25", "feedback", "embed", "vector", "fuse"} {
		if p := parentOf(one("rag." + stage)); p != retrieve {
			t.Errorf("span rag.%s is not a child of rag.retrieve", stage)
		}
	}
	embed := one("embeddings embed-test")
	if parentOf(embed) != one("rag.embed") {
		t.Error("the embeddings call is not a child of rag.embed")
	}
	wantAttrs(t, embed, map[string]string{
		"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "embed-test", "gen_ai.response.model": "embed-test",
		"gen_ai.provider.name": "openai", "crispy.gateway.attempts": "1",
	})
	if !positive(embed, "gen_ai.usage.input_tokens") {
		t.Error("embeddings span without input tokens")
	}

	// The model is called twice (the tool call, then the answer), each
	// call with one attempt under it.
	modelCalls := named("chat gpt-test")
	if len(modelCalls) != 2 {
		t.Fatalf("%d chat calls in the trace, want 2 (tool call, answer)", len(modelCalls))
	}
	for _, c := range modelCalls {
		if parentOf(c) != root || c.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("chat call %x: not a client span under the request's", c.SpanId)
		}
		wantAttrs(t, c, map[string]string{
			"gen_ai.request.model": "gpt-test", "gen_ai.response.model": "gpt-test", "gen_ai.provider.name": "openai",
			"gen_ai.system": "openai", "crispy.provider": "mock", "crispy.route": "chat", "crispy.gateway.fallback": "false",
		})
		if !positive(c, "gen_ai.usage.input_tokens") || !positive(c, "gen_ai.usage.output_tokens") {
			t.Errorf("chat span %x without token usage: %v", c.SpanId, c.Attributes)
		}
	}
	tool := one("execute_tool classify_intent")
	wantAttrs(t, tool, map[string]string{"gen_ai.tool.name": "classify_intent", "crispy.tool.outcome": "ok", "crispy.tool.from_model": "true"})

	// Every attempt is under its call, and every provider request carries
	// the traceparent of its attempt, in this trace.
	attempts := named("gateway.attempt")
	if len(attempts) != 3 {
		t.Fatalf("%d attempts, want 3 (one embedding, two chat)", len(attempts))
	}
	attemptIDs := map[string]bool{}
	for _, at := range attempts {
		p := parentOf(at)
		if p == nil || attr(p, "gen_ai.operation.name") != attr(at, "gen_ai.operation.name") {
			t.Errorf("attempt %x is not under its call", at.SpanId)
		}
		wantAttrs(t, at, map[string]string{
			"crispy.gateway.attempt": "1", "crispy.gateway.retry": "0", "crispy.gateway.fallback": "false",
			"crispy.gateway.breaker_state": "closed", "crispy.provider": "mock", "gen_ai.provider.name": "openai",
		})
		attemptIDs[hex.EncodeToString(at.SpanId)] = true
	}
	if len(calls) != 3 {
		t.Fatalf("the provider got %d requests, want 3: %+v", len(calls), calls)
	}
	for _, c := range calls {
		parts := strings.Split(c.traceparent, "-")
		if len(parts) != 4 || parts[1] != traceID || !attemptIDs[parts[2]] {
			t.Errorf("%s: traceparent %q does not name an attempt of trace %s", c.path, c.traceparent, traceID)
		}
	}

	// Every span carries the tenant; the resource names the service.
	for _, sp := range spans {
		if got := attr(sp, "crispy.tenant"); got != "acme" {
			t.Errorf("span %q: crispy.tenant = %q", sp.Name, got)
		}
	}
	resAttrs := map[string]string{}
	for _, kv := range rc.res {
		resAttrs[kv.Key] = kv.Value.GetStringValue()
	}
	if resAttrs["service.name"] != "crispy-test" {
		t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's", resAttrs["service.name"])
	}

	// No content: not the question, the answer, the document, nor the
	// tool's arguments, anywhere in what was exported.
	for _, b := range rc.bodies {
		for _, secret := range []string{tracedQuestion, "Reykjavik", tracedReply, "180 euros", `{"text":"hotel"}`} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("an export holds %q", secret)
			}
		}
	}
}

// attr returns a span attribute as text ("" when absent).
func attr(sp *tracepb.Span, key string) string {
	for _, kv := range sp.Attributes {
		if kv.Key != key {
			continue
		}
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			return v.StringValue
		case *commonpb.AnyValue_IntValue:
			return fmt.Sprint(v.IntValue)
		case *commonpb.AnyValue_BoolValue:
			return fmt.Sprint(v.BoolValue)
		case *commonpb.AnyValue_DoubleValue:
			return fmt.Sprint(v.DoubleValue)
		default:
			return kv.Value.String()
		}
	}
	return ""
}

func positive(sp *tracepb.Span, key string) bool {
	for _, kv := range sp.Attributes {
		if kv.Key == key {
			return kv.Value.GetIntValue() > 0
		}
	}
	return false
}

func wantAttrs(t *testing.T, sp *tracepb.Span, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := attr(sp, k); got != v {
			t.Errorf("span %q: %s = %q, want %q", sp.Name, k, got, v)
		}
	}
}
