package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

const keysOperator = "co_keys_operator-test-credential-000000000"

// startOperator starts the example tenants with an operator credential; it
// returns the server and its tenants folder.
func startOperator(t *testing.T, mutate func(*config.Serve)) (*started, string) {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "operators.jsonc")
	if err := os.WriteFile(keys, fmt.Appendf(nil, `{"keys": [{"id": "keys", "hash": %q}]}`, tenant.HashKey(keysOperator)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, copyTenants(t))
	cfg.OperatorKeys = keys
	if mutate != nil {
		mutate(&cfg)
	}
	return start(t, cfg), cfg.TenantsDir
}

// works reports whether key is accepted (GET /me).
func works(t *testing.T, s *started, key string) bool {
	t.Helper()
	code, _ := opCall(t, s, "GET", "/me", key, "")
	return code == http.StatusOK
}

// opCall sends an operator (or any) request and decodes the envelope.
func opCall(t *testing.T, s *started, method, path, key, body string) (int, api.Envelope) {
	t.Helper()
	res := do(t, context.Background(), method, s.url+path, key, body)
	defer res.Body.Close()
	var env api.Envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, env
}

func TestOperatorKeys(t *testing.T) {
	s, dir := startOperator(t, nil)

	// Bad requests change nothing.
	before := configVersion(t, s, "acme")
	for _, c := range []struct {
		name, path, body string
		status           int
		code             api.ErrorCode
	}{
		{"no scopes", "/operator/v1/tenants/acme/keys", `{}`, 400, api.CodeInvalidRequest},
		{"unknown scope", "/operator/v1/tenants/acme/keys", `{"scopes":["root"]}`, 400, api.CodeInvalidRequest},
		{"key ID taken", "/operator/v1/tenants/acme/keys", `{"id":"dev","scopes":["chat"]}`, 400, api.CodeInvalidRequest},
		{"bad expiry", "/operator/v1/tenants/acme/keys", `{"scopes":["chat"],"expiresIn":"soon"}`, 400, api.CodeInvalidRequest},
		{"negative expiry", "/operator/v1/tenants/acme/keys", `{"scopes":["chat"],"expiresIn":"-1h"}`, 400, api.CodeInvalidRequest},
		{"expiry too short", "/operator/v1/tenants/acme/keys", `{"scopes":["chat"],"expiresIn":"1ns"}`, 400, api.CodeInvalidRequest},
		{"expiry too long", "/operator/v1/tenants/acme/keys", `{"scopes":["chat"],"expiresIn":"2562047h"}`, 400, api.CodeInvalidRequest},
		{"unknown field", "/operator/v1/tenants/acme/keys", `{"scopes":["chat"],"secret":"x"}`, 400, api.CodeInvalidRequest},
		{"malformed", "/operator/v1/tenants/acme/keys", `{"scopes":`, 400, api.CodeInvalidRequest},
		{"unknown tenant", "/operator/v1/tenants/nobody/keys", `{"scopes":["chat"]}`, 404, api.CodeNotFound},
	} {
		code, env := opCall(t, s, "POST", c.path, keysOperator, c.body)
		if code != c.status || env.Error == nil || env.Error.Code != c.code {
			t.Errorf("%s: %d %+v, want %d %s", c.name, code, env.Error, c.status, c.code)
		}
	}
	if after := configVersion(t, s, "acme"); after != before {
		t.Fatalf("refused requests deployed a version: %s -> %s", before, after)
	}

	// A tenant key gets 401 on every key route, and makes nothing.
	for _, m := range []struct{ method, path string }{
		{"POST", "/operator/v1/tenants/acme/keys"}, {"DELETE", "/operator/v1/tenants/acme/keys/dev"},
		{"GET", "/operator/v1/tenants/acme/usage"}, {"GET", "/operator/v1/drift"},
	} {
		if code, _ := opCall(t, s, m.method, m.path, "ck_dev_acme", `{"scopes":["admin"]}`); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a tenant key = %d, want 401", m.method, m.path, code)
		}
	}

	// A new key works at once and is shown in the tenant's keys, never
	// with its hash.
	code, env := opCall(t, s, "POST", "/operator/v1/tenants/acme/keys", keysOperator, `{"id":"widget","scopes":["chat","search"],"description":"site widget","expiresIn":"720h"}`)
	if code != http.StatusCreated {
		t.Fatalf("new key = %d %s", code, env.Data)
	}
	var made api.OperatorKeyResult
	if err := json.Unmarshal(env.Data, &made); err != nil {
		t.Fatal(err)
	}
	if made.KeyID != "widget" || !strings.HasPrefix(made.Key, tenant.KeyPrefix) || !made.Deploy.Changed || made.Deploy.Served != made.Deploy.To {
		t.Fatalf("new key: %+v", made)
	}
	if !works(t, s, made.Key) {
		t.Fatal("the new key does not work")
	}
	code, env = opCall(t, s, "GET", "/me", made.Key, "")
	var me api.Me
	if err := json.Unmarshal(env.Data, &me); err != nil || code != 200 || me.KeyID != "widget" || strings.Join(me.Scopes, ",") != "chat,search" {
		t.Fatalf("GET /me with the new key = %d %s", code, env.Data)
	}
	_, env = opCall(t, s, "GET", "/operator/v1/tenants/acme", keysOperator, "")
	var ten api.OperatorTenant
	if err := json.Unmarshal(env.Data, &ten); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env.Data), made.Key) || strings.Contains(string(mustJSON(t, ten.Keys)), "sha256") {
		t.Fatal("the tenant's detail shows a key, or a hash among its keys")
	}
	var widget *api.OperatorKey
	for i := range ten.Keys {
		if ten.Keys[i].ID == "widget" {
			widget = &ten.Keys[i]
		}
	}
	if widget == nil || widget.Description != "site widget" || widget.Expires.IsZero() || !strings.Contains(string(ten.Limits), `"rate"`) {
		t.Fatalf("detail: keys %+v, limits %s", ten.Keys, ten.Limits)
	}
	// The edit kept the file's comments.
	if !strings.Contains(ten.Content, "// The development key ck_dev_acme.") {
		t.Error("the key edit lost the file's comments")
	}

	// The server deploys its folder: the key is written there, so that it
	// outlives the next reload.
	file := filepath.Join(dir, "acme", tenant.FileName)
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), `"id": "widget"`) || !strings.Contains(string(b), "// The development key ck_dev_acme.") {
		t.Fatalf("the folder's file after the new key: %v\n%s", err, b)
	}
	if err := s.app.Reload(); err != nil || !works(t, s, made.Key) {
		t.Fatalf("after a reload the new key works: %v", err)
	}

	// Revoke: unknown key 404, the key itself 200 and then 401.
	if code, env := opCall(t, s, "DELETE", "/operator/v1/tenants/acme/keys/nokey", keysOperator, ""); code != http.StatusNotFound {
		t.Errorf("revoke an unknown key = %d %+v", code, env.Error)
	}
	if code, env := opCall(t, s, "DELETE", "/operator/v1/tenants/acme/keys/widget?message=gone", keysOperator, ""); code != http.StatusOK {
		t.Fatalf("revoke = %d %+v", code, env.Error)
	}
	if works(t, s, made.Key) {
		t.Fatal("the revoked key still works")
	}
	if err := s.app.Reload(); err != nil || works(t, s, made.Key) {
		t.Fatalf("a reload brought the revoked key back (%v)", err)
	}
	// globex's last key cannot be revoked.
	if code, env := opCall(t, s, "DELETE", "/operator/v1/tenants/globex/keys/dev", keysOperator, ""); code != http.StatusConflict {
		t.Errorf("revoke the last key = %d %+v", code, env.Error)
	}
	if !works(t, s, "ck_dev_globex") {
		t.Fatal("globex's last key was revoked")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOperatorDrift(t *testing.T) {
	s, dir := startOperator(t, nil)
	drift := func() api.OperatorDrift {
		t.Helper()
		code, env := opCall(t, s, "GET", "/operator/v1/drift", keysOperator, "")
		var d api.OperatorDrift
		if err := json.Unmarshal(env.Data, &d); err != nil || code != 200 {
			t.Fatalf("drift = %d %s", code, env.Data)
		}
		return d
	}
	status := func(d api.OperatorDrift) map[string]string {
		out := map[string]string{}
		for _, x := range d.Tenants {
			out[x.ID] = x.Status
		}
		return out
	}
	d := drift()
	if d.Source != config.ConfigFromFolder || d.Env != "dev" || d.Error != "" {
		t.Fatalf("drift: %+v", d)
	}
	if got := status(d); got["acme"] != api.DriftInSync || got["globex"] != api.DriftInSync || len(got) != 2 {
		t.Fatalf("after start: %v", got)
	}
	// A deploy through the API: acme differs from the folder.
	_, env := opCall(t, s, "GET", "/operator/v1/tenants/acme", keysOperator, "")
	var ten api.OperatorTenant
	if err := json.Unmarshal(env.Data, &ten); err != nil {
		t.Fatal(err)
	}
	body := mustJSON(t, api.OperatorDeployRequest{Content: ten.Content + "\n// changed through the API\n", Message: "drift"})
	if code, env := opCall(t, s, "POST", "/operator/v1/tenants/acme/deploy", keysOperator, string(body)); code != 200 {
		t.Fatalf("deploy = %d %+v", code, env.Error)
	}
	if got := status(drift()); got["acme"] != api.DriftDiffers || got["globex"] != api.DriftInSync {
		t.Fatalf("after a deploy: %v", got)
	}
	// A tenant only in the folder, and one only deployed.
	writeTenant(t, dir, "initech", fmt.Sprintf(`{"id": "initech", "name": "Initech", "keys": [{"id": "main", "hash": %q, "scopes": ["chat"]}]}`, tenant.HashKey("ck_main_initech")))
	if code, env := opCall(t, s, "DELETE", "/operator/v1/tenants/globex?message=away", keysOperator, ""); code != 200 {
		t.Fatalf("undeploy = %d %+v", code, env.Error)
	}
	if err := os.RemoveAll(filepath.Join(dir, "globex")); err != nil {
		t.Fatal(err)
	}
	got := status(drift())
	if got["initech"] != api.DriftOnlyLocal || got["globex"] != "" || got["acme"] != api.DriftDiffers {
		t.Fatalf("with initech in the folder and globex gone: %v", got)
	}
	// A folder that does not parse is reported, not failed.
	if err := os.WriteFile(filepath.Join(dir, "initech", tenant.FileName), []byte("{ not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := drift(); d.Error == "" || len(d.Tenants) != 0 {
		t.Fatalf("invalid folder: %+v", d)
	}
}

func TestOperatorDriftFromStore(t *testing.T) {
	s, _ := startOperator(t, func(c *config.Serve) { c.ConfigSource = config.ConfigFromStore })
	code, env := opCall(t, s, "GET", "/operator/v1/drift", keysOperator, "")
	var d api.OperatorDrift
	if err := json.Unmarshal(env.Data, &d); err != nil || code != 200 {
		t.Fatalf("drift = %d %s", code, env.Data)
	}
	if d.Source != config.ConfigFromStore || len(d.Tenants) != 0 || d.Folder != "" {
		t.Fatalf("a server on the store compared a folder: %+v", d)
	}
}

func TestOperatorUsage(t *testing.T) {
	s, _ := startOperator(t, nil)
	res := do(t, context.Background(), "POST", s.url+"/chat", "ck_dev_acme", `{"message":"How long does shipping take?","stream":false}`)
	res.Body.Close()
	s.app.FlushUsage()
	report := func(path, key string) api.UsageReport {
		t.Helper()
		code, env := opCall(t, s, "GET", path, key, "")
		var rep api.UsageReport
		if err := json.Unmarshal(env.Data, &rep); err != nil || code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, env.Data)
		}
		return rep
	}
	op := report("/operator/v1/tenants/acme/usage", keysOperator)
	own := report("/usage", "ck_dev_acme")
	if op.Totals.Requests == 0 || op.Totals != own.Totals {
		t.Fatalf("operator's report %+v, the tenant's %+v", op.Totals, own.Totals)
	}
	var tokens *api.BudgetUse
	for i, b := range own.Budgets {
		if b.Name == "tokensPerDay" && b.Scope == "tenant" {
			tokens = &own.Budgets[i]
		}
	}
	if tokens == nil || tokens.Limit != 5_000_000 || tokens.Used <= 0 {
		t.Fatalf("budgets %+v", own.Budgets)
	}
	if len(op.Budgets) != len(own.Budgets) {
		t.Errorf("operator's budgets %+v, the tenant's %+v", op.Budgets, own.Budgets)
	}
	if g := report("/operator/v1/tenants/globex/usage", keysOperator); g.Totals.Requests != 0 {
		t.Errorf("globex's report counts acme's requests: %+v", g.Totals)
	}
	if code, _ := opCall(t, s, "GET", "/operator/v1/tenants/acme/usage?from=yesterday", keysOperator, ""); code != 400 {
		t.Errorf("a bad day = %d", code)
	}
}

