package workersai_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/workersai"
)

var helloStream = []string{
	`{"response":"Hel"}`,
	`{"response":"lo","p":"abdefgh"}`,
	`{"response":"","usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}`,
	`[DONE]`,
}

func TestChatURL(t *testing.T) {
	tests := []struct {
		name    string
		gateway bool
		model   string
		want    string
	}{
		{"direct", false, chatModel, "/client/v4/accounts/" + accountID + "/ai/run/@cf/meta/llama-3.1-8b-instruct"},
		{"direct hf model", false, "@hf/thebloke/deepseek-coder-6.7b-instruct-awq", "/client/v4/accounts/" + accountID + "/ai/run/@hf/thebloke/deepseek-coder-6.7b-instruct-awq"},
		{"gateway", true, chatModel, "/v1/" + accountID + "/" + gatewayID + "/workers-ai/@cf/meta/llama-3.1-8b-instruct"},
		{"gateway fine-tune name", true, "@cf/mistral/mistral-7b-instruct-v0.2-lora", "/v1/" + accountID + "/" + gatewayID + "/workers-ai/@cf/mistral/mistral-7b-instruct-v0.2-lora"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, sse(nil, helloStream...))
			cfg := f.directConfig()
			if tt.gateway {
				cfg = f.gatewayConfig()
			}
			req := chatReq()
			req.Model = tt.model
			st, err := newClient(t, cfg).Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			got := f.last()
			if got.Method != http.MethodPost {
				t.Errorf("method = %s, want POST", got.Method)
			}
			if got.RequestURI != tt.want || got.EscapedPath != tt.want {
				t.Errorf("request URI = %q (escaped path %q), want %q", got.RequestURI, got.EscapedPath, tt.want)
			}
		})
	}
}

func TestChatRefusesUnsafeModels(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	c := newClient(t, f.directConfig())
	for _, model := range []string{"", "../../tokens/verify", "@cf/../../../user/tokens", "@cf//meta", "@cf/meta/", "@cf/meta/a b", "@cf/meta/x%2f..", "@cf/meta/x?y", "@cf/meta/x#y", "@cf/meta/\x00"} {
		t.Run(strconv.Quote(model), func(t *testing.T) {
			req := chatReq()
			req.Model = model
			_, err := c.Chat(context.Background(), req)
			asProviderError(t, err, provider.KindBadRequest)
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("the fake got %d requests for unsafe models, want none", n)
	}
}

func TestChatHeadersDirect(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	cfg := f.directConfig()
	cfg.Headers = map[string]string{"X-Team": "search"}
	st, err := newClient(t, cfg).Chat(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	h := f.last().Header
	for name, want := range map[string]string{
		"Authorization": "Bearer " + apiToken,
		"Content-Type":  "application/json",
		"Accept":        "text/event-stream",
		"X-Team":        "search",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "cf-aig-") {
			t.Errorf("direct call sent gateway header %s: %q", name, h.Get(name))
		}
	}
}

func TestChatHeadersGateway(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	cfg := f.gatewayConfig()
	cfg.Timeout = 30 * time.Second
	cfg.Gateway.CacheTTL = time.Hour
	cfg.Gateway.SkipCache = true
	st, err := newClient(t, cfg).Chat(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	h := f.last().Header
	for name, want := range map[string]string{
		"Authorization":          "Bearer " + apiToken,
		"cf-aig-authorization":   "Bearer " + gatewayToken,
		"cf-aig-cache-ttl":       "3600",
		"cf-aig-skip-cache":      "true",
		"cf-aig-request-timeout": "30000",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte(h.Get("cf-aig-metadata")), &meta); err != nil {
		t.Fatalf("cf-aig-metadata %q is not JSON: %v", h.Get("cf-aig-metadata"), err)
	}
	want := map[string]any{"tenant": "acme", "route": "chat", "requestId": "req-1"}
	if len(meta) != len(want) {
		t.Errorf("metadata = %v, want %v", meta, want)
	}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("metadata[%s] = %v, want %v", k, meta[k], v)
		}
	}
}

func TestChatGatewayOptionalHeaders(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	cfg := f.gatewayConfig()
	cfg.Gateway.Token = "" // an unauthenticated gateway
	c := newClient(t, cfg)

	req := chatReq()
	req.Meta = provider.Meta{}
	st, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	h := f.last().Header
	for _, name := range []string{"cf-aig-authorization", "cf-aig-metadata", "cf-aig-cache-ttl", "cf-aig-skip-cache"} {
		if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("%s sent (%q) though not configured", name, v)
		}
	}
	if got := h.Get("cf-aig-request-timeout"); got != "60000" {
		t.Errorf("cf-aig-request-timeout = %q, want the default 60000", got)
	}

	// Partial, non-ASCII metadata stays an ASCII header that decodes back.
	req.Meta = provider.Meta{Tenant: "café-☕-𝄞", RequestID: "r\"2\n"}
	ctx := ctxTimeout(t, 5*time.Second)
	st, err = c.Chat(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	h = f.last().Header
	v := h.Get("cf-aig-metadata")
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			t.Fatalf("cf-aig-metadata %q is not printable ASCII", v)
		}
	}
	var meta map[string]string
	if err := json.Unmarshal([]byte(v), &meta); err != nil {
		t.Fatal(err)
	}
	if len(meta) != 2 || meta["tenant"] != req.Meta.Tenant || meta["requestId"] != req.Meta.RequestID {
		t.Errorf("metadata = %q, want tenant and requestId only, intact", meta)
	}
	// The caller's nearer deadline bounds cf-aig-request-timeout.
	ms, err := strconv.Atoi(h.Get("cf-aig-request-timeout"))
	if err != nil || ms <= 0 || ms > 5000 {
		t.Errorf("cf-aig-request-timeout = %q, want at most the 5s left before the deadline", h.Get("cf-aig-request-timeout"))
	}
}

