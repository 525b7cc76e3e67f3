package mockupstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// validateChat checks a request as OpenAI does and returns what the answer
// needs from it.
func (s *Server) validateChat(cr *chatRequest) (*chatInfo, *badRequest) {
	if cr.Model == "" {
		return nil, invalid("", "", "you must provide a model parameter")
	}
	if cr.Messages == nil {
		return nil, invalid("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	if len(cr.Messages) == 0 {
		return nil, invalid("messages", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	info := &chatInfo{model: cr.Model, prompt: 3, stream: cr.Stream != nil && *cr.Stream}
	pending := map[string]bool{} // tool calls awaiting their tool message
	var pendingOrder []string
	for i, m := range cr.Messages {
		if m.Role != "tool" && len(pendingOrder) > 0 {
			return nil, unanswered(pending, pendingOrder)
		}
		param := messageParam(i)
		text, null, e := contentText(m.Content, param)
		if e != nil {
			return nil, e
		}
		switch m.Role {
		case "system", "developer", "user":
			if null {
				return nil, invalid(param+".content", "missing_required_parameter", fmt.Sprintf("Missing required parameter: '%s.content'.", param))
			}
			if m.Role == "user" {
				info.lastUser = text
			}
		case "assistant":
			if null && len(m.ToolCalls) == 0 && m.Refusal == nil {
				return nil, invalid(param+".content", "missing_required_parameter", fmt.Sprintf("Missing required parameter: '%s.content'.", param))
			}
			for j, tc := range m.ToolCalls {
				tp := param + ".tool_calls[" + strconv.Itoa(j) + "]"
				switch {
				case tc.ID == "":
					return nil, invalid(tp+".id", "missing_required_parameter", fmt.Sprintf("Missing required parameter: '%s.id'.", tp))
				case tc.Type != "function":
					return nil, invalid(tp+".type", "invalid_value", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'function'.", tc.Type))
				case tc.Function.Name == "":
					return nil, invalid(tp+".function.name", "missing_required_parameter", fmt.Sprintf("Missing required parameter: '%s.function.name'.", tp))
				}
				if !pending[tc.ID] {
					pending[tc.ID] = true
					pendingOrder = append(pendingOrder, tc.ID)
				}
				info.prompt += countWords(tc.Function.Name) + countWords(tc.Function.Arguments)
			}
		case "tool":
			if m.ToolCallID == "" {
				return nil, invalid(param+".tool_call_id", "missing_required_parameter", fmt.Sprintf("Missing required parameter: '%s.tool_call_id'.", param))
			}
			if !pending[m.ToolCallID] {
				return nil, invalid(param+".role", "", "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.")
			}
			delete(pending, m.ToolCallID)
			pendingOrder = removeString(pendingOrder, m.ToolCallID)
			if null {
				return nil, invalid(param+".content", "missing_required_parameter", fmt.Sprintf("Missing required parameter: '%s.content'.", param))
			}
		case "function":
		default:
			return nil, invalid(param+".role", "invalid_value", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role))
		}
		info.prompt += 3 + countWords(text) + countWords(m.Name)
	}
	if len(pendingOrder) > 0 {
		return nil, unanswered(pending, pendingOrder)
	}
	if cr.StreamOptions != nil {
		if !info.stream {
			return nil, invalid("stream_options", "", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		info.includeUsage = cr.StreamOptions.IncludeUsage
	}
	if e := rangeCheck("temperature", cr.Temperature, 0, 2); e != nil {
		return nil, e
	}
	if e := rangeCheck("top_p", cr.TopP, 0, 1); e != nil {
		return nil, e
	}
	if e := rangeCheck("presence_penalty", cr.PresencePenalty, -2, 2); e != nil {
		return nil, e
	}
	if e := rangeCheck("frequency_penalty", cr.FrequencyPenalty, -2, 2); e != nil {
		return nil, e
	}
	if cr.N != nil && *cr.N != 1 {
		return nil, invalid("n", "unsupported_value", "The mock upstream only supports n=1.")
	}
	for _, lim := range []struct {
		name string
		v    *int
	}{{"max_tokens", cr.MaxTokens}, {"max_completion_tokens", cr.MaxCompletionTokens}} {
		if lim.v == nil {
			continue
		}
		if *lim.v < 1 {
			return nil, invalid(lim.name, "integer_below_min_value", fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", lim.name, *lim.v))
		}
		info.limit = *lim.v
	}
	if e := checkStop(cr.Stop); e != nil {
		return nil, e
	}
	names := map[string]bool{}
	for i, t := range cr.Tools {
		param := fmt.Sprintf("tools[%d]", i)
		switch {
		case t.Type != "function":
			return nil, invalid(param+".type", "invalid_value", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'function' and 'custom'.", t.Type))
		case !toolNameRE.MatchString(t.Function.Name):
			return nil, invalid(param+".function.name", "invalid_value", fmt.Sprintf("Invalid '%s.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters.", param))
		}
		if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
			var obj map[string]json.RawMessage
			if json.Unmarshal(p, &obj) != nil {
				return nil, invalid(param+".function.parameters", "invalid_type", fmt.Sprintf("Invalid type for '%s.function.parameters': expected an object.", param))
			}
		}
		names[t.Function.Name] = true
	}
	if tc := bytes.TrimSpace(cr.ToolChoice); len(tc) > 0 && !bytes.Equal(tc, []byte("null")) {
		if e := checkToolChoice(tc, names, len(cr.Tools) > 0); e != nil {
			return nil, e
		}
	}
	if s.models != nil && !s.models[cr.Model] {
		return nil, &badRequest{status: http.StatusNotFound, code: "model_not_found",
			msg: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", cr.Model)}
	}
	return info, nil
}

// messageParam returns "messages[i]"; the common first few are not built.
func messageParam(i int) string {
	if i < len(messageParams) {
		return messageParams[i]
	}
	return "messages[" + strconv.Itoa(i) + "]"
}

var messageParams = func() []string {
	ps := make([]string, 32)
	for i := range ps {
		ps[i] = "messages[" + strconv.Itoa(i) + "]"
	}
	return ps
}()

func unanswered(pending map[string]bool, order []string) *badRequest {
	return invalid("messages", "", "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: "+strings.Join(order, ", "))
}

func removeString(ss []string, s string) []string {
	for i, x := range ss {
		if x == s {
			return append(ss[:i], ss[i+1:]...)
		}
	}
	return ss
}

func rangeCheck(name string, v *float64, lo, hi float64) *badRequest {
	switch {
	case v == nil:
		return nil
	case *v < lo:
		return invalid(name, "decimal_below_min_value", fmt.Sprintf("Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %g instead.", name, lo, *v))
	case *v > hi:
		return invalid(name, "decimal_above_max_value", fmt.Sprintf("Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %g instead.", name, hi, *v))
	}
	return nil
}

func checkStop(raw json.RawMessage) *badRequest {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return invalid("stop", "invalid_type", "Invalid type for 'stop': expected a string or an array of strings.")
	}
	if len(many) > 4 {
		return invalid("stop", "array_above_max_length", fmt.Sprintf("Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length %d instead.", len(many)))
	}
	return nil
}

func checkToolChoice(raw json.RawMessage, names map[string]bool, haveTools bool) *badRequest {
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "none":
			return nil
		case "auto", "required":
			if !haveTools {
				return invalid("tool_choice", "", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
			}
			return nil
		}
		return invalid("tool_choice", "invalid_value", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", mode))
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" {
		return invalid("tool_choice", "invalid_type", "Invalid type for 'tool_choice': expected one of 'none', 'auto', 'required', or an object naming a function.")
	}
	if !names[named.Function.Name] {
		return invalid("tool_choice", "", fmt.Sprintf("Invalid value for 'tool_choice': function '%s' is not in 'tools'.", named.Function.Name))
	}
	return nil
}
