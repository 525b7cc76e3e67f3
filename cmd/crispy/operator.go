package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

var operatorIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func newOperator(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Operator credentials for the operator API",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var id string
	key := &cobra.Command{
		Use:   "key",
		Short: "Operator credentials",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	keyNew := &cobra.Command{
		Use:   "new",
		Short: "Make an operator credential: print it once, and the line to add to --operator-keys",
		Long: `Make a new operator credential (co_<id>_<random>) and print it once on
standard output, to be stored where the operator's tools read it (the
variable an environment's credentialEnv names). Standard error shows the
entry to add to the server's --operator-keys file: its hash, never the
credential. Reload the server (SIGHUP) to accept it; remove the entry and
reload to revoke it.`,
		Example: `  crispy operator key new --id ci`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !operatorIDPattern.MatchString(id) {
				return &exitError{2, fmt.Errorf("--id %q: want lowercase letters, digits, '.', '_' or '-'", id)}
			}
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			secret := api.OperatorKeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b)
			fmt.Fprintf(e.stderr, "add to the --operator-keys file, then reload the server:\n  {\"id\": %q, \"hash\": %q}\noperator credential (shown once, store it now):\n", id, tenant.HashKey(secret))
			fmt.Fprintln(e.stdout, secret)
			return nil
		},
	}
	keyNew.Flags().StringVar(&id, "id", "operator", "ID of the operator, recorded with every change it makes")
	key.AddCommand(keyNew)
	cmd.AddCommand(key)
	return cmd
}
