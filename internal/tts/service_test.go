package tts_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// fakeSynth writes a fixed WAV (streaming sizes) after an optional gate.
type fakeSynth struct {
	calls   atomic.Int32
	gate    chan struct{} // when set, Synthesize waits for it after the header
	failAt  int           // when > 0, fail after writing this many bytes
	samples int
}

func (f *fakeSynth) Info() tts.Info {
	return tts.Info{Adapter: "fake", Provider: "fakeprov", Model: "m1", Formats: []tts.Format{tts.WAV, tts.PCM}, SampleRate: 16000, Voice: "v1"}
}

func (f *fakeSynth) Voices(context.Context) ([]tts.Voice, error) {
	return []tts.Voice{{ID: "v1"}, {ID: "v2"}}, nil
}

func (f *fakeSynth) Synthesize(ctx context.Context, req tts.Request, w io.Writer) error {
	f.calls.Add(1)
	out := tts.AppendWAVHeader(nil, 16000, tts.StreamingSize)
	if req.Format == tts.PCM {
		out = nil
	}
	out = append(out, make([]byte, 2*max(f.samples, 100))...)
	if f.failAt > 0 {
		w.Write(out[:f.failAt])
		return api.Errorf(api.CodeUpstreamError, "broke")
	}
	if f.gate != nil {
		if _, err := w.Write(out[:10]); err != nil {
			return err
		}
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		out = out[10:]
	}
	_, err := w.Write(out)
	return err
}

// memUsage is a store.Usage that keeps records in memory.
type memUsage struct {
	mu   sync.Mutex
	recs []store.UsageRecord
}

func (m *memUsage) AppendUsage(_ context.Context, recs []store.UsageRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return nil
}

func (m *memUsage) UsageRollup(context.Context, tenant.ID, store.UsageFilter) ([]store.UsageRow, error) {
	return nil, nil
}

func (m *memUsage) UsageRecords(context.Context, tenant.ID, store.UsageFilter, int) ([]store.UsageRecord, error) {
	return nil, nil
}

func (m *memUsage) all() []store.UsageRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.UsageRecord(nil), m.recs...)
}

// tenants makes a registry of acme (TTS on, with cfg), initech (TTS on)
// and globex (TTS disabled).
func tenants(t *testing.T, cfg tenant.TTS, budget tenant.Budget) (acme, initech, globex *tenant.Tenant) {
	t.Helper()
	mk := func(id string, c tenant.TTS, b tenant.Budget) *tenant.Config {
		k := tenant.Key{ID: "k", Hash: tenant.HashKey(tenant.NewKey()), Scopes: []tenant.Scope{tenant.ScopeTTS}}
		return &tenant.Config{ID: id, Name: id, Keys: []tenant.Key{k}, TTS: c, Limits: tenant.Limits{Budget: b}}
	}
	reg, err := tenant.NewRegistry([]*tenant.Config{
		mk("acme", cfg, budget), mk("initech", tenant.TTS{Adapter: "espeak"}, tenant.Budget{}), mk("globex", tenant.TTS{Adapter: "disabled"}, tenant.Budget{}),
	}, tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acme, _ = reg.Tenant("acme")
	initech, _ = reg.Tenant("initech")
	globex, _ = reg.Tenant("globex")
	return acme, initech, globex
}

type harness struct {
	svc                   *tts.Service
	synth                 *fakeSynth
	usage                 *memUsage
	ledger                *gateway.Ledger
	now                   *atomic.Pointer[time.Time]
	acme, initech, globex *tenant.Tenant
}

func newHarness(t *testing.T, cfg tenant.TTS, budget tenant.Budget, opts tts.Options) *harness {
	t.Helper()
	h := &harness{synth: &fakeSynth{}, usage: &memUsage{}, now: &atomic.Pointer[time.Time]{}}
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	h.now.Store(&start)
	h.acme, h.initech, h.globex = tenants(t, cfg, budget)
	h.ledger = gateway.NewLedger(h.usage, nil)
	t.Cleanup(h.ledger.Close)
	opts.Synthesizer = func(tn *tenant.Tenant) tts.Synthesizer {
		if tn.Config.TTS.Adapter == "disabled" {
			return tts.Disabled{Tenant: tn.ID.String()}
		}
		return h.synth
	}
	opts.Ledger = h.ledger
	opts.Now = func() time.Time { return *h.now.Load() }
	h.svc = tts.New(opts)
	t.Cleanup(h.svc.Close)
	return h
}

func (h *harness) caller(tn *tenant.Tenant) tenant.Caller {
	return tenant.Caller{Tenant: tn, Key: &tn.Config.Keys[0], RequestID: "req-1"}
}

func code(err error) api.ErrorCode {
	if err == nil {
		return ""
	}
	return api.AsError(err).Code
}

func TestDisabledTenant(t *testing.T) {
	h := newHarness(t, tenant.TTS{Adapter: "espeak"}, tenant.Budget{}, tts.Options{})
	c := h.caller(h.globex)
	_, err := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: "hello"})
	if code(err) != api.CodeTTSNotEnabled {
		t.Fatalf("Prepare: %v, want tts_not_enabled", err)
	}
	if msg := api.AsError(err).Message; !strings.Contains(msg, "tenants/globex/tenant.jsonc") || !strings.Contains(msg, `"adapter": "espeak"`) {
		t.Errorf("the message does not say how to enable it: %s", msg)
	}
	if _, err := h.svc.Voices(t.Context(), c); code(err) != api.CodeTTSNotEnabled {
		t.Errorf("Voices: %v", err)
	}
	if _, _, err := h.svc.Job(c, "tts_x"); code(err) != api.CodeTTSNotEnabled {
		t.Errorf("Job: %v", err)
	}
	if h.synth.calls.Load() != 0 {
		t.Error("a disabled tenant reached an adapter")
	}
}

