package tenant_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestLoadExamples(t *testing.T) {
	cfgs, err := tenant.LoadFS(tenants.Examples, "tenants", tenant.Options{AllowDevKeys: true})
	if err != nil {
		t.Fatalf("example tenants are invalid:\n%v", err)
	}
	var ids []string
	for _, c := range cfgs {
		ids = append(ids, c.ID)
	}
	if got, want := strings.Join(ids, ","), "acme,globex"; got != want {
		t.Errorf("tenants = %s, want %s", got, want)
	}
}

func TestLoadExamplesRefusesDevKeysOutsideDev(t *testing.T) {
	_, err := tenant.LoadFS(tenants.Examples, "tenants", tenant.Options{AllowDevKeys: false})
	var ps tenant.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v, want Problems", err)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d problems, want one per example tenant:\n%v", len(ps), err)
	}
	for _, p := range ps {
		if p.Path != "/keys/0/dev" || !strings.Contains(p.Message, "--env dev") {
			t.Errorf("problem = %s, want a dev-key problem at /keys/0/dev", p)
		}
	}
}

// TestLoadBroken compares every problem reported for testdata/broken with
// testdata/broken.golden. Run with -update to rewrite it.
func TestLoadBroken(t *testing.T) {
	_, err := tenant.Load("testdata/broken", tenant.Options{})
	var ps tenant.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v, want Problems", err)
	}
	got := err.Error() + "\n"
	golden := filepath.Join("testdata", "broken.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("problems differ from %s (rerun with -update if intended)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // relative path -> content
		want  []string          // substrings of the error, in order
	}{
		{
			name: "empty folder",
			want: []string{"no tenants in"},
		},
		{
			name:  "folder name differs from id",
			files: map[string]string{"shop/tenant.jsonc": minimal("store")},
			want:  []string{"shop/tenant.jsonc: /id: id \"store\" must equal the folder name \"shop\""},
		},
		{
			name: "host shared by two tenants",
			files: map[string]string{
				"one/tenant.jsonc": withHosts(minimalKey("one", "k1"), "shop.example.com"),
				"two/tenant.jsonc": withHosts(minimalKey("two", "k2"), "shop.example.com:443", "shop.example.com"),
			},
			want: []string{"two/tenant.jsonc: /hosts/1: host \"shop.example.com\" is also used by tenant \"one\""},
		},
		{
			name: "key shared by two tenants",
			files: map[string]string{
				"one/tenant.jsonc": minimalKey("one", "same"),
				"two/tenant.jsonc": minimalKey("two", "same"),
			},
			want: []string{"two/tenant.jsonc: /keys/0/hash: the same key is also configured for tenant \"one\""},
		},
		{
			name:  "well-known dev key not marked dev",
			files: map[string]string{"one/tenant.jsonc": minimalKey("one", tenant.DevKey("one"))},
			want:  []string{"one/tenant.jsonc: /keys/0: this is the well-known development key ck_dev_one"},
		},
		{
			name:  "file too large",
			files: map[string]string{"one/tenant.jsonc": strings.Repeat(" ", tenant.MaxFileBytes+1)},
			want:  []string{"one/tenant.jsonc: /: file is larger than"},
		},
		{
			name: "inline secret and builtin provider",
			files: map[string]string{"one/tenant.jsonc": `{"id":"one","name":"One","keys":[` + keyJSON("k") + `],
				"providers":{"builtin":{"type":"openai","baseUrl":"http://x"},"cf":{"type":"workersai","accountId":"0123456789abcdef0123456789abcdef","apiKeyEnv":"CF_TOKEN","headers":{"cf-aig-authorization":"Bearer abc"}}}}`},
			want: []string{
				"/providers/builtin: the builtin provider is always available",
				"/providers/cf/headers/cf-aig-authorization: header \"cf-aig-authorization\" carries a secret",
			},
		},
		{
			name: "tts voices of espeak, default voice not listed, jobs above the limit",
			files: map[string]string{
				"one/tenant.jsonc": `{"id":"one","name":"One","keys":[` + keyJSON("k1") + `],"tts":{"adapter":"espeak","voices":["en"],"maxChars":100,"asyncChars":200}}`,
				"two/tenant.jsonc": `{"id":"two","name":"Two","keys":[` + keyJSON("k2") + `],
					"providers":{"local":{"type":"openai","baseUrl":"http://127.0.0.1:8880/v1"}},
					"tts":{"adapter":"openai","provider":"local","voice":"alloy","voices":["af_bella"]}}`,
			},
			want: []string{
				"one/tenant.jsonc: /tts/voices: voices lists the voices of a remote adapter",
				"one/tenant.jsonc: /tts/asyncChars: asyncChars (200) is above maxChars (100)",
				"two/tenant.jsonc: /tts/voice: default voice \"alloy\" is not in /tts/voices",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := tenant.Load(dir, tenant.Options{})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error lacks %q:\n%s", w, msg)
				}
				msg = msg[i+len(w):]
			}
		})
	}
}

