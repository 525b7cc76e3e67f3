package workersai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// maxJSONAnswer bounds a chat answer that comes back as one JSON envelope
// instead of a stream.
const maxJSONAnswer = 8 << 20

// chatInput is the "Messages" input of a text-generation model on the run
// endpoint.
type chatInput struct {
	Messages    []chatMessage `json:"messages"`
	Stream      bool          `json:"stream"`
	MaxTokens   int           `json:"max_tokens,omitempty"`
	Temperature *float64      `json:"temperature,omitempty"`
	TopP        *float64      `json:"top_p,omitempty"`
	Tools       []chatTool    `json:"tools,omitempty"`
}

// chatMessage is one message; content is always a string (the schema
// requires it), tool fields follow the OpenAI shape the newer models take.
type chatMessage struct {
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	Name       string         `json:"name,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatTool struct {
	Type     string       `json:"type"`
	Function chatToolSpec `json:"function"`
}

type chatToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// emptySchema stands in for a tool without parameters: the schema requires
// "parameters" with "type" and "properties".
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// Chat starts a streamed answer. It returns once the upstream has accepted
// the request; failures before that are *provider.Error.
func (c *Client) Chat(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	body, err := c.chatBody(req)
	if err != nil {
		return nil, err
	}
	k := c.newCall(ctx)
	hreq, err := c.newRequest(k.ctx, req.Model, body, "text/event-stream", req.Meta)
	if err != nil {
		k.release()
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Err: err}
	}
	resp, err := c.send(k, hreq)
	if err != nil {
		k.release()
		return nil, err
	}
	info := gatewayInfoOf(resp.Header)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.refused(k, resp)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "application/json":
		defer k.release()
		defer resp.Body.Close()
		return c.jsonAnswer(k, resp, info)
	case mt == "text/event-stream" || mt == "":
		k.timer.Stop() // from here on, Recv arms it for each event
		return newStream(c, k, resp.Body, info), nil
	default:
		k.release()
		resp.Body.Close()
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindProtocol, Status: resp.StatusCode,
			Message: fmt.Sprintf("unexpected content type %q for a chat answer", mt)}
	}
}

// jsonAnswer handles an upstream that ignored "stream" and answered with
// the envelope: the whole answer becomes one delta.
func (c *Client) jsonAnswer(k *call, resp *http.Response, info gatewayInfo) (provider.Stream, error) {
	b, err := readBody(resp.Body, maxJSONAnswer)
	if err != nil {
		if k.parent.Err() != nil || k.timedOut.Load() {
			return nil, c.transportError(k, err)
		}
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindProtocol, Status: resp.StatusCode, Err: err}
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindProtocol, Status: resp.StatusCode,
			Message: "malformed JSON envelope", Err: err}
	}
	if env.failed() {
		return nil, c.classify(resp.StatusCode, resp.Header, b)
	}
	d := newDecoder(c.cfg.Name, nil)
	var text string
	if res := bytes.TrimSpace(env.Result); len(res) > 0 && !bytes.Equal(res, []byte("null")) {
		if text, err = d.chunk(res); err != nil {
			return nil, err
		}
	}
	final := d.finalDelta()
	final.Text = text
	return &Stream{c: c, k: k, info: info, pending: []provider.Delta{final}}, nil
}

// chatBody validates req and encodes the run endpoint's input.
func (c *Client) chatBody(req *provider.ChatRequest) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Message: fmt.Sprintf(format, args...)}
	}
	if req == nil {
		return nil, bad("no chat request")
	}
	if err := checkModel(req.Model); err != nil {
		return nil, bad("%v", err)
	}
	if len(req.Messages) == 0 {
		return nil, bad("no messages")
	}
	if req.MaxTokens < 0 {
		return nil, bad("max tokens %d is negative", req.MaxTokens)
	}
	in := chatInput{
		Messages:    toMessages(req.Messages, req.Passages, req.SourcesPrompt),
		Stream:      true,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		TopP:        req.TopP,
	}
	for _, t := range req.Tools {
		if t.Name == "" {
			return nil, bad("a tool has no name")
		}
		params := emptySchema
		if p := bytes.TrimSpace(t.Parameters); len(p) > 0 {
			if !json.Valid(p) {
				return nil, bad("tool %q: parameters are not valid JSON", t.Name)
			}
			params = json.RawMessage(p)
		}
		in.Tools = append(in.Tools, chatTool{Type: "function", Function: chatToolSpec{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Err: err}
	}
	return b, nil
}

// toMessages converts the conversation and puts passages into the system
// prompt: into the first system message if the conversation starts with
// one (some chat templates read only that), else as a new one.
func toMessages(msgs []provider.Message, passages []provider.Passage, sourcesPrompt string) []chatMessage {
	out := make([]chatMessage, 0, len(msgs)+1)
	for _, m := range msgs {
		cm := chatMessage{Role: m.Role, Content: m.Content, Name: m.Name, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			cm.ToolCalls = append(cm.ToolCalls, chatToolCall{ID: tc.ID, Type: "function", Function: chatFunction{Name: tc.Name, Arguments: tc.Arguments}})
		}
		out = append(out, cm)
	}
	if len(passages) == 0 {
		return out
	}
	sources := sourcesPrompt
	if sources == "" {
		sources = renderPassages(passages)
	}
	if len(out) > 0 && out[0].Role == provider.RoleSystem {
		out[0].Content = strings.TrimRight(out[0].Content, "\n") + "\n\n" + sources
		return out
	}
	return append([]chatMessage{{Role: provider.RoleSystem, Content: sources}}, out...)
}

// renderPassages writes passages as numbered sources.
func renderPassages(passages []provider.Passage) string {
	var b strings.Builder
	b.WriteString("Answer from the sources below and cite them by number, like [1].\n")
	for _, p := range passages {
		b.WriteString("\n[")
		b.WriteString(strconv.Itoa(p.N))
		b.WriteString("]")
		if p.Title != "" {
			b.WriteString(" ")
			b.WriteString(p.Title)
		}
		b.WriteString("\n")
		b.WriteString(strings.TrimSpace(p.Text))
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
