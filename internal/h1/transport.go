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
	for {
		c, err := t.get(req.Context(), addr)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := c.exchange(req)
		if err == nil {
			return resp, nil
		}
		// A pooled connection is checked before use, but the server may
		// still close it as the request goes out: then it fails before
		// any answer, and the request is sent again on a new connection
		// when its body can be read again.
		if !c.reused || !retryable(err) || req.Context().Err() != nil {
			return nil, err
		}
		if req, err = rewind(req); err != nil {
			return nil, err
		}
	}
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
	werr := req.Write(c.bw)
	if werr == nil {
		werr = c.bw.Flush()
	}
	if werr != nil && ctx.Err() != nil {
		return fail(werr)
	}
	// A server may answer before it has read the whole request (413, 401)
	// and stop reading: when the write fails, its answer is still read.
	var resp *http.Response
	for {
		var err error
		c.cr.left = c.t.maxHeaderBytes()
		resp, err = http.ReadResponse(c.br, req)
		c.cr.left = -1
		if err != nil {
			if werr != nil {
				err = werr
			}
			return fail(err)
		}
		// An interim answer (100 Continue, 103 Early Hints) precedes the
		// final one; 101 switches protocols, which is not asked here.
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	keep := werr == nil && !resp.Close && !req.Close
	b := &body{c: c, ctx: ctx, rc: resp.Body, stop: stop, keep: keep}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// body is a response body that returns its connection to the pool once
// read to its end, and closes it when closed before.
type body struct {
	c    *conn
	ctx  context.Context
	rc   io.ReadCloser
	stop func() bool
	keep bool
	mu   sync.Mutex
	err  error // once set, what every later Read returns
}

// errBodyClosed is what a Read after Close returns.
var errBodyClosed = errors.New("h1: read on a closed response body")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr // the cancel closed the connection under the read
		}
	}
	b.err = err
	return n, err
}

func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.finish(false)
		b.err = errBodyClosed
	}
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

// get returns an idle connection to addr, or dials a new one.
func (t *Transport) get(ctx context.Context, addr string) (*conn, error) {
	t.mu.Lock()
	for list := t.idle[addr]; len(list) > 0; list = t.idle[addr] {
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
	c := &conn{t: t, addr: addr, nc: nc, cr: connReader{nc: nc, left: -1}, bw: bufio.NewWriterSize(nc, 4<<10)}
	c.br = bufio.NewReaderSize(&c.cr, 4<<10)
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

// connReader reads from the connection, and while a response head is
// read, at most left bytes (left is -1 otherwise).
type connReader struct {
	nc   net.Conn
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
	if r.left > 0 {
		r.left -= int64(n)
	}
	return n, err
}

// alive reports whether c, taken from the pool, can carry a request: the
// server has not closed it while it was idle.
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
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

// retryable reports whether err is how a reused connection the server had
// closed fails: the write is refused, or the read finds the end at once.
func retryable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
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
