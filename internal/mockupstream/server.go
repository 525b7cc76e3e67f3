package mockupstream

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxBodyBytes bounds a request body.
const maxBodyBytes = 8 << 20

// Server is the mock upstream; it implements http.Handler and is safe for
// concurrent use.
type Server struct {
	cfg         Config
	errorStatus int
	dims        int
	authz       []byte // "Bearer <key>", or nil
	models      map[string]bool
	modelsJSON  []byte
	reply       []piece // Config.Reply, pre-encoded, when CompletionTokens does not reshape it

	rngMu sync.Mutex
	rng   *rand.Rand

	scriptMu  sync.Mutex
	script    []Step
	scriptLen atomic.Int64

	seq atomic.Uint64 // response IDs

	requests, chats, embeds, modelReqs atomic.Int64
	active, activeStreams, streams     atomic.Int64

	mu             sync.Mutex // guards what follows
	last           Request
	disconnects    int64
	lastDisconnect time.Time
	changed        chan struct{} // closed and replaced when the stats change, while waiters > 0
	waiters        atomic.Int64

	done      chan struct{}
	closeOnce sync.Once
}

// Request is a request the mock received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	Time   time.Time
}

// Stats counts what the mock has seen.
type Stats struct {
	Requests      int64 // every request, rejected ones included
	Chat          int64 // POST /v1/chat/completions
	Embeddings    int64 // POST /v1/embeddings
	Models        int64 // GET /v1/models
	Active        int64 // requests being answered now
	ActiveStreams int64 // chat streams being sent now
	Streams       int64 // chat streams started
	// Disconnects counts requests whose client went away before the answer
	// ended; LastDisconnect is when the mock noticed the last one.
	Disconnects    int64
	LastDisconnect time.Time
}

// New returns a Server answering as cfg says.
func New(cfg Config) *Server {
	s := &Server{
		cfg:         cfg,
		errorStatus: cfg.ErrorStatus,
		dims:        cfg.EmbeddingDimensions,
		rng:         rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		script:      append([]Step(nil), cfg.Script...),
		changed:     make(chan struct{}),
		done:        make(chan struct{}),
	}
	s.scriptLen.Store(int64(len(s.script)))
	if s.errorStatus == 0 {
		s.errorStatus = DefaultErrorStatus
	}
	if s.dims <= 0 {
		s.dims = DefaultEmbeddingDimensions
	}
	if cfg.APIKey != "" {
		s.authz = []byte("Bearer " + cfg.APIKey)
	}
	names := cfg.Models
	if len(names) > 0 {
		s.models = make(map[string]bool, len(names))
		for _, m := range names {
			s.models[m] = true
		}
	} else {
		names = DefaultModels
	}
	s.modelsJSON = modelList(names)
	if cfg.Reply != "" && cfg.CompletionTokens <= 0 {
		s.reply = textPieces(splitTokens(cfg.Reply))
	}
	return s
}

// Enqueue appends steps to the script.
func (s *Server) Enqueue(steps ...Step) {
	s.scriptMu.Lock()
	s.script = append(s.script, steps...)
	s.scriptLen.Store(int64(len(s.script)))
	s.scriptMu.Unlock()
}

// nextStep pops the next scripted step, if any.
func (s *Server) nextStep() (Step, bool) {
	if s.scriptLen.Load() == 0 {
		return Step{}, false
	}
	s.scriptMu.Lock()
	defer s.scriptMu.Unlock()
	if len(s.script) == 0 {
		return Step{}, false
	}
	st := s.script[0]
	s.script = s.script[1:]
	s.scriptLen.Store(int64(len(s.script)))
	return st, true
}

// Close makes hanging and waiting handlers return, so that an HTTP server
// in front of the mock can shut down. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	d, t := s.disconnects, s.lastDisconnect
	s.mu.Unlock()
	return Stats{
		Requests:       s.requests.Load(),
		Chat:           s.chats.Load(),
		Embeddings:     s.embeds.Load(),
		Models:         s.modelReqs.Load(),
		Active:         s.active.Load(),
		ActiveStreams:  s.activeStreams.Load(),
		Streams:        s.streams.Load(),
		Disconnects:    d,
		LastDisconnect: t,
	}
}

