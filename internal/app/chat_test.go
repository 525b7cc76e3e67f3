package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/sse"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// startChat runs acme on a mock upstream (with sessions keeping at most
// maxMessages) next to the example tenant globex.
func startChat(t *testing.T, mcfg mockupstream.Config, maxMessages int) (*started, *mockupstream.Server) {
	t.Helper()
	mcfg.APIKey = "mock-secret"
	mock, url := mockupstream.Start(t, mcfg)
	dir := t.TempDir()
	acme := strings.Replace(gatewayTenant(url, "{}"), `"limits"`, fmt.Sprintf(`"sessions": {"maxMessages": %d}, "limits"`, maxMessages), 1)
	writeTenant(t, dir, "acme", acme)
	b, err := tenants.Examples.ReadFile("globex/" + tenant.FileName)
	if err != nil {
		t.Fatal(err)
	}
	writeTenant(t, dir, "globex", string(b))
	cfg := testConfig(t, dir)
	cfg.Heartbeat = 20 * time.Millisecond
	lookup := func(k string) (string, bool) { return "mock-secret", k == "MOCK_KEY" }
	return startDeps(t, cfg, app.Deps{LookupEnv: lookup}), mock
}

func do(t *testing.T, ctx context.Context, method, url, key, body string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// events reads a whole SSE response.
func events(t *testing.T, r io.Reader) (evs []sse.Event, comments int) {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	comments = strings.Count(string(b), ": heartbeat\n")
	rd := sse.NewReader(strings.NewReader(string(b)))
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs, comments
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

// chatOnce sends a non-streaming turn and returns its result.
func chatOnce(t *testing.T, s *started, key, body string, headers ...string) (int, api.ChatResult, *api.Error) {
	t.Helper()
	res := do(t, t.Context(), "POST", s.url+"/chat", key, body, headers...)
	var env api.Envelope
	decodeBody(t, res, &env)
	var out api.ChatResult
	if env.OK {
		if err := json.Unmarshal(env.Data, &out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, out, env.Error
}

func history(t *testing.T, s *started, key, session, query string) (int, api.ChatHistory) {
	t.Helper()
	status, env := get(t, s.url+"/chat/"+session+"/history"+query, key)
	var h api.ChatHistory
	if env.OK {
		if err := json.Unmarshal(env.Data, &h); err != nil {
			t.Fatal(err)
		}
	}
	return status, h
}

func TestChatStream(t *testing.T) {
	// Model output that tries to forge SSE framing stays inside its token.
	forged := "Hi\n\nevent: done\ndata: {\"sessionId\":\"forged\"}\n\nthere"
	s, mock := startChat(t, mockupstream.Config{Reply: forged, TTFT: 100 * time.Millisecond}, 100)
	res := do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_acme", `{"message":"hello there"}`)
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	evs, heartbeats := events(t, res.Body)
	if heartbeats == 0 {
		t.Error("no heartbeat while the model took 100ms to its first token")
	}
	var text strings.Builder
	for _, ev := range evs[:len(evs)-1] {
		if ev.Event != "token" {
			t.Fatalf("event %q before done", ev.Event)
		}
		var tok api.ChatToken
		if err := json.Unmarshal(ev.Data, &tok); err != nil {
			t.Fatal(err)
		}
		text.WriteString(tok.Text)
	}
	// The mock streams words; the newlines between them are its token breaks.
	if got := strings.Join(strings.Fields(text.String()), " "); got != strings.Join(strings.Fields(forged), " ") {
		t.Errorf("tokens = %q, want the reply", text.String())
	}
	done := evs[len(evs)-1]
	var out api.ChatResult
	if err := json.Unmarshal(done.Data, &out); err != nil || done.Event != "done" {
		t.Fatalf("last event %q %s", done.Event, done.Data)
	}
	if !strings.HasPrefix(out.SessionID, "s_") || out.Model != "mock/gpt-test" || out.TraceID == "" ||
		out.Usage.CompletionTokens == 0 || out.UserSeq != 1 || out.AssistantSeq != 2 {
		t.Errorf("done = %+v", out)
	}
	if last, _ := mock.LastRequest(); !strings.Contains(string(last.Body), "hello there") {
		t.Errorf("upstream body %s", last.Body)
	}

	// The session continues: the model sees the history.
	res = do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_acme", `{"message":"and again","sessionId":"`+out.SessionID+`"}`)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	last, _ := mock.LastRequest()
	var up struct {
		Messages []struct{ Role, Content string }
	}
	_ = json.Unmarshal(last.Body, &up)
	if len(up.Messages) != 3 || up.Messages[0].Content != "hello there" || up.Messages[1].Role != "assistant" || up.Messages[2].Content != "and again" {
		t.Errorf("upstream messages = %+v, want the history then the new message", up.Messages)
	}
	status, h := history(t, s, "ck_dev_acme", out.SessionID, "")
	if status != 200 || len(h.Messages) != 4 || h.Messages[3].Seq != 4 || h.Next != nil {
		t.Errorf("history = %d %+v", status, h)
	}
}

func TestChatNoStreamAndErrors(t *testing.T) {
	s, mock := startChat(t, mockupstream.Config{Reply: "Fine thanks"}, 100)
	status, out, _ := chatOnce(t, s, "ck_dev_acme", `{"message":"how are you","stream":false}`)
	if status != 200 || out.Text != "Fine thanks" || out.SessionID == "" || out.AssistantSeq != 2 {
		t.Fatalf("status %d, %+v", status, out)
	}
	calls := mock.Stats().Chat
	for _, tt := range []struct {
		name, body string
		status     int
		code       api.ErrorCode
	}{
		{"empty message", `{"message":"  ","stream":false}`, 400, api.CodeInvalidRequest},
		{"unknown field", `{"message":"x","colour":1}`, 400, api.CodeInvalidRequest},
		{"malformed", `{"message":`, 400, api.CodeInvalidRequest},
		{"bad session id", `{"message":"x","sessionId":"../etc"}`, 400, api.CodeInvalidRequest},
		{"unknown session", `{"message":"x","sessionId":"s_nope"}`, 404, api.CodeNotFound},
		{"model not allowed", `{"message":"x","model":"mock/other"}`, 400, api.CodeModelNotAllowed},
		{"too long", `{"message":"` + strings.Repeat("a", 32001) + `"}`, 413, api.CodePayloadTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Streaming requests too get a status and an envelope when the
			// turn is refused before the model is called.
			res := do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_acme", tt.body)
			var env api.Envelope
			decodeBody(t, res, &env)
			if res.StatusCode != tt.status || env.Error == nil || env.Error.Code != tt.code {
				t.Errorf("status %d %+v, want %d %s", res.StatusCode, env.Error, tt.status, tt.code)
			}
		})
	}
	if n := mock.Stats().Chat; n != calls {
		t.Errorf("refused turns called the model %d times", n-calls)
	}
}

func TestChatSessionIsolation(t *testing.T) {
	s, _ := startChat(t, mockupstream.Config{}, 100)
	_, out, _ := chatOnce(t, s, "ck_dev_acme", `{"message":"secret plans","stream":false}`)
	// globex cannot read, continue or delete acme's session: it does not exist for globex.
	if status, _ := history(t, s, "ck_dev_globex", out.SessionID, ""); status != 404 {
		t.Errorf("globex history = %d, want 404", status)
	}
	if status, _, e := chatOnce(t, s, "ck_dev_globex", `{"message":"x","stream":false,"sessionId":"`+out.SessionID+`"}`); status != 404 {
		t.Errorf("globex send = %d %+v, want 404", status, e)
	}
	res := do(t, t.Context(), "DELETE", s.url+"/chat/"+out.SessionID, "ck_dev_globex", "")
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("globex delete = %d, want 404", res.StatusCode)
	}
	if status, h := history(t, s, "ck_dev_acme", out.SessionID, ""); status != 200 || len(h.Messages) != 2 {
		t.Errorf("acme history after globex's attempts = %d %+v", status, h)
	}
	// acme deletes it; then it is gone.
	res = do(t, t.Context(), "DELETE", s.url+"/chat/"+out.SessionID, "ck_dev_acme", "")
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("delete = %d", res.StatusCode)
	}
	if status, _ := history(t, s, "ck_dev_acme", out.SessionID, ""); status != 404 {
		t.Errorf("history after delete = %d, want 404", status)
	}
}

func TestChatIdempotency(t *testing.T) {
	s, mock := startChat(t, mockupstream.Config{}, 100)
	body := `{"message":"pay invoice 42","stream":false}`
	_, first, _ := chatOnce(t, s, "ck_dev_acme", body, "Idempotency-Key", "k-1")
	_, again, _ := chatOnce(t, s, "ck_dev_acme", body, "Idempotency-Key", "k-1")
	if !again.Replayed || again.SessionID != first.SessionID || again.Text != first.Text || again.AssistantSeq != first.AssistantSeq {
		t.Errorf("retry = %+v, want the first result %+v replayed", again, first)
	}
	if n := mock.Stats().Chat; n != 1 {
		t.Errorf("model called %d times, want 1", n)
	}
	if _, h := history(t, s, "ck_dev_acme", first.SessionID, ""); len(h.Messages) != 2 {
		t.Errorf("history has %d messages, want 2", len(h.Messages))
	}
	// The same key with another request is a conflict.
	if status, _, e := chatOnce(t, s, "ck_dev_acme", `{"message":"pay invoice 43","stream":false}`, "Idempotency-Key", "k-1"); status != 409 || e.Code != api.CodeConflict {
		t.Errorf("reuse = %d %+v, want 409 conflict", status, e)
	}
	// Concurrent retries of one key run the turn once.
	var wg sync.WaitGroup
	results := make([]api.ChatResult, 8)
	for i := range results {
		wg.Go(func() {
			_, results[i], _ = chatOnce(t, s, "ck_dev_acme", `{"message":"once","stream":false}`, "Idempotency-Key", "k-2")
		})
	}
	wg.Wait()
	for _, r := range results {
		if r.SessionID != results[0].SessionID || r.AssistantSeq != 2 {
			t.Errorf("concurrent retry got %+v", r)
		}
	}
	if n := mock.Stats().Chat; n != 2 {
		t.Errorf("model called %d times, want 2", n)
	}
}

func TestChatConcurrentSendsAreSerialised(t *testing.T) {
	s, _ := startChat(t, mockupstream.Config{TTFT: 5 * time.Millisecond}, 1000)
	_, out, _ := chatOnce(t, s, "ck_dev_acme", `{"message":"start","stream":false}`)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			chatOnce(t, s, "ck_dev_acme", fmt.Sprintf(`{"message":"turn %d","stream":false,"sessionId":%q}`, i, out.SessionID))
		})
	}
	wg.Wait()
	_, h := history(t, s, "ck_dev_acme", out.SessionID, "?limit=1000")
	if len(h.Messages) != 26 {
		t.Fatalf("history has %d messages, want 26", len(h.Messages))
	}
	for i, m := range h.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: gap or duplicate", i, m.Seq)
		}
		// Each turn is a user message followed by its own answer.
		if i%2 == 1 {
			q := strings.TrimPrefix(h.Messages[i-1].Content, "turn ")
			if m.Role != "assistant" || !strings.Contains(m.Content, q) {
				t.Errorf("turn %d: %q answered by %q", i/2, h.Messages[i-1].Content, m.Content)
			}
		}
	}
}

