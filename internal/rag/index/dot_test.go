package index

import (
	"math/rand/v2"
	"testing"
)

func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		if got := dot(a, b); float64(got)-want > 1e-4 || want-float64(got) > 1e-4 {
			t.Errorf("dot of %d = %v, want %v", n, got, want)
		}
	}
}

// BenchmarkDot measures one 384-dimension dot product with both vectors
// in cache, the compute bound of the vector scan.
func BenchmarkDot(b *testing.B) {
	a, v := make([]float32, 384), make([]float32, 384)
	for i := range a {
		a[i], v[i] = float32(i), float32(384-i)
	}
	var s float32
	for b.Loop() {
		s += dot(a, v)
	}
	_ = s
}