// Wait blocks until cond holds for the stats or ctx is done, and returns
// the stats that satisfied it.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) (Stats, error) {
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		st := s.Stats()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// notify wakes the waiters, if there are any.
func (s *Server) notify() {
	if s.waiters.Load() == 0 {
		return
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// disconnected records that the client of a request went away.
func (s *Server) disconnected() {
	s.mu.Lock()
	s.disconnects++
	s.lastDisconnect = time.Now()
	if s.waiters.Load() > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
}

// LastRequest returns the last request received, and false if there was
// none. Its Header and Body are copies.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	r := s.last
	s.mu.Unlock()
	if r.Time.IsZero() {
		return r, false
	}
	r.Header = r.Header.Clone()
	r.Body = append([]byte(nil), r.Body...)
	return r, true
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.active.Add(1)
	s.notify()
	defer func() {
		s.active.Add(-1)
		s.notify()
	}()

	var body []byte
	if r.Method == http.MethodPost {
		var err error
		body, err = readBody(w, r)
		s.record(r, body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, "Request body too large; the limit is "+strconv.Itoa(maxBodyBytes)+" bytes.", "invalid_request_error", "", "")
				return
			}
			return // the client went away
		}
	} else {
		s.record(r, nil)
	}
	if !s.authorized(r) {
		msg := "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
		code := ""
		if r.Header.Get("Authorization") != "" {
			msg, code = "Incorrect API key provided.", "invalid_api_key"
		}
		writeError(w, http.StatusUnauthorized, msg, "invalid_request_error", "", code)
		return
	}
	switch {
	case r.URL.Path == "/v1/chat/completions" && r.Method == http.MethodPost:
		s.chats.Add(1)
		s.chat(w, r, body)
	case r.URL.Path == "/v1/embeddings" && r.Method == http.MethodPost:
		s.embeds.Add(1)
		s.embed(w, r, body)
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		s.modelReqs.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.modelsJSON)
	default:
		writeError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", "", "")
	}
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	n := r.ContentLength
	if n < 0 || n > maxBodyBytes {
		n = 512
	}
	buf := make([]byte, 0, n+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (s *Server) record(r *http.Request, body []byte) {
	s.mu.Lock()
	s.last = Request{Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body, Time: time.Now()}
	s.mu.Unlock()
}

func (s *Server) authorized(r *http.Request) bool {
	if s.authz == nil {
		return true
	}
	got := r.Header.Get("Authorization")
	return len(got) == len(s.authz) && subtle.ConstantTimeCompare([]byte(got), s.authz) == 1
}

// plan resolves how to answer r: Config, then the rates or the next
// scripted step, then the request's X-Mock-* headers.
func (s *Server) plan(r *http.Request) (plan, error) {
	p := s.basePlan()
	if st, ok := s.nextStep(); ok {
		p.applyStep(st)
	} else {
		s.applyRates(&p)
	}
	err := p.applyHeaders(r.Header)
	return p, err
}

// wait sleeps for d; it returns false if the client went away (recording
// the disconnect) or the server was closed first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		s.disconnected()
		return false
	case <-s.done:
		return false
	}
}

// waitUntil sleeps until deadline, like wait.
func (s *Server) waitUntil(ctx context.Context, t *time.Timer, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		if ctx.Err() != nil {
			s.disconnected()
			return false
		}
		return true
	}
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		s.disconnected()
		return false
	case <-s.done:
		return false
	}
}

// hang waits for the client to go away or the server to close.
func (s *Server) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
		s.disconnected()
	case <-s.done:
	}
}

// fail answers with p's error status, if it has one.
func (s *Server) fail(w http.ResponseWriter, p *plan) bool {
	if p.status == 0 || p.status == http.StatusOK {
		return false
	}
	if p.retryAfter != "" {
		w.Header().Set("Retry-After", p.retryAfter)
	}
	if p.retryAfterMS != "" {
		w.Header().Set("Retry-After-Ms", p.retryAfterMS)
	}
	writeStatusError(w, p.status)
	return true
}

// id returns the next response ID with prefix.
func (s *Server) id(dst []byte, prefix string) []byte {
	dst = append(dst, prefix...)
	return strconv.AppendUint(dst, s.seq.Add(1), 10)
}
