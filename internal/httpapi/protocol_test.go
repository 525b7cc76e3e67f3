package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
)

// listen serves ts on a real listener set up as the app sets up its own
// (MaxHeaderBytes), and returns its address.
func (ts *testServer) listen(t *testing.T, readHeaderTimeout time.Duration) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(ts)
	hs.Config.MaxHeaderBytes = MaxHeaderBytes
	hs.Config.ReadHeaderTimeout = readHeaderTimeout
	hs.Config.ErrorLog = nil
	hs.Start()
	t.Cleanup(hs.Close)
	return hs.Listener.Addr().String()
}

// exchange writes raw to addr and returns every byte the server sends until
// it closes the connection.
func exchange(t *testing.T, addr, raw string) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// Write while reading: the server may answer and close before it has
	// read all of a request it refuses.
	go func() { _, _ = fmt.Fprint(c, raw) }()
	got, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("read: %v (after %q)", err, got)
	}
	return got
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset by peer")
}

var dateHeader = regexp.MustCompile(`\r\nDate: [^\r]*`)

// headOf returns a request head of exactly size bytes (as headSize counts
// it): GET target with a query padded to fit, Host and extra fields.
func headOf(t *testing.T, path string, size int, fields ...string) string {
	t.Helper()
	tail := "Host: crispy.test\r\nConnection: close\r\n"
	for i := 0; i+1 < len(fields); i += 2 {
		tail += fields[i] + ": " + fields[i+1] + "\r\n"
	}
	tail += "\r\n"
	base := len("GET ") + len(path+"?q=") + len(" HTTP/1.1\r\n") + len(tail)
	if size < base {
		t.Fatalf("head of %d bytes: the least is %d", size, base)
	}
	return "GET " + path + "?q=" + strings.Repeat("a", size-base) + " HTTP/1.1\r\n" + tail
}

// TestHeadOverCrispysLimit checks that a request whose head is over
// MaxRequestHead, and under net/http's own limit, gets 431 in the
// envelope (or, under /v1, in OpenAI's format), on any path, and that a
// head of exactly the limit is served.
func TestHeadOverCrispysLimit(t *testing.T) {
	if MaxRequestHead >= MaxHeaderBytes {
		t.Fatalf("MaxRequestHead %d must be below MaxHeaderBytes %d", MaxRequestHead, MaxHeaderBytes)
	}
	ts := newTestServer(t, true)
	addr := ts.listen(t, 5*time.Second)
	pad := strings.Repeat("p", 1000)
	manyFields := make([]string, 0, 80)
	for i := range 40 {
		manyFields = append(manyFields, fmt.Sprintf("X-Pad-%d", i), pad)
	}
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"head of the limit", headOf(t, "/health", MaxRequestHead), http.StatusUnauthorized},
		{"one byte over", headOf(t, "/health", MaxRequestHead+1), http.StatusRequestHeaderFieldsTooLarge},
		{"long query", headOf(t, "/health", 40<<10, "Authorization", "Bearer ck_dev_acme"), http.StatusRequestHeaderFieldsTooLarge},
		{"many headers", headOf(t, "/health", 42<<10, manyFields...), http.StatusRequestHeaderFieldsTooLarge},
		{"near net/http's limit", headOf(t, "/health", MaxHeaderBytes-1), http.StatusRequestHeaderFieldsTooLarge},
		{"unknown path", headOf(t, "/no/such/route", 40<<10), http.StatusRequestHeaderFieldsTooLarge},
		{"wrong method", strings.Replace(headOf(t, "/health", 40<<10), "GET", "PUT", 1), http.StatusRequestHeaderFieldsTooLarge},
		{"openai route", headOf(t, "/v1/models", 40<<10, "Authorization", "Bearer ck_dev_acme"), http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := exchange(t, addr, tt.raw)
			res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
			if err != nil {
				t.Fatalf("%v: %q", err, raw)
			}
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.want || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("got %d %s %s, want %d in JSON", res.StatusCode, res.Header.Get("Content-Type"), body, tt.want)
			}
			if tt.want != http.StatusRequestHeaderFieldsTooLarge {
				return
			}
			msg := fmt.Sprintf("the request line and headers are %d bytes, more than the limit of %d: send long parameters in a request body", len(tt.raw), MaxRequestHead)
			var want string
			if strings.Contains(tt.raw, "/v1/") {
				want = `{"error":{"message":"` + msg + `","type":"invalid_request_error","param":null,"code":"headers_too_large"}}`
			} else {
				traceID := strings.Split(res.Header.Get("traceparent"), "-")[1]
				want = `{"ok":false,"error":{"code":"headers_too_large","message":"` + msg + `","details":{"limit":32768}},"traceId":"` + traceID + `"}` + "\n"
			}
			if string(body) != want {
				t.Errorf("body:\n%s\nwant:\n%s", body, want)
			}
		})
	}
	if n := ts.store.calls.Load(); n != 0 {
		t.Errorf("requests over the limit made %d storage calls", n)
	}
}

