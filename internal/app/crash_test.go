package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/sse"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The crash test runs the server in a child process, the test binary itself
// re-executed with TestCrashHelperProcess selected, so that it can kill it
// with SIGKILL in the middle of a write.
const (
	crashHelperEnv  = "CRISPY_CRASH_HELPER"
	crashDataEnv    = "CRISPY_CRASH_DATA"
	crashTenantsEnv = "CRISPY_CRASH_TENANTS"
	// crashAddrPrefix starts the line on which the helper reports its address.
	crashAddrPrefix = "crispy-crash-helper listening on "
)

// TestCrashHelperProcess is not a test: it is the server that
// TestCrashKeepsAcknowledgedTurns starts and kills. Without CRISPY_CRASH_HELPER=1
// it skips; with it, it serves the data and tenants folders named by the
// environment on a free port, prints the port, and runs until it is killed
// or its standard input (held by the parent) closes.
func TestCrashHelperProcess(t *testing.T) {
	if os.Getenv(crashHelperEnv) != "1" {
		t.Skip("the server process of TestCrashKeepsAcknowledgedTurns")
	}
	cfg := config.Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = config.MetricsOff
	cfg.DataDir = os.Getenv(crashDataEnv)
	cfg.TenantsDir = os.Getenv(crashTenantsEnv)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(context.Background(), cfg, app.Deps{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash helper: new:", err)
		os.Exit(2)
	}
	// A helper never outlives the test that started it, even one that died
	// without killing it.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	err = a.ListenAndServe(context.Background(), func(addr net.Addr) {
		fmt.Printf("%s%s\n", crashAddrPrefix, addr)
	})
	fmt.Fprintln(os.Stderr, "crash helper: serve:", err)
	os.Exit(2)
}

// crashServer is a running helper process.
type crashServer struct {
	cmd    *exec.Cmd
	url    string
	output *lockedBuffer // stdout and stderr
	done   chan struct{} // closed once the process has exited and been reaped
}

// startCrashServer starts a helper on the data and tenants folders and waits
// for its address. The process is killed when the test ends.
func startCrashServer(t *testing.T, data, tenants string) *crashServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashHelperEnv+"=1", crashDataEnv+"="+data, crashTenantsEnv+"="+tenants)
	s := &crashServer{cmd: cmd, output: &lockedBuffer{}, done: make(chan struct{})}
	addr := make(chan string, 1)
	cmd.Stdout = &lineWatcher{w: s.output, prefix: crashAddrPrefix, found: addr}
	cmd.Stderr = s.output
	if _, err := cmd.StdinPipe(); err != nil { // closed by Wait, or by our death
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server process %d output:\n%s", cmd.Process.Pid, s.output.String())
		}
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.done:
		t.Fatalf("server process exited before listening (%v):\n%s", cmd.ProcessState, s.output.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("server process not listening after 60s:\n%s", s.output.String())
	}
	return s
}

// kill sends SIGKILL to the process and waits for it to be reaped.
func (s *crashServer) kill() {
	_ = s.cmd.Process.Kill() // an error means it has already exited
	<-s.done
}

// crashTurn is a turn a client sent, with what the server acknowledged.
type crashTurn struct {
	session               string
	userSeq, assistantSeq int64
	message, answer       string
	stream                bool
	replayed              bool // the server answered a stored result
}

// crashSend is a turn as a client sent it, kept to send it again, whole,
// with its Idempotency-Key (the message) when it was not acknowledged.
type crashSend struct {
	worker  int // -1 for the turns that open the shared sessions
	session string
	message string
	stream  bool
}

// crashLedger records what the clients sent and what the server acknowledged.
type crashLedger struct {
	mu      sync.Mutex
	sent    map[string]bool       // message texts sent, acknowledged or not
	acked   map[string]*crashTurn // acknowledged turns by message text
	pending map[string]crashSend  // turns sent and not acknowledged yet, by message text
}

func newCrashLedger() *crashLedger {
	return &crashLedger{sent: map[string]bool{}, acked: map[string]*crashTurn{}, pending: map[string]crashSend{}}
}

func (l *crashLedger) send(s crashSend) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[s.message] = true
	l.pending[s.message] = s
}

func (l *crashLedger) ack(tr crashTurn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked[tr.message] = &tr
	delete(l.pending, tr.message)
}

// unacknowledged returns the turns sent and not acknowledged.
func (l *crashLedger) unacknowledged() []crashSend {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]crashSend, 0, len(l.pending))
	for _, s := range l.pending {
		out = append(out, s)
	}
	return out
}

// sessions returns the sessions of acknowledged turns.
func (l *crashLedger) sessions() map[string][]*crashTurn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]*crashTurn{}
	for _, tr := range l.acked {
		out[tr.session] = append(out[tr.session], tr)
	}
	return out
}

