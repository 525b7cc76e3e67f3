package httpapi

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestMaxInFlight(t *testing.T) {
	reg := registry(t)
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	s := New(Options{
		Registry:    func() *tenant.Registry { return reg },
		Metrics:     obs.NewMetrics(),
		MaxInFlight: 2,
		extra: []*route{{pattern: "GET /test/block", family: "chat", h: func(w http.ResponseWriter, r *http.Request) error {
			entered.Done()
			<-release
			return writeData(w, r, http.StatusOK, "done")
		}}},
	})
	s.SetReady(true)
	reqAs := func(key, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec
	}
	req := func(path string) *httptest.ResponseRecorder { return reqAs("ck_dev_acme", path) }
	// One request of each tenant: each holds its whole share (a quarter of
	// 2 is 1), and together they fill the server.
	var wg sync.WaitGroup
	for _, key := range []string{"ck_dev_acme", "ck_dev_globex"} {
		wg.Go(func() {
			if rec := reqAs(key, "/test/block"); rec.Code != 200 {
				t.Errorf("blocked request = %d", rec.Code)
			}
		})
	}
	entered.Wait()
	rec := req("/health")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("third request = %d (Retry-After %q), want 503 at once", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := req("/readyz"); rec.Code != 200 {
		t.Errorf("probes are not counted: /readyz = %d", rec.Code)
	}
	close(release)
	wg.Wait()
	if rec := req("/health"); rec.Code == http.StatusServiceUnavailable {
		t.Error("slots not released")
	}
}

// A tenant holds at most its share of the requests in flight: its slow
// requests fill its share, and another tenant is still served.
func TestTenantInFlightShare(t *testing.T) {
	reg := registry(t)
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	s := New(Options{
		Registry:    func() *tenant.Registry { return reg },
		Metrics:     obs.NewMetrics(),
		MaxInFlight: 8, // a share of 2 a tenant
		extra: []*route{{pattern: "GET /test/block", family: "chat", h: func(w http.ResponseWriter, r *http.Request) error {
			entered.Done()
			<-release
			return writeData(w, r, http.StatusOK, "done")
		}}},
	})
	s.SetReady(true)
	req := func(key, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if rec := req("ck_dev_acme", "/test/block"); rec.Code != 200 {
				t.Errorf("blocked request = %d", rec.Code)
			}
		})
	}
	entered.Wait()
	rec := req("ck_dev_acme", "/health")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), `"limit":"inFlight"`) {
		t.Errorf("acme's third request = %d %s, want 429 inFlight", rec.Code, rec.Body)
	}
	if rec := req("ck_dev_globex", "/health"); rec.Code != 200 {
		t.Errorf("globex while acme is at its share = %d %s", rec.Code, rec.Body)
	}
	close(release)
	wg.Wait()
	if rec := req("ck_dev_acme", "/health"); rec.Code != 200 {
		t.Errorf("acme's share not released: %d", rec.Code)
	}
}

// TestTenantInFlightForgotten: a tenant removed by a reload leaves no
// counter behind once its last request ends.
func TestTenantInFlightForgotten(t *testing.T) {
	full := registry(t)
	var acmeOnly *tenant.Registry
	{
		acme, _ := full.Tenant("acme")
		var err error
		if acmeOnly, err = tenant.NewRegistry([]*tenant.Config{acme.Config}, tenant.Options{AllowDevKeys: true}); err != nil {
			t.Fatal(err)
		}
	}
	var current atomic.Pointer[tenant.Registry]
	current.Store(full)
	s := New(Options{
		Registry:    current.Load,
		Metrics:     obs.NewMetrics(),
		MaxInFlight: 8,
		extra: []*route{{pattern: "GET /test/reload", family: "chat", h: func(w http.ResponseWriter, r *http.Request) error {
			current.Store(acmeOnly) // globex is removed while its request runs
			return writeData(w, r, http.StatusOK, "done")
		}}},
	})
	s.SetReady(true)
	for _, c := range []struct{ key, path string }{{"ck_dev_acme", "/health"}, {"ck_dev_globex", "/test/reload"}} {
		r := httptest.NewRequest("GET", c.path, nil)
		r.Header.Set("Authorization", "Bearer "+c.key)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Fatalf("GET %s = %d %s", c.path, rec.Code, rec.Body)
		}
	}
	if _, ok := s.inFlight.Load(tenant.MustID("globex")); ok {
		t.Error("the removed tenant's counter is still held")
	}
	if _, ok := s.inFlight.Load(tenant.MustID("acme")); !ok {
		t.Error("a served tenant's counter was dropped")
	}
}

// A body trickled in, or stalled, is cut off with 408 long before the read
// timeout; a body at a fair rate is read whole.
func TestMinBodyRate(t *testing.T) {
	reg := registry(t)
	s := New(Options{
		Registry:     func() *tenant.Registry { return reg },
		Metrics:      obs.NewMetrics(),
		MinBodyRate:  1000,
		MinBodyGrace: 300 * time.Millisecond,
		ReadTimeout:  time.Minute,
		extra: []*route{{pattern: "POST /test/read", family: "chat", h: func(w http.ResponseWriter, r *http.Request) error {
			b, err := readBody(w, r, 1<<20)
			if err != nil {
				return err
			}
			return writeData(w, r, http.StatusOK, len(b))
		}}},
	})
	s.SetReady(true)
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ReadTimeout = time.Minute
	srv.Start()
	defer srv.Close()

	send := func(t *testing.T, length int, write func(c net.Conn)) (string, time.Duration) {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "POST /test/read HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ck_dev_acme\r\nContent-Length: %d\r\n\r\n", length)
		go write(c)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		body, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d close=%v %s", res.StatusCode, res.Close, body), time.Since(start)
	}
	t.Run("trickle", func(t *testing.T) {
		got, took := send(t, 1000, func(c net.Conn) {
			for range 1000 {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
		if !strings.HasPrefix(got, "408 close=true ") || !strings.Contains(got, `"code":"request_timeout"`) || took > 5*time.Second {
			t.Errorf("a body at 20 bytes/s = %s after %v", got, took)
		}
	})
	t.Run("stall", func(t *testing.T) {
		got, took := send(t, 1000, func(c net.Conn) { _, _ = c.Write([]byte("xx")) })
		if !strings.HasPrefix(got, "408 ") || took > 5*time.Second {
			t.Errorf("a stalled body = %s after %v", got, took)
		}
	})
	t.Run("fair", func(t *testing.T) {
		got, _ := send(t, 4000, func(c net.Conn) {
			for range 8 {
				_, _ = c.Write(bytes.Repeat([]byte("x"), 500))
				time.Sleep(100 * time.Millisecond) // 5000 bytes/s
			}
		})
		if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, `"data":4000`) {
			t.Errorf("a body at 5000 bytes/s = %s", got)
		}
	})
}
