package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/sse"
	"github.com/crispy-enigma/crispy/internal/tokens"
	"github.com/crispy-enigma/crispy/internal/vecbytes"
)

// openAIErrorTypes maps status codes to OpenAI's error types.
var openAIErrorTypes = map[int]string{
	http.StatusBadRequest:            "invalid_request_error",
	http.StatusUnauthorized:          "authentication_error",
	http.StatusPaymentRequired:       "insufficient_quota",
	http.StatusForbidden:             "permission_error",
	http.StatusNotFound:              "not_found_error",
	http.StatusMethodNotAllowed:      "invalid_request_error",
	http.StatusRequestEntityTooLarge: "invalid_request_error",
	http.StatusUnsupportedMediaType:  "invalid_request_error",
	http.StatusTooManyRequests:       "rate_limit_error",
	// 431 is an invalid request too: the client can shorten it.
	http.StatusRequestHeaderFieldsTooLarge: "invalid_request_error",
}

// openAIError converts an envelope error to OpenAI's error body.
func openAIError(e *api.Error) (int, openai.ErrorResponse) {
	status := statusOf(e.Code)
	typ, ok := openAIErrorTypes[status]
	if !ok {
		typ = "api_error"
	}
	body := openai.ErrorBody{Message: e.Message, Type: typ, Code: string(e.Code)}
	if p, ok := e.Details["path"].(string); ok && p != "/" {
		param := strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", ".")
		body.Param = &param
	}
	return status, openai.ErrorResponse{Error: body}
}

// chatCompletions answers POST /v1/chat/completions through the gateway, in
// OpenAI's wire format, streamed or not.
func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	var req openai.ChatCompletionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	preq, err := chatRequest(&req)
	if err != nil {
		return err
	}
	preq.Buffered = !req.Stream
	if err := s.ground(r, &preq); err != nil {
		return err
	}
	if req.Stream {
		release, err := s.acquireStream(w, r)
		if err != nil {
			return err
		}
		defer release()
	}
	call := gateway.Call{Caller: Caller(r), Route: gateway.RouteCompletions, Model: req.Model, Cache: true}
	st, err := s.completion(r, call, &req, preq)
	if err != nil {
		return err
	}
	defer st.Close()
	cmplID := "chatcmpl-" + randomHex(12)
	created := time.Now().Unix()
	if req.Stream {
		return streamCompletion(w, st, cmplID, created, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
	}

	var text strings.Builder
	var calls []openai.ToolCall
	for {
		d, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		text.WriteString(d.Text)
		calls = append(calls, toolCalls(d.ToolCalls, false)...)
	}
	u := st.Usage()
	content := text.String()
	msg := openai.ResponseMessage{Role: "assistant", Content: &content, ToolCalls: calls}
	if len(calls) > 0 && content == "" {
		msg.Content = nil
	}
	return writeJSON(w, http.StatusOK, openai.ChatCompletion{
		ID: cmplID, Object: "chat.completion", Created: created, Model: st.Model(),
		Choices: []openai.Choice{{Index: 0, Message: msg, FinishReason: finishReason(st.FinishReason()), Logprobs: json.RawMessage("null")}},
		Usage:   &openai.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.Total()},
	})
}

// ground gives a completion request the knowledge-base passages of its
// last user message, for tenants with rag.groundCompletions on: the model
// gets them as numbered sources, as POST /chat does, and cites them as
// [n]. A request with tools, or without a user message, is not grounded.
func (s *Server) ground(r *http.Request, preq *provider.ChatRequest) error {
	c := Caller(r)
	cfg := c.Tenant.Config.RAG
	if !cfg.Enabled || !cfg.GroundCompletions || s.opts.RAG == nil || len(preq.Tools) > 0 {
		return nil
	}
	question := ""
	for i := len(preq.Messages) - 1; i >= 0; i-- {
		if preq.Messages[i].Role == "user" {
			question = preq.Messages[i].Content
			break
		}
	}
	if strings.TrimSpace(question) == "" {
		return nil
	}
	grounding, err := s.opts.RAG.Context(r.Context(), c, question, nil)
	if err != nil {
		return err
	}
	preq.Passages, preq.SourcesPrompt = grounding.Passages, grounding.Prompt
	return nil
}

// completionStream is an answer as the completion routes read it:
// *gateway.Stream, or *tools.Turn when server-side tools run.
type completionStream interface {
	Recv() (provider.Delta, error)
	Close() error
	Model() string
	FinishReason() string
	Usage() provider.Usage
}

