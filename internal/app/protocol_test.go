package app_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestHeadLimitsOfTheListener sends oversized request heads to the app's
// own listener: one over crispy's limit gets 431 in the envelope, one over
// the HTTP server's gets its plain-text 431 (see docs/errors.md).
func TestHeadLimitsOfTheListener(t *testing.T) {
	s := start(t, testConfig(t, copyTenants(t)))
	addr := strings.TrimPrefix(s.url, "http://")
	send := func(query int) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			_, _ = fmt.Fprintf(c, "GET /health?q=%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", strings.Repeat("a", query))
		}()
		b, err := io.ReadAll(c)
		if err != nil && !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("read: %v", err)
		}
		return string(b)
	}
	if got := send(40 << 10); !strings.HasPrefix(got, "HTTP/1.1 431 Request Header Fields Too Large\r\n") ||
		!strings.Contains(got, "\r\nContent-Type: application/json; charset=utf-8\r\n") ||
		!strings.Contains(got, `{"ok":false,"error":{"code":"headers_too_large",`) {
		t.Errorf("40 KiB query:\n%.400s", got)
	}
	want := "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"
	if got := send(1 << 20); got != want {
		t.Errorf("1 MiB query:\n%q\nwant\n%q", got, want)
	}
}
