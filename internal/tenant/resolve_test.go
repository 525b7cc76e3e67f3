package tenant_test

import (
	"errors"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

func examples(t *testing.T, allowDev bool) *tenant.Registry {
	t.Helper()
	cfgs, err := tenant.LoadFS(tenants.Examples, "tenants", tenant.Options{AllowDevKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tenant.NewRegistry(cfgs, tenant.Options{AllowDevKeys: allowDev})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestResolve(t *testing.T) {
	reg := examples(t, true)
	const (
		acmeKey   = "Bearer ck_dev_acme"
		globexKey = "Bearer ck_dev_globex"
	)
	tests := []struct {
		name    string
		req     tenant.Request
		tenant  string
		keyID   string
		wantErr error
	}{
		{"acme key", tenant.Request{Authorization: acmeKey, Route: "health"}, "acme", "dev", nil},
		{"globex key", tenant.Request{Authorization: globexKey, Route: "health"}, "globex", "dev", nil},
		{"scheme is case-insensitive", tenant.Request{Authorization: "bearer ck_dev_acme"}, "acme", "dev", nil},
		{"matching X-Tenant-ID", tenant.Request{Authorization: acmeKey, TenantHeader: "acme"}, "acme", "dev", nil},
		{"key on own host", tenant.Request{Authorization: acmeKey, Host: "acme.localhost:8080"}, "acme", "dev", nil},
		{"key on unmapped host", tenant.Request{Authorization: globexKey, Host: "127.0.0.1:8080"}, "globex", "dev", nil},
		// With a key, the key alone decides the tenant: another tenant's
		// host answers like an unknown one, so the answer does not tell
		// which hosts belong to a tenant.
		{"key on another tenant's host", tenant.Request{Authorization: globexKey, Host: "acme.localhost"}, "globex", "dev", nil},
		{"key on another tenant's public host and route", tenant.Request{Authorization: globexKey, Host: "acme.localhost:8080", Route: "health"}, "globex", "dev", nil},
		{"matching X-Tenant-ID on another tenant's host", tenant.Request{Authorization: globexKey, Host: "acme.localhost", TenantHeader: "globex"}, "globex", "dev", nil},
		{"scope held", tenant.Request{Authorization: acmeKey, Scope: tenant.ScopeDocumentsWrite}, "acme", "dev", nil},
		{"public route on host", tenant.Request{Host: "acme.localhost", Route: "health"}, "acme", "", nil},
		{"public route on host with port", tenant.Request{Host: "ACME.localhost:8080", Route: "health"}, "acme", "", nil},

		{"no credentials", tenant.Request{Route: "health"}, "", "", tenant.ErrUnauthenticated},
		{"unknown key", tenant.Request{Authorization: "Bearer ck_nope"}, "", "", tenant.ErrUnauthenticated},
		{"empty bearer", tenant.Request{Authorization: "Bearer "}, "", "", tenant.ErrUnauthenticated},
		{"basic auth", tenant.Request{Authorization: "Basic Y2tfZGV2X2FjbWU6"}, "", "", tenant.ErrUnauthenticated},
		{"bare key", tenant.Request{Authorization: "ck_dev_acme"}, "", "", tenant.ErrUnauthenticated},
		{"key with junk", tenant.Request{Authorization: "Bearer ck_dev_acme extra"}, "", "", tenant.ErrUnauthenticated},
		{"private route on public host", tenant.Request{Host: "acme.localhost", Route: "chat"}, "", "", tenant.ErrUnauthenticated},
		{"X-Tenant-ID of another tenant", tenant.Request{Authorization: acmeKey, TenantHeader: "globex"}, "", "", tenant.ErrForbidden},
		{"X-Tenant-ID of unknown tenant", tenant.Request{Authorization: acmeKey, TenantHeader: "nobody"}, "", "", tenant.ErrForbidden},
		{"X-Tenant-ID of the host's tenant, not the key's", tenant.Request{Authorization: globexKey, Host: "acme.localhost", TenantHeader: "acme"}, "", "", tenant.ErrForbidden},
		{"missing scope", tenant.Request{Authorization: globexKey, Scope: tenant.ScopeDocumentsWrite}, "", "", tenant.ErrForbidden},
		{"public host with other X-Tenant-ID", tenant.Request{Host: "acme.localhost", Route: "health", TenantHeader: "globex"}, "", "", tenant.ErrForbidden},
	}
	// A public family never opens a route that writes or administers: those
	// need a key.
	publicAll, err := tenant.Parse("pub", []byte(`{"id":"pub","name":"Pub","hosts":["pub.localhost"],
		"public":["health","chat","search","retrieve","documents","tools","tts","usage"],
		"keys":[{"id":"k","hash":"sha256:0000000000000000000000000000000000000000000000000000000000000001","scopes":["chat"]}]}`), tenant.Options{})
	if len(err) > 0 {
		t.Fatal(err)
	}
	pub, nerr := tenant.NewRegistry([]*tenant.Config{publicAll}, tenant.Options{})
	if nerr != nil {
		t.Fatal(nerr)
	}
	for _, scope := range tenant.Scopes {
		_, err := pub.Resolve(tenant.Request{Host: "pub.localhost", Route: "documents", Scope: scope})
		if want := scope.Anonymous(); (err == nil) != want {
			t.Errorf("anonymous %s on a public family: err %v, want allowed %v", scope, err, want)
		}
		if !scope.Anonymous() && !errors.Is(err, tenant.ErrUnauthenticated) {
			t.Errorf("anonymous %s: %v, want ErrUnauthenticated", scope, err)
		}
	}
	for _, s := range []tenant.Scope{tenant.ScopeDocumentsWrite, tenant.ScopeToolsWrite, tenant.ScopeUsageRead, tenant.ScopeAdmin} {
		if s.Anonymous() {
			t.Errorf("%s is anonymous", s)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := reg.Resolve(tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if id.Tenant != nil {
					t.Fatalf("rejected request resolved to tenant %s", id.Tenant.ID)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := id.Tenant.ID.String(); got != tt.tenant {
				t.Errorf("tenant = %s, want %s", got, tt.tenant)
			}
			if id.KeyID() != tt.keyID {
				t.Errorf("key = %q, want %q", id.KeyID(), tt.keyID)
			}
		})
	}
}

func TestResolveIgnoresDevKeysOutsideDev(t *testing.T) {
	reg := examples(t, false)
	_, err := reg.Resolve(tenant.Request{Authorization: "Bearer ck_dev_acme"})
	if !errors.Is(err, tenant.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrUnauthenticated", err)
	}
}

func TestNewKey(t *testing.T) {
	a, b := tenant.NewKey(), tenant.NewKey()
	if a == b {
		t.Fatal("two keys are equal")
	}
	if len(a) != len(tenant.KeyPrefix)+48 || a[:3] != tenant.KeyPrefix {
		t.Errorf("key %q has the wrong shape", a)
	}
	if got, want := tenant.HashKey("ck_dev_acme"), "sha256:ba473e6b18c20dc68862ce1f47a5f1fe7aeec8d4e003090478ae35ee89770ad3"; got != want {
		t.Errorf("HashKey = %s, want %s", got, want)
	}
}

func TestParseID(t *testing.T) {
	for _, s := range []string{"", "a", "A1", "1abc", "a_b", "a b", "-ab", string(make([]byte, 64))} {
		if _, err := tenant.ParseID(s); err == nil {
			t.Errorf("ParseID(%q) succeeded", s)
		}
	}
	for _, s := range []string{"ab", "acme", "a-1", "globex-eu-2"} {
		if id, err := tenant.ParseID(s); err != nil || id.String() != s || id.IsZero() {
			t.Errorf("ParseID(%q) = %v, %v", s, id, err)
		}
	}
	if !(tenant.ID{}).IsZero() {
		t.Error("zero ID is not zero")
	}
}

func TestResolveRefusesExpiredKeys(t *testing.T) {
	expires := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	cfg, ps := tenant.Parse("exp", []byte(`{"id":"exp","name":"Exp","keys":[
		{"id":"old","hash":"`+tenant.HashKey("ck_old_key_0001")+`","scopes":["chat"],"expires":"2026-07-01T14:00:00+02:00"},
		{"id":"new","hash":"`+tenant.HashKey("ck_new_key_0001")+`","scopes":["chat"]}]}`), tenant.Options{})
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if got := cfg.Keys[0].Expires; !got.Equal(expires) {
		t.Fatalf("expires = %v, want %v", got, expires)
	}
	reg, err := tenant.NewRegistry([]*tenant.Config{cfg}, tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		now     time.Time
		wantErr error
	}{
		{"old key before expiry", "ck_old_key_0001", expires.Add(-time.Second), nil},
		{"old key at expiry", "ck_old_key_0001", expires, tenant.ErrUnauthenticated},
		{"old key after expiry", "ck_old_key_0001", expires.Add(time.Hour), tenant.ErrUnauthenticated},
		{"key without expiry", "ck_new_key_0001", expires.AddDate(10, 0, 0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.Resolve(tenant.Request{Authorization: "Bearer " + tt.key, Scope: tenant.ScopeChat, Now: tt.now})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// Without a time, the resolver reads the clock.
	if _, err := reg.Resolve(tenant.Request{Authorization: "Bearer ck_new_key_0001"}); err != nil {
		t.Errorf("key without expiry at time.Now: %v", err)
	}
}

func TestParseRejectsMalformedExpires(t *testing.T) {
	for _, v := range []string{"2026-07-01", "tomorrow", "2026-07-01 12:00:00Z", "2026-07-01T12:00:00"} {
		_, ps := tenant.Parse("exp", []byte(`{"id":"exp","name":"Exp","keys":[
			{"id":"k","hash":"`+tenant.HashKey("ck_k_00000001")+`","scopes":["chat"],"expires":"`+v+`"}]}`), tenant.Options{})
		if len(ps) != 1 || ps[0].Path != "/keys/0/expires" {
			t.Errorf("expires %q: problems %v, want one at /keys/0/expires", v, ps)
		}
	}
}
