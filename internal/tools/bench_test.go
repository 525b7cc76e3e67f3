package tools_test

import (
	"testing"

	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
	"github.com/crispy-enigma/crispy/internal/tools/builtin"
)

// BenchmarkInvoke measures one invocation through every check, with the
// audit record synced to a SQLite file: allowed (summarize of a short
// text) and denied (a scope missing).
func BenchmarkInvoke(b *testing.B) {
	d := tools.New(tools.Options{Registry: builtin.Registry(builtin.Deps{}), Audit: openAudit(b)})
	acme := newTenant("acme", allFive...)
	args := []byte(validArgs[builtin.Summarize])
	b.Run("ok", func(b *testing.B) {
		c := callerOf(acme, tenant.ScopeTools)
		for b.Loop() {
			if _, err := d.Invoke(b.Context(), c, builtin.Summarize, args, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("denied", func(b *testing.B) {
		c := callerOf(acme, tenant.ScopeChat)
		for b.Loop() {
			if _, err := d.Invoke(b.Context(), c, builtin.Summarize, args, false); err == nil {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("ok-nop-audit", func(b *testing.B) {
		d := tools.New(tools.Options{Registry: builtin.Registry(builtin.Deps{}), Audit: &nopAudit{}})
		c := callerOf(acme, tenant.ScopeTools)
		for b.Loop() {
			if _, err := d.Invoke(b.Context(), c, builtin.Summarize, args, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}
