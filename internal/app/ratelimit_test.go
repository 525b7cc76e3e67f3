package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

func keyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(h[:])
}

// startLimited runs tenant "lim" with two keys and the given limits.rate.
func startLimited(t *testing.T, rate string, trusted ...string) (*started, *mockupstream.Server) {
	t.Helper()
	mock, url := mockupstream.Start(t, mockupstream.Config{APIKey: "mock-secret", CompletionTokens: 200, TokensPerSecond: 100})
	dir := t.TempDir()
	writeTenant(t, dir, "lim", fmt.Sprintf(`{
  "id": "lim", "name": "Limited",
  "keys": [
    {"id": "one", "hash": %q, "scopes": ["chat"], "dev": true},
    {"id": "two", "hash": %q, "scopes": ["chat"], "dev": true},
  ],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY"}},
  "models": {"chat": {"model": "mock/m"}},
  "limits": {"rate": %s},
}`, keyHash("ck_dev_one"), keyHash("ck_dev_two"), url, rate))
	cfg := testConfig(t, dir)
	cfg.TrustedProxies = trusted
	return startDeps(t, cfg, app.Deps{LookupEnv: func(k string) (string, bool) { return "mock-secret", k == "MOCK_KEY" }}), mock
}

func healthStatus(t *testing.T, s *started, key string, headers ...string) (*http.Response, api.Envelope) {
	t.Helper()
	res := do(t, t.Context(), "GET", s.url+"/health", key, "", headers...)
	var env api.Envelope
	decodeBody(t, res, &env)
	return res, env
}

func TestRateLimitPerKey(t *testing.T) {
	s, _ := startLimited(t, `{"key": {"requests": 3, "per": "1m"}}`)
	for i := range 3 {
		res, _ := healthStatus(t, s, "ck_dev_one")
		if res.StatusCode != 200 {
			t.Fatalf("request %d = %d", i, res.StatusCode)
		}
		want := fmt.Sprintf(`"key";r=%d`, 2-i)
		if got := res.Header.Get("RateLimit"); !strings.HasPrefix(got, want) || res.Header.Get("RateLimit-Policy") != `"key";q=3;w=60` {
			t.Errorf("request %d: RateLimit %q, RateLimit-Policy %q", i, got, res.Header.Get("RateLimit-Policy"))
		}
	}
	res, env := healthStatus(t, s, "ck_dev_one")
	if res.StatusCode != 429 || env.Error == nil || env.Error.Code != api.CodeRateLimited || env.TraceID == "" || env.Error.Details["limit"] != "key" {
		t.Fatalf("4th request = %d %+v", res.StatusCode, env)
	}
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); ra < 1 || ra > 20 {
		t.Errorf("Retry-After = %q, want about 20 s (one request every 20 s)", res.Header.Get("Retry-After"))
	}
	// The other key has its own bucket.
	if res, _ := healthStatus(t, s, "ck_dev_two"); res.StatusCode != 200 {
		t.Errorf("second key = %d, want 200", res.StatusCode)
	}
}

func TestRateLimitExactUnderConcurrency(t *testing.T) {
	s, _ := startLimited(t, `{"tenant": {"requests": 50, "per": "1h", "burst": 50}}`)
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			key := "ck_dev_one"
			if i%2 == 1 {
				key = "ck_dev_two"
			}
			res, _ := healthStatus(t, s, key)
			switch res.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				t.Errorf("status %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || limited.Load() != 150 {
		t.Errorf("admitted %d, limited %d; want exactly 50 admitted", ok.Load(), limited.Load())
	}
}

func TestRateLimitPerIP(t *testing.T) {
	rate := `{"ip": {"requests": 2, "per": "1h"}}`
	// Without trusted proxies, X-Forwarded-For is ignored: rotating it does
	// not buy new buckets.
	s, _ := startLimited(t, rate)
	codes := ""
	for i := range 4 {
		res, _ := healthStatus(t, s, "ck_dev_one", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		codes += strconv.Itoa(res.StatusCode) + " "
	}
	if codes != "200 200 429 429 " {
		t.Errorf("untrusted X-Forwarded-For: %s, want the peer's bucket", codes)
	}
	// Behind a trusted proxy, each client has its own bucket, and a forged
	// left-most entry does not change who the client is.
	s, _ = startLimited(t, rate, "127.0.0.1/32")
	codes = ""
	for i := range 3 {
		res, _ := healthStatus(t, s, "ck_dev_one", "X-Forwarded-For", fmt.Sprintf("198.51.100.%d, 203.0.113.7", i))
		codes += strconv.Itoa(res.StatusCode) + " "
	}
	if res, _ := healthStatus(t, s, "ck_dev_one", "X-Forwarded-For", "203.0.113.8"); res.StatusCode != 200 {
		t.Errorf("another client = %d, want 200", res.StatusCode)
	}
	if codes != "200 200 429 " {
		t.Errorf("trusted proxy: %s, want 203.0.113.7 limited after 2", codes)
	}
}

func TestConcurrentStreamCap(t *testing.T) {
	s, mock := startLimited(t, `{"concurrentStreams": 1}`)
	// One slow stream open...
	res := do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_one", `{"message":"long"}`)
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("first stream = %d", res.StatusCode)
	}
	// ...a second one is refused, on /chat and on /v1.
	for _, tt := range []struct{ path, body string }{
		{"/chat", `{"message":"x"}`},
		{"/v1/chat/completions", `{"model":"mock/m","stream":true,"messages":[{"role":"user","content":"x"}]}`},
	} {
		r2 := do(t, t.Context(), "POST", s.url+tt.path, "ck_dev_two", tt.body)
		b, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode != 429 || r2.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "rate_limited") {
			t.Errorf("%s: second stream = %d %s", tt.path, r2.StatusCode, b)
		}
	}
	// A non-streaming turn is not a stream.
	mock.Enqueue(mockupstream.Step{Tokens: 1})
	if status, _, e := chatOnce(t, s, "ck_dev_two", `{"message":"x","stream":false}`); status != 200 {
		t.Errorf("non-streaming = %d %+v", status, e)
	}
	// Once the first stream ends, a new one is admitted: its slot is freed
	// as its handler returns, just after the client reads its last byte.
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	mock.Enqueue(mockupstream.Step{Tokens: 1}) // a refused stream never reaches the upstream
	status := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		r3 := do(t, t.Context(), "POST", s.url+"/chat", "ck_dev_two", `{"message":"x"}`)
		io.Copy(io.Discard, r3.Body)
		r3.Body.Close()
		if status = r3.StatusCode; status != 429 {
			break
		}
	}
	if status != 200 {
		t.Errorf("stream after the first ended = %d", status)
	}
}
