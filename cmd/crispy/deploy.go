package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// localTenant is a tenant of the local folder as it would be deployed to
// an environment: its file with the environment's patch merged, and the
// problems it has on its own (the set is checked by the server).
type localTenant struct {
	id       string
	name     string // how problems name it
	content  []byte
	problems tenant.Problems
	err      error // the file could not be read
}

// readLocal reads tenant id of dir for environment env.
func readLocal(dir, id, env string) localTenant {
	lt := localTenant{id: id, name: filepath.Join(dir, id, tenant.FileName)}
	data, err := os.ReadFile(lt.name)
	if err != nil {
		lt.err = err
		return lt
	}
	patchName := filepath.Join(dir, id, tenant.EnvFileName(env))
	if patch, err := os.ReadFile(patchName); err == nil {
		merged, err := tenant.ApplyEnvPatch(data, patch)
		if err != nil {
			lt.problems = tenant.Problems{{File: patchName, Path: "/", Message: err.Error()}}
			return lt
		}
		lt.name += "+" + tenant.EnvFileName(env)
		data = merged
	} else if !errors.Is(err, fs.ErrNotExist) {
		lt.err = err
		return lt
	}
	lt.content = data
	cfg, ps := tenant.Parse(lt.name, data, tenant.Options{AllowDevKeys: true, Env: env})
	lt.problems = ps
	if cfg != nil && cfg.ID != id {
		lt.problems = append(lt.problems, tenant.Problem{File: lt.name, Path: "/id", Message: fmt.Sprintf("id %q must equal the folder name %q", cfg.ID, id)})
	}
	return lt
}

// localIDs lists the tenants of dir: folders with a tenant.jsonc.
func localIDs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), tenant.FileName)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// connect applies the environment variables to cmd's flags and dials the
// environment the flags name.
func connect(cmd *cobra.Command, e *env, envPath, envName string) (*remote, error) {
	if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
		return nil, &exitError{2, err}
	}
	return dialEnvironment(e, envPath, envName)
}

// deployed returns tenant id's deployed config, or nil when it is not
// deployed.
func deployed(ctx context.Context, r *remote, id string) (*api.OperatorTenant, error) {
	t, err := r.api.OperatorTenant(ctx, id)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
		return nil, nil
	}
	return t, err
}

// diff returns the unified diff from the deployed content to the local one.
func diff(env, id, from, to string) string {
	return udiff.Unified(env+"/"+id+" (deployed)", id+" (local)", from, to)
}

