//go:build !amd64 || purego

package index

// hasAVX2 is false: dotCodesAVX2 is amd64 assembly.
const hasAVX2 = false

// dotCodes returns the dot product of the query codes a and the row codes
// b, which have the same length.
func dotCodes(a []int16, b []int8) int32 { return dotCodesGo(a, b) }
