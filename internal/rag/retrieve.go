package rag

import (
	"cmp"
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Retrieval modes.
const (
	ModeHybrid = "hybrid"
	ModeVector = "vector"
	ModeBM25   = "bm25"
)

// Query is a retrieval request.
type Query struct {
	Text    string       `json:"query"`
	TopK    int          `json:"topK,omitempty"`
	Filters index.Filter `json:"filters,omitempty"`
	Mode    string       `json:"mode,omitempty"`
	// NoRerank skips the tenant's reranker (for exact-term lookups, where
	// the fused order is what the caller wants).
	NoRerank bool `json:"-"`
}

// Ranks are a chunk's positions in the lists fusion combined (0: absent).
type Ranks struct {
	BM25   int `json:"bm25,omitempty"`
	Vector int `json:"vector,omitempty"`
	Rerank int `json:"rerank,omitempty"`
}

// Chunk is one retrieved chunk.
type Chunk struct {
	ChunkID     string   `json:"chunkId"`
	DocID       string   `json:"docId"`
	Title       string   `json:"title,omitempty"`
	URL         string   `json:"url,omitempty"`
	HeadingPath []string `json:"headingPath,omitempty"`
	Text        string   `json:"text"`
	Start       int      `json:"start"`
	End         int      `json:"end"`
	Score       float64  `json:"score"`
	Ranks       Ranks    `json:"ranks"`
	// Flagged marks text that looks like instructions to a model.
	Flagged bool `json:"flagged,omitempty"`

	tokens int // of Text as stored
}

// Result is the answer to a Query.
type Result struct {
	Mode    string  `json:"mode"`
	Chunks  []Chunk `json:"chunks"`
	Version int64   `json:"version"`
	// Timings are milliseconds by stage: bm25, feedback (the expanded BM25
	// query), embed, vector, fuse, rerank, and total.
	Timings map[string]float64 `json:"timings"`
}

// Retrieve runs a query against the caller's tenant only.
//
// BM25 (modes bm25 and hybrid) runs twice: the query, then the query
// expanded by pseudo-relevance feedback (RM3) from its first run's best
// chunks. In hybrid mode the query's embedding is moved toward the vectors
// of the best chunks of the expanded BM25 run (Rocchio) before the vector
// search, and the two lists are fused by weighted reciprocal rank, the
// vector list weighing what the embedding model is worth (VectorWeight).
// Vector mode is the embedding alone.
func (s *Service) Retrieve(ctx context.Context, c tenant.Caller, q Query) (*Result, error) {
	cfg := c.Tenant.Config
	if err := ValidateQuery(cfg, &q); err != nil {
		return nil, err
	}
	k, err := s.base(ctx, c.Tenant.ID)
	if err != nil {
		return nil, api.Internal(err)
	}
	ctx, span := s.startRetrieve(ctx, c, q)
	defer span.End()
	start := time.Now()
	timings := map[string]float64{}
	lap := func(stage string, t0 time.Time) { timings[stage] = float64(time.Since(t0).Microseconds()) / 1000 }

	var bm25, vec []index.Hit
	vecWeight := 1.0 // of the vector list in hybrid fusion, BM25's being 1
	if q.Mode != ModeVector {
		t0 := time.Now()
		_, sp := s.startStage(ctx, c, "bm25")
		bm25 = k.ix.BM25(q.Text, candidates, q.Filters)
		endStage(sp, len(bm25))
		lap("bm25", t0)
		if len(bm25) > 0 {
			t0 = time.Now()
			_, sp := s.startStage(ctx, c, "feedback")
			bm25 = k.expand(q, bm25)
			endStage(sp, len(bm25))
			lap("feedback", t0)
		}
	}
	if q.Mode != ModeBM25 && k.ix.Len() > 0 {
		t0 := time.Now()
		ectx, sp := s.startStage(ctx, c, "embed")
		res, err := s.gw.Embed(ectx, gateway.Call{Caller: c, Route: gateway.RouteEmbedding}, provider.EmbedRequest{Input: []string{q.Text}})
		if err != nil {
			code := string(api.AsError(err).Code)
			obs.Fail(sp, code)
			sp.End()
			endRetrieve(span, 0, 0, code)
			return nil, err
		}
		endStage(sp, len(res.Vectors))
		lap("embed", t0)
		vecWeight = VectorWeight(cmp.Or(res.Model, gateway.PrimaryModel(cfg, gateway.RouteEmbedding)))
		t0 = time.Now()
		_, sp = s.startStage(ctx, c, "vector")
		qv := res.Vectors[0]
		if len(bm25) > 0 { // hybrid: feedback from the best BM25 chunks
			qv = k.ix.Rocchio(qv, bm25[:min(len(bm25), index.DefaultFeedbackDocs)], 0)
		}
		vec = k.ix.Vector(qv, candidates, q.Filters)
		endStage(sp, len(vec))
		lap("vector", t0)
	}

	t0 := time.Now()
	_, sp := s.startStage(ctx, c, "fuse")
	var fused []index.Fused
	switch q.Mode {
	case ModeBM25:
		fused = asFused(bm25, 0)
	case ModeVector:
		fused = asFused(vec, 1)
	default:
		fused = index.WeightedRRF(candidates, index.DefaultRRFConstant, []float64{1, vecWeight}, bm25, vec)
	}
	endStage(sp, len(fused))
	lap("fuse", t0)

	rr := s.reranker(c)
	k.mu.RLock()
	chunks := make([]Chunk, 0, len(fused))
	for _, f := range fused {
		info := k.chunks[f.ChunkID]
		if info == nil {
			continue // deleted between search and now
		}
		if len(chunks) == q.TopK && (q.NoRerank || q.Mode != ModeHybrid || rr == nil) {
			break // only a reranker reads past topK
		}
		text, err := k.text(info)
		if err != nil {
			k.mu.RUnlock()
			endRetrieve(span, 0, 0, "internal")
			return nil, api.Internal(err)
		}
		ch := Chunk{
			ChunkID: f.ChunkID, DocID: info.DocID, Title: info.Title, URL: info.URL, HeadingPath: info.HeadingPath,
			Text: text, Start: info.Start, End: info.End, Score: f.Score, Flagged: info.Flagged, tokens: info.Tokens,
		}
		if len(f.Ranks) > 0 {
			ch.Ranks.BM25 = f.Ranks[0]
		}
		if len(f.Ranks) > 1 {
			ch.Ranks.Vector = f.Ranks[1]
		}
		chunks = append(chunks, ch)
	}
	version := k.version
	k.mu.RUnlock()

	if r := rr; r != nil && !q.NoRerank && len(chunks) > 1 && q.Mode == ModeHybrid {
		t0 := time.Now()
		rctx, sp := s.startStage(ctx, c, "rerank")
		n := min(len(chunks), 3*q.TopK)
		docs := make([]string, n)
		for i := range n {
			docs[i] = chunks[i].Text
		}
		scores, err := r.Rerank(rctx, q.Text, docs)
		if err != nil {
			obs.Fail(sp, "rerank_failed")
			s.log.Warn("reranker failed; keeping the fused order", "tenant", c.Tenant.ID.String(), "error", err)
		} else {
			order := applyRerank(n, scores)
			reranked := make([]Chunk, 0, len(chunks))
			for i, j := range order {
				ch := chunks[j]
				ch.Ranks.Rerank = i + 1
				reranked = append(reranked, ch)
			}
			chunks = append(reranked, chunks[n:]...)
		}
		endStage(sp, n)
		lap("rerank", t0)
	}

	if len(chunks) > q.TopK {
		chunks = chunks[:q.TopK]
	}
	if kinds := cfg.RAG.Redact; len(kinds) > 0 {
		for i := range chunks {
			chunks[i].Text = Redact(chunks[i].Text, kinds)
		}
	}
	timings["total"] = float64(time.Since(start).Microseconds()) / 1000
	s.metrics.retrieve.WithLabelValues(q.Mode).Observe(time.Since(start).Seconds())
	s.metrics.observeStages(timings)
	endRetrieve(span, len(chunks), version, "")
	return &Result{Mode: q.Mode, Chunks: chunks, Version: version, Timings: timings}, nil
}

// expand runs the BM25 query again, expanded by pseudo-relevance feedback
// (RM3) from the first index.DefaultFeedbackDocs chunks of its first run,
// hits, as they were indexed (title, headings and text). It returns hits
// when the expanded query finds nothing.
func (k *kb) expand(q Query, hits []index.Hit) []index.Hit {
	n := min(len(hits), index.DefaultFeedbackDocs)
	fb := make([]index.Feedback, 0, n)
	k.mu.RLock()
	for _, h := range hits[:n] {
		if info := k.chunks[h.ChunkID]; info != nil {
			if text, err := k.text(info); err == nil {
				fb = append(fb, index.Feedback{Text: IndexText(info.Title, info.HeadingPath, text), Score: h.Score})
			}
		}
	}
	k.mu.RUnlock()
	expanded := k.ix.BM25Terms(k.ix.Expand(q.Text, fb, index.Expansion{}), candidates, q.Filters)
	if len(expanded) == 0 {
		return hits
	}
	return expanded
}

func asFused(hits []index.Hit, list int) []index.Fused {
	out := make([]index.Fused, len(hits))
	for i, h := range hits {
		ranks := make([]int, 2)
		ranks[list] = i + 1
		out[i] = index.Fused{Hit: h, Ranks: ranks}
	}
	return out
}

// reranker returns the tenant's reranker, or nil.
func (s *Service) reranker(c tenant.Caller) Reranker {
	rr := c.Tenant.Config.RAG.Reranker
	if rr == nil || s.Rerankers == nil {
		return nil
	}
	return s.Rerankers(c.Tenant, *rr)
}

// ValidateQuery checks a query against the tenant's limits and fills in its
// defaults (topK, mode), as Retrieve does first.
func ValidateQuery(cfg *tenant.Config, q *Query) error {
	bad := func(path, format string, args ...any) error {
		return api.Errorf(api.CodeInvalidRequest, format, args...).WithDetails(map[string]any{"path": path})
	}
	q.Text = strings.TrimSpace(q.Text)
	maxTopK := cfg.RAG.MaxTopK
	if q.TopK == 0 {
		q.TopK = cfg.RAG.TopK
	}
	if q.Mode == "" {
		q.Mode = ModeHybrid
	}
	switch {
	case q.Text == "":
		return bad("/query", "query must not be empty")
	case !utf8.ValidString(q.Text):
		return bad("/query", "query must be valid UTF-8")
	case utf8.RuneCountInString(q.Text) > MaxQueryChars:
		return bad("/query", "query is longer than %d characters", MaxQueryChars)
	case q.TopK < 1 || q.TopK > maxTopK:
		return api.Errorf(api.CodeInvalidRequest, "topK must be from 1 to %d", maxTopK).WithDetails(map[string]any{"path": "/topK", "limit": maxTopK})
	case q.Mode != ModeHybrid && q.Mode != ModeVector && q.Mode != ModeBM25:
		return bad("/mode", "mode must be hybrid, vector or bm25")
	}
	if err := q.Filters.Validate(); err != nil {
		return bad("/filters", "%v", err)
	}
	return nil
}

// Context is what a grounded answer is given: the passages, numbered from
// 1, within the tenant's context budget, and the prompt that frames them.
type Context struct {
	Passages []provider.Passage
	Sources  []api.Source
	Prompt   string
	Flagged  int
}

// Context retrieves passages for a question and frames them for a model.
func (s *Service) Context(ctx context.Context, c tenant.Caller, question string, filters index.Filter) (*Context, error) {
	res, err := s.Retrieve(ctx, c, Query{Text: question, Filters: filters})
	if err != nil {
		return nil, err
	}
	return s.Frame(c, question, res)
}

// Frame numbers the chunks of a retrieval result from 1, keeps those that
// fit the tenant's context budget (in rank order, stopping at the first
// that does not), and renders the prompt that frames them as data.
func (s *Service) Frame(c tenant.Caller, question string, res *Result) (*Context, error) {
	cfg := c.Tenant.Config
	budget := cfg.RAG.MaxContextTokens
	out := &Context{}
	var pp []PromptPassage
	for _, ch := range res.Chunks {
		n := ch.tokens
		if n == 0 || len(cfg.RAG.Redact) > 0 { // redaction changes the text
			n = countTokens(ch.Text)
		}
		if n > budget {
			break
		}
		budget -= n
		num := len(out.Passages) + 1
		out.Passages = append(out.Passages, provider.Passage{N: num, ID: ch.ChunkID, Title: ch.Title, Text: ch.Text})
		out.Sources = append(out.Sources, api.Source{N: num, DocID: ch.DocID, ChunkID: ch.ChunkID, Title: ch.Title, URL: ch.URL, Snippet: snippet(ch.Text), Score: ch.Score})
		pp = append(pp, PromptPassage{N: num, Title: attr.Replace(ch.Title), URL: ch.URL, Text: frame.Replace(ch.Text), Flagged: ch.Flagged})
		if ch.Flagged {
			out.Flagged++
		}
	}
	if out.Flagged > 0 {
		s.metrics.flagged.WithLabelValues(c.Tenant.ID.String()).Add(float64(out.Flagged))
	}
	var err error
	out.Prompt, err = RenderPrompt(cfg.RAG.Template, question, pp)
	if err != nil {
		return nil, api.Internal(err)
	}
	return out, nil
}

// Cite maps the [n] of an answer to the context's sources: the cited
// sources, and the numbers that map to no passage of this context (dropped
// and counted).
func (s *Service) Cite(t tenant.ID, answer string, c *Context) (cited []api.Source, dropped []int) {
	valid, invalid := Citations(answer, len(c.Sources))
	for _, n := range valid {
		cited = append(cited, c.Sources[n-1])
	}
	if len(invalid) > 0 {
		s.metrics.dropped.WithLabelValues(t.String()).Add(float64(len(invalid)))
	}
	return cited, invalid
}

// attr keeps a title inside its quoted attribute on one line.
var attr = strings.NewReplacer(`"`, "'", "<", "‹", ">", "›", "\n", " ", "\r", " ")

// snippet is the start of a passage, cut at a word boundary.
func snippet(text string) string {
	const max = 240
	text = strings.Join(strings.Fields(text), " ")
	if len(text) <= max {
		return text
	}
	cut := strings.LastIndexByte(text[:max], ' ')
	if cut < max/2 {
		cut = max
		for !utf8.RuneStart(text[cut]) {
			cut--
		}
	}
	return text[:cut] + "…"
}
