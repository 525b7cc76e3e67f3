package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// copyTenants writes the example tenants embedded in the binary (with
// acme's seed documents) into a temporary folder that the test may edit.
func copyTenants(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, tenants.Examples); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeTenant(t *testing.T, dir, id, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id, tenant.FileName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testConfig(t *testing.T, tenants string) config.Serve {
	cfg := config.Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.TenantsDir = tenants
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// started is a running App and its base URL.
type started struct {
	app    *app.App
	url    string
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg config.Serve) *started {
	t.Helper()
	return startDeps(t, cfg, app.Deps{})
}

func get(t *testing.T, url, key string) (int, api.Envelope) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env api.Envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, env
}

// scrape returns what the operator listener's GET /metrics says.
func scrape(t *testing.T, s *started) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.app.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestServeExampleTenants(t *testing.T) {
	s := start(t, testConfig(t, copyTenants(t)))
	for _, tt := range []struct {
		key    string
		status int
		tenant string
	}{
		{"ck_dev_acme", 200, "acme"},
		{"ck_dev_globex", 200, "globex"},
		{"", 401, ""},
		{"ck_dev_initech", 401, ""},
	} {
		status, env := get(t, s.url+"/health", tt.key)
		if status != tt.status {
			t.Errorf("key %q: status %d, want %d", tt.key, status, tt.status)
			continue
		}
		if tt.tenant != "" {
			var h api.Health
			_ = json.Unmarshal(env.Data, &h)
			if h.Tenant != tt.tenant || !h.Storage.OK {
				t.Errorf("key %q: health %+v", tt.key, h)
			}
		}
	}
	if status, _ := get(t, s.url+"/readyz", ""); status != 200 {
		t.Errorf("readyz = %d, want 200", status)
	}
}

func TestDevKeysRefusedOutsideDev(t *testing.T) {
	for _, env := range []config.Env{config.Stage, config.Prod} {
		cfg := testConfig(t, copyTenants(t))
		cfg.Env = env
		_, err := app.New(context.Background(), cfg, app.Deps{})
		var ps tenant.Problems
		if !errors.As(err, &ps) || !strings.Contains(err.Error(), "--env dev") {
			t.Errorf("env %s: err = %v, want dev-key problems", env, err)
		}
	}
}

func TestInvalidTenantRefusesToStart(t *testing.T) {
	dir := copyTenants(t)
	writeTenant(t, dir, "broken", `{"id":"broken","name":"x","keys":[],"color":1}`)
	cfg := testConfig(t, dir)
	_, err := app.New(context.Background(), cfg, app.Deps{})
	var ps tenant.Problems
	if !errors.As(err, &ps) || len(ps) < 2 {
		t.Fatalf("err = %v, want problems for /keys and /color", err)
	}
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
		t.Errorf("a server that refused to start created %d file(s) in its data folder", len(entries))
	}
}

func TestReload(t *testing.T) {
	dir := copyTenants(t)
	s := start(t, testConfig(t, dir))

	// A valid change: a new tenant with a new key is served after reload.
	newKey := tenant.NewKey()
	initech := `{"id":"initech","name":"Initech","keys":[{"id":"main","hash":"` + tenant.HashKey(newKey) + `","scopes":["chat"]}]}`
	writeTenant(t, dir, "initech", initech)
	if status, _ := get(t, s.url+"/health", newKey); status != 401 {
		t.Fatalf("new key before reload: status %d, want 401", status)
	}
	if err := s.app.Reload(); err != nil {
		t.Fatalf("valid reload: %v", err)
	}
	if status, _ := get(t, s.url+"/health", newKey); status != 200 {
		t.Fatalf("new key after reload: status %d, want 200", status)
	}

	// An invalid change is rejected whole: the old config keeps serving,
	// including the part of the change that was valid on its own.
	otherKey := tenant.NewKey()
	writeTenant(t, dir, "hooli", `{"id":"hooli","name":"Hooli","keys":[{"id":"main","hash":"`+tenant.HashKey(otherKey)+`","scopes":["chat"]}]}`)
	writeTenant(t, dir, "initech", strings.Replace(initech, `"chat"`, `"superuser"`, 1))
	err := s.app.Reload()
	var ps tenant.Problems
	if !errors.As(err, &ps) || ps[0].Path != "/keys/0/scopes/0" {
		t.Fatalf("invalid reload: err = %v, want a problem at /keys/0/scopes/0", err)
	}
	for key, want := range map[string]int{newKey: 200, "ck_dev_acme": 200, otherKey: 401} {
		if status, _ := get(t, s.url+"/health", key); status != want {
			t.Errorf("after rejected reload, key %.12s…: status %d, want %d", key, status, want)
		}
	}

	// Removing a tenant and reloading revokes its keys.
	if err := os.RemoveAll(filepath.Join(dir, "initech")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "hooli")); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Reload(); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, s.url+"/health", newKey); status != 401 {
		t.Errorf("key of a removed tenant: status %d, want 401", status)
	}
}

// TestReloadUnderLoad swaps the registry while requests are in flight: every
// request sees either the old or the new registry, never a mix or nothing.
func TestReloadUnderLoad(t *testing.T) {
	dir := copyTenants(t)
	s := start(t, testConfig(t, dir))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// 429 is acme's rate limit answering: the tenant was resolved.
				if status, _ := get(t, s.url+"/health", "ck_dev_acme"); status != 200 && status != 429 {
					errs <- "status " + http.StatusText(status)
					return
				}
			}
		}()
	}
	for range 20 {
		if err := s.app.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestReloadDropsRemovedKnowledgeBases removes a tenant with documents: a
// reload frees its index (its chunks leave crispy_rag_chunks_held), and the
// tenant added back finds its documents again, from the store.
func TestReloadDropsRemovedKnowledgeBases(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"acme", "globex"} {
		writeTenant(t, dir, id, kbTenant(id, "builtin/hash-384", ""))
	}
	s := startDeps(t, testConfig(t, dir), app.Deps{})
	ingestDoc(t, s, "acme", "handbook", "Travel handbook", handbook)
	ingestDoc(t, s, "globex", "handbook", "Travel handbook", handbook)
	held := func(id string) string { return metric(t, s, `crispy_rag_chunks_held{tenant="`+id+`"}`) }
	if held("acme") == "" || held("acme") == "0" || held("globex") == "" {
		t.Fatalf("before the reload: acme holds %q chunks, globex %q; want both loaded", held("acme"), held("globex"))
	}
	before := held("acme")

	if err := os.RemoveAll(filepath.Join(dir, "globex")); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := held("globex"); got != "" {
		t.Fatalf("after globex was removed, its knowledge base still holds %s chunks", got)
	}
	if got := held("acme"); got != before {
		t.Fatalf("acme's knowledge base changed with another tenant's removal: %s chunks, was %s", got, before)
	}

	writeTenant(t, dir, "globex", kbTenant("globex", "builtin/hash-384", ""))
	if err := s.app.Reload(); err != nil {
		t.Fatal(err)
	}
	status, r, apiErr := retrieve(t, s, "globex", `{"query":"hotel refund per night"}`)
	if status != 200 || len(r.Chunks) == 0 {
		t.Fatalf("globex added back: retrieve = %d, %d chunks, %v; want its stored documents", status, len(r.Chunks), apiErr)
	}
	if got := held("globex"); got != before {
		t.Fatalf("globex added back holds %s chunks, want %s", got, before)
	}
}
