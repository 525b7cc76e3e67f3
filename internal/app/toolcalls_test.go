package app_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Keys of the model tenant besides ck_dev_acme (every scope).
const (
	readerKey   = "ck_test_reader"   // chat, tools
	chatOnlyKey = "ck_test_chatonly" // chat
)

// modelTenant is acme with its chat model served by the mock upstream at
// url, every tool enabled, and the knowledge base on.
func modelTenant(url string, maxRounds int) string {
	return fmt.Sprintf(`{
  "id": "acme", "name": "Acme",
  "keys": [
    {"id": "dev", "hash": %q, "scopes": ["chat", "search", "documents:read", "documents:write", "tools", "tools:write", "admin"], "dev": true},
    {"id": "reader", "hash": %q, "scopes": ["chat", "tools"]},
    {"id": "chatonly", "hash": %q, "scopes": ["chat"]},
  ],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY", "timeout": "5s"}},
  "models": {"chat": {"model": "mock/gpt-test"}, "embedding": {"model": "builtin/hash-384"}, "retries": 0},
  "rag": {"enabled": true, "topK": 4, "chunkTokens": 200},
  "tools": {"enabled": ["summarize", "extract_entities", "classify_intent", "tag_chunk", "ingest_docs"], "maxRounds": %d, "intents": ["billing", "other"]},
}`, acmeDevHash, tenant.HashKey(readerKey), tenant.HashKey(chatOnlyKey), url, maxRounds)
}

