package providertest_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/providertest"
)

// words is a minimal Chatter that streams the words of the last message,
// one every few milliseconds, and honours its context: the smallest
// implementation that passes the suite.
type words struct{}

func (words) Chat(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, &provider.Error{Provider: "words", Err: err}
	}
	ctx, cancel := context.WithCancel(ctx)
	return &wordStream{ctx: ctx, cancel: cancel, words: []string{"a", " b", " c"}}, nil
}

type wordStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	words  []string
	i      int
	once   sync.Once
	done   bool
}

func (s *wordStream) Recv() (provider.Delta, error) {
	if s.done {
		return provider.Delta{}, io.EOF
	}
	select {
	case <-s.ctx.Done():
		return provider.Delta{}, &provider.Error{Provider: "words", Err: s.ctx.Err()}
	case <-time.After(time.Millisecond):
	}
	if s.i < len(s.words) {
		s.i++
		return provider.Delta{Text: s.words[s.i-1]}, nil
	}
	s.done = true
	return provider.Delta{FinishReason: "stop", Usage: &provider.Usage{PromptTokens: 1, CompletionTokens: 3}}, nil
}

func (s *wordStream) Close() error {
	s.once.Do(s.cancel)
	return nil
}

func TestWords(t *testing.T) {
	providertest.TestChatter(t, words{}, &provider.ChatRequest{Model: "m", Messages: []provider.Message{{Role: "user", Content: "a b c"}}})
}