func TestPrepare(t *testing.T) {
	h := newHarness(t, tenant.TTS{Adapter: "espeak", MaxChars: 20, AsyncChars: 10}, tenant.Budget{}, tts.Options{})
	c := h.caller(h.acme)
	speed := func(v float64) *float64 { return &v }
	tests := []struct {
		name    string
		in      api.TTSRequest
		code    api.ErrorCode
		path    string
		allowed []string
	}{
		{"empty", api.TTSRequest{Text: "  "}, api.CodeInvalidRequest, "/text", nil},
		{"invalid UTF-8", api.TTSRequest{Text: "a\xffb"}, api.CodeInvalidRequest, "/text", nil},
		{"too long", api.TTSRequest{Text: strings.Repeat("é", 21)}, api.CodePayloadTooLarge, "/text", nil},
		{"unknown voice", api.TTSRequest{Text: "hi", Voice: "nobody"}, api.CodeInvalidRequest, "/voice", []string{"v1", "v2"}},
		{"unknown format", api.TTSRequest{Text: "hi", Format: "flac"}, api.CodeInvalidRequest, "/format", []string{"wav", "pcm"}},
		{"mp3 from a wav-only adapter", api.TTSRequest{Text: "hi", Format: "mp3"}, api.CodeInvalidRequest, "/format", []string{"wav", "pcm"}},
		{"too fast", api.TTSRequest{Text: "hi", Speed: speed(4.5)}, api.CodeInvalidRequest, "/speed", nil},
		{"too slow", api.TTSRequest{Text: "hi", Speed: speed(0)}, api.CodeInvalidRequest, "/speed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Prepare(t.Context(), c, tt.in)
			e := api.AsError(err)
			if err == nil || e.Code != tt.code || e.Details["path"] != tt.path {
				t.Fatalf("err = %v (details %v), want %s at %s", err, e.Details, tt.code, tt.path)
			}
			if tt.allowed != nil {
				got, _ := e.Details["allowed"].([]string)
				if strings.Join(got, ",") != strings.Join(tt.allowed, ",") {
					t.Errorf("allowed = %v, want %v", got, tt.allowed)
				}
			}
		})
	}
	// 20 characters fit (not bytes: é is two); defaults apply.
	p, err := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: strings.Repeat("é", 20), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Chars() != 20 || p.Format() != tts.WAV || p.ContentType() != "audio/wav" || p.Async() || !p.Stream() {
		t.Errorf("plan: chars %d format %s type %s async %v stream %v", p.Chars(), p.Format(), p.ContentType(), p.Async(), p.Stream())
	}
	p, _ = h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: strings.Repeat("a", 11), Format: "pcm"})
	if !p.Async() || p.ContentType() != "audio/pcm;rate=16000;channels=1;bits=16;endianness=little" {
		t.Errorf("11 characters without stream: async %v, type %s", p.Async(), p.ContentType())
	}
}

func TestBudgetIsCheckedBeforeSynthesis(t *testing.T) {
	h := newHarness(t, tenant.TTS{Adapter: "espeak"}, tenant.Budget{TTSCharsPerDay: 10}, tts.Options{})
	c := h.caller(h.acme)
	over, err := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: "eleven char"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SpeakAll(t.Context(), over); code(err) != api.CodeBudgetExceeded {
		t.Fatalf("err = %v, want budget_exceeded", err)
	}
	if h.synth.calls.Load() != 0 {
		t.Fatal("the adapter ran for a text over the budget")
	}
	ten, _ := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: "ten chars!"})
	if _, err := h.svc.SpeakAll(t.Context(), ten); err != nil {
		t.Fatal(err)
	}
	one, _ := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: "x"})
	if err := h.svc.Speak(t.Context(), one, io.Discard); code(err) != api.CodeBudgetExceeded {
		t.Fatalf("after 10 of 10 characters: %v, want budget_exceeded", err)
	}
}

