// Package vecbytes encodes float32 vectors as little-endian bytes, the
// layout of OpenAI's base64 embeddings, of stored chunk vectors and of
// cached embeddings.
package vecbytes

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Append appends the little-endian float32s of v to b.
func Append(b []byte, v []float32) []byte {
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// Decode decodes what Append encoded: nil when b is empty, an error when b
// is not a whole number of float32s.
func Decode(b []byte) ([]float32, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("vector of %d bytes is not a whole number of float32s", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
