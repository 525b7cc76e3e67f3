package api

import (
	"encoding/json"
	"time"
)

// Tool describes a tool the caller may invoke: GET /tools lists them.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"` // JSON Schema of the arguments
	Result      json.RawMessage `json:"result"`     // JSON Schema of the result
	Scopes      []string        `json:"scopes"`     // every one is required
	Writes      bool            `json:"writes"`
	TimeoutMS   int64           `json:"timeoutMs"`
}

// ToolList is the data of GET /tools: the tools the caller may use, and the
// same tools in OpenAI's function-calling format, ready for a request's
// "tools".
type ToolList struct {
	Tools  []Tool           `json:"tools"`
	OpenAI []OpenAIFunction `json:"openai"`
}

// OpenAIFunction is a tool in OpenAI's function-calling format.
type OpenAIFunction struct {
	Type     string             `json:"type"` // "function"
	Function OpenAIFunctionSpec `json:"function"`
}

// OpenAIFunctionSpec names a function and the JSON Schema of its arguments.
type OpenAIFunctionSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// ToolInvocation is the body of POST /tools/{name}/invoke.
type ToolInvocation struct {
	Args json.RawMessage `json:"args"`
}

// ToolResult is the data of a successful POST /tools/{name}/invoke.
type ToolResult struct {
	Tool      string          `json:"tool"`
	Result    json.RawMessage `json:"result"`
	LatencyMS float64         `json:"latencyMs"`
}

// AuditRecord is one tool invocation in the audit log.
type AuditRecord struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Tenant     string    `json:"tenant"`
	RequestID  string    `json:"requestId"`
	KeyID      string    `json:"keyId"`
	Tool       string    `json:"tool"`
	ArgsSHA256 string    `json:"argsSha256"`
	Outcome    string    `json:"outcome"`
	ErrorCode  string    `json:"errorCode,omitempty"`
	LatencyMS  float64   `json:"latencyMs"`
	FromModel  bool      `json:"fromModel"`
}

// AuditPage is the data of GET /audit: records newest first, and the
// cursor of the next page when there is one.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	Next    string        `json:"next,omitempty"`
}
