package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// Stream is a chat answer in progress. Recv returns deltas until io.EOF; a
// stream that breaks after its first token returns an *api.Error
// (upstream_error) instead of ending quietly, so the caller can tell the
// client the answer is incomplete. Whatever happens, the tokens generated
// are billed when the stream ends or is closed.
type Stream struct {
	g         *Gateway
	call      Call
	cancel    context.CancelFunc
	res       *Reservation
	rec       *store.UsageRecord
	promptEst int64                 // -1: not counted yet
	req       *provider.ChatRequest // to count the prompt if the provider does not

	// cacheKey, when set, stores the answer in the tenant's cache once it
	// ends well; cached marks an answer replayed from the cache.
	cacheKey string
	cached   bool
	ctx      context.Context
	tally    *Tally // the request's, or nil

	// span is the call's span, ended with the stream.
	span trace.Span

	// answer and calls are what the model produced: counted when the
	// provider reports no usage, and cached.
	answer strings.Builder
	calls  []provider.ToolCall

	up      provider.Stream
	pending *provider.Delta // the first delta, read before committing to the model
	eof     bool            // the model ended before producing anything

	usage  *provider.Usage
	finish string
	once   sync.Once
	final  provider.Usage
}

// Text reads the rest of the stream and returns its text, with what was
// read before an error: for callers that want the whole answer rather than
// its pieces.
func (s *Stream) Text() (string, error) {
	var b strings.Builder
	for {
		d, err := s.Recv()
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
		b.WriteString(d.Text)
	}
}

// Model returns the provider/model reference that is answering.
func (s *Stream) Model() string { return s.rec.Provider + "/" + s.rec.Model }

// Fallback reports whether the answering model is a fallback.
func (s *Stream) Fallback() bool { return s.rec.Fallback }

// Recv returns the next delta, io.EOF at the end, or an error when the
// upstream broke.
func (s *Stream) Recv() (provider.Delta, error) {
	if s.pending != nil {
		d := *s.pending
		s.pending = nil
		s.account(d)
		return d, nil
	}
	if s.eof {
		s.end("ok")
		return provider.Delta{}, io.EOF
	}
	d, err := s.up.Recv()
	if err == io.EOF {
		s.eof = true
		s.end("ok")
		return provider.Delta{}, io.EOF
	}
	if err != nil {
		s.eof = true
		kind := provider.KindOf(err)
		s.rec.ErrorKind = kind.String()
		if errors.Is(err, context.Canceled) {
			s.end("cancelled")
			return provider.Delta{}, api.Errorf(api.CodeUnavailable, "the request was cancelled")
		}
		s.end("error")
		s.g.opts.Metrics.Errors.WithLabelValues(s.call.Tenant.ID.String(), s.rec.Provider, s.rec.Model, kind.String()).Inc()
		s.g.opts.Logger.Warn("stream broke after the first token", "tenant", s.call.Tenant.ID.String(), "provider", s.rec.Provider, "model", s.rec.Model, "kind", kind.String(), "error", err, "request_id", s.call.RequestID)
		if errors.Is(err, context.DeadlineExceeded) || kind == provider.KindTimeout {
			return provider.Delta{}, api.Errorf(api.CodeUpstreamTimeout, "the model stopped answering before the end; the answer is incomplete")
		}
		return provider.Delta{}, api.Errorf(api.CodeUpstreamError, "the model provider failed mid-answer (%s); the answer is incomplete", kind)
	}
	s.account(d)
	return d, nil
}

// account notes what a delta adds to the bill.
func (s *Stream) account(d provider.Delta) {
	s.answer.WriteString(d.Text)
	s.calls = append(s.calls, d.ToolCalls...)
	if d.Usage != nil {
		u := *d.Usage
		s.usage = &u
	}
	if d.FinishReason != "" {
		s.finish = d.FinishReason
	}
}

// Close ends the stream. Closing before io.EOF (a client that went away)
// cancels the upstream call and bills the tokens generated so far.
func (s *Stream) Close() error {
	s.end("cancelled")
	s.cancel()
	if s.up != nil {
		return s.up.Close()
	}
	return nil
}

// Usage returns the tokens of the call once it has ended: the provider's
// figures, or the tokenizer's estimate (Estimated) where it gave none.
func (s *Stream) Usage() provider.Usage { return s.final }

// FinishReason returns why the model stopped, once it has.
func (s *Stream) FinishReason() string { return s.finish }

// end settles the budget and writes the usage record, once.
func (s *Stream) end(status string) {
	s.once.Do(func() {
		if s.cached {
			// A replayed answer costs nothing; the caller still sees the
			// usage of the call that produced it.
			if s.usage != nil {
				s.final = *s.usage
			}
			s.rec.Status = status
			s.g.finish(s.tally, s.rec, s.call.Tenant.Config, 0, 0, false)
			endCall(s.span, s.call.Tenant.Config, s.rec, s.finish)
			return
		}
		var u provider.Usage
		if s.usage != nil && s.usage.PromptTokens > 0 {
			u = *s.usage
		} else {
			if s.promptEst < 0 {
				s.promptEst = int64(tokens.CountPrompt(s.req))
			}
			out := tokens.Count(s.answer.String())
			for _, tc := range s.calls {
				out += tokens.Count(tc.Name) + tokens.Count(tc.Arguments)
			}
			u = provider.Usage{PromptTokens: int(s.promptEst), CompletionTokens: out, Estimated: true}
		}
		s.final = u
		s.rec.Status = status
		if c, ok := s.up.(interface{ CacheHit() bool }); ok {
			s.rec.CacheHit = c.CacheHit()
		}
		cost := s.g.finish(s.tally, s.rec, s.call.Tenant.Config, int64(u.PromptTokens), int64(u.CompletionTokens), u.Estimated)
		endCall(s.span, s.call.Tenant.Config, s.rec, s.finish)
		s.res.Settle(int64(u.Total()), cost)
		if status == "ok" && s.cacheKey != "" {
			b, _ := json.Marshal(cachedCompletion{Provider: s.rec.Provider, Model: s.rec.Model, Fallback: s.rec.Fallback,
				Text: s.answer.String(), ToolCalls: s.calls, Finish: s.finish, Usage: u})
			s.g.store(s.ctx, s.call.Tenant.ID, s.cacheKey, b, s.call.Tenant.Config.Cache.TTL.D())
		}
	})
}
