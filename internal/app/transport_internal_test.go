package app

import (
	"net/http"
	"testing"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestProviderTransport(t *testing.T) {
	tr := newTransport()
	tests := []struct {
		server, provider string
		want             http.RoundTripper
	}{
		{"", "", tr},
		{config.UpstreamAuto, "", tr},
		{config.UpstreamAuto, tenant.TransportH1, tr},
		{config.UpstreamAuto, tenant.TransportNetHTTP, tr.Fallback},
		{config.UpstreamNetHTTP, "", tr.Fallback},
		{config.UpstreamNetHTTP, tenant.TransportH1, tr.Fallback},
	}
	for _, tt := range tests {
		a := &App{cfg: config.Serve{UpstreamTransport: tt.server}, transport: tr}
		if got := a.providerTransport(tenant.Provider{Transport: tt.provider}); got != tt.want {
			t.Errorf("--upstream-transport %q, provider transport %q: got %T, want %T", tt.server, tt.provider, got, tt.want)
		}
	}
	if _, ok := tr.Fallback.(*http.Transport); !ok {
		t.Errorf("the fallback is a %T, want net/http's", tr.Fallback)
	}
}
