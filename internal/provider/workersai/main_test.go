package workersai_test

import (
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider/providertest"
	"github.com/crispy-enigma/crispy/internal/provider/workersai"
)

// transport is the transport the tests of this run call servers over.
var transport providertest.Transport

// TestMain runs every test once over h1 and once over net/http.
func TestMain(m *testing.M) { providertest.Main(m, &transport) }

// overTransport returns cfg with an HTTP client over the transport under
// test, unless it has its own.
func overTransport(t *testing.T, cfg workersai.Config) workersai.Config {
	t.Helper()
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = providertest.Client(t, transport)
	}
	return cfg
}
