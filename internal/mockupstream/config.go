package mockupstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultErrorStatus         = http.StatusServiceUnavailable
	DefaultEmbeddingDimensions = 256
)

// DefaultModels are served by GET /v1/models when Config.Models is empty.
var DefaultModels = []string{"mock-chat", "mock-embed"}

// Config shapes the mock's answers. The zero value answers at once, without
// failures, with an echo of the last user message.
type Config struct {
	// APIKey, when set, is required as "Authorization: Bearer <key>".
	APIKey string
	// Models are listed by GET /v1/models; when set, other models get 404.
	Models []string

	// Latency is the wait before the response headers.
	Latency time.Duration
	// TTFT is the wait between the headers and the first token of a stream.
	TTFT time.Duration
	// TokensPerSecond paces the tokens after the first; 0 sends them as fast
	// as possible.
	TokensPerSecond float64

	// ErrorRate is the share of calls (0..1) answered with ErrorStatus.
	ErrorRate float64
	// ErrorStatus is the status of injected errors (429 or 5xx); default 503.
	ErrorStatus int
	// RetryAfter is sent as Retry-After (whole seconds, rounded up) with
	// injected 429 and 503 answers.
	RetryAfter time.Duration
	// HangRate is the share of calls accepted and never answered.
	HangRate float64
	// MalformedRate is the share of streams that carry a chunk that is not
	// JSON halfway through.
	MalformedRate float64
	// CutRate is the share of streams whose connection is closed halfway
	// through, without [DONE].
	CutRate float64
	// Seed seeds the RNG the rates draw from.
	Seed uint64

	// Reply is the answer; empty echoes the words of the last user message.
	Reply string
	// CompletionTokens > 0 repeats or cuts the reply to this many tokens.
	CompletionTokens int
	// EmbeddingDimensions is the vector size when a request does not ask for
	// one; default 256.
	EmbeddingDimensions int

	// Script is consumed one Step per POST request, in order, before the
	// rates apply again.
	Script []Step
	// Decide, when set, is given the body of each chat request and may
	// return the step that answers it (ok true), laid over the script and
	// the rates; the X-Mock-* headers still win. It lets a test play a
	// model that reacts to what it reads, such as one that calls every
	// tool its prompt mentions.
	Decide func(body []byte) (Step, bool)
}

// Step scripts the answer to one request. Its zero value is a normal answer.
type Step struct {
	// Status, when not 0 or 200, is answered with an OpenAI error body.
	Status int
	// RetryAfter is sent as Retry-After in whole seconds, rounded up.
	RetryAfter time.Duration
	// Hang accepts the call and never answers.
	Hang bool
	// Latency and TTFT, when set, replace Config's.
	Latency, TTFT time.Duration
	// Reply, when set, replaces the reply.
	Reply string
	// Tokens, when > 0, sets the number of completion tokens.
	Tokens int
	// Cut closes the connection after After tokens, without [DONE].
	Cut bool
	// Malformed sends a chunk that is not JSON after After tokens.
	Malformed bool
	// StreamError sends an OpenAI error object of this type after After
	// tokens and ends the stream.
	StreamError string
	// After is the number of tokens sent before Cut, Malformed or
	// StreamError takes effect.
	After int
	// ToolCalls, when set, makes the answer these calls instead of text.
	ToolCalls []ToolCall
}

// ToolCall is a tool call the mock answers with. Arguments are JSON text,
// streamed in pieces; an empty ID gets a generated one.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// fault is what goes wrong with an answer.
type fault int

const (
	faultNone fault = iota
	faultCut
	faultMalformed
	faultStreamError
)

// plan is how one request is answered, resolved from Config, the rates,
// the script and the request headers.
type plan struct {
	status       int
	retryAfter   string
	retryAfterMS string
	hang         bool
	latency      time.Duration
	ttft         time.Duration
	tps          float64
	reply        string
	replySet     bool
	tokens       int
	fault        fault
	after        int // -1: halfway
	errType      string
	toolCalls    []ToolCall
}

// basePlan is Config's answer without failures.
func (s *Server) basePlan() plan {
	return plan{
		latency: s.cfg.Latency,
		ttft:    s.cfg.TTFT,
		tps:     s.cfg.TokensPerSecond,
		reply:   s.cfg.Reply,
		tokens:  s.cfg.CompletionTokens,
	}
}

