package index_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

// The synthetic corpus: documents of chunksPerDoc chunks of wordsPerChunk
// words drawn from a Zipf vocabulary whose head is English stopwords, as in
// real text, with random unit vectors of benchDim dimensions.
const (
	benchDim      = 384
	wordsPerChunk = 150
	chunksPerDoc  = 10
	vocabSize     = 50_000
	benchK        = 50 // candidates per list, as a hybrid search asks
)

var benchStopwords = strings.Fields(`the of and to a in is it that for on was with as be by at this are or
	from but not have an they which one you were her all she there would their we him been has when who will
	more no if out so said what up its about into than them can only other new some could time these two may`)

type corpus struct {
	docs    map[string][]index.Entry
	queries []string
	qvecs   [][]float32
}

var (
	corporaMu sync.Mutex
	corpora   = map[int]*corpus{}
	indexes   = map[string]*index.Index{}
)

// makeCorpus returns the corpus of n chunks, built once per process.
func makeCorpus(n int) *corpus {
	corporaMu.Lock()
	defer corporaMu.Unlock()
	if c, ok := corpora[n]; ok {
		return c
	}
	r := rand.New(rand.NewPCG(42, uint64(n)))
	vocab := slices.Clone(benchStopwords)
	syll := strings.Fields("ka to ri mon sel ver an tu pla gor ex in di lum sta cor ne bri va quo fen dra mi son")
	seen := map[string]bool{}
	for _, w := range vocab {
		seen[w] = true
	}
	for len(vocab) < vocabSize {
		var sb strings.Builder
		for range 2 + r.IntN(3) {
			sb.WriteString(syll[r.IntN(len(syll))])
		}
		if w := sb.String(); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	zipf := rand.NewZipf(r, 1.07, 2.7, vocabSize-1)
	words := func(k int) string {
		var sb strings.Builder
		for i := range k {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(vocab[zipf.Uint64()])
		}
		return sb.String()
	}
	c := &corpus{docs: make(map[string][]index.Entry, n/chunksPerDoc)}
	langs := []string{"en", "fr", "de"}
	for d := 0; d*chunksPerDoc < n; d++ {
		docID := fmt.Sprintf("doc%06d", d)
		meta := map[string]any{"lang": langs[d%3], "year": float64(2015 + d%10), "public": d%2 == 0}
		es := make([]index.Entry, 0, chunksPerDoc)
		for i := 0; i < chunksPerDoc && d*chunksPerDoc+i < n; i++ {
			es = append(es, index.Entry{
				ChunkID:  fmt.Sprintf("%s#%d", docID, i),
				Text:     words(wordsPerChunk),
				Vector:   randomVector(r, benchDim),
				Metadata: meta,
			})
		}
		c.docs[docID] = es
	}
	for range 256 {
		c.queries = append(c.queries, words(4+r.IntN(6)))
		c.qvecs = append(c.qvecs, randomVector(r, benchDim))
	}
	corpora[n] = c
	return c
}

func (c *corpus) build(tb testing.TB, o index.Options) *index.Index {
	ix := index.NewWithOptions(o)
	for docID, es := range c.docs {
		mustReplace(tb, ix, docID, es)
	}
	return ix
}

// benchIndex returns the index of n chunks with parallelism p (0: default),
// built once per process.
func benchIndex(b *testing.B, n, p int) (*index.Index, *corpus) {
	c := makeCorpus(n)
	key := fmt.Sprint(n, "/", p)
	corporaMu.Lock()
	ix, ok := indexes[key]
	corporaMu.Unlock()
	if !ok {
		start := time.Now()
		ix = c.build(b, index.Options{Parallelism: p})
		b.Logf("built %d chunks in %v", n, time.Since(start))
		corporaMu.Lock()
		indexes[key] = ix
		corporaMu.Unlock()
	}
	return ix, c
}

var benchSizes = []int{10_000, 100_000}

func sizeName(n int) string { return fmt.Sprintf("n=%dk", n/1000) }

// latencies records per-operation times for percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	at := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.95), "p95-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// benchQueries runs one query per iteration and reports, beside ns/op, the
// percentiles of the wall time and the CPU time per query (cpu-ns/op), which
// is what a query takes on an idle machine when it runs on one core.
func benchQueries(b *testing.B, n, p int, run func(ix *index.Index, c *corpus, i int)) {
	ix, c := benchIndex(b, n, p)
	var lat latencies
	runtime.GC()
	b.ResetTimer()
	cpu := processCPU()
	i := 0
	for ; b.Loop(); i++ {
		start := time.Now()
		run(ix, c, i)
		lat.add(time.Since(start))
	}
	cpu = processCPU() - cpu
	b.StopTimer()
	lat.report(b)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(i), "cpu-ns/op")
}

func BenchmarkBM25(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			benchQueries(b, n, 0, func(ix *index.Index, c *corpus, i int) {
				ix.BM25(c.queries[i%len(c.queries)], benchK, nil)
			})
		})
	}
}

func BenchmarkVector(b *testing.B) {
	for _, n := range benchSizes {
		for _, p := range []int{1, 0} {
			b.Run(fmt.Sprintf("%s/split=%d", sizeName(n), max(p, runtime.GOMAXPROCS(0)*(1-p))), func(b *testing.B) {
				benchQueries(b, n, p, func(ix *index.Index, c *corpus, i int) {
					ix.Vector(c.qvecs[i%len(c.qvecs)], benchK, nil)
				})
			})
		}
	}
}

