package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/netproxy"
	"github.com/crispy-enigma/crispy/internal/store/postgres/pgtest"
)

// scaleTenant is acme on the builtin models with limits (a JSON object),
// for the tests of shared backends.
func scaleTenant(limits string) string {
	return fmt.Sprintf(`{
  "id": "acme", "name": "Acme",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat", "search", "documents:read", "documents:write", "usage:read"], "dev": true}],
  "models": {"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-64"}},
  "limits": %s,
}`, acmeDevHash, limits)
}

// scaleTenants writes acme with limits into a new tenants folder.
func scaleTenants(t *testing.T, limits string) string {
	t.Helper()
	dir := t.TempDir()
	writeTenant(t, dir, "acme", scaleTenant(limits))
	return dir
}

// getStatus returns the status of GET url with key and its Retry-After.
func getStatus(url, key string) (int, string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Retry-After"), nil
}

// chatTurn posts one buffered chat turn and returns its status, result,
// error and Retry-After.
func chatTurn(t *testing.T, base, key, body string) (int, api.ChatResult, *api.Error, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/chat", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var env api.Envelope
	decodeBody(t, res, &env)
	var out api.ChatResult
	if env.OK {
		if err := json.Unmarshal(env.Data, &out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, out, env.Error, res.Header.Get("Retry-After")
}

func TestPostgresAndRedis(t *testing.T) {
	cfg := testConfig(t, copyTenants(t))
	cfg.Store = pgtest.DSN(t)
	cfg.Redis, cfg.RedisPrefix = testRedis(t)
	s := start(t, cfg)

	status, env := get(t, s.url+"/health", "ck_dev_acme")
	var h api.Health
	if err := json.Unmarshal(env.Data, &h); err != nil || status != 200 {
		t.Fatalf("GET /health = %d %+v", status, env)
	}
	if h.Storage != (api.Status{OK: true, Backend: "postgres"}) || h.Redis == nil || *h.Redis != (api.Status{OK: true, Backend: "redis"}) {
		t.Errorf("health = %+v, redis %+v; want postgres and redis ok", h, h.Redis)
	}
	if status, _, err := getStatus(s.url+"/readyz", ""); err != nil || status != 200 {
		t.Fatalf("GET /readyz = %d %v", status, err)
	}
	status, out, e, _ := chatTurn(t, s.url, "ck_dev_acme", `{"message":"hello","stream":false}`)
	if status != 200 {
		t.Fatalf("chat = %d %+v", status, e)
	}
	status, out2, e, _ := chatTurn(t, s.url, "ck_dev_acme", `{"message":"again","stream":false,"sessionId":"`+out.SessionID+`"}`)
	if status != 200 || out2.UserSeq != 3 {
		t.Fatalf("second turn = %d %+v %+v", status, out2, e)
	}
	if _, hist := history(t, s, "ck_dev_acme", out.SessionID, ""); len(hist.Messages) != 4 {
		t.Errorf("history has %d messages, want 4", len(hist.Messages))
	}
	// The budget lives in Redis: the turns were counted there.
	if !strings.Contains(scrape(t, s), "crispy_redis_errors_total 0") {
		t.Errorf("crispy_redis_errors_total is not 0")
	}
}

// TestPostgresOutage cuts PostgreSQL off behind a proxy while turns are
// written: /readyz and tenant routes answer 503 with Retry-After within
// seconds, every acknowledged turn is in the database afterwards, and the
// server recovers when PostgreSQL is back, without a restart.
func TestPostgresOutage(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, err := parseHost(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := netproxy.Start(t, u)
	cfg := testConfig(t, scaleTenants(t, `{}`))
	cfg.Store = withHost(t, dsn, proxy.Addr())
	s := start(t, cfg)

	var (
		mu    sync.Mutex
		acked = map[string]int64{} // session -> last acknowledged user seq
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			session := ""
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"message":"writer %d turn %d","stream":false}`, w, i)
				if session != "" {
					body = fmt.Sprintf(`{"message":"writer %d turn %d","stream":false,"sessionId":%q}`, w, i, session)
				}
				status, out, e, retry := chatTurn(t, s.url, "ck_dev_acme", body)
				switch {
				case status == 200:
					session = out.SessionID
					mu.Lock()
					acked[session] = out.UserSeq
					mu.Unlock()
				case status == 503 && e != nil && e.Code == api.CodeUnavailable:
					if retry == "" {
						t.Errorf("503 without Retry-After: %+v", e)
					}
					time.Sleep(50 * time.Millisecond)
				default:
					t.Errorf("turn: %d %+v", status, e)
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	proxy.Cut()
	cut := time.Now()
	took := eventually(t, 5*time.Second, "/readyz 503", func() error {
		if status, _, err := getStatus(s.url+"/readyz", ""); err != nil || status != 503 {
			return fmt.Errorf("%d %v", status, err)
		}
		return nil
	})
	t.Logf("/readyz 503 %s after the cut", took.Round(time.Millisecond))
	status, retry, err := getStatus(s.url+"/documents", "ck_dev_acme")
	if err != nil || status != 503 || retry == "" {
		t.Errorf("GET /documents during the outage = %d Retry-After %q %v; want 503 with Retry-After", status, retry, err)
	}
	time.Sleep(time.Second)
	proxy.Restore()
	took = eventually(t, 10*time.Second, "/readyz 200", func() error {
		if status, _, err := getStatus(s.url+"/readyz", ""); err != nil || status != 200 {
			return fmt.Errorf("%d %v", status, err)
		}
		return nil
	})
	t.Logf("/readyz 200 %s after the restore (outage %s)", took.Round(time.Millisecond), time.Since(cut).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no turn was acknowledged")
	}
	for session, seq := range acked {
		// The last acknowledged turn is stored, question and answer (older
		// turns may be trimmed by sessions.maxMessages).
		status, h := history(t, s, "ck_dev_acme", session, fmt.Sprintf("?after=%d", seq-1))
		if status != 200 {
			t.Fatalf("history of %s = %d", session, status)
		}
		if len(h.Messages) < 2 || h.Messages[0].Seq != seq || h.Messages[1].Seq != seq+1 {
			t.Errorf("session %s: turn %d was acknowledged, but the history after it is %+v", session, seq, h.Messages)
		}
	}
}

// TestRedisOutage cuts Redis off behind a proxy: rate limits are held per
// replica (requests served within the tenant's limit from local buckets,
// refused past it, each fallback counted), budgets fail closed (503 with
// Retry-After), /health reports Redis down with 200, and all of it
// recovers when Redis is back.
func TestRedisOutage(t *testing.T) {
	ru, prefix := testRedis(t)
	host, err := parseHost(ru)
	if err != nil {
		t.Fatal(err)
	}
	proxy := netproxy.Start(t, host)
	cfg := testConfig(t, scaleTenants(t, `{"rate": {"tenant": {"requests": 100, "per": "1h", "burst": 100}}, "budget": {"tokensPerDay": 1000000}}`))
	cfg.Redis, cfg.RedisPrefix = withHost(t, ru, proxy.Addr()), prefix
	s := start(t, cfg)

	if status, _, _, _ := chatTurn(t, s.url, "ck_dev_acme", `{"message":"hello","stream":false}`); status != 200 {
		t.Fatalf("chat before the outage = %d", status)
	}
	proxy.Cut()
	// Rate limits: answered from this replica's buckets, counted.
	if status, _, err := getStatus(s.url+"/documents", "ck_dev_acme"); err != nil || status != 200 {
		t.Errorf("GET /documents with Redis down = %d %v; want 200 (within the limit, per replica)", status, err)
	}
	if m := scrape(t, s); strings.Contains(m, "crispy_rate_limit_errors_total 0") || strings.Contains(m, "crispy_redis_errors_total 0") {
		t.Errorf("limiter failures not counted:\n%s", grepLines(m, "errors_total"))
	}
	// Budgets: refused, with Retry-After.
	eventually(t, 5*time.Second, "budget 503", func() error {
		status, _, e, retry := chatTurn(t, s.url, "ck_dev_acme", `{"message":"hello","stream":false}`)
		if status != 503 || e == nil || e.Code != api.CodeUnavailable || e.Details["budget"] != "unavailable" || retry != "1" {
			return fmt.Errorf("chat = %d %+v Retry-After %q; want 503 unavailable, budget unavailable, Retry-After 1", status, e, retry)
		}
		return nil
	})
	status, env := get(t, s.url+"/health", "ck_dev_acme")
	var h api.Health
	_ = json.Unmarshal(env.Data, &h)
	if status != 200 || h.Redis == nil || h.Redis.OK {
		t.Errorf("GET /health with Redis down = %d %+v", status, h.Redis)
	}
	// The tenant's burst of 100 still holds on this replica: 120 requests
	// more, and the last are refused with 429.
	admitted, refused := 0, 0
	for range 120 {
		switch status, _, err := getStatus(s.url+"/documents", "ck_dev_acme"); {
		case err != nil:
			t.Fatal(err)
		case status == 200:
			admitted++
		case status == 429:
			refused++
		}
	}
	if refused == 0 || admitted > 100 {
		t.Errorf("with Redis down, 120 requests against a burst of 100: %d admitted, %d refused; want the limit held per replica", admitted, refused)
	}
	proxy.Restore()
	eventually(t, 5*time.Second, "chat after Redis is back", func() error {
		if status, _, e, _ := chatTurn(t, s.url, "ck_dev_acme", `{"message":"hello","stream":false}`); status != 200 {
			return fmt.Errorf("%d %+v", status, e)
		}
		return nil
	})
}

// parseHost returns the host:port of a URL.
func parseHost(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	return p.Host, nil
}

// TestSessionsAcrossReplicas runs two servers on one PostgreSQL: turns
// sent at once to one session on both never interleave (every user message
// is followed by its answer, seqs are contiguous), and one Idempotency-Key
// sent to both at once makes one turn, whose result both get.
func TestSessionsAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := scaleTenants(t, `{}`)
	var replicas []*started
	for range 2 {
		cfg := testConfig(t, dir)
		cfg.Store = dsn
		replicas = append(replicas, start(t, cfg))
	}
	status, first, e, _ := chatTurn(t, replicas[0].url, "ck_dev_acme", `{"message":"turn zero","stream":false}`)
	if status != 200 {
		t.Fatalf("first turn = %d %+v", status, e)
	}
	session := first.SessionID

	const perReplica = 6
	var wg sync.WaitGroup
	for r, s := range replicas {
		for i := range perReplica {
			wg.Go(func() {
				body := fmt.Sprintf(`{"message":"replica %d turn %d","stream":false,"sessionId":%q}`, r, i, session)
				if status, _, e, _ := chatTurn(t, s.url, "ck_dev_acme", body); status != 200 {
					t.Errorf("turn on replica %d = %d %+v", r, status, e)
				}
			})
		}
	}
	wg.Wait()
	// Retries of one idempotent turn on both replicas at once.
	results := make([]api.ChatResult, len(replicas))
	for r, s := range replicas {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", s.url+"/chat", strings.NewReader(fmt.Sprintf(`{"message":"once","stream":false,"sessionId":%q}`, session)))
			req.Header.Set("Authorization", "Bearer ck_dev_acme")
			req.Header.Set("Idempotency-Key", "retry-1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			var env api.Envelope
			decodeBody(t, res, &env)
			if res.StatusCode != 200 {
				t.Errorf("idempotent turn on replica %d = %d %+v", r, res.StatusCode, env.Error)
				return
			}
			_ = json.Unmarshal(env.Data, &results[r])
		})
	}
	wg.Wait()
	if results[0].UserSeq != results[1].UserSeq || results[0].Replayed == results[1].Replayed {
		t.Errorf("idempotent results: %+v and %+v; want one turn, replayed once", results[0], results[1])
	}

	_, h := history(t, replicas[1], "ck_dev_acme", session, "?limit=100")
	want := 2 * (1 + 2*perReplica + 1)
	if len(h.Messages) != want {
		t.Fatalf("history has %d messages, want %d", len(h.Messages), want)
	}
	for i, m := range h.Messages {
		wantRole := "user"
		if i%2 == 1 {
			wantRole = "assistant"
		}
		if m.Role != wantRole || m.Seq != int64(i+1) {
			t.Errorf("message %d: role %s seq %d, want %s seq %d (turns interleaved)", i, m.Role, m.Seq, wantRole, i+1)
		}
	}
}
