package mockupstream_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/sse"
)

// post sends body to base+path with the given headers.
func post(t *testing.T, ctx context.Context, url, body string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeJSON(t *testing.T, r io.Reader, v any) {
	t.Helper()
	if err := json.NewDecoder(r).Decode(v); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type toolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role      string     `json:"role"`
			Content   *string    `json:"content"`
			ToolCalls []toolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string     `json:"role"`
			Content   *string    `json:"content"`
			ToolCalls []toolCall `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// streamed is a stream read to its end.
type streamed struct {
	chunks   []chunk
	raw      [][]byte
	text     string
	finish   string
	usage    *usage
	done     bool  // saw [DONE]
	err      error // how the stream ended, if not cleanly
	badChunk bool  // a chunk was not JSON
}

func readStream(t *testing.T, resp *http.Response) streamed {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type = %q", ct)
	}
	var s streamed
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			if err != io.EOF {
				s.err = err
			}
			return s
		}
		if s.done {
			t.Fatalf("event after [DONE]: %q", ev.Data)
		}
		if string(ev.Data) == "[DONE]" {
			s.done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			s.badChunk = true
			continue
		}
		s.chunks = append(s.chunks, c)
		s.raw = append(s.raw, ev.Data)
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				s.text += *ch.Delta.Content
			}
			if ch.FinishReason != nil {
				s.finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			s.usage = c.Usage
		}
	}
}

const hello = `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello there  big world"}]}`

func streamBody(includeUsage bool) string {
	opt := ""
	if includeUsage {
		opt = `,"stream_options":{"include_usage":true}`
	}
	return `{"model":"m","stream":true` + opt + `,"messages":[{"role":"user","content":"hello there big world"}]}`
}

func TestChatCompletion(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{})
	resp := post(t, t.Context(), base+"/chat/completions", hello)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var c completion
	decodeJSON(t, resp.Body, &c)
	if c.Object != "chat.completion" || c.Model != "m" || !strings.HasPrefix(c.ID, "chatcmpl-") || c.Created == 0 {
		t.Errorf("head = %+v", c)
	}
	if len(c.Choices) != 1 {
		t.Fatalf("choices = %+v", c.Choices)
	}
	ch := c.Choices[0]
	if ch.Message.Role != "assistant" || ch.Message.Content == nil || *ch.Message.Content != "hello there  big world" || ch.FinishReason != "stop" {
		t.Errorf("choice = %+v", ch)
	}
	// 3 + (3+2) + (3+4) prompt tokens; 4 words answered.
	if want := (usage{15, 4, 19}); c.Usage == nil || *c.Usage != want {
		t.Errorf("usage = %+v, want %+v", c.Usage, want)
	}
}

func TestChatStream(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{})
	for _, includeUsage := range []bool{true, false} {
		resp := post(t, t.Context(), base+"/chat/completions", streamBody(includeUsage))
		s := readStream(t, resp)
		if s.err != nil || s.badChunk || !s.done {
			t.Fatalf("include_usage=%v: err %v, bad chunk %v, done %v", includeUsage, s.err, s.badChunk, s.done)
		}
		if s.text != "hello there big world" || s.finish != "stop" {
			t.Errorf("text %q finish %q", s.text, s.finish)
		}
		first := s.chunks[0]
		if first.Object != "chat.completion.chunk" || first.Choices[0].Delta.Role != "assistant" {
			t.Errorf("first chunk = %s", s.raw[0])
		}
		// role, 4 tokens, finish (, usage)
		n := len(s.chunks)
		want := 6
		if includeUsage {
			want = 7
		}
		if n != want {
			t.Fatalf("%d chunks, want %d", n, want)
		}
		for i, raw := range s.raw {
			if s.chunks[i].ID != first.ID {
				t.Errorf("chunk %d has ID %q, want %q", i, s.chunks[i].ID, first.ID)
			}
			hasUsage := bytes.Contains(raw, []byte(`"usage":`))
			if hasUsage != includeUsage {
				t.Errorf("include_usage=%v: chunk %d: %s", includeUsage, i, raw)
			}
		}
		if includeUsage {
			last := s.chunks[n-1]
			if len(last.Choices) != 0 || last.Usage == nil || *last.Usage != (usage{10, 4, 14}) {
				t.Errorf("usage chunk = %s", s.raw[n-1])
			}
			if !bytes.Contains(s.raw[n-1], []byte(`"choices":[]`)) {
				t.Errorf("usage chunk choices not an empty array: %s", s.raw[n-1])
			}
			if bytes.Contains(s.raw[n-2], []byte(`"usage":{`)) {
				t.Errorf("finish chunk carries usage: %s", s.raw[n-2])
			}
		} else if s.usage != nil {
			t.Errorf("usage without include_usage: %+v", s.usage)
		}
	}
}

