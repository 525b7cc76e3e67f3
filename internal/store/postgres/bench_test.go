package postgres_test

import (
	"testing"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/store/storetest"
)

// BenchmarkSuite runs the benchmarks every backend shares, to compare
// them on one machine: go test ./internal/store/... -run '^$' -bench Suite.
func BenchmarkSuite(b *testing.B) {
	b.Run("AppendUsage", func(b *testing.B) {
		storetest.BenchmarkUsage(b, func(b *testing.B) store.Usage {
			return postgres.OpenTest(b, postgres.Options{MaxConns: 8}).Usage()
		})
	})
	b.Run("PutDocuments", func(b *testing.B) {
		storetest.BenchmarkDocuments(b, func(b *testing.B) store.Documents {
			return postgres.OpenTest(b, postgres.Options{}).Documents()
		})
	})
}