// completion calls the model. A request that brings its own tools gets
// the model's tool calls back, as OpenAI's API does: the client runs them.
// For a tenant that enables tools, a request without tools (and without
// "tool_choice": "none") runs the server's tools the caller may use,
// through the dispatcher, and gets the final answer; the tool rounds are
// not shown, and the answer is not cached.
func (s *Server) completion(r *http.Request, call gateway.Call, req *openai.ChatCompletionRequest, preq provider.ChatRequest) (completionStream, error) {
	if s.opts.Tools == nil || len(call.Tenant.Config.Tools.Enabled) == 0 || len(req.Tools) > 0 || strings.TrimSpace(string(req.ToolChoice)) == `"none"` {
		return s.opts.Gateway.Chat(r.Context(), call, preq)
	}
	call.Cache = false // tool results may change from one call to the next
	turn, err := s.opts.Tools.Turn(r.Context(), Caller(r), preq, call.Tenant.Config.Tools.MaxRounds, func(ctx context.Context, p provider.ChatRequest) (*gateway.Stream, error) {
		return s.opts.Gateway.Chat(ctx, call, p)
	})
	if err != nil {
		return nil, err
	}
	return turn, nil
}

// streamCompletion writes the answer as chat.completion.chunk events. An
// upstream failure after the first chunk is sent as an error event, without
// [DONE], so that SDKs raise instead of returning a truncated answer.
func streamCompletion(w http.ResponseWriter, st completionStream, id string, created int64, includeUsage bool) error {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	model := st.Model()
	send := func(choices []openai.ChunkChoice, usage *openai.Usage, flush bool) error {
		b, err := json.Marshal(openai.ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, Choices: choices, Usage: usage})
		if err != nil {
			return err
		}
		if err := sse.Write(w, sse.Event{Data: b}); err != nil {
			return err
		}
		if !flush {
			return nil
		}
		return rc.Flush()
	}
	chunk := func(choices []openai.ChunkChoice, usage *openai.Usage) error { return send(choices, usage, true) }
	null := json.RawMessage("null")
	empty := ""
	// Gateway.Chat returns once the model's first output is at hand, so
	// the head and the role chunk go out with the first content, in one
	// write. A tool turn may run tools before its first text: its head
	// goes out at once.
	_, firstAtHand := st.(*gateway.Stream)
	if err := send([]openai.ChunkChoice{{Delta: openai.Delta{Role: "assistant", Content: &empty}, Logprobs: null}}, nil, !firstAtHand); err != nil {
		return nil // the client went away; Close bills what was generated
	}
	for {
		d, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			_, body := openAIError(api.AsError(err))
			b, _ := json.Marshal(body)
			_ = sse.Write(w, sse.Event{Data: b})
			_ = rc.Flush()
			return nil
		}
		if d.Text == "" && len(d.ToolCalls) == 0 {
			continue
		}
		delta := openai.Delta{ToolCalls: toolCalls(d.ToolCalls, true)}
		if d.Text != "" {
			text := d.Text
			delta.Content = &text
		}
		if err := chunk([]openai.ChunkChoice{{Delta: delta, Logprobs: null}}, nil); err != nil {
			return nil
		}
	}
	reason := finishReason(st.FinishReason())
	if err := chunk([]openai.ChunkChoice{{Delta: openai.Delta{}, FinishReason: &reason, Logprobs: null}}, nil); err != nil {
		return nil
	}
	if includeUsage {
		u := st.Usage()
		if err := chunk([]openai.ChunkChoice{}, &openai.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.Total()}); err != nil {
			return nil
		}
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
	return nil
}

