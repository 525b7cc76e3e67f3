package h1_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/h1"
)

// BenchmarkRoundTrip compares a sequential POST over a kept-alive
// connection through this transport and through net/http's:
//
//	go test ./internal/h1 -run '^$' -bench RoundTrip
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(echo())
	defer srv.Close()
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1", &h1.Transport{Fallback: failingFallback{}}},
		{"net-http", &http.Transport{MaxIdleConnsPerHost: 4}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: tc.rt}
			body := strings.Repeat("x", 512)
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.Post(srv.URL, "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, res.Body); err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
			}
		})
	}
}
