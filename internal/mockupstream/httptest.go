package mockupstream

import "net/http/httptest"

// TB is the part of testing.TB that Start needs; *testing.T, *testing.B and
// *testing.F satisfy it. It keeps this package free of the testing import,
// so that commands can use the mock.
type TB interface {
	Helper()
	Cleanup(func())
}

// Start runs a mock with cfg on a local port for the duration of a test and
// returns it with its base URL, which ends in /v1.
func Start(tb TB, cfg Config) (*Server, string) {
	tb.Helper()
	s, hs := NewHTTPTest(cfg)
	tb.Cleanup(func() {
		s.Close() // release hanging handlers first, or hs.Close waits for them
		hs.Close()
	})
	return s, hs.URL + "/v1"
}

// NewHTTPTest starts a mock with cfg on an httptest.Server. Close the mock
// before the httptest.Server, so that hanging handlers return.
func NewHTTPTest(cfg Config) (*Server, *httptest.Server) {
	s := New(cfg)
	return s, httptest.NewServer(s)
}
