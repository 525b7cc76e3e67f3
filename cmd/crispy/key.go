package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func newKey(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Add, revoke and rotate a tenant's API keys",
		Long: `Add, revoke and rotate the API keys of a tenant in DIR/TENANT/tenant.jsonc
(DIR: --tenants, CRISPY_TENANTS or ./tenants). The file is edited in place:
its comments and layout stay. A new key is printed once, on standard output,
and only its hash is stored. A running server picks the change up on SIGHUP.

With --env ENV the keys of the tenant deployed on that environment are
managed instead: its active config is fetched, edited the same way and
deployed as a new version (the servers serve it within a second).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newKeyNew(e), newKeyRevoke(e), newKeyRotate(e))
	return cmd
}

// keyFile is a tenant file being edited by a key command.
type keyFile struct {
	path string
	mode fs.FileMode
	data []byte
	cfg  *tenant.Config
	// remote is the environment whose deployed config is edited; nil for
	// the local file.
	remote *remote
	id     string
	ctx    context.Context
}

// openKeys opens the tenant's keys: the local file, or with envName the
// config deployed on that environment.
func openKeys(ctx context.Context, e *env, dir, id, envName, envPath string) (*keyFile, error) {
	if envName == "" {
		return openKeyFile(dir, id)
	}
	if _, err := tenant.ParseID(id); err != nil {
		return nil, &exitError{2, err}
	}
	r, err := dialEnvironment(e, envPath, envName)
	if err != nil {
		return nil, err
	}
	t, err := deployed(ctx, r, id)
	switch {
	case err != nil:
		return nil, &exitError{1, fmt.Errorf("%s: %w", r.env.URL, err)}
	case t == nil:
		return nil, &exitError{1, fmt.Errorf("%s is not deployed on %s: deploy it first with 'crispy deploy %s --env %s'", id, envName, id, envName)}
	}
	name := fmt.Sprintf("%s:%s@v%d", envName, id, t.Version)
	cfg, ps := tenant.Parse(name, []byte(t.Content), tenant.Options{AllowDevKeys: true})
	if len(ps) > 0 {
		return nil, &exitError{1, fmt.Errorf("the deployed config of %s is invalid here:\n%s", id, ps)}
	}
	return &keyFile{path: name, data: []byte(t.Content), cfg: cfg, remote: r, id: id, ctx: ctx}, nil
}

// where says where a change went, for the commands' messages.
func (f *keyFile) where() string {
	if f.remote != nil {
		return "the config deployed on " + f.remote.name + " (now in force)"
	}
	return f.path + "; reload a running server with SIGHUP"
}

// openKeyFile reads and checks DIR/id/tenant.jsonc.
func openKeyFile(dir, id string) (*keyFile, error) {
	if _, err := tenant.ParseID(id); err != nil {
		return nil, &exitError{2, err}
	}
	path := filepath.Join(dir, id, tenant.FileName)
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &exitError{1, fmt.Errorf("%s does not exist: create the tenant with 'crispy tenant new %s'", path, id)}
		}
		return nil, &exitError{1, err}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &exitError{1, err}
	}
	// Dev keys are allowed here: whether they may serve is the server's
	// call, and rotating away from one is what this command is for.
	cfg, ps := tenant.Parse(path, data, tenant.Options{AllowDevKeys: true})
	if len(ps) > 0 {
		return nil, &exitError{1, fmt.Errorf("fix %s first (run 'crispy validate'):\n%s", path, ps)}
	}
	return &keyFile{path: path, mode: st.Mode().Perm(), data: data, cfg: cfg}, nil
}

// save validates the edited file and replaces the old one atomically, or
// deploys it to the environment and waits until it is served.
func (f *keyFile) save(data []byte, message string) error {
	if _, ps := tenant.Parse(f.path, data, tenant.Options{AllowDevKeys: true}); len(ps) > 0 {
		return &exitError{1, fmt.Errorf("the edited file would be invalid; nothing written:\n%s", ps)}
	}
	if f.remote != nil {
		res, err := f.remote.api.Deploy(f.ctx, f.id, api.OperatorDeployRequest{Content: string(data), Message: message})
		if err != nil {
			return &exitError{1, errors.New(apiProblems(err))}
		}
		if err := waitServed(f.ctx, f.remote, f.id, res.To, 10*time.Second); err != nil {
			return &exitError{1, err}
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".tenant-*.jsonc")
	if err != nil {
		return &exitError{1, err}
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return &exitError{1, err}
	}
	if err := tmp.Chmod(f.mode); err != nil {
		tmp.Close()
		return &exitError{1, err}
	}
	if err := tmp.Close(); err != nil {
		return &exitError{1, err}
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return &exitError{1, err}
	}
	return nil
}

// keyFor returns the key with ID id, or nil.
func (f *keyFile) keyFor(id string) *tenant.Key {
	for i := range f.cfg.Keys {
		if f.cfg.Keys[i].ID == id {
			return &f.cfg.Keys[i]
		}
	}
	return nil
}

// freeKeyID returns "k" and today's date, with a suffix if that is taken.
func (f *keyFile) freeKeyID(now time.Time) string {
	return tenant.FreeKeyID(f.cfg.Keys, now)
}

// addKey appends a new key to the file's data and returns the data and the
// key itself.
func (f *keyFile) addKey(data []byte, k tenant.Key) ([]byte, string, error) {
	secret := tenant.NewKey()
	k.Hash = tenant.HashKey(secret)
	out, err := tenant.AddKey(data, k)
	if err != nil {
		return nil, "", &exitError{1, err}
	}
	return out, secret, nil
}

// now is the clock of the key commands; tests replace it.
var now = time.Now

func tenantsFlag(cmd *cobra.Command, dir *string) {
	*dir = config.Defaults().TenantsDir
	cmd.Flags().StringVar(dir, "tenants", *dir, "folder of tenant configs (or CRISPY_TENANTS)")
}

func newKeyNew(e *env) *cobra.Command {
	var (
		dir, id, description string
		envName, envPath     string
		scopes               = []string{string(tenant.ScopeChat), string(tenant.ScopeSearch), string(tenant.ScopeDocumentsRead)}
		expires              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "new TENANT",
		Short: "Add a new API key to a tenant and print it once",
		Example: `  crispy key new acme --scopes chat,search --description "website widget"
  crispy key new acme --id ci --scopes documents:write --expires 720h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			f, err := openKeys(cmd.Context(), e, dir, args[0], envName, envPath)
			if err != nil {
				return err
			}
			k := tenant.Key{ID: id, Description: description}
			if k.ID == "" {
				k.ID = f.freeKeyID(now())
			}
			for _, s := range scopes {
				k.Scopes = append(k.Scopes, tenant.Scope(s))
			}
			if expires > 0 {
				k.Expires = now().Add(expires).UTC().Truncate(time.Second)
			}
			data, secret, err := f.addKey(f.data, k)
			if err != nil {
				return err
			}
			if err := f.save(data, "key new "+k.ID); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "added key %q to %s\nAPI key (shown once, store it now):\n", k.ID, f.where())
			fmt.Fprintln(e.stdout, secret)
			return nil
		},
	}
	tenantsFlag(cmd, &dir)
	environmentFlags(cmd, &envName, &envPath, false)
	cmd.Flags().StringVar(&id, "id", "", "ID of the new key, shown in logs and audit records (default: k and today's date)")
	cmd.Flags().StringSliceVar(&scopes, "scopes", scopes, "scopes of the new key, comma-separated")
	cmd.Flags().StringVar(&description, "description", "", "what the key is for")
	cmd.Flags().DurationVar(&expires, "expires", 0, "let the key expire this long from now (default: never)")
	return cmd
}