func TestChatBody(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	temp, topP := 0.2, 0.9
	req := &provider.ChatRequest{
		Model: chatModel,
		Messages: []provider.Message{
			{Role: provider.RoleSystem, Content: "You are terse."},
			{Role: provider.RoleUser, Content: "Weather in Paris?"},
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "weather", Arguments: `{"city":"Paris"}`}}},
			{Role: provider.RoleTool, ToolCallID: "call_1", Name: "weather", Content: `{"c":21}`},
		},
		Passages:    []provider.Passage{{N: 1, Title: "Paris", Text: "Paris is in France."}, {N: 2, Text: "It is sunny."}},
		Tools:       []provider.Tool{{Name: "weather", Description: "Current weather", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string","description":"City"}},"required":["city"]}`)}, {Name: "now"}},
		MaxTokens:   300,
		Temperature: &temp,
		TopP:        &topP,
		Stop:        []string{"\n\n"},
	}
	st, err := newClient(t, f.directConfig()).Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var body map[string]any
	if err := json.Unmarshal(f.last().Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["stream"] != true || body["max_tokens"] != 300.0 || body["temperature"] != 0.2 || body["top_p"] != 0.9 {
		t.Errorf("stream/max_tokens/temperature/top_p = %v/%v/%v/%v", body["stream"], body["max_tokens"], body["temperature"], body["top_p"])
	}
	if _, ok := body["stop"]; ok {
		t.Error(`"stop" sent; the run schema has no such input`)
	}
	msgs := body["messages"].([]any)
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4 (passages merged into the system prompt)", len(msgs))
	}
	sys := msgs[0].(map[string]any)
	if sys["role"] != "system" || !strings.HasPrefix(sys["content"].(string), "You are terse.") ||
		!strings.Contains(sys["content"].(string), "[1] Paris\nParis is in France.") || !strings.Contains(sys["content"].(string), "[2]\nIt is sunny.") {
		t.Errorf("system message = %q", sys["content"])
	}
	asst := msgs[2].(map[string]any)
	if asst["content"] != "" {
		t.Errorf("assistant content = %v, want an empty string (never null)", asst["content"])
	}
	tc := asst["tool_calls"].([]any)[0].(map[string]any)
	fn := tc["function"].(map[string]any)
	if tc["id"] != "call_1" || tc["type"] != "function" || fn["name"] != "weather" || fn["arguments"] != `{"city":"Paris"}` {
		t.Errorf("assistant tool call = %v", tc)
	}
	tool := msgs[3].(map[string]any)
	if tool["role"] != "tool" || tool["tool_call_id"] != "call_1" || tool["name"] != "weather" {
		t.Errorf("tool message = %v", tool)
	}
	tools := body["tools"].([]any)
	if len(tools) != 2 {
		t.Fatalf("%d tools, want 2", len(tools))
	}
	t0 := tools[0].(map[string]any)
	if t0["type"] != "function" || t0["function"].(map[string]any)["name"] != "weather" ||
		t0["function"].(map[string]any)["parameters"].(map[string]any)["required"].([]any)[0] != "city" {
		t.Errorf("tool 0 = %v", t0)
	}
	if p := tools[1].(map[string]any)["function"].(map[string]any)["parameters"].(map[string]any); p["type"] != "object" {
		t.Errorf("tool without parameters got %v, want an empty object schema", p)
	}
}

