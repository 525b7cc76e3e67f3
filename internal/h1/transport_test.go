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

// watchedServer starts a test server of h whose channel receives a value
// each time one of its connections closes.
func watchedServer(t *testing.T, h http.Handler) (*httptest.Server, <-chan struct{}) {
	closed := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, closed
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
	srv := httptest.NewServer(echo())
	defer srv.Close()
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
	// Sequential calls now find one of the (at most two) idle connections.
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

// rawServer answers each request on a connection with handle, and lets a
// test close connections from the server side.
type rawServer struct {
	ln net.Listener
	// closeAfter closes each connection after one answer, without saying
	// so; dropSecond closes it when a second request arrives, unanswered.
	closeAfter, dropSecond bool
	mu                     sync.Mutex
	bodies                 []string
}

func newRawServer(t *testing.T, closeAfter, dropSecond bool) *rawServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, closeAfter: closeAfter, dropSecond: dropSecond}
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
		if n == 1 && s.dropSecond {
			return
		}
		b, _ := io.ReadAll(req.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if s.closeAfter {
			return
		}
	}
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// TestSkipsAConnectionTheServerClosedWhileIdle sends bodies that cannot be
// read twice, so only the idle check, not a second sending, lets every
// call through.
func TestSkipsAConnectionTheServerClosedWhileIdle(t *testing.T) {
	s := newRawServer(t, true, false)
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

// TestResendsWhenTheServerClosesAsTheRequestGoesOut: the connection passes
// the idle check, and the server drops it on the next request; the call
// goes again on a new connection, with its whole body.
func TestResendsWhenTheServerClosesAsTheRequestGoesOut(t *testing.T) {
	s := newRawServer(t, false, true)
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	for i := range 3 {
		if got := post(t, c, s.url(), "body"); got != "ok" {
			t.Fatalf("call %d: %q", i, got)
		}
	}
	if n := d.n.Load(); n != 3 {
		t.Fatalf("%d dials, want 3", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) != 3 {
		t.Fatalf("the server answered %d requests, want 3", len(s.bodies))
	}
	for i, b := range s.bodies {
		if b != "body" {
			t.Fatalf("request %d reached the server with body %q", i, b)
		}
	}
}

func TestDoesNotResendABodyItCannotRewind(t *testing.T) {
	s := newRawServer(t, false, true)
	var d counting
	tr := newTransport(&d)
	if got := post(t, &http.Client{Transport: tr}, s.url(), "first"); got != "ok" {
		t.Fatal(got)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url(), io.NopCloser(strings.NewReader("second")))
	res, err := tr.RoundTrip(req)
	if err == nil {
		res.Body.Close()
		t.Fatal("a body that cannot be read again was sent twice, or the stale connection was not noticed")
	}
}

func TestConnectionCloseIsNotPooled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	}))
	defer srv.Close()
	var d counting
	c := &http.Client{Transport: newTransport(&d)}
	for range 3 {
		if got := post(t, c, srv.URL, "x"); got != "bye" {
			t.Fatal(got)
		}
	}
	if n := d.n.Load(); n != 3 {
		t.Fatalf("3 calls answered with Connection: close opened %d connections, want 3", n)
	}
}

func TestABodyClosedEarlyClosesItsConnection(t *testing.T) {
	srv, closed := watchedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's connection stayed open after the body was abandoned")
	}
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
	srv, closed := watchedServer(t, echo())
	var d counting
	tr := newTransport(&d)
	tr.IdleTimeout = 20 * time.Millisecond
	c := &http.Client{Transport: tr}
	post(t, c, srv.URL, "a")
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("an idle connection outlived IdleTimeout")
	}
	post(t, c, srv.URL, "b")
	if n := d.n.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
	tr.CloseIdleConnections()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("CloseIdleConnections left a connection open")
	}
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

// TestAnEndlessHeadFails: an upstream that sends header lines without end
// fails the call once the head passes the cap, instead of filling memory.
func TestAnEndlessHeadFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	}()
	var d counting
	tr := newTransport(&d)
	tr.MaxResponseHeaderBytes = 64 << 10
	_, err = (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "larger than MaxResponseHeaderBytes") {
		t.Fatalf("err = %v, want the head-too-large error", err)
	}
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
