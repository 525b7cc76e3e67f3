package builtin_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
)

func TestProviderModels(t *testing.T) {
	if got, want := builtin.New().Models(), []string{"extractive", "hash-384"}; !slices.Equal(got, want) {
		t.Errorf("Models() = %v, want %v", got, want)
	}
}

func TestProviderChat(t *testing.T) {
	p := builtin.New()
	for _, model := range []string{"extractive", ""} {
		s, err := p.Chat(context.Background(), &provider.ChatRequest{Model: model, Messages: user("What is chlorophyll?"), Passages: passages})
		if err != nil {
			t.Fatalf("Chat(%q): %v", model, err)
		}
		text, last, _ := collect(t, s)
		if text == "" || last.FinishReason != "stop" {
			t.Errorf("Chat(%q): %q, %q", model, text, last.FinishReason)
		}
	}
	for _, model := range []string{"gpt-4o", "hash-384", "builtin/extractive"} {
		_, err := p.Chat(context.Background(), &provider.ChatRequest{Model: model, Messages: user("x")})
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindNotFound || pe.Provider != "builtin" {
			t.Errorf("Chat(%q): %v, want not_found from builtin", model, err)
		}
	}
	if _, err := p.Chat(context.Background(), nil); provider.KindOf(err) != provider.KindBadRequest {
		t.Errorf("Chat(nil): %v, want bad_request", err)
	}
}

func TestProviderEmbed(t *testing.T) {
	p := builtin.New()
	resp, err := p.Embed(context.Background(), &provider.EmbedRequest{Model: builtin.EmbedModel, Input: []string{"a b c"}})
	if err != nil || len(resp.Vectors[0]) != 384 {
		t.Fatalf("Embed: %v", err)
	}
	if _, err := p.Embed(context.Background(), &provider.EmbedRequest{Model: "extractive", Input: []string{"x"}}); provider.KindOf(err) != provider.KindNotFound {
		t.Errorf("Embed(extractive): %v, want not_found", err)
	}
}
