// Package gateway is the one way Crispy Enigma calls a model. For each call
// it picks the tenant's models for the route, reserves budget, calls the
// provider with retries, backoff, a circuit breaker and fallbacks (only
// before the first token), and records what the call used in the usage
// ledger and in metrics.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
	"github.com/crispy-enigma/crispy/internal/vecbytes"
)

// Options are the dependencies of a Gateway. Catalog is required.
type Options struct {
	// Catalog returns the adapters in force; it is swapped on reload.
	Catalog func() *Catalog
	// Budgets enforces caps. Default: new, empty budgets.
	Budgets *Budgets
	// Cache holds cached embeddings and completions of tenants that enable
	// their cache. Default: none.
	Cache store.KV
	// Ledger receives a usage record per call. Default: none.
	Ledger *Ledger
	// Metrics receives counters. Default: collectors on a private registry.
	Metrics *Metrics
	// Logger receives warnings about failing providers. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Sleep waits between retries. Default: a timer that ctx can cut short.
	Sleep func(ctx context.Context, d time.Duration) error
	// Tracer makes the spans of calls and attempts. Default: none made.
	Tracer trace.Tracer
}

// Gateway routes model calls of every tenant.
type Gateway struct {
	opts     Options
	breakers breakers
}

// New returns a Gateway.
func New(opts Options) *Gateway {
	if opts.Catalog == nil {
		panic("gateway: Options.Catalog is required")
	}
	if opts.Budgets == nil {
		opts.Budgets = NewBudgets(opts.Now)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	opts.Tracer = obs.Tracer(opts.Tracer)
	return &Gateway{opts: opts}
}

// Budgets returns the gateway's budgets.
func (g *Gateway) Budgets() *Budgets { return g.opts.Budgets }

// Call says who makes a model call and for what.
type Call struct {
	// Caller is who makes the call: its tenant routes and pays for it, its
	// key's budget too, and its request ID goes with it to the provider.
	tenant.Caller
	Route string // RouteChat, RouteCompletions, RouteEmbedding, ...
	Model string // the model the caller named, "" for the route's
	// OnStart, when set, is called once the call has passed routing and
	// budget checks, just before the first provider attempt: an error
	// returned before it is the caller's (a 4xx), one after it is the
	// provider's. Streaming handlers use it to commit their headers and
	// start heartbeats.
	OnStart func()
	// Cache allows an exact-match cached answer (and caches this one) when
	// the tenant enables its cache: for stateless calls only, never for a
	// turn of a session.
	Cache bool
}

// Chat starts a chat call. It returns once a model has produced its first
// piece of output: every retry and fallback happens before that, so the
// caller never sees a model switch mid-answer. The returned Stream must be
// closed; closing it early (a client that went away) cancels the upstream
// call and bills what was generated.
func (g *Gateway) Chat(ctx context.Context, call Call, req provider.ChatRequest) (*Stream, error) {
	start := g.opts.Now()
	cfg := call.Tenant.Config
	targets, err := resolve(cfg, call.Route, call.Model)
	if err != nil {
		return nil, err
	}
	maxOut := cfg.Limits.MaxOutputTokens
	switch {
	case req.MaxTokens < 0:
		return nil, api.Errorf(api.CodeInvalidRequest, "max_tokens must not be negative").WithDetails(map[string]any{"path": "/max_tokens"})
	case req.MaxTokens > maxOut:
		return nil, api.Errorf(api.CodeInvalidRequest, "max_tokens %d is over this tenant's limit of %d", req.MaxTokens, maxOut).
			WithDetails(map[string]any{"path": "/max_tokens", "limit": maxOut})
	case req.MaxTokens == 0:
		req.MaxTokens = maxOut
	}
	ctx, span := g.startCall(ctx, call, opChat, targets)
	var cacheKey string
	if call.Cache && g.cacheOn(cfg) {
		cacheKey = completionKey(call.Route, call.Model, req)
		if b, ok := g.lookup(ctx, call.Tenant.ID, "completion", cacheKey); ok {
			var c cachedCompletion
			if err := json.Unmarshal(b, &c); err == nil {
				st := g.replay(call, start, c)
				st.tally = TallyFrom(ctx)
				st.span = span
				return st, nil
			}
		}
	}
	// Counting the prompt costs time on every call: do it only when a
	// budget needs the figure now; otherwise only if the provider reports
	// no usage (Stream.end).
	promptEst := int64(-1)
	var reserveTokens, reserveCost int64
	if g.opts.Budgets.HasCaps(call.Tenant, call.Key) {
		promptEst = int64(tokens.CountPrompt(&req))
		// The reservation covers the prompt with a margin for tokenizers
		// that count differently, and the most the model may write.
		reserveTokens = promptEst + promptEst/10 + 16 + int64(req.MaxTokens)
		for _, t := range targets {
			reserveCost = max(reserveCost, price(cfg, t.Ref).cost(reserveTokens-int64(req.MaxTokens), int64(req.MaxTokens)))
		}
	}
	res, err := g.opts.Budgets.ReserveContext(ctx, call.Tenant, call.Key, reserveTokens, reserveCost)
	if err != nil {
		failCall(span, err)
		return nil, err
	}
	req.Meta = provider.Meta{Tenant: call.Tenant.ID.String(), Route: call.Route, RequestID: call.RequestID}

	ctx, cancel := context.WithTimeout(ctx, cfg.Limits.RequestTimeout.D())
	rec := g.newRecord(call, start)
	if call.OnStart != nil {
		call.OnStart()
	}
	st := &Stream{g: g, call: call, cancel: cancel, res: res, rec: rec, promptEst: promptEst, req: &req, cacheKey: cacheKey, ctx: ctx, tally: TallyFrom(ctx), span: span}

	err = g.attempt(ctx, call, targets, *cfg.Models.Retries, rec, func(ctx context.Context, ad Adapter, t Target) error {
		if ad.Chat == nil {
			return &provider.Error{Provider: t.Provider, Kind: provider.KindNotFound, Message: "provider does not serve chat"}
		}
		r := req
		r.Model = t.Model
		up, err := ad.Chat.Chat(ctx, &r)
		if err != nil {
			return err
		}
		// Wait for the first piece of output before committing to this model.
		for {
			d, err := up.Recv()
			if err == io.EOF {
				st.up, st.eof = up, true
				return nil
			}
			if err != nil {
				up.Close()
				return err
			}
			if d.Text != "" || len(d.ToolCalls) > 0 || d.FinishReason != "" || d.Usage != nil {
				st.up, st.pending = up, &d
				return nil
			}
		}
	})
	if err != nil {
		cancel()
		res.Settle(0, 0)
		g.finish(TallyFrom(ctx), rec, cfg, 0, 0, false)
		endCall(span, cfg, rec, "")
		return nil, err
	}
	rec.TTFT = g.opts.Now().Sub(start)
	g.opts.Metrics.TTFT.WithLabelValues(call.Tenant.ID.String(), rec.Provider, rec.Model).Observe(rec.TTFT.Seconds())
	return st, nil
}

// replay answers a call from the cache: no budget is reserved and nothing
// is billed; the usage record notes the cache hit.
func (g *Gateway) replay(call Call, start time.Time, c cachedCompletion) *Stream {
	rec := g.newRecord(call, start)
	rec.Provider, rec.Model, rec.Fallback, rec.CacheHit = c.Provider, c.Model, c.Fallback, true
	if call.OnStart != nil {
		call.OnStart()
	}
	st := &Stream{g: g, call: call, cancel: func() {}, rec: rec, up: &replayStream{c: c}, cached: true}
	rec.TTFT = g.opts.Now().Sub(start)
	return st
}

// EmbedResult is the answer of an embedding call.
type EmbedResult struct {
	Model   string // provider/model that answered
	Vectors [][]float32
	Usage   provider.Usage
}

// Embed embeds texts with the tenant's embedding model (or the named one),
// with the same retries, fallbacks, budgets and metering as Chat.
func (g *Gateway) Embed(ctx context.Context, call Call, req provider.EmbedRequest) (*EmbedResult, error) {
	start := g.opts.Now()
	cfg := call.Tenant.Config
	call.Route = RouteEmbedding
	targets, err := resolve(cfg, RouteEmbedding, call.Model)
	if err != nil {
		return nil, err
	}
	// With the tenant's cache on, a call whose every input was embedded
	// before by the primary model is answered from the cache. Otherwise all
	// inputs go to the provider: a partial answer could mix the vectors of
	// a fallback model with the primary's, which live in different spaces.
	ctx, span := g.startCall(ctx, call, opEmbeddings, targets)
	cacheOn := g.cacheOn(cfg)
	if cacheOn {
		cached := make([][]float32, len(req.Input))
		hits := 0
		for i, in := range req.Input {
			b, ok := g.lookup(ctx, call.Tenant.ID, "embedding", embeddingKey(targets[0].Ref, req.Dimensions, in))
			if !ok {
				break
			}
			v, err := vecbytes.Decode(b)
			if err != nil || len(v) == 0 {
				break
			}
			cached[i] = v
			hits++
		}
		if hits == len(req.Input) {
			rec := g.newRecord(call, start)
			rec.Provider, rec.Model, rec.CacheHit, rec.Status = targets[0].Provider, targets[0].Model, true, "ok"
			g.finish(TallyFrom(ctx), rec, cfg, 0, 0, false)
			endCall(span, cfg, rec, "")
			return &EmbedResult{Model: targets[0].Ref, Vectors: cached}, nil
		}
	}
	// Inputs are counted only when a budget needs the figure now, or the
	// provider reports no usage.
	promptEst := int64(-1)
	countInputs := func() int64 {
		var n int64
		for _, in := range req.Input {
			n += int64(tokens.Count(in))
		}
		return n
	}
	var reserve, reserveCost int64
	if g.opts.Budgets.HasCaps(call.Tenant, call.Key) {
		promptEst = countInputs()
		reserve = promptEst + promptEst/10 + 16
		for _, t := range targets {
			reserveCost = max(reserveCost, price(cfg, t.Ref).cost(reserve, 0))
		}
	}
	res, err := g.opts.Budgets.ReserveContext(ctx, call.Tenant, call.Key, reserve, reserveCost)
	if err != nil {
		failCall(span, err)
		return nil, err
	}
	req.Meta = provider.Meta{Tenant: call.Tenant.ID.String(), Route: call.Route, RequestID: call.RequestID}
	ctx, cancel := context.WithTimeout(ctx, cfg.Limits.RequestTimeout.D())
	defer cancel()
	rec := g.newRecord(call, start)
	var out *provider.EmbedResponse
	err = g.attempt(ctx, call, targets, *cfg.Models.Retries, rec, func(ctx context.Context, ad Adapter, t Target) error {
		if ad.Embed == nil {
			return &provider.Error{Provider: t.Provider, Kind: provider.KindNotFound, Message: "provider does not serve embeddings"}
		}
		r := req
		r.Model = t.Model
		var resp *provider.EmbedResponse
		var err error
		if c, ok := ad.Embed.(cacheEmbedder); ok {
			resp, rec.CacheHit, err = c.EmbedWithCache(ctx, &r)
		} else {
			resp, err = ad.Embed.Embed(ctx, &r)
		}
		if err == nil && len(resp.Vectors) != len(req.Input) {
			err = &provider.Error{Provider: t.Provider, Kind: provider.KindProtocol, Message: fmt.Sprintf("%d vectors for %d inputs", len(resp.Vectors), len(req.Input))}
		}
		out = resp
		return err
	})
	if err != nil {
		res.Settle(0, 0)
		g.finish(TallyFrom(ctx), rec, cfg, 0, 0, false)
		endCall(span, cfg, rec, "")
		return nil, err
	}
	usage := out.Usage
	if usage.PromptTokens == 0 {
		if promptEst < 0 {
			promptEst = countInputs()
		}
		usage = provider.Usage{PromptTokens: int(promptEst), Estimated: true}
	}
	rec.Status = "ok"
	cost := g.finish(TallyFrom(ctx), rec, cfg, int64(usage.PromptTokens), 0, usage.Estimated)
	endCall(span, cfg, rec, "")
	res.Settle(int64(usage.Total()), cost)
	if cacheOn && !rec.Fallback {
		items := make(map[string][]byte, len(out.Vectors))
		for i, v := range out.Vectors {
			items[embeddingKey(targets[0].Ref, req.Dimensions, req.Input[i])] = vecbytes.Append(nil, v)
		}
		g.storeMany(ctx, call.Tenant.ID, items, cfg.Cache.EmbeddingTTL.D())
	}
	return &EmbedResult{Model: rec.Provider + "/" + rec.Model, Vectors: out.Vectors, Usage: usage}, nil
}

// cacheEmbedder is an embedder that can say whether a cache in front of
// the provider (AI Gateway's) answered.
type cacheEmbedder interface {
	EmbedWithCache(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, bool, error)
}

// attempt runs try against each target in order, with retries and backoff
// on failures that may pass, honouring Retry-After and the breakers. It
// returns nil once a try succeeds, or the error the caller should see.
func (g *Gateway) attempt(ctx context.Context, call Call, targets []Target, retries int, rec *store.UsageRecord,
	try func(ctx context.Context, ad Adapter, t Target) error) error {
	tid := call.Tenant.ID.String()
	cat := g.opts.Catalog()
	var lastErr error
	skipped := 0
	for i, t := range targets {
		rec.Provider, rec.Model, rec.Fallback = t.Provider, t.Model, i > 0
		ad, ok := cat.adapter(tid, t.Provider)
		if !ok {
			lastErr = &provider.Error{Provider: t.Provider, Kind: provider.KindNotFound, Message: "provider is not configured"}
			noteSkip(ctx, t, skipUnconfigured)
			continue
		}
		if ad.Err != nil {
			lastErr = &provider.Error{Provider: t.Provider, Kind: provider.KindAuth, Err: ad.Err}
			noteSkip(ctx, t, skipUnavailable)
			continue
		}
		br := g.breakers.get(tid, t)
		for n := 0; n <= retries; n++ {
			if !br.allow(g.opts.Now()) {
				noteSkip(ctx, t, skipCircuitOpen)
				skipped++
				if lastErr == nil {
					lastErr = &provider.Error{Provider: t.Provider, Kind: provider.KindOverloaded, Message: "circuit open"}
				}
				break
			}
			if n > 0 {
				g.opts.Metrics.Retries.WithLabelValues(tid, t.Provider, t.Model).Inc()
			}
			rec.Attempts++
			actx, span := g.startAttempt(ctx, call, t, rec.Attempts, n, i > 0, br)
			err := try(actx, ad, t)
			if err == nil {
				endAttempt(span, t, "")
				br.success()
				if i > 0 {
					g.opts.Metrics.Fallbacks.WithLabelValues(tid, call.Route).Inc()
				}
				return nil
			}
			kind := provider.KindOf(err)
			endAttempt(span, t, kind.String())
			if ctx.Err() != nil {
				br.release()
				return ended(ctx, rec, kind)
			}
			lastErr = err
			g.opts.Metrics.Errors.WithLabelValues(tid, t.Provider, t.Model, kind.String()).Inc()
			g.opts.Logger.Warn("provider call failed", "tenant", tid, "provider", t.Provider, "model", t.Model, "kind", kind.String(), "attempt", n+1, "error", err, "request_id", call.RequestID)
			switch kind {
			case provider.KindBadRequest, provider.KindUnknown:
				br.release()
			default:
				if br.failure(g.opts.Now()) {
					g.opts.Metrics.Breaker.WithLabelValues(tid, t.Provider, t.Model).Inc()
				}
			}
			if kind == provider.KindBadRequest {
				rec.Status, rec.ErrorKind = "error", kind.String()
				return api.Errorf(api.CodeInvalidRequest, "the model provider rejected the request: %s", providerMessage(err))
			}
			if !kind.Retryable() || n == retries {
				break
			}
			wait := backoff(n + 1)
			var pe *provider.Error
			if errors.As(err, &pe) && pe.RetryAfter > 0 {
				if pe.RetryAfter > maxRetryAfterWait {
					break // a long wait: better to fall back now
				}
				wait = pe.RetryAfter
			}
			if err := g.opts.Sleep(ctx, wait); err != nil {
				return ended(ctx, rec, kind)
			}
		}
	}
	kind := provider.KindOf(lastErr)
	rec.Status, rec.ErrorKind = "error", kind.String()
	if skipped == len(targets) {
		return api.Errorf(api.CodeUnavailable, "every model of this route is failing; try again shortly").
			WithDetails(map[string]any{"models": refs(targets)})
	}
	if kind == provider.KindTimeout {
		return api.Errorf(api.CodeUpstreamTimeout, "the model provider did not answer in time").
			WithDetails(map[string]any{"models": refs(targets)})
	}
	return api.Errorf(api.CodeUpstreamError, "the model provider failed (%s)", kind).
		WithDetails(map[string]any{"models": refs(targets), "kind": kind.String()})
}

// ended is the error of a call whose context ended during its attempts:
// the overall deadline (504) or the caller going away. It notes it in the
// usage record.
func ended(ctx context.Context, rec *store.UsageRecord, kind provider.Kind) error {
	rec.Status, rec.ErrorKind = "cancelled", kind.String()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		rec.Status = "error"
		return api.Errorf(api.CodeUpstreamTimeout, "no model answered within the deadline")
	}
	return api.Errorf(api.CodeUnavailable, "the request was cancelled")
}