func BenchmarkVectorFiltered(b *testing.B) {
	f := index.Filter{"lang": {Eq: "en"}, "public": {Eq: true}} // a sixth of the chunks
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			benchQueries(b, n, 0, func(ix *index.Index, c *corpus, i int) {
				ix.Vector(c.qvecs[i%len(c.qvecs)], benchK, f)
			})
		})
	}
}

// hybrid is one hybrid query: BM25 and vector candidates fused into ten.
func hybrid(ix *index.Index, c *corpus, i int) []index.Fused {
	q := i % len(c.queries)
	return index.RRF(10, index.DefaultRRFConstant,
		ix.BM25(c.queries[q], benchK, nil),
		ix.Vector(c.qvecs[q], benchK, nil))
}

func BenchmarkHybrid(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			benchQueries(b, n, 0, func(ix *index.Index, c *corpus, i int) { hybrid(ix, c, i) })
		})
	}
}

// BenchmarkHybridConcurrent runs hybrid queries from 2×GOMAXPROCS
// goroutines at once, with and without splitting each vector scan, to show
// whether splitting still pays when the cores are already busy.
func BenchmarkHybridConcurrent(b *testing.B) {
	for _, n := range benchSizes {
		for _, p := range []int{1, 0} {
			b.Run(fmt.Sprintf("%s/split=%d", sizeName(n), max(p, runtime.GOMAXPROCS(0)*(1-p))), func(b *testing.B) {
				ix, c := benchIndex(b, n, p)
				var lat latencies
				var next sync.Mutex
				i := 0
				b.SetParallelism(2)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						next.Lock()
						q := i
						i++
						next.Unlock()
						start := time.Now()
						hybrid(ix, c, q)
						lat.add(time.Since(start))
					}
				})
				b.StopTimer()
				lat.report(b)
			})
		}
	}
}

// BenchmarkBuild builds an index of n chunks per iteration, as the server
// does at start (Replace per document, then Compact), and reports its heap
// (runtime.MemStats before and after, the corpus already in memory) per 100k
// chunks, before and after Compact, with the Stats estimate beside it.
func BenchmarkBuild(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			c := makeCorpus(n)
			var raw, heap, est, vec, post, perChunk, cpuSec float64
			scale := 100_000 / float64(n) / (1 << 20)
			heapSince := func(before runtime.MemStats) float64 {
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				return float64(after.HeapAlloc-before.HeapAlloc) * scale
			}
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				cpu := processCPU()
				b.StartTimer()
				ix := c.build(b, index.Options{})
				b.StopTimer()
				raw = heapSince(before)
				b.StartTimer()
				ix.Compact()
				b.StopTimer()
				cpuSec = (processCPU() - cpu).Seconds()
				heap = heapSince(before)
				st := ix.Stats()
				est = float64(st.TotalBytes) * scale
				vec = float64(st.VectorBytes) * scale
				post = float64(st.PostingBytes) * scale
				perChunk = float64(st.Postings) / float64(st.Chunks)
				runtime.KeepAlive(ix)
				b.StartTimer()
			}
			b.ReportMetric(cpuSec, "cpu-s/op")
			b.ReportMetric(raw, "heap-MiB/100k-before-compact")
			b.ReportMetric(heap, "heap-MiB/100k")
			b.ReportMetric(est, "stats-MiB/100k")
			b.ReportMetric(vec, "vectors-MiB/100k")
			b.ReportMetric(post, "postings-MiB/100k")
			b.ReportMetric(perChunk, "postings/chunk")
		})
	}
}

// BenchmarkVectorSize finds the size at which the exact vector search
// crosses a latency budget: vector-only indexes (no text) of growing size.
func BenchmarkVectorSize(b *testing.B) {
	for _, n := range []int{50_000, 100_000, 200_000, 400_000} {
		b.Run(sizeName(n), func(b *testing.B) {
			key := fmt.Sprint("vectors/", n)
			corporaMu.Lock()
			ix, ok := indexes[key]
			corporaMu.Unlock()
			if !ok {
				r := rand.New(rand.NewPCG(5, uint64(n)))
				ix = index.New()
				for d := 0; d*chunksPerDoc < n; d++ {
					es := make([]index.Entry, chunksPerDoc)
					for i := range es {
						es[i] = index.Entry{ChunkID: fmt.Sprintf("doc%06d#%d", d, i), Vector: randomVector(r, benchDim)}
					}
					mustReplace(b, ix, fmt.Sprintf("doc%06d", d), es)
				}
				corporaMu.Lock()
				indexes[key] = ix
				corporaMu.Unlock()
			}
			c := makeCorpus(10_000) // for its query vectors
			var lat latencies
			runtime.GC()
			b.ResetTimer()
			cpu := processCPU()
			i := 0
			for ; b.Loop(); i++ {
				start := time.Now()
				ix.Vector(c.qvecs[i%len(c.qvecs)], benchK, nil)
				lat.add(time.Since(start))
			}
			cpu = processCPU() - cpu
			b.StopTimer()
			lat.report(b)
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(i), "cpu-ns/op")
		})
	}
}
