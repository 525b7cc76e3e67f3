package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/store/postgres/pgtest"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// replica is one `crispy serve` process of the cluster test.
type replica struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
}

// logs returns what the replica logged so far.
func (r *replica) logs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// startReplica runs bin serve with args and waits until it logs that it
// serves; the process is stopped when the test ends.
func startReplica(t *testing.T, bin string, extraEnv []string, args ...string) *replica {
	t.Helper()
	r := &replica{exited: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	env := extraEnv
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRISPY_") {
			env = append(env, kv)
		}
	}
	r.cmd.Env = env
	pr, pw := io.Pipe()
	r.cmd.Stderr = pw
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			r.mu.Lock()
			r.stderr.Write(line)
			r.stderr.WriteByte('\n')
			r.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "started" {
				select {
				case addr <- rec.Addr:
				default:
				}
			}
		}
	}()
	go func() {
		_ = r.cmd.Wait()
		pw.Close()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("replica %s logs:\n%s", r.url, tail(r.logs(), 30))
		}
	})
	select {
	case a := <-addr:
		r.url = "http://" + a
	case <-r.exited:
		t.Fatalf("replica exited before serving:\n%s", r.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("replica not serving within 60 s:\n%s", r.logs())
	}
	return r
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// devKeyHash is the hash of a development key, as tenant configs hold it.
func devKeyHash(key string) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(key)))
}

// clusterTenant is a tenant with key ck_dev_<id>, on the builtin models,
// with limits (a JSON object).
func clusterTenant(id, limits string) string {
	return fmt.Sprintf(`{
  "id": %q, "name": %q,
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat", "search", "documents:read", "documents:write", "usage:read"], "dev": true}],
  "models": {"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-64"}, "allow": ["builtin/hash-64"]},
  "limits": %s,
}`, id, id, devKeyHash("ck_dev_"+id), limits)
}

