package httpapi

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

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
	req := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer ck_dev_acme")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if rec := req("/test/block"); rec.Code != 200 {
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