// TestProtocolErrorsCrispyAnswers checks odd requests that net/http lets
// through to crispy: each gets an envelope.
func TestProtocolErrorsCrispyAnswers(t *testing.T) {
	ts := newTestServer(t, true)
	addr := ts.listen(t, 5*time.Second)
	tests := []struct {
		name   string
		raw    string
		status int
		code   api.ErrorCode
	}{
		{"request target *", "GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400, api.CodeInvalidRequest},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, api.CodeInvalidRequest},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n", 404, api.CodeNotFound},
		{"malformed chunked body", "POST /test/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ck_dev_acme\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n", 400, api.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := exchange(t, addr, tt.raw)
			res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
			if err != nil {
				t.Fatalf("%v: %q", err, raw)
			}
			var env api.Envelope
			if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode != tt.status || env.Error == nil || env.Error.Code != tt.code || env.TraceID == "" {
				t.Errorf("got %q, want %d %s in the envelope", raw, tt.status, tt.code)
			}
		})
	}
}

// TestProtocolErrorsNetHTTPAnswers pins what net/http answers itself,
// before any handler runs, byte for byte: docs/errors.md lists the same
// cases ("Errors the HTTP server answers before crispy sees the request").
func TestProtocolErrorsNetHTTPAnswers(t *testing.T) {
	ts := newTestServer(t, true)
	addr := ts.listen(t, 5*time.Second)
	plain := func(status string) string {
		return "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" + status
	}
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"head over MaxHeaderBytes", "GET /health?q=" + strings.Repeat("a", 1<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n", plain("431 Request Header Fields Too Large")},
		{"Content-Length -1", "POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", plain("400 Bad Request")},
		{"Content-Length not a number", "POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", plain("400 Bad Request")},
		{"two Content-Lengths", "POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", plain("400 Bad Request")},
		{"byte 0x7f in a header value", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", plain("400 Bad Request")},
		{"byte 0x00 in a header value", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", plain("400 Bad Request")},
		{"header line without colon", "GET /health HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", plain("400 Bad Request")},
		{"space in a header name", "GET /health HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", plain("400 Bad Request: invalid header name")},
		{"malformed request line", "GARBAGE\r\nHost: x\r\n\r\n", plain("400 Bad Request")},
		{"invalid method", "G(T /health HTTP/1.1\r\nHost: x\r\n\r\n", plain("400 Bad Request")},
		{"malformed request target", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", plain("400 Bad Request")},
		{"malformed version", "GET /health HTTP/x.y\r\nHost: x\r\n\r\n", plain("400 Bad Request")},
		{"HTTP/1.1 without Host", "GET /health HTTP/1.1\r\n\r\n", plain("400 Bad Request: missing required Host header")},
		{"two Host headers", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", plain("400 Bad Request")},
		{"malformed Host", "GET /health HTTP/1.1\r\nHost: a b\r\n\r\n", plain("400 Bad Request: malformed Host header")},
		{"TLS on the plain port", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", plain("400 Bad Request")},
		{"HTTP/2.0 request line", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", plain("505 HTTP Version Not Supported: unsupported protocol version")},
		{"HTTP/0.9", "GET /health HTTP/0.9\r\nHost: x\r\n\r\n", plain("505 HTTP Version Not Supported: unsupported protocol version")},
		{"unknown Transfer-Encoding", "POST /chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nUnsupported transfer encoding"},
		{"Expect other than 100-continue", "POST /chat HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}", "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dateHeader.ReplaceAllString(string(exchange(t, addr, tt.raw)), "")
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}

	// A head that does not arrive within ReadHeaderTimeout: the connection
	// is closed without an answer.
	slow := ts.listen(t, 200*time.Millisecond)
	c, err := net.Dial("tcp", slow)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "GET /health HTTP/1.1\r\nHost: x\r\n")
	if got, err := io.ReadAll(c); len(got) != 0 || (err != nil && !isReset(err)) {
		t.Errorf("slow head: got %q, %v; want the connection closed without an answer", got, err)
	}
	if n := ts.store.calls.Load(); n != 0 {
		t.Errorf("refused requests made %d storage calls", n)
	}
}
