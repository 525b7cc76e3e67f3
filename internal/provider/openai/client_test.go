package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/openai"
)

// start runs a mock with mcfg and returns a client of it; edit, if not
// nil, adjusts the client's config.
func start(t *testing.T, mcfg mockupstream.Config, edit func(*openai.Config)) (*openai.Client, *mockupstream.Server) {
	t.Helper()
	srv, base := mockupstream.Start(t, mcfg)
	cfg := openai.Config{Name: "mock", BaseURL: base, APIKey: mcfg.APIKey}
	if edit != nil {
		edit(&cfg)
	}
	c, err := openai.New(overTransport(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// withHeaders sets request headers on every call (the mock's X-Mock-*).
func withHeaders(kv ...string) func(*openai.Config) {
	return func(c *openai.Config) {
		c.Headers = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Headers[kv[i]] = kv[i+1]
		}
	}
}

func chatReq(text string) *provider.ChatRequest {
	return &provider.ChatRequest{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: text}}}
}

// collect reads st to its end.
func collect(t *testing.T, st provider.Stream) ([]provider.Delta, error) {
	t.Helper()
	defer st.Close()
	var ds []provider.Delta
	for range 30000 { // the longest answers of the tests are 20,000 tokens
		d, err := st.Recv()
		if err != nil {
			return ds, err
		}
		ds = append(ds, d)
	}
	t.Fatal("stream does not end")
	return nil, nil
}

func text(ds []provider.Delta) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Text)
	}
	return b.String()
}

func TestChatStream(t *testing.T) {
	c, srv := start(t, mockupstream.Config{Reply: "Hello brave new world", APIKey: "sk-secret"}, nil)
	temp, topP := 0.5, 0.9
	req := chatReq("hi")
	req.MaxTokens, req.Temperature, req.TopP, req.Stop = 100, &temp, &topP, []string{"\n\n"}
	st, err := c.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := collect(t, st)
	if err != io.EOF {
		t.Fatalf("stream ended with %v", err)
	}
	if got := text(ds); got != "Hello brave new world" {
		t.Errorf("text = %q", got)
	}
	last := ds[len(ds)-1]
	var finish string
	for _, d := range ds {
		if d.FinishReason != "" {
			finish = d.FinishReason
		}
		if d.Text == "" && len(d.ToolCalls) == 0 && d.FinishReason == "" && d.Usage == nil {
			t.Errorf("empty delta")
		}
	}
	if finish != "stop" {
		t.Errorf("finish = %q", finish)
	}
	if last.Usage == nil || *last.Usage != (provider.Usage{PromptTokens: 7, CompletionTokens: 4}) {
		t.Errorf("last delta usage = %+v", last.Usage)
	}

	r, _ := srv.LastRequest()
	if got := r.Header.Get("Authorization"); got != "Bearer sk-secret" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("Accept = %q", got)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"model": "m", "stream": true, "stream_options": map[string]any{"include_usage": true},
		"max_tokens": 100.0, "temperature": 0.5, "top_p": 0.9, "stop": []any{"\n\n"},
	}
	for k, v := range want {
		if got, _ := json.Marshal(body[k]); string(got) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(v))
		}
	}
	if _, ok := body["tools"]; ok {
		t.Error("tools sent without tools")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestChatRequestShape(t *testing.T) {
	c, srv := start(t, mockupstream.Config{}, nil)
	req := &provider.ChatRequest{
		Model: "m",
		Messages: []provider.Message{
			{Role: provider.RoleSystem, Content: "Be brief."},
			{Role: provider.RoleUser, Content: "Weather in Paris?", Name: "ann"},
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "weather", Arguments: `{"city":"Paris"}`}}},
			{Role: provider.RoleTool, ToolCallID: "call_1", Name: "weather", Content: "sunny"},
		},
		Passages: []provider.Passage{{N: 1, Title: "Atlas", Text: "Paris is in France."}, {Text: "second"}},
		Tools: []provider.Tool{
			{Name: "weather", Description: "Weather of a city", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
			{Name: "now"},
		},
		Meta: provider.Meta{Tenant: "acme"},
	}
	st, err := c.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err) // the mock refuses a malformed tool round trip with 400
	}
	if _, err := collect(t, st); err != io.EOF {
		t.Fatal(err)
	}
	r, _ := srv.LastRequest()
	var body struct {
		Messages []json.RawMessage `json:"messages"`
		Tools    []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	wantMsgs := []string{
		`{"role":"system","content":"Be brief.\n\nAnswer from the sources below and cite them by number, like [1].\n\n[1] Atlas\nParis is in France.\n\n[2]\nsecond\n"}`,
		`{"role":"user","content":"Weather in Paris?","name":"ann"}`,
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]}`,
		`{"role":"tool","content":"sunny","tool_call_id":"call_1"}`,
	}
	if len(body.Messages) != len(wantMsgs) {
		t.Fatalf("%d messages sent", len(body.Messages))
	}
	for i, m := range body.Messages {
		if string(m) != wantMsgs[i] {
			t.Errorf("message %d:\n got %s\nwant %s", i, m, wantMsgs[i])
		}
	}
	wantTools := []string{
		`{"type":"function","function":{"name":"weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}`,
		`{"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}}`,
	}
	for i, tl := range body.Tools {
		if string(tl) != wantTools[i] {
			t.Errorf("tool %d:\n got %s\nwant %s", i, tl, wantTools[i])
		}
	}
	if strings.Contains(string(r.Body), "acme") {
		t.Error("Meta was sent")
	}

	// Passages without a system message become one, numbered by their
	// place as the citation code reads them, whatever N says.
	req2 := chatReq("q")
	req2.Passages = []provider.Passage{{N: 3, Text: "p"}}
	st, err = c.Chat(t.Context(), req2)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = collect(t, st)
	r, _ = srv.LastRequest()
	if !strings.Contains(string(r.Body), `"messages":[{"role":"system","content":"Answer from the sources below and cite them by number, like [1].\n\n[1]\np\n"},{"role":"user","content":"q"}]`) {
		t.Errorf("body = %s", r.Body)
	}

	// A rendered sources prompt replaces the default rendering.
	req2.SourcesPrompt = "<source n=\"3\">p</source>"
	st, err = c.Chat(t.Context(), req2)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = collect(t, st)
	r, _ = srv.LastRequest()
	if !strings.Contains(string(r.Body), `"messages":[{"role":"system","content":"\u003csource n=\"3\"\u003ep\u003c/source\u003e"},{"role":"user","content":"q"}]`) {
		t.Errorf("body = %s", r.Body)
	}
}

