package gateway

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// step is what a fake provider does on one call.
type step struct {
	err       error    // returned by Chat
	words     []string // streamed deltas
	failAfter int      // with breakErr: fail after this many words
	breakErr  error
	usage     *provider.Usage
	block     bool // block in Recv until ctx is done
}

// fake is a scripted provider: each call consumes the next step; the last
// step repeats.
type fake struct {
	name  string
	mu    sync.Mutex
	steps []step
	calls atomic.Int64
	reqs  []provider.ChatRequest
}

func (f *fake) next() step {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.steps[0]
	if len(f.steps) > 1 {
		f.steps = f.steps[1:]
	}
	return s
}

func (f *fake) Chat(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.reqs = append(f.reqs, *req)
	f.mu.Unlock()
	s := f.next()
	if s.err != nil {
		return nil, s.err
	}
	return &fakeStream{ctx: ctx, s: s}, nil
}

type fakeStream struct {
	ctx    context.Context
	s      step
	i      int
	closed atomic.Bool
}

func (st *fakeStream) Recv() (provider.Delta, error) {
	if st.s.block {
		<-st.ctx.Done()
		return provider.Delta{}, st.ctx.Err()
	}
	if err := st.ctx.Err(); err != nil {
		return provider.Delta{}, err
	}
	if st.s.breakErr != nil && st.i == st.s.failAfter {
		return provider.Delta{}, st.s.breakErr
	}
	if st.i < len(st.s.words) {
		w := st.s.words[st.i]
		st.i++
		return provider.Delta{Text: w}, nil
	}
	if st.i == len(st.s.words) {
		st.i++
		return provider.Delta{FinishReason: "stop", Usage: st.s.usage}, nil
	}
	return provider.Delta{}, io.EOF
}

func (st *fakeStream) Close() error { st.closed.Store(true); return nil }

func perr(kind provider.Kind) error {
	return &provider.Error{Provider: "p", Kind: kind, Message: kind.String()}
}

type harness struct {
	gw     *Gateway
	t      *tenant.Tenant
	fakes  map[string]*fake
	slept  []time.Duration
	sleepM sync.Mutex
	now    time.Time
}

