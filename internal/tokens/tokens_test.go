package tokens_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// paragraph is about 1 KB of plain English.
const paragraph = `The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined several existing technologies into a practical system for producing books. Movable metal type, oil-based ink and a screw press adapted from wine making allowed a small workshop to print hundreds of pages a day. Before that, books were copied by hand, which made them rare and expensive, and errors crept in with every copy. Within fifty years, printing shops had opened in more than two hundred European cities, and millions of volumes were in circulation. Scholars could compare identical editions, merchants could distribute price lists, and reformers could spread pamphlets faster than the authorities could suppress them. Historians still debate how much the press caused the changes that followed and how much it merely accelerated them, but few doubt that it altered how knowledge was stored, shared and trusted across the continent.`

func TestCount(t *testing.T) {
	// Expected values are those of OpenAI's tiktoken for cl100k_base; the
	// token IDs were checked against the library (e.g. "hello world" is
	// [15339 1917], "tiktoken is great!" is [83 1609 5963 374 2294 0] as in
	// OpenAI's cookbook).
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"space", " ", 1},
		{"hello world", "hello world", 2},
		{"punctuation", "Hello, world!", 4},
		{"cookbook", "tiktoken is great!", 6},
		{"pangram", "The quick brown fox jumps over the lazy dog.", 10},
		{"long word", "antidisestablishmentarianism", 6},
		{"digits in threes", "3.14159", 4},
		{"paragraph break", "Hello world\n\nThis is a test.", 8},
		{"special token as text", "<|endoftext|>", 7},
		{"japanese", "こんにちは世界", 4},
		{"emoji", "🤖", 3},
		{"invalid utf-8 replaced", "\xff\xfe", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tokens.Count(tt.text); got != tt.want {
				t.Errorf("Count(%q) = %d, want %d", tt.text, got, tt.want)
			}
		})
	}
}

func TestCountParagraph(t *testing.T) {
	got := tokens.Count(paragraph)
	// English prose runs at about 4-5 bytes a token in cl100k_base.
	if lo, hi := len(paragraph)/6, len(paragraph)/3; got < lo || got > hi {
		t.Errorf("Count(paragraph of %d bytes) = %d, want between %d and %d", len(paragraph), got, lo, hi)
	}
}

func TestCountMessages(t *testing.T) {
	// cookbook is the example of OpenAI's "How to count tokens with
	// tiktoken", for which the cookbook and the API report 129 prompt
	// tokens on gpt-3.5-turbo-0613 and gpt-4-0613.
	cookbook := []provider.Message{
		{Role: "system", Content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
		{Role: "system", Name: "example_user", Content: "New synergies will help drive top-line growth."},
		{Role: "system", Name: "example_assistant", Content: "Things working well together will increase revenue."},
		{Role: "system", Name: "example_user", Content: "Let's circle back when we have more time to touch base on opportunities for increased leverage."},
		{Role: "system", Name: "example_assistant", Content: "Let's talk later when we're less busy about how to do better."},
		{Role: "user", Content: "This late pivot means we don't have time to boil the ocean for the client deliverable."},
	}
	tests := []struct {
		name string
		msgs []provider.Message
		want int
	}{
		{"none", nil, 0},
		// 3 framing + 1 "user" + 2 "hello world" + 3 reply priming.
		{"one user message", []provider.Message{{Role: provider.RoleUser, Content: "hello world"}}, 9},
		// as above, plus 1 for the name and 1 for "bob".
		{"named", []provider.Message{{Role: provider.RoleUser, Name: "bob", Content: "hello world"}}, 11},
		// 3 + 1 "user" + 0 + 3.
		{"empty content", []provider.Message{{Role: provider.RoleUser}}, 7},
		{"cookbook example", cookbook, 129},
		// 3 + 1 "assistant" + ID "call_1" + name "lookup" + arguments, + 3.
		{"tool call", []provider.Message{{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "lookup", Arguments: `{"q":"x"}`}}}},
			3 + 1 + tokens.Count("call_1") + tokens.Count("lookup") + tokens.Count(`{"q":"x"}`) + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tokens.CountMessages(tt.msgs); got != tt.want {
				t.Errorf("CountMessages() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  string
	}{
		{"zero", "hello world", 0, ""},
		{"negative", "hello world", -1, ""},
		{"fits", "hello world", 2, "hello world"},
		{"fits with room", "hello world", 10, "hello world"},
		{"cut", "The quick brown fox jumps over the lazy dog.", 4, "The quick brown fox"},
		{"cut one", "hello world", 1, "hello"},
		{"empty", "", 3, ""},
		// "界" is split over the tokens "\xe4\xb8" and "\x96": a cut after
		// the first must not leave half a character behind.
		{"inside a character", "こんにちは世界", 2, "こんにちは"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tokens.Truncate(tt.text, tt.limit)
			if got != tt.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.text, tt.limit, got, tt.want)
			}
		})
	}
}

func TestTruncateInvariants(t *testing.T) {
	texts := []string{paragraph, "こんにちは世界 🤖🤖🤖 naïve café", "a\xffb\xfec " + paragraph[:100], strings.Repeat("x", 300)}
	for _, text := range texts {
		total := tokens.Count(text)
		for limit := 0; limit <= total+1; limit++ {
			got := tokens.Truncate(text, limit)
			if n := tokens.Count(got); n > limit {
				t.Fatalf("Truncate(%.20q, %d) has %d tokens", text, limit, n)
			}
			if !utf8.ValidString(got) && got != text {
				t.Fatalf("Truncate(%.20q, %d) = %q is not valid UTF-8", text, limit, got)
			}
			if limit >= total && got != text {
				t.Fatalf("Truncate(%.20q, %d) = %q, want the whole text", text, limit, got)
			}
			if utf8.ValidString(text) && !strings.HasPrefix(text, got) {
				t.Fatalf("Truncate(%.20q, %d) = %q is not a prefix", text, limit, got)
			}
		}
	}
}

func TestConcurrent(t *testing.T) {
	want := tokens.Count(paragraph)
	done := make(chan int)
	for range 8 {
		go func() { done <- tokens.Count(paragraph) }()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Errorf("concurrent Count = %d, want %d", got, want)
		}
	}
}

func BenchmarkCount(b *testing.B) {
	if err := tokens.Load(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(paragraph)))
	for b.Loop() {
		tokens.Count(paragraph)
	}
}