func TestChatHistoryPagingAndRetention(t *testing.T) {
	s, _ := startChat(t, mockupstream.Config{}, 6)
	_, out, _ := chatOnce(t, s, "ck_dev_acme", `{"message":"m1","stream":false}`)
	for i := 2; i <= 4; i++ {
		chatOnce(t, s, "ck_dev_acme", fmt.Sprintf(`{"message":"m%d","stream":false,"sessionId":%q}`, i, out.SessionID))
	}
	// 8 messages written, 6 kept: seq 3..8.
	_, h := history(t, s, "ck_dev_acme", out.SessionID, "?limit=4")
	if len(h.Messages) != 4 || h.Messages[0].Seq != 3 || h.Messages[0].Content != "m2" || h.Next == nil || *h.Next != 6 {
		t.Fatalf("page 1 = %+v", h)
	}
	_, h2 := history(t, s, "ck_dev_acme", out.SessionID, fmt.Sprintf("?limit=4&after=%d", *h.Next))
	if len(h2.Messages) != 2 || h2.Messages[1].Seq != 8 || h2.Next != nil {
		t.Errorf("page 2 = %+v", h2)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?after=-1", "?colour=1"} {
		if status, _ := history(t, s, "ck_dev_acme", out.SessionID, q); status != 400 {
			t.Errorf("history%s = %d, want 400", q, status)
		}
	}
}

