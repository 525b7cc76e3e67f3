// Package prompt builds what a remote chat model is sent: the conversation,
// the retrieved passages it must answer from, and the tools it may call,
// in the OpenAI chat shape of api/openai that both remote adapters speak
// (OpenAI-compatible endpoints and Workers AI's run endpoint). It is not an
// adapter: adapters import it, so that they cannot drift apart.
package prompt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/provider"
)

// emptySchema is sent for a tool without parameters: some servers require
// "parameters" with "type" and "properties".
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// Header is the instruction Sources puts before the passages.
const Header = "Answer from the sources below and cite them by number, like [1]."

// Number is how the passage at index i (from 0) of a request is cited:
// i+1. The gateway's callers number passages so (rag.Service.Frame sets
// Passage.N to it), and the citation code reads an answer's [n] as the
// source at index n-1 (rag.Citations, search's citation filter), so the
// model must see the same numbers whatever Passage.N says.
func Number(i int) int { return i + 1 }

// Sources renders passages as numbered sources for a model that was given
// no SourcesPrompt: Header, then each passage as "[n] title" and its text.
func Sources(passages []provider.Passage) string {
	var b strings.Builder
	b.WriteString(Header)
	b.WriteString("\n")
	for i, p := range passages {
		b.WriteString("\n[")
		b.WriteString(strconv.Itoa(Number(i)))
		b.WriteString("]")
		if t := strings.TrimSpace(p.Title); t != "" {
			b.WriteString(" ")
			b.WriteString(t)
		}
		b.WriteString("\n")
		b.WriteString(strings.TrimSpace(p.Text))
		b.WriteString("\n")
	}
	return b.String()
}

// Dialect says how an endpoint wants what differs between the APIs that
// take OpenAI-shaped messages. Its zero value is OpenAI's.
type Dialect struct {
	// NoNullContent sends an assistant's tool calls without text with ""
	// for content (Workers AI's schema requires a string), not null.
	NoNullContent bool
	// ToolName keeps the name of a tool message (Workers AI's models read
	// which tool answered); OpenAI's tool messages have no name.
	ToolName bool
}

// Messages converts the conversation of req and puts its passages into the
// system prompt: into the first system message if the conversation starts
// with one (some chat templates read only that), else as a new one. The
// passages are req.SourcesPrompt when set, else Sources(req.Passages).
func Messages(req *provider.ChatRequest, d Dialect) []openai.Message {
	out := make([]openai.Message, 0, len(req.Messages)+1)
	for _, m := range req.Messages {
		om := openai.Message{Role: m.Role, Content: openai.Content{Text: m.Content}, ToolCallID: m.ToolCallID}
		if m.Role != provider.RoleTool || d.ToolName {
			om.Name = m.Name
		}
		if m.Content == "" && len(m.ToolCalls) > 0 && !d.NoNullContent {
			om.Content.Null = true
		}
		for _, tc := range m.ToolCalls {
			om.ToolCalls = append(om.ToolCalls, openai.ToolCall{ID: tc.ID, Type: "function", Function: openai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
		}
		out = append(out, om)
	}
	if len(req.Passages) == 0 {
		return out
	}
	sources := req.SourcesPrompt
	if sources == "" {
		sources = Sources(req.Passages)
	}
	if len(out) > 0 && out[0].Role == provider.RoleSystem && !out[0].Content.Null {
		out[0].Content.Text = strings.TrimRight(out[0].Content.Text, "\n") + "\n\n" + sources
		return out
	}
	return append([]openai.Message{{Role: provider.RoleSystem, Content: openai.Content{Text: sources}}}, out...)
}

// Tools converts the tools of a request to function tools, or says which
// one is wrong: a tool without a name, or parameters that are not JSON.
func Tools(tools []provider.Tool) ([]openai.Tool, error) {
	var out []openai.Tool
	for _, t := range tools {
		if t.Name == "" {
			return nil, fmt.Errorf("a tool has no name")
		}
		params := emptySchema
		if p := bytes.TrimSpace(t.Parameters); len(p) > 0 {
			if !json.Valid(p) {
				return nil, fmt.Errorf("tool %q: parameters are not valid JSON", t.Name)
			}
			params = json.RawMessage(p)
		}
		out = append(out, openai.Tool{Type: "function", Function: openai.FunctionSpec{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	return out, nil
}