func TestMe(t *testing.T) {
	s := start(t, testConfig(t, copyTenants(t)))
	code, env := opCall(t, s, "GET", "/me", "ck_dev_globex", "")
	var me api.Me
	if err := json.Unmarshal(env.Data, &me); err != nil || code != 200 {
		t.Fatalf("GET /me = %d %s", code, env.Data)
	}
	if me.Tenant != "globex" || me.KeyID != "dev" || me.Features.TTS || len(me.Models) == 0 {
		t.Errorf("globex: %+v", me)
	}
	if code, _ := opCall(t, s, "GET", "/me", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /me without a key = %d", code)
	}
	// acme's public host does not answer /me without a key.
	req, _ := http.NewRequest("GET", s.url+"/me", nil)
	req.Host = "acme.localhost"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /me on acme's public host = %d", res.StatusCode)
	}
}

// TestOperatorKeysFromStore: a server on the store edits the deployed
// version; a server on the embedded examples has no file to edit and says
// so.
func TestOperatorKeysFromStore(t *testing.T) {
	s, dir := startOperator(t, func(c *config.Serve) { c.ConfigSource = config.ConfigFromStore })
	acme, err := os.ReadFile(filepath.Join(dir, "acme", tenant.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if code, env := opCall(t, s, "POST", "/operator/v1/tenants/acme/deploy", keysOperator, string(mustJSON(t, api.OperatorDeployRequest{Content: string(acme)}))); code != 200 {
		t.Fatalf("deploy acme = %d %+v", code, env.Error)
	}
	code, env := opCall(t, s, "POST", "/operator/v1/tenants/acme/keys", keysOperator, `{"scopes":["chat"]}`)
	var made api.OperatorKeyResult
	if err := json.Unmarshal(env.Data, &made); err != nil || code != http.StatusCreated || !works(t, s, made.Key) {
		t.Fatalf("new key on the store = %d %s", code, env.Data)
	}
	if !strings.HasPrefix(made.KeyID, "k2") {
		t.Errorf("a key without an ID is named %q, want k and the date", made.KeyID)
	}
	if code, env := opCall(t, s, "DELETE", "/operator/v1/tenants/acme/keys/"+made.KeyID, keysOperator, ""); code != 200 || works(t, s, made.Key) {
		t.Fatalf("revoke on the store = %d %+v", code, env.Error)
	}

	embedded, _ := startOperator(t, func(c *config.Serve) { c.TenantsDir = filepath.Join(t.TempDir(), "none") })
	code, env = opCall(t, embedded, "POST", "/operator/v1/tenants/acme/keys", keysOperator, `{"scopes":["chat"]}`)
	if code != http.StatusConflict || env.Error == nil || !strings.Contains(env.Error.Message, "--config-source store") {
		t.Fatalf("new key on the embedded examples = %d %+v", code, env.Error)
	}
}
