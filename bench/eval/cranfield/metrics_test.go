package cranfield_test

import (
	"math"
	"testing"

	"github.com/crispy-enigma/crispy/bench/eval/cranfield"
)

// judged is the example worked out by hand below: a is a complete answer
// (code 1, gain 4), b code 2 (gain 3), e code 3 (gain 2), c code 4 (gain 1),
// d code -1 (not relevant). Four documents are relevant.
var judged = map[string]int{"a": 1, "b": 2, "c": 4, "d": -1, "e": 3}

// ranked finds b at rank 2, a at 4 and c at 6; x, d and y gain nothing and
// e is not retrieved.
var ranked = []string{"x", "b", "d", "a", "y", "c"}

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("%s = %.9f, want %.9f", name, got, want)
	}
}

func TestNDCG(t *testing.T) {
	// DCG terms: b 3/log2(3) = 1.892789261, a 4/log2(5) = 1.722706232,
	// c 1/log2(7) = 0.356207187.
	// Ideal order a b e c: 4 + 3/log2(3) + 2/log2(4) + 1/log2(5)
	//   = 4 + 1.892789261 + 1 + 0.430676558 = 7.323465819;
	// its first 3: 6.892789261.
	tests := []struct {
		name   string
		ranked []string
		k      int
		want   float64
	}{
		{"at 10", ranked, 10, (1.892789261 + 1.722706232 + 0.356207187) / 7.323465819}, // 0.542325557
		{"at 5", ranked, 5, (1.892789261 + 1.722706232) / 7.323465819},                 // 0.493686402
		{"at 3", ranked, 3, 1.892789261 / 6.892789261},                                 // 0.274604255
		{"ideal", []string{"a", "b", "e", "c"}, 10, 1},
		{"ties in the ideal order do not matter", []string{"a", "b", "e", "c", "d"}, 3, 1},
		{"repeats count once", []string{"x", "b", "b", "d", "a", "y", "c"}, 10, (1.892789261 + 1.722706232 + 0.356207187) / 7.323465819},
		{"nothing relevant retrieved", []string{"d", "x"}, 10, 0},
		{"empty list", nil, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			near(t, "NDCG", cranfield.NDCG(tt.ranked, judged, tt.k), tt.want)
		})
	}
	near(t, "NDCG with no relevant judged", cranfield.NDCG(ranked, map[string]int{"x": -1}, 10), 0)
}

func TestAveragePrecision(t *testing.T) {
	// Relevant at ranks 2, 4, 6: precisions 1/2, 2/4, 3/6; e is never
	// retrieved but still counts in the 4 relevant.
	near(t, "AP", cranfield.AveragePrecision(ranked, judged), (0.5+0.5+0.5)/4)
	near(t, "AP perfect", cranfield.AveragePrecision([]string{"e", "c", "b", "a", "x"}, judged), 1)
	// Relevant at ranks 1 and 3 of two relevant: (1/1 + 2/3) / 2.
	near(t, "AP two", cranfield.AveragePrecision([]string{"p", "q", "r"}, map[string]int{"p": 3, "r": 1, "q": -1}), (1+2.0/3)/2)
	near(t, "AP repeats", cranfield.AveragePrecision([]string{"p", "p", "q", "r"}, map[string]int{"p": 3, "r": 1, "q": -1}), (1+2.0/3)/2)
	near(t, "AP none relevant", cranfield.AveragePrecision(ranked, map[string]int{"d": -1}), 0)
}

func TestRecall(t *testing.T) {
	near(t, "recall@100", cranfield.Recall(ranked, judged, 100), 3.0/4)
	near(t, "recall@4", cranfield.Recall(ranked, judged, 4), 2.0/4)
	near(t, "recall@1", cranfield.Recall(ranked, judged, 1), 0)
	near(t, "recall none relevant", cranfield.Recall(ranked, map[string]int{}, 100), 0)
}

func TestGainAndRelevant(t *testing.T) {
	for code, want := range map[int]float64{1: 4, 2: 3, 3: 2, 4: 1, -1: 0, 0: 0, 5: 0} {
		if got := cranfield.Gain(code); got != want {
			t.Errorf("Gain(%d) = %v, want %v", code, got, want)
		}
		if got := cranfield.Relevant(code); got != (want > 0) {
			t.Errorf("Relevant(%d) = %v", code, got)
		}
	}
}

func TestEvaluate(t *testing.T) {
	qrels := cranfield.Qrels{
		1: judged,
		2: {"p": 3, "r": 1, "q": -1},
		3: {"z": -1}, // no relevant document: left out of the means
	}
	runs := map[int][]string{
		1: ranked,
		2: {"p", "q", "r"},
	}
	got := cranfield.Evaluate(runs, qrels)
	// Query 2: DCG 2/log2(2) + 4/log2(4) = 4; ideal 4 + 2/log2(3) = 5.261859507.
	ndcg2 := 4 / 5.261859507
	if got.Queries != 2 {
		t.Fatalf("%d queries averaged, want 2", got.Queries)
	}
	near(t, "nDCG@10", got.NDCG10, (0.542325557+ndcg2)/2)
	near(t, "MAP", got.MAP, (0.375+(1+2.0/3)/2)/2)
	near(t, "recall@100", got.Recall100, (0.75+1)/2)

	// A query with no run retrieved nothing.
	got = cranfield.Evaluate(map[int][]string{1: ranked}, qrels)
	near(t, "nDCG@10 with a query missing", got.NDCG10, 0.542325557/2)
}
