package workersai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/sse"
)

// Bounds on what a stream may make the client hold.
const (
	maxToolCalls     = 64
	maxToolArgsBytes = 1 << 20
)

// Stream is a chat answer from Workers AI. Besides provider.Stream it
// reports how AI Gateway served the call (CacheHit, CacheStatus, LogID).
type Stream struct {
	c       *Client
	k       *call
	body    io.ReadCloser
	dec     *decoder
	info    gatewayInfo
	pending []provider.Delta // deltas decided before the first Recv
	err     error            // terminal: io.EOF or the failure, returned again
	once    sync.Once
}

var (
	_ provider.Stream                   = (*Stream)(nil)
	_ interface{ CacheHit() bool }      = (*Stream)(nil)
	_ interface{ CacheStatus() string } = (*Stream)(nil)
)

func newStream(c *Client, k *call, body io.ReadCloser, info gatewayInfo) *Stream {
	return &Stream{c: c, k: k, body: body, dec: newDecoder(c.cfg.Name, sse.NewReader(body)), info: info}
}

// CacheHit reports whether AI Gateway answered from its cache
// (cf-aig-cache-status: HIT).
func (s *Stream) CacheHit() bool { return s.info.hit() }

// CacheStatus returns the cf-aig-cache-status response header ("HIT",
// "MISS"), or "" when the call did not go through AI Gateway.
func (s *Stream) CacheStatus() string { return s.info.cacheStatus }

// LogID returns AI Gateway's cf-aig-log-id for the call, or "".
func (s *Stream) LogID() string { return s.info.logID }

// Recv returns the next delta, io.EOF after the last one, or a
// *provider.Error when the stream broke. After the end it keeps returning
// the same result.
func (s *Stream) Recv() (provider.Delta, error) {
	if s.err != nil {
		return provider.Delta{}, s.err
	}
	if s.k.closed.Load() {
		s.err = s.c.transportError(s.k, errors.New("stream closed"))
		return provider.Delta{}, s.err
	}
	if len(s.pending) > 0 {
		d := s.pending[0]
		s.pending = s.pending[1:]
		return d, nil
	}
	if s.dec == nil || s.dec.done {
		s.end(io.EOF)
		return provider.Delta{}, io.EOF
	}
	s.k.timer.Reset(s.c.timeout)
	d, err := s.dec.next()
	s.k.timer.Stop()
	if err != nil {
		if s.k.parent.Err() != nil || s.k.closed.Load() || s.k.timedOut.Load() {
			err = s.c.transportError(s.k, err)
		}
		s.end(err)
		return provider.Delta{}, err
	}
	if s.dec.done {
		s.release() // [DONE]: nothing more to read
	}
	return d, nil
}

// Close releases the upstream connection, cancelling the call if it is
// still running. It is safe at any time, more than once, and concurrently
// with Recv.
func (s *Stream) Close() error {
	s.k.closed.Store(true)
	s.release()
	return nil
}

func (s *Stream) end(err error) {
	s.err = err
	s.release()
}

func (s *Stream) release() {
	s.once.Do(func() {
		s.k.release()
		if s.body != nil {
			s.body.Close()
		}
	})
}

// decoder turns the run endpoint's events into deltas. It holds what comes
// only at the end: tool calls, finish reason and usage.
type decoder struct {
	provider string
	r        *sse.Reader
	done     bool

	calls   []*toolAcc
	byIndex map[int]*toolAcc
	byID    map[string]*toolAcc
	args    int // bytes of tool arguments held

	finish      string
	nativeUsage *provider.Usage // cumulative, from {"response":"","usage":...}
	incUsage    provider.Usage  // incremental, from OpenAI-shaped chunks
	incSeen     bool
}

type toolAcc struct {
	id, name string
	args     strings.Builder
}

func newDecoder(name string, r *sse.Reader) *decoder {
	return &decoder{provider: name, r: r, byIndex: map[int]*toolAcc{}, byID: map[string]*toolAcc{}}
}

func (d *decoder) fail(kind provider.Kind, msg string, err error) *provider.Error {
	return &provider.Error{Provider: d.provider, Kind: kind, Message: msg, Err: err}
}