// crashClient sends chat turns to a helper.
type crashClient struct {
	http *http.Client
	key  string
}

// errNotAcknowledged marks a turn that got no acknowledgement because the
// connection broke: expected once the server is killed.
var errNotAcknowledged = errors.New("turn not acknowledged")

// chat sends one turn, with its message as its Idempotency-Key, and returns
// it as acknowledged, errNotAcknowledged when the connection broke before
// the acknowledgement, or another error when the server answered something
// other than an acknowledgement.
func (c *crashClient) chat(ctx context.Context, base, session, message string, stream bool) (crashTurn, error) {
	tr := crashTurn{session: session, message: message, stream: stream}
	body, _ := json.Marshal(api.ChatRequest{SessionID: session, Message: message, Stream: &stream})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/chat", bytes.NewReader(body))
	if err != nil {
		return tr, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", message)
	res, err := c.http.Do(req)
	if err != nil {
		return tr, fmt.Errorf("%w: %v", errNotAcknowledged, err)
	}
	defer res.Body.Close()
	var out api.ChatResult
	if !stream || res.Header.Get("Content-Type") != "text/event-stream" {
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return tr, fmt.Errorf("%w: %v", errNotAcknowledged, err)
		}
		var env api.Envelope
		if err := json.Unmarshal(b, &env); err != nil || res.StatusCode != 200 || !env.OK {
			return tr, fmt.Errorf("status %d: %s", res.StatusCode, b)
		}
		if err := json.Unmarshal(env.Data, &out); err != nil {
			return tr, err
		}
		tr.answer = out.Text
	} else {
		var text strings.Builder
		rd := sse.NewReader(res.Body)
	events:
		for {
			ev, err := rd.Next()
			if err != nil {
				// io.EOF included: a stream that ends without its done
				// event was cut.
				return tr, fmt.Errorf("%w: stream ended: %v", errNotAcknowledged, err)
			}
			switch ev.Event {
			case "token":
				var tok api.ChatToken
				if err := json.Unmarshal(ev.Data, &tok); err != nil {
					return tr, err
				}
				text.WriteString(tok.Text)
			case "done":
				if err := json.Unmarshal(ev.Data, &out); err != nil {
					return tr, err
				}
				break events
			default:
				return tr, fmt.Errorf("event %q: %s", ev.Event, ev.Data)
			}
		}
		tr.answer = text.String()
	}
	if out.SessionID == "" || (session != "" && out.SessionID != session) || out.UserSeq < 1 || out.AssistantSeq != out.UserSeq+1 {
		return tr, fmt.Errorf("acknowledgement %+v for session %q", out, session)
	}
	tr.session, tr.userSeq, tr.assistantSeq, tr.replayed = out.SessionID, out.UserSeq, out.AssistantSeq, out.Replayed
	return tr, nil
}

// history reads the whole history of a session, page by page.
func (c *crashClient) history(ctx context.Context, base, session string) ([]api.ChatMessage, error) {
	var msgs []api.ChatMessage
	after := int64(0)
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/chat/"+url.PathEscape(session)+fmt.Sprintf("/history?limit=1000&after=%d", after), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		res, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		var env api.Envelope
		var h api.ChatHistory
		if err := json.Unmarshal(b, &env); err != nil || res.StatusCode != 200 || !env.OK {
			return nil, fmt.Errorf("status %d: %s", res.StatusCode, b)
		}
		if err := json.Unmarshal(env.Data, &h); err != nil {
			return nil, err
		}
		msgs = append(msgs, h.Messages...)
		if h.Next == nil {
			return msgs, nil
		}
		after = *h.Next
	}
}

// crashWorkers is how many clients send turns at once. Workers below
// sharedWorkers take turns on two shared sessions; the others each have a
// session of their own, which half of them replace every few turns. The
// server is killed crashCycles times.
const (
	crashWorkers  = 20
	sharedWorkers = 8
	crashCycles   = 3
)