func TestReplyShape(t *testing.T) {
	tests := []struct {
		name       string
		cfg        mockupstream.Config
		body       string
		headers    []string
		wantText   string
		wantFinish string
	}{
		{"configured reply", mockupstream.Config{Reply: "Hi, I am a mock."}, streamBody(true), nil, "Hi, I am a mock.", "stop"},
		{"reply repeated to N tokens", mockupstream.Config{Reply: "a b", CompletionTokens: 5}, streamBody(true), nil, "a b a b a", "stop"},
		{"echo cut to N tokens", mockupstream.Config{CompletionTokens: 2}, streamBody(true), nil, "hello there", "stop"},
		{"max_tokens", mockupstream.Config{}, `{"model":"m","stream":true,"max_tokens":3,"messages":[{"role":"user","content":"one two three four five"}]}`, nil, "one two three", "length"},
		{"max_completion_tokens", mockupstream.Config{}, `{"model":"m","stream":true,"max_completion_tokens":1,"messages":[{"role":"user","content":"one two"}]}`, nil, "one", "length"},
		{"reply header", mockupstream.Config{Reply: "x"}, streamBody(false), []string{"X-Mock-Reply", "from header"}, "from header", "stop"},
		{"tokens header", mockupstream.Config{Reply: "x"}, streamBody(false), []string{"X-Mock-Tokens", "3"}, "x x x", "stop"},
		{"escaping", mockupstream.Config{Reply: "quote\" back\\slash\nnew\u2028line \x01"}, streamBody(false), nil, "quote\" back\\slash\nnew\u2028line \x01", "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := mockupstream.Start(t, tt.cfg)
			s := readStream(t, post(t, t.Context(), base+"/chat/completions", tt.body, tt.headers...))
			if s.err != nil || !s.done || s.badChunk {
				t.Fatalf("stream: %v done=%v bad=%v", s.err, s.done, s.badChunk)
			}
			if s.text != tt.wantText || s.finish != tt.wantFinish {
				t.Errorf("got %q (%s), want %q (%s)", s.text, s.finish, tt.wantText, tt.wantFinish)
			}
		})
	}
}

func TestToolCalls(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{})
	calls := `[{"id":"call_1","name":"get_weather","arguments":"{\"city\":\"Zürich, Schweiz\"}"},{"name":"now","arguments":"{}"}]`
	body := `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"weather?"}],` +
		`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},{"type":"function","function":{"name":"now"}}]}`
	s := readStream(t, post(t, t.Context(), base+"/chat/completions", body, "X-Mock-Tool-Calls", calls))
	if s.err != nil || !s.done || s.finish != "tool_calls" || s.text != "" {
		t.Fatalf("stream: err %v done %v finish %q text %q", s.err, s.done, s.finish, s.text)
	}
	type acc struct{ id, name, args string }
	var got []acc
	for _, c := range s.chunks {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index == nil {
					t.Fatalf("tool call delta without index")
				}
				for len(got) <= *tc.Index {
					got = append(got, acc{})
				}
				a := &got[*tc.Index]
				if tc.ID != "" {
					a.id = tc.ID
				}
				a.name += tc.Function.Name
				a.args += tc.Function.Arguments
			}
		}
	}
	if len(got) != 2 || got[0] != (acc{"call_1", "get_weather", `{"city":"Zürich, Schweiz"}`}) ||
		!strings.HasPrefix(got[1].id, "call_") || got[1].name != "now" || got[1].args != "{}" {
		t.Errorf("tool calls = %+v", got)
	}

	// Not streamed.
	resp := post(t, t.Context(), base+"/chat/completions", strings.Replace(body, `"stream":true,"stream_options":{"include_usage":true},`, "", 1), "X-Mock-Tool-Calls", calls)
	var c completion
	decodeJSON(t, resp.Body, &c)
	m := c.Choices[0].Message
	if c.Choices[0].FinishReason != "tool_calls" || m.Content != nil || len(m.ToolCalls) != 2 || m.ToolCalls[0].Function.Arguments != `{"city":"Zürich, Schweiz"}` || m.ToolCalls[0].Type != "function" {
		t.Errorf("completion = %+v", c.Choices[0])
	}

	// The round trip: the assistant's calls and the tool's answers.
	round := `{"model":"m","messages":[{"role":"user","content":"weather?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`
	if resp := post(t, t.Context(), base+"/chat/completions", round); resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("round trip: %d %s", resp.StatusCode, b)
	}
}

