package providertest

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/crispy-enigma/crispy/internal/h1"
)

// Transport is an HTTP client transport that adapter tests run over.
type Transport struct {
	// Name is the name of providers.<name>.transport: "h1" or "net/http".
	Name string
	// New returns a transport with its own connection pool.
	New func() http.RoundTripper
}

// Transports are the transports the gateway may call a plain-http
// upstream with: internal/h1 and net/http's. Adapter tests that run their
// whole suite over each (see Main) fail on any behaviour that differs
// between the two: streaming, errors, slow answers, cancellation, a
// connection reused or not, large bodies.
//
// h1's Fallback is nil, so a request h1 does not carry itself fails the
// test instead of passing over net/http unnoticed.
func Transports() []Transport {
	return []Transport{
		{Name: "h1", New: func() http.RoundTripper { return &h1.Transport{} }},
		{Name: "net/http", New: func() http.RoundTripper {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.Proxy = nil // as h1: the tests call local servers directly
			return t
		}},
	}
}

// Main runs the tests of m once per transport of Transports, with *current
// set to it, and exits with a failure if any run failed. An adapter's
// TestMain calls it, and its tests build their clients over current (see
// Client), so that every test, the conformance suite included, runs over
// both transports without being written twice. Each run starts with a line
// "providertest: transport NAME", and Client logs the transport of a
// failing test.
func Main(m *testing.M, current *Transport) {
	code := 0
	for _, tr := range Transports() {
		*current = tr
		fmt.Printf("providertest: transport %s\n", tr.Name)
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}

// Client returns an http.Client over a new transport of tr, whose idle
// connections are closed when t ends. A failing t logs the transport.
func Client(t testing.TB, tr Transport) *http.Client {
	t.Helper()
	if tr.New == nil {
		t.Fatal("providertest.Client: no transport (is TestMain calling providertest.Main?)")
	}
	rt := tr.New()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("over transport %s", tr.Name)
		}
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	})
	return &http.Client{Transport: rt}
}
