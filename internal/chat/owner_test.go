package chat

import (
	"testing"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestCallerMay checks who may use a session: its creator anything, an
// admin key of the tenant read and delete it (manage), nobody else; a
// session stored before owners were kept is open to every key and to no
// anonymous caller.
func TestCallerMay(t *testing.T) {
	alice := &tenant.Key{ID: "alice", Scopes: []tenant.Scope{tenant.ScopeChat}}
	bob := &tenant.Key{ID: "bob", Scopes: []tenant.Scope{tenant.ScopeChat}}
	boss := &tenant.Key{ID: "boss", Scopes: []tenant.Scope{tenant.ScopeChat, tenant.ScopeAdmin}}
	const token, other = "st_secret", "st_other"
	aliceOwns := owner(Caller{Caller: tenant.Caller{Key: alice}})
	tokenOwns := owner(Caller{SessionToken: token})
	tests := []struct {
		name         string
		caller       Caller
		owner        string
		turn, manage bool
	}{
		{"the creating key", Caller{Caller: tenant.Caller{Key: alice}}, aliceOwns, true, true},
		{"another key", Caller{Caller: tenant.Caller{Key: bob}}, aliceOwns, false, false},
		{"an admin key", Caller{Caller: tenant.Caller{Key: boss}}, aliceOwns, false, true},
		{"anonymous with a token, on a key's session", Caller{SessionToken: token}, aliceOwns, false, false},
		{"the token holder", Caller{SessionToken: token}, tokenOwns, true, true},
		{"anonymous with another token", Caller{SessionToken: other}, tokenOwns, false, false},
		{"anonymous without a token", Caller{}, tokenOwns, false, false},
		{"a key with the token", Caller{Caller: tenant.Caller{Key: bob}, SessionToken: token}, tokenOwns, false, false},
		{"an admin key on an anonymous session", Caller{Caller: tenant.Caller{Key: boss}}, tokenOwns, false, true},
		{"a key on a session without owner", Caller{Caller: tenant.Caller{Key: bob}}, "", true, true},
		{"anonymous on a session without owner", Caller{SessionToken: token}, "", false, false},
		{"anonymous without a token on a session without owner", Caller{}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.caller.may(tt.owner, false); got != tt.turn {
				t.Errorf("may continue = %v, want %v", got, tt.turn)
			}
			if got := tt.caller.may(tt.owner, true); got != tt.manage {
				t.Errorf("may read and delete = %v, want %v", got, tt.manage)
			}
		})
	}
	if tokenOwns == "token:"+token || len(tokenOwns) != len("token:")+64 {
		t.Errorf("owner of a token = %q, want token: and the token's SHA-256, never the token", tokenOwns)
	}
}
