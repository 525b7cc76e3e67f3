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
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
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
// bound, and a replica killed with SIGKILL during 1,000 concurrent writes
// loses no acknowledged write.
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
	// umbrella takes the SIGKILL storm: its limits admit every write at
	// once, so that all of them are in flight rather than refused.
	writeTenant(t, dir, "umbrella", clusterTenant("umbrella", fmt.Sprintf(
		`{"maxInFlight": %d, "rate": {"tenant": {"requests": %d, "per": "1s", "burst": %d}, "key": {"requests": %d, "per": "1s", "burst": %d}}}`,
		stormWriters, 10*stormWriters, 10*stormWriters, 10*stormWriters, 10*stormWriters)))
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
				"--log-level", "info", "--shutdown-timeout", "5s",
				// Stated, not left to the default (4096), and far above the
				// storm's writers, which one replica could all get.
				"--max-in-flight", strconv.Itoa(8*stormWriters))
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
		writeStorm(t, dsn, replicas, 2)
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

// The SIGKILL storm of the cluster test: stormWriters chat turns of tenant
// umbrella, one per writer, all released at once. One writer in
// stormSharedEvery sends its turn to one of stormShared sessions that
// writers on every replica share (turns there wait for one another, and
// for a session lease the killed replica may hold); the others each start
// a session of their own (independent writes, as many in flight as the
// replicas admit).
const (
	stormWriters     = 1000
	stormShared      = 4
	stormSharedEvery = 10
)

// stormWrite is one writer of the storm and what came of its turn.
type stormWrite struct {
	replica int
	shared  int // the shared session it writes to; -1: a session of its own
	client  *http.Client
	reused  bool // sent on the connection dialled before the start
	held    bool // admitted by its replica before the start, its body held back
	status  int
	body    []byte // of an answer other than 200
	err     error
	cut     bool          // err came after the kill, from the killed replica
	took    time.Duration // from the start to the answer
	result  api.ChatResult
}

// acked reports whether the turn was acknowledged.
func (w *stormWrite) acked() bool { return w.err == nil && w.status == 200 }

