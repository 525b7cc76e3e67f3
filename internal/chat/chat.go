// Package chat is the chat service: one user turn in, a streamed answer
// out, the conversation kept in a session that belongs to one tenant.
//
// A turn runs under its session's lock, so concurrent sends to one session
// are serialised and the history is in the order turns complete. The user
// message and the answer are committed together, in one transaction, once
// the answer has ended; only then is the turn acknowledged (the done event,
// or the JSON response). A turn whose stream broke is stored with its
// partial answer marked incomplete.
//
// A session belongs to whoever created it: the API key, or, for an
// anonymous caller of a public chat host, whoever holds the session token
// issued with it (only the token's hash is stored). Anyone else is told the
// session does not exist. A turn sent with an Idempotency-Key stores its
// result in the turn's own transaction, scoped to the caller, so that a
// retry, even after a crash, gets the result instead of running the turn
// twice.
package chat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
	"github.com/crispy-enigma/crispy/internal/tools"
)

const (
	// IdempotencyTTL is how long a turn's result is kept for a retry with
	// the same Idempotency-Key.
	IdempotencyTTL = 24 * time.Hour
	// MaxIdempotencyKey is the longest Idempotency-Key accepted.
	MaxIdempotencyKey = 255
	// historyLoad is how many of the newest messages are read to build the
	// prompt; the context window usually trims them further.
	historyLoad = store.MaxMessagesPerPage
	// messageOverhead is the tokens a chat format adds per message.
	messageOverhead = 4
)

var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Service runs chat turns.
type Service struct {
	gw       *gateway.Gateway
	sessions store.Sessions
	log      *slog.Logger

	// RAG, when set, grounds the turns of tenants whose rag.enabled is on
	// in their knowledge base.
	RAG *rag.Service
	// Tools, when set, runs the tool calls the model makes, as the caller
	// and within the caller's permissions (see tools.Turn).
	Tools *tools.Dispatcher
	// Locker, when set, extends the one-writer-per-session rule (and the
	// wait of an idempotent retry for its first attempt) to every process
	// that shares the store.
	Locker SessionLocker

	sessionLocks locks
	idemLocks    locks
}

// New returns a Service. Sessions keeps the sessions and the idempotency
// records of turns.
func New(gw *gateway.Gateway, sessions store.Sessions, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{gw: gw, sessions: sessions, log: log}
}

// Caller is who acts on a session: a key of the tenant, or an anonymous
// caller of a public chat host with the session token it holds, if any.
type Caller struct {
	tenant.Caller
	// SessionToken is the token an anonymous caller presents; keys need
	// none.
	SessionToken string
}

// Request is one user turn.
type Request struct {
	// Caller is who sends the turn.
	tenant.Caller
	// SessionToken is the token of the session an anonymous caller
	// continues (see Caller).
	SessionToken string
	// SessionID continues a session of the tenant; "" starts a new one.
	SessionID string
	Message   string
	// Model names a model the tenant allows; "" for the chat route's.
	Model string
	// System is a system prompt for this turn; it is not stored.
	System string
	// IdempotencyKey makes a retried turn return the first one's result.
	IdempotencyKey string
	// Buffered says the caller takes the answer whole (no stream).
	Buffered bool
}

// Result is a finished turn.
type Result struct {
	SessionID string `json:"sessionId"`
	// SessionToken is issued when an anonymous caller starts a session:
	// the one time it is shown. It is never stored, not even in an
	// idempotency record.
	SessionToken string         `json:"-"`
	Model        string         `json:"model"`
	Text         string         `json:"text"`
	Incomplete   bool           `json:"incomplete,omitempty"`
	FinishReason string         `json:"finishReason,omitempty"`
	Usage        provider.Usage `json:"usage"`
	// UserSeq and AssistantSeq are the turn's messages in the session.
	UserSeq      int64 `json:"userSeq"`
	AssistantSeq int64 `json:"assistantSeq"`
	// Sources are the knowledge-base passages the answer cites; Dropped
	// the [n] that map to no passage of this turn.
	Sources []api.Source `json:"sources,omitempty"`
	Dropped []int        `json:"dropped,omitempty"`
	// Replayed is set when the result is a stored one, returned for a
	// retried Idempotency-Key.
	Replayed bool `json:"replayed,omitempty"`
}

