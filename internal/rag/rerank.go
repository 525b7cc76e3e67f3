package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Reranker reorders retrieved passages by their relevance to a query. It
// returns, for each document it scores, its index in docs and a score;
// higher is more relevant. Documents it leaves out keep their order after
// the scored ones.
type Reranker interface {
	Rerank(ctx context.Context, query string, docs []string) ([]RerankScore, error)
}

// RerankScore is one document's relevance.
type RerankScore struct {
	Index int
	Score float64
}

// NoRerank keeps the retrieval order.
type NoRerank struct{}

// Rerank returns no scores, which keeps docs in their order.
func (NoRerank) Rerank(context.Context, string, []string) ([]RerankScore, error) { return nil, nil }

// HTTPReranker calls a reranking service with the Cohere/Jina-style API:
//
//	POST {BaseURL}/rerank {"model", "query", "documents": [...], "top_n"}
//	-> {"results": [{"index": 0, "relevance_score": 0.98}, ...]}
//
// which Cohere, Jina, Voyage, and the rerankers of vLLM, TEI and llama.cpp
// serve.
type HTTPReranker struct {
	BaseURL string
	Model   string
	APIKey  string
	Timeout time.Duration // default 10 s
	Client  *http.Client  // default http.DefaultClient
}

// Rerank scores docs against query.
func (r *HTTPReranker) Rerank(ctx context.Context, query string, docs []string) ([]RerankScore, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"model": r.Model, "query": query, "documents": docs, "top_n": len(docs)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.BaseURL, "/")+"/rerank", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+r.APIKey)
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rerank: status %d: %.200s", res.StatusCode, raw)
	}
	var out struct {
		Results []struct {
			Index          int      `json:"index"`
			RelevanceScore *float64 `json:"relevance_score"`
			Score          *float64 `json:"score"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("rerank: malformed answer: %w", err)
	}
	scores := make([]RerankScore, 0, len(out.Results))
	for _, x := range out.Results {
		if x.Index < 0 || x.Index >= len(docs) {
			return nil, fmt.Errorf("rerank: index %d out of range", x.Index)
		}
		s := x.RelevanceScore
		if s == nil {
			s = x.Score
		}
		if s == nil {
			return nil, fmt.Errorf("rerank: result %d has no score", x.Index)
		}
		scores = append(scores, RerankScore{Index: x.Index, Score: *s})
	}
	return scores, nil
}

// applyRerank returns the order of n items after scores: scored items by
// score (ties by their earlier order), then the unscored in their order.
func applyRerank(n int, scores []RerankScore) []int {
	score := make(map[int]float64, len(scores))
	for _, s := range scores {
		score[s.Index] = s.Score
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		sa, oka := score[order[a]]
		sb, okb := score[order[b]]
		switch {
		case oka && okb:
			return sa > sb
		default:
			return oka && !okb
		}
	})
	return order
}
