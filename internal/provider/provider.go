// Package provider defines what the gateway asks of a model provider: chat
// that streams, embeddings, and speech. Adapters live in subpackages (builtin/,
// openai/, workersai/) and never import each other; the gateway picks one per
// call and wraps it with routing, retries, fallbacks, budgets and metering.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Chatter is a provider that answers a conversation as a stream of deltas.
// Chat returns once the provider has accepted the request (an error here
// comes before any token and may be retried or fall back); the stream then
// yields deltas until io.EOF. Cancelling ctx stops the upstream call.
type Chatter interface {
	Chat(ctx context.Context, req *ChatRequest) (Stream, error)
}

// Embedder is a provider that turns texts into vectors.
type Embedder interface {
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
}

// Stream is a pull iterator over a chat answer. Recv returns the next delta,
// io.EOF after the last one, or an error when the stream broke. Close
// releases the upstream connection; it is safe to call at any time, more
// than once.
type Stream interface {
	Recv() (Delta, error)
	Close() error
}

// Message roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one turn of a conversation.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// Passage is a piece of retrieved context, numbered from 1 as the answer
// cites it ("[1]"): N is its place in ChatRequest.Passages plus one, which
// is how the citation code reads an answer's [n]. Providers that are
// language models see passages in the prompt (prompt.Sources numbers them
// by place); the builtin extractive answerer reads them from here.
type Passage struct {
	N     int    `json:"n"`
	ID    string `json:"id,omitempty"`
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
}

// Tool is a function the model may call, in OpenAI's function-calling shape.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  []byte `json:"parameters,omitempty"` // JSON Schema
}

// ToolCall is a call the model asks for.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"` // JSON text, as the model wrote it
}

// ChatRequest is a chat call to one model of one provider.
type ChatRequest struct {
	Model    string // the provider's own model name, without the "provider/" prefix
	Messages []Message
	Passages []Passage
	// SourcesPrompt, when set, is how language-model providers present
	// Passages to the model (the tenant's RAG template, rendered): it
	// replaces their default rendering. Providers that answer from the
	// passages themselves (builtin) ignore it.
	SourcesPrompt string
	Tools         []Tool
	MaxTokens     int // 0: the provider's default
	Temperature   *float64
	TopP          *float64
	Stop          []string
	// Buffered says the caller wants the whole answer at once, not token
	// by token: providers may ask their upstream for a non-streamed answer,
	// which is cheaper to receive. The Stream then yields it in one delta.
	Buffered bool
	// Meta travels with the call for providers that can carry it (AI
	// Gateway's cf-aig-metadata): tenant, route, request ID.
	Meta Meta
}

// Meta identifies a call to providers that record it.
type Meta struct {
	Tenant    string
	Route     string
	RequestID string
}

// Delta is a piece of a streamed answer. The last delta of a stream usually
// carries FinishReason and, when the provider reports it, Usage.
type Delta struct {
	Text         string
	ToolCalls    []ToolCall
	FinishReason string // "stop", "length", "tool_calls", "content_filter" or ""
	Usage        *Usage
}

// Usage counts the tokens of a call. Estimated is set when a count was not
// reported by the provider but computed by a tokenizer.
type Usage struct {
	PromptTokens     int  `json:"prompt_tokens"`
	CompletionTokens int  `json:"completion_tokens"`
	Estimated        bool `json:"estimated,omitempty"`
}

// Total returns prompt plus completion tokens.
func (u Usage) Total() int { return u.PromptTokens + u.CompletionTokens }

// EmbedRequest asks for one vector per input.
type EmbedRequest struct {
	Model      string
	Input      []string
	Dimensions int // 0: the model's default
	Meta       Meta
}

// EmbedResponse holds one vector per input, in input order.
type EmbedResponse struct {
	Vectors [][]float32
	Usage   Usage
}

// Kind classifies a provider failure for the gateway's retry and fallback
// decisions and for the error code the caller sees.
type Kind int

// The kinds of provider failure.
const (
	KindUnknown     Kind = iota
	KindBadRequest       // the request is wrong for this provider: not retried, no fallback
	KindAuth             // the provider refused our credentials: no retry, fall back
	KindNotFound         // no such model: no retry, fall back
	KindRateLimited      // 429: retry after RetryAfter, then fall back
	KindOverloaded       // 5xx, 529: retry, then fall back
	KindTimeout          // no answer in time: retry, then fall back
	KindConnection       // could not connect or the connection broke: retry, then fall back
	KindProtocol         // the provider answered something we cannot parse: fall back
)

var kindNames = [...]string{"unknown", "bad_request", "auth", "not_found", "rate_limited", "overloaded", "timeout", "connection", "protocol"}

// String returns the kind's name, as used in logs and metric labels.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retryable reports whether a failure of this kind may succeed if the same
// call is made again to the same model.
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindOverloaded, KindTimeout, KindConnection:
		return true
	}
	return false
}

// Error is a provider failure. Adapters return it (wrapped or not) for every
// failure they can classify.
type Error struct {
	Provider   string
	Kind       Kind
	Status     int           // HTTP status from the provider, if any
	Message    string        // the provider's message, for logs; never sent to tenants verbatim
	RetryAfter time.Duration // from Retry-After, if the provider sent it
	Err        error
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Provider, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: its *Error's kind, KindTimeout for a
// deadline, KindUnknown otherwise.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindUnknown
}

// Speaker is a provider that turns text into speech. Speak returns once the
// provider has accepted the request and its answer has begun (an error here
// comes before any audio); the audio then streams from Speech.Body as the
// provider sends it. Cancelling ctx stops the upstream call.
type Speaker interface {
	Speak(ctx context.Context, req *SpeechRequest) (*Speech, error)
}

// SpeechRequest asks for Input spoken by Voice.
type SpeechRequest struct {
	Model  string  // the provider's own model name
	Input  string  // the text to speak
	Voice  string  // a voice of the model
	Format string  // "wav", "pcm", "mp3", "opus", ...
	Speed  float64 // 1 is normal; 0: the provider's default
	Meta   Meta
}

// SpeechDescriber is a Speaker that says what its speech models offer, an
// optional ability found by type assertion: the text-to-speech service
// takes a model's voices, formats and sample rate from it instead of
// knowing each provider.
type SpeechDescriber interface {
	// SpeechModel describes model, or the provider's default speech model
	// when model is "".
	SpeechModel(model string) SpeechModel
}

// SpeechModel is what a speech model offers.
type SpeechModel struct {
	Model        string   // the model described
	Voices       []string // the voices it speaks with; nil: any the tenant lists
	DefaultVoice string
	Formats      []string // of "wav", "pcm", "mp3", "opus"
	SampleRate   int      // of its wav and pcm output; 0 when it has neither
}

// Speech is audio streaming from a provider. Close Body when done.
type Speech struct {
	ContentType string
	Body        io.ReadCloser
}