// chatRequest converts and checks an OpenAI request.
func chatRequest(req *openai.ChatCompletionRequest) (provider.ChatRequest, error) {
	bad := func(path, format string, args ...any) error {
		return api.Errorf(api.CodeInvalidRequest, format, args...).WithDetails(map[string]any{"path": path})
	}
	var out provider.ChatRequest
	if req.Model == "" {
		return out, bad("/model", "model is required")
	}
	if len(req.Messages) == 0 {
		return out, bad("/messages", "messages must not be empty")
	}
	if req.N != nil && *req.N != 1 {
		return out, bad("/n", "only n=1 is supported")
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer":
			m.Role = provider.RoleSystem
		case provider.RoleUser, provider.RoleAssistant, provider.RoleTool:
		default:
			return out, bad("/messages/"+strconv.Itoa(i)+"/role", "role %q is not one of system, developer, user, assistant, tool", m.Role)
		}
		pm := provider.Message{Role: m.Role, Content: m.Content.Text, Name: m.Name, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			pm.ToolCalls = append(pm.ToolCalls, provider.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		out.Messages = append(out.Messages, pm)
	}
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function.Name == "" {
			return out, bad("/tools/"+strconv.Itoa(i), "tools must be functions with a name")
		}
		out.Tools = append(out.Tools, provider.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	switch {
	case req.MaxCompletionTokens != nil:
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		out.MaxTokens = *req.MaxTokens
	}
	if out.MaxTokens < 0 || (out.MaxTokens == 0 && (req.MaxTokens != nil || req.MaxCompletionTokens != nil)) {
		return out, bad("/max_tokens", "max_tokens must be at least 1")
	}
	out.Temperature, out.TopP, out.Stop = req.Temperature, req.TopP, req.Stop
	return out, nil
}

func toolCalls(calls []provider.ToolCall, indexed bool) []openai.ToolCall {
	var out []openai.ToolCall
	for i, c := range calls {
		tc := openai.ToolCall{ID: c.ID, Type: "function", Function: openai.FunctionCall{Name: c.Name, Arguments: c.Arguments}}
		if indexed {
			tc.Index = &i
		}
		out = append(out, tc)
	}
	return out
}

func finishReason(r string) string {
	if r == "" {
		return "stop"
	}
	return r
}

// embeddings answers POST /v1/embeddings through the gateway.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) error {
	var req openai.EmbeddingRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	bad := func(path, format string, args ...any) error {
		return api.Errorf(api.CodeInvalidRequest, format, args...).WithDetails(map[string]any{"path": path})
	}
	switch {
	case req.Model == "":
		return bad("/model", "model is required")
	case len(req.Input) == 0:
		return bad("/input", "input must not be empty")
	case len(req.Input) > 2048:
		return bad("/input", "at most 2048 inputs per request")
	case req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64":
		return bad("/encoding_format", "encoding_format must be float or base64")
	}
	for i, in := range req.Input {
		if in == "" {
			return bad("/input/"+strconv.Itoa(i), "input must not be an empty string")
		}
	}
	preq := provider.EmbedRequest{Input: req.Input}
	if req.Dimensions != nil {
		preq.Dimensions = *req.Dimensions
	}
	res, err := s.opts.Gateway.Embed(r.Context(), gateway.Call{Caller: Caller(r), Route: gateway.RouteEmbedding, Model: req.Model}, preq)
	if err != nil {
		return err
	}
	// The usage shown is the tokens the input has, as OpenAI counts them,
	// whether the provider or the cache answered: the same request reports
	// the same usage every time. What the call cost (nothing on a cache
	// hit, the provider's own count otherwise) is in the usage ledger.
	n := 0
	for _, in := range req.Input {
		n += tokens.Count(in)
	}
	out := openai.EmbeddingList{Object: "list", Model: res.Model, Usage: openai.Usage{PromptTokens: n, TotalTokens: n}}
	for i, v := range res.Vectors {
		e := openai.Embedding{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			e.Embedding = base64.StdEncoding.EncodeToString(vecbytes.Append(nil, v))
		}
		out.Data = append(out.Data, e)
	}
	return writeJSON(w, http.StatusOK, out)
}

// models answers GET /v1/models with the models the caller may name.
func (s *Server) models(w http.ResponseWriter, r *http.Request) error {
	list := openai.ModelList{Object: "list", Data: []openai.Model{}}
	for _, ref := range s.modelRefs(r) {
		list.Data = append(list.Data, openai.Model{ID: ref, Object: "model", OwnedBy: strings.SplitN(ref, "/", 2)[0]})
	}
	return writeJSON(w, http.StatusOK, list)
}

// model answers GET /v1/models/{model...}.
func (s *Server) model(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("model")
	for _, ref := range s.modelRefs(r) {
		if ref == name {
			return writeJSON(w, http.StatusOK, openai.Model{ID: ref, Object: "model", OwnedBy: strings.SplitN(ref, "/", 2)[0]})
		}
	}
	return api.Errorf(api.CodeNotFound, "model %q is not available to this tenant", name)
}

func (s *Server) modelRefs(r *http.Request) []string {
	cfg := Caller(r).Tenant.Config
	refs := gateway.AllowedModels(cfg, gateway.RouteCompletions)
	if emb := gateway.PrimaryModel(cfg, gateway.RouteEmbedding); !slices.Contains(refs, emb) {
		refs = append(refs, emb)
	}
	return refs
}

// writeJSON writes v as a plain JSON body (the OpenAI routes do not use the envelope).
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return api.Internal(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
