package app_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// startCached runs acme and initech, both with the cache on, both on the
// same mock upstream.
func startCached(t *testing.T) (*started, *mockupstream.Server) {
	t.Helper()
	mock, url := mockupstream.Start(t, mockupstream.Config{APIKey: "mock-secret", Reply: "cached answer"})
	dir := t.TempDir()
	for _, id := range []string{"acme", "initech"} {
		writeTenant(t, dir, id, fmt.Sprintf(`{
  "id": %q, "name": "x",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat", "usage:read"], "dev": true}],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY"}},
  "models": {"chat": {"model": "mock/m"}, "embedding": {"model": "mock/emb"}},
  "cache": {"enabled": true, "ttl": "1m"},
}`, id, keyHash("ck_dev_"+id), url))
	}
	cfg := testConfig(t, dir)
	return startDeps(t, cfg, app.Deps{LookupEnv: func(k string) (string, bool) { return "mock-secret", k == "MOCK_KEY" }}), mock
}

func postAs(t *testing.T, s *started, key, path, body string) string {
	t.Helper()
	res := do(t, t.Context(), "POST", s.url+path, key, body)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s = %d %s", path, res.StatusCode, b)
	}
	return string(b)
}

func TestCompletionCache(t *testing.T) {
	s, mock := startCached(t)
	body := `{"model":"mock/m","messages":[{"role":"user","content":"what is cached?"}]}`
	first := postAs(t, s, "ck_dev_acme", "/v1/chat/completions", body)
	second := postAs(t, s, "ck_dev_acme", "/v1/chat/completions", body)
	if n := mock.Stats().Chat; n != 1 {
		t.Errorf("upstream calls = %d, want 1: the second answer comes from the cache", n)
	}
	if !strings.Contains(second, `"content":"cached answer"`) || !strings.Contains(first, `"content":"cached answer"`) {
		t.Errorf("answers %s / %s", first, second)
	}
	// A streamed request for the same thing replays the cached answer.
	stream := postAs(t, s, "ck_dev_acme", "/v1/chat/completions", strings.Replace(body, `{"model"`, `{"stream":true,"model"`, 1))
	if !strings.Contains(stream, "cached answer") || !strings.HasSuffix(strings.TrimSpace(stream), "data: [DONE]") {
		t.Errorf("streamed replay = %s", stream)
	}
	// Another request, another tenant: misses.
	postAs(t, s, "ck_dev_acme", "/v1/chat/completions", strings.Replace(body, "cached?", "fresh?", 1))
	postAs(t, s, "ck_dev_initech", "/v1/chat/completions", body)
	if n := mock.Stats().Chat; n != 3 {
		t.Errorf("upstream calls = %d, want 3: another request and another tenant miss", n)
	}
	// Sessions are never served from the cache.
	chatOnce(t, s, "ck_dev_acme", `{"message":"what is cached?","stream":false}`)
	chatOnce(t, s, "ck_dev_acme", `{"message":"what is cached?","stream":false}`)
	if n := mock.Stats().Chat; n != 5 {
		t.Errorf("upstream calls = %d, want 5: chat turns bypass the cache", n)
	}
	s.app.FlushUsage()
	status, env := get(t, s.url+"/usage", "ck_dev_acme")
	if status != 200 || !strings.Contains(string(env.Data), `"cacheHits":2`) {
		t.Errorf("usage = %s, want 2 cache hits", env.Data)
	}
	if m := metrics(t, s); !strings.Contains(m, `crispy_cache_requests_total{kind="completion",result="hit",tenant="acme"} 2`) {
		t.Errorf("metrics lack the hits:\n%s", grep(m, "crispy_cache"))
	}
}

func TestEmbeddingCache(t *testing.T) {
	s, mock := startCached(t)
	body := `{"model":"mock/emb","input":["alpha","beta"]}`
	first := postAs(t, s, "ck_dev_acme", "/v1/embeddings", body)
	second := postAs(t, s, "ck_dev_acme", "/v1/embeddings", body)
	if n := mock.Stats().Embeddings; n != 1 {
		t.Errorf("upstream embedding calls = %d, want 1", n)
	}
	vec := func(b string) string { return b[strings.Index(b, `"embedding":`):strings.Index(b, `"usage"`)] }
	if vec(first) != vec(second) {
		t.Error("cached vectors differ from the provider's")
	}
	// A batch with one new input goes to the provider whole.
	postAs(t, s, "ck_dev_acme", "/v1/embeddings", `{"model":"mock/emb","input":["alpha","gamma"]}`)
	postAs(t, s, "ck_dev_initech", "/v1/embeddings", body)
	if n := mock.Stats().Embeddings; n != 3 {
		t.Errorf("upstream embedding calls = %d, want 3", n)
	}
}

func metrics(t *testing.T, s *started) string {
	t.Helper()
	return scrape(t, s)
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
