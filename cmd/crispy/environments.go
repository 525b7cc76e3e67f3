package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"

	"github.com/spf13/cobra"
	"github.com/tailscale/hujson"

	"github.com/crispy-enigma/crispy/api"
)

// DefaultEnvironments is the file that names each environment's server.
const DefaultEnvironments = "environments.jsonc"

// environment is one entry of environments.jsonc: where the environment's
// server is and which environment variable holds the operator credential
// for it. The credential itself is never in the file.
type environment struct {
	URL           string `json:"url"`
	CredentialEnv string `json:"credentialEnv"`
}

type environmentsFile struct {
	Environments map[string]environment `json:"environments"`
}

var (
	envNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	envVarPattern  = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// checkEnvironment returns what is wrong with environment name, or nil.
func checkEnvironment(name string, env environment) error {
	switch u, err := url.Parse(env.URL); {
	case !envNamePattern.MatchString(name):
		return fmt.Errorf("environment %q: want a lowercase name (letters, digits, '-')", name)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("environment %s: url %q: want http(s)://host[:port]", name, env.URL)
	case !envVarPattern.MatchString(env.CredentialEnv):
		return fmt.Errorf("environment %s: credentialEnv %q: want the name of an environment variable (A-Z, 0-9, _)", name, env.CredentialEnv)
	}
	return nil
}

// readEnvironments reads and checks the environments file.
func readEnvironments(path string) (map[string]environment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist: add an environment with 'crispy env new NAME --url URL --credential-env VAR'", path)
		}
		return nil, err
	}
	return parseEnvironments(path, data)
}

// parseEnvironments parses and checks the environments file's data.
func parseEnvironments(path string, data []byte) (map[string]environment, error) {
	std, err := hujson.Standardize(bytes.Clone(data))
	if err != nil {
		return nil, fmt.Errorf("%s: invalid JSONC: %w", path, err)
	}
	var f environmentsFile
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	names := make([]string, 0, len(f.Environments))
	for n := range f.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checkEnvironment(n, f.Environments[n]); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return f.Environments, nil
}

// remote is an environment's server, reached with its operator credential.
type remote struct {
	name string
	env  environment
	api  *api.Client
}

// dialEnvironment returns the client of environment name.
func dialEnvironment(e *env, path, name string) (*remote, error) {
	envs, err := readEnvironments(path)
	if err != nil {
		return nil, &exitError{2, err}
	}
	env, ok := envs[name]
	if !ok {
		names := make([]string, 0, len(envs))
		for n := range envs {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, &exitError{2, fmt.Errorf("no environment %q in %s (it has %v)", name, path, names)}
	}
	key, ok := e.lookup(env.CredentialEnv)
	if !ok || key == "" {
		return nil, &exitError{2, fmt.Errorf("environment %s: %s is not set: it holds the operator credential (co_...) for %s", name, env.CredentialEnv, env.URL)}
	}
	c, err := api.NewClient(env.URL, key, nil)
	if err != nil {
		return nil, &exitError{2, err}
	}
	return &remote{name: name, env: env, api: c}, nil
}

// environmentFlags adds --env and --environments to cmd.
func environmentFlags(cmd *cobra.Command, name, path *string, required bool) {
	*path = DefaultEnvironments
	usage := "environment to act on, as named in --environments"
	if !required {
		usage += "; without it the local tenants folder is edited"
	}
	cmd.Flags().StringVar(name, "env", "", usage)
	cmd.Flags().StringVar(path, "environments", *path, "file naming each environment's server URL and credential variable")
	if required {
		_ = cmd.MarkFlagRequired("env")
	}
}

func newEnv(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Manage the environments file (environments.jsonc)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var path, url, credentialEnv string
	add := &cobra.Command{
		Use:   "new NAME",
		Short: "Add an environment: its server URL and the variable holding its operator credential",
		Long: `Add environment NAME to the environments file (created when missing), with
the URL of its server and the name of the environment variable that holds
its operator credential. The file holds no secret: commiting it is safe.`,
		Example: `  crispy env new prod --url https://crispy.example.com --credential-env CRISPY_PROD_OPERATOR_KEY`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			entry := environment{URL: url, CredentialEnv: credentialEnv}
			if entry.CredentialEnv == "" {
				entry.CredentialEnv = "CRISPY_" + upperSnake(name) + "_OPERATOR_KEY"
			}
			if err := checkEnvironment(name, entry); err != nil {
				return &exitError{2, err}
			}
			data, err := os.ReadFile(path)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				data = []byte("// The servers of each environment and the variables holding their operator\n// credentials (never the credentials themselves).\n{\n  \"environments\": {}\n}\n")
			case err != nil:
				return &exitError{1, err}
			}
			if envs, err := parseEnvironments(path, data); err != nil {
				return &exitError{1, err}
			} else if _, dup := envs[name]; dup {
				return &exitError{1, fmt.Errorf("%s already has environment %q", path, name)}
			}
			v, err := hujson.Parse(data)
			if err != nil {
				return &exitError{1, err}
			}
			value, _ := json.Marshal(entry)
			patch := fmt.Sprintf(`[{"op": "add", "path": "/environments/%s", "value": %s}]`, name, value)
			if err := v.Patch([]byte(patch)); err != nil {
				return &exitError{1, fmt.Errorf("%s: %w", path, err)}
			}
			v.Format()
			if err := writeAtomic(path, v.Pack(), 0o644); err != nil {
				return &exitError{1, err}
			}
			fmt.Fprintf(e.stderr, "added environment %s (%s) to %s; set %s to its operator credential\n", name, url, path, entry.CredentialEnv)
			return nil
		},
	}
	add.Flags().StringVar(&path, "environments", DefaultEnvironments, "the environments file")
	add.Flags().StringVar(&url, "url", "", "URL of the environment's server (required)")
	add.Flags().StringVar(&credentialEnv, "credential-env", "", "environment variable holding its operator credential (default CRISPY_<NAME>_OPERATOR_KEY)")
	_ = add.MarkFlagRequired("url")
	cmd.AddCommand(add)
	return cmd
}

// upperSnake turns "prod-eu" into "PROD_EU".
func upperSnake(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c == '-':
			b[i] = '_'
		}
	}
	return string(b)
}

// writeAtomic replaces path with data through a temporary file.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := "."
	if i := bytes.LastIndexByte([]byte(path), '/'); i >= 0 {
		dir = path[:i]
	}
	tmp, err := os.CreateTemp(dir, ".crispy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
