package tokens

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// librarySplitAgrees checks that encoding text's pieces one by one gives
// the library's tokens for the whole text, and that Count agrees.
func librarySplitAgrees(t testing.TB, text string) {
	t.Helper()
	c, err := codec()
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := c.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint
	var joined strings.Builder
	splitASCII(text, func(p string) {
		ids, _, err := c.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids...)
		joined.WriteString(p)
	})
	if joined.String() != text {
		t.Fatalf("pieces of %q join to %q", text, joined.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("tokens of %q by pieces = %v, the library's = %v", text, got, want)
	}
	if n := countASCII(text, func(p string) int { n, _ := c.Count(p); return n }); n != len(want) {
		t.Fatalf("countASCII(%q) = %d, want %d", text, n, len(want))
	}
}

func TestSplitASCIIMatchesLibrary(t *testing.T) {
	for _, text := range []string{
		"", " ", "  ", "hello world", "Hello, world!", "tiktoken is great!",
		"it's we're they've I'm you'll he'd IT'S We'Re 'sam 'rock 'llama '",
		"3.14159 1234567 a1b22c333d4444", "  leading", "trailing  ", "a  b   c\t\td",
		"Hello world\n\nThis is a test.", "line\r\nbreak \n \n x", "x \n", "\n\n\n", " \n\tword",
		"..abc ,def !!!\n\nghi", " ?!x", "(parens) [brackets] {braces} <|endoftext|>",
		"\ttab\vvt\fff", "email@example.com https://x.io/a?b=c#d",
		"snake_case camelCase kebab-case", "$100.00 -5 +7 1e10 0x1F", strings.Repeat("=", 100),
	} {
		librarySplitAgrees(t, text)
	}
}

func TestPlain(t *testing.T) {
	for s, want := range map[string]bool{"": true, "a b\t\n\v\f\r~": true, "\x00": false, "\x1b[0m": false, "\x7f": false, "é": false, "\x08": false} {
		if plain(s) != want {
			t.Errorf("plain(%q) = %v", s, !want)
		}
	}
	// Text the fast path does not take is still counted right.
	for s, want := range map[string]int{"a\x7f": 1, "\x00ab": 2} {
		if n := Count(s); n != want {
			t.Errorf("Count(%q) = %d, want %d", s, n, want)
		}
	}
}

func TestSplitASCIIRandom(t *testing.T) {
	const alphabet = "aAsStTrReEvVlLmMdD'  \t\n\r\v\f0123456789.,!?-_()~`|"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		librarySplitAgrees(t, string(b))
	}
}

func FuzzSplitASCII(f *testing.F) {
	for _, s := range []string{"hello world", "it's 123\n\n  x", " \t\r\n ", "'LL'Ve..!!\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plain(s) {
			return
		}
		librarySplitAgrees(t, s)
	})
}

// paragraphText is about 1 KB of English prose.
const paragraphText = `The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined several existing technologies into a practical system for producing books. Movable metal type, oil-based ink and a screw press adapted from wine making allowed a small workshop to print hundreds of pages a day. Before that, books were copied by hand, which made them rare and expensive, and errors crept in with every copy.`

// BenchmarkCountUncached counts texts the memo of whole texts has not seen:
// the split and piece cache (ascii) against the library alone.
func BenchmarkCountUncached(b *testing.B) {
	c, err := codec()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ascii", func(b *testing.B) {
		b.SetBytes(int64(len(paragraphText)))
		for b.Loop() {
			countASCII(paragraphText, func(p string) int { n, _ := c.Count(p); return n })
		}
	})
	b.Run("library", func(b *testing.B) {
		b.SetBytes(int64(len(paragraphText)))
		for b.Loop() {
			_, _ = c.Count(paragraphText)
		}
	})
}

// splitASCII calls yield with each piece of s, an ASCII string, in order.
func splitASCII(s string, yield func(piece string)) {
	for i := 0; i < len(s); {
		n := pieceLen(s, i)
		yield(s[i : i+n])
		i += n
	}
}