// Sink receives a turn as it happens.
type Sink interface {
	// Started is called once the turn has passed every check and the model
	// is about to be called: errors after it are the model's.
	Started()
	// Token receives a piece of the answer. An error (the client went
	// away) stops the turn, which is then stored as incomplete.
	Token(text string) error
}

// Send runs one turn. It returns the result once the turn is committed. An
// error before Sink.Started is the caller's (invalid input, unknown session,
// budget); after it, the result is returned with the error when the answer
// broke after it began (Incomplete, and stored as such).
//
// With an Idempotency-Key, the result is stored with the turn, in its
// transaction, for IdempotencyTTL; a retry with the same key and request
// gets it back (Replayed) and appends nothing, and one with another request
// is a conflict. The key is scoped to the caller: its API key, or for an
// anonymous caller the session token, so an anonymous caller may send one
// only on a turn of an existing session, with its token.
func (s *Service) Send(ctx context.Context, req Request, sink Sink) (*Result, error) {
	if err := s.validate(req); err != nil {
		return nil, err
	}
	if req.IdempotencyKey == "" {
		return s.send(ctx, req, sink, nil)
	}
	if req.Key == nil && (req.SessionID == "" || req.SessionToken == "") {
		return nil, api.Errorf(api.CodeInvalidRequest, "an anonymous Idempotency-Key is scoped to a session: send it only to continue a session, with the session's %s header", api.SessionTokenHeader)
	}

	// A retry waits for the first attempt to end, then gets its result.
	ikey := "chat:" + owner(req.caller()) + ":" + req.IdempotencyKey
	unlock := s.idemLocks.lock(req.Tenant.ID.String() + "\x00" + ikey)
	defer unlock()
	release, err := s.lockAcross(ctx, req.Tenant.ID, idemLease(ikey))
	if err != nil {
		return nil, err
	}
	defer release()
	hash := requestHash(req)
	if res, err := s.replay(ctx, req, ikey, hash); res != nil || err != nil {
		if err == nil {
			sink.Started()
			_ = sink.Token(res.Text)
		}
		return res, err
	}
	res, err := s.send(ctx, req, sink, &store.IdempotencyRecord{Key: ikey, Hash: hash, TTL: IdempotencyTTL})
	if errors.Is(err, store.ErrConflict) {
		// Another process committed a turn with this key while this one
		// ran: this turn was not stored, and a retry gets that one.
		return nil, api.Errorf(api.CodeConflict, "Idempotency-Key %q was used by a request that finished first; send the request again to get its result", req.IdempotencyKey)
	}
	return res, err
}

// replay returns the stored result of the turn with the idempotency key
// ikey, nil when there is none, or a conflict when the key was used for
// another request.
func (s *Service) replay(ctx context.Context, req Request, ikey, hash string) (*Result, error) {
	rec, err := s.sessions.Idempotency(ctx, req.Tenant.ID, ikey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, api.Internal(err)
	case rec.Hash != hash:
		return nil, api.Errorf(api.CodeConflict, "Idempotency-Key %q was already used for a different request", req.IdempotencyKey)
	}
	var res Result
	if err := json.Unmarshal(rec.Result, &res); err != nil {
		return nil, api.Internal(fmt.Errorf("idempotency record: %w", err))
	}
	res.UserSeq, res.AssistantSeq = rec.Seq, rec.Seq+1
	res.Replayed = true
	return &res, nil
}

func (r Request) caller() Caller {
	return Caller{Caller: r.Caller, SessionToken: r.SessionToken}
}

