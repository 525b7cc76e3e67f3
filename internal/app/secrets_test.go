package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// TestSecretFromFile: a provider key named MOCK_KEY is read from the file
// MOCK_KEY_FILE names when MOCK_KEY is unset (a mounted secret), without
// its trailing newline; a rotated file is picked up by the next reload.
func TestSecretFromFile(t *testing.T) {
	mock, url := mockupstream.Start(t, mockupstream.Config{APIKey: "mounted-secret", Reply: "from the mounted key"})
	secret := filepath.Join(t.TempDir(), "mock-key")
	if err := os.WriteFile(secret, []byte("mounted-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTenant(t, dir, "acme", fmt.Sprintf(`{
  "id": "acme", "name": "x",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat"], "dev": true}],
  "providers": {"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY"}},
  "models": {"chat": {"model": "mock/m"}},
}`, keyHash("ck_dev_acme"), url))
	env := map[string]string{"MOCK_KEY_FILE": secret}
	s := startDeps(t, testConfig(t, dir), app.Deps{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	body := `{"model":"mock/m","messages":[{"role":"user","content":"hello"}]}`
	if out := postAs(t, s, "ck_dev_acme", "/v1/chat/completions", body); !strings.Contains(out, "from the mounted key") {
		t.Fatalf("answer = %s", out)
	}
	// The file rotated to a key the upstream refuses: the next reload
	// reads it, and calls fail upstream (401 there, 502 here) until the
	// file is right again.
	if err := os.WriteFile(secret, []byte("revoked-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Reload(); err != nil {
		t.Fatal(err)
	}
	res := do(t, t.Context(), "POST", s.url+"/v1/chat/completions", "ck_dev_acme", strings.Replace(body, "hello", "again", 1))
	res.Body.Close()
	if res.StatusCode != 502 {
		t.Errorf("with the rotated file, status = %d, want 502 (the upstream refuses the key)", res.StatusCode)
	}
	if err := os.WriteFile(secret, []byte("mounted-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Reload(); err != nil {
		t.Fatal(err)
	}
	if out := postAs(t, s, "ck_dev_acme", "/v1/chat/completions", strings.Replace(body, "hello", "once more", 1)); !strings.Contains(out, "from the mounted key") {
		t.Fatalf("answer after the fix = %s", out)
	}
	if mock.Stats().Chat < 2 {
		t.Errorf("upstream calls = %d", mock.Stats().Chat)
	}
}
