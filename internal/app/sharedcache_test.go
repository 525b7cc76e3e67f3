package app_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/store/postgres/pgtest"
)

// TestSharedCache runs two replicas on one PostgreSQL and one Redis: the
// tenant cache is shared (an answer cached through one is a hit through
// the other, for completions and for search), and an ingest through one
// invalidates the search answers of both.
func TestSharedCache(t *testing.T) {
	dsn := pgtest.DSN(t)
	redisURL, prefix := testRedis(t)
	mock, url := mockupstream.Start(t, mockupstream.Config{APIKey: "mock-secret", Reply: "cached answer"})
	dir := t.TempDir()
	models := `{"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-384"}, "allow": ["mock/m"]}`
	writeTenant(t, dir, "acme", searchTenant("acme", models, fmt.Sprintf(`"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY"}`, url)))
	writeTenant(t, dir, "globex", searchTenant("globex", "", ""))
	deps := app.Deps{LookupEnv: func(k string) (string, bool) { return "mock-secret", k == "MOCK_KEY" }}
	var replicas []*started
	for range 2 {
		cfg := testConfig(t, dir)
		cfg.Store, cfg.Redis, cfg.RedisPrefix = dsn, redisURL, prefix
		replicas = append(replicas, startDeps(t, cfg, deps))
	}
	a, b := replicas[0], replicas[1]

	t.Run("completions", func(t *testing.T) {
		body := `{"model":"mock/m","messages":[{"role":"user","content":"what is shared?"}]}`
		postAs(t, a, "ck_dev_acme", "/v1/chat/completions", body)
		postAs(t, b, "ck_dev_acme", "/v1/chat/completions", body)
		if n := mock.Stats().Chat; n != 1 {
			t.Errorf("upstream calls = %d, want 1: the second replica answers from the shared cache", n)
		}
		// Another tenant's identical request through either replica misses.
		postAs(t, b, "ck_dev_globex", "/v1/chat/completions", `{"model":"builtin/extractive","messages":[{"role":"user","content":"what is shared?"}]}`)
		if n := mock.Stats().Chat; n != 1 {
			t.Errorf("upstream calls = %d after globex's request", n)
		}
		// The entries are in Redis, in each tenant's namespace.
		o, err := goredis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb := goredis.NewClient(o)
		defer rdb.Close()
		for _, id := range []string{"acme", "globex"} {
			keys, err := rdb.Keys(t.Context(), prefix+"{"+id+"}:kv:gw:cmpl:*").Result()
			if err != nil || len(keys) != 1 {
				t.Errorf("%s's completion entries in Redis: %q %v, want one", id, keys, err)
			}
		}
	})

	t.Run("search", func(t *testing.T) {
		ingestDoc(t, a, "acme", "handbook", "Travel handbook", handbook)
		q := `{"query":"How much are hotel costs refunded per night?"}`
		var first api.SearchResult
		eventually(t, 5*time.Second, "the handbook on replica b", func() error {
			_, first, _ = search(t, b, "acme", q)
			if len(first.Sources) == 0 {
				return fmt.Errorf("no sources yet")
			}
			return nil
		})
		if first.Cached {
			t.Fatal("the first search was served from the cache")
		}
		if _, again, _ := search(t, a, "acme", q); !again.Cached || again.Answer != first.Answer {
			t.Errorf("replica a: cached %v answer %q, want the answer b cached (%q)", again.Cached, again.Answer, first.Answer)
		}
		if _, r, _ := search(t, a, "globex", q); r.Cached || len(r.Sources) != 0 {
			t.Errorf("globex: cached %v, %d sources", r.Cached, len(r.Sources))
		}
		// An ingest through a invalidates on b: b answers afresh, with the
		// new document, once it has caught up with the corpus version.
		ingestDoc(t, a, "acme", "hotels", "Hotel policy", "# Hotel policy\n\nHotel costs in Tokyo are refunded up to 250 euros per night.\n")
		eventually(t, 5*time.Second, "the new document on replica b", func() error {
			_, r, _ := search(t, b, "acme", q)
			if !slices.ContainsFunc(r.Sources, func(s api.Source) bool { return s.DocID == "hotels" }) {
				return fmt.Errorf("cached %v, sources %d", r.Cached, len(r.Sources))
			}
			return nil
		})
		if _, r, _ := search(t, a, "acme", q); !r.Cached || !slices.ContainsFunc(r.Sources, func(s api.Source) bool { return s.DocID == "hotels" }) {
			t.Errorf("replica a after b answered the new version: cached %v, %d sources", r.Cached, len(r.Sources))
		}
	})
}
