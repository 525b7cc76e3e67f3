package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/sse"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The streaming stability tests hold many streams open against a server on
// a real listener, with a model played in process, and check that every
// goroutine a stream started ends and that the heap comes back once the
// streams are gone. Clients are raw connections read from a few goroutines,
// so that the goroutines counted are the server's. Nothing is asserted on
// timing: waits only bound how long a test may take to see a count.

// stabilityTenant is a tenant without rate limits, stream caps or budgets,
// whose model call times out after timeout.
func stabilityTenant(t *testing.T, timeout string) *tenant.Registry {
	t.Helper()
	cfg := fmt.Sprintf(`{"id": "acme", "name": "Acme",
  "keys": [{"id": "dev", "hash": "sha256:ba473e6b18c20dc68862ce1f47a5f1fe7aeec8d4e003090478ae35ee89770ad3", "scopes": ["chat"], "dev": true}],
  "models": {"chat": {"model": "builtin/extractive"}},
  "limits": {"requestTimeout": %q}}`, timeout)
	opts := tenant.Options{AllowDevKeys: true}
	cfgs, err := tenant.ParseFiles([]tenant.File{{ID: "acme", Name: "acme", Data: []byte(cfg)}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tenant.NewRegistry(cfgs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// playedModel is a chat model played in process. Each answer sends its
// first token at once; then, by mode: "hold" waits for release and sends
// the rest; "stall" never sends another token; "pour" sends tokens of
// pourBytes for as long as the caller reads them.
type playedModel struct {
	mode      string
	tokens    int
	pourBytes int
	release   chan struct{}
	free      atomic.Bool // "hold" does not wait (the warm-up)

	opened, closed atomic.Int64
	produced       atomic.Int64 // tokens handed to the gateway
}

func (m *playedModel) Chat(ctx context.Context, _ *provider.ChatRequest) (provider.Stream, error) {
	m.opened.Add(1)
	return &playedStream{m: m, ctx: ctx}, nil
}

type playedStream struct {
	m      *playedModel
	ctx    context.Context
	sent   int
	closed atomic.Bool
}

func (s *playedStream) Recv() (provider.Delta, error) {
	m := s.m
	if s.sent > 0 {
		switch m.mode {
		case "hold":
			if s.sent == 1 && !m.free.Load() {
				select {
				case <-m.release:
				case <-s.ctx.Done():
					return provider.Delta{}, s.ctx.Err()
				}
			}
			if s.sent >= m.tokens {
				return provider.Delta{FinishReason: "stop"}, io.EOF
			}
		case "stall":
			<-s.ctx.Done()
			return provider.Delta{}, s.ctx.Err()
		case "pour":
			if err := s.ctx.Err(); err != nil {
				return provider.Delta{}, err
			}
		}
	}
	s.sent++
	m.produced.Add(1)
	text := "tok "
	if m.mode == "pour" {
		text = strings.Repeat("word ", m.pourBytes/5)
	}
	return provider.Delta{Text: text}, nil
}

func (s *playedStream) Close() error {
	if !s.closed.Swap(true) {
		s.m.closed.Add(1)
	}
	return nil
}

// stabilityServer runs the API on a loopback listener with the played
// model as every tenant's builtin provider. sndbuf, when > 0, caps the
// server's socket send buffer, so that a client that does not read pushes
// back on the server at once.
func stabilityServer(t *testing.T, m *playedModel, timeout string, sndbuf int) string {
	t.Helper()
	reg := stabilityTenant(t, timeout)
	cat := gateway.NewCatalog(reg, gateway.Adapter{Chat: m}, func(*tenant.Tenant, string, tenant.Provider) gateway.Adapter { return gateway.Adapter{} })
	srv := New(Options{
		Registry: func() *tenant.Registry { return reg },
		Gateway:  gateway.New(gateway.Options{Catalog: func() *gateway.Catalog { return cat }}),
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = &bufListener{Listener: l, sndbuf: sndbuf}
	hs.Start()
	t.Cleanup(hs.Close)
	return l.Addr().String()
}

type bufListener struct {
	net.Listener
	sndbuf int
}

func (l *bufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.sndbuf > 0 {
		_ = c.(*net.TCPConn).SetWriteBuffer(l.sndbuf)
	}
	return c, err
}

// rawStream is a streaming completion read over a raw connection.
type rawStream struct {
	conn net.Conn
	body io.ReadCloser
	rd   *sse.Reader
}

const streamBody = `{"model":"builtin/extractive","stream":true,"messages":[{"role":"user","content":"hello"}]}`

// openStream sends a streaming completion on a new connection (whose
// receive buffer is capped at rcvbuf when > 0) and reads up to the first
// content chunk.
func openStream(addr string, rcvbuf int) (*rawStream, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if rcvbuf > 0 {
		_ = c.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	_, err = fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ck_dev_acme\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(streamBody), streamBody)
	if err != nil {
		c.Close()
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("status %d", res.StatusCode)
	}
	s := &rawStream{conn: c, body: res.Body, rd: sse.NewReader(res.Body)}
	for {
		ev, err := s.rd.Next()
		if err != nil {
			c.Close()
			return nil, err
		}
		if strings.Contains(string(ev.Data), `"content":"tok `) || strings.Contains(string(ev.Data), `"content":"word `) {
			return s, nil
		}
	}
}

// finish reads the rest of the stream and reports whether it ended with
// [DONE] (false: with an error event).
func (s *rawStream) finish() (done bool, errEvent string, err error) {
	defer s.conn.Close()
	for {
		ev, err := s.rd.Next()
		if err != nil {
			return false, errEvent, err
		}
		switch d := string(ev.Data); {
		case d == "[DONE]":
			return true, errEvent, nil
		case strings.Contains(d, `"error"`):
			errEvent = d
		}
	}
}

// openStreams opens n streams from a few goroutines.
func openStreams(t *testing.T, addr string, n, rcvbuf int) []*rawStream {
	t.Helper()
	out := make([]*rawStream, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				s, err := openStream(addr, rcvbuf)
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					continue
				}
				out[i] = s
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// each runs f on every stream from a few goroutines.
func each(streams []*rawStream, f func(*rawStream)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(streams); i = int(next.Add(1)) - 1 {
				f(streams[i])
			}
		})
	}
	wg.Wait()
}

// footprint is the process's goroutines and live heap after a collection.
type footprint struct {
	goroutines int
	heap       uint64
}

func measure() footprint {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return footprint{runtime.NumGoroutine(), ms.HeapAlloc}
}

// baseline warms the server up with one whole stream and returns the
// footprint once the goroutine count has settled.
func baseline(t *testing.T, addr string, m *playedModel) footprint {
	t.Helper()
	if m.mode == "hold" {
		// A whole stream, not held.
		m.free.Store(true)
		s, err := openStream(addr, 0)
		if err != nil {
			t.Fatal(err)
		}
		if done, _, err := s.finish(); !done || err != nil {
			t.Fatalf("warm-up stream: done %v, %v", done, err)
		}
		waitCount(t, "warm-up model streams closed", m.closed.Load, 1)
		m.free.Store(false)
		m.opened.Store(0)
		m.closed.Store(0)
	}
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(2 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		if k := runtime.NumGoroutine(); k == n {
			same++
		} else {
			n, same = k, 0
		}
	}
	return measure()
}

// Bounds of the checks after the streams are gone: the goroutines of the
// test server's idle bookkeeping, and the heap the runtime and the
// server's caches may keep.
const (
	goroutineSlack = 4
	heapSlack      = 8 << 20
)

// settle waits (at most 10 s) for the goroutines to come back to base and
// checks the heap after a collection.
func settle(t *testing.T, base footprint) {
	t.Helper()
	var now footprint
	for deadline := time.Now().Add(10 * time.Second); ; {
		now = measure()
		if now.goroutines <= base.goroutines+goroutineSlack || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now.goroutines > base.goroutines+goroutineSlack {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the streams, %d before:\n%s", now.goroutines, base.goroutines, buf[:runtime.Stack(buf, true)])
	}
	if now.heap > base.heap+heapSlack {
		t.Errorf("heap %d KiB after the streams, %d KiB before: grew by more than %d KiB", now.heap>>10, base.heap>>10, heapSlack>>10)
	}
	t.Logf("goroutines %d before, %d after; heap %d KiB before, %d KiB after", base.goroutines, now.goroutines, base.heap>>10, now.heap>>10)
}

// waitCount waits (at most 10 s) for f to reach want.
func waitCount(t *testing.T, what string, f func() int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := f(); got != want {
		buf := make([]byte, 1<<20)
		t.Fatalf("%s = %d, want %d\n%s", what, got, want, buf[:runtime.Stack(buf, true)])
	}
}

// TestThousandOpenStreams holds 1,000 streams open at once, each past its
// first token, then lets them all finish.
func TestThousandOpenStreams(t *testing.T) {
	const n = 1000
	m := &playedModel{mode: "hold", tokens: 20, release: make(chan struct{})}
	addr := stabilityServer(t, m, "1m", 0)
	base := baseline(t, addr, m)

	streams := openStreams(t, addr, n, 0)
	open := measure()
	perStream := (open.goroutines - base.goroutines) / n
	t.Logf("%d streams open: %d goroutines (%d a stream), heap %d KiB (%d KiB a stream)",
		n, open.goroutines, perStream, open.heap>>10, int64(open.heap-base.heap)/n>>10)
	if perStream > 4 {
		t.Errorf("%d goroutines a stream, want at most 4", perStream)
	}
	if got := m.opened.Load(); got != n {
		t.Fatalf("model calls = %d, want %d", got, n)
	}

	close(m.release)
	var done, failed atomic.Int64
	each(streams, func(s *rawStream) {
		if ok, _, err := s.finish(); ok && err == nil {
			done.Add(1)
		} else {
			failed.Add(1)
		}
	})
	if done.Load() != n {
		t.Fatalf("%d streams ended with [DONE], %d did not", done.Load(), failed.Load())
	}
	waitCount(t, "model streams closed", m.closed.Load, n)
	settle(t, base)
}

// TestDisconnectStorm opens 1,000 streams and hangs all of them up at once,
// mid-answer: every model call is cancelled and closed, and nothing stays.
func TestDisconnectStorm(t *testing.T) {
	const n = 1000
	m := &playedModel{mode: "hold", tokens: 20, release: make(chan struct{})}
	addr := stabilityServer(t, m, "1m", 0)
	base := baseline(t, addr, m)

	streams := openStreams(t, addr, n, 0)
	each(streams, func(s *rawStream) { s.conn.Close() })
	waitCount(t, "model streams closed", m.closed.Load, n)
	if got := m.opened.Load(); got != n {
		t.Errorf("model calls = %d, want %d", got, n)
	}
	close(m.release)
	settle(t, base)
}

// TestSlowReaders has clients that stop reading while the model pours out
// tokens: the server must hold back (the model is asked for no more than
// the socket buffers take), not buffer the answer in memory, and let go of
// everything once the clients hang up.
func TestSlowReaders(t *testing.T) {
	const (
		n         = 100
		pourBytes = 1000
		sockBuf   = 16 << 10
	)
	m := &playedModel{mode: "pour", pourBytes: pourBytes}
	addr := stabilityServer(t, m, "1m", sockBuf)
	base := baseline(t, addr, m)

	streams := openStreams(t, addr, n, sockBuf)
	// Wait until the model is held back: no token produced for a while.
	last, still := m.produced.Load(), 0
	for deadline := time.Now().Add(10 * time.Second); still < 10 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if p := m.produced.Load(); p == last {
			still++
		} else {
			last, still = p, 0
		}
	}
	held := measure()
	perStream := m.produced.Load() / n
	// What the socket buffers can hold (the kernel may double what was
	// asked for, on both sides), and a margin for the server's buffers.
	limit := int64(8*sockBuf/pourBytes) + 64
	t.Logf("held back: %d tokens of %d bytes a stream (limit %d); heap %d KiB (%d KiB a stream)",
		perStream, pourBytes, limit, held.heap>>10, int64(held.heap-base.heap)/n>>10)
	if perStream > limit {
		t.Errorf("the model produced %d tokens a stream for clients that read nothing, want at most %d", perStream, limit)
	}
	if held.heap > base.heap+uint64(n)*uint64(limit)*pourBytes+heapSlack {
		t.Errorf("heap grew by %d KiB while held back", (held.heap-base.heap)>>10)
	}

	// Each client reads a little, slowly, then hangs up.
	each(streams, func(s *rawStream) {
		buf := make([]byte, 4096)
		for range 4 {
			if _, err := s.body.Read(buf); err != nil {
				break
			}
		}
		s.conn.Close()
	})
	waitCount(t, "model streams closed", m.closed.Load, n)
	settle(t, base)
}

// TestProviderStallsMidStream has a model that sends one token and then
// nothing: every stream ends with an error event at the tenant's request
// timeout, with its model call closed and nothing left running.
func TestProviderStallsMidStream(t *testing.T) {
	const n = 200
	m := &playedModel{mode: "stall"}
	addr := stabilityServer(t, m, "1s", 0)
	base := baseline(t, addr, m)

	streams := openStreams(t, addr, n, 0)
	var timedOut, other atomic.Int64
	each(streams, func(s *rawStream) {
		done, errEvent, err := s.finish()
		if !done && strings.Contains(errEvent, "timeout") && (err == nil || errors.Is(err, io.EOF)) {
			timedOut.Add(1)
		} else {
			other.Add(1)
		}
	})
	if timedOut.Load() != n {
		t.Fatalf("%d streams ended with a timeout error event, %d otherwise", timedOut.Load(), other.Load())
	}
	waitCount(t, "model streams closed", m.closed.Load, n)
	settle(t, base)
}
