package tokens

import (
	"strings"
	"testing"
)

func TestCountMemo(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 10)
	first := Count(text)
	if second := Count(text); second != first {
		t.Fatalf("memoised count %d != %d", second, first)
	}
	m := newCountMemo(2)
	m.put("a", 1)
	m.put("b", 2)
	m.put("c", 3) // full: forgets a and b
	if _, ok := m.get("a"); ok {
		t.Error("a full memo kept its entries")
	}
	if n, ok := m.get("c"); !ok || n != 3 {
		t.Errorf("get(c) = %d, %v", n, ok)
	}
}

func TestRoleTokens(t *testing.T) {
	for _, r := range []string{"system", "user", "assistant", "tool", "developer"} {
		if got, want := roleTokens(r), Count(r); got != want {
			t.Errorf("roleTokens(%q) = %d, the tokenizer says %d", r, got, want)
		}
	}
}
