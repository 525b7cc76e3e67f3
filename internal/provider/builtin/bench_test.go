package builtin_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// benchPassages returns five passages of about 200 words each.
func benchPassages() []provider.Passage {
	var ps []provider.Passage
	for i, p := range passages {
		text := p.Text
		for len(strings.Fields(text)) < 200 {
			text += "\n" + p.Text
		}
		words := strings.Fields(text)[:200]
		ps = append(ps, provider.Passage{N: i + 1, Title: p.Title, Text: strings.Join(words, " ")})
	}
	for len(ps) < 5 {
		p := ps[len(ps)%4]
		p.N = len(ps) + 1
		ps = append(ps, p)
	}
	return ps
}

func BenchmarkExtractive(b *testing.B) {
	tokens.Load()
	req := &provider.ChatRequest{Messages: user("How does photosynthesis turn light into chemical energy?"), Passages: benchPassages()}
	var e builtin.Extractive
	for b.Loop() {
		s, err := e.Chat(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err == io.EOF {
				break
			}
		}
	}
}

// BenchmarkExtractiveAnswer is the answer without the token counts.
func BenchmarkExtractiveAnswer(b *testing.B) {
	req := &provider.ChatRequest{Messages: user("How does photosynthesis turn light into chemical energy?"), Passages: benchPassages()}
	var e builtin.Extractive
	for b.Loop() {
		e.Answer(req)
	}
}

func BenchmarkHashEmbed(b *testing.B) {
	tokens.Load()
	// A chunk of 256 tokens.
	chunk := tokens.Truncate(strings.Repeat(passages[1].Text+" "+passages[0].Text+" ", 3), 256)
	if n := tokens.Count(chunk); n != 256 {
		b.Fatalf("chunk of %d tokens", n)
	}
	for _, model := range []string{"hash-384", "hash-1536"} {
		b.Run(model, func(b *testing.B) {
			req := &provider.EmbedRequest{Model: model, Input: []string{chunk}}
			var h builtin.HashEmbedder
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				if _, err := h.Embed(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ExampleExtractive() {
	req := &provider.ChatRequest{
		Messages: []provider.Message{{Role: provider.RoleUser, Content: "Do dogs like walks?"}},
		Passages: []provider.Passage{
			{N: 1, Text: "Cats sleep for most of the day. They are fond of boxes."},
			{N: 2, Text: "Dogs like long walks in the park. Most dogs also like to swim."},
		},
	}
	text, finish := new(builtin.Extractive).Answer(req)
	fmt.Println(text)
	fmt.Println(finish)
	// Output:
	// Dogs like long walks in the park. [2] Most dogs also like to swim. [2]
	// stop
}
