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
	ID string
	// Owner is who created the session, as AppendOptions.Owner said when
	// it was created; "" for a session created without one.
	Owner   string
	Created time.Time
	Updated time.Time
	// LastSeq is the Seq of the newest message.
	LastSeq int64
	// Messages is the number of messages kept.
	Messages int64
}

// AppendOptions are the choices of an AppendMessages call. The zero value
// keeps every message and records no owner and no idempotency record.
type AppendOptions struct {
	// Keep, when > 0, keeps only the newest Keep messages of the session
	// after the append.
	Keep int
	// Owner is recorded as the session's owner when the append creates the
	// session; an append to an existing session leaves its owner alone.
	// At most MaxOwnerBytes bytes.
	Owner string
	// Idempotency, when not nil, is stored in the append's transaction:
	// the messages and the record are committed together or not at all.
	// When its key already holds a record that has not expired, nothing is
	// written and AppendMessages returns ErrConflict.
	Idempotency *IdempotencyRecord
}

// IdempotencyRecord is the result of a write kept under a caller's key, so
// that a retry of the write gets the result instead of writing again.
type IdempotencyRecord struct {
	// Key names the record within its tenant: 1 to MaxKeyBytes bytes. The
	// caller puts in it whatever scopes it (the caller's identity).
	Key string
	// Hash identifies what the write asked, to tell a retry from another
	// request that reuses the key: at most MaxKeyBytes bytes.
	Hash string
	// Result is what the write answered: at most MaxValueBytes bytes.
	Result []byte
	// TTL is how long the record is kept, from the store's clock at the
	// write: more than zero. Idempotency reads do not return it.
	TTL time.Duration
	// Seq is the Seq the append gave the first of its messages, and
	// Expires when the record expires: both set by Idempotency.
	Seq     int64
	Expires time.Time
}

// MaxOwnerBytes is the longest session owner a store keeps.
const MaxOwnerBytes = 256

// Sessions stores chat sessions. Every call is scoped to one tenant: a
// session of another tenant does not exist (ErrNotFound). Serialising the
// writers of one session is the caller's job (the chat service holds one
// writer per session); the store makes each append atomic and durable
// before it returns.
type Sessions interface {
	// AppendMessages appends msgs to the session, creating it (with
	// opts.Owner) when it does not exist, in one transaction: each gets
	// the next Seq and the store's clock as Time. When opts.Keep > 0, only
	// the newest opts.Keep messages are kept afterwards. When
	// opts.Idempotency is set, the record is stored in the same
	// transaction, or, when its key holds an unexpired record already,
	// nothing is written and the error is ErrConflict. It returns msgs
	// with Seq and Time set.
	AppendMessages(ctx context.Context, t tenant.ID, session string, msgs []Message, opts AppendOptions) ([]Message, error)
	// Idempotency returns the unexpired idempotency record of tenant t
	// under key, with Expires set, or ErrNotFound.
	Idempotency(ctx context.Context, t tenant.ID, key string) (IdempotencyRecord, error)
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

// CheckAppend validates the options passed to AppendMessages.
func CheckAppend(opts AppendOptions) error {
	if len(opts.Owner) > MaxOwnerBytes {
		return fmt.Errorf("%w: owner is longer than %d bytes", ErrInvalid, MaxOwnerBytes)
	}
	rec := opts.Idempotency
	if rec == nil {
		return nil
	}
	switch {
	case rec.Key == "":
		return fmt.Errorf("%w: idempotency key is empty", ErrInvalid)
	case len(rec.Key) > MaxKeyBytes:
		return fmt.Errorf("%w: idempotency key is longer than %d bytes", ErrInvalid, MaxKeyBytes)
	case len(rec.Hash) > MaxKeyBytes:
		return fmt.Errorf("%w: idempotency hash is longer than %d bytes", ErrInvalid, MaxKeyBytes)
	case len(rec.Result) > MaxValueBytes:
		return fmt.Errorf("%w: idempotency result is larger than 1 MiB", ErrInvalid)
	case rec.TTL <= 0:
		return fmt.Errorf("%w: idempotency ttl is not positive", ErrInvalid)
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
