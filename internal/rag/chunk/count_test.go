package chunk

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/tokens"
)

// pieces of text chosen to probe the tokenizer's pre-splitting: contractions,
// digit runs, punctuation runs, line breaks after punctuation, every kind of
// white space, marks, scripts without spaces, emoji, invalid bytes.
var pieces = []string{
	"word", "Word", "WORD", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00a0", "\u3000", "\u2003",
	"\u200b", "\u180e", "\u0085", "don't", "I'M", "we'll", "'s", "'", "\"", "1", "12", "1234567", "3.5", "1,000",
	".", "...", "…", "!?", "(", ")", "[x]", "{}", "--", "—", "->", "::", "//", "/*", "#", "$", "%", "&&", "_",
	"snake_case", "camelCase", "x86_64", "e\u0301", "\u0301", "naïve", "東京", "日本語です", "。", "Привет",
	"😀", "👍🏽", "\xff", "\xe2\x80", "\x00", "<|endoftext|>", "https://example.com/a?b=c", "ñ", "ß", "Ǆ",
	"\u2028", "\u2029", "\f", "\v", "ﬁ", "½", "²", "٣", "\u0660",
}

func randomText(r *rand.Rand, n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(pieces[r.IntN(len(pieces))])
	}
	return sb.String()
}

// TestCountExact checks that the counter's sum over segments is exactly
// what tokens.Count says for any range, which is what lets Split count each
// segment once.
func TestCountExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var c counter
	rounds := 400
	if testing.Short() {
		rounds = 50
	}
	for round := 0; round < rounds; round++ {
		text := randomText(r, 20+r.IntN(400))
		c.reset(text, 0, len(text))
		for k := 0; k < 20; k++ {
			a, b := r.IntN(len(text)+1), r.IntN(len(text)+1)
			if a > b {
				a, b = b, a
			}
			if round%2 == 0 { // mostly character boundaries, sometimes not
				for a > 0 && a < len(text) && !utf8.RuneStart(text[a]) {
					a--
				}
				for b < len(text) && !utf8.RuneStart(text[b]) {
					b++
				}
			}
			if got, want := c.count(a, b), tokens.Count(text[a:b]); got != want {
				t.Fatalf("count(%d,%d) = %d, tokens.Count = %d for %q (segments at %v)", a, b, got, want, text[a:b], c.bounds)
			}
		}
		// And of a section in the middle of the text.
		a, b := r.IntN(len(text)/2+1), len(text)/2+r.IntN(len(text)/2+1)
		c.reset(text, a, b)
		if got, want := c.count(a, b), tokens.Count(text[a:b]); got != want {
			t.Fatalf("section count(%d,%d) = %d, tokens.Count = %d for %q", a, b, got, want, text[a:b])
		}
		c.flush()
	}
}

func FuzzCount(f *testing.F) {
	f.Add("Hello, world. It's 3.5 o'clock\n\n\tdone!", 3, 20)
	f.Add("東京 。 \u00a0x\xff y", 0, 9)
	f.Fuzz(func(t *testing.T, text string, a, b int) {
		if len(text) == 0 {
			return
		}
		a, b = abs(a)%(len(text)+1), abs(b)%(len(text)+1)
		if a > b {
			a, b = b, a
		}
		var c counter
		c.reset(text, 0, len(text))
		if got, want := c.count(a, b), tokens.Count(text[a:b]); got != want {
			t.Fatalf("count(%d,%d) = %d, tokens.Count = %d for %q", a, b, got, want, text[a:b])
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // the smallest int
			return 0
		}
		return -n
	}
	return n
}