func TestValidation(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{Models: []string{"m", "e"}})
	user := `[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, path, body string
		status           int
		param            string
	}{
		{"not json", "/chat/completions", `{"model":`, 400, ""},
		{"unknown field", "/chat/completions", `{"model":"m","messages":` + user + `,"foo":1}`, 400, "foo"},
		{"wrong type", "/chat/completions", `{"model":"m","messages":` + user + `,"temperature":"hot"}`, 400, "temperature"},
		{"no model", "/chat/completions", `{"messages":` + user + `}`, 400, ""},
		{"unknown model", "/chat/completions", `{"model":"x","messages":` + user + `}`, 404, ""},
		{"no messages", "/chat/completions", `{"model":"m"}`, 400, "messages"},
		{"empty messages", "/chat/completions", `{"model":"m","messages":[]}`, 400, "messages"},
		{"bad role", "/chat/completions", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, 400, "messages[0].role"},
		{"user without content", "/chat/completions", `{"model":"m","messages":[{"role":"user"}]}`, 400, "messages[0].content"},
		{"content not text", "/chat/completions", `{"model":"m","messages":[{"role":"user","content":42}]}`, 400, "messages[0].content"},
		{"tool without call", "/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c","content":"y"}]}`, 400, "messages[1].role"},
		{"tool without id", "/chat/completions", `{"model":"m","messages":[{"role":"tool","content":"y"}]}`, 400, "messages[0].tool_call_id"},
		{"unanswered call", "/chat/completions", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"x"}]}`, 400, "messages"},
		{"call without type", "/chat/completions", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f"}}]},{"role":"tool","tool_call_id":"c","content":"y"}]}`, 400, "messages[0].tool_calls[0].type"},
		{"temperature", "/chat/completions", `{"model":"m","messages":` + user + `,"temperature":2.5}`, 400, "temperature"},
		{"top_p", "/chat/completions", `{"model":"m","messages":` + user + `,"top_p":-1}`, 400, "top_p"},
		{"max_tokens", "/chat/completions", `{"model":"m","messages":` + user + `,"max_tokens":0}`, 400, "max_tokens"},
		{"n", "/chat/completions", `{"model":"m","messages":` + user + `,"n":2}`, 400, "n"},
		{"stop too long", "/chat/completions", `{"model":"m","messages":` + user + `,"stop":["a","b","c","d","e"]}`, 400, "stop"},
		{"stop type", "/chat/completions", `{"model":"m","messages":` + user + `,"stop":1}`, 400, "stop"},
		{"stream_options without stream", "/chat/completions", `{"model":"m","messages":` + user + `,"stream_options":{"include_usage":true}}`, 400, "stream_options"},
		{"tool type", "/chat/completions", `{"model":"m","messages":` + user + `,"tools":[{"type":"x","function":{"name":"f"}}]}`, 400, "tools[0].type"},
		{"tool name", "/chat/completions", `{"model":"m","messages":` + user + `,"tools":[{"type":"function","function":{"name":"a b"}}]}`, 400, "tools[0].function.name"},
		{"tool parameters", "/chat/completions", `{"model":"m","messages":` + user + `,"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, 400, "tools[0].function.parameters"},
		{"tool_choice without tools", "/chat/completions", `{"model":"m","messages":` + user + `,"tool_choice":"required"}`, 400, "tool_choice"},
		{"tool_choice unknown function", "/chat/completions", `{"model":"m","messages":` + user + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, 400, "tool_choice"},
		{"bad mock header", "/chat/completions", `{"model":"m","messages":` + user + `}`, 400, ""},
		{"embed no input", "/embeddings", `{"model":"e"}`, 400, "input"},
		{"embed empty input", "/embeddings", `{"model":"e","input":[]}`, 400, "input"},
		{"embed empty string", "/embeddings", `{"model":"e","input":["a",""]}`, 400, "input"},
		{"embed input type", "/embeddings", `{"model":"e","input":{"a":1}}`, 400, "input"},
		{"embed dimensions", "/embeddings", `{"model":"e","input":"a","dimensions":0}`, 400, "dimensions"},
		{"embed encoding", "/embeddings", `{"model":"e","input":"a","encoding_format":"int8"}`, 400, "encoding_format"},
		{"embed unknown model", "/embeddings", `{"model":"x","input":"a"}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.name == "bad mock header" {
				headers = []string{"X-Mock-Cut-After", "soon"}
			}
			resp := post(t, t.Context(), base+tt.path, tt.body, headers...)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			raw, _ := io.ReadAll(resp.Body)
			var e errorBody
			if err := json.Unmarshal(raw, &e); err != nil || e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
				t.Fatalf("error body = %s", raw)
			}
			for _, k := range []string{`"message":`, `"type":`, `"param":`, `"code":`} {
				if !bytes.Contains(raw, []byte(k)) {
					t.Errorf("error body lacks %s: %s", k, raw)
				}
			}
			got := ""
			if e.Error.Param != nil {
				got = *e.Error.Param
			}
			if got != tt.param {
				t.Errorf("param = %q, want %q (%s)", got, tt.param, raw)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{APIKey: "sk-test"})
	tests := []struct {
		authz  string
		status int
		code   string
	}{
		{"", 401, ""},
		{"Bearer sk-wrong", 401, "invalid_api_key"},
		{"Bearer sk-test", 200, ""},
	}
	for _, tt := range tests {
		var h []string
		if tt.authz != "" {
			h = []string{"Authorization", tt.authz}
		}
		resp := post(t, t.Context(), base+"/chat/completions", hello, h...)
		if resp.StatusCode != tt.status {
			t.Errorf("%q: status %d, want %d", tt.authz, resp.StatusCode, tt.status)
			continue
		}
		if tt.status == 401 {
			var e errorBody
			decodeJSON(t, resp.Body, &e)
			code := ""
			if e.Error.Code != nil {
				code = *e.Error.Code
			}
			if code != tt.code || e.Error.Type != "invalid_request_error" {
				t.Errorf("%q: error = %+v", tt.authz, e.Error)
			}
		}
	}
}

