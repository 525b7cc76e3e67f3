package api

import "time"

// SessionTokenHeader is the header that carries a session token: sent by
// the server when an anonymous caller starts a session on a public chat
// host, and by that caller with every later turn, history read and delete
// of the session.
const SessionTokenHeader = "X-Session-Token"

// ChatRequest is the body of POST /chat.
type ChatRequest struct {
	// SessionID continues a session; absent starts a new one.
	SessionID string `json:"sessionId,omitempty"`
	Message   string `json:"message"`
	// Model names a model the tenant allows; absent uses the chat route's.
	Model string `json:"model,omitempty"`
	// Stream answers over SSE (the default) or, when false, as one envelope.
	Stream *bool `json:"stream,omitempty"`
	// System is a system prompt for this turn only.
	System string `json:"system,omitempty"`
}

// Usage is what a model call used, in tokens.
type Usage struct {
	PromptTokens     int `json:"promptTokens"`
	CompletionTokens int `json:"completionTokens"`
	TotalTokens      int `json:"totalTokens"`
	// Estimated is set when the provider reported no usage and the figures
	// were counted with a tokenizer.
	Estimated bool `json:"estimated,omitempty"`
}

// ChatResult is the answer to POST /chat: the data of the envelope, or of
// the SSE done event (which has no text: the tokens carried it).
type ChatResult struct {
	SessionID string `json:"sessionId"`
	// SessionToken is set when an anonymous caller started the session:
	// the secret, given once, that must accompany every later request on
	// the session (in the X-Session-Token header).
	SessionToken string `json:"sessionToken,omitempty"`
	Model        string `json:"model"`
	Text         string `json:"text,omitempty"`
	FinishReason string `json:"finishReason,omitempty"`
	Usage        Usage  `json:"usage"`
	// UserSeq and AssistantSeq are the turn's two messages in the session.
	UserSeq      int64 `json:"userSeq"`
	AssistantSeq int64 `json:"assistantSeq"`
	// Sources are the knowledge-base passages the answer cites, when the
	// tenant answers chat from its knowledge base.
	Sources []Source `json:"sources,omitempty"`
	// DroppedCitations are [n] in the answer that map to no passage
	// retrieved for this turn: they point nowhere and are not sources.
	DroppedCitations []int `json:"droppedCitations,omitempty"`
	// Replayed is set when an Idempotency-Key retry got the stored result.
	Replayed bool   `json:"replayed,omitempty"`
	TraceID  string `json:"traceId"`
}

// ChatToken is the data of an SSE token event.
type ChatToken struct {
	Text string `json:"text"`
}

// ChatMessage is one message of a session's history.
type ChatMessage struct {
	Seq        int64     `json:"seq"`
	Role       string    `json:"role"`
	Content    string    `json:"content"`
	Incomplete bool      `json:"incomplete,omitempty"`
	Model      string    `json:"model,omitempty"`
	Time       time.Time `json:"time"`
}

// ChatHistory is a page of GET /chat/{sessionId}/history.
type ChatHistory struct {
	SessionID string        `json:"sessionId"`
	Messages  []ChatMessage `json:"messages"`
	// Next is the "after" of the next page; absent on the last page.
	Next *int64 `json:"next,omitempty"`
}

// Source is a knowledge-base passage an answer cites as [N].
type Source struct {
	N       int     `json:"n"`
	DocID   string  `json:"docId"`
	ChunkID string  `json:"chunkId"`
	Title   string  `json:"title,omitempty"`
	URL     string  `json:"url,omitempty"`
	Snippet string  `json:"snippet"`
	Score   float64 `json:"score"`
}