// writeStorm sends the storm's turns over replicas, every writer on a
// connection dialled before the start, SIGKILLs replicas[victim] once a
// third are committed, and checks from the survivors that every
// acknowledged turn is stored at the seqs it was acknowledged with. A turn
// not acknowledged must have been cut by the kill or refused with 429 or
// 503; anything else fails the test.
func writeStorm(t *testing.T, dsn string, replicas []*replica, victim int) {
	ctx := t.Context()
	const tenant = "umbrella"
	const key = "ck_dev_" + tenant
	survivors := slices.Delete(slices.Clone(replicas), victim, victim+1)

	shared := make([]string, stormShared)
	for s := range shared {
		status, b, err := send(ctx, "POST", replicas[s%len(replicas)].url+"/chat", key, fmt.Sprintf(`{"message":"open %d","stream":false}`, s))
		res, ok := chatResult(b)
		if err != nil || status != 200 || !ok {
			t.Fatalf("opening shared session %d = %d %s %v", s, status, b, err)
		}
		shared[s] = res.SessionID
	}

	// committed counts the tenant's turns in the database.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	committed := func() (int, error) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM crispy.messages WHERE tenant = $1 AND role = 'user'`, tenant).Scan(&n)
		return n, err
	}

	writes := make([]stormWrite, stormWriters)
	var (
		dialled      sync.WaitGroup // every writer has its connection
		ready        sync.WaitGroup // every turn admitted (or refused), its body held back
		done         sync.WaitGroup
		admit, start = make(chan struct{}), make(chan struct{})
		killed       atomic.Bool
		acked        atomic.Int32
		flying, peak atomic.Int32 // turns released and not answered
		began        time.Time    // the start
		onVictim     int
	)
	dialled.Add(len(writes))
	ready.Add(len(writes))
	for i := range writes {
		w := &writes[i]
		w.replica, w.shared = i%len(replicas), -1
		if i%stormSharedEvery == 0 {
			w.shared = (i / stormSharedEvery) % stormShared
		}
		if w.replica == victim {
			onVictim++
		}
		// The turn asks for 100 Continue, so that its body waits until
		// the replica has admitted it and reads the body.
		tr := &http.Transport{MaxIdleConnsPerHost: 1, ExpectContinueTimeout: time.Minute}
		defer tr.CloseIdleConnections()
		w.client = &http.Client{Transport: tr, Timeout: time.Minute}
		done.Go(func() {
			var once sync.Once
			defer once.Do(ready.Done)
			url := replicas[w.replica].url
			// Dial now: the turn goes on this connection, idle until then.
			err := warmUp(ctx, w.client, url+"/livez")
			dialled.Done()
			if err != nil {
				w.err = fmt.Errorf("dialling before the start: %w", err)
				return
			}
			body := fmt.Sprintf(`{"message":"write %d","stream":false}`, i)
			if w.shared >= 0 {
				body = fmt.Sprintf(`{"message":"write %d","stream":false,"sessionId":%q}`, i, shared[w.shared])
			}
			trace := &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) { w.reused = c.Reused }}
			var released atomic.Bool
			gate := &gatedBody{rest: []byte(body), open: start,
				arrived: func() {
					w.held = true
					once.Do(ready.Done)
				},
				opened: func() {
					released.Store(true)
					for n := flying.Add(1); ; {
						if p := peak.Load(); n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
				},
			}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "POST", url+"/chat", gate)
			if err != nil {
				w.err = err
				return
			}
			req.ContentLength = int64(len(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Expect", "100-continue")
			<-admit
			var b []byte
			w.status, b, w.err = roundTrip(w.client, req)
			if released.Load() { // after the start, so began is set
				w.took = time.Since(began)
				flying.Add(-1)
			}
			w.cut = w.err != nil && w.replica == victim && killed.Load()
			if !w.acked() {
				w.body = b
				return
			}
			res, ok := chatResult(b)
			if !ok {
				w.status, w.body = -1, b // not an acknowledgement
				return
			}
			w.result = res
			acked.Add(1)
		})
	}

	// Every writer dials, then sends its turn but for the body, which
	// waits for the replica's 100 Continue (the turn admitted: past the
	// in-flight caps and rate limits, its handler reading the body), then
	// for the start. The replica's read deadline for a body is 5 s after
	// the headers (--min-body-rate's grace), which the time from the
	// first headers to the start must stay under.
	dialled.Wait()
	admitting := time.Now()
	close(admit)
	ready.Wait()
	admitted := time.Since(admitting)
	base, err := committed()
	if err != nil {
		t.Error(err)
	}
	began = time.Now()
	close(start)

	// The kill comes once a third of the turns are committed, as the
	// database counts them: the replicas, under the same load, are each
	// about a third through theirs. The clients read answers later than
	// the replicas send them (much later under -race, where the replicas
	// keep their speed and this process does not), and a replica's log
	// reaches this process through a pipe that holds a few hundred lines,
	// so neither would do: the victim would have answered nearly all.
	var turns int
	for err == nil && turns < stormWriters/3 {
		if time.Since(began) > 30*time.Second {
			t.Errorf("%d of %d turns committed in 30 s", turns, stormWriters)
			break
		}
		time.Sleep(time.Millisecond)
		turns, err = committed()
		turns -= base
	}
	if err != nil {
		t.Error(err)
	}
	killed.Store(true)
	if err := replicas[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Error(err)
	}
	killedAfter := time.Since(began)
	ackedAtKill, inFlightAtKill := acked.Load(), flying.Load()
	done.Wait()
	took := time.Since(began)
	<-replicas[victim].exited

	var reused, held, cut, limited, unavailable, failed, victimAcked int
	var slowest, slowestShared time.Duration
	for i := range writes {
		w := &writes[i]
		if w.reused {
			reused++
		}
		if w.held {
			held++
		}
		switch {
		case w.acked():
			if w.replica == victim {
				victimAcked++
			}
			if w.shared >= 0 {
				slowestShared = max(slowestShared, w.took)
			} else {
				slowest = max(slowest, w.took)
			}
		case w.cut:
			cut++
		case w.err == nil && w.status == 429:
			limited++
		case w.err == nil && w.status == 503:
			unavailable++
		default:
			failed++
			t.Errorf("write %d on replica %d (shared session %d) = %d %s %v", i, w.replica, w.shared, w.status, w.body, w.err)
		}
	}
	refused := limited + unavailable
	t.Logf("%d writers over three replicas (%d to %d shared sessions, the others to a session each): %d sent on a connection dialled before, %d admitted and held at the barrier (in %s), released at once, %d in flight at the peak",
		stormWriters, stormWriters/stormSharedEvery, stormShared, reused, held, admitted.Round(time.Millisecond), peak.Load())
	t.Logf("replica %d SIGKILLed %s after the start, with %d turns committed; it had answered %d of its %d writes (acknowledged); the clients had then read %d acknowledgements, %d turns in flight",
		victim, killedAfter.Round(time.Millisecond), turns, victimAcked, onVictim, ackedAtKill, inFlightAtKill)
	t.Logf("%d acknowledged, %d cut by the kill, %d refused (%d with 429, %d with 503), %d failed; all answered %s after the start (slowest acknowledged turn: %s on its own session, %s on a shared one, which may wait for the killed replica's session lease to lapse, %s)",
		acked.Load(), cut, refused, limited, unavailable, failed, took.Round(time.Millisecond), slowest.Round(time.Millisecond), slowestShared.Round(time.Millisecond), postgres.LeaseTTL)
	if reused < stormWriters {
		t.Errorf("%d of %d writes sent on a connection dialled before", reused, stormWriters)
	}
	if held+refused < stormWriters {
		t.Errorf("%d writes admitted before the start and %d refused, of %d", held, refused, stormWriters)
	}
	if cut == 0 {
		t.Errorf("the kill cut no write")
	}
	if int(acked.Load()) < stormWriters/2 {
		t.Errorf("only %d of %d writes acknowledged", acked.Load(), stormWriters)
	}
	if refused > stormWriters/10 {
		t.Errorf("%d of %d writes refused: the test's limits should admit them, to have them in flight at once", refused, stormWriters)
	}

	// Every acknowledged turn of a session of its own is stored, as its
	// session's first turn.
	checked := time.Now()
	var missing atomic.Int32
	sem := make(chan struct{}, 16)
	var check sync.WaitGroup
	for i := range writes {
		w := &writes[i]
		if w.shared >= 0 || !w.acked() {
			continue
		}
		sem <- struct{}{}
		check.Go(func() {
			defer func() { <-sem }()
			h, err := replicaHistory(ctx, survivors[i%len(survivors)].url, key, w.result.SessionID)
			want := fmt.Sprintf("write %d", i)
			if err != nil || len(h.Messages) != 2 || h.Messages[0].Content != want || h.Messages[0].Seq != w.result.UserSeq || h.Messages[1].Seq != w.result.AssistantSeq || h.Messages[1].Role != "assistant" {
				missing.Add(1)
				t.Errorf("acknowledged write %d, session %s: %+v %v", i, w.result.SessionID, h.Messages, err)
			}
		})
	}
	check.Wait()

	// The shared sessions: seqs 1, 2, 3... a user message then its answer,
	// every acknowledged turn at the seq it was acknowledged with, and
	// no turn that was refused.
	committedCut := 0
	for s, id := range shared {
		h, err := replicaHistory(ctx, survivors[s%len(survivors)].url, key, id)
		if err != nil {
			t.Errorf("shared session %d: %v", s, err)
			continue
		}
		at := map[string]int64{}
		for k, m := range h.Messages {
			role := []string{"user", "assistant"}[k%2]
			if m.Seq != int64(k+1) || m.Role != role {
				t.Errorf("shared session %d, message %d: seq %d, %s; want seq %d, %s", s, k, m.Seq, m.Role, k+1, role)
			}
			if m.Role != "user" {
				continue
			}
			if _, dup := at[m.Content]; dup {
				t.Errorf("shared session %d: %q stored twice", s, m.Content)
			}
			at[m.Content] = m.Seq
		}
		if at[fmt.Sprintf("open %d", s)] != 1 {
			t.Errorf("shared session %d does not start with its first turn", s)
		}
		stored := 1
		for i := range writes {
			w := &writes[i]
			if w.shared != s {
				continue
			}
			seq, found := at[fmt.Sprintf("write %d", i)]
			if found {
				stored++
			}
			switch {
			case w.acked() && (!found || seq != w.result.UserSeq):
				missing.Add(1)
				t.Errorf("acknowledged write %d to shared session %d at seq %d: stored at %d (found: %t)", i, s, w.result.UserSeq, seq, found)
			case w.cut && found:
				committedCut++ // committed, then cut before the answer
			case !w.acked() && !w.cut && found:
				t.Errorf("write %d to shared session %d was refused (%d) yet stored at seq %d", i, s, w.status, seq)
			}
		}
		if stored != len(at) {
			t.Errorf("shared session %d has %d user messages, %d of them from its writers", s, len(at), stored)
		}
	}
	if missing.Load() > 0 {
		t.Errorf("%d acknowledged writes lost", missing.Load())
	} else {
		t.Logf("every acknowledged write found from a survivor (checked in %s); %d turns to shared sessions cut by the kill were committed all the same",
			time.Since(checked).Round(time.Millisecond), committedCut)
	}
}