func TestChatPassagesWithoutSystemMessage(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	req := chatReq()
	req.Passages = []provider.Passage{{N: 1, Text: "x"}}
	st, err := newClient(t, f.directConfig()).Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var body struct {
		Messages []struct{ Role, Content string }
	}
	json.Unmarshal(f.last().Body, &body)
	if len(body.Messages) != 2 || body.Messages[0].Role != "system" || !strings.Contains(body.Messages[0].Content, "[1]\nx") {
		t.Errorf("messages = %+v, want a system message with the passage first", body.Messages)
	}
}

func TestChatBadRequests(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	c := newClient(t, f.directConfig())
	for name, req := range map[string]*provider.ChatRequest{
		"nil":             nil,
		"no messages":     {Model: chatModel},
		"negative max":    {Model: chatModel, Messages: chatReq().Messages, MaxTokens: -1},
		"tool no name":    {Model: chatModel, Messages: chatReq().Messages, Tools: []provider.Tool{{}}},
		"tool bad schema": {Model: chatModel, Messages: chatReq().Messages, Tools: []provider.Tool{{Name: "t", Parameters: []byte("{")}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Chat(context.Background(), req)
			asProviderError(t, err, provider.KindBadRequest)
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for bad input, want none", n)
	}
}

func TestChatStream(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		text   string
		finish string
		usage  *provider.Usage
		tools  []provider.ToolCall
	}{
		{
			name:   "native tokens and late usage",
			events: helloStream,
			text:   "Hello", finish: "stop", usage: &provider.Usage{PromptTokens: 12, CompletionTokens: 2},
		},
		{
			name:   "no usage reported",
			events: []string{`{"response":"Hi"}`, `[DONE]`},
			text:   "Hi", finish: "stop",
		},
		{
			name:   "only DONE",
			events: []string{`[DONE]`},
			finish: "stop",
		},
		{
			// Newer models on /ai/run: OpenAI-shaped chunks with incremental
			// usage, then a cumulative native usage chunk that wins.
			name: "openai-shaped chunks with native total",
			events: []string{
				`{"choices":[{"delta":{"content":"","reasoning_content":null,"role":"assistant"},"finish_reason":null,"index":0}],"object":"chat.completion.chunk","usage":{"prompt_tokens":147,"completion_tokens":0,"total_tokens":147}}`,
				`{"choices":[{"delta":{"reasoning_content":"thinking..."},"finish_reason":null,"index":0}],"usage":{"prompt_tokens":0,"completion_tokens":1,"total_tokens":1}}`,
				`{"choices":[{"delta":{"content":"Bon"},"finish_reason":null,"index":0}],"usage":{"prompt_tokens":0,"completion_tokens":1,"total_tokens":1}}`,
				`{"choices":[{"delta":{"content":"jour"},"finish_reason":null,"index":0}],"usage":{"prompt_tokens":0,"completion_tokens":1,"total_tokens":1}}`,
				`{"choices":[{"delta":{"reasoning_content":null},"finish_reason":"stop","index":0}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`,
				`{"choices":[],"usage":{"prompt_tokens":0,"completion_tokens":1,"total_tokens":1}}`,
				`{"response":"","usage":{"prompt_tokens":147,"completion_tokens":16,"total_tokens":163,"prompt_tokens_details":{"cached_tokens":0},"neurons":1.77}}`,
				`[DONE]`,
			},
			text: "Bonjour", finish: "stop", usage: &provider.Usage{PromptTokens: 147, CompletionTokens: 16},
		},
		{
			name: "openai-shaped increments only, length",
			events: []string{
				`{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}`,
				`{"choices":[{"delta":{"content":"b"},"finish_reason":"length"}],"usage":{"prompt_tokens":0,"completion_tokens":1}}`,
				`[DONE]`,
			},
			text: "ab", finish: "length", usage: &provider.Usage{PromptTokens: 5, CompletionTokens: 2},
		},
		{
			name: "native whole tool call",
			events: []string{
				`{"response":"","tool_calls":[]}`,
				`{"response":"","tool_calls":[{"name":"weather","arguments":{"city":"Paris"}}]}`,
				`{"response":"","usage":{"prompt_tokens":30,"completion_tokens":9}}`,
				`[DONE]`,
			},
			finish: "tool_calls", usage: &provider.Usage{PromptTokens: 30, CompletionTokens: 9},
			tools: []provider.ToolCall{{ID: "call_0", Name: "weather", Arguments: `{"city":"Paris"}`}},
		},
		{
			name: "tool calls in pieces by index, with a null sentinel",
			events: []string{
				`{"response":"Let me check. ","tool_calls":[{"id":"chatcmpl-tool-1","type":"function","index":0,"function":{"name":"weather"}}]}`,
				`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`,
				`{"tool_calls":[{"index":1,"id":"chatcmpl-tool-2","function":{"name":"time","arguments":"{}"}}]}`,
				`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`,
				`{"tool_calls":[{"id":null,"type":null,"function":{"name":null,"arguments":null}}]}`,
				`{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}`,
				`[DONE]`,
			},
			text: "Let me check. ", finish: "tool_calls",
			tools: []provider.ToolCall{
				{ID: "chatcmpl-tool-1", Name: "weather", Arguments: `{"city":"Paris"}`},
				{ID: "chatcmpl-tool-2", Name: "time", Arguments: `{}`},
			},
		},
		{
			name: "openai delta tool calls",
			events: []string{
				`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"search","arguments":"{\"q\":\"go\"}"}}]}}]}`,
				`[DONE]`,
			},
			finish: "tool_calls",
			tools:  []provider.ToolCall{{ID: "t1", Name: "search", Arguments: `{"q":"go"}`}},
		},
		{
			name:   "structured response object and comments",
			events: []string{`{"response":{"answer":42}}`, `[DONE]`},
			text:   `{"answer":42}`, finish: "stop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, sse(nil, tt.events...))
			st, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ds, err := drain(t, st)
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want io.EOF", err)
			}
			if got := text(ds); got != tt.text {
				t.Errorf("text = %q, want %q", got, tt.text)
			}
			for i, d := range ds[:len(ds)-1] {
				if d.Text == "" || d.FinishReason != "" || d.Usage != nil || d.ToolCalls != nil {
					t.Errorf("delta %d = %+v, want text only", i, d)
				}
			}
			final := ds[len(ds)-1]
			if final.FinishReason != tt.finish {
				t.Errorf("finish = %q, want %q", final.FinishReason, tt.finish)
			}
			if (final.Usage == nil) != (tt.usage == nil) || final.Usage != nil && *final.Usage != *tt.usage {
				t.Errorf("usage = %+v, want %+v", final.Usage, tt.usage)
			}
			if len(final.ToolCalls) != len(tt.tools) {
				t.Fatalf("tool calls = %+v, want %+v", final.ToolCalls, tt.tools)
			}
			for i := range tt.tools {
				if final.ToolCalls[i] != tt.tools[i] {
					t.Errorf("tool call %d = %+v, want %+v", i, final.ToolCalls[i], tt.tools[i])
				}
			}
			if _, err := st.Recv(); err != io.EOF {
				t.Errorf("Recv after the end = %v, want io.EOF again", err)
			}
		})
	}
}

