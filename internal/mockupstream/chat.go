package mockupstream

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// piece is one token of an answer: its text and its pre-encoded chunk
// choice.
type piece struct {
	text   string
	choice []byte // {"index":0,"delta":{...},"logprobs":null,"finish_reason":null}
}

// chatInfo is what the answer needs from a valid request.
type chatInfo struct {
	model        string
	prompt       int // prompt tokens
	lastUser     string
	limit        int // max completion tokens, 0: none
	stream       bool
	includeUsage bool
}

var (
	roleChoiceText  = []byte(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`)
	roleChoiceTools = []byte(`{"index":0,"delta":{"role":"assistant","content":null,"refusal":null},"logprobs":null,"finish_reason":null}`)
	tailPlain       = []byte("]}\n\n")
	tailUsageNull   = []byte(`],"usage":null}` + "\n\n")
	doneEvent       = []byte("data: [DONE]\n\n")
	malformedChoice = []byte(`{"index":0,"delta":{"content":` + "\n\n")
)

func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte) {
	var cr chatRequest
	if e := decode(body, &cr); e != nil {
		e.write(w)
		return
	}
	info, e := s.validateChat(&cr)
	if e != nil {
		e.write(w)
		return
	}
	p, ok := s.admit(w, r, body, true)
	if !ok {
		return
	}
	pieces, finish := s.pieces(&p, info)
	if info.stream {
		s.stream(w, r, &p, info, pieces, finish)
		return
	}
	s.complete(w, r, &p, info, pieces, finish)
}

// admit does what every route does once the request is valid: it makes
// the request's plan (with cfg.Decide's step when decide is set), then
// hangs, waits the latency, or answers a scripted failure. It reports
// whether the route goes on to answer with p.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, body []byte, decide bool) (plan, bool) {
	p, err := s.plan(r)
	if err != nil {
		invalid("", "", err.Error()).write(w)
		return p, false
	}
	if decide && s.cfg.Decide != nil {
		if st, ok := s.cfg.Decide(body); ok {
			p.applyStep(st)
			if err := p.applyHeaders(r.Header); err != nil {
				invalid("", "", err.Error()).write(w)
				return p, false
			}
		}
	}
	if p.hang {
		s.hang(r.Context())
		return p, false
	}
	if !s.wait(r.Context(), p.latency) || s.fail(w, &p) {
		return p, false
	}
	return p, true
}

// pieces returns the tokens of the answer and its finish reason.
func (s *Server) pieces(p *plan, info *chatInfo) ([]piece, string) {
	if len(p.toolCalls) > 0 {
		return s.toolPieces(p.toolCalls), "tool_calls"
	}
	var pieces []piece
	switch {
	case !p.replySet && p.reply == s.cfg.Reply && p.tokens == s.cfg.CompletionTokens && s.reply != nil:
		pieces = s.reply
	default:
		reply := p.reply
		if !p.replySet && reply == "" {
			reply = info.lastUser
			if isBlank(reply) {
				reply = "ok"
			}
		}
		toks := splitTokens(reply)
		if p.tokens > 0 {
			toks = reshape(toks, p.tokens)
		}
		pieces = textPieces(toks)
	}
	if info.limit > 0 && len(pieces) > info.limit {
		return pieces[:info.limit], "length"
	}
	return pieces, "stop"
}

func textPieces(toks []string) []piece {
	const pre, post = `{"index":0,"delta":{"content":`, `},"logprobs":null,"finish_reason":null}`
	size := 0
	for _, t := range toks {
		size += len(pre) + len(t) + 2 + len(post) + 8
	}
	buf := make([]byte, 0, size)
	out := make([]piece, len(toks))
	for i, t := range toks {
		start := len(buf)
		buf = append(buf, pre...)
		buf = appendString(buf, t)
		buf = append(buf, post...)
		out[i] = piece{text: t, choice: buf[start:len(buf):len(buf)]}
	}
	return out
}

// toolPieces streams each call as OpenAI does: a first piece with the ID
// and name, then the arguments in pieces of a few characters.
func (s *Server) toolPieces(calls []ToolCall) []piece {
	var out []piece
	for k, c := range calls {
		id := c.ID
		if id == "" {
			id = string(s.id(nil, "call_"))
		}
		b := []byte(`{"index":0,"delta":{"tool_calls":[{"index":`)
		b = appendInt(b, k)
		b = append(b, `,"id":`...)
		b = appendString(b, id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendString(b, c.Name)
		b = append(b, `,"arguments":""}}]},"logprobs":null,"finish_reason":null}`...)
		out = append(out, piece{choice: b})
		args := c.Arguments
		for len(args) > 0 {
			n := min(len(args), 8)
			for n < len(args) && !utf8.RuneStart(args[n]) {
				n++
			}
			b := []byte(`{"index":0,"delta":{"tool_calls":[{"index":`)
			b = appendInt(b, k)
			b = append(b, `,"function":{"arguments":`...)
			b = appendString(b, args[:n])
			b = append(b, `}}]},"logprobs":null,"finish_reason":null}`...)
			out = append(out, piece{choice: b})
			args = args[n:]
		}
	}
	return out
}

// faultAt returns the token index at which p's fault strikes.
func faultAt(p *plan, n int) int {
	at := p.after
	if at < 0 {
		at = n / 2
	}
	return min(at, n)
}

// stream sends the answer as chat.completion.chunk events.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p *plan, info *chatInfo, pieces []piece, finish string) {
	s.streams.Add(1)
	s.activeStreams.Add(1)
	s.notify()
	defer s.activeStreams.Add(-1)

	ctx := r.Context()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	id := s.id(make([]byte, 0, 32), "chatcmpl-mock")
	h.Set("X-Request-Id", string(id[len("chatcmpl-"):]))
	w.WriteHeader(http.StatusOK)

	head := make([]byte, 0, 192)
	head = append(head, "data: "...)
	head = appendHead(head, id, "chat.completion.chunk", info.model)
	head = append(head, `,"choices":[`...)
	tail := tailPlain
	if info.includeUsage {
		tail = tailUsageNull
	}
	chunk := func(choice []byte) bool {
		_, _ = w.Write(head)
		_, _ = w.Write(choice)
		_, err := w.Write(tail)
		return err == nil
	}
	flush := func() bool {
		if err := rc.Flush(); err != nil {
			s.disconnected()
			return false
		}
		return true
	}

	roleChoice := roleChoiceText
	if len(p.toolCalls) > 0 {
		roleChoice = roleChoiceTools
	}
	if !chunk(roleChoice) || !flush() || !s.wait(ctx, p.ttft) {
		return
	}
	var interval time.Duration
	if p.tps > 0 {
		interval = time.Duration(float64(time.Second) / p.tps)
	}
	var timer *time.Timer
	if interval > 0 {
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
	}
	start := time.Now()
	at := faultAt(p, len(pieces))
	for i := 0; i <= len(pieces); i++ {
		if p.fault != faultNone && i == at {
			switch p.fault {
			case faultCut:
				_ = rc.Flush()
				panic(http.ErrAbortHandler) // net/http closes the connection
			case faultMalformed:
				_, _ = w.Write(head)
				_, _ = w.Write(malformedChoice)
			case faultStreamError:
				msg, typ, code := "The server had an error while processing your request. Sorry about that!", p.errType, ""
				if typ == "" {
					typ = "server_error"
				}
				b := append([]byte("data: "), appendError(nil, msg, typ, "", code)...)
				_, _ = w.Write(append(b, "\n\n"...))
				flush()
				return
			}
		}
		if i == len(pieces) {
			break
		}
		if i > 0 && interval > 0 {
			if !s.flushWaitUntil(ctx, rc, timer, start.Add(time.Duration(i)*interval)) {
				return
			}
		}
		if !chunk(pieces[i].choice) {
			s.disconnected()
			return
		}
		// Flush each paced token, and the first one after a TTFT, so that
		// the client sees them when they are due; else flush at the end.
		if (interval > 0 || i == 0 && p.ttft > 0) && !flush() {
			return
		}
	}
	fin := make([]byte, 0, 96)
	fin = append(fin, `{"index":0,"delta":{},"logprobs":null,"finish_reason":`...)
	fin = appendString(fin, finish)
	fin = append(fin, '}')
	if !chunk(fin) {
		s.disconnected()
		return
	}
	if info.includeUsage {
		u := make([]byte, 0, 384)
		u = append(u, "data: "...)
		u = appendHead(u, id, "chat.completion.chunk", info.model)
		u = append(u, `,"choices":[],"usage":`...)
		u = appendUsage(u, info.prompt, len(pieces))
		u = append(u, "}\n\n"...)
		_, _ = w.Write(u)
	}
	if _, err := w.Write(doneEvent); err != nil {
		s.disconnected()
		return
	}
	flush()
}

// flushWaitUntil flushes what was written and waits until deadline.
func (s *Server) flushWaitUntil(ctx context.Context, rc *http.ResponseController, t *time.Timer, deadline time.Time) bool {
	if err := rc.Flush(); err != nil {
		s.disconnected()
		return false
	}
	return s.waitUntil(ctx, t, deadline)
}

// complete sends the answer as one chat.completion object.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, p *plan, info *chatInfo, pieces []piece, finish string) {
	wait := p.ttft
	if p.tps > 0 && len(pieces) > 1 {
		wait += time.Duration(float64(len(pieces)-1) / p.tps * float64(time.Second))
	}
	if !s.wait(r.Context(), wait) {
		return
	}
	if p.fault == faultStreamError {
		writeStatusError(w, http.StatusInternalServerError)
		return
	}
	id := s.id(make([]byte, 0, 32), "chatcmpl-mock")
	b := make([]byte, 0, 512)
	b = appendHead(b, id, "chat.completion", info.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if len(p.toolCalls) > 0 {
		b = append(b, `null,"refusal":null,"annotations":[],"tool_calls":[`...)
		for k, c := range p.toolCalls {
			if k > 0 {
				b = append(b, ',')
			}
			cid := c.ID
			if cid == "" {
				cid = string(s.id(nil, "call_"))
			}
			b = append(b, `{"id":`...)
			b = appendString(b, cid)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = appendString(b, c.Name)
			b = append(b, `,"arguments":`...)
			b = appendString(b, c.Arguments)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	} else {
		var text strings.Builder
		for _, pc := range pieces {
			text.WriteString(pc.text)
		}
		b = appendString(b, text.String())
		b = append(b, `,"refusal":null,"annotations":[]`...)
	}
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	b = appendString(b, finish)
	b = append(b, `}],"usage":`...)
	b = appendUsage(b, info.prompt, len(pieces))
	b = append(b, `,"service_tier":"default"}`...)

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", string(id[len("chatcmpl-"):]))
	switch p.fault {
	case faultMalformed:
		b = b[:len(b)/2]
	case faultCut:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(b)
}

// appendHead appends the fields every chat object starts with.
func appendHead(b, id []byte, object, model string) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = appendInt(b, int(time.Now().Unix()))
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	return append(b, `,"system_fingerprint":"fp_mock"`...)
}

func appendUsage(b []byte, prompt, completion int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, prompt)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, completion)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, prompt+completion)
	return append(b, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}
