package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/chat"
	"github.com/crispy-enigma/crispy/internal/sse"
	"github.com/crispy-enigma/crispy/internal/store"
)

// DefaultHeartbeat is how often a stream waiting for its first token sends
// a comment, so that proxies and clients do not time it out.
const DefaultHeartbeat = 10 * time.Second

// chatSend answers POST /chat: a turn streamed over SSE, or one envelope
// when the request says "stream": false.
func (s *Server) chatSend(w http.ResponseWriter, r *http.Request) error {
	if err := s.needChat(); err != nil {
		return err
	}
	var body api.ChatRequest
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	req := chat.Request{
		Caller:    Caller(r),
		SessionID: body.SessionID, Message: body.Message, Model: body.Model, System: body.System,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		SessionToken:   sessionToken(r),
	}
	if body.Stream != nil && !*body.Stream {
		req.Buffered = true
		res, err := s.opts.Chat.Send(r.Context(), req, discardSink{})
		if err != nil {
			return brokenTurn(err, res)
		}
		if res.SessionToken != "" {
			w.Header().Set(api.SessionTokenHeader, res.SessionToken)
		}
		return writeData(w, r, http.StatusOK, chatResult(res, TraceID(r)))
	}

	release, err := s.acquireStream(w, r)
	if err != nil {
		return err
	}
	defer release()
	sink := &sseSink{w: w, rc: http.NewResponseController(w), heartbeat: s.opts.Heartbeat}
	defer sink.stopHeartbeat()
	res, err := s.opts.Chat.Send(r.Context(), req, sink)
	if !sink.started {
		return err // nothing was sent: the error gets its status
	}
	sink.stopHeartbeat()
	if err != nil {
		e := brokenTurn(err, res)
		logError(r, e)
		sink.event("error", api.Envelope{Error: e, TraceID: TraceID(r)})
		return nil
	}
	out := chatResult(res, TraceID(r))
	out.Text = ""
	sink.event("done", out)
	return nil
}

// chatHistory answers GET /chat/{sessionId}/history?after=N&limit=N.
func (s *Server) chatHistory(w http.ResponseWriter, r *http.Request) error {
	if err := s.needChat(); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := checkQuery(q, "after", "limit"); err != nil {
		return err
	}
	after, err := queryInt(q.Get("after"), 0, 0, 1<<62)
	if err != nil {
		return api.Errorf(api.CodeInvalidRequest, "after: %v", err)
	}
	limit, err := queryInt(q.Get("limit"), 100, 1, store.MaxMessagesPerPage)
	if err != nil {
		return api.Errorf(api.CodeInvalidRequest, "limit: %v", err)
	}
	sid := r.PathValue("sessionId")
	// One more than asked tells whether there is a next page.
	msgs, err := s.opts.Chat.History(r.Context(), chatCaller(r), sid, after, int(limit)+1)
	if err != nil {
		return err
	}
	out := api.ChatHistory{SessionID: sid, Messages: make([]api.ChatMessage, 0, len(msgs))}
	if len(msgs) > int(limit) {
		msgs = msgs[:limit]
		next := msgs[len(msgs)-1].Seq
		out.Next = &next
	}
	for _, m := range msgs {
		out.Messages = append(out.Messages, api.ChatMessage{Seq: m.Seq, Role: m.Role, Content: m.Content, Incomplete: m.Incomplete, Model: m.Model, Time: m.Time.UTC()})
	}
	return writeData(w, r, http.StatusOK, out)
}

// chatDelete answers DELETE /chat/{sessionId}.
func (s *Server) chatDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.needChat(); err != nil {
		return err
	}
	sid := r.PathValue("sessionId")
	if err := s.opts.Chat.Delete(r.Context(), chatCaller(r), sid); err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, map[string]any{"sessionId": sid, "deleted": true})
}

// brokenTurn is the error of a turn, with, when the turn was stored
// incomplete (res is not nil), its session and the session's token, if
// the turn created one for an anonymous caller: the caller's only chance
// to get it.
func brokenTurn(err error, res *chat.Result) *api.Error {
	e := api.AsError(err)
	if res != nil {
		details := map[string]any{"sessionId": res.SessionID, "incomplete": true}
		if res.SessionToken != "" {
			details["sessionToken"] = res.SessionToken
		}
		e = e.WithDetails(details)
	}
	return e
}

// chatCaller is who a chat request acts as.
func chatCaller(r *http.Request) chat.Caller {
	return chat.Caller{Caller: Caller(r), SessionToken: sessionToken(r)}
}

// sessionToken is the session token an anonymous caller sends; a caller
// with a key needs none, and its token is ignored.
func sessionToken(r *http.Request) string {
	if Caller(r).Key != nil {
		return ""
	}
	return r.Header.Get(api.SessionTokenHeader)
}

func (s *Server) needChat() error {
	if s.opts.Chat == nil {
		return api.Errorf(api.CodeUnavailable, "chat is not available on this server")
	}
	return nil
}

// checkQuery refuses query parameters other than allowed.
func checkQuery(q url.Values, allowed ...string) error {
	for k := range q {
		if !slices.Contains(allowed, k) {
			return api.Errorf(api.CodeInvalidRequest, "unknown query parameter %q; allowed: %s", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func chatResult(res *chat.Result, traceID string) api.ChatResult {
	u := res.Usage
	return api.ChatResult{
		SessionID: res.SessionID, SessionToken: res.SessionToken, Model: res.Model, Text: res.Text, FinishReason: res.FinishReason,
		Usage:   api.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.Total(), Estimated: u.Estimated},
		UserSeq: res.UserSeq, AssistantSeq: res.AssistantSeq, Replayed: res.Replayed, TraceID: traceID,
		Sources: res.Sources, DroppedCitations: res.Dropped,
	}
}

func queryInt(s string, def, lo, hi int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errorString("must be an integer from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10))
	}
	return n, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

type discardSink struct{}

func (discardSink) Started()           {}
func (discardSink) Token(string) error { return nil }

// sseSink writes a chat turn as SSE events: headers when the model call
// starts, comment heartbeats until the first token, then token events.
type sseSink struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	heartbeat time.Duration

	mu      sync.Mutex // the heartbeat goroutine writes too
	started bool
	stop    chan struct{}
	done    chan struct{}
	failed  bool
}

// Started commits the SSE headers and starts the heartbeat.
func (s *sseSink) Started() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	_ = s.rc.Flush()
	if s.heartbeat > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.beat(s.stop, s.done)
	}
}

func (s *sseSink) beat(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.mu.Lock()
			if !s.failed {
				if sse.Comment(s.w, "heartbeat") != nil || s.rc.Flush() != nil {
					s.failed = true
				}
			}
			s.mu.Unlock()
		}
	}
}

// stopHeartbeat stops the heartbeat and waits for it; safe to call twice.
func (s *sseSink) stopHeartbeat() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// Token writes a token event; an error means the client is gone.
func (s *sseSink) Token(text string) error {
	s.stopHeartbeat()
	if !s.event("token", api.ChatToken{Text: text}) {
		return errorString("client went away")
	}
	return nil
}

// event writes one event and flushes it, reporting whether it got out.
func (s *sseSink) event(name string, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return false
	}
	if sse.Write(s.w, sse.Event{Event: name, Data: b}) != nil || s.rc.Flush() != nil {
		s.failed = true
	}
	return !s.failed
}