func TestChatStreamSSEFraming(t *testing.T) {
	// CRLF line ends, comments, an event name, and a payload split over
	// two data lines all come through the shared SSE reader.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, ": keep-alive\r\n\r\ndata: {\"response\":\r\ndata: \"A\"}\r\n\r\nevent: message\r\ndata: {\"response\":\"B\"}\r\n\r\ndata: [DONE]\r\n\r\n")
	})
	st, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, err := drain(t, st)
	if err != io.EOF || text(ds) != "AB" {
		t.Fatalf("text %q, end %v; want AB and io.EOF", text(ds), err)
	}
}

func TestChatStreamFailures(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind provider.Kind
		text string
	}{
		{"cut before DONE", "data: {\"response\":\"Hel\"}\n\n", provider.KindConnection, "Hel"},
		{"cut mid-event", "data: {\"response\":\"Hel\"}\n\ndata: {\"respo", provider.KindConnection, "Hel"},
		{"empty body", "", provider.KindConnection, ""},
		{"DONE without its blank line", "data: {\"response\":\"a\"}\n\ndata: [DONE]", provider.KindConnection, "a"},
		{"malformed JSON", "data: {\"response\":\"a\"}\n\ndata: {\"response\": nope}\n\ndata: [DONE]\n\n", provider.KindProtocol, "a"},
		{"not an object", "data: \"just a string\"\n\ndata: [DONE]\n\n", provider.KindProtocol, ""},
		{"plain text line", "data: hello\n\n", provider.KindProtocol, ""},
		{"error chunk with code", "data: {\"response\":\"a\"}\n\ndata: {\"errors\":[{\"code\":3040,\"message\":\"Capacity temporarily exceeded\"}]}\n\n", provider.KindOverloaded, "a"},
		{"error event", "event: error\ndata: {\"error\":\"model crashed\"}\n\n", provider.KindUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, raw(http.StatusOK, "text/event-stream", nil, tt.body))
			st, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ds, err := drain(t, st)
			if got := text(ds); got != tt.text {
				t.Errorf("text before the failure = %q, want %q", got, tt.text)
			}
			pe := asProviderError(t, err, tt.kind)
			if pe.Provider != workersai.DefaultName {
				t.Errorf("provider = %q, want %q", pe.Provider, workersai.DefaultName)
			}
			if _, err2 := st.Recv(); err2 != err {
				t.Errorf("Recv after a failure = %v, want the same %v", err2, err)
			}
		})
	}
}

