package tenant

import (
	"errors"
	"strings"
	"time"
)

// Resolution errors. Resolve wraps them with a reason fit to show the caller;
// the HTTP layer maps ErrUnauthenticated to 401 and ErrForbidden to 403.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// Request is what resolution looks at: the credentials and hints a request
// carries, and what the route it targets requires.
type Request struct {
	Authorization string // the Authorization header, verbatim
	TenantHeader  string // the X-Tenant-ID header, if any
	Host          string // the Host header; consulted only without a key
	Route         string // the route family, as used in a tenant's "public" list
	Scope         Scope  // the scope the route requires; "" for none
	// Now is when the request is resolved, to check key expiry; zero means
	// time.Now().
	Now time.Time
}

// resolveError carries the sentinel and a reason.
type resolveError struct {
	kind   error
	reason string
}

func (e *resolveError) Error() string { return e.reason }
func (e *resolveError) Unwrap() error { return e.kind }

func deny(kind error, reason string) error { return &resolveError{kind, reason} }

// Resolve maps a request to exactly one tenant or rejects it. It fails
// closed: no credentials and no public route is 401; a key that is not
// known, or is past its expires time, is 401; a known key sent with the
// X-Tenant-ID of another tenant, or without the route's scope, is 403.
//
// A request with a key belongs to the key's tenant, and its Host is not
// consulted: a key only ever reaches its own tenant's data, so checking the
// host would add nothing, and answering another tenant's host differently
// from an unknown one would tell any key holder which hosts belong to a
// tenant. Hosts identify the tenant of anonymous requests to public routes
// only.
//
// The Caller returned has no RequestID: the HTTP layer sets it.
func (r *Registry) Resolve(req Request) (Caller, error) {
	if req.Authorization != "" {
		scheme, key, ok := strings.Cut(req.Authorization, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || strings.ContainsAny(key, " \t") {
			return Caller{}, deny(ErrUnauthenticated, "Authorization must be \"Bearer <key>\"")
		}
		t, k, ok := r.Authenticate(key)
		if !ok {
			return Caller{}, deny(ErrUnauthenticated, "invalid API key")
		}
		now := req.Now
		if now.IsZero() {
			now = time.Now()
		}
		if k.Expired(now) {
			return Caller{}, deny(ErrUnauthenticated, "the API key has expired; use the key that replaced it")
		}
		if req.TenantHeader != "" && req.TenantHeader != t.ID.String() {
			return Caller{}, deny(ErrForbidden, "X-Tenant-ID does not match the tenant of the API key")
		}
		scopes := ScopeSet(k.Scopes)
		if !scopes.Has(req.Scope) {
			return Caller{}, deny(ErrForbidden, "the API key lacks the scope \""+string(req.Scope)+"\"")
		}
		return Caller{Tenant: t, Key: k}, nil
	}
	if t, ok := r.ByHost(req.Host); ok && t.IsPublic(req.Route) && req.Scope.Anonymous() {
		if req.TenantHeader != "" && req.TenantHeader != t.ID.String() {
			return Caller{}, deny(ErrForbidden, "X-Tenant-ID does not match the tenant of this host")
		}
		return Caller{Tenant: t}, nil
	}
	return Caller{}, deny(ErrUnauthenticated, "missing API key: send Authorization: Bearer <key>")
}
