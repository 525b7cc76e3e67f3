package index_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func TestFilterValidate(t *testing.T) {
	many := index.Filter{}
	for i := range index.MaxFilterConds + 1 {
		many[fmt.Sprint("k", i)] = index.Cond{Eq: "v"}
	}
	values := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = float64(i)
		}
		return out
	}
	tests := []struct {
		name    string
		f       index.Filter
		wantErr string // "" for valid
	}{
		{"nil", nil, ""},
		{"empty", index.Filter{}, ""},
		{"eq string", index.Filter{"lang": {Eq: "en"}}, ""},
		{"eq number", index.Filter{"year": {Eq: 2024.0}}, ""},
		{"eq int", index.Filter{"year": {Eq: 2024}}, ""},
		{"eq bool", index.Filter{"public": {Eq: false}}, ""},
		{"in mixed", index.Filter{"v": {In: []any{"a", 1.0, true}}}, ""},
		{"in at limit", index.Filter{"v": {In: values(index.MaxFilterValues)}}, ""},
		{"neither", index.Filter{"lang": {}}, "neither eq nor in"},
		{"both", index.Filter{"lang": {Eq: "en", In: []any{"fr"}}}, "both eq and in"},
		{"empty in", index.Filter{"lang": {In: []any{}}}, "in list is empty"},
		{"in too long", index.Filter{"v": {In: values(index.MaxFilterValues + 1)}}, "more than 100"},
		{"too many conditions", many, "more than 16"},
		{"empty key", index.Filter{"": {Eq: "x"}}, "key is empty"},
		{"long key", index.Filter{strings.Repeat("k", index.MaxFilterKey+1): {Eq: "x"}}, "longer than"},
		{"map value", index.Filter{"m": {Eq: map[string]any{"a": 1}}}, "type map[string]interface {}"},
		{"slice value", index.Filter{"m": {Eq: []string{"a"}}}, "type []string"},
		{"nil in list", index.Filter{"m": {In: []any{"a", nil}}}, "type <nil>"},
		{"NaN", index.Filter{"m": {Eq: math.NaN()}}, "type float64"},
		{"first bad key in order", index.Filter{"b": {}, "a": {Eq: struct{}{}}}, `"a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error with %q", tt.wantErr)
			}
			if !errors.Is(err, index.ErrInvalid) {
				t.Errorf("Validate() = %v, not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestFilterMatching(t *testing.T) {
	ix := index.New()
	vec := []float32{1, 0}
	docs := []struct {
		id   string
		meta map[string]any
	}{
		{"a", map[string]any{"lang": "en", "year": 2024.0, "public": true}},
		{"b", map[string]any{"lang": "fr", "year": 2023.0, "public": false}},
		{"c", map[string]any{"lang": "en", "year": "2024"}},
		{"d", nil},
	}
	for _, d := range docs {
		// Two chunks per document: both must pass or fail together.
		mustReplace(t, ix, d.id, []index.Entry{
			{ChunkID: d.id + "#0", Text: "common words", Vector: vec, Metadata: d.meta},
			{ChunkID: d.id + "#1", Text: "common", Vector: vec, Metadata: d.meta},
		})
	}
	tests := []struct {
		name string
		f    index.Filter
		want string // documents, in order
	}{
		{"no filter", nil, "abcd"},
		{"eq string", index.Filter{"lang": {Eq: "en"}}, "ac"},
		{"eq number is not the string", index.Filter{"year": {Eq: 2024.0}}, "a"},
		{"eq int is a number", index.Filter{"year": {Eq: 2024}}, "a"},
		{"eq string is not the number", index.Filter{"year": {Eq: "2024"}}, "c"},
		{"eq true", index.Filter{"public": {Eq: true}}, "a"},
		{"eq false", index.Filter{"public": {Eq: false}}, "b"},
		{"bool is not a string", index.Filter{"public": {Eq: "true"}}, ""},
		{"in", index.Filter{"lang": {In: []any{"fr", "de"}}}, "b"},
		{"in mixed types", index.Filter{"year": {In: []any{2023.0, "2024"}}}, "bc"},
		{"missing key", index.Filter{"author": {Eq: "x"}}, ""},
		{"and", index.Filter{"lang": {Eq: "en"}, "public": {Eq: true}}, "a"},
		{"and with missing key", index.Filter{"lang": {Eq: "en"}, "author": {Eq: "x"}}, ""},
		{"invalid", index.Filter{"lang": {}}, ""},
	}
	docsOf := func(hits []index.Hit) string {
		var ds []string
		for _, h := range hits {
			if !slices.Contains(ds, h.DocID) {
				ds = append(ds, h.DocID)
			}
		}
		slices.Sort(ds)
		return strings.Join(ds, "")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := docsOf(ix.BM25("common", 100, tt.f)); got != tt.want {
				t.Errorf("BM25 documents = %q, want %q", got, tt.want)
			}
			got := ix.Vector(vec, 100, tt.f)
			if d := docsOf(got); d != tt.want {
				t.Errorf("Vector documents = %q, want %q", d, tt.want)
			}
			if len(got) != 2*len(tt.want) {
				t.Errorf("Vector returned %d chunks, want %d", len(got), 2*len(tt.want))
			}
		})
	}
}
