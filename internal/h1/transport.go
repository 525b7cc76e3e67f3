// Package h1 is an HTTP/1.1 client transport that runs each exchange on the
// caller's goroutine.
//
// net/http's Transport gives every connection a reading and a writing
// goroutine, so a call hands the request to one and the response back from
// the other, and the body's end back again: three goroutine wake-ups a
// call. On a small machine each costs tens of microseconds, more than the
// rest of a gateway's work. This transport writes the request and reads the
// response on the goroutine that called RoundTrip (and Read on the body),
// with the request and response codecs of net/http (Request.Write,
// http.ReadResponse), and keeps idle connections per host.
//
// It carries plain-HTTP requests with no proxy, which is how a gateway
// reaches upstreams on its own network (vLLM, Ollama, llama.cpp, a sidecar).
// Every other request (https, a proxy, an upgrade) goes to Fallback, a
// net/http Transport, which keeps HTTP/2 and TLS.
//
// A pooled connection is checked with a non-blocking peek before use. A
// request is sent a second time, on a new connection, only when the
// server cannot have acted on it: no byte of an answer came, and the
// server stopped reading the request or the request is safe to repeat
// (GET, HEAD, OPTIONS, TRACE, an Idempotency-Key). A POST the server read
// whole fails instead; retrying it is the caller's decision.
//
// Writing and reading on one goroutine has one cost: the answer is read
// once the request is written. A server that answers early and closes (a
// 413 for a body it will not read) is handled: its answer is read after
// the failed write. A server that stops reading but keeps the connection
// open holds the write until the request's context ends; net/http's
// transport would read its answer meanwhile.
package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// Defaults of the zero Transport's settings.
const (
	DefaultMaxIdlePerHost = 64
	DefaultIdleTimeout    = 90 * time.Second
	DefaultDialTimeout    = 10 * time.Second

	DefaultMaxResponseHeaderBytes = 1 << 20
)

// Transport is an http.RoundTripper; its zero value is not usable: set
// Fallback. It is safe for concurrent use.
type Transport struct {
	// Fallback carries the requests this transport does not: any scheme
	// but http, a request Proxy sends through a proxy, and upgrades.
	Fallback http.RoundTripper
	// Proxy, if set, chooses a proxy for a request as
	// http.Transport.Proxy does; a request with one goes to Fallback.
	Proxy func(*http.Request) (*url.URL, error)
	// DialContext opens connections (default: a net.Dialer with
	// DefaultDialTimeout and TCP keep-alives).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxIdlePerHost caps the idle connections kept per host (default
	// DefaultMaxIdlePerHost); a connection beyond it is closed.
	MaxIdlePerHost int
	// IdleTimeout closes a connection idle for longer (default
	// DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes caps the size of a response's head (default
	// DefaultMaxResponseHeaderBytes): a larger one fails the call.
	MaxResponseHeaderBytes int64

	mu   sync.Mutex
	idle map[string][]*conn // by host:port, most recently used last
}

// conn is one connection: its buffers live as long as it does.
type conn struct {
	t      *Transport
	addr   string
	nc     net.Conn
	cr     connReader // what br reads from
	cw     connWriter // what bw writes to
	br     *bufio.Reader
	bw     *bufio.Writer
	timer  *time.Timer // closes the connection once idle too long
	reused bool        // it has carried an exchange before
}

var defaultDialer = &net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		if t.Fallback == nil {
			return nil, errors.New("h1: no fallback transport for " + req.URL.Scheme + " requests")
		}
		return t.Fallback.RoundTrip(req)
	}
	addr := hostPort(req.URL)
	c, err := t.get(req.Context(), addr, false)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := c.exchange(req)
	if err == nil {
		return resp, nil
	}
	// A pooled connection is checked before use, but the server may still
	// close it as the request goes out. The request is sent once more, on
	// a new connection, when the server cannot have acted on it: it
	// failed before any byte of an answer, and either the server stopped
	// reading it or it is safe to repeat (GET, HEAD, OPTIONS, TRACE, or an
	// Idempotency-Key). A POST the server read whole is never sent twice.
	var again *resendable
	if !errors.As(err, &again) || req.Context().Err() != nil {
		return nil, err
	}
	if req, err = rewind(req); err != nil {
		return nil, again.err
	}
	if c, err = t.get(req.Context(), addr, true); err != nil {
		closeBody(req)
		return nil, err
	}
	return c.exchange(req)
}