func TestChatRequestErrors(t *testing.T) {
	c, srv := start(t, mockupstream.Config{}, nil)
	for name, req := range map[string]*provider.ChatRequest{
		"nil":         nil,
		"no model":    {Messages: []provider.Message{{Role: "user", Content: "x"}}},
		"no messages": {Model: "m"},
		"bad tool":    {Model: "m", Messages: []provider.Message{{Role: "user", Content: "x"}}, Tools: []provider.Tool{{Name: "f", Parameters: []byte("{")}}},
		"nameless":    {Model: "m", Messages: []provider.Message{{Role: "user", Content: "x"}}, Tools: []provider.Tool{{}}},
	} {
		_, err := c.Chat(t.Context(), req)
		if provider.KindOf(err) != provider.KindBadRequest {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent for invalid calls", n)
	}
}

func TestToolCalls(t *testing.T) {
	calls := `[{"id":"call_a","name":"weather","arguments":"{\"city\":\"Zürich\",\"days\":3}"},{"id":"call_b","name":"now","arguments":"{}"}]`
	c, _ := start(t, mockupstream.Config{}, withHeaders("X-Mock-Tool-Calls", calls))
	req := chatReq("weather?")
	req.Tools = []provider.Tool{{Name: "weather"}, {Name: "now"}}
	st, err := c.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := collect(t, st)
	if err != io.EOF {
		t.Fatal(err)
	}
	var got []provider.ToolCall
	var finish string
	for _, d := range ds {
		if len(d.ToolCalls) > 0 {
			if got != nil {
				t.Error("tool calls emitted twice")
			}
			got = d.ToolCalls
			finish = d.FinishReason
		}
	}
	want := []provider.ToolCall{{ID: "call_a", Name: "weather", Arguments: `{"city":"Zürich","days":3}`}, {ID: "call_b", Name: "now", Arguments: "{}"}}
	if mustJSON(got) != mustJSON(want) || finish != "tool_calls" {
		t.Errorf("tool calls = %+v (%s), want %+v", got, finish, want)
	}
}

// failure checks that err is a *provider.Error of kind and status.
func failure(t *testing.T, err error, kind provider.Kind, status int) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *provider.Error", err, err)
	}
	if pe.Kind != kind || pe.Status != status || pe.Provider != "mock" {
		t.Errorf("err = %v: kind %v status %d provider %q, want %v %d", err, pe.Kind, pe.Status, pe.Provider, kind, status)
	}
	return pe
}

