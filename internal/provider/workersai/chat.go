package workersai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	oai "github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/prompt"
)

// maxJSONAnswer bounds a chat answer that comes back as one JSON envelope
// instead of a stream.
const maxJSONAnswer = 8 << 20

// chatInput is the "Messages" input of a text-generation model on the run
// endpoint: messages and tools in the OpenAI shape the newer models take.
// Content is always a string there (the schema requires it).
type chatInput struct {
	Messages    []oai.Message `json:"messages"`
	Stream      bool          `json:"stream"`
	MaxTokens   int           `json:"max_tokens,omitempty"`
	Temperature *float64      `json:"temperature,omitempty"`
	TopP        *float64      `json:"top_p,omitempty"`
	Tools       []oai.Tool    `json:"tools,omitempty"`
}

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
	tools, err := prompt.Tools(req.Tools)
	if err != nil {
		return nil, bad("%v", err)
	}
	in := chatInput{
		Messages:    prompt.Messages(req, prompt.Dialect{NoNullContent: true, ToolName: true}),
		Stream:      true,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Tools:       tools,
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Err: err}
	}
	return b, nil
}