// resendable is an exchange's error when the request may go again on a
// new connection.
type resendable struct{ err error }

func (e *resendable) Error() string { return e.err.Error() }
func (e *resendable) Unwrap() error { return e.err }

// idempotent reports whether req may be repeated without harm.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// handles reports whether req is carried here rather than by Fallback.
func (t *Transport) handles(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" || req.Method == http.MethodConnect {
		return false
	}
	if req.Header.Get("Upgrade") != "" {
		return false
	}
	if t.Proxy != nil {
		if u, err := t.Proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}

// exchange writes req and reads the response head on c. On an error c is
// closed.
func (c *conn) exchange(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// Cancelling the request closes the connection, which ends a blocked
	// write or read and tells the server the caller has gone.
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.nc.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	c.cw.err, c.cr.n = nil, 0
	werr := req.Write(c.bw)
	if werr == nil {
		werr = c.bw.Flush()
	}
	// A write that failed on the connection may be a server that answered
	// before reading the whole request (413, 401) and stopped reading: its
	// answer is still read. Any other failure (the body's own Read, a
	// length that does not match) leaves the server waiting for the rest.
	if werr != nil && (c.cw.err == nil || ctx.Err() != nil) {
		return fail(werr)
	}
	resp, err := c.readHead(req)
	if err != nil {
		if c.reused && c.cr.n == 0 && closedConn(err) && (werr != nil || idempotent(req)) {
			err = &resendable{err}
		} else if werr != nil {
			err = werr
		}
		return fail(err)
	}
	keep := werr == nil && !resp.Close && !req.Close
	b := &body{c: c, ctx: ctx, rc: resp.Body, stop: stop, keep: keep}
	if resp.Body == http.NoBody {
		b.once.Do(func() { b.finish(true) })
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// readHead reads the final response head, skipping interim ones (100
// Continue, 103 Early Hints; 101 switches protocols, which is not asked
// here). All of them together may take MaxResponseHeaderBytes.
func (c *conn) readHead(req *http.Request) (*http.Response, error) {
	c.cr.left = c.t.maxHeaderBytes()
	defer func() { c.cr.left = -1 }()
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil || resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, err
		}
	}
}

// body is a response body that returns its connection to the pool once
// read to its end, and closes it when closed before. Close may be called
// while a Read waits: closing the connection ends the Read.
type body struct {
	c    *conn
	ctx  context.Context
	rc   io.ReadCloser
	stop func() bool
	keep bool
	once sync.Once // finish runs once
	mu   sync.Mutex
	err  error // once set, what every later Read returns
}

// errBodyClosed is what a Read after Close returns.
var errBodyClosed = errors.New("h1: read on a closed response body")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	b.mu.Lock()
	switch {
	case b.err != nil: // Close came first, and closed the connection under the read
		err = b.err
	case err != io.EOF && b.ctx.Err() != nil:
		err = b.ctx.Err() // the cancel closed the connection under the read
	}
	b.err = err
	b.mu.Unlock()
	b.once.Do(func() { b.finish(err == io.EOF) })
	return n, err
}

func (b *body) Close() error {
	b.mu.Lock()
	if b.err == nil {
		b.err = errBodyClosed
	}
	b.mu.Unlock()
	b.once.Do(func() { b.finish(false) })
	return nil
}

// finish ends the exchange: the connection goes back to the pool when the
// body was read to its end, the server keeps it open, nothing unasked-for
// follows, and the request was not cancelled meanwhile; else it is closed.
func (b *body) finish(atEOF bool) {
	notCancelled := b.stop()
	if atEOF && b.keep && notCancelled && b.c.br.Buffered() == 0 {
		b.c.reused = true
		b.c.t.put(b.c)
		return
	}
	b.c.nc.Close()
}