// newRecord starts the usage record of a call.
func (g *Gateway) newRecord(call Call, start time.Time) *store.UsageRecord {
	return &store.UsageRecord{
		Time:      start,
		Tenant:    call.Tenant.ID,
		RequestID: call.RequestID,
		KeyID:     call.KeyID(),
		Route:     call.Route,
	}
}

// finish completes rec with the call's tokens and cost, sends it to the
// ledger, the metrics and the request's tally, and returns the cost in
// micro-dollars.
func (g *Gateway) finish(tally *Tally, rec *store.UsageRecord, cfg *tenant.Config, in, out int64, estimated bool) int64 {
	rec.Latency = g.opts.Now().Sub(rec.Time)
	rec.TokensIn, rec.TokensOut, rec.Estimated = in, out, estimated
	rec.CostMicros = price(cfg, rec.Provider+"/"+rec.Model).cost(in, out)
	tid := rec.Tenant.String()
	m := g.opts.Metrics
	m.Calls.WithLabelValues(tid, rec.Route, rec.Provider, rec.Model, rec.Status).Inc()
	if in > 0 {
		m.Tokens.WithLabelValues(tid, rec.Provider, rec.Model, "in").Add(float64(in))
	}
	if out > 0 {
		m.Tokens.WithLabelValues(tid, rec.Provider, rec.Model, "out").Add(float64(out))
	}
	if rec.CostMicros > 0 {
		m.Cost.WithLabelValues(tid, rec.Provider, rec.Model).Add(float64(rec.CostMicros) / 1e6)
	}
	tally.Add(*rec)
	if g.opts.Ledger != nil {
		g.opts.Ledger.Record(*rec)
	}
	return rec.CostMicros
}

func refs(ts []Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Ref
	}
	return out
}

// providerMessage is the provider's own explanation of a rejected request,
// which is about the caller's request and safe to show.
func providerMessage(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Message != "" {
		return pe.Message
	}
	return "bad request"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