func TestLedgerRecords(t *testing.T) {
	h := newHarness(t, tenant.TTS{Adapter: "espeak"}, tenant.Budget{}, tts.Options{})
	c := h.caller(h.acme)
	p, _ := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: "Hello, world", Voice: "v2"})
	audio, err := h.svc.SpeakAll(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if d := wavDuration(t, audio, 16000); d <= 0 {
		t.Errorf("duration %f", d)
	}
	h.synth.failAt = 5 // a stream that breaks after its first bytes is billed
	if err := h.svc.Speak(t.Context(), p, io.Discard); code(err) != api.CodeUpstreamError {
		t.Fatalf("err = %v", err)
	}
	h.ledger.Flush()
	recs := h.usage.all()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	r := recs[0]
	if r.Route != "tts" || r.Provider != "fakeprov" || r.Model != "m1:v2" || r.TTSChars != 12 || r.Status != "ok" || r.KeyID != "k" || r.RequestID != "req-1" || r.Tenant.String() != "acme" {
		t.Errorf("record %+v", r)
	}
	if r := recs[1]; r.Status != "error" || r.ErrorKind != "upstream_error" || r.TTSChars != 12 {
		t.Errorf("failed record %+v", r)
	}
}

// waitJob polls a job until it is no longer running.
func waitJob(t *testing.T, svc *tts.Service, c tenant.Caller, id string) (api.TTSJob, []byte) {
	t.Helper()
	for range 1000 {
		st, audio, err := svc.Job(c, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != tts.JobRunning {
			return st, audio
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the job never finished")
	return api.TTSJob{}, nil
}

func TestJobs(t *testing.T) {
	h := newHarness(t, tenant.TTS{Adapter: "espeak", AsyncChars: 5}, tenant.Budget{}, tts.Options{MaxJobs: 1, JobTTL: time.Minute})
	c := h.caller(h.acme)
	h.synth.gate = make(chan struct{})
	p, _ := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: "a long text"})
	if !p.Async() {
		t.Fatal("not async")
	}
	job, err := h.svc.Start(p)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != tts.JobRunning || !strings.HasPrefix(job.JobID, "tts_") {
		t.Errorf("job %+v", job)
	}
	// One job at a time for this tenant: a second is refused while it runs.
	if _, err := h.svc.Start(p); code(err) != api.CodeRateLimited {
		t.Errorf("second job: %v, want rate_limited", err)
	}
	// Another tenant never sees it.
	if _, _, err := h.svc.Job(h.caller(h.initech), job.JobID); code(err) != api.CodeNotFound {
		t.Errorf("initech reads acme's job: %v, want not_found", err)
	}
	if _, _, err := h.svc.Job(h.caller(h.globex), job.JobID); code(err) != api.CodeTTSNotEnabled {
		t.Errorf("globex reads acme's job: %v, want tts_not_enabled", err)
	}
	close(h.synth.gate)
	st, audio := waitJob(t, h.svc, c, job.JobID)
	if st.Status != tts.JobDone || st.Bytes != len(audio) || st.Expires == nil {
		t.Fatalf("job %+v", st)
	}
	wavDuration(t, audio, 16000) // whole, with real sizes
	// A finished job makes room for the next one.
	h.synth.gate = nil
	job2, err := h.svc.Start(p)
	if err != nil {
		t.Fatalf("a finished job did not make room: %v", err)
	}
	waitJob(t, h.svc, c, job2.JobID)
	// Jobs expire.
	later := h.now.Load().Add(2 * time.Minute)
	h.now.Store(&later)
	if _, _, err := h.svc.Job(c, job2.JobID); code(err) != api.CodeNotFound {
		t.Errorf("expired job: %v, want not_found", err)
	}
}

func TestJobFailureIsKept(t *testing.T) {
	h := newHarness(t, tenant.TTS{Adapter: "espeak", AsyncChars: 1}, tenant.Budget{}, tts.Options{})
	h.synth.failAt = 3
	c := h.caller(h.acme)
	p, _ := h.svc.Prepare(t.Context(), c, api.TTSRequest{Text: "abc"})
	job, err := h.svc.Start(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := waitJob(t, h.svc, c, job.JobID)
	if st.Status != tts.JobFailed || st.Error == nil || st.Error.Code != api.CodeUpstreamError {
		t.Errorf("job %+v", st)
	}
}

func TestEspeakThroughService(t *testing.T) {
	e := newEspeak(t, tts.EspeakOptions{})
	_, initech, _ := tenants(t, tenant.TTS{}, tenant.Budget{})
	svc := tts.New(tts.Options{Synthesizer: func(*tenant.Tenant) tts.Synthesizer { return e }})
	defer svc.Close()
	c := tenant.Caller{Tenant: initech}
	p, err := svc.Prepare(t.Context(), c, api.TTSRequest{Text: sentence})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := svc.SpeakAll(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	// SpeakAll fixes espeak-ng's streaming sizes.
	h, err := tts.ReadWAVHeader(bufio.NewReader(bytes.NewReader(audio)))
	if err != nil || int(h.DataSize) != len(audio)-44 || h.SampleRate != tts.EspeakSampleRate {
		t.Fatalf("header %+v, %v for %d bytes", h, err, len(audio))
	}
	vs, err := svc.Voices(t.Context(), c)
	if err != nil || vs.Default != "en" || vs.SampleRate != tts.EspeakSampleRate || len(vs.Voices) < 50 {
		t.Errorf("voices %+v, %v", vs, err)
	}
	var sawEn bool
	for _, v := range vs.Voices {
		sawEn = sawEn || v.ID == "en"
	}
	if !sawEn {
		t.Error("espeak-ng lists no voice en")
	}
}
