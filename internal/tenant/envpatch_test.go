package tenant_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

const patchBase = `{
  // the base config
  "id": "acme", "name": "Acme",
  "keys": [{"id": "main", "hash": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "scopes": ["chat"]}],
  "limits": {"rate": {"tenant": {"requests": 10, "per": "1s"}}, "maxInFlight": 8},
}`

// TestEnvPatch: tenant.<env>.jsonc is an RFC 7386 merge patch over
// tenant.jsonc for that environment only: members replace, objects merge,
// null removes; other environments see the base.
func TestEnvPatch(t *testing.T) {
	fsys := fstest.MapFS{
		"acme/tenant.jsonc": {Data: []byte(patchBase)},
		"acme/tenant.prod.jsonc": {Data: []byte(`{
  // prod: a stricter rate, no in-flight override, another name
  "name": "Acme (prod)",
  "limits": {"rate": {"tenant": {"requests": 2}}, "maxInFlight": null},
}`)},
	}
	prod, files, err := tenant.LoadFiles(fsys, "tenants", tenant.Options{Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	c := prod[0]
	if c.Name != "Acme (prod)" || c.Limits.Rate.Tenant.Requests != 2 || time.Duration(c.Limits.Rate.Tenant.Per) != time.Second || c.Limits.MaxInFlight != 0 {
		t.Errorf("prod config: name %q, rate %+v, maxInFlight %d", c.Name, c.Limits.Rate.Tenant, c.Limits.MaxInFlight)
	}
	if files[0].Name != "tenants/acme/tenant.jsonc+tenant.prod.jsonc" || strings.Contains(string(files[0].Data), "//") {
		t.Errorf("file %q:\n%s", files[0].Name, files[0].Data)
	}
	for _, env := range []string{"", "stage"} {
		cfgs, files, err := tenant.LoadFiles(fsys, "tenants", tenant.Options{Env: env})
		if err != nil {
			t.Fatal(err)
		}
		if cfgs[0].Name != "Acme" || cfgs[0].Limits.MaxInFlight != 8 || string(files[0].Data) != patchBase {
			t.Errorf("env %q: name %q, maxInFlight %d; want the base as written", env, cfgs[0].Name, cfgs[0].Limits.MaxInFlight)
		}
	}
}

func TestEnvPatchProblems(t *testing.T) {
	for _, tt := range []struct {
		name, patch, want string
	}{
		{"not JSONC", `{"name": }`, "tenants/acme/tenant.prod.jsonc: /: patch: invalid JSONC"},
		{"not an object", `["x"]`, "tenants/acme/tenant.prod.jsonc: /: patch: must be a JSON object"},
		{"makes the config invalid", `{"limits": {"maxInFlight": -1}}`, "tenants/acme/tenant.jsonc+tenant.prod.jsonc: /limits/maxInFlight"},
		{"removes a required member", `{"name": null}`, "tenants/acme/tenant.jsonc+tenant.prod.jsonc: /: missing property 'name'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"acme/tenant.jsonc":      {Data: []byte(patchBase)},
				"acme/tenant.prod.jsonc": {Data: []byte(tt.patch)},
			}
			_, _, err := tenant.LoadFiles(fsys, "tenants", tenant.Options{Env: "prod"})
			var ps tenant.Problems
			if !errors.As(err, &ps) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want a problem %q", err, tt.want)
			}
		})
	}
}
