package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	oai "github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/sse"
)

// Bounds on a stream.
const (
	maxToolCalls     = 128
	maxToolArgsBytes = 4 << 20 // names and arguments of all calls
	// drainTimeout bounds the wait for the end of the body after [DONE],
	// read so that the connection can be reused.
	drainTimeout = 100 * time.Millisecond
	drainBytes   = 64 << 10
)

// errStreamClosed is the cause of an attempt's context after Close.
var errStreamClosed = errors.New("stream closed")

// stream is a chat answer being read. Recv is for one goroutine; Close may
// come from any.
type stream struct {
	provider string
	ctx      context.Context // the caller's
	rd       *sse.Reader
	body     io.ReadCloser
	cancel   context.CancelCauseFunc
	release  func() // closes the body and ends the attempt, once
	closed   atomic.Bool

	pending []provider.Delta
	ended   bool // [DONE] was read
	eofSent bool
	err     error // sticky

	tools     []toolAcc
	toolsSent bool
	argBytes  int
}

// toolAcc assembles one tool call from its pieces.
type toolAcc struct {
	seen     bool
	id, name string
	args     []byte
}

var _ provider.Stream = (*stream)(nil)

func newStream(name string, ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser) *stream {
	s := &stream{provider: name, ctx: ctx, rd: sse.NewReader(body), body: body, cancel: cancel}
	s.release = sync.OnceFunc(func() {
		body.Close()
		cancel(errStreamClosed)
	})
	return s
}

// Recv returns the next delta, io.EOF after [DONE], or the error that broke
// the stream.
func (s *stream) Recv() (provider.Delta, error) {
	for {
		switch {
		case s.eofSent:
			return provider.Delta{}, io.EOF
		case s.err != nil:
			return provider.Delta{}, s.err
		case s.ctx.Err() != nil:
			return s.fail(ctxError(s.provider, s.ctx.Err()))
		case s.closed.Load():
			return s.fail(s.closedError())
		case len(s.pending) > 0:
			d := s.pending[0]
			s.pending = s.pending[1:]
			return d, nil
		case s.ended:
			s.eofSent = true
			return provider.Delta{}, io.EOF
		}
		ev, err := s.rd.Next()
		if err != nil {
			return s.fail(s.readError(err))
		}
		d, err := s.decode(ev)
		if err != nil {
			return s.fail(err)
		}
		if d.Text != "" || len(d.ToolCalls) > 0 || d.FinishReason != "" || d.Usage != nil {
			return d, nil
		}
	}
}

// Close releases the connection. It is safe at any time, more than once.
func (s *stream) Close() error {
	s.closed.Store(true)
	s.release()
	return nil
}

func (s *stream) fail(err error) (provider.Delta, error) {
	s.err = err
	s.release()
	return provider.Delta{}, err
}

func (s *stream) closedError() error {
	return &provider.Error{Provider: s.provider, Kind: provider.KindUnknown, Message: "stream closed", Err: context.Canceled}
}

// readError classifies a failure to read the next event.
func (s *stream) readError(err error) error {
	if cerr := s.ctx.Err(); cerr != nil {
		return ctxError(s.provider, cerr)
	}
	if s.closed.Load() {
		return s.closedError()
	}
	switch {
	case errors.Is(err, sse.ErrLineTooLong):
		return &provider.Error{Provider: s.provider, Kind: provider.KindProtocol, Message: "stream line too long", Err: err}
	case err == io.EOF:
		return &provider.Error{Provider: s.provider, Kind: provider.KindConnection, Message: "stream ended before [DONE]", Err: io.ErrUnexpectedEOF}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &provider.Error{Provider: s.provider, Kind: provider.KindConnection, Message: "stream cut in the middle of an event", Err: err}
	}
	return &provider.Error{Provider: s.provider, Kind: provider.KindConnection, Message: "stream broke", Err: err}
}

