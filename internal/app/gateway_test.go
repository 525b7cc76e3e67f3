package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// acmeDevHash is the hash of ck_dev_acme.
const acmeDevHash = "sha256:ba473e6b18c20dc68862ce1f47a5f1fe7aeec8d4e003090478ae35ee89770ad3"

// gatewayTenant is acme with a model served by the mock upstream at url,
// falling back to the builtin answerer.
func gatewayTenant(url, budget string) string {
	return fmt.Sprintf(`{
  "id": "acme", "name": "Acme",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat", "usage:read"], "dev": true}],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY", "timeout": "5s"}},
  "models": {
    "chat": {"model": "mock/gpt-test", "fallbacks": ["builtin/extractive"]},
    "embedding": {"model": "builtin/hash-64"},
    "allow": ["builtin/extractive"],
    "pricing": {"mock/gpt-test": {"inputPerMTok": 1000, "outputPerMTok": 2000}},
    "retries": 1,
  },
  "limits": {"budget": %s},
}`, acmeDevHash, url, budget)
}

// startGateway runs the server with acme on a mock upstream.
func startGateway(t *testing.T, mcfg mockupstream.Config, budget string) (*started, *mockupstream.Server) {
	t.Helper()
	mcfg.APIKey = "mock-secret"
	mock, url := mockupstream.Start(t, mcfg)
	dir := t.TempDir()
	writeTenant(t, dir, "acme", gatewayTenant(url, budget))
	cfg := testConfig(t, dir)
	lookup := func(k string) (string, bool) {
		if k == "MOCK_KEY" {
			return "mock-secret", true
		}
		return "", false
	}
	return startDeps(t, cfg, app.Deps{LookupEnv: lookup}), mock
}

func startDeps(t *testing.T, cfg config.Serve, deps app.Deps) *started {
	t.Helper()
	a, err := app.New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	s := serveApp(t, a)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func post(t *testing.T, ctx context.Context, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer ck_dev_acme")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func decodeBody(t *testing.T, res *http.Response, v any) {
	t.Helper()
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// sseData returns the data lines of an SSE body, in order.
func sseData(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

type openAIErr struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

const hello = `{"model":"mock/gpt-test","messages":[{"role":"user","content":"hello gateway world"}]}`

func TestChatCompletion(t *testing.T) {
	s, mock := startGateway(t, mockupstream.Config{Reply: "The answer is forty two"}, "{}")
	res := post(t, t.Context(), s.url+"/v1/chat/completions", hello)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var c struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
			TotalTokens      int `json:"total_tokens"`
		} `json:"usage"`
	}
	decodeBody(t, res, &c)
	if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Created == 0 || c.Model != "mock/gpt-test" {
		t.Errorf("head = %+v", c)
	}
	if len(c.Choices) != 1 || c.Choices[0].Message.Role != "assistant" || c.Choices[0].Message.Content != "The answer is forty two" || c.Choices[0].FinishReason != "stop" {
		t.Errorf("choices = %+v", c.Choices)
	}
	// The mock counts words: 3 + (3 + 3 words) in, 5 words out.
	if c.Usage.PromptTokens != 9 || c.Usage.CompletionTokens != 5 || c.Usage.TotalTokens != 14 {
		t.Errorf("usage = %+v, want the provider's 9 + 5", c.Usage)
	}
	last, _ := mock.LastRequest()
	if got := last.Header.Get("Authorization"); got != "Bearer mock-secret" {
		t.Errorf("upstream Authorization = %q, want the provider key from the environment", got)
	}
	if bytes.Contains(last.Body, []byte("ck_dev_acme")) || strings.Contains(fmt.Sprint(last.Header), "ck_dev_acme") {
		t.Error("the tenant key reached the upstream")
	}
}

func TestChatCompletionStream(t *testing.T) {
	s, _ := startGateway(t, mockupstream.Config{Reply: "one two three four"}, "{}")
	body := `{"model":"mock/gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count"}]}`
	res := post(t, t.Context(), s.url+"/v1/chat/completions", body)
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	data := sseData(t, res.Body)
	if len(data) < 4 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("frames = %q, want chunks then [DONE]", data)
	}
	var text strings.Builder
	var id string
	var finish, usage int
	for i, d := range data[:len(data)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("frame %d %q: %v", i, d, err)
		}
		if c.Object != "chat.completion.chunk" || c.Model != "mock/gpt-test" || (id != "" && c.ID != id) {
			t.Errorf("frame %d head = %+v", i, c)
		}
		id = c.ID
		if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk %s: want the assistant role", d)
		}
		if c.Usage != nil {
			usage++
			if len(c.Choices) != 0 || i != len(data)-2 {
				t.Errorf("usage chunk %s: want empty choices, last before [DONE]", d)
			}
			if c.Usage.CompletionTokens != 4 || c.Usage.TotalTokens != c.Usage.PromptTokens+4 {
				t.Errorf("usage = %+v", c.Usage)
			}
			continue
		}
		if c.Choices[0].FinishReason != nil {
			finish++
			if *c.Choices[0].FinishReason != "stop" {
				t.Errorf("finish_reason = %q", *c.Choices[0].FinishReason)
			}
		}
		if c.Choices[0].Delta.Content != nil {
			text.WriteString(*c.Choices[0].Delta.Content)
		}
	}
	if text.String() != "one two three four" || finish != 1 || usage != 1 {
		t.Errorf("text %q, %d finish chunks, %d usage chunks", text.String(), finish, usage)
	}

	// Without include_usage there is no usage chunk.
	res = post(t, t.Context(), s.url+"/v1/chat/completions", strings.Replace(body, `"include_usage":true`, `"include_usage":false`, 1))
	defer res.Body.Close()
	for _, d := range sseData(t, res.Body) {
		if strings.Contains(d, `"usage":{`) {
			t.Errorf("usage chunk without include_usage: %s", d)
		}
	}
}

