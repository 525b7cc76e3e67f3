package builtin

import (
	"hash/fnv"
	"testing"
)

// The inlined FNV-1a is hash/fnv's.
func TestFNV1a(t *testing.T) {
	for _, s := range []string{"", "a", "hello world", "naïve", "<ca"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := fnv1a(fnvOffset, s), h.Sum64(); got != want {
			t.Errorf("fnv1a(%q) = %x, want %x", s, got, want)
		}
	}
}

func TestGrams(t *testing.T) {
	var f featurizer
	f.grams("cat")
	if len(f.keys) != 3 { // "<ca", "cat", "at>"
		t.Errorf("%d 3-grams of <cat>, want 3", len(f.keys))
	}
	f.keys = f.keys[:0]
	f.grams("é")
	if len(f.keys) != 1 { // "<é>"
		t.Errorf("%d 3-grams of <é>, want 1", len(f.keys))
	}
	f.keys = f.keys[:0]
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'a'
	}
	f.grams(string(long))
	if len(f.keys) == 0 || len(f.keys) > 64 {
		t.Errorf("%d 3-grams of a 200-letter word", len(f.keys))
	}
}