// decode turns one event into a delta, which may be empty.
func (s *stream) decode(ev sse.Event) (provider.Delta, error) {
	data := bytes.TrimSpace(ev.Data)
	if ev.Event == "error" {
		if e := parseError(data); !e.found {
			return provider.Delta{}, &provider.Error{Provider: s.provider, Kind: provider.KindOverloaded, Message: bound(string(data))}
		}
		return provider.Delta{}, inlineError(s.provider, data)
	}
	if string(data) == "[DONE]" {
		s.ended = true
		s.drain()
		if !s.toolsSent && len(s.tools) > 0 {
			s.toolsSent = true
			return provider.Delta{ToolCalls: s.toolCalls(), FinishReason: "tool_calls"}, nil
		}
		return provider.Delta{}, nil
	}
	var ch chatChunk
	if err := json.Unmarshal(data, &ch); err != nil {
		return provider.Delta{}, &provider.Error{Provider: s.provider, Kind: provider.KindProtocol, Message: "malformed chunk: " + snippet(data), Err: err}
	}
	if e := bytes.TrimSpace(ch.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
		return provider.Delta{}, inlineError(s.provider, data)
	}
	var d provider.Delta
	for _, c := range ch.Choices {
		if c.Index != 0 {
			continue // we ask for one answer
		}
		if c.Delta.Content != nil {
			d.Text += *c.Delta.Content
		}
		if c.Delta.Refusal != nil {
			d.Text += *c.Delta.Refusal
		}
		for pos, tc := range c.Delta.ToolCalls {
			if err := s.addTool(pos, tc); err != nil {
				return provider.Delta{}, err
			}
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			d.FinishReason = normFinish(*c.FinishReason)
			if !s.toolsSent && len(s.tools) > 0 {
				s.toolsSent = true
				d.ToolCalls = s.toolCalls()
				if d.FinishReason == "stop" {
					d.FinishReason = "tool_calls"
				}
			}
		}
	}
	if ch.Usage != nil {
		d.Usage = &provider.Usage{PromptTokens: ch.Usage.PromptTokens, CompletionTokens: ch.Usage.CompletionTokens}
	}
	return d, nil
}

// addTool adds a piece of a tool call. Pieces name their call by index;
// for servers that leave it out, a piece with a new ID starts a call and
// one without continues the last.
func (s *stream) addTool(pos int, tc oai.ToolCall) error {
	if s.toolsSent {
		return nil
	}
	i := pos
	switch {
	case tc.Index != nil:
		i = *tc.Index
	case tc.ID == "" && len(s.tools) > 0:
		i = len(s.tools) - 1
	case tc.ID != "":
		i = len(s.tools)
		for j := range s.tools {
			if s.tools[j].id == tc.ID {
				i = j
			}
		}
	}
	if i < 0 || i >= maxToolCalls {
		return &provider.Error{Provider: s.provider, Kind: provider.KindProtocol, Message: fmt.Sprintf("tool call index %d out of range", i)}
	}
	for len(s.tools) <= i {
		s.tools = append(s.tools, toolAcc{})
	}
	acc := &s.tools[i]
	acc.seen = true
	if tc.ID != "" {
		acc.id = tc.ID
	}
	if n := tc.Function.Name; n != "" && n != acc.name {
		acc.name += n
		s.argBytes += len(n)
	}
	s.argBytes += len(tc.Function.Arguments)
	if s.argBytes > maxToolArgsBytes {
		return &provider.Error{Provider: s.provider, Kind: provider.KindProtocol, Message: "tool call arguments too long"}
	}
	acc.args = append(acc.args, tc.Function.Arguments...)
	return nil
}

// toolCalls returns the assembled calls; a call without an ID gets one.
func (s *stream) toolCalls() []provider.ToolCall {
	out := make([]provider.ToolCall, 0, len(s.tools))
	for i, t := range s.tools {
		if !t.seen {
			continue
		}
		id := t.id
		if id == "" {
			id = "call_" + strconv.Itoa(i)
		}
		out = append(out, provider.ToolCall{ID: id, Name: t.name, Arguments: string(t.args)})
	}
	return out
}

// drain reads what is left of the body after [DONE], briefly, so that the
// connection can go back to the pool, and releases the attempt.
func (s *stream) drain() {
	if s.body == nil {
		return
	}
	t := time.AfterFunc(drainTimeout, func() { s.cancel(errStreamClosed) })
	_, _ = io.Copy(io.Discard, io.LimitReader(s.body, drainBytes))
	t.Stop()
	s.release()
}

// ctxError wraps a caller's context error: KindTimeout for a deadline,
// KindUnknown for a cancellation.
func ctxError(name string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &provider.Error{Provider: name, Kind: provider.KindTimeout, Message: "deadline exceeded", Err: err}
	}
	return &provider.Error{Provider: name, Kind: provider.KindUnknown, Message: "call cancelled", Err: err}
}

// snippet quotes the start of data for an error message.
func snippet(data []byte) string {
	const n = 120
	if len(data) > n {
		return strconv.Quote(string(data[:n])) + "…"
	}
	return strconv.Quote(string(data))
}
