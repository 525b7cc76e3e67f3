package tenant

import "slices"

// Scope is a permission carried by an API key. The list is closed and mirrors
// the "scope" definition of schema/tenant.schema.json.
type Scope string

// The scopes a key may carry.
const (
	ScopeChat           Scope = "chat"
	ScopeSearch         Scope = "search"
	ScopeDocumentsRead  Scope = "documents:read"
	ScopeDocumentsWrite Scope = "documents:write"
	ScopeTools          Scope = "tools"
	ScopeToolsWrite     Scope = "tools:write"
	ScopeTTS            Scope = "tts"
	ScopeUsageRead      Scope = "usage:read"
	ScopeAdmin          Scope = "admin"
)

// Scopes is the set of every scope, in the schema's order.
var Scopes = []Scope{
	ScopeChat, ScopeSearch, ScopeDocumentsRead, ScopeDocumentsWrite,
	ScopeTools, ScopeToolsWrite, ScopeTTS, ScopeUsageRead, ScopeAdmin,
}

// ScopeSet is the scopes of one key.
type ScopeSet []Scope

// Has reports whether s contains scope. The empty scope is always held: a
// route that requires no scope is open to every key of the tenant.
func (s ScopeSet) Has(scope Scope) bool {
	return scope == "" || slices.Contains(s, scope)
}

// Anonymous reports whether a caller without a key may exercise scope on a
// route family its tenant makes public. Scopes that write, administer or
// read what the tenant spends never are public: a route that needs one
// asks for a key even in a public family.
func (s Scope) Anonymous() bool {
	switch s {
	case ScopeDocumentsWrite, ScopeToolsWrite, ScopeUsageRead, ScopeAdmin:
		return false
	}
	return true
}
