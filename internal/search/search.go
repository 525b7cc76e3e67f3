// Package search answers a tenant's search box: one query in, a grounded
// answer out, with the sources it came from, a confidence, follow-up
// questions, the intent it detected and the query it ran. It builds on the
// knowledge base (rag) for retrieval and framing and on the gateway for
// model calls, and caches whole answers per tenant, keyed by the tenant's
// corpus version so that any ingest or delete invalidates them.
package search

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Request is the body of POST /search.
type Request struct {
	Query string `json:"query"`
	// Filters narrow retrieval inside the tenant's knowledge base; they can
	// never widen it (see rag.Query).
	Filters index.Filter `json:"filters,omitempty"`
	TopK    int          `json:"topK,omitempty"`
	Stream  bool         `json:"stream,omitempty"`
	Model   string       `json:"model,omitempty"`
}

// Sink receives a streamed search as it is produced: Sources once, before
// any token, then the answer's tokens. The stream starts at Sources: an
// error returned before it is the request's, one after it goes in the
// stream.
type Sink interface {
	Sources(api.SearchSources) error
	Token(text string) error
}

// Service runs searches.
type Service struct {
	rag     *rag.Service
	gw      *gateway.Gateway
	cache   store.KV // nil: no cache
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// New returns a Service. cache, if not nil, holds cached answers; reg
// receives the metrics (nil: none).
func New(kb *rag.Service, gw *gateway.Gateway, cache store.KV, log *slog.Logger, reg prometheus.Registerer) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{rag: kb, gw: gw, cache: cache, log: log, metrics: newMetrics(reg), now: time.Now}
}

// run is one search in progress.
type run struct {
	s       *Service
	c       tenant.Caller
	req     Request
	sink    Sink
	query   string // normalised
	res     api.SearchResult
	started bool
	t0      time.Time
}

// Search answers req for the caller's tenant. With a sink, the answer is
// streamed to it and the result returned at the end carries the whole
// answer (which is authoritative: see docs/search.md).
func (s *Service) Search(ctx context.Context, c tenant.Caller, req Request, sink Sink) (*api.SearchResult, error) {
	r := &run{s: s, c: c, req: req, sink: sink, t0: s.now()}
	r.res.Timings = map[string]float64{}
	if err := r.validate(); err != nil {
		return nil, err
	}
	cfg := c.Tenant.Config

	key, cacheOn := "", s.cacheOn(c)
	if cacheOn {
		t := s.now()
		version, err := s.rag.Version(ctx, c.Tenant.ID)
		if err != nil {
			return nil, err
		}
		key = cacheKey(version, r.query, r.req) // topK filled in: the default and the same number share an entry
		if hit, ok := s.lookup(ctx, c, key); ok {
			r.lap("cache", t)
			s.metrics.cache.WithLabelValues("hit").Inc()
			return r.replay(hit)
		}
		r.lap("cache", t)
		s.metrics.cache.WithLabelValues("miss").Inc()
	}

	t := s.now()
	plan, reply := s.plan(ctx, c, r.query, req.Model)
	r.res.Intent, r.res.RewrittenQuery = plan.Intent, plan.Rewritten
	r.time("rewrite", t)
	r.res.Path = append(r.res.Path, "rewrite:"+plan.By)

	var err error
	if plan.Intent == api.IntentChitChat {
		err = r.chitchat(reply)
	} else {
		err = r.grounded(ctx, plan, cfg.RAG.MinConfidence)
	}
	if err != nil {
		return r.partial(err)
	}
	r.time("total", r.t0)
	s.metrics.searches.WithLabelValues(r.res.Intent).Inc()
	if cacheOn {
		s.store(ctx, c, key, &r.res)
	}
	return &r.res, nil
}

// validate checks the request and normalises its query; it fills in topK.
func (r *run) validate() error {
	if !utf8.ValidString(r.req.Query) {
		return badQuery("query must be valid UTF-8")
	}
	r.query = Normalize(r.req.Query)
	if r.query == "" {
		return badQuery("query must not be empty")
	}
	if n := utf8.RuneCountInString(r.query); n > rag.MaxQueryChars {
		return badQuery(fmt.Sprintf("query is %d characters; the limit is %d", n, rag.MaxQueryChars))
	}
	q := rag.Query{Text: r.query, TopK: r.req.TopK, Filters: r.req.Filters}
	if err := rag.ValidateQuery(r.c.Tenant.Config, &q); err != nil {
		return err
	}
	r.req.TopK = q.TopK
	// A model the tenant does not allow is refused before anything runs,
	// whichever path the query would take.
	if _, err := gateway.ContextWindow(r.c.Tenant.Config, gateway.RouteSearch, r.req.Model); err != nil {
		return err
	}
	return nil
}

