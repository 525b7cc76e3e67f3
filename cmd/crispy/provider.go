package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/tailscale/hujson"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// providerTemplate returns the provider binding 'crispy provider new'
// adds, from its flags: the documented defaults of each type.
func providerTemplate(typ, baseURL, apiKeyEnv, accountID, gatewayID, gatewayTokenEnv string) (tenant.Provider, error) {
	p := tenant.Provider{Type: typ, BaseURL: baseURL, APIKeyEnv: apiKeyEnv}
	switch typ {
	case "openai":
		if p.BaseURL == "" {
			p.BaseURL = "https://api.openai.com/v1"
		}
		if p.APIKeyEnv == "" {
			p.APIKeyEnv = "OPENAI_API_KEY"
		}
		if accountID != "" || gatewayID != "" {
			return p, fmt.Errorf("--account-id and --gateway are for --type workersai")
		}
	case "workersai":
		if accountID == "" {
			return p, fmt.Errorf("--type workersai needs --account-id (the Cloudflare account, 32 hex digits)")
		}
		p.AccountID = accountID
		if p.APIKeyEnv == "" {
			p.APIKeyEnv = "CLOUDFLARE_API_TOKEN"
		}
		if gatewayID != "" {
			p.Gateway = &tenant.Gateway{ID: gatewayID, TokenEnv: gatewayTokenEnv}
		}
	default:
		return p, fmt.Errorf("--type %q: want openai or workersai", typ)
	}
	return p, nil
}

func newProvider(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "provider",
		Short: "Manage a tenant's provider bindings",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var dir, typ, baseURL, apiKeyEnv, accountID, gatewayID, gatewayTokenEnv string
	add := &cobra.Command{
		Use:   "new TENANT NAME",
		Short: "Add a provider binding to a tenant from a template",
		Long: `Add provider NAME to DIR/TENANT/tenant.jsonc: an OpenAI-compatible endpoint
(--type openai; default https://api.openai.com/v1 with OPENAI_API_KEY) or
Cloudflare Workers AI (--type workersai --account-id ID; CLOUDFLARE_API_TOKEN,
optionally through AI Gateway with --gateway ID). The credential is named by
an environment variable, never written. The file is edited in place (its
comments stay) and validated before it is replaced; models then name the
provider as NAME/model.`,
		Example: `  crispy provider new acme openai --type openai
  crispy provider new acme local --type openai --base-url http://127.0.0.1:11434/v1 --api-key-env OLLAMA_KEY
  crispy provider new acme cf --type workersai --account-id 0123456789abcdef0123456789abcdef --gateway main`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			name := args[1]
			p, err := providerTemplate(typ, baseURL, apiKeyEnv, accountID, gatewayID, gatewayTokenEnv)
			if err != nil {
				return &exitError{2, err}
			}
			f, err := openKeyFile(dir, args[0])
			if err != nil {
				return err
			}
			if _, dup := f.cfg.Providers[name]; dup || name == "builtin" {
				return &exitError{1, fmt.Errorf("%s already has a provider %q", f.path, name)}
			}
			v, err := hujson.Parse(f.data)
			if err != nil {
				return &exitError{1, err}
			}
			value, _ := json.Marshal(p)
			var patch string
			if f.cfg.Providers == nil {
				patch = fmt.Sprintf(`[{"op": "add", "path": "/providers", "value": {%q: %s}}]`, name, value)
			} else {
				patch = fmt.Sprintf(`[{"op": "add", "path": "/providers/%s", "value": %s}]`, name, value)
			}
			if err := v.Patch([]byte(patch)); err != nil {
				return &exitError{1, fmt.Errorf("%s: %w", f.path, err)}
			}
			v.Format()
			if err := f.save(v.Pack(), "provider new "+name); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "added provider %q (%s) to %s; set %s where the server runs\n", name, typ, f.where(), p.APIKeyEnv)
			return nil
		},
	}
	tenantsFlag(add, &dir)
	add.Flags().StringVar(&typ, "type", "", "openai or workersai (required)")
	add.Flags().StringVar(&baseURL, "base-url", "", "base URL of an openai provider")
	add.Flags().StringVar(&apiKeyEnv, "api-key-env", "", "environment variable holding the API key or token")
	add.Flags().StringVar(&accountID, "account-id", "", "Cloudflare account ID (workersai)")
	add.Flags().StringVar(&gatewayID, "gateway", "", "Cloudflare AI Gateway ID to route through (workersai)")
	add.Flags().StringVar(&gatewayTokenEnv, "gateway-token-env", "", "environment variable holding the AI Gateway token")
	_ = add.MarkFlagRequired("type")
	cmd.AddCommand(add)
	return cmd
}
