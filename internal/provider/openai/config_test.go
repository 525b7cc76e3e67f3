package openai_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider/openai"
)

func TestConfigValidate(t *testing.T) {
	ok := openai.Config{BaseURL: "https://api.openai.com/v1", APIKey: "sk-x"}
	tests := []struct {
		name string
		edit func(*openai.Config)
		want string // "" for valid
	}{
		{"valid", func(*openai.Config) {}, ""},
		{"no key is fine", func(c *openai.Config) { c.APIKey = "" }, ""},
		{"trailing slash", func(c *openai.Config) { c.BaseURL = "http://localhost:11434/v1/" }, ""},
		{"no base URL", func(c *openai.Config) { c.BaseURL = "" }, "baseUrl is required"},
		{"bad scheme", func(c *openai.Config) { c.BaseURL = "ftp://x/v1" }, "scheme"},
		{"no host", func(c *openai.Config) { c.BaseURL = "http:///v1" }, "no host"},
		{"query", func(c *openai.Config) { c.BaseURL = "https://x/v1?key=1" }, "query"},
		{"user info", func(c *openai.Config) { c.BaseURL = "https://u:p@x/v1" }, "user info"},
		{"negative timeout", func(c *openai.Config) { c.Timeout = -time.Second }, "timeout"},
		{"key with newline", func(c *openai.Config) { c.APIKey = "sk\nX-Evil: 1" }, "API key"},
		{"bad header name", func(c *openai.Config) { c.Headers = map[string]string{"a b": "v"} }, "valid header name"},
		{"managed header", func(c *openai.Config) { c.Headers = map[string]string{"content-type": "text/plain"} }, "set by the client"},
		{"authorization with key", func(c *openai.Config) { c.Headers = map[string]string{"Authorization": "Bearer y"} }, "conflicts"},
		{"authorization without key", func(c *openai.Config) { c.APIKey = ""; c.Headers = map[string]string{"Authorization": "Basic eA=="} }, ""},
		{"header value", func(c *openai.Config) { c.Headers = map[string]string{"X-A": "v\r\n"} }, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := openai.New(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestConfigNeverShowsSecrets(t *testing.T) {
	cfg := openai.Config{
		Name:    "acme-openai",
		BaseURL: "https://api.openai.com/v1",
		APIKey:  "sk-very-secret",
		Headers: map[string]string{"X-Gateway-Auth": "hdr-secret"},
		Timeout: 30 * time.Second,
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		slog.New(h).Info("provider", "config", cfg, "ptr", &cfg)
	}
	fmt.Fprintf(&buf, "%v %+v %#v %s\n", cfg, cfg, cfg, cfg)
	out := buf.String()
	for _, secret := range []string{"sk-very-secret", "hdr-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"acme-openai", "[redacted]", "X-Gateway-Auth", "https://api.openai.com/v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
