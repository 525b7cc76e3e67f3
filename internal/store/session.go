package store

import (
	"context"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Limits on sessions, the same for every backend.
const (
	MaxSessionIDBytes  = 128
	MaxMessageBytes    = 1 << 20
	MaxMessagesPerPage = 1000
)

// Message is one stored message of a chat session.
type Message struct {
	// Seq is the message's position in its session: 1, 2, 3, ... with no
	// gaps, assigned by the store on append. Retention may drop the oldest
	// messages, never renumber the others.
	Seq  int64
	Role string // user, assistant, system or tool
	// Content is the text of the message.
	Content string
	// Incomplete marks an assistant message whose stream ended in error.
	Incomplete bool
	// Model is the provider/model that wrote an assistant message.
	Model string
	// RequestID is the request that wrote the message.
	RequestID string
	// TokensIn and TokensOut are the usage of the model call that wrote an
	// assistant message.
	TokensIn, TokensOut int64
	// Time is when the message was stored, set by the store.
	Time time.Time
}

// SessionInfo describes a session.
type SessionInfo struct {
	ID      string
	Created time.Time
	Updated time.Time
	// LastSeq is the Seq of the newest message.
	LastSeq int64
	// Messages is the number of messages kept.
	Messages int64
}

// Sessions stores chat sessions. Every call is scoped to one tenant: a
// session of another tenant does not exist (ErrNotFound). Serialising the
// writers of one session is the caller's job (the chat service holds one
// writer per session); the store makes each append atomic and durable
// before it returns.
type Sessions interface {
	// AppendMessages appends msgs to the session, creating it when it does
	// not exist, in one transaction: each gets the next Seq and the store's
	// clock as Time. When keep > 0, only the newest keep messages are kept
	// afterwards. It returns msgs with Seq and Time set.
	AppendMessages(ctx context.Context, t tenant.ID, session string, msgs []Message, keep int) ([]Message, error)
	// Session returns a session's description, or ErrNotFound.
	Session(ctx context.Context, t tenant.ID, session string) (SessionInfo, error)
	// Messages returns up to limit messages with Seq > after, oldest first,
	// or ErrNotFound when the session does not exist.
	Messages(ctx context.Context, t tenant.ID, session string, after int64, limit int) ([]Message, error)
	// DeleteSession deletes a session and its messages, or returns
	// ErrNotFound when it does not exist.
	DeleteSession(ctx context.Context, t tenant.ID, session string) error
	// DeleteIdleSessions deletes the tenant's sessions not updated since
	// before, with their messages, and returns how many it deleted.
	DeleteIdleSessions(ctx context.Context, t tenant.ID, before time.Time) (int64, error)
}

// CheckSession validates the tenant and session ID of a Sessions call.
func CheckSession(t tenant.ID, session string) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("%w: tenant id is required", ErrInvalid)
	case session == "":
		return fmt.Errorf("%w: session id is empty", ErrInvalid)
	case len(session) > MaxSessionIDBytes:
		return fmt.Errorf("%w: session id is longer than %d bytes", ErrInvalid, MaxSessionIDBytes)
	}
	return nil
}

// CheckMessages validates messages passed to AppendMessages.
func CheckMessages(msgs []Message) error {
	if len(msgs) == 0 {
		return fmt.Errorf("%w: no messages", ErrInvalid)
	}
	for i, m := range msgs {
		switch m.Role {
		case "user", "assistant", "system", "tool":
		default:
			return fmt.Errorf("%w: message %d: role %q", ErrInvalid, i, m.Role)
		}
		if len(m.Content) > MaxMessageBytes {
			return fmt.Errorf("%w: message %d is larger than 1 MiB", ErrInvalid, i)
		}
	}
	return nil
}
