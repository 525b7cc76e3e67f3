package tenant

// Caller is who a request acts as: exactly one tenant, the key (if any) it
// presented, and the request on whose behalf. Every service takes it to
// scope, bill and audit what it does; anonymous callers of a public route
// have no key.
type Caller struct {
	// Tenant is the tenant the request belongs to; never nil once resolved.
	Tenant *Tenant
	// Key is the API key the request presented; nil for an anonymous caller of a public route.
	Key *Key
	// RequestID is the ID of the request, as sent back in X-Request-ID; "" outside a request.
	RequestID string
}

// KeyID returns the ID of the caller's key, or "" for an anonymous caller.
func (c Caller) KeyID() string {
	if c.Key == nil {
		return ""
	}
	return c.Key.ID
}

// Scopes returns the scopes of the caller's key; an anonymous caller holds
// none.
func (c Caller) Scopes() ScopeSet {
	if c.Key == nil {
		return nil
	}
	return ScopeSet(c.Key.Scopes)
}
