package openai

import (
	"encoding/json"

	oai "github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/provider"
)

// Requests are encoded from api/openai's types, the ones crispy's own /v1
// decodes (see prompt.Messages and prompt.Tools). Answers are decoded into
// the types below, which stay apart from api/openai's on purpose: those
// describe what crispy sends, while these must read what any compatible
// server sends, which is looser. A chunk or a body may be an error object
// with status 200 (error), an answer may carry a refusal instead of
// content, finish_reason is null until the end, and an embedding arrives
// as raw JSON to be checked before it is decoded. Tool calls and usage
// have one shape both ways and use api/openai's.

// embedRequest is the body of POST /embeddings for req.
func embedRequest(req *provider.EmbedRequest) oai.EmbeddingRequest {
	er := oai.EmbeddingRequest{Model: req.Model, Input: oai.StringList(req.Input), EncodingFormat: "float"}
	if req.Dimensions > 0 {
		er.Dimensions = &req.Dimensions
	}
	return er
}

// chatChunk is one chat.completion.chunk event, or an error object.
type chatChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string        `json:"content"`
			Refusal   *string        `json:"refusal"`
			ToolCalls []oai.ToolCall `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oai.Usage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// chatCompletion is an answer that was not streamed.
type chatCompletion struct {
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content   *string        `json:"content"`
			Refusal   *string        `json:"refusal"`
			ToolCalls []oai.ToolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oai.Usage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// embedResponse is the answer of POST /embeddings.
type embedResponse struct {
	Data []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage *oai.Usage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}
