package index

import (
	"math"
	"slices"
)

// blockRows is the number of vector rows in each block of a slab.
const blockRows = 1024

// codeMax is the largest magnitude of a quantised vector's codes.
const codeMax = 127

// slab stores rows of dim values contiguously, blockRows rows to a block,
// so that growing never copies rows and leaves at most one block partly
// unused. The first block grows by appending, so a small index holds little
// more than its rows; later blocks are allocated whole.
//
// A row is a unit vector. By default it is held quantised, as dim int8 codes
// (scalar quantisation with a scale per row: the largest magnitude of the
// vector becomes ±127, every other value the nearest code) and one float32,
// the reciprocal of the codes' L2 norm, so that codes × scale is a unit
// vector again: 4 bytes a row plus one a dimension, against four a
// dimension as float32s. With full set, rows are float32s.
type slab struct {
	dim  int
	rows int
	full bool // float32 rows in blocks; otherwise codes and scales

	blocks [][]float32 // full: all but the last hold blockRows rows
	codes  [][]int8    // quantised: all but the last hold blockRows rows
	scales [][]float32 // quantised: one per row of the codes block alike
}

// add appends v times scale; v has dim elements.
func (s *slab) add(v []float32, scale float32) {
	first := len(s.blocks) == 0 && len(s.codes) == 0
	if s.full {
		if n := len(s.blocks); n == 0 || len(s.blocks[n-1]) == blockRows*s.dim {
			s.blocks = append(s.blocks, make([]float32, 0, blockCap(first, s.dim)))
		}
		last := &s.blocks[len(s.blocks)-1]
		n := len(*last)
		*last = append(*last, v...)
		if scale != 1 {
			row := (*last)[n:]
			for i := range row {
				row[i] *= scale
			}
		}
		s.rows++
		return
	}
	if n := len(s.codes); n == 0 || len(s.codes[n-1]) == blockRows*s.dim {
		s.codes = append(s.codes, make([]int8, 0, blockCap(first, s.dim)))
		s.scales = append(s.scales, make([]float32, 0, blockCap(first, 1)))
	}
	last := &s.codes[len(s.codes)-1]
	n := len(*last)
	*last = slices.Grow(*last, s.dim)[:n+s.dim]
	sc := &s.scales[len(s.scales)-1]
	*sc = append(*sc, quantize((*last)[n:], v))
	s.rows++
}

// blockCap is the capacity of a new block of rows of width w: a first block
// starts small and grows by appending.
func blockCap(first bool, w int) int {
	if first {
		return 8 * w
	}
	return blockRows * w
}

// quantize writes the codes of v to dst and returns the scale that makes
// them a unit vector again. v is not zero. The codes take v's direction, so
// v's norm does not matter.
func quantize(dst []int8, v []float32) float32 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	f := codeMax / m
	var ss float64
	for i, x := range v {
		c := math.Round(float64(x) * f)
		dst[i] = int8(c)
		ss += c * c
	}
	return float32(1 / math.Sqrt(ss))
}

// accumulate adds row i to sum.
func (s *slab) accumulate(i int, sum []float64) {
	bi, o := i/blockRows, (i%blockRows)*s.dim
	if s.full {
		for j, x := range s.blocks[bi][o : o+s.dim] {
			sum[j] += float64(x)
		}
		return
	}
	sc := float64(s.scales[bi][i%blockRows])
	for j, c := range s.codes[bi][o : o+s.dim] {
		sum[j] += float64(c) * sc
	}
}

// move copies row src over row dst.
func (s *slab) move(dst, src int) {
	d := s.dim
	db, do := dst/blockRows, (dst%blockRows)*d
	sb, so := src/blockRows, (src%blockRows)*d
	if s.full {
		copy(s.blocks[db][do:do+d], s.blocks[sb][so:so+d])
		return
	}
	copy(s.codes[db][do:do+d], s.codes[sb][so:so+d])
	s.scales[db][dst%blockRows] = s.scales[sb][src%blockRows]
}

// truncate keeps the first n rows and frees the blocks no longer used.
func (s *slab) truncate(n int) {
	keep := (n + blockRows - 1) / blockRows
	rest := n - (keep-1)*blockRows
	if s.full {
		clear(s.blocks[keep:])
		s.blocks = s.blocks[:keep]
		if keep > 0 {
			s.blocks[keep-1] = s.blocks[keep-1][:rest*s.dim]
		}
	} else {
		clear(s.codes[keep:])
		clear(s.scales[keep:])
		s.codes, s.scales = s.codes[:keep], s.scales[:keep]
		if keep > 0 {
			s.codes[keep-1] = s.codes[keep-1][:rest*s.dim]
			s.scales[keep-1] = s.scales[keep-1][:rest]
		}
	}
	s.rows = n
}

// reset empties s and sets its dimension, keeping its encoding.
func (s *slab) reset(dim int) { *s = slab{dim: dim, full: s.full} }

// bytes returns the capacity of s in bytes.
func (s *slab) bytes() int64 {
	var n int64
	for _, b := range s.blocks {
		n += int64(cap(b)) * 4
	}
	for i, b := range s.codes {
		n += int64(cap(b)) + int64(cap(s.scales[i]))*4
	}
	return n
}