// TestCrashKeepsAcknowledgedTurns kills the server with SIGKILL while
// clients are sending chat turns, each with an Idempotency-Key, several
// times over one data folder. After each restart the clients send every
// turn that was not acknowledged again, with its key, as a client that
// retries does; then the test checks that every turn sent is in its
// session's history exactly once (none lost, none run twice), each
// acknowledged one at the seqs it was acknowledged with, and that no
// history holds half a turn, a gap or a message nobody sent.
func TestCrashKeepsAcknowledgedTurns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	begin := time.Now()
	tenants, data := t.TempDir(), t.TempDir()
	key := tenant.NewKey()
	writeTenant(t, tenants, "crash", fmt.Sprintf(`{
  "id": "crash", "name": "Crash test",
  "keys": [{"id": "main", "hash": %q, "scopes": ["chat"]}],
  "models": {"chat": {"model": "builtin/extractive"}, "allow": ["builtin/extractive"]},
}`, tenant.HashKey(key)))

	transport := &http.Transport{MaxIdleConnsPerHost: crashWorkers}
	t.Cleanup(transport.CloseIdleConnections)
	client := &crashClient{http: &http.Client{Transport: transport}, key: key}
	ledger := newCrashLedger()

	srv := startCrashServer(t, data, tenants)
	shared := make([]string, 2)
	for i := range shared {
		msg := fmt.Sprintf("shared session %d opens", i)
		ledger.send(crashSend{worker: -1, message: msg})
		tr, err := client.chat(t.Context(), srv.url, "", msg, false)
		if err != nil {
			t.Fatal(err)
		}
		ledger.ack(tr)
		shared[i] = tr.session
	}
	own := make([]string, crashWorkers) // a worker's current session; "" for a new one

	loads := []time.Duration{300 * time.Millisecond, 450 * time.Millisecond, 600 * time.Millisecond}
	for cycle := range crashCycles {
		acked, interrupted, inflight, loaded := crashLoad(t, client, ledger, srv, cycle, loads[cycle%len(loads)], shared, own)
		t.Logf("cycle %d: killed after %v: %d turns acknowledged, %d requests in flight, %d of them interrupted", cycle, loaded.Round(time.Millisecond), acked, inflight, interrupted)
		if t.Failed() {
			return
		}
		if interrupted == 0 {
			t.Fatalf("cycle %d: no request was in flight when the server was killed", cycle)
		}
		srv = startCrashServer(t, data, tenants)
		crashRetry(t, client, ledger, srv.url, own)
		crashVerify(t, client, ledger, srv.url)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d turns acknowledged in %d sessions, %v", len(ledger.acked), len(ledger.sessions()), time.Since(begin).Round(time.Millisecond))
}

