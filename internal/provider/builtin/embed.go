package builtin

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/prose"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// The dimensions a hash-N model may have, and the default.
const (
	MinDimensions     = 32
	MaxDimensions     = 4096
	DefaultDimensions = 384
)

// Feature kinds and their weights. A word's 3-grams together weigh about as
// much as the word, so that spelling variants meet without drowning the
// words themselves.
const (
	kindWord = iota
	kindPair
	kindGram
)

var kindWeight = [...]float64{kindWord: 1, kindPair: 0.7, kindGram: 0.4}

// HashEmbedder is the "hash-N" embedding model: feature hashing of words,
// word pairs and character 3-grams into N dimensions. The zero value is
// ready to use.
type HashEmbedder struct{}

var _ provider.Embedder = (*HashEmbedder)(nil)

// Embed returns one unit vector per input. The model name decides the
// dimensions: "hash-N" gives N, from MinDimensions to MaxDimensions, and an
// empty name gives req.Dimensions, or DefaultDimensions when that is 0. A
// nonzero req.Dimensions must equal N. An input with no words (empty, or
// only punctuation) gets the zero vector, which is as far from every text as
// an unrelated one. Usage counts the inputs' cl100k_base tokens.
func (h *HashEmbedder) Embed(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, badRequest("no embeddings request")
	}
	dims := req.Dimensions
	if req.Model != "" {
		n, err := hashDimensions(req.Model)
		if err != nil {
			return nil, err
		}
		if dims != 0 && dims != n {
			return nil, badRequest(fmt.Sprintf("model %s has %d dimensions, %d were asked for", req.Model, n, dims))
		}
		dims = n
	}
	if dims == 0 {
		dims = DefaultDimensions
	}
	if dims < MinDimensions || dims > MaxDimensions {
		return nil, badRequest(fmt.Sprintf("dimensions must be from %d to %d, not %d", MinDimensions, MaxDimensions, dims))
	}
	if len(req.Input) == 0 {
		return nil, badRequest("no input")
	}
	out := &provider.EmbedResponse{Vectors: make([][]float32, len(req.Input))}
	f := featurizers.Get().(*featurizer)
	defer featurizers.Put(f)
	for i, text := range req.Input {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out.Vectors[i] = f.embed(text, dims)
		out.Usage.PromptTokens += tokens.Count(text)
	}
	return out, nil
}

// hashDimensions returns N for a model named "hash-N".
func hashDimensions(model string) (int, error) {
	s, ok := strings.CutPrefix(model, "hash-")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || strconv.Itoa(n) != s {
		return 0, notFound(model)
	}
	if n < MinDimensions || n > MaxDimensions {
		return 0, &provider.Error{Provider: Name, Kind: provider.KindNotFound,
			Message: fmt.Sprintf("no model %q: hash-N takes N from %d to %d", model, MinDimensions, MaxDimensions)}
	}
	return n, nil
}

// featurizers keeps featurizers, and their buffers, from one call to the next.
var featurizers = sync.Pool{New: func() any { return new(featurizer) }}

// featurizer holds buffers reused from one input to the next.
type featurizer struct {
	words   []string
	content []string
	keys    []uint64
	gram    []byte
	acc     []float64
}

// embed returns the unit vector of text in dims dimensions.
func (f *featurizer) embed(text string, dims int) []float32 {
	f.words = prose.Words(f.words[:0], text)
	content := f.content[:0]
	for _, w := range f.words {
		if !prose.IsStopword(w) {
			content = append(content, w)
		}
	}
	f.content = content
	if len(content) == 0 {
		content = f.words // only stopwords: better them than nothing
	}
	f.keys = f.keys[:0]
	for i, w := range content {
		f.keys = append(f.keys, featureKey(kindWord, fnv1a(fnvOffset, w)))
		if i > 0 {
			h := fnv1a(fnvOffset, content[i-1])
			h = fnv1a(fnvByte(h, ' '), w)
			f.keys = append(f.keys, featureKey(kindPair, h))
		}
		f.grams(w)
	}
	// Sorting makes the sums below run in one order, so that the vector is
	// the same to the last bit whatever the order of the features.
	slices.Sort(f.keys)

	f.acc = slices.Grow(f.acc[:0], dims)[:dims]
	clear(f.acc)
	for i := 0; i < len(f.keys); {
		j := i + 1
		for j < len(f.keys) && f.keys[j] == f.keys[i] {
			j++
		}
		k := f.keys[i]
		w := kindWeight[k&3]
		if j-i > 1 { // most features occur once: log 1 is 0
			w *= 1 + math.Log(float64(j-i))
		}
		sign := mix64(k)
		if sign>>63 == 1 {
			w = -w
		}
		f.acc[(k>>2)%uint64(dims)] += w
		i = j
	}
	var norm float64
	for _, v := range f.acc {
		norm += v * v
	}
	vec := make([]float32, dims)
	if norm == 0 {
		return vec
	}
	norm = math.Sqrt(norm)
	for i, v := range f.acc {
		vec[i] = float32(v / norm)
	}
	return vec
}

// grams adds the character 3-grams of "<w>".
func (f *featurizer) grams(w string) {
	f.gram = append(append(append(f.gram[:0], '<'), w...), '>')
	// starts[i] is the offset of the i-th rune of f.gram.
	var starts [64]int
	n := 0
	for i := 0; i < len(f.gram) && n < len(starts); {
		starts[n] = i
		n++
		_, size := utf8.DecodeRune(f.gram[i:])
		i += size
	}
	if n < len(starts) {
		starts[n] = len(f.gram)
	} else {
		n-- // a very long word: its last 3-grams are left out
	}
	for i := 0; i+3 <= n; i++ {
		h := uint64(fnvOffset)
		for _, c := range f.gram[starts[i]:starts[i+3]] {
			h = fnvByte(h, c)
		}
		f.keys = append(f.keys, featureKey(kindGram, h))
	}
}

// FNV-1a, 64 bits, as in hash/fnv, inlined to hash strings without copying
// them.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

func fnvByte(h uint64, c byte) uint64 {
	return (h ^ uint64(c)) * fnvPrime
}

// featureKey packs a feature's hash and kind: the low two bits hold the
// kind, the rest the hash, which picks the bucket.
func featureKey(kind int, h uint64) uint64 {
	return h<<2 | uint64(kind)
}

// mix64 is SplitMix64's finaliser: the second hash, whose top bit is the
// feature's sign.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