// send makes a request to base+path as key and returns its status and body.
func send(ctx context.Context, method, url, key, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// TestCluster starts three `crispy serve` processes on one fresh PostgreSQL
// database and one Redis key prefix, and shows that they behave as one
// server: the tenant rate limit admits exactly its burst across replicas,
// 64 concurrent calls against a budget that admits 10 never spend more
// than it, a session written alternately on all three has every turn in
// order, a document ingested on one is retrievable on the others within a
// bound, and a replica killed with SIGKILL during concurrent writes loses
// no acknowledged write.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes")
	}
	dsn := pgtest.DSN(t)
	redisURL, prefix := testRedis(t)

	// The rate limit: a burst of 20, then one request an hour.
	const burst = 20
	// The budget: ten embeddings calls' worst case.
	input := "the quick brown fox jumps over the lazy dog"
	if err := tokens.Load(); err != nil {
		t.Fatal(err)
	}
	n := int64(tokens.Count(input))
	reserve := n + n/10 + 16
	budget := 10 * reserve

	dir := t.TempDir()
	writeTenant(t, dir, "acme", clusterTenant("acme", fmt.Sprintf(`{"rate": {"tenant": {"requests": 1, "per": "1h", "burst": %d}}}`, burst)))
	writeTenant(t, dir, "globex", clusterTenant("globex", fmt.Sprintf(`{"budget": {"tokensPerDay": %d}}`, budget)))
	writeTenant(t, dir, "initech", clusterTenant("initech", `{}`))
	// hooli streams slowly from a mock upstream, with two streams at once.
	_, mockURL := mockupstream.Start(t, mockupstream.Config{APIKey: "mock-secret", TokensPerSecond: 20, CompletionTokens: 400})
	writeTenant(t, dir, "hooli", fmt.Sprintf(`{
  "id": "hooli", "name": "Hooli",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat"], "dev": true}],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY", "timeout": "60s"}},
  "models": {"chat": {"model": "mock/gpt-test"}, "embedding": {"model": "builtin/hash-64"}},
  "limits": {"rate": {"concurrentStreams": 2}},
}`, devKeyHash("ck_dev_hooli"), mockURL))

	bin := filepath.Join(t.TempDir(), "crispy")
	build := exec.Command("go", "build", "-o", bin, "github.com/crispy-enigma/crispy/cmd/crispy")
	// As the release and CI's static build: CI's build cache then has
	// every package, and only the link is left.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	started := time.Now()
	replicas := make([]*replica, 3)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			replicas[i] = startReplica(t, bin, []string{"MOCK_KEY=mock-secret"},
				"--addr", "127.0.0.1:0", "--metrics-addr", "off", "--env", "dev",
				"--data", t.TempDir(), "--tenants", dir,
				"--store", dsn, "--redis", redisURL, "--redis-prefix", prefix, "--redis-lease-ttl", "1500ms",
				"--log-level", "info", "--shutdown-timeout", "5s")
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("three replicas serving %s after starting together", time.Since(started).Round(time.Millisecond))
	ctx := t.Context()

	t.Run("rate limit", func(t *testing.T) {
		var ok, limited, other atomic.Int32
		for i := range 3 * burst {
			wg.Go(func() {
				status, body, err := send(ctx, "GET", replicas[i%3].url+"/documents", "ck_dev_acme", "")
				switch {
				case err != nil:
					t.Error(err)
				case status == 200:
					ok.Add(1)
				case status == 429:
					limited.Add(1)
				default:
					other.Add(1)
					t.Errorf("GET /documents = %d %s", status, body)
				}
			})
		}
		wg.Wait()
		if ok.Load() != burst || limited.Load() != 2*burst {
			t.Errorf("%d admitted, %d limited of %d over three replicas; want exactly the burst, %d, admitted", ok.Load(), limited.Load(), 3*burst, burst)
		}
	})

	t.Run("budget", func(t *testing.T) {
		var admitted, refused atomic.Int32
		var spent atomic.Int64
		body := fmt.Sprintf(`{"model":"builtin/hash-64","input":%q}`, input)
		for i := range 64 {
			wg.Go(func() {
				status, b, err := send(ctx, "POST", replicas[i%3].url+"/v1/embeddings", "ck_dev_globex", body)
				switch {
				case err != nil:
					t.Error(err)
				case status == 200:
					var res openai.EmbeddingList
					if err := json.Unmarshal(b, &res); err != nil {
						t.Error(err)
					}
					admitted.Add(1)
					spent.Add(int64(res.Usage.TotalTokens))
				case status == 429 || status == 402:
					refused.Add(1)
				default:
					t.Errorf("POST /v1/embeddings = %d %s", status, b)
				}
			})
		}
		wg.Wait()
		t.Logf("budget %d tokens (10 calls' worst case of %d): %d calls admitted, %d refused, %d tokens spent", budget, reserve, admitted.Load(), refused.Load(), spent.Load())
		if spent.Load() > budget {
			t.Errorf("spent %d tokens, over the budget of %d", spent.Load(), budget)
		}
		if admitted.Load() < 10 {
			t.Errorf("%d calls admitted; the budget admits 10", admitted.Load())
		}
	})

	t.Run("session", func(t *testing.T) {
		const turns = 9
		session := ""
		for i := range turns {
			body := fmt.Sprintf(`{"message":"turn %d","stream":false}`, i)
			if session != "" {
				body = fmt.Sprintf(`{"message":"turn %d","stream":false,"sessionId":%q}`, i, session)
			}
			status, b, err := send(ctx, "POST", replicas[i%3].url+"/chat", "ck_dev_initech", body)
			if err != nil || status != 200 {
				t.Fatalf("turn %d on replica %d = %d %s %v", i, i%3, status, b, err)
			}
			var env api.Envelope
			var out api.ChatResult
			if err := json.Unmarshal(b, &env); err != nil || json.Unmarshal(env.Data, &out) != nil {
				t.Fatalf("turn %d: %s", i, b)
			}
			session = out.SessionID
			if out.UserSeq != int64(2*i+1) {
				t.Errorf("turn %d on replica %d: user seq %d, want %d", i, i%3, out.UserSeq, 2*i+1)
			}
		}
		for r := range replicas {
			status, b, err := send(ctx, "GET", replicas[r].url+"/chat/"+session+"/history?limit=100", "ck_dev_initech", "")
			var env api.Envelope
			var h api.ChatHistory
			if err != nil || status != 200 || json.Unmarshal(b, &env) != nil || json.Unmarshal(env.Data, &h) != nil {
				t.Fatalf("history on replica %d = %d %s %v", r, status, b, err)
			}
			if len(h.Messages) != 2*turns {
				t.Fatalf("history on replica %d: %d messages, want %d", r, len(h.Messages), 2*turns)
			}
			for i := range turns {
				if u := h.Messages[2*i]; u.Role != "user" || u.Content != fmt.Sprintf("turn %d", i) || u.Seq != int64(2*i+1) {
					t.Errorf("history on replica %d, message %d: %+v", r, 2*i, u)
				}
				if a := h.Messages[2*i+1]; a.Role != "assistant" {
					t.Errorf("history on replica %d, message %d: %+v, want the answer", r, 2*i+1, a)
				}
			}
		}
	})

	t.Run("ingest then retrieve", func(t *testing.T) {
		const docs = 10
		var lags []time.Duration
		for i := range docs {
			word := fmt.Sprintf("zorblax%dquux", i)
			doc := fmt.Sprintf(`{"id":"fresh-%d","title":"Fresh %d","text":"The %s widget ships on Tuesdays."}`, i, i, word)
			src := replicas[i%3]
			status, b, err := send(ctx, "POST", src.url+"/documents", "ck_dev_initech", doc)
			if err != nil || status != 201 {
				t.Fatalf("ingest on replica %d = %d %s %v", i%3, status, b, err)
			}
			ingested := time.Now()
			for _, dst := range []*replica{replicas[(i+1)%3], replicas[(i+2)%3]} {
				for {
					status, b, err := send(ctx, "POST", dst.url+"/retrieve", "ck_dev_initech", fmt.Sprintf(`{"query":%q,"mode":"bm25"}`, word))
					if err != nil || status != 200 {
						t.Fatalf("retrieve = %d %s %v", status, b, err)
					}
					if strings.Contains(string(b), fmt.Sprintf(`"docId":"fresh-%d"`, i)) {
						break
					}
					if time.Since(ingested) > 5*time.Second {
						t.Fatalf("document fresh-%d not retrievable on another replica within 5 s", i)
					}
					time.Sleep(5 * time.Millisecond)
				}
				lags = append(lags, time.Since(ingested))
			}
		}
		slices.Sort(lags)
		t.Logf("ingest on one replica, retrievable on another: p50 %s, max %s over %d reads", lags[len(lags)/2].Round(time.Microsecond), lags[len(lags)-1].Round(time.Microsecond), len(lags))
		if worst := lags[len(lags)-1]; worst > time.Second {
			t.Errorf("a document took %s to be retrievable on another replica, over the 1 s bound", worst)
		}
	})

	t.Run("SIGKILL during writes", func(t *testing.T) {
		const writes, writers = 1000, 16
		var (
			next  atomic.Int32
			mu    sync.Mutex
			acked []string // sessions of acknowledged turns
			lost  atomic.Int32
		)
		killAt := int32(writes / 3)
		var killOnce sync.Once
		for range writers {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= writes {
						return
					}
					if i >= killAt {
						killOnce.Do(func() {
							if err := replicas[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
								t.Error(err)
							}
						})
					}
					status, b, err := send(ctx, "POST", replicas[i%3].url+"/chat", "ck_dev_initech", fmt.Sprintf(`{"message":"write %d","stream":false}`, i))
					if err != nil || status != 200 {
						lost.Add(1) // not acknowledged
						continue
					}
					var env api.Envelope
					var out api.ChatResult
					if json.Unmarshal(b, &env) != nil || json.Unmarshal(env.Data, &out) != nil {
						t.Errorf("write %d: %s", i, b)
						continue
					}
					mu.Lock()
					acked = append(acked, out.SessionID)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		<-replicas[2].exited
		t.Logf("%d writes over three replicas, one SIGKILLed after %d: %d acknowledged, %d not", writes, killAt, len(acked), lost.Load())
		if len(acked) < writes/2 {
			t.Errorf("only %d of %d writes acknowledged", len(acked), writes)
		}
		// Every acknowledged turn is in the database, seen from a survivor.
		var missing atomic.Int32
		sem := make(chan struct{}, 16)
		for i, session := range acked {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				status, b, err := send(ctx, "GET", replicas[i%2].url+"/chat/"+session+"/history", "ck_dev_initech", "")
				var env api.Envelope
				var h api.ChatHistory
				if err != nil || status != 200 || json.Unmarshal(b, &env) != nil || json.Unmarshal(env.Data, &h) != nil || len(h.Messages) != 2 {
					missing.Add(1)
					t.Errorf("acknowledged session %s: %d %s %v", session, status, b, err)
				}
			})
		}
		wg.Wait()
		if missing.Load() > 0 {
			t.Errorf("%d acknowledged writes lost", missing.Load())
		}
	})

	t.Run("SIGKILL mid-stream", func(t *testing.T) {
		// Replica 2 is gone; replica 1 holds hooli's two stream slots.
		src, other := replicas[1], replicas[0]
		type stream struct {
			res   *http.Response
			first chan error
			end   chan error
		}
		open := func(r *replica) (*stream, int) {
			req, _ := http.NewRequestWithContext(ctx, "POST", r.url+"/chat", strings.NewReader(`{"message":"tell me a long story"}`))
			req.Header.Set("Authorization", "Bearer ck_dev_hooli")
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				res.Body.Close()
				return nil, res.StatusCode
			}
			st := &stream{res: res, first: make(chan error, 1), end: make(chan error, 1)}
			go func() {
				defer res.Body.Close()
				sc := bufio.NewScanner(res.Body)
				tokens := 0
				for sc.Scan() {
					line := sc.Text()
					if line == "event: token" {
						if tokens++; tokens == 1 {
							st.first <- nil
						}
					}
					if line == "event: done" || line == "event: error" {
						st.end <- fmt.Errorf("the stream ended with %q, not cut", line)
						return
					}
				}
				if tokens == 0 {
					st.first <- fmt.Errorf("no token before the end: %v", sc.Err())
				}
				st.end <- nil // cut
			}()
			return st, 200
		}
		var streams []*stream
		for range 2 {
			st, status := open(src)
			if st == nil {
				t.Fatalf("stream on replica 1 = %d", status)
			}
			if err := <-st.first; err != nil {
				t.Fatal(err)
			}
			streams = append(streams, st)
		}
		// The tenant's two slots are held across replicas.
		if st, status := open(other); st != nil || status != 429 {
			t.Fatalf("a third stream on replica 0 = %d, want 429", status)
		}
		if err := src.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		for _, st := range streams {
			select {
			case err := <-st.end:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a stream of the killed replica was not cut within 10 s")
			}
		}
		// The survivor serves on; the dead replica's slots lapse.
		if status, b, err := send(ctx, "POST", other.url+"/chat", "ck_dev_initech", `{"message":"still there?","stream":false}`); err != nil || status != 200 {
			t.Errorf("a turn on replica 0 after the kill = %d %s %v", status, b, err)
		}
		var st *stream
		eventually(t, 10*time.Second, "a stream slot freed", func() error {
			var status int
			if st, status = open(other); st == nil {
				return fmt.Errorf("stream on replica 0 = %d", status)
			}
			return nil
		})
		st.res.Body.Close()
		t.Logf("the killed replica's streams were cut; its slots were free %s after the kill (lease TTL 1.5 s)", time.Since(killed).Round(time.Millisecond))
	})
}
