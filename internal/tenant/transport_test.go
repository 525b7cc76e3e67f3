package tenant_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestProviderTransport(t *testing.T) {
	tests := []struct {
		name, baseURL, transport string
		want                     string // "": loads
	}{
		{"default", "http://127.0.0.1:11434/v1", "", ""},
		{"h1 over http", "http://127.0.0.1:11434/v1", tenant.TransportH1, ""},
		{"net/http over http", "http://127.0.0.1:11434/v1", tenant.TransportNetHTTP, ""},
		{"net/http over https", "https://api.openai.com/v1", tenant.TransportNetHTTP, ""},
		{"h1 over https", "https://api.openai.com/v1", tenant.TransportH1, `/providers/p/transport: transport "h1" carries plain http only`},
		{"unknown", "http://127.0.0.1:11434/v1", "fasthttp", "/providers/p/transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := `{"type":"openai","baseUrl":"` + tt.baseURL + `"`
			if tt.transport != "" {
				p += `,"transport":"` + tt.transport + `"`
			}
			doc := `{"id":"one","name":"One","keys":[` + keyJSON("k") + `],"providers":{"p":` + p + `}}}`
			if err := os.MkdirAll(filepath.Join(dir, "one"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "one", "tenant.jsonc"), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			cfgs, err := tenant.Load(dir, tenant.Options{})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Load: %v; want an error with %q", err, tt.want)
			case tt.want == "":
				if got := cfgs[0].Providers["p"].Transport; got != tt.transport {
					t.Errorf("Transport = %q, want %q", got, tt.transport)
				}
			}
		})
	}
}
