package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/schema"
	"github.com/crispy-enigma/crispy/tenants"
)

func newInit(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write the example tenants and the tenant schema out for editing",
		Long: `Write the example tenants embedded in this binary, acme (with its seed
documents) and globex, to DIR/tenants, and the tenant config schema to
DIR/schema/tenant.schema.json, which the tenant files name as their $schema.
DIR defaults to the current folder, so that 'crispy serve' run there next
serves the copies.

Nothing is written when a file exists already, unless --force is given: then
the files are overwritten with the embedded versions. Other files in those
folders are left alone.`,
		Example: `  crispy init
  crispy init /etc/crispy && crispy serve --tenants /etc/crispy/tenants`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return initExamples(e, dir, force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite files that exist already")
	return cmd
}

// initFile is a file that 'crispy init' writes.
type initFile struct {
	path string // under DIR, slash-separated
	data []byte
}

// initFiles returns every file 'crispy init' writes, in order.
func initFiles() ([]initFile, error) {
	var files []initFile
	err := fs.WalkDir(tenants.Examples, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(tenants.Examples, p)
		if err != nil {
			return err
		}
		files = append(files, initFile{path.Join("tenants", p), b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(files, initFile{"schema/tenant.schema.json", schema.Tenant}), nil
}

func initExamples(e *env, dir string, force bool) error {
	files, err := initFiles()
	if err != nil {
		return &exitError{1, err}
	}
	var exist []string
	for _, f := range files {
		target := filepath.Join(dir, filepath.FromSlash(f.path))
		if _, err := os.Lstat(target); err == nil {
			exist = append(exist, target)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return &exitError{1, err}
		}
	}
	if len(exist) > 0 && !force {
		return &exitError{1, fmt.Errorf("refusing to overwrite %d existing file(s), pass --force to replace them:\n  %s", len(exist), strings.Join(exist, "\n  "))}
	}
	for _, f := range files {
		target := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return &exitError{1, err}
		}
		if err := os.WriteFile(target, f.data, 0o644); err != nil {
			return &exitError{1, err}
		}
		fmt.Fprintln(e.stdout, "wrote", target)
	}
	tenantsDir := filepath.Join(dir, "tenants")
	fmt.Fprintf(e.stderr, "next: edit %s, check it with 'crispy validate %s', and serve it with 'crispy serve --tenants %s'\n", tenantsDir, tenantsDir, tenantsDir)
	return nil
}
