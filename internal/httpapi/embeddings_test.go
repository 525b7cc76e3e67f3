package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// mapKV is a KV store in memory, for the gateway's cache.
type mapKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (kv *mapKV) Get(_ context.Context, t tenant.ID, key string) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if v, ok := kv.m[t.String()+"\x00"+key]; ok {
		return v, nil
	}
	return nil, store.ErrNotFound
}

func (kv *mapKV) Set(_ context.Context, t tenant.ID, key string, value []byte, _ time.Duration) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.m == nil {
		kv.m = map[string][]byte{}
	}
	kv.m[t.String()+"\x00"+key] = value
	return nil
}

func (kv *mapKV) Delete(_ context.Context, t tenant.ID, key string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	delete(kv.m, t.String()+"\x00"+key)
	return nil
}

// memUsage is a usage ledger in memory.
type memUsage struct {
	mu   sync.Mutex
	recs []store.UsageRecord
}

func (u *memUsage) AppendUsage(_ context.Context, recs []store.UsageRecord) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.recs = append(u.recs, recs...)
	return nil
}

func (u *memUsage) UsageRollup(context.Context, tenant.ID, store.UsageFilter) ([]store.UsageRow, error) {
	return nil, nil
}

func (u *memUsage) UsageRecords(context.Context, tenant.ID, store.UsageFilter, int) ([]store.UsageRecord, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]store.UsageRecord(nil), u.recs...), nil
}

// countingEmbedder is the builtin embedder, counted, reporting a usage of
// its own that is not the inputs' cl100k_base count.
type countingEmbedder struct {
	mu    sync.Mutex
	calls int
}

func (e *countingEmbedder) Embed(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	res, err := builtin.New().Embed(ctx, req)
	if err == nil {
		res.Usage = provider.Usage{PromptTokens: 1000}
	}
	return res, err
}

// TestEmbeddingsUsageOnCacheHit checks that /v1/embeddings reports the
// tokens of its input on a cache hit as on a miss, counted by
// internal/tokens, although the hit calls no provider; the ledger keeps
// what each call spent: the provider's count, then nothing.
func TestEmbeddingsUsageOnCacheHit(t *testing.T) {
	reg := registry(t) // acme: cache enabled, embeddings builtin/hash-384
	emb := &countingEmbedder{}
	cat := gateway.NewCatalog(reg, gateway.Adapter{Embed: emb}, func(*tenant.Tenant, string, tenant.Provider) gateway.Adapter { return gateway.Adapter{} })
	usage := &memUsage{}
	ledger := gateway.NewLedger(usage, nil)
	gw := gateway.New(gateway.Options{Catalog: func() *gateway.Catalog { return cat }, Cache: &mapKV{}, Ledger: ledger})
	ts := New(Options{Registry: func() *tenant.Registry { return reg }, Metrics: obs.NewMetrics(), Gateway: gw})
	ts.SetReady(true)

	inputs := []string{"The quick brown fox jumps over the lazy dog.", "naïve café, 東京"}
	want := tokens.Count(inputs[0]) + tokens.Count(inputs[1])
	body, _ := json.Marshal(map[string]any{"model": "builtin/hash-384", "input": inputs})
	for _, call := range []string{"miss", "hit"} {
		res := (&testServer{Server: ts}).do(t, "POST", "/v1/embeddings", string(body), "Authorization", "Bearer ck_dev_acme")
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", call, res.status, res.raw)
		}
		var out openai.EmbeddingList
		if err := json.NewDecoder(strings.NewReader(res.raw)).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if len(out.Data) != 2 || out.Usage.PromptTokens != want || out.Usage.TotalTokens != want || out.Usage.CompletionTokens != 0 {
			t.Errorf("%s: %d vectors, usage %+v, want prompt and total %d", call, len(out.Data), out.Usage, want)
		}
	}
	if emb.calls != 1 {
		t.Errorf("provider calls = %d, want 1: the second call is a cache hit", emb.calls)
	}
	ledger.Close()
	recs, _ := usage.UsageRecords(t.Context(), tenant.ID{}, store.UsageFilter{}, 10)
	if len(recs) != 2 || recs[0].CacheHit || recs[0].TokensIn != 1000 || !recs[1].CacheHit || recs[1].TokensIn != 0 || recs[1].CostMicros != 0 {
		t.Errorf("ledger = %+v, want the miss's 1000 tokens, then a cache hit of 0", recs)
	}
}
