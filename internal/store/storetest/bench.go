package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
)

// BenchmarkUsage measures AppendUsage on the store open returns: batches
// of 1, 64 and 512 records from one writer, and single records from
// concurrent writers (b.RunParallel). ns/record is the time per record,
// the commit shared by a batch. Each sub-benchmark calls open once; open
// must arrange for the store to be closed with b.Cleanup.
func BenchmarkUsage(b *testing.B, open func(b *testing.B) store.Usage) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	record := func(n int) store.UsageRecord {
		return store.UsageRecord{
			Time: start.Add(time.Duration(n) * time.Second), Tenant: acme, RequestID: fmt.Sprintf("req-%d", n),
			KeyID: fmt.Sprintf("key-%d", n%4), Route: "chat", Provider: "openai", Model: fmt.Sprintf("model-%d", n%3),
			Attempts: 1, Status: "ok", Latency: time.Duration(n) * time.Microsecond, TTFT: time.Millisecond,
			TokensIn: int64(n % 1000), TokensOut: int64(n % 500), CostMicros: int64(n % 10000),
		}
	}
	for _, size := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := b.Context()
			u := open(b)
			batch := make([]store.UsageRecord, size)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for i := range batch {
					batch[i] = record(n)
					n++
				}
				if err := u.AppendUsage(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
		})
	}
	b.Run("parallel", func(b *testing.B) {
		ctx := b.Context()
		u := open(b)
		b.SetParallelism(4)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			n := 0
			for pb.Next() {
				if err := u.AppendUsage(ctx, []store.UsageRecord{record(n)}); err != nil {
					b.Error(err)
					return
				}
				n++
			}
		})
	})
}

// BenchmarkDocuments measures PutDocuments on the store open returns:
// batches of 1 and 16 documents of 20 chunks of 384-dimension vectors each,
// as ingesting pages of a few thousand words does, every op replacing the
// same documents in one transaction. The bytes are those of the chunks'
// text and vectors. Each sub-benchmark calls open once; open must arrange
// for the store to be closed with b.Cleanup.
func BenchmarkDocuments(b *testing.B, open func(b *testing.B) store.Documents) {
	for _, docs := range []int{1, 16} {
		b.Run(fmt.Sprintf("docs=%d", docs), func(b *testing.B) {
			ctx := b.Context()
			d := open(b)
			puts := make([]store.DocumentPut, docs)
			var size int64
			for i := range puts {
				doc, chunks := docFixture(fmt.Sprintf("doc-%02d", i), 1, 20, 384)
				puts[i] = store.DocumentPut{Doc: doc, Chunks: chunks}
				for _, c := range chunks {
					size += int64(len(c.Text) + 4*len(c.Vector))
				}
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.PutDocuments(ctx, acme, puts, store.DocumentQuota{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