// waitServed polls until the server serves version of tenant id, or the
// timeout passes.
func waitServed(ctx context.Context, r *remote, id string, version int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		t, err := deployed(ctx, r, id)
		if err == nil && t != nil && t.Served == version {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still serving another version")
			}
			return fmt.Errorf("version %d of %s not served within %s: %w", version, id, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// apiProblems formats the problems a server reported in an error.
func apiProblems(err error) string {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(ae.Message)
	if ps, ok := ae.Details["problems"].([]any); ok {
		for _, p := range ps {
			fmt.Fprintf(&b, "\n  %v", p)
		}
	}
	return b.String()
}

func newDeploy(e *env) *cobra.Command {
	var (
		dir, envName, envPath, message string
		all, dryRun                    bool
		wait                           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy [TENANT]",
		Short: "Deploy tenants of the local folder to an environment",
		Long: `Deploy TENANT (or every tenant, with --all) of the tenants folder to the
server of environment --env, as named in the environments file, with the
operator credential its variable holds. For each tenant: the file, with the
environment's patch (tenant.ENV.jsonc) merged, is validated (every problem is
listed and nothing is deployed); the diff against the active version is
printed; the server validates it again against the other deployed tenants
and checks it has every environment variable the config names (it says
which are missing, never their values); then the new version is made active,
and the command waits until the server serves it.

With --all, one line per tenant (unchanged, deployed vN→vM, failed: why); one
tenant's failure does not stop the others, and the exit status is 1 if any
failed. --dry-run does every check and deploys nothing.`,
		Example: `  crispy deploy acme --env prod
  crispy deploy acme --env prod --dry-run
  crispy deploy --all --env stage`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			if all == (len(args) == 1) {
				return &exitError{2, errors.New("name one TENANT, or --all")}
			}
			r, err := dialEnvironment(e, envPath, envName)
			if err != nil {
				return err
			}
			ids := args
			if all {
				if ids, err = localIDs(dir); err != nil {
					return &exitError{1, err}
				}
			}
			failed := 0
			for _, id := range ids {
				line, err := deployOne(cmd.Context(), e, r, dir, id, message, dryRun, !all, wait)
				if err != nil {
					failed++
					fmt.Fprintf(e.stdout, "%s: failed: %s\n", id, strings.ReplaceAll(err.Error(), "\n", "\n  "))
					continue
				}
				fmt.Fprintf(e.stdout, "%s: %s\n", id, line)
			}
			if failed > 0 {
				return &exitError{1, fmt.Errorf("%d of %d tenant(s) failed to deploy to %s", failed, len(ids), envName)}
			}
			return nil
		},
	}
	tenantsFlag(cmd, &dir)
	environmentFlags(cmd, &envName, &envPath, true)
	cmd.Flags().BoolVar(&all, "all", false, "deploy every tenant of the folder")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate, check secrets and show the diff; deploy nothing")
	cmd.Flags().StringVar(&message, "message", "", "what the deployment is for, recorded with the version")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the server to serve the new version")
	return cmd
}

// deployOne deploys one tenant and returns its status line.
func deployOne(ctx context.Context, e *env, r *remote, dir, id, message string, dryRun, showDiff bool, wait time.Duration) (string, error) {
	if _, err := tenant.ParseID(id); err != nil {
		return "", err
	}
	lt := readLocal(dir, id, r.name)
	switch {
	case lt.err != nil:
		return "", lt.err
	case len(lt.problems) > 0:
		return "", fmt.Errorf("%d problem(s):\n%s", len(lt.problems), lt.problems)
	}
	cur, err := deployed(ctx, r, id)
	if err != nil {
		return "", fmt.Errorf("%s: %w", r.env.URL, err)
	}
	from := int64(0)
	if cur != nil {
		from = cur.Version
		if cur.Hash == store.ConfigHash(lt.content) {
			return fmt.Sprintf("unchanged (v%d)", cur.Version), nil
		}
		if showDiff {
			fmt.Fprint(e.stdout, diff(r.name, id, cur.Content, string(lt.content)))
		}
	}
	res, err := r.api.Deploy(ctx, id, api.OperatorDeployRequest{Content: string(lt.content), Message: message, DryRun: dryRun})
	if err != nil {
		return "", errors.New(apiProblems(err))
	}
	if dryRun {
		if from == 0 {
			return "would deploy a new tenant (dry run)", nil
		}
		return fmt.Sprintf("would deploy v%d→v%d (dry run)", from, from+1), nil
	}
	if err := waitServed(ctx, r, id, res.To, wait); err != nil {
		return "", err
	}
	if res.From == 0 {
		return fmt.Sprintf("deployed v%d (new)", res.To), nil
	}
	return fmt.Sprintf("deployed v%d→v%d", res.From, res.To), nil
}

// driftEntry is one tenant's drift, as --json prints it.
type driftEntry struct {
	ID              string `json:"id"`
	Status          string `json:"status"` // in-sync, differs, only-local, only-deployed, invalid
	DeployedVersion int64  `json:"deployedVersion,omitempty"`
	Diff            string `json:"diff,omitempty"`
	Problems        string `json:"problems,omitempty"`
}

func newDrift(e *env) *cobra.Command {
	var (
		dir, envName, envPath string
		asJSON                bool
	)
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Compare the local tenants folder with what an environment has deployed",
		Long: `Compare every tenant of the local folder (with the environment's patch
merged) with the version active on the environment's server. Each tenant is
in-sync, differs (the diff is printed), only-local (never deployed),
only-deployed (not in the folder) or invalid (the local file has problems).

Exit status: 0 when every tenant is in sync, 1 when any drifts (differs,
only-local, only-deployed, invalid), 2 when the comparison could not be made
(the server unreachable, a bad credential, a bad flag).`,
		Example: `  crispy drift --env prod
  crispy drift --env prod --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := connect(cmd, e, envPath, envName)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ids, err := localIDs(dir)
			if err != nil {
				return &exitError{2, err}
			}
			list, err := r.api.OperatorTenants(ctx)
			if err != nil {
				return &exitError{2, fmt.Errorf("%s: %w", r.env.URL, err)}
			}
			remoteByID := map[string]api.OperatorTenant{}
			for _, t := range list.Tenants {
				remoteByID[t.ID] = t
			}
			var entries []driftEntry
			for _, id := range ids {
				lt := readLocal(dir, id, envName)
				t, ok := remoteByID[id]
				delete(remoteByID, id)
				d := driftEntry{ID: id, DeployedVersion: t.Version}
				switch {
				case lt.err != nil || len(lt.problems) > 0:
					d.Status = "invalid"
					d.Problems = lt.problems.Error()
					if lt.err != nil {
						d.Problems = lt.err.Error()
					}
				case !ok:
					d.Status = "only-local"
				case t.Hash == store.ConfigHash(lt.content):
					d.Status = "in-sync"
				default:
					d.Status = "differs"
					full, err := r.api.OperatorTenant(ctx, id)
					if err != nil {
						return &exitError{2, err}
					}
					d.Diff = diff(envName, id, full.Content, string(lt.content))
				}
				entries = append(entries, d)
			}
			for id, t := range remoteByID {
				entries = append(entries, driftEntry{ID: id, Status: "only-deployed", DeployedVersion: t.Version})
			}
			sort.Slice(entries, func(i, j int) bool { return entries[i].ID < entries[j].ID })
			drifted := 0
			for _, d := range entries {
				if d.Status != "in-sync" {
					drifted++
				}
			}
			if asJSON {
				out, _ := json.MarshalIndent(map[string]any{"env": envName, "inSync": drifted == 0, "tenants": entries}, "", "  ")
				fmt.Fprintln(e.stdout, string(out))
			} else {
				for _, d := range entries {
					switch d.Status {
					case "in-sync", "only-deployed":
						fmt.Fprintf(e.stdout, "%s: %s (v%d)\n", d.ID, d.Status, d.DeployedVersion)
					case "differs":
						fmt.Fprintf(e.stdout, "%s: differs from v%d\n%s", d.ID, d.DeployedVersion, d.Diff)
					case "invalid":
						fmt.Fprintf(e.stdout, "%s: invalid locally:\n  %s\n", d.ID, strings.ReplaceAll(d.Problems, "\n", "\n  "))
					default:
						fmt.Fprintf(e.stdout, "%s: %s\n", d.ID, d.Status)
					}
				}
			}
			if drifted > 0 {
				return &exitError{1, fmt.Errorf("%d of %d tenant(s) drift from %s", drifted, len(entries), envName)}
			}
			return nil
		},
	}
	tenantsFlag(cmd, &dir)
	environmentFlags(cmd, &envName, &envPath, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newRollback(e *env) *cobra.Command {
	var (
		envName, envPath, message string
		to                        int64
		wait                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rollback TENANT",
		Short: "Make an earlier version of a tenant's config active again",
		Long: `Make the version of TENANT's config that was active before the last change
active again on environment --env, or version --to. The server validates it
as it would a deploy; the command waits until the server serves it.`,
		Example: `  crispy rollback acme --env prod
  crispy rollback acme --env prod --to 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := connect(cmd, e, envPath, envName)
			if err != nil {
				return err
			}
			res, err := r.api.Rollback(cmd.Context(), args[0], api.OperatorRollbackRequest{Version: to, Message: message})
			if err != nil {
				return &exitError{1, errors.New(apiProblems(err))}
			}
			if err := waitServed(cmd.Context(), r, args[0], res.To, wait); err != nil {
				return &exitError{1, err}
			}
			if !res.Changed {
				fmt.Fprintf(e.stdout, "%s: v%d is already active\n", args[0], res.To)
				return nil
			}
			fmt.Fprintf(e.stdout, "%s: rolled back v%d→v%d\n", args[0], res.From, res.To)
			return nil
		},
	}
	environmentFlags(cmd, &envName, &envPath, true)
	cmd.Flags().Int64Var(&to, "to", 0, "version to make active (default: the one before the last change)")
	cmd.Flags().StringVar(&message, "message", "", "why, recorded with the change")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the server to serve it")
	return cmd
}

