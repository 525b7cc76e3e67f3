package index_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/rag/index"
)

// cranfield is the test collection of bench/eval, when the checkout has it
// beside the repository.
var cranfield = filepath.Join("..", "..", "..", "..", "shared", "data", "cranfield")

// TestQuantizedRecall compares the top 10 of the default scan (int8 codes)
// with that of full vectors, over the builtin hash-384 embeddings of text:
// the Cranfield abstracts and queries when they are there (recall@10 0.993;
// at least 0.99), and 4,000 chunks of Zipf words with 300 queries of 3 to 8
// of them, whose scores are closer together than real text's (0.983; at
// least 0.98). What a lossy code swaps is the neighbours whose cosines
// differ by less than its error, about 0.002 at most.
func TestQuantizedRecall(t *testing.T) {
	sets := map[string]func(testing.TB) ([]string, []string){"zipf": zipfTexts}
	floor := map[string]float64{"zipf": 0.98, "cranfield": 0.99}
	if _, err := os.Stat(cranfield); err == nil {
		sets["cranfield"] = cranfieldTexts
	}
	for name, texts := range sets {
		t.Run(name, func(t *testing.T) {
			docs, queries := texts(t)
			dv, qv := embedAll(t, docs), embedAll(t, queries)
			quant, full := index.New(), index.NewWithOptions(index.Options{FullVectors: true})
			for i, v := range dv {
				e := []index.Entry{{ChunkID: fmt.Sprintf("c%05d", i), Vector: v}}
				mustReplace(t, quant, fmt.Sprint("d", i), e)
				mustReplace(t, full, fmt.Sprint("d", i), e)
			}
			found, total := 0, 0
			var worst float64
			for _, q := range qv {
				want := full.Vector(q, 10, nil)
				got := quant.Vector(q, 10, nil)
				for i, h := range got {
					if slices.Contains(ids(want), h.ChunkID) {
						found++
					}
					worst = max(worst, abs(h.Score-want[min(i, len(want)-1)].Score))
				}
				total += len(want)
			}
			recall := float64(found) / float64(total)
			t.Logf("%d chunks, %d queries: recall@10 %.4f, largest score difference at a rank %.4f", len(docs), len(queries), recall, worst)
			if recall < floor[name] {
				t.Errorf("recall@10 = %.4f, want ≥ %.2f", recall, floor[name])
			}
		})
	}
}

func abs(x float64) float64 { return max(x, -x) }

func embedAll(t testing.TB, texts []string) [][]float32 {
	t.Helper()
	res, err := new(builtin.HashEmbedder).Embed(context.Background(), &provider.EmbedRequest{Model: "hash-384", Input: texts})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	for _, v := range res.Vectors {
		if slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
			out = append(out, v)
		}
	}
	return out
}

func zipfTexts(testing.TB) (docs, queries []string) {
	r := rand.New(rand.NewPCG(7, 8))
	syll := strings.Fields("ka to ri mon sel ver an tu pla gor ex in di lum sta cor ne bri va quo fen dra mi son")
	vocab := slices.Clone(benchStopwords)
	for len(vocab) < 5000 {
		var sb strings.Builder
		for range 2 + r.IntN(3) {
			sb.WriteString(syll[r.IntN(len(syll))])
		}
		vocab = append(vocab, sb.String())
	}
	zipf := rand.NewZipf(r, 1.07, 2.7, uint64(len(vocab)-1))
	words := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[zipf.Uint64()]
		}
		return strings.Join(w, " ")
	}
	for range 4000 {
		docs = append(docs, words(150))
	}
	for range 300 {
		queries = append(queries, words(3+r.IntN(6)))
	}
	return docs, queries
}

// cranfieldTexts returns the .W fields of cran.all.1400 and cran.qry.
func cranfieldTexts(t testing.TB) (docs, queries []string) {
	return cranfieldField(t, "cran.all.1400"), cranfieldField(t, "cran.qry")
}

func cranfieldField(t testing.TB, name string) []string {
	f, err := os.Open(filepath.Join(cranfield, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ".I "):
			cur = nil
		case line == ".W":
			out = append(out, "")
			cur = &strings.Builder{}
		case strings.HasPrefix(line, "."):
			if cur != nil {
				out[len(out)-1] = cur.String()
			}
			cur = nil
		case cur != nil:
			cur.WriteString(line)
			cur.WriteByte(' ')
			out[len(out)-1] = cur.String()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
