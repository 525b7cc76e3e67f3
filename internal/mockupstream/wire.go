package mockupstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// chatRequest is the body of POST /v1/chat/completions. Every documented
// field is accepted; unknown fields are refused, as OpenAI does.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []message       `json:"messages"`
	Stream              *bool           `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	N                   *int            `json:"n"`
	Stop                json.RawMessage `json:"stop"`
	Tools               []tool          `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	User                string          `json:"user"`
	Seed                *int64          `json:"seed"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	LogitBias           map[string]any  `json:"logit_bias"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	Metadata            json.RawMessage `json:"metadata"`
	Store               *bool           `json:"store"`
	ServiceTier         string          `json:"service_tier"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	Modalities          []string        `json:"modalities"`
	Audio               json.RawMessage `json:"audio"`
	Prediction          json.RawMessage `json:"prediction"`
	WebSearchOptions    json.RawMessage `json:"web_search_options"`
	SafetyIdentifier    string          `json:"safety_identifier"`
	PromptCacheKey      string          `json:"prompt_cache_key"`
	Verbosity           string          `json:"verbosity"`
	Functions           json.RawMessage `json:"functions"`
	FunctionCall        json.RawMessage `json:"function_call"`
}

type streamOptions struct {
	IncludeUsage       bool  `json:"include_usage"`
	IncludeObfuscation *bool `json:"include_obfuscation"`
}

type message struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	Name         string          `json:"name"`
	ToolCalls    []toolCall      `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	Refusal      *string         `json:"refusal"`
	Audio        json.RawMessage `json:"audio"`
	FunctionCall json.RawMessage `json:"function_call"`
}

type toolCall struct {
	Index    *int         `json:"index"`
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function functionCall `json:"function"`
}

type functionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type tool struct {
	Type     string       `json:"type"`
	Function functionSpec `json:"function"`
}

type functionSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// embeddingRequest is the body of POST /v1/embeddings.
type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           string          `json:"user"`
}

// decode decodes body into v strictly, wording errors as OpenAI does.
func decode(body []byte, v any) *badRequest {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		return nil
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return invalid(f, "unknown_parameter", fmt.Sprintf("Unrecognized request argument supplied: %s", f))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalid(te.Field, "invalid_type", fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", te.Field, te.Type, te.Value))
	}
	return invalid("", "", "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.")
}

// contentText returns the text of message content: a string, null, or an array of
// content parts of which only the text ones count.
func contentText(raw json.RawMessage, msgParam string) (string, bool, *badRequest) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", true, nil
	}
	switch raw[0] {
	case '"':
		if s, ok := plainString(raw); ok {
			return s, false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, invalid(msgParam+".content", "invalid_type", fmt.Sprintf("Invalid type for '%s.content': expected a string or an array of content parts.", msgParam))
		}
		return s, false, nil
	case '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", false, invalid(msgParam+".content", "invalid_type", fmt.Sprintf("Invalid type for '%s.content': expected an array of content parts.", msgParam))
		}
		var b strings.Builder
		for i, p := range parts {
			switch p.Type {
			case "text", "refusal":
				b.WriteString(p.Text)
			case "image_url", "input_audio", "file":
			default:
				return "", false, invalid(fmt.Sprintf("%s.content[%d].type", msgParam, i), "invalid_value",
					fmt.Sprintf("Invalid value: '%s'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', and 'file'.", p.Type))
			}
		}
		return b.String(), false, nil
	}
	return "", false, invalid(msgParam+".content", "invalid_type", fmt.Sprintf("Invalid type for '%s.content': expected a string or an array of content parts.", msgParam))
}

// plainString returns the text of a JSON string that has no escapes.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(in), true
}
