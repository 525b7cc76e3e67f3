package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// benchTenant is a tenant with the knowledge base on, chatting with a model
// of the mock upstream at url and embedding with the builtin embedder.
func benchTenant(url string) string {
	sum := sha256.Sum256([]byte("ck_dev_acme"))
	return fmt.Sprintf(`{
  "id": "acme", "name": "Acme",
  "keys": [{"id": "dev", "hash": "sha256:%s", "scopes": ["chat", "search", "documents:read", "documents:write"], "dev": true}],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY", "timeout": "5s"}},
  "models": {"chat": {"model": "mock/gpt-test"}, "embedding": {"model": "builtin/hash-384"}},
  "rag": {"enabled": true, "chunkTokens": 64, "overlapTokens": 8, "topK": 4, "maxTopK": 10},
}`, hex.EncodeToString(sum[:]), url)
}

// newBenchApp builds a server (not listening: its handler is driven in
// process) for acme on a mock upstream, with one document, and the
// environment env for its tracing.
func newBenchApp(b *testing.B, env map[string]string) http.Handler {
	b.Helper()
	_, url := mockupstream.Start(b, mockupstream.Config{APIKey: "mock-secret"})
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "acme"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acme", tenant.FileName), []byte(benchTenant(url)), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Addr, cfg.MetricsAddr = "127.0.0.1:0", config.MetricsOff
	cfg.DataDir, cfg.TenantsDir = b.TempDir(), dir
	cfg.ShutdownTimeout = 5 * time.Second
	lookup := func(k string) (string, bool) {
		if k == "MOCK_KEY" {
			return "mock-secret", true
		}
		v, ok := env[k]
		return v, ok
	}
	a, err := app.New(context.Background(), cfg, app.Deps{LookupEnv: lookup})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	h := a.Handler()
	doc := `{"id":"handbook","title":"Travel handbook","markdown":"# Travel\n\nHotel costs are refunded up to 180 euros per night. Trains are booked in second class."}`
	if rec := serveBench(h, "POST", "/documents", doc); rec.Code/100 != 2 {
		b.Fatalf("add document: %d %s", rec.Code, rec.Body)
	}
	return h
}

func serveBench(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer ck_dev_acme")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// BenchmarkRequestPath measures a chat turn (retrieval, then a model of
// the mock upstream) and a retrieval, driven in process, with tracing as
// the environment sets it: off (no OTLP endpoint), and exporting to a
// loopback collector that accepts and drops everything.
//
//	go test ./internal/app -run '^$' -bench RequestPath -benchtime 2000x -count 6
func BenchmarkRequestPath(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"tracing=off", nil},
		{"tracing=otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL}},
	} {
		h := newBenchApp(b, tc.env)
		for _, route := range []struct{ name, path, body string }{
			{"chat", "/chat", `{"message":"How much are hotel costs refunded per night?"}`},
			{"retrieve", "/retrieve", `{"query":"hotel costs per night"}`},
		} {
			b.Run(tc.name+"/"+route.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if rec := serveBench(h, "POST", route.path, route.body); rec.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", route.path, rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