// get returns an idle connection to addr, or dials a new one; fresh
// always dials.
func (t *Transport) get(ctx context.Context, addr string, fresh bool) (*conn, error) {
	t.mu.Lock()
	for list := t.idle[addr]; !fresh && len(list) > 0; list = t.idle[addr] {
		c := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[addr] = list[:len(list)-1]
		if !c.timer.Stop() {
			continue // its idle timer fired and is closing it
		}
		t.mu.Unlock()
		if c.alive() {
			return c, nil
		}
		c.nc.Close()
		t.mu.Lock()
	}
	t.mu.Unlock()
	dial := t.DialContext
	if dial == nil {
		dial = defaultDialer.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{t: t, addr: addr, nc: nc, cr: connReader{nc: nc, left: -1}, cw: connWriter{nc: nc}}
	c.br = bufio.NewReaderSize(&c.cr, 4<<10)
	c.bw = bufio.NewWriterSize(&c.cw, 4<<10)
	return c, nil
}

func (t *Transport) maxHeaderBytes() int64 {
	if t.MaxResponseHeaderBytes > 0 {
		return t.MaxResponseHeaderBytes
	}
	return DefaultMaxResponseHeaderBytes
}

// errHeadTooLarge fails a call whose response head passes
// MaxResponseHeaderBytes.
var errHeadTooLarge = errors.New("h1: the response head is larger than MaxResponseHeaderBytes")

// connReader reads from the connection, counts what it read (n), and
// while a response head is read, reads at most left bytes (left is -1
// otherwise).
type connReader struct {
	nc   net.Conn
	n    int64
	left int64
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, errHeadTooLarge
	}
	if r.left > 0 && int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.nc.Read(p)
	r.n += int64(n)
	if r.left > 0 {
		r.left -= int64(n)
	}
	return n, err
}

// connWriter writes to the connection and keeps its error, to tell a
// failed connection from a request body that failed.
type connWriter struct {
	nc  net.Conn
	err error
}

func (w *connWriter) Write(p []byte) (int, error) {
	n, err := w.nc.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// alive reports whether c, taken from the pool, can carry a request: the
// server has not closed it while it was idle. (Nothing was buffered when
// it went into the pool, and nothing reads it there.)
func (c *conn) alive() bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	return err == nil && peekAlive(rc)
}

// put keeps c for the next request to its host, or closes it when the
// host has enough idle connections.
func (t *Transport) put(c *conn) {
	limit, timeout := t.MaxIdlePerHost, t.IdleTimeout
	if limit <= 0 {
		limit = DefaultMaxIdlePerHost
	}
	if timeout <= 0 {
		timeout = DefaultIdleTimeout
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.idle[c.addr]) >= limit {
		c.nc.Close()
		return
	}
	if t.idle == nil {
		t.idle = make(map[string][]*conn)
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(timeout, func() { t.expire(c) })
	} else {
		c.timer.Reset(timeout)
	}
	t.idle[c.addr] = append(t.idle[c.addr], c)
}

// expire closes c when its idle time is up, unless get took it first.
func (t *Transport) expire(c *conn) {
	t.mu.Lock()
	list := t.idle[c.addr]
	for i, x := range list {
		if x == c {
			t.idle[c.addr] = append(list[:i], list[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	c.nc.Close()
}

// CloseIdleConnections closes the idle connections here and in Fallback.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.timer.Stop()
			c.nc.Close()
		}
	}
	if f, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// closedConn reports whether err is how a read fails on a connection the
// server closed: the end (http.ReadResponse reports an end before the
// status line as io.ErrUnexpectedEOF), or a reset.
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// rewind returns req with a fresh body, to send it again.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("h1: the connection was closed and the request body cannot be sent again")
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := *req
	r.Body = b
	return &r, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// hostPort is the dial address of u, with the default port.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
