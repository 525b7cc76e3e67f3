package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"

	oai "github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/prompt"
)

// maxJSONAnswer bounds a chat answer that arrives as one JSON body.
const maxJSONAnswer = 16 << 20

// Chat implements provider.Chatter: it returns once the provider has
// answered 200 with its response headers; the stream then yields deltas.
func (c *Client) Chat(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	body, err := c.chatBody(req)
	if err != nil {
		return nil, err
	}
	a := c.newAttempt(ctx)
	accept := "text/event-stream"
	if req.Buffered {
		accept = "application/json"
	}
	resp, err := c.post(a, c.chatURL, accept, body, false)
	if err != nil {
		a.cancel(nil)
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/json" {
		defer a.cancel(nil)
		defer resp.Body.Close()
		return c.jsonAnswer(a, resp.Body)
	}
	return newStream(c.cfg.Name, a.caller, a.cancel, resp.Body), nil
}

// chatBody encodes req, or says what is wrong with it.
func (c *Client) chatBody(req *provider.ChatRequest) ([]byte, error) {
	if req == nil || req.Model == "" {
		return nil, c.fail(provider.KindBadRequest, 0, "no model", nil)
	}
	if len(req.Messages) == 0 {
		return nil, c.fail(provider.KindBadRequest, 0, "no messages", nil)
	}
	tools, err := prompt.Tools(req.Tools)
	if err != nil {
		return nil, c.fail(provider.KindBadRequest, 0, err.Error(), nil)
	}
	in := oai.ChatCompletionRequest{
		Model:       req.Model,
		Messages:    prompt.Messages(req, prompt.Dialect{}),
		Stream:      !req.Buffered,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Stop:        req.Stop,
		Tools:       tools,
	}
	if req.MaxTokens > 0 {
		in.MaxTokens = &req.MaxTokens
	}
	if in.Stream {
		in.StreamOptions = &oai.StreamOptions{IncludeUsage: true}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, c.fail(provider.KindBadRequest, 0, "cannot encode the request", err)
	}
	return b, nil
}

// jsonAnswer turns a chat.completion (from a server that ignored "stream")
// into a stream of one delta.
func (c *Client) jsonAnswer(a *attempt, body io.Reader) (provider.Stream, error) {
	raw, err := io.ReadAll(io.LimitReader(body, maxJSONAnswer+1))
	if err != nil {
		if cerr := a.caller.Err(); cerr != nil {
			return nil, c.ctxError(cerr)
		}
		return nil, c.fail(provider.KindConnection, 0, "reading the answer", err)
	}
	if len(raw) > maxJSONAnswer {
		return nil, c.fail(provider.KindProtocol, 0, "answer too large", nil)
	}
	var cc chatCompletion
	if err := json.Unmarshal(raw, &cc); err != nil {
		return nil, c.fail(provider.KindProtocol, 0, "answer is not a chat completion", err)
	}
	if len(bytes.TrimSpace(cc.Error)) > 0 && !bytes.Equal(bytes.TrimSpace(cc.Error), []byte("null")) {
		return nil, c.inlineError(raw)
	}
	var d provider.Delta
	if len(cc.Choices) > 0 {
		ch := cc.Choices[0]
		if ch.Message.Content != nil {
			d.Text = *ch.Message.Content
		}
		if ch.Message.Refusal != nil && d.Text == "" {
			d.Text = *ch.Message.Refusal
		}
		for _, tc := range ch.Message.ToolCalls {
			d.ToolCalls = append(d.ToolCalls, provider.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		if ch.FinishReason != nil {
			d.FinishReason = normFinish(*ch.FinishReason)
		}
	}
	if len(d.ToolCalls) > 0 && (d.FinishReason == "" || d.FinishReason == "stop") {
		d.FinishReason = "tool_calls"
	}
	if d.FinishReason == "" {
		d.FinishReason = "stop"
	}
	if cc.Usage != nil {
		d.Usage = &provider.Usage{PromptTokens: cc.Usage.PromptTokens, CompletionTokens: cc.Usage.CompletionTokens}
	}
	return &stream{provider: c.cfg.Name, pending: []provider.Delta{d}, ended: true, ctx: a.caller, release: func() {}}, nil
}

// inlineError classifies an error object that came with status 200, in a
// body or in a stream.
func (c *Client) inlineError(data []byte) error {
	return inlineError(c.cfg.Name, data)
}

func inlineError(name string, data []byte) error {
	e := parseError(data)
	kind, ok := codeKind(e.code, e.typ)
	if e.status != 0 {
		kind, ok = statusKind(e.status, e.code, e.typ), true
	}
	if !ok {
		kind = provider.KindOverloaded
	}
	msg := e.message
	if msg == "" {
		msg = "error in stream"
	}
	return &provider.Error{Provider: name, Kind: kind, Status: e.status, Message: bound(msg)}
}

// normFinish maps the finish reasons compatible servers use onto OpenAI's.
func normFinish(s string) string {
	switch s {
	case "stop", "length", "tool_calls", "content_filter":
		return s
	case "function_call", "tool_use":
		return "tool_calls"
	case "max_tokens", "max_length", "model_length":
		return "length"
	case "eos", "eos_token", "end_turn", "stop_sequence":
		return "stop"
	}
	return s
}