// send runs a turn; idem, when not nil, is stored with it, with the
// result, unless the turn broke.
func (s *Service) send(ctx context.Context, req Request, sink Sink, idem *store.IdempotencyRecord) (*Result, error) {
	tid := req.Tenant.ID
	caller := req.caller()
	sessionID, token := req.SessionID, ""
	if sessionID == "" {
		sessionID = newSessionID()
		if req.Key == nil {
			token = newSessionToken()
			caller.SessionToken = token
		}
	}
	unlock := s.sessionLocks.lock(tid.String() + "\x00" + sessionID)
	defer unlock()

	var history []store.Message
	if req.SessionID != "" {
		release, err := s.lockAcross(ctx, tid, sessionID)
		if err != nil {
			return nil, err
		}
		defer release()
		info, err := s.session(ctx, caller, sessionID, false)
		if err != nil {
			return nil, err
		}
		history, err = s.sessions.Messages(ctx, tid, sessionID, max(0, info.LastSeq-historyLoad), historyLoad)
		if err != nil {
			return nil, api.Internal(err)
		}
	}

	cfg := req.Tenant.Config
	window, err := gateway.ContextWindow(cfg, gateway.RouteChat, req.Model)
	if err != nil {
		return nil, err
	}
	maxOut := min(cfg.Limits.MaxOutputTokens, window/4)
	msgs, err := prompt(req.System, history, req.Message, window-maxOut)
	if err != nil {
		return nil, err
	}

	creq := provider.ChatRequest{Messages: msgs, MaxTokens: maxOut, Buffered: req.Buffered}
	var grounding *rag.Context
	if cfg.RAG.Enabled && s.RAG != nil {
		grounding, err = s.RAG.Context(ctx, req.Caller, req.Message, nil)
		if err != nil {
			return nil, err
		}
		creq.Passages, creq.SourcesPrompt = grounding.Passages, grounding.Prompt
	}
	call := gateway.Call{Caller: req.Caller, Route: gateway.RouteChat, Model: req.Model, OnStart: sink.Started}
	st, err := s.answer(ctx, req, call, creq)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	var text strings.Builder
	var streamErr error
	for {
		d, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			streamErr = err
			break
		}
		if d.Text == "" {
			continue
		}
		text.WriteString(d.Text)
		if err := sink.Token(d.Text); err != nil {
			streamErr = api.Errorf(api.CodeUnavailable, "the client went away")
			break
		}
	}
	st.Close() // settles the bill before the usage is read
	res := &Result{
		SessionID:    sessionID,
		SessionToken: token,
		Model:        st.Model(),
		Text:         text.String(),
		Incomplete:   streamErr != nil,
		FinishReason: st.FinishReason(),
		Usage:        st.Usage(),
	}
	if grounding != nil {
		res.Sources, res.Dropped = s.RAG.Cite(tid, res.Text, grounding)
	}
	turn := []store.Message{
		{Role: provider.RoleUser, Content: req.Message, RequestID: req.RequestID},
		{Role: provider.RoleAssistant, Content: res.Text, Incomplete: res.Incomplete, Model: res.Model, RequestID: req.RequestID,
			TokensIn: int64(res.Usage.PromptTokens), TokensOut: int64(res.Usage.CompletionTokens)},
	}
	opts := store.AppendOptions{Keep: cfg.Sessions.MaxMessages, Owner: owner(caller)}
	if idem != nil && streamErr == nil {
		// A broken turn keeps no result: a retry runs it again.
		idem.Result, err = json.Marshal(res) // without the seqs: the store keeps them
		if err != nil {
			return nil, api.Internal(fmt.Errorf("idempotency record: %w", err))
		}
		opts.Idempotency = idem
	}
	// The turn is stored even when the client went away: its tokens were
	// generated and billed.
	stored, err := s.sessions.AppendMessages(context.WithoutCancel(ctx), tid, sessionID, turn, opts)
	if errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	if err != nil {
		return nil, api.Internal(fmt.Errorf("store turn: %w", err))
	}
	res.UserSeq, res.AssistantSeq = stored[0].Seq, stored[1].Seq
	return res, streamErr
}

// answer is a model's answer as a turn reads it: *gateway.Stream, or
// *tools.Turn when the model may call tools.
type answer interface {
	Recv() (provider.Delta, error)
	Close() error
	Model() string
	FinishReason() string
	Usage() provider.Usage
}

