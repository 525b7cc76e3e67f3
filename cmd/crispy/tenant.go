package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func newTenant(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Manage tenants",
		// Without Args and RunE, cobra prints the help and exits 0 on an
		// unknown subcommand ('crispy tenant nwe acme'): make it a usage error.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTenantNew(e))
	return cmd
}

// tenantTemplate is the tenant.jsonc that 'crispy tenant new' writes: the
// smallest useful tenant, with builtin offline models and every section a
// new tenant owner is likely to edit, commented.
var tenantTemplate = template.Must(template.New("tenant").Parse(`// Tenant {{.ID}}, created by 'crispy tenant new'.
// Every field is documented in docs/tenants.md; check changes with
// 'crispy validate' and apply them to a running server with SIGHUP.
{
  "$schema": "../../schema/tenant.schema.json",
  "id": {{.IDJSON}},
  "name": {{.NameJSON}},

  // Hosts that identify this tenant for the routes listed in "public".
  "hosts": [],

  "keys": [
    // The key itself was printed once when this file was written; only its
    // hash is kept. Add keys with new hashes, never with the key itself.
    { "id": {{.KeyIDJSON}}, "hash": "{{.Hash}}", "scopes": {{.ScopesJSON}} },
  ],

  "models": {
    "chat": { "model": "builtin/extractive" },
    "embedding": { "model": "builtin/hash-384" },
  },

  "limits": {
    "rate": {
      "tenant": { "requests": 600, "per": "1m", "burst": 60 },
      "key": { "requests": 120, "per": "1m", "burst": 20 },
      "ip": { "requests": 60, "per": "1m", "burst": 20 },
      "concurrentStreams": 8,
    },
  },

  "sessions": { "maxMessages": 200, "maxAge": "720h" },
  "cache": { "enabled": true, "ttl": "10m" },
  "tts": { "adapter": "disabled" },
}
`))

func newTenantNew(e *env) *cobra.Command {
	var (
		dir    = config.Defaults().TenantsDir
		name   string
		keyID  = "main"
		scopes = []string{string(tenant.ScopeChat), string(tenant.ScopeSearch), string(tenant.ScopeDocumentsRead)}
	)
	cmd := &cobra.Command{
		Use:   "new ID",
		Short: "Create a tenant folder with a new API key",
		Long: `Create DIR/ID/tenant.jsonc, a valid tenant with a newly generated API key.

The key is printed once, on standard output, and stored only as its SHA-256
hash: keep it now, it cannot be shown again. The command refuses to touch an
existing tenant.`,
		Example: `  crispy tenant new initech --name "Initech" --scopes chat,search`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			return tenantNew(e, dir, args[0], name, keyID, scopes)
		},
	}
	cmd.Flags().StringVar(&dir, "tenants", dir, "folder of tenant configs")
	cmd.Flags().StringVar(&name, "name", "", "human-readable name (default: the ID)")
	cmd.Flags().StringVar(&keyID, "key-id", keyID, "ID of the new key, shown in logs and audit records")
	cmd.Flags().StringSliceVar(&scopes, "scopes", scopes, "scopes of the new key, comma-separated")
	return cmd
}

func tenantNew(e *env, dir, id, name, keyID string, scopes []string) error {
	if _, err := tenant.ParseID(id); err != nil {
		return &exitError{2, err}
	}
	if name == "" {
		name = id
	}
	folder := filepath.Join(dir, id)
	if _, err := os.Stat(folder); err == nil {
		return &exitError{1, fmt.Errorf("%s already exists; refusing to overwrite a tenant", folder)}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return &exitError{1, err}
	}

	key := tenant.NewKey()
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	var buf bytes.Buffer
	if err := tenantTemplate.Execute(&buf, map[string]string{
		"ID": id, "IDJSON": js(id), "NameJSON": js(name), "KeyIDJSON": js(keyID),
		"Hash": tenant.HashKey(key), "ScopesJSON": js(scopes),
	}); err != nil {
		return &exitError{1, err}
	}
	// Validate before writing, so that a bad --scopes or --key-id writes nothing.
	file := filepath.Join(folder, tenant.FileName)
	if _, ps := tenant.Parse(file, buf.Bytes(), tenant.Options{}); len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(e.stderr, p)
		}
		return &exitError{2, fmt.Errorf("the new tenant would be invalid")}
	}
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return &exitError{1, err}
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return &exitError{1, err}
	}
	fmt.Fprintf(e.stderr, "created %s\nAPI key for key id %q (shown once, store it now):\n", file, keyID)
	fmt.Fprintln(e.stdout, key)
	return nil
}
