package vecbytes

import (
	"math"
	"slices"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	v := []float32{0, -1.5, float32(math.Inf(1)), math.Float32frombits(0x00000123), 3.25}
	b := Append([]byte{9}, v)
	if len(b) != 1+4*len(v) || b[0] != 9 {
		t.Fatalf("Append = %v", b)
	}
	got, err := Decode(b[1:])
	if err != nil || !slices.EqualFunc(got, v, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
		t.Errorf("Decode = %v, %v", got, err)
	}
	// 1.0 is 0x3f800000: little-endian bytes 00 00 80 3f.
	if b := Append(nil, []float32{1}); !slices.Equal(b, []byte{0, 0, 0x80, 0x3f}) {
		t.Errorf("byte order: %x", b)
	}
	if v, err := Decode(nil); v != nil || err != nil {
		t.Errorf("Decode(nil) = %v, %v", v, err)
	}
	if _, err := Decode([]byte{1, 2, 3}); err == nil {
		t.Error("3 bytes decoded")
	}
}