// answer calls the model: through the tool dispatcher when there is one,
// so that the tool calls the model makes run with the caller's
// permissions, round after round.
func (s *Service) answer(ctx context.Context, req Request, call gateway.Call, creq provider.ChatRequest) (answer, error) {
	if s.Tools == nil {
		return s.gw.Chat(ctx, call, creq)
	}
	turn, err := s.Tools.Turn(ctx, req.Caller, creq, req.Tenant.Config.Tools.MaxRounds, func(ctx context.Context, r provider.ChatRequest) (*gateway.Stream, error) {
		return s.gw.Chat(ctx, call, r)
	})
	if err != nil {
		return nil, err
	}
	return turn, nil
}

// validate checks a request before anything is read or called.
func (s *Service) validate(req Request) error {
	bad := func(path, format string, args ...any) error {
		return api.Errorf(api.CodeInvalidRequest, format, args...).WithDetails(map[string]any{"path": path})
	}
	safety := req.Tenant.Config.Safety
	limit := safety.MaxInputChars
	switch {
	case strings.TrimSpace(req.Message) == "":
		return bad("/message", "message must not be empty")
	case !utf8.ValidString(req.Message) || !utf8.ValidString(req.System):
		return bad("/message", "message must be valid UTF-8")
	case utf8.RuneCountInString(req.Message) > limit:
		return api.Errorf(api.CodePayloadTooLarge, "message is longer than this tenant's limit of %d characters", limit).
			WithDetails(map[string]any{"path": "/message", "limit": limit})
	case utf8.RuneCountInString(req.System) > limit:
		return api.Errorf(api.CodePayloadTooLarge, "system is longer than this tenant's limit of %d characters", limit).
			WithDetails(map[string]any{"path": "/system", "limit": limit})
	case req.SessionID != "" && !sessionIDPattern.MatchString(req.SessionID):
		return bad("/sessionId", "sessionId must be 1-128 characters of A-Z a-z 0-9 _ -")
	case len(req.IdempotencyKey) > MaxIdempotencyKey:
		return bad("", "Idempotency-Key is longer than %d characters", MaxIdempotencyKey)
	}
	lower := strings.ToLower(req.Message + "\n" + req.System)
	for _, term := range safety.BlockedTerms {
		if term != "" && strings.Contains(lower, strings.ToLower(term)) {
			return bad("/message", "the message contains a term this tenant does not accept")
		}
	}
	return nil
}

// prompt builds the messages sent to the model: the system prompt, as much
// of the history as fits in budget tokens (the oldest dropped first), and
// the new message. The system prompt and the new message are always kept;
// when they alone do not fit, the request is refused.
func prompt(system string, history []store.Message, message string, budget int) ([]provider.Message, error) {
	fixed := tokens.Count(message) + messageOverhead
	if system != "" {
		fixed += tokens.Count(system) + messageOverhead
	}
	if fixed > budget {
		return nil, api.Errorf(api.CodePayloadTooLarge, "the message does not fit the model's context window (%d tokens available, %d needed)", budget, fixed).
			WithDetails(map[string]any{"path": "/message", "limit": budget})
	}
	left := budget - fixed
	first := len(history)
	for i := len(history) - 1; i >= 0; i-- {
		n := tokens.Count(history[i].Content) + messageOverhead
		if n > left {
			break
		}
		left -= n
		first = i
	}
	// Start the kept history at a user message, so the model never sees an
	// answer without its question.
	for first < len(history) && history[first].Role != provider.RoleUser {
		first++
	}
	msgs := make([]provider.Message, 0, 2+len(history)-first)
	if system != "" {
		msgs = append(msgs, provider.Message{Role: provider.RoleSystem, Content: system})
	}
	for _, m := range history[first:] {
		if m.Content == "" {
			continue
		}
		msgs = append(msgs, provider.Message{Role: m.Role, Content: m.Content})
	}
	return append(msgs, provider.Message{Role: provider.RoleUser, Content: message}), nil
}