// next returns the next delta that has text, the final delta at [DONE],
// then io.EOF. Every other failure is a *provider.Error.
func (d *decoder) next() (provider.Delta, error) {
	for {
		if d.done {
			return provider.Delta{}, io.EOF
		}
		ev, err := d.r.Next()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return provider.Delta{}, d.fail(provider.KindConnection, "stream ended before [DONE]", io.ErrUnexpectedEOF)
		case errors.Is(err, sse.ErrLineTooLong):
			return provider.Delta{}, d.fail(provider.KindProtocol, "stream line too long", err)
		default:
			return provider.Delta{}, d.fail(provider.KindConnection, "reading the stream", err)
		}
		data := bytes.TrimSpace(ev.Data)
		if ev.Event == "error" {
			return provider.Delta{}, d.midStreamError(data)
		}
		if string(data) == "[DONE]" {
			d.done = true
			return d.finalDelta(), nil
		}
		text, err := d.chunk(data)
		if err != nil {
			return provider.Delta{}, err
		}
		if text != "" {
			return provider.Delta{Text: text}, nil
		}
	}
}

// chunk is one streamed JSON object, native or OpenAI-shaped; it is also
// the shape of a non-streamed result.
type chunk struct {
	Response     json.RawMessage `json:"response"`
	ToolCalls    []toolPart      `json:"tool_calls"`
	Usage        *usage          `json:"usage"`
	FinishReason *string         `json:"finish_reason"`
	Choices      *[]choice       `json:"choices"`
	Errors       []apiError      `json:"errors"`
	Error        json.RawMessage `json:"error"`
}

type choice struct {
	Delta        *choiceMessage `json:"delta"`
	Message      *choiceMessage `json:"message"`
	FinishReason *string        `json:"finish_reason"`
}

type choiceMessage struct {
	Content   *string    `json:"content"`
	ToolCalls []toolPart `json:"tool_calls"`
}

