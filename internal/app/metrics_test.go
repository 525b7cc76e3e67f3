package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
)

// fetch GETs url and returns the status and the body.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestMetricsOnOperatorListener checks that /metrics, which names every
// tenant, is served on the operator listener and not on the API's, where
// it answers like any unknown route.
func TestMetricsOnOperatorListener(t *testing.T) {
	s := start(t, testConfig(t, copyTenants(t)))
	if status, _ := get(t, s.url+"/health", "ck_dev_acme"); status != 200 {
		t.Fatalf("health = %d", status)
	}
	for _, key := range []string{"", "ck_dev_acme"} {
		status, env := get(t, s.url+"/metrics", key)
		if status != http.StatusNotFound || env.Error == nil || env.Error.Code != api.CodeNotFound {
			t.Errorf("API GET /metrics with key %q = %d %+v, want 404 not_found", key, status, env.Error)
		}
	}

	addr := s.app.MetricsAddr()
	if addr == nil {
		t.Fatal("no operator listener")
	}
	if s.url == "http://"+addr.String() || !strings.HasPrefix(addr.String(), "127.0.0.1:") {
		t.Fatalf("operator listener on %s, API on %s", addr, s.url)
	}
	base := "http://" + addr.String()
	status, body := fetch(t, base+"/metrics")
	for _, want := range []string{`crispy_http_requests_total{code="200",route="GET /health",tenant="acme"} 1`, "go_goroutines "} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("operator GET /metrics = %d, lacks %s", status, want)
		}
	}
	for path, want := range map[string]int{"/livez": 200, "/readyz": 200, "/health": 404, "/v1/models": 404} {
		status, body := fetch(t, base+path)
		var env api.Envelope
		if status != want || json.Unmarshal([]byte(body), &env) != nil || env.OK != (want == 200) {
			t.Errorf("operator GET %s = %d %s, want %d and an envelope", path, status, body, want)
		}
	}
}

func TestMetricsOff(t *testing.T) {
	cfg := testConfig(t, copyTenants(t))
	cfg.MetricsAddr = config.MetricsOff
	s := start(t, cfg)
	if addr := s.app.MetricsAddr(); addr != nil {
		t.Errorf("operator listener on %s with --metrics-addr off", addr)
	}
	if status, _ := get(t, s.url+"/metrics", ""); status != http.StatusNotFound {
		t.Errorf("API GET /metrics = %d, want 404", status)
	}
	if !strings.Contains(scrape(t, s), "go_goroutines ") {
		t.Error("MetricsHandler serves no metrics with the listener off")
	}
}

// TestMetricsAddrInUse checks that a server whose operator listener cannot
// listen does not start, and releases the API's listener.
func TestMetricsAddrInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t, copyTenants(t))
	cfg.MetricsAddr = busy.Addr().String()
	a, err := app.New(context.Background(), cfg, app.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = a.Serve(context.Background(), l)
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("Serve = %v, want a --metrics-addr error", err)
	}
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Error("the API's listener is still open")
	}
}
