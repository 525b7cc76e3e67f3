package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/store/storetest"
)

// BenchmarkSuite runs the benchmarks every backend shares, to compare
// them on one machine: go test ./internal/store/... -run '^$' -bench Suite.
func BenchmarkSuite(b *testing.B) {
	b.Run("AppendUsage", func(b *testing.B) {
		storetest.BenchmarkUsage(b, func(b *testing.B) store.Usage {
			return openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).Usage()
		})
	})
	b.Run("PutDocuments", func(b *testing.B) {
		storetest.BenchmarkDocuments(b, func(b *testing.B) store.Documents {
			return openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).Documents()
		})
	})
}