func TestInjectedStatus(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{})
	tests := []struct {
		headers    []string
		status     int
		typ        string
		retryAfter string
		retryMS    string
	}{
		{[]string{"X-Mock-Status", "429", "X-Mock-Retry-After", "2"}, 429, "requests", "2", ""},
		{[]string{"X-Mock-Status", "429", "X-Mock-Retry-After-Ms", "1500"}, 429, "requests", "", "1500"},
		{[]string{"X-Mock-Status", "503", "X-Mock-Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}, 503, "server_error", "Wed, 21 Oct 2015 07:28:00 GMT", ""},
		{[]string{"X-Mock-Status", "500"}, 500, "server_error", "", ""},
		{[]string{"X-Mock-Status", "529"}, 529, "overloaded_error", "", ""},
		{[]string{"X-Mock-Status", "401"}, 401, "invalid_request_error", "", ""},
		{[]string{"X-Mock-Status", "200"}, 200, "", "", ""},
	}
	for _, tt := range tests {
		for _, body := range []string{hello, `{"model":"e","input":"x"}`} {
			path := "/chat/completions"
			if strings.Contains(body, "input") {
				path = "/embeddings"
			}
			resp := post(t, t.Context(), base+path, body, tt.headers...)
			if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter || resp.Header.Get("Retry-After-Ms") != tt.retryMS {
				t.Errorf("%v %s: status %d Retry-After %q retry-after-ms %q", tt.headers, path, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Retry-After-Ms"))
			}
			if tt.status != 200 {
				var e errorBody
				decodeJSON(t, resp.Body, &e)
				if e.Error.Type != tt.typ || e.Error.Message == "" {
					t.Errorf("%v: error = %+v", tt.headers, e.Error)
				}
			}
		}
	}
}

func TestScript(t *testing.T) {
	srv, base := mockupstream.Start(t, mockupstream.Config{
		Script: []mockupstream.Step{{Status: 503, RetryAfter: 1500 * time.Millisecond}, {Status: 429}},
	})
	srv.Enqueue(mockupstream.Step{Reply: "third"})
	var got []string
	for range 4 {
		resp := post(t, t.Context(), base+"/chat/completions", hello)
		var c completion
		decodeJSON(t, resp.Body, &c)
		s := http.StatusText(resp.StatusCode)
		if resp.StatusCode == 200 {
			s = *c.Choices[0].Message.Content
		}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			s += " retry " + ra
		}
		got = append(got, s)
	}
	want := []string{"Service Unavailable retry 2", "Too Many Requests", "third", "hello there  big world"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if st := srv.Stats(); st.Chat != 4 || st.Requests != 4 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRates(t *testing.T) {
	cfg := mockupstream.Config{ErrorRate: 0.3, ErrorStatus: 429, RetryAfter: time.Second, MalformedRate: 0.2, CutRate: 0.2, Seed: 7}
	outcomes := func() string {
		_, base := mockupstream.Start(t, cfg)
		var b strings.Builder
		for range 40 {
			resp := post(t, t.Context(), base+"/chat/completions", streamBody(true))
			if resp.StatusCode != 200 {
				if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
					t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
				b.WriteByte('E')
				continue
			}
			s := readStream(t, resp)
			switch {
			case s.badChunk:
				b.WriteByte('M')
			case s.err != nil && !s.done:
				b.WriteByte('C')
			case s.done && s.err == nil:
				b.WriteByte('.')
			default:
				t.Fatalf("odd stream: %+v", s)
			}
		}
		return b.String()
	}
	a, b := outcomes(), outcomes()
	if a != b {
		t.Errorf("same seed, different outcomes:\n%s\n%s", a, b)
	}
	for _, c := range "EMC." {
		if !strings.ContainsRune(a, c) {
			t.Errorf("outcome %c never happened in %s", c, a)
		}
	}
}

func TestStreamFaults(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{Reply: "one two three four five"})
	t.Run("cut", func(t *testing.T) {
		s := readStream(t, post(t, t.Context(), base+"/chat/completions", streamBody(true), "X-Mock-Cut-After", "3"))
		if s.done || s.err == nil || s.text != "one two three" {
			t.Errorf("done %v err %v text %q", s.done, s.err, s.text)
		}
	})
	t.Run("cut before first token", func(t *testing.T) {
		s := readStream(t, post(t, t.Context(), base+"/chat/completions", streamBody(true), "X-Mock-Cut-After", "0"))
		if s.done || s.err == nil || s.text != "" {
			t.Errorf("done %v err %v text %q", s.done, s.err, s.text)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		s := readStream(t, post(t, t.Context(), base+"/chat/completions", streamBody(true), "X-Mock-Malformed", "2"))
		if !s.badChunk || s.text != "one two three four five" || !s.done {
			t.Errorf("bad %v text %q done %v", s.badChunk, s.text, s.done)
		}
	})
	t.Run("error in stream", func(t *testing.T) {
		s := readStream(t, post(t, t.Context(), base+"/chat/completions", streamBody(true), "X-Mock-Stream-Error", "1", "X-Mock-Stream-Error-Type", "rate_limit_exceeded"))
		last := s.chunks[len(s.chunks)-1]
		if s.done || s.err != nil || s.text != "one" || last.Error == nil || last.Error.Type != "rate_limit_exceeded" {
			t.Errorf("done %v err %v text %q last %s", s.done, s.err, s.text, s.raw[len(s.raw)-1])
		}
	})
	t.Run("non-stream malformed", func(t *testing.T) {
		resp := post(t, t.Context(), base+"/chat/completions", hello, "X-Mock-Malformed", "0")
		var c completion
		if err := json.NewDecoder(resp.Body).Decode(&c); err == nil {
			t.Error("malformed body decoded")
		}
	})
	t.Run("non-stream cut", func(t *testing.T) {
		resp := post(t, t.Context(), base+"/chat/completions", hello, "X-Mock-Cut-After", "0")
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("cut body read without error")
		}
	})
}

func TestTiming(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{Reply: "a b c d e", Latency: 30 * time.Millisecond, TTFT: 40 * time.Millisecond, TokensPerSecond: 100})
	start := time.Now()
	resp := post(t, t.Context(), base+"/chat/completions", streamBody(true))
	headers := time.Since(start)
	rd := sse.NewReader(resp.Body)
	var first time.Duration
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		var c chunk
		_ = json.Unmarshal(ev.Data, &c)
		if first == 0 && len(c.Choices) > 0 && c.Choices[0].Delta.Content != nil && *c.Choices[0].Delta.Content != "" {
			first = time.Since(start)
		}
	}
	total := time.Since(start)
	if headers < 30*time.Millisecond || first < 70*time.Millisecond || total < 110*time.Millisecond {
		t.Errorf("headers %v, first token %v, total %v; want >= 30ms, 70ms, 110ms", headers, first, total)
	}
	if total > 2*time.Second {
		t.Errorf("total %v", total)
	}
}

