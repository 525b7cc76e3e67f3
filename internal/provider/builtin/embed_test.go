package builtin_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

func embed(t *testing.T, model string, input ...string) [][]float32 {
	t.Helper()
	resp, err := new(builtin.HashEmbedder).Embed(context.Background(), &provider.EmbedRequest{Model: model, Input: input})
	if err != nil {
		t.Fatalf("Embed(%s): %v", model, err)
	}
	if len(resp.Vectors) != len(input) {
		t.Fatalf("%d vectors for %d inputs", len(resp.Vectors), len(input))
	}
	return resp.Vectors
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestHashEmbedDimensions(t *testing.T) {
	tests := []struct {
		model string
		dims  int // of the request
		want  int
	}{
		{"hash-384", 0, 384},
		{"hash-384", 384, 384},
		{"hash-32", 0, 32},
		{"hash-4096", 0, 4096},
		{"hash-1000", 0, 1000},
		{"", 0, builtin.DefaultDimensions},
		{"", 256, 256},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			resp, err := new(builtin.HashEmbedder).Embed(context.Background(), &provider.EmbedRequest{Model: tt.model, Dimensions: tt.dims, Input: []string{"hello world"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(resp.Vectors[0]); got != tt.want {
				t.Errorf("%d dimensions, want %d", got, tt.want)
			}
		})
	}
}

func TestHashEmbedErrors(t *testing.T) {
	tests := []struct {
		name string
		req  *provider.EmbedRequest
		kind provider.Kind
	}{
		{"too few dimensions", &provider.EmbedRequest{Model: "hash-7", Input: []string{"x"}}, provider.KindNotFound},
		{"too many dimensions", &provider.EmbedRequest{Model: "hash-4097", Input: []string{"x"}}, provider.KindNotFound},
		{"leading zero", &provider.EmbedRequest{Model: "hash-0384", Input: []string{"x"}}, provider.KindNotFound},
		{"sign", &provider.EmbedRequest{Model: "hash-+384", Input: []string{"x"}}, provider.KindNotFound},
		{"no number", &provider.EmbedRequest{Model: "hash-", Input: []string{"x"}}, provider.KindNotFound},
		{"other model", &provider.EmbedRequest{Model: "text-embedding-3-small", Input: []string{"x"}}, provider.KindNotFound},
		{"dimensions mismatch", &provider.EmbedRequest{Model: "hash-384", Dimensions: 256, Input: []string{"x"}}, provider.KindBadRequest},
		{"dimensions out of range", &provider.EmbedRequest{Dimensions: 8, Input: []string{"x"}}, provider.KindBadRequest},
		{"no input", &provider.EmbedRequest{Model: "hash-384"}, provider.KindBadRequest},
		{"nil", nil, provider.KindBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := new(builtin.HashEmbedder).Embed(context.Background(), tt.req)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tt.kind || pe.Provider != builtin.Name {
				t.Errorf("error %v, want a %s *provider.Error from %s", err, tt.kind, builtin.Name)
			}
		})
	}
}

func TestHashEmbedUnitAndDeterministic(t *testing.T) {
	inputs := []string{"hello world", "The Eiffel Tower is in Paris.", "x", "naïve café, 日本語 ✓", passages[1].Text}
	first := embed(t, "hash-384", inputs...)
	again := embed(t, "hash-384", inputs...)
	for i, v := range first {
		if n := math.Sqrt(dot(v, v)); math.Abs(n-1) > 1e-5 {
			t.Errorf("input %d: norm %v, want 1", i, n)
		}
		for j := range v {
			if math.Float32bits(v[j]) != math.Float32bits(again[i][j]) {
				t.Fatalf("input %d differs between runs at %d", i, j)
			}
		}
	}
	// One input alone gets the same vector as in a batch.
	alone := embed(t, "hash-384", inputs[1])
	if dot(alone[0], first[1]) < 1-1e-6 {
		t.Error("a vector depends on its batch")
	}
}

func TestHashEmbedEmpty(t *testing.T) {
	for _, text := range []string{"", "   ", "!?.,;"} {
		v := embed(t, "hash-64", text)[0]
		if dot(v, v) != 0 {
			t.Errorf("%q: want the zero vector", text)
		}
	}
	// Only stopwords still give a vector.
	if v := embed(t, "hash-64", "what is it")[0]; math.Abs(dot(v, v)-1) > 1e-5 {
		t.Error("a text of stopwords got no vector")
	}
}

func TestHashEmbedSimilarity(t *testing.T) {
	tests := []struct {
		a, similar, unrelated string
	}{
		{"How do I reset my password?", "Steps to reset a forgotten password", "The Eiffel Tower is 330 metres tall."},
		{"Photosynthesis converts light energy into chemical energy.", "Plants use light energy for photosynthesis.", "Python is a programming language."},
		{"refund policy for cancelled orders", "Refunds for orders that were cancelled", "shipping to Canada takes a week"},
		{"colour", "colours", "planet"}, // character 3-grams meet where words do not
	}
	for _, tt := range tests {
		v := embed(t, "hash-384", tt.a, tt.similar, tt.unrelated)
		sim, unrel := dot(v[0], v[1]), dot(v[0], v[2])
		if sim <= unrel || sim < 0.2 {
			t.Errorf("%q: cosine %.3f with %q, %.3f with %q", tt.a, sim, tt.similar, unrel, tt.unrelated)
		}
	}
}

func TestHashEmbedUsage(t *testing.T) {
	in := []string{"hello world", "tiktoken is great!"}
	resp, err := new(builtin.HashEmbedder).Embed(context.Background(), &provider.EmbedRequest{Model: "hash-384", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if want := tokens.Count(in[0]) + tokens.Count(in[1]); resp.Usage.PromptTokens != want || resp.Usage.CompletionTokens != 0 || resp.Usage.Estimated {
		t.Errorf("usage %+v, want %d prompt tokens", resp.Usage, want)
	}
}

func TestHashEmbedCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := new(builtin.HashEmbedder).Embed(ctx, &provider.EmbedRequest{Model: "hash-384", Input: []string{"x"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
