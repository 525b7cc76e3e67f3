// Command crispy is the Crispy Enigma server and its command-line tools:
// serve the API, validate tenant configs, scaffold tenants.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// env is how commands read the environment; tests pass their own.
type env struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
}

// run executes the command line args and returns the exit code: 0 on
// success, 1 when the command failed, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	e := &env{stdout: stdout, stderr: stderr, lookup: lookup}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var xe *exitError
	if errors.As(err, &xe) {
		if xe.err != nil && xe.err.Error() != "" {
			fmt.Fprintln(stderr, "crispy:", xe.err)
		}
		return xe.code
	}
	// Anything else comes from cobra itself: an unknown command or flag.
	fmt.Fprintln(stderr, "crispy:", err)
	fmt.Fprintln(stderr, "Run 'crispy --help' for usage.")
	return 2
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "crispy",
		Short: "Crispy Enigma: a tenant-first AI platform in one binary",
		Long: `Crispy Enigma serves chat, an AI gateway, a knowledge base, search, tools and
speech to many tenants from one server, each isolated behind its own keys,
limits and budgets.

Run 'crispy serve' to start on embedded storage: from the repository root it
serves ./tenants, and in a folder without one (in dev) the example tenants
acme and globex embedded in the binary. 'crispy init' writes them out.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(newServe(e), newInit(e), newValidate(e), newTenant(e), newKey(e), newIngest(e), newVersion(e))
	root.AddCommand(newHealthcheck(e))
	root.AddCommand(newDeploy(e), newDrift(e), newRollback(e), newUndeploy(e), newHistory(e), newEnv(e), newOperator(e), newProvider(e))
	return root
}