func TestDisconnect(t *testing.T) {
	srv, base := mockupstream.Start(t, mockupstream.Config{})
	for _, tt := range []struct {
		name    string
		headers []string
	}{
		{"hang", []string{"X-Mock-Hang", "1"}},
		{"latency", []string{"X-Mock-Latency", "1h"}},
		{"slow stream", []string{"X-Mock-Tps", "5", "X-Mock-Tokens", "1000"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Stats().Disconnects
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() {
				defer close(done)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/chat/completions", strings.NewReader(streamBody(true)))
				for i := 0; i+1 < len(tt.headers); i += 2 {
					req.Header.Set(tt.headers[i], tt.headers[i+1])
				}
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			if _, err := srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Active > 0 }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			cancelled := time.Now()
			cancel()
			st, err := srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Disconnects > before && s.Active == 0 })
			if err != nil {
				t.Fatalf("no disconnect seen: %+v", st)
			}
			if d := st.LastDisconnect.Sub(cancelled); d < 0 || d > time.Second {
				t.Errorf("disconnect seen %v after the cancel", d)
			}
			if st.ActiveStreams != 0 {
				t.Errorf("active streams = %d", st.ActiveStreams)
			}
			<-done
		})
	}
}

func TestCloseReleasesHangs(t *testing.T) {
	srv, base := mockupstream.Start(t, mockupstream.Config{HangRate: 1})
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Post(base+"/chat/completions", "application/json", strings.NewReader(hello))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if _, err := srv.Wait(waitCtx(t), func(s mockupstream.Stats) bool { return s.Active == 1 }); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	select {
	case <-errc:
	case <-time.After(2 * time.Second):
		t.Fatal("hanging request not released by Close")
	}
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	t.Cleanup(cancel)
	return ctx
}

