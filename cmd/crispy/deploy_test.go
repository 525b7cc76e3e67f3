package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store/postgres/pgtest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// operatorKey is the test's operator credential.
const operatorKey = "co_ci_" + "dGVzdC1vcGVyYXRvci1jcmVkZW50aWFsLTAxMjM0NTY3"

// opsTenant is a tenant config with one key, ck_<keyID>_<id>.
func opsTenant(id string, keyIDs ...string) string {
	var keys []string
	for _, k := range keyIDs {
		keys = append(keys, fmt.Sprintf(`{"id": %q, "hash": %q, "scopes": ["usage:read"]}`, k, tenant.HashKey("ck_"+k+"_"+id)))
	}
	return fmt.Sprintf(`{
  // %s, deployed by the operator commands' test
  "id": %q, "name": %q,
  "keys": [%s],
}
`, id, id, id, strings.Join(keys, ", "))
}

func writeOps(t *testing.T, dir, id, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id, tenant.FileName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startOps starts a server that serves its configs from the store, with the
// test's operator credential, and returns its URL.
func startOps(t *testing.T, store string) string {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "operators.jsonc")
	if err := os.WriteFile(keys, fmt.Appendf(nil, `{"keys": [{"id": "ci", "hash": %q}]}`, tenant.HashKey(operatorKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Addr, cfg.MetricsAddr = "127.0.0.1:0", config.MetricsOff
	cfg.DataDir, cfg.TenantsDir = filepath.Join(dir, "data"), filepath.Join(dir, "absent")
	cfg.ConfigSource, cfg.OperatorKeys, cfg.Store = config.ConfigFromStore, keys, store
	cfg.ShutdownTimeout = 5 * time.Second
	a, err := app.New(context.Background(), cfg, app.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return "http://" + l.Addr().String()
}

// statusOf returns the status of GET url with the bearer key.
func statusOf(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestOperatorCommandsSQLite(t *testing.T) {
	testOperatorCommands(t, "")
}

func TestOperatorCommandsPostgres(t *testing.T) {
	testOperatorCommands(t, pgtest.DSN(t))
}

// testOperatorCommands drives the operator commands end to end against
// real servers (two on one PostgreSQL, or one on SQLite): deploy a new
// tenant and its key works with no restart; drift in sync; a local change
// drifts; deploy --all with one invalid tenant deploys the others and
// fails; rollback restores the previous version and its keys; keys managed
// on the deployed tenant; credentials never cross between operator and
// tenant routes.
func testOperatorCommands(t *testing.T, store string) {
	urlA := startOps(t, store)
	urlB := urlA
	if store != "" {
		urlB = startOps(t, store)
	}
	work := t.TempDir()
	tenants, envs := filepath.Join(work, "tenants"), filepath.Join(work, "environments.jsonc")
	writeOps(t, tenants, "acme", opsTenant("acme", "main"))
	writeOps(t, tenants, "globex", opsTenant("globex", "main"))
	env := map[string]string{"CRISPY_STAGE_OPERATOR_KEY": operatorKey}
	cli := func(args ...string) result {
		t.Helper()
		return runCLI(t, env, append(args, "--environments", envs)...)
	}
	tcli := func(args ...string) result {
		t.Helper()
		return cli(append(args, "--tenants", tenants)...)
	}

	if r := cli("env", "new", "stage", "--url", urlA); r.code != 0 {
		t.Fatalf("env new = %d %s", r.code, r.stderr)
	}

	// A new tenant: deployed, and its key works at once on every replica.
	if statusOf(t, urlB+"/usage", "ck_main_acme") != 401 {
		t.Fatal("acme's key works before acme is deployed")
	}
	r := tcli("deploy", "acme", "--env", "stage")
	if r.code != 0 || !strings.Contains(r.stdout, "acme: deployed v1 (new)") {
		t.Fatalf("deploy acme = %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if statusOf(t, urlA+"/usage", "ck_main_acme") != 200 {
		t.Error("acme's key does not work on the replica deployed to")
	}
	waitStatus(t, urlB+"/usage", "ck_main_acme", 200)

	// Drift: globex only local (1); deployed, everything in sync (0).
	if r := tcli("drift", "--env", "stage"); r.code != 1 || !strings.Contains(r.stdout, "globex: only-local") || !strings.Contains(r.stdout, "acme: in-sync (v1)") {
		t.Errorf("drift = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := tcli("deploy", "globex", "--env", "stage"); r.code != 0 {
		t.Fatalf("deploy globex = %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := tcli("drift", "--env", "stage"); r.code != 0 || !strings.Contains(r.stdout, "globex: in-sync (v1)") {
		t.Errorf("drift after deploying all = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := tcli("deploy", "acme", "--env", "stage"); r.code != 0 || !strings.Contains(r.stdout, "acme: unchanged (v1)") {
		t.Errorf("redeploy = %d %s", r.code, r.stdout)
	}

	// A local change drifts, with its diff.
	writeOps(t, tenants, "acme", opsTenant("acme", "main", "second"))
	r = tcli("drift", "--env", "stage", "--json")
	if r.code != 1 || !strings.Contains(r.stdout, `"status": "differs"`) || !strings.Contains(r.stdout, `"inSync": false`) {
		t.Errorf("drift --json after a local change = %d\n%s", r.code, r.stdout)
	}
	// A dry run deploys nothing.
	if r := tcli("deploy", "acme", "--env", "stage", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "would deploy v1→v2") || !strings.Contains(r.stdout, "+") {
		t.Errorf("dry run = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if statusOf(t, urlA+"/usage", "ck_second_acme") != 401 {
		t.Error("a dry run deployed")
	}

	// deploy --all with an invalid tenant: the others deploy, exit 1.
	writeOps(t, tenants, "initech", `{"id": "initech", "name": "Initech", "keys": []}`)
	r = tcli("deploy", "--all", "--env", "stage")
	if r.code != 1 || !strings.Contains(r.stdout, "acme: deployed v1→v2") || !strings.Contains(r.stdout, "globex: unchanged (v1)") || !strings.Contains(r.stdout, "initech: failed:") {
		t.Errorf("deploy --all = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	waitStatus(t, urlB+"/usage", "ck_second_acme", 200)
	// A config the server refuses (a secret it does not have) is not
	// deployed, and the command says which names are missing.
	writeOps(t, tenants, "initech", `{"id": "initech", "name": "Initech",
  "keys": [{"id": "main", "hash": "`+tenant.HashKey("ck_main_initech")+`", "scopes": ["chat"]}],
  "providers": {"up": {"type": "openai", "baseUrl": "http://127.0.0.1:1/v1", "apiKeyEnv": "INITECH_UPSTREAM_KEY"}},
}`)
	if r := tcli("deploy", "initech", "--env", "stage"); r.code != 1 || !strings.Contains(r.stdout, "INITECH_UPSTREAM_KEY") {
		t.Errorf("deploy with a missing secret = %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Rollback: v1 again, the second key refused, on every replica.
	if r := cli("rollback", "acme", "--env", "stage"); r.code != 0 || !strings.Contains(r.stdout, "rolled back v2→v1") {
		t.Fatalf("rollback = %d %s %s", r.code, r.stdout, r.stderr)
	}
	if statusOf(t, urlA+"/usage", "ck_second_acme") != 401 || statusOf(t, urlA+"/usage", "ck_main_acme") != 200 {
		t.Error("the rollback did not restore v1's keys")
	}
	waitStatus(t, urlB+"/usage", "ck_second_acme", 401)
	r = cli("history", "acme", "--env", "stage")
	if r.code != 0 || !strings.Contains(r.stdout, "active: v1") || !strings.Contains(r.stdout, "activate") || !strings.Contains(r.stdout, "operator:ci") {
		t.Errorf("history = %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Keys of the deployed tenant: a new key works at once.
	r = cli("key", "new", "acme", "--env", "stage", "--id", "ops", "--scopes", "usage:read")
	key := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(key, "ck_") {
		t.Fatalf("key new --env = %d %q %s", r.code, r.stdout, r.stderr)
	}
	if statusOf(t, urlA+"/usage", key) != 200 {
		t.Error("the new key does not work")
	}
	if r := cli("key", "revoke", "acme", "ops", "--env", "stage"); r.code != 0 {
		t.Fatalf("key revoke --env = %d %s", r.code, r.stderr)
	}
	if statusOf(t, urlA+"/usage", key) != 401 {
		t.Error("the revoked key still works")
	}

	// Undeploy: globex's key stops working everywhere; drift then says
	// only-local.
	if r := cli("undeploy", "globex", "--env", "stage"); r.code != 0 || !strings.Contains(r.stdout, "undeployed (was v1)") {
		t.Fatalf("undeploy = %d %s %s", r.code, r.stdout, r.stderr)
	}
	if statusOf(t, urlA+"/usage", "ck_main_globex") != 401 {
		t.Error("an undeployed tenant's key still works")
	}
	waitStatus(t, urlB+"/usage", "ck_main_globex", 401)
	if r := cli("undeploy", "globex", "--env", "stage"); r.code != 1 {
		t.Errorf("undeploy of a tenant not deployed = %d", r.code)
	}

	// Credentials never cross: a tenant key on the operator API, an
	// operator credential on a tenant route, and no credential at all.
	for _, tt := range []struct{ url, key string }{
		{urlA + "/operator/v1/tenants", "ck_main_acme"},
		{urlA + "/operator/v1/tenants", ""},
		{urlA + "/operator/v1/tenants", "co_ci_wrong"},
		{urlA + "/usage", operatorKey},
	} {
		if got := statusOf(t, tt.url, tt.key); got != 401 {
			t.Errorf("GET %s with %q = %d, want 401", tt.url, tt.key, got)
		}
	}
	// A wrong credential in the environment: exit 2 from drift.
	env["CRISPY_STAGE_OPERATOR_KEY"] = "co_ci_wrong"
	if r := tcli("drift", "--env", "stage"); r.code != 2 {
		t.Errorf("drift with a wrong credential = %d %s", r.code, r.stderr)
	}
}

// waitStatus waits until GET url with key answers want.
func waitStatus(t *testing.T, url, key string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for statusOf(t, url, key) != want {
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never answered %d", url, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
