package index_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func TestTerms(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"empty", "", nil},
		{"only separators", " \t\n-- ,.;!?", nil},
		{"stemming", "Running runs runner", []string{"run", "run", "runner"}},
		{"stem keeps aircraft", "aircraft aircrafts", []string{"aircraft", "aircraft"}},
		{"stem families", "connection connected connecting", []string{"connect", "connect", "connect"}},
		{"only stopwords", "the of and is what how", nil},
		{"stopwords", "The cat is on the mat, and what of it?", []string{"cat", "mat"}},
		{"apostrophe splits", "don't stop the user's car", []string{"stop", "user", "car"}},
		{"punctuation splits, numbers kept", "GPT-4 costs $3.14", []string{"gpt", "4", "cost", "3", "14"}},
		{"dates", "2024-01-15", []string{"2024", "01", "15"}},
		{"digits are not stemmed", "h100s 1990s", []string{"h100s", "1990s"}},
		{"lowercase", "HELLO World", []string{"hello", "world"}},
		{"accents", "Café Résumé", []string{"café", "résumé"}},
		{"decomposed accents match composed", "e\u0301cole", index.Terms("\u00e9cole")},
		{"ligatures and full width", "ﬁle ＡＢＣ", []string{"file", "abc"}},
		{"cyrillic", "Москва", []string{"москва"}},
		{"han one per character", "東京タワー", []string{"東", "京", "タワー"}},
		{"too long dropped", "ok " + strings.Repeat("x", index.MaxTermBytes+1) + " fine", []string{"ok", "fine"}},
		{"longest kept", strings.Repeat("7", index.MaxTermBytes), []string{strings.Repeat("7", index.MaxTermBytes)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := index.Terms(tt.text)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Terms(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestAnalyzerZeroValue(t *testing.T) {
	var a index.Analyzer
	const text = "Indexing the indexes of 2024 and the index"
	want := []string{"index", "index", "2024", "index"}
	// The first call stems every word, the second finds them in the cache.
	for i := range 2 {
		if got := a.Terms(text); !slices.Equal(got, want) {
			t.Errorf("call %d: Terms = %q, want %q", i+1, got, want)
		}
	}
}

func FuzzTerms(f *testing.F) {
	for _, s := range []string{"", "The running cats", "GPT-4 costs $3.14", "東京タワー", "e\u0301cole", "\xff\xfe", strings.Repeat("ab", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, term := range index.Terms(text) {
			switch {
			case term == "":
				t.Fatalf("empty term from %q", text)
			case len(term) > index.MaxTermBytes:
				t.Fatalf("term %q longer than %d bytes", term, index.MaxTermBytes)
			case !utf8.ValidString(term):
				t.Fatalf("term %q is not UTF-8", term)
			}
			for _, r := range term {
				if !unicode.In(r, unicode.L, unicode.N, unicode.M) {
					t.Fatalf("term %q has separator %q", term, r)
				}
			}
		}
	})
}
