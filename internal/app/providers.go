package app

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/h1"
	"github.com/crispy-enigma/crispy/internal/provider/openai"
	"github.com/crispy-enigma/crispy/internal/provider/workersai"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// newTransport returns the HTTP transport shared by every provider adapter:
// keep-alive pools sized for many concurrent streams to few hosts. Plain
// HTTP upstreams without a proxy (a model server on the gateway's network)
// are called on the request's own goroutine (h1); https and proxied calls
// go through net/http's transport, with HTTP/2.
func newTransport() *h1.Transport {
	dial := (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &h1.Transport{
		Fallback: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dial,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		Proxy:          http.ProxyFromEnvironment,
		DialContext:    dial,
		MaxIdlePerHost: 256,
		IdleTimeout:    90 * time.Second,
	}
}

// providerTransport is the transport of provider p's calls: the shared
// h1 transport (which hands https and proxied calls to net/http's), or
// net/http's own when the provider's transport says so or the server's
// --upstream-transport does.
func (a *App) providerTransport(p tenant.Provider) http.RoundTripper {
	if a.cfg.UpstreamTransport == config.UpstreamNetHTTP || p.Transport == tenant.TransportNetHTTP {
		return a.transport.Fallback
	}
	return a.transport
}

// buildAdapter makes the adapter of one configured provider of a tenant,
// resolving the environment variables the config names. A provider whose
// credentials are missing becomes an adapter that fails every call with the
// reason, and the server says so at start.
func (a *App) buildAdapter(t *tenant.Tenant, name string, p tenant.Provider) gateway.Adapter {
	secret := func(env string) (string, error) {
		if env == "" {
			return "", nil
		}
		v, ok, err := a.lookupSecret(env)
		switch {
		case err != nil:
			return "", err
		case !ok || v == "":
			return "", fmt.Errorf("environment variable %s is not set (nor %s_FILE)", env, env)
		}
		return v, nil
	}
	fail := func(err error) gateway.Adapter {
		a.log.Warn("provider unavailable", "tenant", t.ID.String(), "provider", name, "error", err)
		return gateway.Adapter{Err: fmt.Errorf("provider %s: %w", name, err)}
	}
	headers := maps.Clone(p.Headers)
	if headers == nil {
		headers = map[string]string{}
	}
	for _, h := range slices.Sorted(maps.Keys(p.HeaderEnv)) {
		v, err := secret(p.HeaderEnv[h])
		if err != nil {
			return fail(err)
		}
		headers[h] = v
	}
	key, err := secret(p.APIKeyEnv)
	if err != nil {
		return fail(err)
	}
	client := &http.Client{Transport: a.tracing.Transport(a.providerTransport(p))}
	switch p.Type {
	case "openai":
		c, err := openai.New(openai.Config{Name: name, BaseURL: p.BaseURL, APIKey: key, Headers: headers, Timeout: p.Timeout.D(), HTTPClient: client})
		if err != nil {
			return fail(err)
		}
		return gateway.Adapter{Chat: c, Embed: c, Speech: c}
	case "workersai":
		cfg := workersai.Config{Name: name, AccountID: p.AccountID, APIToken: key, BaseURL: p.BaseURL, Headers: headers, Timeout: p.Timeout.D(), HTTPClient: client}
		if g := p.Gateway; g != nil {
			token, err := secret(g.TokenEnv)
			if err != nil {
				return fail(err)
			}
			cfg.Gateway = &workersai.GatewayConfig{ID: g.ID, Token: token, CacheTTL: g.CacheTTL.D(), SkipCache: g.SkipCache}
		}
		c, err := workersai.New(cfg)
		if err != nil {
			return fail(err)
		}
		return gateway.Adapter{Chat: c, Embed: c, Speech: c}
	}
	return fail(fmt.Errorf("unknown provider type %q", p.Type))
}

// buildReranker builds the HTTP reranker a tenant configures, its key read
// from the environment variable the config names.
func (a *App) buildReranker(t *tenant.Tenant, cfg tenant.Reranker) rag.Reranker {
	key := ""
	if cfg.APIKeyEnv != "" {
		var err error
		if key, _, err = a.lookupSecret(cfg.APIKeyEnv); err != nil {
			a.log.Warn("reranker key unavailable", "tenant", t.ID.String(), "error", err)
		}
	}
	return &rag.HTTPReranker{BaseURL: cfg.BaseURL, Model: cfg.Model, APIKey: key, Timeout: cfg.Timeout.D(), Client: &http.Client{Transport: a.tracing.Transport(a.transport)}}
}