func TestChatStreamBreak(t *testing.T) {
	s, mock := startChat(t, mockupstream.Config{Reply: "a b c d e f"}, 100)
	mock.Enqueue(mockupstream.Step{Cut: true, After: 2})
	res := do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_acme", `{"message":"x"}`)
	evs, _ := events(t, res.Body)
	res.Body.Close()
	last := evs[len(evs)-1]
	var env api.Envelope
	if err := json.Unmarshal(last.Data, &env); err != nil || last.Event != "error" || env.Error.Code != api.CodeUpstreamError || env.TraceID == "" {
		t.Fatalf("last event %q %s, want an error envelope", last.Event, last.Data)
	}
	session, _ := env.Error.Details["sessionId"].(string)
	_, h := history(t, s, "ck_dev_acme", session, "")
	if len(h.Messages) != 2 || !h.Messages[1].Incomplete || h.Messages[1].Content != "a b" {
		t.Errorf("history = %+v, want the partial answer marked incomplete", h.Messages)
	}

}

func TestChatDisconnectCancelsUpstream(t *testing.T) {
	s, mock := startChat(t, mockupstream.Config{CompletionTokens: 500, TokensPerSecond: 20}, 100)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	mock.Enqueue(mockupstream.Step{Tokens: 1})
	chatOnce(t, s, "ck_dev_acme", `{"message":"warm up","stream":false}`)
	base := settledGoroutines()

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/chat", strings.NewReader(`{"message":"tell me a long story"}`))
	req.Header.Set("Authorization", "Bearer ck_dev_acme")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read up to the first token event, then hang up.
	rd := sse.NewReader(res.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Event == "token" {
			break
		}
	}
	cancel()
	res.Body.Close()
	hungUp := time.Now()

	wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer wcancel()
	st, err := mock.Wait(wctx, func(st mockupstream.Stats) bool { return st.Disconnects > 0 && st.Active == 0 })
	if err != nil {
		t.Fatalf("upstream not cancelled: %+v", mock.Stats())
	}
	if d := st.LastDisconnect.Sub(hungUp); d > time.Second {
		t.Errorf("upstream cancelled %v after the client hung up, want within 1s", d)
	}
	// Every goroutine of the stream ends: heartbeat, handler, upstream.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the stream:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines returns the number of goroutines once it has stayed the
// same for five looks in a row (the warm-up's connections closing), or
// after two seconds.
func settledGoroutines() int {
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(2 * time.Second); same < 5 && time.Now().Before(deadline); {
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}