type embeddingList struct {
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage usage `json:"usage"`
}

func TestEmbeddings(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{})
	embed := func(body string) (embeddingList, [][]float32) {
		t.Helper()
		resp := post(t, t.Context(), base+"/embeddings", body)
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		var l embeddingList
		decodeJSON(t, resp.Body, &l)
		var vecs [][]float32
		for i, d := range l.Data {
			if d.Index != i || d.Object != "embedding" {
				t.Errorf("data[%d] = index %d object %q", i, d.Index, d.Object)
			}
			var v []float32
			if err := json.Unmarshal(d.Embedding, &v); err != nil {
				var s string
				if err := json.Unmarshal(d.Embedding, &s); err != nil {
					t.Fatal(err)
				}
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j+4 <= len(raw); j += 4 {
					v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
				}
			}
			vecs = append(vecs, v)
		}
		return l, vecs
	}
	l, v := embed(`{"model":"e","input":["the cat sat","The cat sat!","stock prices fell"]}`)
	if l.Object != "list" || l.Model != "e" || len(v) != 3 || l.Usage != (usage{9, 0, 9}) {
		t.Fatalf("list = %+v", l)
	}
	for i, x := range v {
		if len(x) != mockupstream.DefaultEmbeddingDimensions {
			t.Fatalf("vector %d has %d dims", i, len(x))
		}
		if n := dot(x, x); math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d norm² %v", i, n)
		}
	}
	if s := dot(v[0], v[1]); s < 0.999 {
		t.Errorf("case and punctuation changed the vector: cos %v", s)
	}
	if s := dot(v[0], v[2]); s > 0.5 {
		t.Errorf("unrelated texts too close: cos %v", s)
	}
	_, v2 := embed(`{"model":"e","input":"the cat sat","dimensions":16}`)
	if len(v2) != 1 || len(v2[0]) != 16 {
		t.Fatalf("dimensions not honoured: %d", len(v2[0]))
	}
	_, v3 := embed(`{"model":"e","input":"the cat sat","dimensions":16,"encoding_format":"base64"}`)
	if len(v3[0]) != 16 || dot(v2[0], v3[0]) < 0.9999 {
		t.Errorf("base64 vector differs: %v vs %v", v3[0], v2[0])
	}
	_, v4 := embed(`{"model":"e","input":[[1,2,3],[4]]}`)
	if len(v4) != 2 {
		t.Errorf("token arrays: %d vectors", len(v4))
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestModelsAndRouting(t *testing.T) {
	srv, base := mockupstream.Start(t, mockupstream.Config{Models: []string{"a", "b"}})
	resp, err := http.Get(base + "/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Object string `json:"object"`
		Data   []struct {
			ID, Object, OwnedBy string
			Created             int64
		} `json:"data"`
	}
	decodeJSON(t, resp.Body, &l)
	if l.Object != "list" || len(l.Data) != 2 || l.Data[0].ID != "a" || l.Data[1].Object != "model" || l.Data[0].Created == 0 {
		t.Errorf("models = %+v", l)
	}
	resp2 := post(t, t.Context(), base+"/completions", `{}`)
	var e errorBody
	decodeJSON(t, resp2.Body, &e)
	if resp2.StatusCode != 404 || !strings.Contains(e.Error.Message, "Invalid URL") {
		t.Errorf("unknown path: %d %+v", resp2.StatusCode, e)
	}
	if st := srv.Stats(); st.Models != 1 || st.Requests != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestLastRequest(t *testing.T) {
	srv, base := mockupstream.Start(t, mockupstream.Config{})
	if _, ok := srv.LastRequest(); ok {
		t.Error("a last request before any")
	}
	post(t, t.Context(), base+"/chat/completions", hello, "X-Custom", "v1")
	r, ok := srv.LastRequest()
	if !ok || r.Method != "POST" || r.Path != "/v1/chat/completions" || r.Header.Get("X-Custom") != "v1" || string(r.Body) != hello {
		t.Errorf("last request = %+v", r)
	}
}

func TestVectorNeverNaN(t *testing.T) {
	v := make([]float32, 8)
	for _, s := range []string{"", " ", "!!!", "a", strings.Repeat("x ", 1000)} {
		mockupstream.Vector(v, s)
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%q: %v", s, v)
			}
		}
	}
}