func TestChatCompletionCutMidStream(t *testing.T) {
	s, mock := startGateway(t, mockupstream.Config{Reply: "a b c d e f g h"}, "{}")
	mock.Enqueue(mockupstream.Step{Cut: true, After: 3})
	res := post(t, t.Context(), s.url+"/v1/chat/completions", `{"model":"mock/gpt-test","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	defer res.Body.Close()
	data := sseData(t, res.Body)
	if len(data) == 0 {
		t.Fatal("no frames")
	}
	lastFrame := data[len(data)-1]
	var c chunk
	if err := json.Unmarshal([]byte(lastFrame), &c); err != nil || c.Error == nil {
		t.Fatalf("last frame %q: want an error object", lastFrame)
	}
	if c.Error.Code != string(api.CodeUpstreamError) || !strings.Contains(c.Error.Message, "incomplete") {
		t.Errorf("error = %+v", c.Error)
	}
	for _, d := range data {
		if d == "[DONE]" {
			t.Error("a broken stream ended with [DONE]")
		}
	}
	// The tokens generated before the cut are billed.
	s.app.FlushUsage()
	totals := usageTotals(t, s)
	if totals.Errors != 1 || totals.TokensOut != 3 {
		t.Errorf("usage totals = %+v, want 1 error and the 3 tokens generated", totals)
	}
}

func TestChatCompletionFallback(t *testing.T) {
	s, mock := startGateway(t, mockupstream.Config{}, "{}")
	mock.Enqueue(mockupstream.Step{Status: 503}, mockupstream.Step{Status: 500})
	res := post(t, t.Context(), s.url+"/v1/chat/completions", hello)
	var c struct {
		Model string `json:"model"`
	}
	decodeBody(t, res, &c)
	if res.StatusCode != 200 || c.Model != "builtin/extractive" {
		t.Errorf("status %d, model %q: want the fallback to answer", res.StatusCode, c.Model)
	}
	if n := mock.Stats().Chat; n != 2 {
		t.Errorf("upstream calls = %d, want 2 (1 + 1 retry)", n)
	}
	s.app.FlushUsage()
	if totals := usageTotals(t, s); totals.Fallbacks != 1 || totals.Requests != 1 {
		t.Errorf("usage totals = %+v, want one request answered by a fallback", totals)
	}
}

func TestOpenAIErrors(t *testing.T) {
	s, mock := startGateway(t, mockupstream.Config{}, `{"tokensPerDay": 50}`)
	for _, tt := range []struct {
		name, body, key string
		status          int
		typ, code       string
		param           string
	}{
		{"no key", hello, "", 401, "authentication_error", "unauthenticated", ""},
		{"model not allowed", `{"model":"mock/gpt-5","messages":[{"role":"user","content":"x"}]}`, "ck_dev_acme", 400, "invalid_request_error", "model_not_allowed", ""},
		{"unknown field", `{"model":"mock/gpt-test","messages":[],"colour":1}`, "ck_dev_acme", 400, "invalid_request_error", "invalid_request", "colour"},
		{"empty messages", `{"model":"mock/gpt-test","messages":[]}`, "ck_dev_acme", 400, "invalid_request_error", "invalid_request", "messages"},
		{"bad role", `{"model":"mock/gpt-test","messages":[{"role":"robot","content":"x"}]}`, "ck_dev_acme", 400, "invalid_request_error", "invalid_request", "messages.0.role"},
		{"over budget", `{"model":"mock/gpt-test","max_tokens":100,"messages":[{"role":"user","content":"x"}]}`, "ck_dev_acme", 402, "insufficient_quota", "budget_exceeded", ""},
		{"malformed", `{"model":`, "ck_dev_acme", 400, "invalid_request_error", "invalid_request", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.url+"/v1/chat/completions", strings.NewReader(tt.body))
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e openAIErr
			decodeBody(t, res, &e)
			if res.StatusCode != tt.status || e.Error.Type != tt.typ || e.Error.Code != tt.code || e.Error.Message == "" {
				t.Errorf("status %d, error %+v; want %d %s %s", res.StatusCode, e.Error, tt.status, tt.typ, tt.code)
			}
			if tt.param != "" && (e.Error.Param == nil || *e.Error.Param != tt.param) {
				t.Errorf("param = %v, want %q", e.Error.Param, tt.param)
			}
		})
	}
	if n := mock.Stats().Chat; n != 0 {
		t.Errorf("upstream calls = %d, want none for rejected requests", n)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    mockupstream.Config
		stream bool
	}{
		// The client goes away while the model thinks (before any token).
		{"before first token", mockupstream.Config{TTFT: time.Minute}, false},
		// The client goes away in the middle of a slow stream.
		{"mid-stream", mockupstream.Config{CompletionTokens: 1000, TokensPerSecond: 20}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, mock := startGateway(t, tt.cfg, "{}")
			ctx, cancel := context.WithCancel(t.Context())
			body := fmt.Sprintf(`{"model":"mock/gpt-test","stream":%t,"messages":[{"role":"user","content":"x"}]}`, tt.stream)
			go func() {
				if tt.stream {
					// Read the first content chunk, then hang up.
					req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/v1/chat/completions", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer ck_dev_acme")
					res, err := http.DefaultClient.Do(req)
					if err == nil {
						br := bufio.NewReader(res.Body)
						for range 4 {
							_, _ = br.ReadString('\n')
						}
					}
				} else {
					_, _ = mock.Wait(ctx, func(st mockupstream.Stats) bool { return st.Active > 0 })
				}
				cancel()
			}()
			if !tt.stream {
				req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer ck_dev_acme")
				if res, err := http.DefaultClient.Do(req); err == nil {
					res.Body.Close()
					t.Fatal("request finished; want it cancelled")
				}
			}
			<-ctx.Done()
			hungUp := time.Now()
			wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer wcancel()
			st, err := mock.Wait(wctx, func(st mockupstream.Stats) bool { return st.Disconnects > 0 && st.Active == 0 })
			if err != nil {
				t.Fatalf("upstream call not cancelled: %+v", mock.Stats())
			}
			if d := st.LastDisconnect.Sub(hungUp); d > time.Second {
				t.Errorf("upstream cancelled %v after the client hung up, want within 1s", d)
			}
			// The handler records the call as it unwinds, just after the
			// upstream saw the disconnect.
			var rec totals
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				s.app.FlushUsage()
				if rec = usageTotals(t, s); rec.Requests == 1 {
					break
				}
			}
			if rec.Requests != 1 {
				t.Errorf("usage totals = %+v, want the cancelled call recorded", rec)
			}
		})
	}
}

func TestEmbeddingsAndModels(t *testing.T) {
	s, _ := startGateway(t, mockupstream.Config{}, "{}")
	for _, format := range []string{"float", "base64"} {
		res := post(t, t.Context(), s.url+"/v1/embeddings", `{"model":"builtin/hash-64","input":["red apples","green pears"],"encoding_format":"`+format+`"}`)
		var list struct {
			Object string `json:"object"`
			Model  string `json:"model"`
			Data   []struct {
				Object    string          `json:"object"`
				Index     int             `json:"index"`
				Embedding json.RawMessage `json:"embedding"`
			} `json:"data"`
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
				TotalTokens  int `json:"total_tokens"`
			} `json:"usage"`
		}
		decodeBody(t, res, &list)
		if res.StatusCode != 200 || list.Object != "list" || list.Model != "builtin/hash-64" || len(list.Data) != 2 || list.Usage.PromptTokens == 0 {
			t.Fatalf("%s: status %d, %+v", format, res.StatusCode, list)
		}
		for i, d := range list.Data {
			if d.Object != "embedding" || d.Index != i {
				t.Errorf("%s: item %d = %+v", format, i, d)
			}
			n := 0
			if format == "float" {
				var v []float32
				_ = json.Unmarshal(d.Embedding, &v)
				n = len(v)
			} else {
				var s string
				_ = json.Unmarshal(d.Embedding, &s)
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				n = len(b) / 4
			}
			if n != 64 {
				t.Errorf("%s: %d dimensions, want 64", format, n)
			}
		}
	}

	req, _ := http.NewRequest("GET", s.url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer ck_dev_acme")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var models struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	decodeBody(t, res, &models)
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if got := strings.Join(ids, ","); models.Object != "list" || got != "mock/gpt-test,builtin/extractive,builtin/hash-64" {
		t.Errorf("models = %s, want the route's model, the allowlist and the embedding model", got)
	}
}

type totals struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	Fallbacks int64   `json:"fallbacks"`
	TokensIn  int64   `json:"tokensIn"`
	TokensOut int64   `json:"tokensOut"`
	CostUSD   float64 `json:"costUsd"`
}

func usageTotals(t *testing.T, s *started) totals {
	t.Helper()
	status, env := get(t, s.url+"/usage", "ck_dev_acme")
	if status != 200 {
		t.Fatalf("GET /usage = %d %+v", status, env.Error)
	}
	var u struct {
		Totals totals `json:"totals"`
	}
	if err := json.Unmarshal(env.Data, &u); err != nil {
		t.Fatal(err)
	}
	return u.Totals
}

func TestUsageLedger(t *testing.T) {
	s, _ := startGateway(t, mockupstream.Config{Reply: "five words in this reply"}, "{}")
	for range 3 {
		res := post(t, t.Context(), s.url+"/v1/chat/completions", hello)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	s.app.FlushUsage()
	status, env := get(t, s.url+"/usage", "ck_dev_acme")
	if status != 200 {
		t.Fatalf("GET /usage = %d", status)
	}
	var u struct {
		Totals totals `json:"totals"`
		ByDay  []struct {
			Day string `json:"day"`
			totals
		} `json:"byDay"`
		ByModel []struct {
			Model string `json:"model"`
			totals
		} `json:"byModel"`
	}
	if err := json.Unmarshal(env.Data, &u); err != nil {
		t.Fatal(err)
	}
	// 3 calls of 9 tokens in and 5 out, at $1000 and $2000 per million.
	want := totals{Requests: 3, TokensIn: 27, TokensOut: 15, CostUSD: 3 * (9*1000 + 5*2000) / 1e6}
	if u.Totals != want {
		t.Errorf("totals = %+v, want %+v", u.Totals, want)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if len(u.ByDay) != 1 || u.ByDay[0].Day != today || u.ByDay[0].Requests != 3 {
		t.Errorf("byDay = %+v", u.ByDay)
	}
	if len(u.ByModel) != 1 || u.ByModel[0].Model != "mock/gpt-test" || u.ByModel[0].totals != want {
		t.Errorf("byModel = %+v", u.ByModel)
	}
	for _, q := range []string{"?from=yesterday", "?from=2026-02-01&to=2026-01-01", "?colour=red", "?from=2020-01-01&to=2026-01-01"} {
		if status, env := get(t, s.url+"/usage"+q, "ck_dev_acme"); status != 400 || env.Error.Code != api.CodeInvalidRequest {
			t.Errorf("GET /usage%s = %d %+v, want 400", q, status, env.Error)
		}
	}
}