func newKeyRevoke(e *env) *cobra.Command {
	var dir, envName, envPath string
	cmd := &cobra.Command{
		Use:   "revoke TENANT KEYID",
		Short: "Remove an API key from a tenant",
		Long: `Remove the key KEYID from the tenant's file. A running server refuses it
once reloaded (SIGHUP). A tenant's last key cannot be revoked: add another
first, or use 'crispy key rotate' to replace a key with an overlap.`,
		Example: `  crispy key revoke acme dev`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			f, err := openKeys(cmd.Context(), e, dir, args[0], envName, envPath)
			if err != nil {
				return err
			}
			data, err := tenant.RemoveKey(f.data, args[1])
			if err != nil {
				return &exitError{1, err}
			}
			if err := f.save(data, "key revoke "+args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "revoked key %q of %s\n", args[1], f.where())
			return nil
		},
	}
	tenantsFlag(cmd, &dir)
	environmentFlags(cmd, &envName, &envPath, false)
	return cmd
}

func newKeyRotate(e *env) *cobra.Command {
	var (
		dir, id          string
		envName, envPath string
		overlap          = 24 * time.Hour
	)
	cmd := &cobra.Command{
		Use:   "rotate TENANT KEYID",
		Short: "Replace an API key, keeping the old one valid for an overlap",
		Long: `Add a new key with the scopes, budget and description of KEYID, print it
once, and set KEYID to expire --overlap from now (default 24h), so that
clients can move to the new key before the old one stops working. An
--overlap of 0 ends the old key at once. A dev key's replacement is not a
dev key.`,
		Example: `  crispy key rotate acme main
  crispy key rotate acme main --overlap 1h --id main2`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			if overlap < 0 {
				return &exitError{2, fmt.Errorf("--overlap %s is negative", overlap)}
			}
			f, err := openKeys(cmd.Context(), e, dir, args[0], envName, envPath)
			if err != nil {
				return err
			}
			old := f.keyFor(args[1])
			if old == nil {
				return &exitError{1, fmt.Errorf("%s has no key %q", f.path, args[1])}
			}
			t := now()
			k := tenant.Key{ID: id, Scopes: old.Scopes, Budget: old.Budget, Description: old.Description}
			if k.ID == "" {
				k.ID = f.freeKeyID(t)
			}
			if k.Description == "" {
				k.Description = "replaces " + old.ID
			}
			if !old.Expires.IsZero() {
				k.Expires = old.Expires // a rotation does not lengthen a key's life
			}
			ends := t.Add(overlap).UTC().Truncate(time.Second)
			if !old.Expires.IsZero() && old.Expires.Before(ends) {
				ends = old.Expires
			}
			data, secret, err := f.addKey(f.data, k)
			if err != nil {
				return err
			}
			if data, err = tenant.SetKeyExpires(data, old.ID, ends); err != nil {
				return &exitError{1, err}
			}
			if err := f.save(data, "key rotate "+old.ID+" to "+k.ID); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "added key %q to %s; key %q expires at %s\nAPI key (shown once, store it now):\n",
				k.ID, f.where(), old.ID, ends.Format(time.RFC3339))
			fmt.Fprintln(e.stdout, secret)
			return nil
		},
	}
	tenantsFlag(cmd, &dir)
	environmentFlags(cmd, &envName, &envPath, false)
	cmd.Flags().StringVar(&id, "id", "", "ID of the new key (default: k and today's date)")
	cmd.Flags().DurationVar(&overlap, "overlap", overlap, "how long the old key keeps working")
	return cmd
}
