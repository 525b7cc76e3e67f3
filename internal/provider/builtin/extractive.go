package builtin

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// NoAnswer is the whole answer of Extractive when the passages hold nothing
// that bears on the question.
const NoAnswer = "I don't have enough information to answer that."

// Extractive is the "extractive" chat model: it answers by quoting the
// sentences of the request's passages that best match the last user
// message, each cited as " [n]". The zero value is ready to use.
type Extractive struct {
	// MaxSentences is the most sentences an answer quotes; 0 means 3.
	MaxSentences int
}

var _ provider.Chatter = (*Extractive)(nil)

// Chat composes the answer and returns a stream over it: a delta per word,
// then one with the finish reason and usage. It ignores req.Model; Provider
// picks the model by name. It fails only when ctx is done or req is nil.
func (e *Extractive) Chat(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, badRequest("no chat request")
	}
	text, finish := e.Answer(req)
	prompt := tokens.CountPrompt(req)
	return &stream{
		ctx:    ctx,
		chunks: chunks(text),
		final: provider.Delta{
			FinishReason: finish,
			Usage:        &provider.Usage{PromptTokens: prompt, CompletionTokens: tokens.Count(text)},
		},
	}, nil
}

// Answer returns the text that Chat streams and its finish reason: "stop",
// or "length" when MaxTokens cut it.
func (e *Extractive) Answer(req *provider.ChatRequest) (text, finish string) {
	text = e.compose(req)
	text, stopped := cutAtStop(text, req.Stop)
	if !stopped {
		if cut, ok := limit(text, req.MaxTokens); ok {
			return cut, "length"
		}
	}
	return text, "stop"
}

// compose picks and joins the sentences, or returns NoAnswer.
func (e *Extractive) compose(req *provider.ChatRequest) string {
	question := lastUser(req.Messages)
	if strings.TrimSpace(question) == "" || len(req.Passages) == 0 {
		return NoAnswer
	}
	c := newCorpus(req.Passages)
	query := score(c, question)
	if len(query) == 0 {
		return NoAnswer
	}
	n := e.MaxSentences
	if n <= 0 {
		n = defaultMaxSentences
	}
	chosen := choose(c, n, req.MaxTokens)
	if len(chosen) == 0 || coverage(c, query, chosen) < minCoverage {
		return NoAnswer
	}
	return compose(chosen)
}

// lastUser returns the content of the last user message, or "".
func lastUser(msgs []provider.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == provider.RoleUser {
			return msgs[i].Content
		}
	}
	return ""
}

// cutAtStop cuts text before the first of the stop sequences it contains.
func cutAtStop(text string, stop []string) (string, bool) {
	cut := len(text)
	for _, s := range stop {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && i < cut {
			cut = i
		}
	}
	if cut == len(text) {
		return text, false
	}
	return strings.TrimRightFunc(text[:cut], unicode.IsSpace), true
}

// limit cuts text to at most maxTokens tokens, after a whole word where it
// can. It reports whether it cut.
func limit(text string, maxTokens int) (string, bool) {
	if maxTokens <= 0 || len(text) <= maxTokens || tokens.Count(text) <= maxTokens {
		return text, false
	}
	cut := tokens.Truncate(text, maxTokens)
	if r, _ := utf8.DecodeRuneInString(text[len(cut):]); len(cut) < len(text) && !unicode.IsSpace(r) {
		// A partial last word: drop it if there is a whole one before it.
		if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > 0 {
			cut = cut[:i]
		}
	}
	cut = strings.TrimRightFunc(cut, unicode.IsSpace)
	for tokens.Count(cut) > maxTokens {
		i := strings.LastIndexFunc(cut, unicode.IsSpace)
		if i <= 0 {
			return tokens.Truncate(cut, maxTokens), true
		}
		cut = strings.TrimRightFunc(cut[:i], unicode.IsSpace)
	}
	return cut, true
}

// chunks splits text into the pieces the stream sends: each word with the
// space after it.
func chunks(text string) []string {
	if text == "" {
		return nil
	}
	return strings.SplitAfter(text, " ")
}
