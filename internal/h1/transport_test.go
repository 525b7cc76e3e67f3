package h1_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/h1"
)

// counting wraps a dialer and counts the connections it opens.
type counting struct{ n atomic.Int32 }

func (c *counting) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.n.Add(1)
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func newTransport(d *counting) *h1.Transport {
	return &h1.Transport{Fallback: failingFallback{}, DialContext: d.dial}
}

// failingFallback fails every request, so a test notices one that should
// have stayed in the transport.
type failingFallback struct{}

func (failingFallback) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("fallback called for " + r.URL.String())
}

// connWatch follows a test server's connections: closed receives a value
// each time one closes, and open counts those open.
type connWatch struct {
	closed chan struct{}
	open   atomic.Int64
}

// watchedServer starts a test server of h with a watch on its connections.
func watchedServer(t *testing.T, h http.Handler) (*httptest.Server, *connWatch) {
	w := &connWatch{closed: make(chan struct{}, 1024)}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			w.open.Add(1)
		case http.StateClosed:
			w.open.Add(-1)
			w.closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, w
}

// waitClosed waits for one of the watched connections to close.
func (w *connWatch) waitClosed(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.closed:
	case <-time.After(5 * time.Second):
		t.Fatal(what)
	}
}

func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(b)))
	})
}

func post(t *testing.T, c *http.Client, u, body string) string {
	t.Helper()
	res, err := c.Post(u, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReusesOneConnectionForSequentialCalls(t *testing.T) {
	srv := httptest.NewServer(echo())
	defer srv.Close()
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	for i := range 50 {
		want := "POST /x " + strings.Repeat("b", i)
		if got := post(t, c, srv.URL+"/x", strings.Repeat("b", i)); got != want {
			t.Fatalf("call %d answered %q, want %q", i, got, want)
		}
	}
	if n := d.n.Load(); n != 1 {
		t.Fatalf("50 sequential calls opened %d connections, want 1", n)
	}
}

func TestConcurrentCallsAndTheIdleCap(t *testing.T) {
	srv, watch := watchedServer(t, echo())
	var d counting
	tr := newTransport(&d)
	tr.MaxIdlePerHost = 2
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 20 {
				body := strings.Repeat("x", i) + "/" + strings.Repeat("y", j)
				if got, want := post(t, c, srv.URL, body), "POST / "+body; got != want {
					t.Errorf("answered %q, want %q", got, want)
				}
			}
		})
	}
	wg.Wait()
	// Beyond the cap of two idle connections, every one is closed.
	for deadline := time.Now().Add(5 * time.Second); watch.open.Load() > 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections stay open after the burst, want at most 2 idle", watch.open.Load())
		}
		time.Sleep(time.Millisecond)
	}
	// Sequential calls now find one of the idle connections.
	before := d.n.Load()
	for range 10 {
		post(t, c, srv.URL, "z")
	}
	if n := d.n.Load(); n != before {
		t.Fatalf("sequential calls after the burst dialled %d more connections", n-before)
	}
}