// warmUp makes GETs to url with client until one leaves its connection
// idle in client's pool, for the next request. One try may not: the
// transport keeps a connection only when its writer reports the request
// written within 50 ms of the answer, which a busy -race process misses
// now and then.
func warmUp(ctx context.Context, client *http.Client, url string) error {
	for range 10 {
		idle := make(chan error, 1)
		trace := &httptrace.ClientTrace{PutIdleConn: func(err error) { idle <- err }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", url, nil)
		if err != nil {
			return err
		}
		status, _, err := roundTrip(client, req)
		switch {
		case err != nil:
			return err
		case status != 200:
			return fmt.Errorf("GET %s = %d", url, status)
		}
		select {
		case err := <-idle:
			if err == nil {
				return nil
			}
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("GET %s: no connection kept idle in 10 tries", url)
}

// roundTrip sends req with client and returns the status and body of its answer.
func roundTrip(client *http.Client, req *http.Request) (int, []byte, error) {
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// chatResult decodes the answer of a chat turn.
func chatResult(b []byte) (api.ChatResult, bool) {
	var env api.Envelope
	var res api.ChatResult
	ok := json.Unmarshal(b, &env) == nil && json.Unmarshal(env.Data, &res) == nil && res.SessionID != ""
	return res, ok
}

// replicaHistory returns the messages of session (up to a page of them) from
// the replica at base.
func replicaHistory(ctx context.Context, base, key, session string) (api.ChatHistory, error) {
	var h api.ChatHistory
	status, b, err := send(ctx, "GET", base+"/chat/"+session+"/history?limit="+strconv.Itoa(store.MaxMessagesPerPage), key, "")
	if err != nil {
		return h, err
	}
	var env api.Envelope
	if status != 200 || json.Unmarshal(b, &env) != nil || json.Unmarshal(env.Data, &h) != nil {
		return h, fmt.Errorf("history = %d %s", status, b)
	}
	return h, nil
}

// gatedBody is a request body held back until open is closed: when the
// transport asks for its last byte (the bytes before it are in the
// transport's buffer, which it flushes once the body is read), it calls
// arrived, waits for open, calls opened and gives that byte. A writer
// released is then one short write from its replica.
type gatedBody struct {
	rest            []byte
	arrived, opened func()
	open            <-chan struct{}
}

func (g *gatedBody) Read(p []byte) (int, error) {
	switch {
	case len(g.rest) == 0:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	case len(g.rest) == 1:
		g.arrived()
		<-g.open
		g.opened()
	}
	n := copy(p, g.rest[:max(1, len(g.rest)-1)])
	g.rest = g.rest[n:]
	return n, nil
}