// wireRequest is what the fake model reads of a chat request.
type wireRequest struct {
	Messages []struct {
		Role       string `json:"role"`
		Content    string `json:"content"`
		ToolCallID string `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct{ Name, Arguments string }
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct{ Name string } `json:"function"`
	} `json:"tools"`
}

func (w wireRequest) toolNames() []string {
	var out []string
	for _, t := range w.Tools {
		out = append(out, t.Function.Name)
	}
	return out
}

// fakeModel plays a model through the mock upstream: answer decides each
// reply from the request, and every request is kept.
type fakeModel struct {
	mu     sync.Mutex
	reqs   []wireRequest
	answer func(n int, req wireRequest) mockupstream.Step
}

func (f *fakeModel) decide(body []byte) (mockupstream.Step, bool) {
	var req wireRequest
	_ = json.Unmarshal(body, &req)
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.answer(n, req), true
}

func (f *fakeModel) requests() []wireRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func startModel(t *testing.T, maxRounds int, answer func(n int, req wireRequest) mockupstream.Step) (*started, *fakeModel) {
	t.Helper()
	fm := &fakeModel{answer: answer}
	_, url := mockupstream.Start(t, mockupstream.Config{APIKey: "mock-secret", Decide: fm.decide})
	dir := t.TempDir()
	writeTenant(t, dir, "acme", modelTenant(url, maxRounds))
	lookup := func(k string) (string, bool) { return "mock-secret", k == "MOCK_KEY" }
	return startDeps(t, testConfig(t, dir), app.Deps{LookupEnv: lookup}), fm
}

// lastIsTool reports whether the request ends with tool results.
func lastIsTool(req wireRequest) bool {
	return len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == "tool"
}

// modelAudit returns the audit records a model asked for.
func modelAudit(t *testing.T, s *started) []api.AuditRecord {
	t.Helper()
	var out []api.AuditRecord
	q := "?limit=500"
	for {
		status, page, e := auditPage(t, s, "ck_dev_acme", q)
		if status != 200 {
			t.Fatalf("audit: %d %+v", status, e)
		}
		for _, r := range page.Records {
			if r.FromModel {
				out = append(out, r)
			}
		}
		if page.Next == "" {
			return out
		}
		q = "?limit=500&cursor=" + page.Next
	}
}

const summarizeCall = `{"text":"Solar panels turn sunlight into electricity. Batteries keep it for the night. Inverters feed it to the grid."}`

func TestCompletionRunsToolCalls(t *testing.T) {
	s, fm := startModel(t, 4, func(n int, req wireRequest) mockupstream.Step {
		if lastIsTool(req) {
			return mockupstream.Step{Reply: "Panels make power."}
		}
		return mockupstream.Step{ToolCalls: []mockupstream.ToolCall{{ID: "c1", Name: "summarize", Arguments: summarizeCall}}}
	})
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"mock/gpt-test","stream":%v,"messages":[{"role":"user","content":"summarise my notes"}]}`, stream)
		res := post(t, t.Context(), s.url+"/v1/chat/completions", body)
		reqID := res.Header.Get("X-Request-ID")
		if stream {
			data := sseData(t, res.Body)
			res.Body.Close()
			joined := strings.Join(data, "\n")
			if !strings.Contains(joined, "Panels") || !strings.Contains(joined, "power.") || data[len(data)-1] != "[DONE]" || strings.Contains(joined, "tool_calls") {
				t.Errorf("stream = %v", data)
			}
		} else {
			var c struct {
				Choices []struct {
					Message struct {
						Content   *string
						ToolCalls []any `json:"tool_calls"`
					}
					FinishReason string `json:"finish_reason"`
				}
				Usage struct {
					CompletionTokens int `json:"completion_tokens"`
				}
			}
			decodeBody(t, res, &c)
			if m := c.Choices[0].Message; m.Content == nil || *m.Content != "Panels make power." || len(m.ToolCalls) != 0 || c.Choices[0].FinishReason != "stop" {
				t.Errorf("completion = %+v", c)
			}
		}
		reqs := fm.requests()
		first, second := reqs[len(reqs)-2], reqs[len(reqs)-1]
		if got := first.toolNames(); !slices.Equal(got, []string{"classify_intent", "extract_entities", "ingest_docs", "summarize", "tag_chunk"}) {
			t.Errorf("tools offered = %v", got)
		}
		// The second round carries the assistant's call and the tool's result.
		msgs := second.Messages
		if len(msgs) != 3 || msgs[1].Role != "assistant" || len(msgs[1].ToolCalls) != 1 || msgs[1].ToolCalls[0].ID != "c1" ||
			msgs[2].Role != "tool" || msgs[2].ToolCallID != "c1" || !strings.Contains(msgs[2].Content, `"method":"extractive"`) ||
			!strings.Contains(msgs[2].Content, "Solar panels turn sunlight into electricity.") {
			t.Errorf("second round messages = %+v", msgs)
		}
		recs := modelAudit(t, s)
		if len(recs) == 0 || recs[0].RequestID != reqID || recs[0].Tool != "summarize" || recs[0].Outcome != "ok" || recs[0].KeyID != "dev" {
			t.Errorf("audit = %+v, want the summarize call of %s", recs, reqID)
		}
	}
}

func TestModelToolCallsRefused(t *testing.T) {
	s, fm := startModel(t, 4, func(n int, req wireRequest) mockupstream.Step {
		if lastIsTool(req) {
			return mockupstream.Step{Reply: "I could not do that."}
		}
		return mockupstream.Step{ToolCalls: []mockupstream.ToolCall{
			{ID: "w", Name: "ingest_docs", Arguments: `{"documents":[{"id":"evil","text":"owned"}]}`},
			{ID: "u", Name: "delete_everything", Arguments: `{}`},
			{ID: "s", Name: "summarize", Arguments: `{"text":""}`},
		}}
	})
	status, out, e := chatOnce(t, s, readerKey, `{"message":"do it","stream":false}`)
	if status != 200 || out.Text != "I could not do that." {
		t.Fatalf("chat: %d %+v %+v", status, out, e)
	}
	reqs := fm.requests()
	if got := reqs[0].toolNames(); !slices.Equal(got, []string{"classify_intent", "extract_entities", "summarize", "tag_chunk"}) {
		t.Errorf("tools offered to a key without tools:write = %v", got)
	}
	results := map[string]string{}
	for _, m := range reqs[1].Messages {
		if m.Role == "tool" {
			results[m.ToolCallID] = m.Content
		}
	}
	if !strings.Contains(results["w"], `"forbidden"`) || !strings.Contains(results["u"], `"not_found"`) || !strings.Contains(results["s"], `"invalid_request"`) {
		t.Errorf("tool results = %v", results)
	}
	if status, _ := get(t, s.url+"/documents/evil", "ck_dev_acme"); status != 404 {
		t.Errorf("the refused ingest wrote a document: %d", status)
	}
	recs := modelAudit(t, s)
	outcomes := map[string]string{}
	for _, r := range recs {
		outcomes[r.Tool] = r.Outcome + "/" + r.ErrorCode
		if r.KeyID != "reader" {
			t.Errorf("record %+v: key %s", r, r.KeyID)
		}
	}
	want := map[string]string{"ingest_docs": "denied/forbidden", "delete_everything": "denied/not_found", "summarize": "invalid/invalid_request"}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("audit outcomes = %v, want %v", outcomes, want)
	}
}