// newHarness builds a gateway over one tenant whose config JSON is cfg and
// whose providers are the given fakes (by provider name).
func newHarness(t *testing.T, cfg string, fakes ...*fake) *harness {
	t.Helper()
	c, ps := tenant.Parse("t.jsonc", []byte(cfg), tenant.Options{})
	if len(ps) > 0 {
		t.Fatalf("config: %v", ps)
	}
	reg, err := tenant.NewRegistry([]*tenant.Config{c}, tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{fakes: map[string]*fake{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	for _, f := range fakes {
		h.fakes[f.name] = f
	}
	h.t, _ = reg.Tenant(c.ID)
	cat := NewCatalog(reg, Adapter{}, func(_ *tenant.Tenant, name string, _ tenant.Provider) Adapter {
		if f, ok := h.fakes[name]; ok {
			return Adapter{Chat: f}
		}
		return Adapter{Err: errors.New("no fake")}
	})
	var mu sync.Mutex
	h.gw = New(Options{
		Catalog: func() *Catalog { return cat },
		Now:     func() time.Time { mu.Lock(); defer mu.Unlock(); return h.now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.sleepM.Lock()
			h.slept = append(h.slept, d)
			h.sleepM.Unlock()
			return ctx.Err()
		},
	})
	return h
}

const twoProviders = `{"id":"acme","name":"Acme","keys":[{"id":"k","hash":"sha256:0000000000000000000000000000000000000000000000000000000000000001","scopes":["chat"]}],
	"providers":{"a":{"type":"openai","baseUrl":"http://a"},"b":{"type":"openai","baseUrl":"http://b"}},
	"models":{"chat":{"model":"a/m1","fallbacks":["b/m2"]},"allow":["a/other"],"aliases":{"fast":"a/m1"}}}`

func collect(t *testing.T, st *Stream) (string, error) {
	t.Helper()
	return st.Text()
}

func (h *harness) chat(model string) (*Stream, error) {
	return h.gw.Chat(context.Background(), Call{Caller: tenant.Caller{Tenant: h.t, RequestID: "r1"}, Route: RouteChat, Model: model},
		provider.ChatRequest{Messages: []provider.Message{{Role: "user", Content: "hello there"}}})
}

func TestRetryThenSuccess(t *testing.T) {
	a := &fake{name: "a", steps: []step{{err: perr(provider.KindOverloaded)}, {words: []string{"hi ", "you"}}}}
	b := &fake{name: "b", steps: []step{{words: []string{"fallback"}}}}
	h := newHarness(t, twoProviders, a, b)
	st, err := h.chat("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	text, err := collect(t, st)
	if err != nil || text != "hi you" {
		t.Fatalf("text %q, err %v", text, err)
	}
	if a.calls.Load() != 2 || b.calls.Load() != 0 {
		t.Errorf("calls a=%d b=%d, want 2 and 0", a.calls.Load(), b.calls.Load())
	}
	if st.Model() != "a/m1" || st.Fallback() {
		t.Errorf("model %s fallback %v", st.Model(), st.Fallback())
	}
	if len(h.slept) != 1 || h.slept[0] > backoffBase {
		t.Errorf("slept %v, want one backoff within %v", h.slept, backoffBase)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	a := &fake{name: "a", steps: []step{{err: &provider.Error{Provider: "a", Kind: provider.KindRateLimited, RetryAfter: 1500 * time.Millisecond}}, {words: []string{"ok"}}}}
	h := newHarness(t, twoProviders, a, &fake{name: "b", steps: []step{{words: []string{"b"}}}})
	st, err := h.chat("")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if len(h.slept) != 1 || h.slept[0] != 1500*time.Millisecond {
		t.Errorf("slept %v, want exactly the Retry-After of 1.5s", h.slept)
	}
}

func TestLongRetryAfterFallsBack(t *testing.T) {
	a := &fake{name: "a", steps: []step{{err: &provider.Error{Provider: "a", Kind: provider.KindRateLimited, RetryAfter: time.Minute}}}}
	b := &fake{name: "b", steps: []step{{words: []string{"from b"}}}}
	h := newHarness(t, twoProviders, a, b)
	st, err := h.chat("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if text, _ := collect(t, st); text != "from b" || !st.Fallback() || st.Model() != "b/m2" {
		t.Errorf("text %q fallback %v model %s", text, st.Fallback(), st.Model())
	}
	if a.calls.Load() != 1 || len(h.slept) != 0 {
		t.Errorf("a called %d times, slept %v: want one call and no wait", a.calls.Load(), h.slept)
	}
}

func TestFallbackBeforeFirstToken(t *testing.T) {
	// a accepts the call but breaks before any token: still safe to fall back.
	a := &fake{name: "a", steps: []step{{words: []string{"never"}, failAfter: 0, breakErr: perr(provider.KindConnection)}}}
	b := &fake{name: "b", steps: []step{{words: []string{"b ", "answers"}}}}
	h := newHarness(t, twoProviders, a, b)
	st, err := h.chat("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if text, err := collect(t, st); text != "b answers" || err != nil {
		t.Fatalf("text %q err %v", text, err)
	}
	if got := a.calls.Load(); got != 3 {
		t.Errorf("a called %d times, want 3 (1 + 2 retries)", got)
	}
}

func TestMidStreamBreakIsAnErrorAndBilled(t *testing.T) {
	a := &fake{name: "a", steps: []step{{words: []string{"one ", "two ", "three"}, failAfter: 2, breakErr: perr(provider.KindConnection)}}}
	b := &fake{name: "b", steps: []step{{words: []string{"b"}}}}
	h := newHarness(t, twoProviders, a, b)
	st, err := h.chat("")
	if err != nil {
		t.Fatal(err)
	}
	text, err := collect(t, st)
	st.Close()
	if text != "one two " {
		t.Errorf("text %q, want the two tokens sent before the break", text)
	}
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeUpstreamError || !strings.Contains(e.Message, "incomplete") {
		t.Fatalf("err = %v, want upstream_error saying the answer is incomplete", err)
	}
	if b.calls.Load() != 0 {
		t.Error("fell back after the first token")
	}
	if u := st.Usage(); u.CompletionTokens == 0 || !u.Estimated {
		t.Errorf("usage %+v, want the generated tokens billed (estimated)", u)
	}
}

func TestAllowlist(t *testing.T) {
	a := &fake{name: "a", steps: []step{{words: []string{"x"}}}}
	h := newHarness(t, twoProviders, a, &fake{name: "b", steps: []step{{words: []string{"y"}}}})
	for _, tt := range []struct {
		model string
		ok    bool
		want  string
	}{
		{"", true, "m1"},
		{"a/m1", true, "m1"}, // the route's primary is always allowed
		{"fast", true, "m1"}, // an alias of it too
		{"a/other", true, "other"},
		{"b/m2", false, ""}, // a fallback is not in the allowlist
		{"gpt-4", false, ""},
	} {
		st, err := h.chat(tt.model)
		if !tt.ok {
			var e *api.Error
			if !errors.As(err, &e) || e.Code != api.CodeModelNotAllowed {
				t.Errorf("model %q: err = %v, want model_not_allowed", tt.model, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("model %q: %v", tt.model, err)
			continue
		}
		st.Close()
		if got := a.reqs[len(a.reqs)-1].Model; got != tt.want {
			t.Errorf("model %q reached the provider as %q, want %q", tt.model, got, tt.want)
		}
	}
}

func TestBadRequestNotRetried(t *testing.T) {
	a := &fake{name: "a", steps: []step{{err: perr(provider.KindBadRequest)}}}
	b := &fake{name: "b", steps: []step{{words: []string{"y"}}}}
	h := newHarness(t, twoProviders, a, b)
	_, err := h.chat("")
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeInvalidRequest {
		t.Fatalf("err = %v, want invalid_request", err)
	}
	if a.calls.Load() != 1 || b.calls.Load() != 0 {
		t.Errorf("calls a=%d b=%d, want 1 and 0", a.calls.Load(), b.calls.Load())
	}
}

func TestAllFail(t *testing.T) {
	a := &fake{name: "a", steps: []step{{err: perr(provider.KindOverloaded)}}}
	b := &fake{name: "b", steps: []step{{err: perr(provider.KindTimeout)}}}
	h := newHarness(t, twoProviders, a, b)
	_, err := h.chat("")
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeUpstreamTimeout {
		t.Fatalf("err = %v, want upstream_timeout (the last failure)", err)
	}
	if a.calls.Load() != 3 || b.calls.Load() != 3 {
		t.Errorf("calls a=%d b=%d, want 3 each", a.calls.Load(), b.calls.Load())
	}
}

func TestCircuitBreaker(t *testing.T) {
	a := &fake{name: "a", steps: []step{{err: perr(provider.KindOverloaded)}}}
	b := &fake{name: "b", steps: []step{{words: []string{"b"}}}}
	h := newHarness(t, twoProviders, a, b)
	// Five failures in a row open a's breaker (3 attempts on the first call, 2 on the second).
	for i := range 2 {
		st, err := h.chat("")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		st.Close()
	}
	if got := a.calls.Load(); got != breakerThreshold {
		t.Fatalf("a called %d times before opening, want %d", got, breakerThreshold)
	}
	if s := h.gw.breakers.get("acme", target("a/m1")).stateName(); s != "open" {
		t.Fatalf("breaker %s, want open", s)
	}
	// While open, a is skipped.
	st, err := h.chat("")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if got := a.calls.Load(); got != breakerThreshold {
		t.Errorf("a called while open: %d calls", got)
	}
	// After the cooldown one trial goes through; it succeeds and closes the breaker.
	a.mu.Lock()
	a.steps = []step{{words: []string{"a is back"}}}
	a.mu.Unlock()
	h.now = h.now.Add(breakerCooldown + time.Second)
	st, err = h.chat("")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := collect(t, st)
	st.Close()
	if text != "a is back" {
		t.Errorf("after cooldown: %q, want a's answer", text)
	}
	if s := h.gw.breakers.get("acme", target("a/m1")).stateName(); s != "closed" {
		t.Errorf("breaker %s, want closed", s)
	}
}

func TestBreakerHalfOpenFailureReopensLonger(t *testing.T) {
	var b breaker
	now := time.Unix(0, 0)
	for range breakerThreshold {
		b.failure(now)
	}
	if b.allow(now) {
		t.Fatal("open breaker allowed a call")
	}
	now = now.Add(breakerCooldown)
	if !b.allow(now) || b.allow(now) {
		t.Fatal("half-open breaker must allow exactly one trial")
	}
	b.failure(now)
	if b.allow(now.Add(breakerCooldown)) {
		t.Error("reopened breaker allowed a call before twice the cooldown")
	}
	if !b.allow(now.Add(2 * breakerCooldown)) {
		t.Error("reopened breaker still closed after twice the cooldown")
	}
}

func TestCancelStopsUpstream(t *testing.T) {
	a := &fake{name: "a", steps: []step{{words: []string{"first"}}}}
	h := newHarness(t, twoProviders, a, &fake{name: "b", steps: []step{{words: []string{"b"}}}})
	ctx, cancel := context.WithCancel(context.Background())
	st, err := h.gw.Chat(ctx, Call{Caller: tenant.Caller{Tenant: h.t}, Route: RouteChat}, provider.ChatRequest{Messages: []provider.Message{{Role: "user", Content: "q"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := st.Recv(); err == nil {
		t.Error("Recv after cancel succeeded")
	}
	st.Close()
}

// TestBudgetRace runs 64 calls at once against a budget that fits only some
// of them: the settled total never exceeds the cap.
func TestBudgetRace(t *testing.T) {
	cfg := `{"id":"acme","name":"Acme","keys":[{"id":"k","hash":"sha256:0000000000000000000000000000000000000000000000000000000000000001","scopes":["chat"]}],
		"providers":{"a":{"type":"openai","baseUrl":"http://a"}},
		"models":{"chat":{"model":"a/m1"}},
		"limits":{"budget":{"tokensPerDay":1000},"maxOutputTokens":50}}`
	a := &fake{name: "a", steps: []step{{words: []string{"w"}, usage: &provider.Usage{PromptTokens: 20, CompletionTokens: 50}}}}
	h := newHarness(t, cfg, a)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := h.chat("")
			if err != nil {
				var e *api.Error
				if errors.As(err, &e) && e.Code == api.CodeBudgetExceeded {
					refused.Add(1)
					return
				}
				t.Error(err)
				return
			}
			collect(t, st)
			st.Close()
			ok.Add(1)
		}()
	}
	wg.Wait()
	used, _ := h.gw.Budgets().Used("acme", "")
	if used > 1000 {
		t.Fatalf("settled %d tokens, over the cap of 1000", used)
	}
	if ok.Load() == 0 || refused.Load() == 0 || ok.Load()+refused.Load() != 64 {
		t.Errorf("ok %d refused %d, want both > 0 and 64 in all", ok.Load(), refused.Load())
	}
	if used != ok.Load()*70 {
		t.Errorf("settled %d, want %d (70 tokens per call)", used, ok.Load()*70)
	}
}
