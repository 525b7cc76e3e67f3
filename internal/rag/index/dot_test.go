package index

import (
	"math"
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

func TestDotCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 100 {
		a, b := make([]int16, n), make([]int8, n+3) // b may be longer
		var want int32
		for i := range a {
			a[i], b[i] = int16(r.IntN(1<<16)-1<<15), int8(r.IntN(255)-127)
			want += int32(a[i]) * int32(b[i])
		}
		if got := dotCodes(a, b); got != want {
			t.Errorf("dotCodes of %d = %d, want %d", n, got, want)
		}
		if got := dotCodesGo(a, b); got != want {
			t.Errorf("dotCodesGo of %d = %d, want %d", n, got, want)
		}
	}
	if !hasAVX2 {
		t.Log("no AVX2: dotCodes is dotCodesGo")
	}
}

// TestQuantizeQueryBound checks that the query's codes keep the largest dot
// product with row codes inside an int32 at any dimension.
func TestQuantizeQueryBound(t *testing.T) {
	for _, dim := range []int{1, 384, 516, 517, 1536, 3072, 4096} {
		q := make([]float32, dim)
		for i := range q {
			q[i] = 1 / float32(dim)
		}
		codes, scale := quantizeQuery(q)
		var worst int64
		for _, c := range codes {
			worst += int64(c) * codeMax
		}
		if worst > math.MaxInt32 {
			t.Errorf("dim %d: the largest dot product is %d", dim, worst)
		}
		if got := float32(codes[0]) * scale; got < q[0]*0.999 || got > q[0]*1.001 {
			t.Errorf("dim %d: codes × scale = %v, want %v", dim, got, q[0])
		}
	}
}

// BenchmarkDotCodes measures what BenchmarkDot does for the int8 codes of
// the default, quantised rows: with AVX2 where the CPU has it (dotCodes),
// and in Go.
func BenchmarkDotCodes(b *testing.B) {
	a, v := make([]int16, 384), make([]int8, 384)
	for i := range a {
		a[i], v[i] = int16(i*80-15000), int8(i%255-127)
	}
	for _, f := range []struct {
		name string
		dot  func([]int16, []int8) int32
	}{{"dotCodes", dotCodes}, {"go", dotCodesGo}} {
		b.Run(f.name, func(b *testing.B) {
			var s int32
			for b.Loop() {
				s += f.dot(a, v)
			}
			_ = s
		})
	}
}