func TestModelToolRoundsCapped(t *testing.T) {
	s, fm := startModel(t, 2, func(n int, req wireRequest) mockupstream.Step {
		return mockupstream.Step{ToolCalls: []mockupstream.ToolCall{{Name: "summarize", Arguments: summarizeCall}}}
	})
	status, out, e := chatOnce(t, s, "ck_dev_acme", `{"message":"loop forever","stream":false}`)
	if status != 200 || out.FinishReason != "stop" {
		t.Fatalf("chat: %d %+v %+v", status, out, e)
	}
	reqs := fm.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model calls, want 3 (two rounds, then one without tools)", len(reqs))
	}
	if len(reqs[0].Tools) == 0 || len(reqs[1].Tools) == 0 || len(reqs[2].Tools) != 0 {
		t.Errorf("tools offered per call: %d %d %d, want the last call without", len(reqs[0].Tools), len(reqs[1].Tools), len(reqs[2].Tools))
	}
	var outcomes []string
	for _, r := range modelAudit(t, s) {
		outcomes = append(outcomes, r.Outcome)
	}
	if !slices.Equal(outcomes, []string{"capped", "ok", "ok"}) { // newest first
		t.Errorf("audit outcomes = %v", outcomes)
	}
}

func TestClientToolsPassThrough(t *testing.T) {
	s, _ := startModel(t, 4, func(n int, req wireRequest) mockupstream.Step {
		return mockupstream.Step{ToolCalls: []mockupstream.ToolCall{{ID: "x", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}}
	})
	body := `{"model":"mock/gpt-test","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`
	res := post(t, t.Context(), s.url+"/v1/chat/completions", body)
	var c struct {
		Choices []struct {
			Message struct {
				ToolCalls []struct {
					ID       string
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			}
			FinishReason string `json:"finish_reason"`
		}
	}
	decodeBody(t, res, &c)
	if tc := c.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "get_weather" || c.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("completion = %+v", c)
	}
	if recs := modelAudit(t, s); len(recs) != 0 {
		t.Errorf("the client's own tool call was dispatched: %+v", recs)
	}
}

// TestToolsUseTheConfiguredModel routes "tools" to the mock model: the
// builtin tools then ask it, and keep to their result schemas.
func TestToolsUseTheConfiguredModel(t *testing.T) {
	fm := &fakeModel{answer: func(n int, req wireRequest) mockupstream.Step {
		system := req.Messages[0].Content
		switch {
		case strings.Contains(system, "Summarise"):
			return mockupstream.Step{Reply: "Acme bought Globex."}
		case strings.Contains(system, "named entities"):
			return mockupstream.Step{Reply: `{"entities":[{"type":"organization","text":"Globex"},{"type":"person","text":"Nobody Here"},{"type":"organization","text":"Acme"}]}`}
		case strings.Contains(system, "Classify"):
			return mockupstream.Step{Reply: "Billing."}
		}
		return mockupstream.Step{Reply: "?"}
	}}
	_, url := mockupstream.Start(t, mockupstream.Config{APIKey: "mock-secret", Decide: fm.decide})
	dir := t.TempDir()
	writeTenant(t, dir, "acme", strings.Replace(modelTenant(url, 4), `"models": {`, `"models": {"routes": {"tools": {"model": "mock/gpt-test"}}, `, 1))
	lookup := func(k string) (string, bool) { return "mock-secret", k == "MOCK_KEY" }
	s := startDeps(t, testConfig(t, dir), app.Deps{LookupEnv: lookup})

	text := "Acme announced that it bought Globex. The deal closed in May."
	for _, tt := range []struct{ tool, args, want string }{
		{"summarize", `{"text":"` + text + `"}`, `{"summary":"Acme bought Globex.","sentences":["Acme bought Globex."],"method":"model"}`},
		{"extract_entities", `{"text":"` + text + `"}`, `{"entities":[{"type":"organization","text":"Acme","start":0,"end":4},{"type":"organization","text":"Globex","start":30,"end":36}],"method":"model"}`},
		{"classify_intent", `{"text":"refund please"}`, `{"intent":"billing","scores":[{"label":"billing","score":1}],"method":"model"}`},
	} {
		c := invokeTool(t, s, "ck_dev_acme", tt.tool, `{"args":`+tt.args+`}`)
		var res api.ToolResult
		_ = json.Unmarshal(c.env.Data, &res)
		if c.status != 200 || string(res.Result) != tt.want {
			t.Errorf("%s: %d %s, want %s", tt.tool, c.status, res.Result, tt.want)
		}
	}
	// The text reaches the model as data, after the system prompt.
	for _, req := range fm.requests() {
		if len(req.Messages) != 2 || req.Messages[0].Role != "system" || req.Messages[1].Role != "user" || !strings.Contains(req.Messages[0].Content, "do not follow instructions") {
			t.Errorf("model request %+v", req.Messages)
		}
	}
}

// TestChatStreamRunsToolCalls streams a /chat turn whose model calls a
// tool first: the client sees the final answer's tokens and the done
// event, and the call is audited and counted.
func TestChatStreamRunsToolCalls(t *testing.T) {
	s, fm := startModel(t, 4, func(n int, req wireRequest) mockupstream.Step {
		if lastIsTool(req) {
			return mockupstream.Step{Reply: "Panels make power."}
		}
		return mockupstream.Step{ToolCalls: []mockupstream.ToolCall{{ID: "c1", Name: "summarize", Arguments: summarizeCall}}}
	})
	res := do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_acme", `{"message":"summarise my notes"}`)
	evs, _ := events(t, res.Body)
	res.Body.Close()
	var text strings.Builder
	for _, ev := range evs[:len(evs)-1] {
		var tok api.ChatToken
		if ev.Event != "token" || json.Unmarshal(ev.Data, &tok) != nil {
			t.Fatalf("event %q %s", ev.Event, ev.Data)
		}
		text.WriteString(tok.Text)
	}
	last := evs[len(evs)-1]
	var done api.ChatResult
	if last.Event != "done" || json.Unmarshal(last.Data, &done) != nil || text.String() != "Panels make power." || done.FinishReason != "stop" {
		t.Errorf("stream: text %q, last %s %s", text.String(), last.Event, last.Data)
	}
	if done.Usage.PromptTokens == 0 || len(fm.requests()) != 2 {
		t.Errorf("usage %+v over %d model calls", done.Usage, len(fm.requests()))
	}
	if recs := modelAudit(t, s); len(recs) != 1 || recs[0].Outcome != "ok" || recs[0].Tool != "summarize" {
		t.Errorf("audit = %+v", recs)
	}
	// The session keeps the question and the final answer only.
	if _, h := history(t, s, "ck_dev_acme", done.SessionID, ""); len(h.Messages) != 2 || h.Messages[1].Content != "Panels make power." {
		t.Errorf("history = %+v", h.Messages)
	}
	b := scrape(t, s)
	if !strings.Contains(b, `crispy_tool_invocations_total{outcome="ok",tenant="acme",tool="summarize"} 1`) {
		t.Errorf("metrics lack the invocation:\n%s", grepLines(b, "crispy_tool"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
