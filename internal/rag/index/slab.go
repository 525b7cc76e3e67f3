package index

// blockRows is the number of vector rows in each block of a slab.
const blockRows = 1024

// slab stores rows of dim float32s contiguously, blockRows rows to a block,
// so that growing never copies rows and leaves at most one block partly
// unused. The first block grows by appending, so a small index holds little
// more than its rows; later blocks are allocated whole.
type slab struct {
	dim    int
	rows   int
	blocks [][]float32 // all but the last hold blockRows rows
}

// row returns row i.
func (s *slab) row(i int) []float32 {
	b := s.blocks[i/blockRows]
	o := (i % blockRows) * s.dim
	return b[o : o+s.dim : o+s.dim]
}

// add appends v times scale; v has dim elements.
func (s *slab) add(v []float32, scale float32) {
	full := blockRows * s.dim
	if n := len(s.blocks); n == 0 || len(s.blocks[n-1]) == full {
		c := full
		if n == 0 {
			c = 8 * s.dim
		}
		s.blocks = append(s.blocks, make([]float32, 0, c))
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
}

// truncate keeps the first n rows and frees the blocks no longer used.
func (s *slab) truncate(n int) {
	keep := (n + blockRows - 1) / blockRows
	clear(s.blocks[keep:])
	s.blocks = s.blocks[:keep]
	if keep > 0 {
		s.blocks[keep-1] = s.blocks[keep-1][:(n-(keep-1)*blockRows)*s.dim]
	}
	s.rows = n
}

// reset empties s and sets its dimension.
func (s *slab) reset(dim int) { *s = slab{dim: dim} }

// bytes returns the capacity of s in bytes.
func (s *slab) bytes() int64 {
	var n int64
	for _, b := range s.blocks {
		n += int64(cap(b)) * 4
	}
	return n
}