// crashLoad runs the workers against srv for at least d and until
// crashWorkers turns of this cycle were acknowledged, then kills srv while
// they are sending. It returns the turns acknowledged in the cycle, how many
// requests sent before the kill went unacknowledged, how many were in flight
// when the kill was sent, and how long the load ran.
func crashLoad(t *testing.T, c *crashClient, l *crashLedger, srv *crashServer, cycle int, d time.Duration, shared, own []string) (acked, interrupted, inflight int64, loaded time.Duration) {
	t.Helper()
	var (
		stop         atomic.Bool
		killed       atomic.Bool
		nAcked       atomic.Int64
		nInflight    atomic.Int64
		nInterrupted atomic.Int64
		wg           sync.WaitGroup
	)
	for w := range crashWorkers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				session := ""
				switch {
				case w < sharedWorkers:
					session = shared[w*len(shared)/sharedWorkers]
				case w >= (crashWorkers+sharedWorkers)/2 && i%4 == 0:
					own[w] = "" // a fresh session every four turns
					fallthrough
				default:
					session = own[w]
				}
				msg := fmt.Sprintf("cycle %d worker %d turn %d", cycle, w, i)
				stream := (w+i)%2 == 0
				l.send(crashSend{worker: w, session: session, message: msg, stream: stream})
				nInflight.Add(1)
				beforeKill := !killed.Load()
				tr, err := c.chat(t.Context(), srv.url, session, msg, stream)
				nInflight.Add(-1)
				switch {
				case err == nil:
					l.ack(tr)
					nAcked.Add(1)
					if w >= sharedWorkers {
						own[w] = tr.session
					}
				case !errors.Is(err, errNotAcknowledged):
					t.Errorf("worker %d: %q: %v", w, msg, err)
					return
				case !killed.Load():
					t.Errorf("worker %d: %q before the kill: %v", w, msg, err)
					return
				case beforeKill:
					nInterrupted.Add(1)
				}
				if killed.Load() {
					return // the server is gone: the next cycle continues
				}
			}
		})
	}
	start := time.Now()
	for time.Since(start) < d || nAcked.Load() < crashWorkers {
		if time.Since(start) > 30*time.Second || t.Failed() {
			stop.Store(true)
			srv.kill()
			wg.Wait()
			t.Fatalf("cycle %d: stopped after %v with %d turns acknowledged", cycle, time.Since(start), nAcked.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	loaded = time.Since(start)
	killed.Store(true)
	inflight = nInflight.Load()
	srv.kill()
	stop.Store(true)
	wg.Wait()
	c.http.CloseIdleConnections()
	if ps := srv.cmd.ProcessState; ps.Success() {
		t.Errorf("server process ended with %v, want killed", ps)
	}
	return nAcked.Load(), nInterrupted.Load(), inflight, loaded
}

// crashRetry sends every turn that was not acknowledged again, as it was
// sent and with the same Idempotency-Key, to the restarted server at base:
// the server must run it if it had not committed it, and answer what it had
// committed otherwise. A worker whose turn opened a session takes that
// session on.
func crashRetry(t *testing.T, c *crashClient, l *crashLedger, base string, own []string) {
	t.Helper()
	var replayed int
	pending := l.unacknowledged()
	for _, s := range pending {
		tr, err := c.chat(t.Context(), base, s.session, s.message, s.stream)
		if err != nil {
			t.Errorf("retry of %q: %v", s.message, err)
			continue
		}
		l.ack(tr)
		if s.worker >= sharedWorkers {
			own[s.worker] = tr.session
		}
		if tr.replayed {
			replayed++ // committed before the kill, not acknowledged
		}
	}
	t.Logf("retried %d unacknowledged turns: %d had been committed, %d ran now", len(pending), replayed, len(pending)-replayed)
}

// crashVerify reads every session with an acknowledged turn from the
// restarted server at base and checks it against the ledger: once every
// turn has been retried, every turn sent is acknowledged and stored once.
func crashVerify(t *testing.T, c *crashClient, l *crashLedger, base string) {
	t.Helper()
	seen := map[string]string{} // user message -> session
	var turns, unacked int
	for session, acked := range l.sessions() {
		msgs, err := c.history(t.Context(), base, session)
		if err != nil {
			t.Errorf("session %s: history: %v", session, err)
			continue
		}
		if len(msgs)%2 != 0 {
			t.Errorf("session %s: %d messages: half a turn", session, len(msgs))
		}
		for i, m := range msgs {
			wantRole := "user"
			if i%2 == 1 {
				wantRole = "assistant"
			}
			if m.Seq != int64(i+1) || m.Role != wantRole || m.Incomplete {
				t.Errorf("session %s: message %d is seq %d %s (incomplete %v), want seq %d %s", session, i, m.Seq, m.Role, m.Incomplete, i+1, wantRole)
				break
			}
			if m.Role != "user" {
				continue
			}
			turns++
			if !l.sent[m.Content] {
				t.Errorf("session %s: seq %d is %q, which no client sent", session, m.Seq, m.Content)
			}
			if other, dup := seen[m.Content]; dup {
				t.Errorf("session %s: seq %d %q is stored twice (also in %s)", session, m.Seq, m.Content, other)
			}
			seen[m.Content] = session
			if l.acked[m.Content] == nil {
				unacked++
			}
		}
		for _, tr := range acked {
			if tr.userSeq > int64(len(msgs)) || tr.assistantSeq > int64(len(msgs)) {
				t.Errorf("session %s: acknowledged turn %q at seqs %d,%d lost: the history has %d messages", session, tr.message, tr.userSeq, tr.assistantSeq, len(msgs))
				continue
			}
			u, a := msgs[tr.userSeq-1], msgs[tr.assistantSeq-1]
			if u.Seq != tr.userSeq || u.Role != "user" || u.Content != tr.message {
				t.Errorf("session %s: acknowledged turn %q at seq %d, but seq %d is %s %q", session, tr.message, tr.userSeq, u.Seq, u.Role, u.Content)
			}
			if a.Seq != tr.assistantSeq || a.Role != "assistant" || a.Content != tr.answer {
				t.Errorf("session %s: acknowledged answer %q at seq %d, but seq %d is %s %q", session, tr.answer, tr.assistantSeq, a.Seq, a.Role, a.Content)
			}
		}
	}
	for msg := range l.sent {
		switch {
		case l.acked[msg] == nil:
			t.Errorf("turn %q was never acknowledged, even retried", msg)
		case seen[msg] == "":
			t.Errorf("turn %q was acknowledged but is in no history: lost", msg)
		}
	}
	t.Logf("after restart: %d sessions, %d turns, %d of them stored but never acknowledged", len(l.sessions()), turns, unacked)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWatcher copies to w and sends the rest of the first line that starts
// with prefix to found.
type lineWatcher struct {
	w      io.Writer
	prefix string
	found  chan<- string
	line   []byte
	sent   bool
}

func (lw *lineWatcher) Write(p []byte) (int, error) {
	if !lw.sent {
		lw.line = append(lw.line, p...)
		for {
			before, after, ok := bytes.Cut(lw.line, []byte("\n"))
			if !ok {
				break
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(string(before)), lw.prefix); ok {
				lw.found <- rest
				lw.sent, lw.line = true, nil
				break
			}
			lw.line = after
		}
	}
	return lw.w.Write(p)
}
