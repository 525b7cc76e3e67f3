package rag_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/store/postgres/pgtest"
)

// TestEstimateMatchesHeap loads a tenant of 20,000 synthetic chunks (those
// of BenchmarkReload) and checks that the estimate the memory budget goes
// by is within 6 % of the Go heap the loaded knowledge base holds.
func TestEstimateMatchesHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20,000 chunks")
	}
	docs := openSQLite(t).Documents()
	gw, ts := testTenants(t, "acme")
	fillSynthetic(t, docs, ts[0].ID.String(), 20_000)
	s := rag.New(gw, docs, nil, nil)
	before := heapInUse()
	if _, err := s.Version(t.Context(), ts[0].ID); err != nil {
		t.Fatal(err)
	}
	heap := heapInUse() - before
	estimate := s.IndexBytes()[ts[0].ID]
	runtime.KeepAlive(s)
	ratio := float64(estimate) / float64(heap)
	t.Logf("heap %.1f MiB, estimate %.1f MiB (%.3f)", float64(heap)/(1<<20), float64(estimate)/(1<<20), ratio)
	if ratio < 0.94 || ratio > 1.06 {
		t.Errorf("estimate / heap = %.3f, want within 6 %%", ratio)
	}
}

// BenchmarkReload measures loading a tenant's knowledge base from the
// store into memory, what a replica does on the tenant's first use and
// again after evicting it: 10k and 100k chunks of about 150 words with
// 384-dimension vectors, from SQLite and from PostgreSQL. It reports the
// heap the loaded index holds, its estimate (crispy_rag_index_bytes) and
// their ratio.
//
//	go test ./internal/rag -run '^$' -bench Reload -benchtime 2x
func BenchmarkReload(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, chunks := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%dk", backend, chunks/1000), func(b *testing.B) {
				var docs store.Documents
				if backend == "sqlite" {
					docs = openSQLite(b).Documents()
				} else {
					db, err := postgres.Open(b.Context(), pgtest.DSN(b), postgres.Options{SweepInterval: -1})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { db.Close() })
					docs = db.Documents()
				}
				gw, ts := testTenants(b, "acme")
				fillSynthetic(b, docs, ts[0].ID.String(), chunks)
				var heap, estimate int64
				for b.Loop() {
					s := rag.New(gw, docs, nil, nil)
					before := heapInUse()
					if _, err := s.Version(b.Context(), ts[0].ID); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					heap = heapInUse() - before
					estimate = s.IndexBytes()[ts[0].ID]
					runtime.KeepAlive(s)
					b.StartTimer()
				}
				b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(estimate)/(1<<20), "estimate-MiB")
				b.ReportMetric(float64(estimate)/float64(heap), "estimate/heap")
				b.ReportMetric(float64(chunks)/(float64(b.Elapsed().Seconds())/float64(b.N)), "chunks/s")
			})
		}
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// fillSynthetic stores n chunks for tenant id, 20 a document, of about 150
// words of a 20,000-word vocabulary, with random 384-dimension vectors.
func fillSynthetic(b testing.TB, docs store.Documents, id string, n int) {
	b.Helper()
	t := mustID(b, id)
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 20000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%dx%c", i, 'a'+rune(i%26))
	}
	const perDoc, perBatch = 20, 16
	var puts []store.DocumentPut
	flush := func() {
		if len(puts) == 0 {
			return
		}
		if _, err := docs.PutDocuments(b.Context(), t, puts, store.DocumentQuota{}); err != nil {
			b.Fatal(err)
		}
		puts = puts[:0]
	}
	for d := 0; d*perDoc < n; d++ {
		docID := fmt.Sprintf("doc-%06d", d)
		put := store.DocumentPut{Doc: store.DocumentRecord{ID: docID, Title: "Document " + docID, Format: "text", Hash: docID}}
		for o := range min(perDoc, n-d*perDoc) {
			var sb strings.Builder
			for w := range 150 {
				if w > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(vocab[int(rng.ExpFloat64()*2000)%len(vocab)])
			}
			vec := make([]float32, 384)
			for i := range vec {
				vec[i] = float32(rng.NormFloat64())
			}
			text := sb.String()
			put.Chunks = append(put.Chunks, store.StoredChunk{ID: fmt.Sprintf("%s#%d", docID, o), DocID: docID, Ordinal: o,
				Text: text, End: len(text), Tokens: 150, Vector: vec})
		}
		puts = append(puts, put)
		if len(puts) == perBatch {
			flush()
		}
	}
	flush()
}

// TestEstimateMatchesImage is TestEstimateMatchesHeap for a knowledge base
// loaded from its image: its memory is the Go heap the load takes and the
// index section of the image, which is mapped (the chunk texts stay on
// disk); the estimate must be within 6 % of their sum.
func TestEstimateMatchesImage(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20,000 chunks")
	}
	docs := openSQLite(t).Documents()
	gw, ts := testTenants(t, "acme")
	fillSynthetic(t, docs, ts[0].ID.String(), 20_000)
	dir := t.TempDir()
	first := rag.NewWithOptions(gw, docs, nil, nil, rag.Options{ImageDir: dir})
	if _, err := first.Version(t.Context(), ts[0].ID); err != nil {
		t.Fatal(err)
	}
	first.Close() // writes the image
	mapped := indexSection(t, filepath.Join(dir, "acme.kbi"))

	s := rag.NewWithOptions(gw, docs, nil, nil, rag.Options{ImageDir: dir})
	defer s.Close()
	before := heapInUse()
	if _, err := s.Version(t.Context(), ts[0].ID); err != nil {
		t.Fatal(err)
	}
	heap := heapInUse() - before
	estimate := s.IndexBytes()[ts[0].ID]
	runtime.KeepAlive(s)
	ratio := float64(estimate) / float64(heap+mapped)
	t.Logf("heap %.1f MiB, mapped %.1f MiB, estimate %.1f MiB (%.3f)", float64(heap)/(1<<20), float64(mapped)/(1<<20), float64(estimate)/(1<<20), ratio)
	if ratio < 0.94 || ratio > 1.06 {
		t.Errorf("estimate / (heap + mapped) = %.3f, want within 6 %%", ratio)
	}
}

// indexSection returns the length of the index section of an image, from
// its header (image.go).
func indexSection(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := 12 // magic and format
	str := func() { at += 4 + int(binary.LittleEndian.Uint32(b[at:])) }
	str()    // tenant
	at += 16 // version, last change's version
	str()    // last change's document
	at += 1  // flags
	at += 8  // index offset
	return int64(binary.LittleEndian.Uint64(b[at:]))
}
