package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The cache lives in the tenant-scoped KV store: every key is namespaced by
// the tenant there, so two tenants asking the same thing never share an
// entry. Keys are hashes of everything that determines the answer.
const (
	completionPrefix = "gw:cmpl:v1:"
	embeddingPrefix  = "gw:emb:v1:"
)

func (g *Gateway) cacheOn(cfg *tenant.Config) bool {
	return g.opts.Cache != nil && cfg.Cache.Enabled
}

// cachedCompletion is a stored answer.
type cachedCompletion struct {
	Provider  string              `json:"provider"`
	Model     string              `json:"model"`
	Fallback  bool                `json:"fallback,omitempty"`
	Text      string              `json:"text"`
	ToolCalls []provider.ToolCall `json:"toolCalls,omitempty"`
	Finish    string              `json:"finish,omitempty"`
	Usage     provider.Usage      `json:"usage"`
}

// completionKey identifies a chat request by everything that shapes its
// answer: the route, the model named, the messages, passages and tools, and
// the sampling settings.
func completionKey(route, model string, req provider.ChatRequest) string {
	b, _ := json.Marshal(struct {
		Route, Model string
		Messages     []provider.Message
		Passages     []provider.Passage
		Tools        []provider.Tool
		MaxTokens    int
		Temperature  *float64
		TopP         *float64
		Stop         []string
	}{route, model, req.Messages, req.Passages, req.Tools, req.MaxTokens, req.Temperature, req.TopP, req.Stop})
	sum := sha256.Sum256(b)
	return completionPrefix + hex.EncodeToString(sum[:])
}

// embeddingKey identifies one input's vector from one model.
func embeddingKey(ref string, dims int, text string) string {
	h := sha256.New()
	h.Write([]byte(ref))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(dims)))
	h.Write([]byte{0})
	h.Write([]byte(text))
	return embeddingPrefix + hex.EncodeToString(h.Sum(nil))
}

// lookup reads a cache entry, counting the hit or miss. A failing cache is
// a miss: the call goes to the provider.
func (g *Gateway) lookup(ctx context.Context, t tenant.ID, kind, key string) ([]byte, bool) {
	b, err := g.opts.Cache.Get(ctx, t, key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			g.opts.Logger.Warn("cache read failed", "tenant", t.String(), "error", err)
		}
		g.opts.Metrics.Cache.WithLabelValues(t.String(), kind, "miss").Inc()
		return nil, false
	}
	g.opts.Metrics.Cache.WithLabelValues(t.String(), kind, "hit").Inc()
	return b, true
}

func (g *Gateway) store(ctx context.Context, t tenant.ID, key string, value []byte, ttl time.Duration) {
	if err := g.opts.Cache.Set(context.WithoutCancel(ctx), t, key, value, ttl); err != nil {
		g.opts.Logger.Warn("cache write failed", "tenant", t.String(), "error", err)
	}
}

// batchSetter is a KV store that can write a batch in one transaction.
type batchSetter interface {
	SetMany(ctx context.Context, t tenant.ID, items map[string][]byte, ttl time.Duration) error
}

func (g *Gateway) storeMany(ctx context.Context, t tenant.ID, items map[string][]byte, ttl time.Duration) {
	if bs, ok := g.opts.Cache.(batchSetter); ok {
		if err := bs.SetMany(context.WithoutCancel(ctx), t, items, ttl); err != nil {
			g.opts.Logger.Warn("cache write failed", "tenant", t.String(), "error", err)
		}
		return
	}
	for k, v := range items {
		g.store(ctx, t, k, v, ttl)
	}
}

// replayStream plays a cached answer back as one delta.
type replayStream struct {
	c    cachedCompletion
	done bool
}

func (r *replayStream) Recv() (provider.Delta, error) {
	if r.done {
		return provider.Delta{}, io.EOF
	}
	r.done = true
	u := r.c.Usage
	return provider.Delta{Text: r.c.Text, ToolCalls: r.c.ToolCalls, FinishReason: r.c.Finish, Usage: &u}, nil
}

func (r *replayStream) Close() error { return nil }