// applyRates draws one number and picks at most one failure.
func (s *Server) applyRates(p *plan) {
	c := &s.cfg
	if c.ErrorRate <= 0 && c.HangRate <= 0 && c.MalformedRate <= 0 && c.CutRate <= 0 {
		return
	}
	s.rngMu.Lock()
	x := s.rng.Float64()
	s.rngMu.Unlock()
	switch {
	case x < c.ErrorRate:
		p.status = s.errorStatus
		if c.RetryAfter > 0 && (p.status == http.StatusTooManyRequests || p.status == http.StatusServiceUnavailable) {
			p.retryAfter = seconds(c.RetryAfter)
		}
	case x < c.ErrorRate+c.HangRate:
		p.hang = true
	case x < c.ErrorRate+c.HangRate+c.MalformedRate:
		p.fault, p.after = faultMalformed, -1
	case x < c.ErrorRate+c.HangRate+c.MalformedRate+c.CutRate:
		p.fault, p.after = faultCut, -1
	}
}

// applyStep lays a scripted step over p.
func (p *plan) applyStep(st Step) {
	if st.Status != 0 {
		p.status = st.Status
	}
	if st.RetryAfter > 0 {
		p.retryAfter = seconds(st.RetryAfter)
	}
	p.hang = st.Hang
	if st.Latency > 0 {
		p.latency = st.Latency
	}
	if st.TTFT > 0 {
		p.ttft = st.TTFT
	}
	if st.Reply != "" {
		p.reply, p.replySet = st.Reply, true
	}
	if st.Tokens > 0 {
		p.tokens = st.Tokens
	}
	p.fault, p.after = faultNone, st.After
	switch {
	case st.Cut:
		p.fault = faultCut
	case st.Malformed:
		p.fault = faultMalformed
	case st.StreamError != "":
		p.fault, p.errType = faultStreamError, st.StreamError
	}
	if len(st.ToolCalls) > 0 {
		p.toolCalls = st.ToolCalls
	}
}

// Request headers that override the plan.
const (
	hStatus       = "X-Mock-Status"
	hRetryAfter   = "X-Mock-Retry-After"
	hRetryAfterMS = "X-Mock-Retry-After-Ms"
	hHang         = "X-Mock-Hang"
	hLatency      = "X-Mock-Latency"
	hTTFT         = "X-Mock-Ttft"
	hTPS          = "X-Mock-Tps"
	hReply        = "X-Mock-Reply"
	hTokens       = "X-Mock-Tokens"
	hCutAfter     = "X-Mock-Cut-After"
	hMalformed    = "X-Mock-Malformed"
	hStreamError  = "X-Mock-Stream-Error"
	hErrorType    = "X-Mock-Stream-Error-Type"
	hToolCalls    = "X-Mock-Tool-Calls"
)

// applyHeaders lays the X-Mock-* headers over p. A header that cannot be
// parsed is an error, so that a typo in a test does not pass silently.
func (p *plan) applyHeaders(h http.Header) error {
	if len(h) == 0 {
		return nil
	}
	if v := h.Get(hStatus); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 999 {
			return fmt.Errorf("%s: %q is not a status", hStatus, v)
		}
		p.status = n
		if n == http.StatusOK {
			p.status, p.hang, p.fault = 0, false, faultNone
		}
	}
	if v := h.Get(hRetryAfter); v != "" {
		p.retryAfter = v
	}
	if v := h.Get(hRetryAfterMS); v != "" {
		p.retryAfterMS = v
	}
	if v := h.Get(hHang); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a boolean", hHang, v)
		}
		p.hang = b
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{hLatency, &p.latency}, {hTTFT, &p.ttft}} {
		if v := h.Get(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < 0 {
				return fmt.Errorf("%s: %q is not a duration", d.name, v)
			}
			*d.dst = x
		}
	}
	if v := h.Get(hTPS); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 {
			return fmt.Errorf("%s: %q is not a rate", hTPS, v)
		}
		p.tps = x
	}
	if v, ok := h[hReply]; ok {
		p.reply, p.replySet = v[0], true
	}
	if v := h.Get(hTokens); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%s: %q is not a count", hTokens, v)
		}
		p.tokens = n
	}
	for _, f := range []struct {
		name string
		f    fault
	}{{hCutAfter, faultCut}, {hMalformed, faultMalformed}, {hStreamError, faultStreamError}} {
		if v := h.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: %q is not a token count", f.name, v)
			}
			p.fault, p.after = f.f, n
		}
	}
	if v := h.Get(hErrorType); v != "" {
		p.errType = v
	}
	if v := h.Get(hToolCalls); v != "" {
		var calls []ToolCall
		if err := json.Unmarshal([]byte(v), &calls); err != nil || len(calls) == 0 {
			return fmt.Errorf("%s: want a JSON array of {\"id\",\"name\",\"arguments\"}", hToolCalls)
		}
		p.toolCalls = calls
	}
	return nil
}

// seconds formats d as whole seconds, rounded up, for Retry-After.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