func TestStreamsTheBodyAsItArrives(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Write([]byte("not a stream"))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush() // the head goes out before any event
		for i := range 3 {
			<-next
			io.WriteString(w, "data: "+string(rune('a'+i))+"\n\n")
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	res, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	for i := range 3 {
		next <- struct{}{} // the server writes one event only when asked
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := "data: " + string(rune('a'+i)) + "\n"; line != want {
			t.Fatalf("event %d: %q, want %q", i, line, want)
		}
		br.ReadString('\n')
	}
	if _, err := io.ReadAll(br); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := post(t, c, srv.URL, ""); got != "not a stream" {
		t.Fatalf("the call after the stream answered %q", got)
	}
	if n := d.n.Load(); n != 1 {
		t.Fatalf("a stream read to its end left its connection unusable: %d dials", n)
	}
}

// rawFlags say how a rawServer misbehaves: closeAfter closes each
// connection after one answer, without saying so; dropSecond closes it
// when a second request arrives, unanswered; announceClose says
// Connection: close in every answer but keeps the connection open.
type rawFlags struct{ closeAfter, dropSecond, announceClose bool }

// rawServer answers each request on a connection with "ok", and can
// misbehave as its flags say.
type rawServer struct {
	rawFlags
	ln     net.Listener
	mu     sync.Mutex
	seen   int      // requests whose head was read, answered or not
	bodies []string // bodies of the answered requests
}

func newRawServer(t *testing.T, flags rawFlags) *rawServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{rawFlags: flags, ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *rawServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.seen++
		s.mu.Unlock()
		if n == 1 && s.dropSecond {
			return
		}
		b, _ := io.ReadAll(req.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		head := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		if s.announceClose {
			head += "Connection: close\r\n"
		}
		io.WriteString(c, head+"\r\nok")
		if s.closeAfter {
			return
		}
	}
}

func (s *rawServer) counts() (seen, answered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen, len(s.bodies)
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// TestSkipsAConnectionTheServerClosedWhileIdle sends bodies that cannot be
// read twice, so only the idle check, not a second sending, lets every
// call through.
func TestSkipsAConnectionTheServerClosedWhileIdle(t *testing.T) {
	s := newRawServer(t, rawFlags{closeAfter: true})
	var d counting
	tr := newTransport(&d)
	for i := range 5 {
		req, _ := http.NewRequest(http.MethodPost, s.url(), io.NopCloser(strings.NewReader("body")))
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("call %d: %q", i, b)
		}
		time.Sleep(10 * time.Millisecond) // let the server's close arrive
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.bodies {
		if b != "body" {
			t.Fatalf("request %d reached the server with body %q", i, b)
		}
	}
	if len(s.bodies) != 5 {
		t.Fatalf("the server saw %d requests, want 5", len(s.bodies))
	}
}

// TestAPostTheServerReadIsNotSentTwice: the connection passes the idle
// check, and the server reads the next request and closes without an
// answer. It may have acted on it: a POST fails rather than go twice.
func TestAPostTheServerReadIsNotSentTwice(t *testing.T) {
	s := newRawServer(t, rawFlags{dropSecond: true})
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	if got := post(t, c, s.url(), "first"); got != "ok" {
		t.Fatal(got)
	}
	res, err := c.Post(s.url(), "text/plain", strings.NewReader("second"))
	if err == nil {
		res.Body.Close()
		t.Fatal("a POST the server read and dropped was answered: it went twice")
	}
	if seen, _ := s.counts(); seen != 2 {
		t.Fatalf("the server read %d requests, want 2: the POST was sent again", seen)
	}
	if n := d.n.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}

// TestAnIdempotentRequestIsSentAgain: in the same case, a GET, or a POST
// with an Idempotency-Key, goes once more on a new connection, whole.
func TestAnIdempotentRequestIsSentAgain(t *testing.T) {
	s := newRawServer(t, rawFlags{dropSecond: true})
	var d counting
	tr := newTransport(&d)
	c := &http.Client{Transport: tr}
	for i := range 2 {
		res, err := c.Get(s.url())
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		io.Copy(io.Discard, res.Body) // read to the end: the connection goes back to the pool
		res.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, s.url(), strings.NewReader("keyed"))
	req.Header.Set("Idempotency-Key", "k1")
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST with an Idempotency-Key: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	// GET 1 on connection 1; GET 2 dropped there, answered on 2; the POST
	// dropped on 2, answered on 3.
	if n := d.n.Load(); n != 3 {
		t.Fatalf("%d dials, want 3", n)
	}
	seen, answered := s.counts()
	if seen != 5 || answered != 3 {
		t.Fatalf("the server read %d requests and answered %d, want 5 and 3", seen, answered)
	}
	if last := s.bodies[len(s.bodies)-1]; last != "keyed" {
		t.Fatalf("the POST sent again carried %q, want its whole body", last)
	}
}

func TestDoesNotResendABodyItCannotRewind(t *testing.T) {
	s := newRawServer(t, rawFlags{dropSecond: true})
	var d counting
	tr := newTransport(&d)
	if got := post(t, &http.Client{Transport: tr}, s.url(), "first"); got != "ok" {
		t.Fatal(got)
	}
	// Safe to repeat, but its body can be read only once.
	req, _ := http.NewRequest(http.MethodPost, s.url(), io.NopCloser(strings.NewReader("second")))
	req.Header.Set("Idempotency-Key", "k2")
	res, err := tr.RoundTrip(req)
	if err == nil {
		res.Body.Close()
		t.Fatal("a body that cannot be read again was sent twice, or the dropped request was not noticed")
	}
	if seen, _ := s.counts(); seen != 2 {
		t.Fatalf("the server read %d requests, want 2", seen)
	}
}

// TestConnectionCloseIsNotPooled: an answer that says Connection: close
// ends its connection, even when the server leaves it open.
func TestConnectionCloseIsNotPooled(t *testing.T) {
	s := newRawServer(t, rawFlags{announceClose: true})
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	for range 3 {
		if got := post(t, c, s.url(), "x"); got != "ok" {
			t.Fatal(got)
		}
	}
	if n := d.n.Load(); n != 3 {
		t.Fatalf("3 calls answered with Connection: close opened %d connections, want 3", n)
	}
}

func TestABodyClosedEarlyClosesItsConnection(t *testing.T) {
	srv, watch := watchedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 64<<10)))
	}))
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	res, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	watch.waitClosed(t, "the server's connection stayed open after the body was abandoned")
	if _, err := res.Body.Read(buf); err == nil {
		t.Fatal("a read after Close succeeded")
	}
	post(t, c, srv.URL, "")
	if n := d.n.Load(); n != 2 {
		t.Fatalf("%d dials, want 2: an abandoned connection was reused", n)
	}
}

func TestNoBodyAnswersKeepTheConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	for range 3 {
		res, err := c.Head(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatal(res.Status)
		}
	}
	if n := d.n.Load(); n != 1 {
		t.Fatalf("%d dials for three 204 answers, want 1", n)
	}
}

func TestInterimAnswersAreSkipped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("final"))
	}))
	defer srv.Close()
	var d counting
	if got := post(t, &http.Client{Transport: newTransport(&d)}, srv.URL, ""); got != "final" {
		t.Fatalf("answered %q, want the final answer", got)
	}
}

// TestCancelClosesTheConnection cancels while waiting for the answer and
// while reading it: the call returns the context's error, and the server
// sees its client go.
func TestCancelClosesTheConnection(t *testing.T) {
	for _, stage := range []string{"head", "body"} {
		t.Run(stage, func(t *testing.T) {
			gone := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if stage == "body" {
					w.Write([]byte("first"))
					w.(http.Flusher).Flush()
				}
				<-r.Context().Done()
				close(gone)
			}))
			defer srv.Close()
			var d counting
			c := &http.Client{Transport: newTransport(&d)}
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if stage == "head" {
				time.AfterFunc(20*time.Millisecond, cancel)
				_, err := c.Do(req)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
			} else {
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 5)
				if _, err := io.ReadFull(res.Body, buf); err != nil {
					t.Fatal(err)
				}
				time.AfterFunc(20*time.Millisecond, cancel)
				_, err = io.ReadAll(res.Body)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("read err = %v, want context.Canceled", err)
				}
				res.Body.Close()
			}
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not see the cancelled call's connection close")
			}
		})
	}
}

func TestIdleConnectionsExpire(t *testing.T) {
	srv, watch := watchedServer(t, echo())
	var d counting
	tr := newTransport(&d)
	tr.IdleTimeout = 20 * time.Millisecond
	c := &http.Client{Transport: tr}
	post(t, c, srv.URL, "a")
	watch.waitClosed(t, "an idle connection outlived IdleTimeout")
	post(t, c, srv.URL, "b")
	if n := d.n.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
}

func TestCloseIdleConnections(t *testing.T) {
	srv, watch := watchedServer(t, echo())
	var d counting
	tr := newTransport(&d)
	tr.IdleTimeout = time.Hour // only CloseIdleConnections can close it
	post(t, &http.Client{Transport: tr}, srv.URL, "a")
	if watch.open.Load() != 1 {
		t.Fatalf("%d connections open after a call, want 1 idle", watch.open.Load())
	}
	tr.CloseIdleConnections()
	watch.waitClosed(t, "CloseIdleConnections left a connection open")
}

type recordingFallback struct{ got []string }

func (f *recordingFallback) RoundTrip(r *http.Request) (*http.Response, error) {
	f.got = append(f.got, r.URL.String())
	return &http.Response{StatusCode: http.StatusTeapot, Body: http.NoBody, Request: r}, nil
}

func TestOtherRequestsGoToTheFallback(t *testing.T) {
	srv := httptest.NewServer(echo())
	defer srv.Close()
	fb := &recordingFallback{}
	proxied := srv.URL + "/via-proxy"
	tr := &h1.Transport{Fallback: fb, Proxy: func(r *http.Request) (*url.URL, error) {
		if r.URL.String() == proxied {
			return url.Parse("http://proxy.invalid:3128")
		}
		return nil, nil
	}}
	upgrade, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	upgrade.Header.Set("Upgrade", "websocket")
	for _, req := range []*http.Request{
		must(http.NewRequest(http.MethodGet, "https://example.invalid/v1/models", nil)),
		must(http.NewRequest(http.MethodGet, proxied, nil)),
		upgrade,
	} {
		res, err := tr.RoundTrip(req)
		if err != nil || res.StatusCode != http.StatusTeapot {
			t.Fatalf("%s: %v %v, want the fallback's answer", req.URL, res, err)
		}
	}
	if len(fb.got) != 3 {
		t.Fatalf("fallback saw %v", fb.got)
	}
	if got := post(t, &http.Client{Transport: tr}, srv.URL+"/direct", "d"); got != "POST /direct d" {
		t.Fatalf("a plain call answered %q", got)
	}
}

