package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func newValidate(e *env) *cobra.Command {
	environment := config.Dev
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check tenant configs against the schema and the rules",
		Long: `Check every DIR/<id>/tenant.jsonc (DIR defaults to ./tenants, or
CRISPY_TENANTS) against schema/tenant.schema.json and the rules a schema
cannot express: unique hosts and keys across tenants, providers that exist,
secrets only as environment variable names, development keys only in dev.

Every problem is printed as 'file: /json/path: what is wrong'. The exit code
is 0 when all tenants are valid and 1 otherwise.`,
		Example: `  crispy validate
  crispy validate ./tenants --env prod`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			dir := config.Defaults().TenantsDir
			if v, ok := e.lookup(config.EnvName("tenants")); ok && v != "" {
				dir = v
			}
			if len(args) == 1 {
				dir = args[0]
			}
			cfgs, err := tenant.Load(dir, tenant.Options{AllowDevKeys: environment == config.Dev, Env: string(environment)})
			var ps tenant.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					fmt.Fprintln(e.stdout, p)
				}
				return &exitError{1, fmt.Errorf("%d problem(s) in %s", len(ps), dir)}
			}
			if err != nil {
				return &exitError{1, err}
			}
			ids := make([]string, len(cfgs))
			for i, c := range cfgs {
				ids[i] = c.ID
			}
			fmt.Fprintf(e.stdout, "ok: %d tenant(s) valid for --env %s: %s\n", len(cfgs), environment, strings.Join(ids, ", "))
			return nil
		},
	}
	cmd.Flags().Var(&environment, "env", "environment to validate for: dev, stage or prod (development keys are an error outside dev)")
	return cmd
}
