package gateway

import (
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Adapter is a configured provider of one tenant. Chat, Embed or Speech may
// be nil when the provider cannot do that; Err, when set, is why the provider
// cannot be used at all (for example a missing credential), and every call
// to it fails with that reason.
type Adapter struct {
	Chat   provider.Chatter
	Embed  provider.Embedder
	Speech provider.Speaker
	Err    error
}

// Catalog maps each tenant's provider names to adapters. It is built from a
// tenant registry and replaced with it on reload.
type Catalog struct {
	builtin Adapter
	tenants map[string]map[string]Adapter
}

// BuildFunc makes the adapter of provider name of tenant t.
type BuildFunc func(t *tenant.Tenant, name string, p tenant.Provider) Adapter

// NewCatalog builds the adapters of every tenant in reg with build. The
// builtin provider, shared by every tenant, is builtin.
func NewCatalog(reg *tenant.Registry, builtin Adapter, build BuildFunc) *Catalog {
	c := &Catalog{builtin: builtin, tenants: make(map[string]map[string]Adapter)}
	for _, t := range reg.Tenants() {
		m := make(map[string]Adapter, len(t.Config.Providers))
		for name, p := range t.Config.Providers {
			m[name] = build(t, name, p)
		}
		c.tenants[t.ID.String()] = m
	}
	return c
}

// Adapter returns the adapter of provider name for tenant id, for services
// that call a provider outside the gateway's routing (text to speech).
func (c *Catalog) Adapter(tenantID, name string) (Adapter, bool) { return c.adapter(tenantID, name) }

// adapter returns the adapter of provider name for tenant id.
func (c *Catalog) adapter(tenantID, name string) (Adapter, bool) {
	if name == "builtin" {
		return c.builtin, true
	}
	a, ok := c.tenants[tenantID][name]
	return a, ok
}