func TestChatJSONAnswer(t *testing.T) {
	t.Run("response as one delta", func(t *testing.T) {
		body := envelopeOK(map[string]any{"response": "Hello, World first appeared in 1974.", "usage": map[string]any{"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}})
		f := newFake(t, raw(http.StatusOK, "application/json", nil, body))
		st, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ds, err := drain(t, st)
		if err != io.EOF || len(ds) != 1 {
			t.Fatalf("%d deltas ending in %v, want 1 and io.EOF", len(ds), err)
		}
		d := ds[0]
		if d.Text != "Hello, World first appeared in 1974." || d.FinishReason != "stop" || d.Usage == nil || *d.Usage != (provider.Usage{PromptTokens: 20, CompletionTokens: 9}) {
			t.Errorf("delta = %+v (usage %+v)", d, d.Usage)
		}
	})
	t.Run("tool calls", func(t *testing.T) {
		body := envelopeOK(map[string]any{"response": nil, "tool_calls": []any{map[string]any{"name": "weather", "arguments": map[string]any{"city": "Oslo"}}}})
		f := newFake(t, raw(http.StatusOK, "application/json; charset=utf-8", nil, body))
		st, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
		if err != nil {
			t.Fatal(err)
		}
		ds, _ := drain(t, st)
		if len(ds) != 1 || ds[0].FinishReason != "tool_calls" || len(ds[0].ToolCalls) != 1 || ds[0].ToolCalls[0].Arguments != `{"city":"Oslo"}` {
			t.Errorf("deltas = %+v", ds)
		}
	})
	t.Run("empty result", func(t *testing.T) {
		f := newFake(t, raw(http.StatusOK, "application/json", nil, envelopeOK(map[string]any{})))
		st, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
		if err != nil {
			t.Fatal(err)
		}
		ds, err := drain(t, st)
		if err != io.EOF || len(ds) != 1 || ds[0].Text != "" || ds[0].FinishReason != "stop" {
			t.Errorf("deltas = %+v, end %v", ds, err)
		}
	})
	t.Run("success false with status 200", func(t *testing.T) {
		f := newFake(t, raw(http.StatusOK, "application/json", nil, envelopeErr(3040, "Capacity temporarily exceeded, please try again.")))
		_, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
		pe := asProviderError(t, err, provider.KindOverloaded)
		if pe.Status != http.StatusOK || !strings.Contains(pe.Message, "3040") {
			t.Errorf("error = %+v", pe)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		f := newFake(t, raw(http.StatusOK, "application/json", nil, `{"result":`))
		_, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
		asProviderError(t, err, provider.KindProtocol)
	})
}

func TestChatCacheStatus(t *testing.T) {
	type cacheReporter interface {
		CacheHit() bool
		CacheStatus() string
		LogID() string
	}
	for _, tt := range []struct {
		status string
		hit    bool
	}{{"HIT", true}, {"MISS", false}, {"", false}} {
		t.Run(tt.status, func(t *testing.T) {
			h := http.Header{}
			if tt.status != "" {
				h.Set("cf-aig-cache-status", tt.status)
				h.Set("cf-aig-log-id", "01JLOG")
			}
			f := newFake(t, sse(h, helloStream...))
			st, err := newClient(t, f.gatewayConfig()).Chat(context.Background(), chatReq())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			cr, ok := st.(cacheReporter)
			if !ok {
				t.Fatalf("%T does not report the cache status", st)
			}
			if cr.CacheHit() != tt.hit || cr.CacheStatus() != tt.status {
				t.Errorf("CacheHit, CacheStatus = %v, %q; want %v, %q", cr.CacheHit(), cr.CacheStatus(), tt.hit, tt.status)
			}
			if tt.status != "" && cr.LogID() != "01JLOG" {
				t.Errorf("LogID = %q", cr.LogID())
			}
		})
	}
}
