package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestConsoleRoutes: /console redirects to /console/, whose paths the
// console answers without a key; with the console off, both are 404.
func TestConsoleRoutes(t *testing.T) {
	reg := registry(t)
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("the console saw a credential")
		}
		_, _ = w.Write([]byte("page " + r.URL.Path))
	})
	get := func(s *Server, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	on := New(Options{Registry: func() *tenant.Registry { return reg }, Metrics: obs.NewMetrics(), Console: page})
	if rec := get(on, "/console"); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/console/" {
		t.Errorf("GET /console = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := get(on, "/console/chat"); rec.Code != 200 || rec.Body.String() != "page /console/chat" {
		t.Errorf("GET /console/chat = %d %q", rec.Code, rec.Body)
	}
	off := New(Options{Registry: func() *tenant.Registry { return reg }, Metrics: obs.NewMetrics()})
	for _, p := range []string{"/console", "/console/", "/console/chat"} {
		if rec := get(off, p); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "console is off") {
			t.Errorf("console off: GET %s = %d %s", p, rec.Code, rec.Body)
		}
	}
}