func TestReadsAfterTheEndKeepSayingSo(t *testing.T) {
	srv := httptest.NewServer(echo())
	defer srv.Close()
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	res, err := c.Post(srv.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for range 2 {
		if n, err := res.Body.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("a read after the end = %d, %v; want 0, io.EOF", n, err)
		}
	}
	res.Body.Close()
	if n, err := res.Body.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("a read after the end and Close = %d, %v; want 0, io.EOF", n, err)
	}
}

// floodingServer answers one request with first, then line, written
// again and again until the client goes; it returns the server's URL.
func floodingServer(t *testing.T, first, line string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, first)
		for {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	}()
	return "http://" + ln.Addr().String()
}

// headTooLarge calls url with a 64 KiB head cap and fails the test unless
// the call fails for a head larger than the cap.
func headTooLarge(t *testing.T, url string) {
	t.Helper()
	var d counting
	tr := newTransport(&d)
	tr.MaxResponseHeaderBytes = 64 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := tr.RoundTrip(req)
	if err == nil {
		res.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "larger than MaxResponseHeaderBytes") {
		t.Fatalf("err = %v, want the head-too-large error", err)
	}
}

// TestAnEndlessHeadFails: an upstream that sends header lines without end
// fails the call once the head passes the cap, instead of filling memory.
func TestAnEndlessHeadFails(t *testing.T) {
	headTooLarge(t, floodingServer(t, "HTTP/1.1 200 OK\r\n", "X-Filler: "+strings.Repeat("a", 1000)+"\r\n"))
}

// TestAnAnswerBeforeTheWholeRequestIsRead: a server that refuses a large
// body without reading it still has its answer read.
func TestAnAnswerBeforeTheWholeRequestIsRead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	defer srv.Close()
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	res, err := c.Post(srv.URL, "application/octet-stream", bytes.NewReader(make([]byte, 16<<20)))
	if err != nil {
		t.Fatalf("the server's early answer was lost: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "too large") {
		t.Fatalf("answer %d %q, want 413", res.StatusCode, b)
	}
}

// failingBody gives some bytes, then fails.
type failingBody struct{ sent bool }

var errBody = errors.New("the body's source failed")

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "partial"), nil
	}
	return 0, errBody
}

// TestABodyThatFailsFailsTheCall: a request body that fails, or is shorter
// than its ContentLength, fails the call at once; the server, still waiting
// for the rest, is not waited for.
func TestABodyThatFailsFailsTheCall(t *testing.T) {
	srv := httptest.NewServer(echo())
	defer srv.Close()
	var d counting
	tr := newTransport(&d)
	for _, tc := range []struct {
		name string
		req  func(ctx context.Context) *http.Request
	}{
		{"read error", func(ctx context.Context) *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, io.NopCloser(&failingBody{}))
			return r
		}},
		{"short body", func(ctx context.Context) *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("abc")))
			r.ContentLength = 10
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := tr.RoundTrip(tc.req(ctx))
			if err == nil {
				res.Body.Close()
				t.Fatal("the call succeeded with a broken body")
			}
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v only at the deadline: the call waited for the server", err)
			}
		})
	}
}

// TestCloseEndsAWaitingRead: closing a body from another goroutine ends a
// Read that waits for a stalled stream.
func TestCloseEndsAWaitingRead(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done(): // the client closed the connection
		}
	}))
	defer srv.Close()
	var d counting
	res, err := (&http.Client{Transport: newTransport(&d)}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := res.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := res.Body.Read(buf) // waits: the server sends nothing more
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read start waiting
	closed := make(chan struct{})
	go func() { res.Body.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited behind the Read")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the waiting Read returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting Read did not end after Close")
	}
}

// TestEndlessInterimAnswersFail: interim heads count against the head cap,
// so a server that sends 103 after 103 fails the call.
func TestEndlessInterimAnswersFail(t *testing.T) {
	headTooLarge(t, floodingServer(t, "", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"))
}

func TestDialErrorsReachTheCaller(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var d counting
	_, err := (&http.Client{Transport: newTransport(&d)}).Get("http://" + addr)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("err = %v, want a dial error", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