func keyJSON(key string) string {
	return `{"id":"k","hash":"` + tenant.HashKey(key) + `","scopes":["chat"]}`
}

func minimal(id string) string { return minimalKey(id, "ck_"+id+"_secret") }

func minimalKey(id, key string) string {
	return `{"id":"` + id + `","name":"` + id + `","keys":[` + keyJSON(key) + `]}`
}

func withHosts(doc string, hosts ...string) string {
	return strings.Replace(doc, `"keys"`, `"hosts":["`+strings.Join(hosts, `","`)+`"],"keys"`, 1)
}

func TestParseJSONC(t *testing.T) {
	doc := `// comment
	{
		/* block */ "id": "one", "name": "One",
		"keys": [` + keyJSON("ck_x") + `,],
		"sessions": {"maxAge": "1h30m"},
	}`
	cfg, ps := tenant.Parse("one.jsonc", []byte(doc), tenant.Options{})
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	if got, want := cfg.Sessions.MaxAge.D().Minutes(), 90.0; got != want {
		t.Errorf("maxAge = %v minutes, want %v", got, want)
	}
}

// FuzzParse checks that no input makes the config parser panic, and that a
// config it accepts survives a round trip through encoding/json unchanged.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"acme/tenant.jsonc", "globex/tenant.jsonc"} {
		b, err := tenants.Examples.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, p := range []string{"testdata/broken/bad/tenant.jsonc", "testdata/broken/dup/tenant.jsonc"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"a1","name":"x","keys":[]}`))
	f.Add([]byte(`/* */ {"id": 1e999}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ps := tenant.Parse("fuzz.jsonc", data, tenant.Options{AllowDevKeys: true})
		if len(ps) > 0 {
			for _, p := range ps {
				if p.File != "fuzz.jsonc" || !strings.HasPrefix(p.Path, "/") || p.Message == "" {
					t.Fatalf("malformed problem %#v", p)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("no problems and no config")
		}
		if _, err := tenant.ParseID(cfg.ID); err != nil {
			t.Fatalf("accepted config has invalid id: %v", err)
		}
	})
}

func TestLoadFSChecksSeedFolder(t *testing.T) {
	file := func(seed string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(`{"id":"seedy","name":"Seedy","rag":{"seed":"` + seed + `"},
			"keys":[{"id":"k","hash":"` + tenant.HashKey("ck_seedy_000001") + `","scopes":["chat"]}]}`)}
	}
	ok := fstest.MapFS{"seedy/tenant.jsonc": file("docs"), "seedy/docs/a.md": {Data: []byte("# A")}}
	if _, err := tenant.LoadFS(ok, "t", tenant.Options{}); err != nil {
		t.Fatalf("seed folder present: %v", err)
	}
	for _, tt := range []struct{ name, seed, path, msg string }{
		{"missing folder", "nothere", "/rag/seed", "t/seedy/nothere is not a folder"},
		{"a file", "docs/a.md", "/rag/seed", "t/seedy/docs/a.md is not a folder"},
		{"outside the tenant", "../other", "/rag/seed", "does not match pattern"},
		{"absolute", "/etc", "/rag/seed", "does not match pattern"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"seedy/tenant.jsonc": file(tt.seed), "seedy/docs/a.md": {Data: []byte("# A")}}
			_, err := tenant.LoadFS(fsys, "t", tenant.Options{})
			var ps tenant.Problems
			if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Path != tt.path || !strings.Contains(ps[0].Message, tt.msg) {
				t.Fatalf("err = %v, want one problem at %s saying %q", err, tt.path, tt.msg)
			}
		})
	}
}