// discard is a ResponseWriter that keeps nothing, for benchmarks.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

func benchmarkServe(b *testing.B, cfg mockupstream.Config, path, body string) {
	srv := mockupstream.New(cfg)
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "http://mock"+path, strings.NewReader(body))
		req.ContentLength = int64(len(body))
		srv.ServeHTTP(&discard{h: http.Header{}}, req)
	}
}

func BenchmarkChatStream(b *testing.B) {
	benchmarkServe(b, mockupstream.Config{Reply: strings.Repeat("word ", 100)}, "/v1/chat/completions", streamBody(true))
}

func BenchmarkChatStreamEcho(b *testing.B) {
	benchmarkServe(b, mockupstream.Config{CompletionTokens: 100}, "/v1/chat/completions", streamBody(true))
}

func BenchmarkChatCompletion(b *testing.B) {
	benchmarkServe(b, mockupstream.Config{Reply: strings.Repeat("word ", 100)}, "/v1/chat/completions", hello)
}

func BenchmarkEmbeddings(b *testing.B) {
	benchmarkServe(b, mockupstream.Config{}, "/v1/embeddings", `{"model":"e","input":["the cat sat on the mat","a dog"]}`)
}

func TestDecide(t *testing.T) {
	_, base := mockupstream.Start(t, mockupstream.Config{Decide: func(body []byte) (mockupstream.Step, bool) {
		if bytes.Contains(body, []byte("call me")) {
			return mockupstream.Step{ToolCalls: []mockupstream.ToolCall{{ID: "call_9", Name: "ring", Arguments: `{"n":1}`}}}, true
		}
		return mockupstream.Step{}, false
	}})
	var c completion
	decodeJSON(t, post(t, t.Context(), base+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"please call me"}]}`).Body, &c)
	if m := c.Choices[0].Message; len(m.ToolCalls) != 1 || m.ToolCalls[0].ID != "call_9" || m.ToolCalls[0].Function.Name != "ring" {
		t.Errorf("decided answer = %+v", c.Choices[0])
	}
	var plain completion
	decodeJSON(t, post(t, t.Context(), base+"/chat/completions", hello).Body, &plain)
	if m := plain.Choices[0].Message; len(m.ToolCalls) != 0 || m.Content == nil || *m.Content == "" {
		t.Errorf("undecided answer = %+v", plain.Choices[0])
	}
}