func newUndeploy(e *env) *cobra.Command {
	var envName, envPath, message string
	cmd := &cobra.Command{
		Use:   "undeploy TENANT",
		Short: "Remove a tenant from an environment's deployment",
		Long: `Deactivate TENANT on environment --env: its keys stop working on every server
within a second. Its config versions, documents and usage stay in the store;
deploying it again brings it back.`,
		Example: `  crispy undeploy initech --env stage --message "contract ended"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := connect(cmd, e, envPath, envName)
			if err != nil {
				return err
			}
			res, err := r.api.Undeploy(cmd.Context(), args[0], message)
			if err != nil {
				return &exitError{1, errors.New(apiProblems(err))}
			}
			fmt.Fprintf(e.stdout, "%s: undeployed (was v%d)\n", args[0], res.From)
			return nil
		},
	}
	environmentFlags(cmd, &envName, &envPath, true)
	cmd.Flags().StringVar(&message, "message", "", "why, recorded with the change")
	return cmd
}

func newHistory(e *env) *cobra.Command {
	var (
		envName, envPath string
		limit            int
	)
	cmd := &cobra.Command{
		Use:     "history TENANT",
		Short:   "List the versions of a tenant's config and the changes of the active one",
		Example: `  crispy history acme --env prod`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := connect(cmd, e, envPath, envName)
			if err != nil {
				return err
			}
			h, err := r.api.History(cmd.Context(), args[0], limit)
			if err != nil {
				return &exitError{1, errors.New(apiProblems(err))}
			}
			fmt.Fprintf(e.stdout, "versions of %s on %s (active: v%d)\n", h.Tenant, envName, h.Active)
			for _, v := range h.Versions {
				mark := " "
				if v.Active {
					mark = "*"
				}
				fmt.Fprintf(e.stdout, "%s v%-4d %s  %-24s %s  %s\n", mark, v.Version, v.Created.Format(time.RFC3339), v.Author, v.Hash[:12], v.Message)
			}
			fmt.Fprintln(e.stdout, "changes")
			for _, ev := range h.Events {
				fmt.Fprintf(e.stdout, "  %s  %-10s v%d→v%d  %-24s %s\n", ev.Time.Format(time.RFC3339), ev.Action, ev.From, ev.To, ev.Author, ev.Message)
			}
			return nil
		},
	}
	environmentFlags(cmd, &envName, &envPath, true)
	cmd.Flags().IntVar(&limit, "limit", 20, "how many versions and changes to list (1 to 1000)")
	return cmd
}
