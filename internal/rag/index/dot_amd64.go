//go:build amd64 && !purego

package index

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether dotCodes may use dotCodesAVX2.
var hasAVX2 = cpu.X86.HasAVX2

//go:noescape
func dotCodesAVX2(a *int16, b *int8, n int) int32

// dotCodes returns the dot product of the query codes a and the row codes
// b, which have the same length: with AVX2, 16 elements an instruction.
func dotCodes(a []int16, b []int8) int32 {
	n := len(a) &^ 15
	if !hasAVX2 || n == 0 {
		return dotCodesGo(a, b)
	}
	b = b[:len(a)]
	return dotCodesAVX2(&a[0], &b[0], n) + dotCodesGo(a[n:], b[n:])
}