func badQuery(msg string) error {
	return api.Errorf(api.CodeInvalidRequest, "%s", msg).WithDetails(map[string]any{"path": "/query"})
}

// chitchat answers a greeting or thanks without retrieval or a model: the
// reply makes no claim about the knowledge base, so its confidence is 1.
func (r *run) chitchat(reply string) error {
	r.res.Sources, r.res.FollowUps = []api.Source{}, []string{}
	return r.say(reply, "reply", 1)
}

// say answers with text written here rather than by a model, the stage
// path naming how: it starts the stream and sends the text as one token.
func (r *run) say(text, path string, confidence float64) error {
	r.res.Answer, r.res.Confidence = text, confidence
	r.res.Path = append(r.res.Path, path)
	if err := r.sources(); err != nil {
		return err
	}
	return r.token(text)
}

// grounded retrieves, then answers from the sources, points to a page, or
// says it does not know.
func (r *run) grounded(ctx context.Context, plan Plan, threshold float64) error {
	s, cfg := r.s, r.c.Tenant.Config
	t := s.now()
	q := rag.Query{Text: plan.Rewritten, TopK: r.req.TopK, Filters: r.req.Filters, Mode: rag.ModeHybrid,
		NoRerank: plan.Intent != api.IntentQuestion}
	res, err := s.rag.Retrieve(ctx, r.c, q)
	if err != nil {
		return err
	}
	rerank := res.Timings["rerank"]
	r.res.Timings["retrieve"] = ms(s.now().Sub(t)) - rerank
	s.metrics.stage.WithLabelValues("retrieve").Observe((r.res.Timings["retrieve"]) / 1000)
	r.res.Path = append(r.res.Path, "retrieve")
	if _, ok := res.Timings["rerank"]; ok {
		r.res.Timings["rerank"] = rerank
		s.metrics.stage.WithLabelValues("rerank").Observe(rerank / 1000)
		r.res.Path = append(r.res.Path, "rerank")
	}
	frame, err := s.rag.Frame(r.c, r.query, res)
	if err != nil {
		return err
	}
	r.res.Sources = frame.Sources
	if r.res.Sources == nil {
		r.res.Sources = []api.Source{}
	}
	chunks := res.Chunks[:len(frame.Sources)]
	conf := retrievalConfidence(plan.Rewritten, chunks)
	if plan.Intent == api.IntentKeyword && len(chunks) > 0 && titleMatch(plan.Rewritten, chunks[0].Title) {
		plan.Intent = api.IntentNavigational
		r.res.Intent = plan.Intent
	}

	t = s.now()
	switch {
	case len(chunks) == 0 || conf < threshold:
		if err := r.say(api.NoConfidentAnswer, "abstain", conf); err != nil {
			return err
		}
	case plan.Intent == api.IntentNavigational:
		i := bestTitle(plan.Rewritten, chunks)
		if err := r.say(navigate(chunks[i], i+1), "navigate", conf); err != nil {
			return err
		}
	default:
		if err := r.answer(ctx, frame, conf, threshold, cfg.Limits.MaxOutputTokens); err != nil {
			return err
		}
	}
	r.time("answer", t)

	t = s.now()
	by := "rules"
	r.res.FollowUps = nil
	if s.usesModel(r.c, r.req.Model) {
		if fu, err := s.modelFollowUps(ctx, r.c, r.req.Model, r.query, frame); err == nil && len(fu) > 0 {
			r.res.FollowUps, by = fu, "model"
		} else if err != nil {
			s.log.Warn("follow-up questions from the model failed; using the passages' headings", "tenant", r.c.Tenant.ID.String(), "error", err)
		}
	}
	if r.res.FollowUps == nil {
		r.res.FollowUps = followUps(plan.Rewritten, chunks, citedChunks(r.res.Answer, len(chunks)))
	}
	if r.res.FollowUps == nil {
		r.res.FollowUps = []string{}
	}
	r.time("followUps", t)
	r.res.Path = append(r.res.Path, "followUps:"+by)
	return nil
}