func TestHTTPErrors(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		headers    []string
		kind       provider.Kind
		status     int
		message    string
		retryAfter [2]time.Duration // accepted range
	}{
		{"400", []string{"X-Mock-Status", "400"}, provider.KindBadRequest, 400, "Invalid request.", [2]time.Duration{}},
		{"422", []string{"X-Mock-Status", "422"}, provider.KindBadRequest, 422, "Unprocessable", [2]time.Duration{}},
		{"401", []string{"X-Mock-Status", "401"}, provider.KindAuth, 401, "Incorrect API key", [2]time.Duration{}},
		{"403", []string{"X-Mock-Status", "403"}, provider.KindAuth, 403, "not allowed", [2]time.Duration{}},
		{"404", []string{"X-Mock-Status", "404"}, provider.KindNotFound, 404, "does not exist", [2]time.Duration{}},
		{"408", []string{"X-Mock-Status", "408"}, provider.KindTimeout, 408, "timed out", [2]time.Duration{}},
		{"429 seconds", []string{"X-Mock-Status", "429", "X-Mock-Retry-After", "2"}, provider.KindRateLimited, 429, "Rate limit", [2]time.Duration{2 * time.Second, 2 * time.Second}},
		{"429 ms", []string{"X-Mock-Status", "429", "X-Mock-Retry-After-Ms", "1500"}, provider.KindRateLimited, 429, "Rate limit", [2]time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond}},
		{"429 ms wins", []string{"X-Mock-Status", "429", "X-Mock-Retry-After", "9", "X-Mock-Retry-After-Ms", "250"}, provider.KindRateLimited, 429, "Rate limit", [2]time.Duration{250 * time.Millisecond, 250 * time.Millisecond}},
		{"429 date", []string{"X-Mock-Status", "429", "X-Mock-Retry-After", date}, provider.KindRateLimited, 429, "Rate limit", [2]time.Duration{25 * time.Second, 31 * time.Second}},
		{"429 garbage", []string{"X-Mock-Status", "429", "X-Mock-Retry-After", "soon"}, provider.KindRateLimited, 429, "Rate limit", [2]time.Duration{}},
		{"500", []string{"X-Mock-Status", "500"}, provider.KindOverloaded, 500, "server had an error", [2]time.Duration{}},
		{"502", []string{"X-Mock-Status", "502"}, provider.KindOverloaded, 502, "Bad gateway", [2]time.Duration{}},
		{"503", []string{"X-Mock-Status", "503", "X-Mock-Retry-After", "1"}, provider.KindOverloaded, 503, "overloaded", [2]time.Duration{time.Second, time.Second}},
		{"504", []string{"X-Mock-Status", "504"}, provider.KindOverloaded, 504, "timeout", [2]time.Duration{}},
		{"529", []string{"X-Mock-Status", "529"}, provider.KindOverloaded, 529, "Overloaded", [2]time.Duration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := start(t, mockupstream.Config{}, withHeaders(tt.headers...))
			_, err := c.Chat(t.Context(), chatReq("x"))
			pe := failure(t, err, tt.kind, tt.status)
			if !strings.Contains(strings.ToLower(pe.Message), strings.ToLower(tt.message)) {
				t.Errorf("message = %q, want it to contain %q", pe.Message, tt.message)
			}
			if pe.RetryAfter < tt.retryAfter[0] || pe.RetryAfter > tt.retryAfter[1] {
				t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, tt.retryAfter)
			}
			_, err = c.Embed(t.Context(), &provider.EmbedRequest{Model: "e", Input: []string{"x"}})
			failure(t, err, tt.kind, tt.status)
		})
	}
}

