package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/internal/version"
)

func newVersion(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of crispy",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := version.Get()
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(info)
			}
			fmt.Fprintf(e.stdout, "crispy %s", info.Version)
			if info.Commit != "" {
				fmt.Fprintf(e.stdout, " (%s", info.Commit)
				if info.Modified {
					fmt.Fprint(e.stdout, ", modified")
				}
				fmt.Fprint(e.stdout, ")")
			}
			fmt.Fprintf(e.stdout, " %s\n", info.GoVersion)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