// session returns the description of a session the caller may use: continue
// it, or, when manage is set, read or delete it. A session the caller may
// not use is not found, exactly like one that does not exist.
func (s *Service) session(ctx context.Context, c Caller, sessionID string, manage bool) (store.SessionInfo, error) {
	notFound := api.Errorf(api.CodeNotFound, "session %q does not exist", sessionID)
	if !sessionIDPattern.MatchString(sessionID) {
		return store.SessionInfo{}, notFound
	}
	info, err := s.sessions.Session(ctx, c.Tenant.ID, sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.SessionInfo{}, notFound
	case err != nil:
		return store.SessionInfo{}, api.Internal(err)
	case !c.may(info.Owner, manage):
		return store.SessionInfo{}, notFound
	}
	return info, nil
}

// may reports whether the caller may use a session with the given owner:
// its creator may do anything; a key with the admin scope may also read
// and delete every session of its tenant (manage), not continue them. A
// session created before owners were kept ("") is open to every key of
// its tenant and to no anonymous caller.
func (c Caller) may(sessionOwner string, manage bool) bool {
	if c.Key != nil {
		switch {
		case sessionOwner == "" || sessionOwner == owner(c):
			return true
		case manage:
			return c.Scopes().Has(tenant.ScopeAdmin)
		}
		return false
	}
	if c.SessionToken == "" || sessionOwner == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(sessionOwner), []byte(owner(c))) == 1
}

// owner is the owner recorded for a session the caller creates, and the
// scope of its idempotency keys: "key:" and the key's ID, or "token:" and
// the SHA-256 of the session token.
func owner(c Caller) string {
	if c.Key != nil {
		return "key:" + c.Key.ID
	}
	sum := sha256.Sum256([]byte(c.SessionToken))
	return "token:" + hex.EncodeToString(sum[:])
}

// History returns a page of a session's messages, oldest first, when the
// caller may read the session.
func (s *Service) History(ctx context.Context, c Caller, sessionID string, after int64, limit int) ([]store.Message, error) {
	if _, err := s.session(ctx, c, sessionID, true); err != nil {
		return nil, err
	}
	msgs, err := s.sessions.Messages(ctx, c.Tenant.ID, sessionID, after, limit)
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.CodeNotFound, "session %q does not exist", sessionID)
	}
	if err != nil {
		return nil, api.Internal(err)
	}
	return msgs, nil
}

// Delete deletes a session the caller may delete, waiting for a turn in
// progress to end.
func (s *Service) Delete(ctx context.Context, c Caller, sessionID string) error {
	if !sessionIDPattern.MatchString(sessionID) {
		return api.Errorf(api.CodeNotFound, "session %q does not exist", sessionID)
	}
	t := c.Tenant.ID
	unlock := s.sessionLocks.lock(t.String() + "\x00" + sessionID)
	defer unlock()
	release, err := s.lockAcross(ctx, t, sessionID)
	if err != nil {
		return err
	}
	defer release()
	if _, err := s.session(ctx, c, sessionID, true); err != nil {
		return err
	}
	err = s.sessions.DeleteSession(ctx, t, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeNotFound, "session %q does not exist", sessionID)
	}
	if err != nil {
		return api.Internal(err)
	}
	return nil
}

// Sweep deletes the sessions of every tenant idle for longer than its
// sessions.maxAge, and returns how many it deleted.
func (s *Service) Sweep(ctx context.Context, tenants []*tenant.Tenant, now time.Time) (int64, error) {
	var total int64
	for _, t := range tenants {
		maxAge := t.Config.Sessions.MaxAge.D()
		if maxAge <= 0 {
			continue
		}
		n, err := s.sessions.DeleteIdleSessions(ctx, t.ID, now.Add(-maxAge))
		if err != nil {
			return total, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		total += n
	}
	return total, nil
}

// requestHash identifies what a turn asked, to tell a retry from a reuse of
// its Idempotency-Key.
func requestHash(req Request) string {
	h := sha256.New()
	for _, s := range []string{req.SessionID, req.Message, req.Model, req.System} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "s_" + hex.EncodeToString(b)
}

// newSessionToken returns a secret of 256 random bits.
func newSessionToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "st_" + base64.RawURLEncoding.EncodeToString(b)
}