func TestProviderRefusals(t *testing.T) {
	t.Run("validation message", func(t *testing.T) {
		c, _ := start(t, mockupstream.Config{}, nil)
		temp := 5.0
		req := chatReq("x")
		req.Temperature = &temp
		_, err := c.Chat(t.Context(), req)
		pe := failure(t, err, provider.KindBadRequest, 400)
		if !strings.Contains(pe.Message, "Invalid 'temperature'") {
			t.Errorf("message = %q", pe.Message)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		c, _ := start(t, mockupstream.Config{APIKey: "sk-right"}, func(c *openai.Config) { c.APIKey = "sk-wrong" })
		_, err := c.Chat(t.Context(), chatReq("x"))
		pe := failure(t, err, provider.KindAuth, 401)
		if strings.Contains(pe.Error(), "sk-wrong") {
			t.Errorf("error shows the key: %v", pe)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		c, _ := start(t, mockupstream.Config{Models: []string{"other"}}, nil)
		_, err := c.Chat(t.Context(), chatReq("x"))
		failure(t, err, provider.KindNotFound, 404)
	})
}

func TestStreamFailures(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		before  string // text received before the failure
		kind    provider.Kind
	}{
		{"malformed chunk", []string{"X-Mock-Malformed", "1"}, "one", provider.KindProtocol},
		{"cut mid-stream", []string{"X-Mock-Cut-After", "2"}, "one two", provider.KindConnection},
		{"cut before the first token", []string{"X-Mock-Cut-After", "0"}, "", provider.KindConnection},
		{"server error in stream", []string{"X-Mock-Stream-Error", "1"}, "one", provider.KindOverloaded},
		{"rate limit in stream", []string{"X-Mock-Stream-Error", "2", "X-Mock-Stream-Error-Type", "rate_limit_exceeded"}, "one two", provider.KindRateLimited},
		{"unknown error in stream", []string{"X-Mock-Stream-Error", "0", "X-Mock-Stream-Error-Type", "weird"}, "", provider.KindOverloaded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := start(t, mockupstream.Config{Reply: "one two three four"}, withHeaders(tt.headers...))
			st, err := c.Chat(t.Context(), chatReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := collect(t, st)
			if got := text(ds); got != tt.before {
				t.Errorf("text before the failure = %q, want %q", got, tt.before)
			}
			if err == io.EOF {
				t.Fatal("stream ended quietly with io.EOF")
			}
			failure(t, err, tt.kind, 0)
			if _, again := st.Recv(); again != err {
				t.Errorf("Recv after the failure = %v, want the same error", again)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	for _, h := range [][]string{{"X-Mock-Hang", "1"}, {"X-Mock-Latency", "1h"}} {
		t.Run(h[0], func(t *testing.T) {
			c, srv := start(t, mockupstream.Config{}, func(c *openai.Config) {
				withHeaders(h...)(c)
				c.Timeout = 100 * time.Millisecond
			})
			begin := time.Now()
			_, err := c.Chat(t.Context(), chatReq("x"))
			if d := time.Since(begin); d < 100*time.Millisecond || d > time.Second {
				t.Errorf("Chat returned after %v", d)
			}
			failure(t, err, provider.KindTimeout, 0)
			if errors.Is(err, context.Canceled) {
				t.Errorf("a timeout matches context.Canceled: %v", err)
			}
			if _, err := srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Disconnects == 1 }); err != nil {
				t.Errorf("the mock did not see the client leave: %+v", srv.Stats())
			}
			begin = time.Now()
			_, err = c.Embed(t.Context(), &provider.EmbedRequest{Model: "e", Input: []string{"x"}})
			failure(t, err, provider.KindTimeout, 0)
			if d := time.Since(begin); d > time.Second {
				t.Errorf("Embed returned after %v", d)
			}
		})
	}
	t.Run("does not bound the stream", func(t *testing.T) {
		c, _ := start(t, mockupstream.Config{Reply: "a b c", TTFT: 150 * time.Millisecond, TokensPerSecond: 20},
			func(c *openai.Config) { c.Timeout = 50 * time.Millisecond })
		st, err := c.Chat(t.Context(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := collect(t, st)
		if err != io.EOF || text(ds) != "a b c" {
			t.Errorf("stream: %q %v", text(ds), err)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		c, _ := start(t, mockupstream.Config{Reply: "a b c", TokensPerSecond: 5}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		// The reply takes 600 ms: the deadline ends it mid-stream, or,
		// on a machine slow enough, before its headers; a timeout either way.
		st, err := c.Chat(ctx, chatReq("x"))
		if err == nil {
			_, err = collect(t, st)
		}
		failure(t, err, provider.KindTimeout, 0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to match context.DeadlineExceeded", err)
		}
	})
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCancelReachesUpstream(t *testing.T) {
	t.Run("mid-stream", func(t *testing.T) {
		c, srv := start(t, mockupstream.Config{CompletionTokens: 1000, TokensPerSecond: 20}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		st, err := c.Chat(ctx, chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		cancelled := time.Now()
		cancel()
		_, err = st.Recv()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Recv after cancel = %v", err)
		}
		s, err := srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Disconnects == 1 && s.ActiveStreams == 0 })
		if err != nil {
			t.Fatalf("upstream did not see the disconnect within 1s: %+v", s)
		}
		if d := s.LastDisconnect.Sub(cancelled); d > time.Second {
			t.Errorf("upstream saw the disconnect %v after the cancel", d)
		}
	})
	t.Run("before headers", func(t *testing.T) {
		c, srv := start(t, mockupstream.Config{Latency: time.Hour}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			_, _ = srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Active == 1 })
			cancel()
		}()
		_, err := c.Chat(ctx, chatReq("x"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Chat = %v", err)
		}
		if _, err := srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Disconnects == 1 }); err != nil {
			t.Error("upstream did not see the disconnect within 1s")
		}
	})
	t.Run("Close", func(t *testing.T) {
		c, srv := start(t, mockupstream.Config{CompletionTokens: 1000, TokensPerSecond: 20}, nil)
		st, err := c.Chat(t.Context(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		// Close from another goroutine while Recv waits.
		errc := make(chan error, 1)
		go func() {
			_, err := st.Recv()
			for err == nil {
				_, err = st.Recv()
			}
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if err := st.Close(); err != nil {
			t.Error(err)
		}
		select {
		case err := <-errc:
			if err == io.EOF {
				t.Error("Recv after Close = io.EOF")
			}
		case <-time.After(time.Second):
			t.Fatal("Recv did not return after Close")
		}
		if _, err := srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Disconnects == 1 }); err != nil {
			t.Error("upstream did not see the disconnect within 1s")
		}
	})
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := openai.New(overTransport(t, openai.Config{Name: "mock", BaseURL: "http://" + addr + "/v1"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(t.Context(), chatReq("x"))
	failure(t, err, provider.KindConnection, 0)
	_, err = c.Embed(t.Context(), &provider.EmbedRequest{Model: "e", Input: []string{"x"}})
	failure(t, err, provider.KindConnection, 0)
}

func TestHeaders(t *testing.T) {
	c, srv := start(t, mockupstream.Config{}, func(c *openai.Config) {
		c.APIKey = "sk-k"
		c.Headers = map[string]string{"HTTP-Referer": "https://crispy.example", "OpenAI-Organization": "org-1"}
	})
	st, err := c.Chat(t.Context(), chatReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	r, _ := srv.LastRequest()
	for k, want := range map[string]string{"Authorization": "Bearer sk-k", "Http-Referer": "https://crispy.example", "Openai-Organization": "org-1", "Content-Type": "application/json"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// No key: no Authorization header at all.
	c2, srv2 := start(t, mockupstream.Config{}, nil)
	st, err = c2.Chat(t.Context(), chatReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if r, _ := srv2.LastRequest(); r.Header.Get("Authorization") != "" {
		t.Errorf("Authorization sent without a key: %q", r.Header.Get("Authorization"))
	}
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int64
	mock := mockupstream.New(mockupstream.Config{Reply: "a b c"})
	hs := httptest.NewUnstartedServer(mock)
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	defer hs.Close()
	defer mock.Close()
	c, err := openai.New(overTransport(t, openai.Config{BaseURL: hs.URL + "/v1"}))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		st, err := c.Chat(t.Context(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := collect(t, st); err != io.EOF {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential streams read to the end, want 1", n)
	}
}

func TestEmbed(t *testing.T) {
	c, srv := start(t, mockupstream.Config{}, nil)
	in := []string{"the cat sat", "stock prices fell", "a third text"}
	resp, err := c.Embed(t.Context(), &provider.EmbedRequest{Model: "e", Input: in, Dimensions: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vectors) != 3 || resp.Usage.PromptTokens != 9 {
		t.Fatalf("resp = %d vectors, usage %+v", len(resp.Vectors), resp.Usage)
	}
	want := make([]float32, 16)
	for i, v := range resp.Vectors {
		mockupstream.Vector(want, in[i])
		if mustJSON(v) != mustJSON(want) {
			t.Errorf("vector %d = %v, want %v", i, v, want)
		}
	}
	r, _ := srv.LastRequest()
	if got := string(r.Body); got != `{"model":"e","input":["the cat sat","stock prices fell","a third text"],"encoding_format":"float","dimensions":16}` {
		t.Errorf("body = %s", got)
	}
	resp, err = c.Embed(t.Context(), &provider.EmbedRequest{Model: "e", Input: []string{"x"}})
	if err != nil || len(resp.Vectors[0]) != mockupstream.DefaultEmbeddingDimensions {
		t.Errorf("default dimensions: %v", err)
	}
	if r, _ := srv.LastRequest(); strings.Contains(string(r.Body), "dimensions") {
		t.Errorf("dimensions sent when 0: %s", r.Body)
	}
	for _, bad := range []*provider.EmbedRequest{nil, {Input: []string{"x"}}, {Model: "e"}, {Model: "e", Input: []string{"x"}, Dimensions: -1}} {
		if _, err := c.Embed(t.Context(), bad); provider.KindOf(err) != provider.KindBadRequest {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// serve runs a handler that answers every request with body.
func serve(t *testing.T, status int, contentType, body string) *openai.Client {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(hs.Close)
	c, err := openai.New(overTransport(t, openai.Config{Name: "mock", BaseURL: hs.URL + "/v1"}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEmbedAnswers(t *testing.T) {
	tests := []struct {
		name string
		body string
		dims int
		want string // JSON of the vectors, or "" for KindProtocol
	}{
		{"sorted by index", `{"data":[{"index":1,"embedding":[2,2]},{"index":0,"embedding":[1,1]}],"usage":{"prompt_tokens":2}}`, 0, `[[1,1],[2,2]]`},
		{"base64", `{"data":[{"index":0,"embedding":"AACAPwAAAEA="},{"index":1,"embedding":[3,4]}]}`, 2, `[[1,2],[3,4]]`},
		{"too few", `{"data":[{"index":0,"embedding":[1]}]}`, 0, ""},
		{"repeated index", `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}`, 0, ""},
		{"index out of range", `{"data":[{"index":0,"embedding":[1]},{"index":2,"embedding":[1]}]}`, 0, ""},
		{"wrong dimensions", `{"data":[{"index":0,"embedding":[1,2,3]},{"index":1,"embedding":[1,2,3]}]}`, 2, ""},
		{"ragged", `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1]}]}`, 0, ""},
		{"not json", `{"data":[`, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, 200, "application/json", tt.body)
			resp, err := c.Embed(t.Context(), &provider.EmbedRequest{Model: "e", Input: []string{"a", "b"}, Dimensions: tt.dims})
			if tt.want == "" {
				failure(t, err, provider.KindProtocol, 0)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(resp.Vectors); got != tt.want {
				t.Errorf("vectors = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOtherServers(t *testing.T) {
	t.Run("JSON instead of a stream", func(t *testing.T) {
		c := serve(t, 200, "application/json", `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"whole answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
		st, err := c.Chat(t.Context(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := collect(t, st)
		if err != io.EOF || len(ds) != 1 || ds[0].Text != "whole answer" || ds[0].FinishReason != "stop" || ds[0].Usage.PromptTokens != 3 {
			t.Errorf("deltas %+v, err %v", ds, err)
		}
	})
	t.Run("error body with 200", func(t *testing.T) {
		c := serve(t, 200, "application/json", `{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}`)
		_, err := c.Chat(t.Context(), chatReq("x"))
		failure(t, err, provider.KindAuth, 0)
	})
	t.Run("insufficient quota", func(t *testing.T) {
		c := serve(t, 429, "application/json", `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`)
		_, err := c.Chat(t.Context(), chatReq("x"))
		failure(t, err, provider.KindAuth, 429)
	})
	t.Run("vLLM error shape", func(t *testing.T) {
		c := serve(t, 400, "application/json", `{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}`)
		_, err := c.Chat(t.Context(), chatReq("x"))
		if pe := failure(t, err, provider.KindBadRequest, 400); !strings.Contains(pe.Message, "maximum context length") {
			t.Errorf("message = %q", pe.Message)
		}
	})
	t.Run("HTML error page", func(t *testing.T) {
		c := serve(t, 502, "text/html", `<html><body>`+strings.Repeat("x", 100000)+`</body></html>`)
		_, err := c.Chat(t.Context(), chatReq("x"))
		if pe := failure(t, err, provider.KindOverloaded, 502); pe.Message != "Bad Gateway" {
			t.Errorf("message = %q", pe.Message)
		}
	})
	t.Run("plain text error", func(t *testing.T) {
		c := serve(t, 404, "text/plain", "404 page not found\n")
		_, err := c.Chat(t.Context(), chatReq("x"))
		if pe := failure(t, err, provider.KindNotFound, 404); pe.Message != "404 page not found" {
			t.Errorf("message = %q", pe.Message)
		}
	})
	t.Run("key echoed back", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`.","type":"invalid_request_error"}}`)
		}))
		defer hs.Close()
		c, err := openai.New(overTransport(t, openai.Config{Name: "mock", BaseURL: hs.URL + "/v1", APIKey: "sk-leaky"}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Chat(t.Context(), chatReq("x"))
		failure(t, err, provider.KindAuth, 401)
		if strings.Contains(err.Error(), "sk-leaky") || !strings.Contains(err.Error(), "Incorrect API key provided: [redacted].") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		var hit atomic.Bool
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
		defer target.Close()
		hs := httptest.NewServer(http.RedirectHandler(target.URL+"/v1/chat/completions", http.StatusTemporaryRedirect))
		defer hs.Close()
		c, err := openai.New(overTransport(t, openai.Config{Name: "mock", BaseURL: hs.URL + "/v1", APIKey: "sk-x"}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Chat(t.Context(), chatReq("x"))
		failure(t, err, provider.KindProtocol, 307)
		if hit.Load() {
			t.Error("redirect followed")
		}
	})
	t.Run("stream without [DONE]", func(t *testing.T) {
		c := serve(t, 200, "text/event-stream", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n")
		st, err := c.Chat(t.Context(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := collect(t, st)
		if text(ds) != "hi" {
			t.Errorf("text = %q", text(ds))
		}
		failure(t, err, provider.KindConnection, 0)
	})
}

func TestChatBuffered(t *testing.T) {
	c, srv := start(t, mockupstream.Config{Reply: "whole answer here"}, nil)
	req := chatReq("q")
	req.Buffered = true
	st, err := c.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := collect(t, st)
	var text strings.Builder
	for _, d := range ds {
		text.WriteString(d.Text)
	}
	if err != io.EOF || text.String() != "whole answer here" {
		t.Errorf("text %q, err %v", text.String(), err)
	}
	r, _ := srv.LastRequest()
	if !strings.Contains(string(r.Body), `"stream":false`) || strings.Contains(string(r.Body), "stream_options") || r.Header.Get("Accept") != "application/json" {
		t.Errorf("buffered request = %s (Accept %q)", r.Body, r.Header.Get("Accept"))
	}
	if srv.Stats().Streams != 0 {
		t.Error("a buffered call was streamed")
	}
}
