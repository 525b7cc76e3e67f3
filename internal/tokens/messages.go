package tokens

import "github.com/crispy-enigma/crispy/internal/provider"

// The chat format's overhead, from OpenAI's cookbook ("How to count tokens
// with tiktoken", num_tokens_from_messages) for gpt-3.5-turbo-0613, gpt-4 and
// later: each message is wrapped as <|start|>{role}<|message|>{content}<|end|>.
const (
	perMessage = 3 // <|start|>, <|message|> and <|end|> around every message
	perName    = 1 // a message with a name
	perReply   = 3 // the reply is primed with <|start|>assistant<|message|>
)

// CountPrompt counts a chat request's messages and passages: what a
// model reads.
func CountPrompt(req *provider.ChatRequest) int {
	n := CountMessages(req.Messages)
	for _, p := range req.Passages {
		n += Count(p.Text)
	}
	return n
}

// roleTokens counts a role; the usual ones are one token each (a test
// keeps this in step with the tokenizer).
func roleTokens(role string) int {
	switch role {
	case provider.RoleSystem, provider.RoleUser, provider.RoleAssistant, provider.RoleTool:
		return 1
	}
	return Count(role)
}

// CountMessages returns the prompt tokens of a chat by OpenAI's documented
// convention: 3 tokens of framing per message, plus the tokens of its role,
// content and name, 1 more for a name, and 3 for priming the reply. Tool
// calls count as the tokens of their ID, name and arguments, and a tool
// message adds its tool_call_id: OpenAI documents no overhead for these, so
// such chats are counted approximately, as are chats for any model that does
// not use cl100k_base and this framing. No messages count 0.
func CountMessages(msgs []provider.Message) int {
	if len(msgs) == 0 {
		return 0
	}
	n := perReply
	for _, m := range msgs {
		n += perMessage + roleTokens(m.Role) + Count(m.Content)
		if m.Name != "" {
			n += perName + Count(m.Name)
		}
		if m.ToolCallID != "" {
			n += Count(m.ToolCallID)
		}
		for _, tc := range m.ToolCalls {
			n += Count(tc.ID) + Count(tc.Name) + Count(tc.Arguments)
		}
	}
	return n
}
