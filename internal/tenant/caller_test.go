package tenant_test

import (
	"slices"
	"testing"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestCaller(t *testing.T) {
	key := &tenant.Key{ID: "k1", Scopes: []tenant.Scope{tenant.ScopeChat}}
	tests := []struct {
		name   string
		c      tenant.Caller
		keyID  string
		scopes tenant.ScopeSet
		chat   bool
	}{
		{"a key", tenant.Caller{Key: key}, "k1", tenant.ScopeSet{tenant.ScopeChat}, true},
		{"anonymous", tenant.Caller{}, "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.KeyID(); got != tt.keyID {
				t.Errorf("KeyID() = %q, want %q", got, tt.keyID)
			}
			if got := tt.c.Scopes(); !slices.Equal(got, tt.scopes) {
				t.Errorf("Scopes() = %v, want %v", got, tt.scopes)
			}
			if got := tt.c.Scopes().Has(tenant.ScopeChat); got != tt.chat {
				t.Errorf("Scopes().Has(chat) = %v, want %v", got, tt.chat)
			}
		})
	}
}
