package workersai_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider/workersai"
)

func validConfig() workersai.Config {
	return workersai.Config{
		AccountID: accountID,
		APIToken:  apiToken,
		Gateway:   &workersai.GatewayConfig{ID: gatewayID, Token: gatewayToken, CacheTTL: time.Hour},
		Headers:   map[string]string{"X-Team": "search", "cf-aig-collect-log": "false"},
		Timeout:   30 * time.Second,
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*workersai.Config)
		want   string // "" for valid
	}{
		{"valid", func(*workersai.Config) {}, ""},
		{"valid without gateway", func(c *workersai.Config) { c.Gateway = nil }, ""},
		{"valid gateway without token or ttl", func(c *workersai.Config) { c.Gateway = &workersai.GatewayConfig{ID: "g"} }, ""},
		{"no account", func(c *workersai.Config) { c.AccountID = "" }, "accountId is required"},
		{"account with a slash", func(c *workersai.Config) { c.AccountID = "abc/../x" }, "accountId may only"},
		{"no token", func(c *workersai.Config) { c.APIToken = "" }, "API token is required"},
		{"token with a newline", func(c *workersai.Config) { c.APIToken = "a\nX-Evil: 1" }, "API token contains"},
		{"bad base URL", func(c *workersai.Config) { c.BaseURL = "ftp://x" }, "scheme"},
		{"base URL with query", func(c *workersai.Config) { c.BaseURL = "https://x/?a=1" }, "query"},
		{"negative timeout", func(c *workersai.Config) { c.Timeout = -time.Second }, "timeout"},
		{"no gateway id", func(c *workersai.Config) { c.Gateway.ID = "" }, "gateway.id is required"},
		{"gateway id too long", func(c *workersai.Config) { c.Gateway.ID = strings.Repeat("g", 65) }, "gateway.id may only"},
		{"ttl too short", func(c *workersai.Config) { c.Gateway.CacheTTL = 30 * time.Second }, "cacheTtl"},
		{"ttl too long", func(c *workersai.Config) { c.Gateway.CacheTTL = 40 * 24 * time.Hour }, "cacheTtl"},
		{"gateway token with CR", func(c *workersai.Config) { c.Gateway.Token = "a\rb" }, "gateway token"},
		{"gateway base URL", func(c *workersai.Config) { c.Gateway.BaseURL = "gateway" }, "gateway baseUrl"},
		{"managed header", func(c *workersai.Config) { c.Headers["authorization"] = "Bearer x" }, `"authorization" is set by the client`},
		{"managed gateway header", func(c *workersai.Config) { c.Headers["CF-AIG-METADATA"] = "{}" }, "is set by the client"},
		{"bad header name", func(c *workersai.Config) { c.Headers["X Bad"] = "1" }, "not a valid header name"},
		{"bad header value", func(c *workersai.Config) { c.Headers["X-Ok"] = "1\r\n2" }, "value contains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			g := *cfg.Gateway
			cfg.Gateway = &g
			tt.modify(&cfg)
			err := cfg.Validate()
			_, newErr := workersai.New(cfg)
			if tt.want == "" {
				if err != nil || newErr != nil {
					t.Fatalf("Validate = %v, New = %v; want valid", err, newErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
			if newErr == nil {
				t.Fatal("New accepted an invalid config")
			}
			if strings.Contains(err.Error(), apiToken) || strings.Contains(err.Error(), gatewayToken) {
				t.Fatalf("error shows a secret: %v", err)
			}
		})
	}
}

func TestNewDoesNotShareCallerState(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	cfg := f.gatewayConfig()
	cfg.Headers = map[string]string{"X-Team": "a"}
	c := newClient(t, cfg)
	cfg.Headers["X-Team"] = "changed"
	cfg.Gateway.Token = "changed"
	st, err := c.Chat(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	h := f.last().Header
	if h.Get("X-Team") != "a" || h.Get("cf-aig-authorization") != "Bearer "+gatewayToken {
		t.Errorf("the client saw the caller's later changes: %v", h)
	}
}

func TestHTTPClientRedirectPolicyIsNotShared(t *testing.T) {
	hc := &http.Client{}
	cfg := validConfig()
	cfg.HTTPClient = hc
	newClient(t, cfg)
	if hc.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

func TestSecretsNeverShown(t *testing.T) {
	cfg := validConfig()
	c := newClient(t, cfg)
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("config", "cfg", cfg, "ptr", &cfg, "gateway", cfg.Gateway, "gatewayValue", *cfg.Gateway, "client", c)
		log.Info("nested", slog.Group("provider", "cfg", cfg))
	}
	fmt.Fprintf(&buf, "%v %+v %#v %s %v %+v %#v\n", cfg, cfg, cfg, cfg, cfg.Gateway, *cfg.Gateway, *cfg.Gateway)
	fmt.Fprintf(&buf, "%v %+v\n", c, c)
	out := buf.String()
	for _, secret := range []string{apiToken, gatewayToken} {
		if strings.Contains(out, secret) {
			t.Fatalf("output shows a secret:\n%s", out)
		}
	}
	for _, want := range []string{"[redacted]", accountID, gatewayID, "X-Team", "cacheTtl"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "search") {
		t.Errorf("output shows a header value:\n%s", out)
	}
}