// answer has the search route's model answer from the framed passages,
// streaming its tokens through the citation filter.
func (r *run) answer(ctx context.Context, frame *rag.Context, retrieval, threshold float64, maxOut int) error {
	s := r.s
	window, _ := gateway.ContextWindow(r.c.Tenant.Config, gateway.RouteSearch, r.req.Model) // checked by validate
	creq := provider.ChatRequest{
		Messages:  []provider.Message{{Role: provider.RoleUser, Content: r.query}},
		Passages:  frame.Passages,
		MaxTokens: min(maxOut, window/4), SourcesPrompt: frame.Prompt,
		Buffered: r.sink == nil,
	}
	var startErr error
	call := gateway.Call{Caller: r.c, Route: gateway.RouteSearch, Model: r.req.Model,
		OnStart: func() { startErr = r.sources() }}
	st, err := s.gw.Chat(ctx, call, creq)
	if err != nil {
		return err
	}
	defer st.Close()
	if startErr != nil {
		return startErr
	}
	r.res.Model = st.Model()
	filter := newCiteFilter(len(frame.Sources))
	var raw, text strings.Builder
	emit := func(piece string) error {
		text.WriteString(piece)
		if piece == "" {
			return nil
		}
		return r.token(piece)
	}
	for {
		d, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		raw.WriteString(d.Text)
		if err := emit(filter.Write(d.Text)); err != nil {
			return err
		}
	}
	if err := emit(filter.Flush()); err != nil {
		return err
	}
	st.Close()
	s.rag.Cite(r.c.Tenant.ID, raw.String(), frame) // counts the dropped citations

	answer := strings.TrimSpace(text.String())
	texts := make([]string, len(frame.Passages))
	for i, p := range frame.Passages {
		texts[i] = p.Title + "\n" + p.Text
	}
	backed, cites := support(answer, texts)
	r.res.Confidence = answerConfidence(retrieval, backed, cites, answerCoverage(r.res.RewrittenQuery, answer))
	r.res.Answer = answer
	if r.res.Confidence < threshold {
		r.res.Answer = api.NoConfidentAnswer
	}
	r.res.Path = append(r.res.Path, "answer")
	return nil
}

// sources starts the stream with the sources, once.
func (r *run) sources() error {
	if r.sink == nil || r.started {
		return nil
	}
	r.started = true
	return r.sink.Sources(api.SearchSources{Sources: r.res.Sources, Intent: r.res.Intent, RewrittenQuery: r.res.RewrittenQuery})
}

func (r *run) token(text string) error {
	if r.sink == nil {
		return nil
	}
	return r.sink.Token(text)
}

// partial returns err with the result so far when the stream has started,
// so that the handler can end the stream with an error event.
func (r *run) partial(err error) (*api.SearchResult, error) {
	if r.started {
		return &r.res, err
	}
	return nil, err
}

// replay answers from a cached result.
func (r *run) replay(hit api.SearchResult) (*api.SearchResult, error) {
	hit.Cached = true
	hit.Path = []string{"cache"}
	hit.Timings = r.res.Timings
	r.res = hit
	r.res.Timings["total"] = ms(r.s.now().Sub(r.t0))
	r.s.metrics.stage.WithLabelValues("cache").Observe(r.res.Timings["total"] / 1000)
	r.s.metrics.searches.WithLabelValues(r.res.Intent).Inc()
	if err := r.sources(); err != nil {
		return r.partial(err)
	}
	if err := r.token(r.res.Answer); err != nil {
		return r.partial(err)
	}
	return &r.res, nil
}

// time records a stage's time since t0, in the timings and the metrics.
func (r *run) time(stage string, t0 time.Time) {
	d := r.s.now().Sub(t0)
	r.res.Timings[stage] = ms(d)
	r.s.metrics.stage.WithLabelValues(stage).Observe(d.Seconds())
}

func (r *run) lap(timing string, t0 time.Time) { r.res.Timings[timing] = ms(r.s.now().Sub(t0)) }

// navigate is the answer of a navigational query: the page of source n.
func navigate(ch rag.Chunk, n int) string {
	title := ch.Title
	if title == "" {
		title = ch.DocID
	}
	if ch.URL != "" {
		return fmt.Sprintf("The page you are looking for is probably “%s” (%s) [%d].", title, ch.URL, n)
	}
	return fmt.Sprintf("The page you are looking for is probably “%s” [%d].", title, n)
}

// bestTitle returns the index of the chunk whose document title holds the
// most of the query's terms (words such as "page" or "docs" count for
// nothing), the best ranked among equals: a navigational query names its
// page.
func bestTitle(query string, chunks []rag.Chunk) int {
	qs := dedup(index.Terms(navCues.ReplaceAllString(query, " ")))
	best, bestN := 0, 0
	for i, ch := range chunks {
		if n := found(qs, termSet(ch.Title)); n > bestN {
			best, bestN = i, n
		}
	}
	return best
}

// titleMatch reports whether every index term of query is in title: a
// short lookup that names a document.
func titleMatch(query, title string) bool {
	qs := dedup(index.Terms(query))
	return len(qs) > 0 && found(qs, termSet(title)) == len(qs)
}

// citedChunks returns the 0-based indices of the sources an answer cites.
func citedChunks(answer string, sources int) map[int]bool {
	out := map[int]bool{}
	for _, m := range markerNum.FindAllStringSubmatch(answer, -1) {
		if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= sources {
			out[n-1] = true
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