// toolPart is a whole tool call ({"name","arguments":{...}}) or a piece of
// one in the OpenAI shape ({"index","id","function":{"name","arguments"}}).
type toolPart struct {
	Index     *int            `json:"index"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Function  *struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type usage struct {
	PromptTokens     float64 `json:"prompt_tokens"`
	CompletionTokens float64 `json:"completion_tokens"`
}

// chunk applies one JSON object and returns its answer text.
func (d *decoder) chunk(data []byte) (string, error) {
	if len(data) == 0 || data[0] != '{' {
		return "", d.fail(provider.KindProtocol, fmt.Sprintf("malformed chunk: %d bytes that are not a JSON object", len(data)), nil)
	}
	var ch chunk
	if err := json.Unmarshal(data, &ch); err != nil {
		// A field of an unexpected type leaves the rest decoded; only
		// text that is not JSON is a broken stream.
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return "", d.fail(provider.KindProtocol, fmt.Sprintf("malformed chunk of %d bytes", len(data)), err)
		}
	}
	if len(ch.Errors) > 0 || len(bytes.TrimSpace(ch.Error)) > 0 && !bytes.Equal(bytes.TrimSpace(ch.Error), []byte("null")) {
		return "", d.midStreamError(data)
	}
	var text strings.Builder
	text.WriteString(responseText(ch.Response))
	if err := d.addTools(ch.ToolCalls); err != nil {
		return "", err
	}
	d.setFinish(ch.FinishReason)
	if ch.Choices != nil {
		if ch.Usage != nil {
			d.incUsage.PromptTokens += tokens(ch.Usage.PromptTokens)
			d.incUsage.CompletionTokens += tokens(ch.Usage.CompletionTokens)
			d.incSeen = true
		}
		if len(*ch.Choices) > 0 {
			c := (*ch.Choices)[0]
			for _, m := range []*choiceMessage{c.Delta, c.Message} {
				if m == nil {
					continue
				}
				if m.Content != nil {
					text.WriteString(*m.Content)
				}
				if err := d.addTools(m.ToolCalls); err != nil {
					return "", err
				}
			}
			d.setFinish(c.FinishReason)
		}
	} else if ch.Usage != nil {
		d.nativeUsage = &provider.Usage{PromptTokens: tokens(ch.Usage.PromptTokens), CompletionTokens: tokens(ch.Usage.CompletionTokens)}
	}
	return text.String(), nil
}

// responseText reads "response": a string is text, null is nothing, and
// anything else (a structured-output object, a number) is its JSON text.
func responseText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return ""
}

// tokens converts a reported count, which the schema types as a number.
func tokens(f float64) int {
	if f <= 0 || math.IsNaN(f) {
		return 0
	}
	return int(min(f, 1<<31))
}

func (d *decoder) setFinish(r *string) {
	if r == nil || *r == "" {
		return
	}
	switch *r {
	case "stop", "length", "tool_calls", "content_filter":
		d.finish = *r
	case "model_length":
		d.finish = "length"
	default:
		d.finish = "stop"
	}
}

// addTools merges tool call parts: by index when given, else by ID, else a
// part with a name starts a new call and a bare part continues the last.
func (d *decoder) addTools(parts []toolPart) error {
	for _, p := range parts {
		name, rawArgs := p.Name, p.Arguments
		if p.Function != nil {
			if p.Function.Name != "" {
				name = p.Function.Name
			}
			if len(p.Function.Arguments) > 0 {
				rawArgs = p.Function.Arguments
			}
		}
		args := argumentsText(rawArgs)
		if p.ID == "" && name == "" && args == "" {
			continue // a finalisation sentinel with nothing in it
		}
		var acc *toolAcc
		switch {
		case p.Index != nil:
			acc = d.byIndex[*p.Index]
		case p.ID != "":
			acc = d.byID[p.ID]
		case name == "" && len(d.calls) > 0:
			acc = d.calls[len(d.calls)-1]
		}
		if acc == nil {
			if len(d.calls) >= maxToolCalls {
				return d.fail(provider.KindProtocol, fmt.Sprintf("more than %d tool calls", maxToolCalls), nil)
			}
			acc = &toolAcc{}
			d.calls = append(d.calls, acc)
			if p.Index != nil {
				d.byIndex[*p.Index] = acc
			}
		}
		if p.ID != "" && acc.id == "" {
			acc.id = p.ID
			d.byID[p.ID] = acc
		}
		if name != "" && acc.name == "" {
			acc.name = name
		}
		d.args += len(args)
		if d.args > maxToolArgsBytes {
			return d.fail(provider.KindProtocol, "tool call arguments too long", nil)
		}
		acc.args.WriteString(args)
	}
	return nil
}

// argumentsText reads tool arguments: a string is a piece of JSON text, an
// object is whole arguments.
func argumentsText(raw json.RawMessage) string {
	return responseText(raw)
}

// finalDelta is the last delta: tool calls, finish reason and usage.
func (d *decoder) finalDelta() provider.Delta {
	var out provider.Delta
	for i, acc := range d.calls {
		id := acc.id
		if id == "" {
			id = "call_" + strconv.Itoa(i)
		}
		out.ToolCalls = append(out.ToolCalls, provider.ToolCall{ID: id, Name: acc.name, Arguments: acc.args.String()})
	}
	out.FinishReason = d.finish
	if out.FinishReason == "" || len(out.ToolCalls) > 0 && out.FinishReason == "stop" {
		out.FinishReason = "stop"
		if len(out.ToolCalls) > 0 {
			out.FinishReason = "tool_calls"
		}
	}
	switch {
	case d.nativeUsage != nil:
		u := *d.nativeUsage
		out.Usage = &u
	case d.incSeen:
		u := d.incUsage
		out.Usage = &u
	}
	return out
}

// midStreamError classifies an error reported inside the stream.
func (d *decoder) midStreamError(data []byte) *provider.Error {
	var env envelope
	var errs []apiError
	if json.Unmarshal(data, &env) == nil {
		errs = env.failures()
	}
	kind, _, ok := kindOfCodes(errs)
	if !ok {
		kind = provider.KindUnknown
	}
	return d.fail(kind, "error in stream: "+errorMessage(errs, data), nil)
}
