package tenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
)

// Tenant is a loaded, validated tenant: its ID and its config.
type Tenant struct {
	ID     ID
	Config *Config
	public map[string]bool
}

// IsPublic reports whether the tenant serves route without a key on its hosts.
func (t *Tenant) IsPublic(route string) bool { return t.public[route] }

// keyEntry is one key in the registry's index.
type keyEntry struct {
	hash   [sha256.Size]byte
	tenant *Tenant
	key    *Key
}

// Registry is an immutable snapshot of every tenant, indexed for request
// resolution. A reload builds a new Registry and swaps it in whole.
type Registry struct {
	tenants map[string]*Tenant
	order   []*Tenant
	keys    map[[8]byte][]keyEntry // by the first 8 bytes of the hash
	hosts   map[string]*Tenant
}

// NewRegistry indexes cfgs, which must already have passed Load. Each
// tenant's Config is a copy of its cfg with the defaults filled in
// (WithDefaults); cfgs are not changed. Keys marked dev are indexed only
// when opts.AllowDevKeys is set.
func NewRegistry(cfgs []*Config, opts Options) (*Registry, error) {
	r := &Registry{
		tenants: make(map[string]*Tenant, len(cfgs)),
		keys:    make(map[[8]byte][]keyEntry),
		hosts:   make(map[string]*Tenant),
	}
	for _, c := range cfgs {
		full := c.WithDefaults()
		c := &full
		id, err := ParseID(c.ID)
		if err != nil {
			return nil, err
		}
		if _, dup := r.tenants[c.ID]; dup {
			return nil, fmt.Errorf("tenant %q is defined twice", c.ID)
		}
		t := &Tenant{ID: id, Config: c, public: make(map[string]bool, len(c.Public))}
		for _, route := range c.Public {
			t.public[route] = true
		}
		r.tenants[c.ID] = t
		r.order = append(r.order, t)
		for _, h := range c.Hosts {
			h = strings.ToLower(h)
			if other, dup := r.hosts[h]; dup {
				return nil, fmt.Errorf("host %q is used by tenants %q and %q", h, other.ID, c.ID)
			}
			r.hosts[h] = t
		}
		for i := range c.Keys {
			k := &c.Keys[i]
			if k.Dev && !opts.AllowDevKeys {
				continue
			}
			var e keyEntry
			if _, err := hex.Decode(e.hash[:], []byte(strings.TrimPrefix(k.Hash, "sha256:"))); err != nil {
				return nil, fmt.Errorf("tenant %q key %q: bad hash: %w", c.ID, k.ID, err)
			}
			e.tenant, e.key = t, k
			prefix := [8]byte(e.hash[:8])
			r.keys[prefix] = append(r.keys[prefix], e)
		}
	}
	slices.SortFunc(r.order, func(a, b *Tenant) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	return r, nil
}

// Tenant returns the tenant with the given ID.
func (r *Registry) Tenant(id string) (*Tenant, bool) {
	t, ok := r.tenants[id]
	return t, ok
}

// Tenants returns every tenant, sorted by ID.
func (r *Registry) Tenants() []*Tenant { return slices.Clone(r.order) }

// Authenticate returns the tenant and key for an API key. The stored hashes
// are compared in constant time; the index on a hash prefix only narrows the
// candidates, and a timing difference there reveals nothing about the key.
func (r *Registry) Authenticate(key string) (*Tenant, *Key, bool) {
	sum := sha256.Sum256([]byte(key))
	bucket := r.keys[[8]byte(sum[:8])]
	for i := range bucket {
		if subtle.ConstantTimeCompare(bucket[i].hash[:], sum[:]) == 1 {
			return bucket[i].tenant, bucket[i].key, true
		}
	}
	return nil, nil, false
}

// ByHost returns the tenant that owns host, matched first with its port and
// then without it.
func (r *Registry) ByHost(host string) (*Tenant, bool) {
	host = strings.ToLower(host)
	if t, ok := r.hosts[host]; ok {
		return t, true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		t, ok := r.hosts[h]
		return t, ok
	}
	return nil, false
}
