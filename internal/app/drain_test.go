package app

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/tenants"
)

// TestShutdownDrainsInFlight starts a slow request, cancels the server's
// context while it runs, and checks that the server reports not ready,
// refuses new connections, lets the request finish, and only then returns.
func TestShutdownDrainsInFlight(t *testing.T) {
	cfg := config.Defaults()
	cfg.Addr, cfg.DataDir, cfg.TenantsDir = "127.0.0.1:0", t.TempDir(), t.TempDir()
	if err := os.CopyFS(cfg.TenantsDir, tenants.Examples); err != nil {
		t.Fatal(err)
	}
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	a, err := New(context.Background(), cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	entered, release := make(chan struct{}), make(chan struct{})
	api := a.http.Handler
	a.http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
			r.URL.Path = "/health"
		}
		api.ServeHTTP(w, r)
	})

	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.ListenAndServe(ctx, func(x net.Addr) { addr <- x }) }()
	target := (<-addr).String()

	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+target+"/slow", nil)
		req.Header.Set("Authorization", "Bearer ck_dev_acme")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		res.Body.Close()
		status <- res.StatusCode
	}()
	<-entered
	cancel()

	// Draining: not ready, no new connections, Serve still waiting.
	deadline := time.Now().Add(2 * time.Second)
	for {
		rec := httptest.NewRecorder()
		a.api.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz while draining = %d, want 503", rec.Code)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		c, err := net.DialTimeout("tcp", target, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("a draining server still accepts connections")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned while a request was in flight: %v", err)
	default:
	}
	// The operator listener stays up while the API drains, and reports it.
	metricsURL := "http://" + a.MetricsAddr().String()
	for path, want := range map[string]int{"/metrics": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		res, err := http.Get(metricsURL + path)
		if err != nil {
			t.Fatalf("operator GET %s while draining: %v", path, err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("operator GET %s while draining = %d, want %d", path, res.StatusCode, want)
		}
	}

	close(release)
	if got := <-status; got != http.StatusOK {
		t.Errorf("in-flight request: status %d, want 200", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after drain: %v", err)
	}
	if c, err := net.DialTimeout("tcp", a.MetricsAddr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the operator listener still accepts connections after the drain")
	}
}
