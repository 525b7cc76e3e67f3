package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Defaults for servers and requests that do not set them.
const (
	// DefaultMaxBufferBytes bounds an answer held whole (not streamed, or
	// a job's result).
	DefaultMaxBufferBytes = 64 << 20
	// DefaultFormat is the format of a request that names none.
	DefaultFormat = WAV
	// Route is the route of speech in the usage ledger.
	Route = "tts"
)

// Options are the dependencies of a Service. Synthesizer is required; the
// zero value of every other field means a default.
type Options struct {
	// Synthesizer returns the adapter of tenant t, Disabled when its text
	// to speech is off.
	Synthesizer func(t *tenant.Tenant) Synthesizer
	// Budgets holds characters against the tenants' ttsCharsPerDay.
	// Default: new, empty budgets.
	Budgets *gateway.Budgets
	// Ledger receives a usage record per synthesis. Default: none.
	Ledger *gateway.Ledger
	// Metrics receives counters. Default: collectors on a private registry.
	Metrics *Metrics
	// Logger receives failures. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// MaxBufferBytes bounds an answer held whole; default DefaultMaxBufferBytes.
	MaxBufferBytes int64
	// Tracer makes a span per synthesis. Default: none made.
	Tracer trace.Tracer
	// JobTTL, MaxJobs and JobTimeout bound the jobs of long texts; defaults
	// DefaultJobTTL, DefaultMaxJobs (per tenant) and DefaultJobTimeout.
	JobTTL     time.Duration
	MaxJobs    int
	JobTimeout time.Duration
}

// Service is text to speech for every tenant.
type Service struct {
	opts   Options
	jobs   *jobs
	active atomic.Int64
	ctx    context.Context // of jobs; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Synthesizer == nil {
		panic("tts: Options.Synthesizer is required")
	}
	if opts.Budgets == nil {
		opts.Budgets = gateway.NewBudgets(opts.Now)
	}
	opts.Tracer = obs.Tracer(opts.Tracer)
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBufferBytes <= 0 {
		opts.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if opts.JobTTL <= 0 {
		opts.JobTTL = DefaultJobTTL
	}
	if opts.MaxJobs <= 0 {
		opts.MaxJobs = DefaultMaxJobs
	}
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = DefaultJobTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{opts: opts, jobs: newJobs(opts.JobTTL, opts.MaxJobs), ctx: ctx, cancel: cancel}
}

// Close cancels the jobs still running and waits for them.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Active returns the number of syntheses running now.
func (s *Service) Active() int { return int(s.active.Load()) }

// Voices returns what the caller's tenant can speak with.
func (s *Service) Voices(ctx context.Context, c tenant.Caller) (api.TTSVoices, error) {
	synth := s.opts.Synthesizer(c.Tenant)
	vs, err := synth.Voices(ctx)
	if err != nil {
		return api.TTSVoices{}, err
	}
	info := synth.Info()
	out := api.TTSVoices{
		Adapter: info.Adapter, Model: info.Model, Default: defaultVoice(c.Tenant, info), Formats: formatNames(info.Formats),
		MaxChars: c.Tenant.Config.TTS.MaxChars, AsyncChars: c.Tenant.Config.TTS.AsyncChars, Voices: make([]api.TTSVoice, len(vs)),
	}
	if slices.Contains(info.Formats, WAV) || slices.Contains(info.Formats, PCM) {
		out.SampleRate = info.SampleRate
	}
	for i, v := range vs {
		out.Voices[i] = api.TTSVoice{ID: v.ID, Name: v.Name, Language: v.Language, Gender: v.Gender}
	}
	return out, nil
}

// Plan is a checked request, ready to be spoken.
type Plan struct {
	caller tenant.Caller
	synth  Synthesizer
	info   Info
	req    Request
	chars  int
	stream bool
	async  bool
	// parent is the span of the request that prepared the plan.
	parent trace.SpanContext
}

// ContentType is the media type of the plan's audio.
func (p *Plan) ContentType() string { return p.req.Format.ContentType(p.info.SampleRate) }

// Format is the plan's audio format.
func (p *Plan) Format() Format { return p.req.Format }

// SampleRate is the rate of wav and pcm audio, 0 for other formats.
func (p *Plan) SampleRate() int {
	if p.req.Format == WAV || p.req.Format == PCM {
		return p.info.SampleRate
	}
	return 0
}

// Stream reports whether the caller asked for the audio as it is produced.
func (p *Plan) Stream() bool { return p.stream }

// Async reports whether the text is long enough to run as a job.
func (p *Plan) Async() bool { return p.async }

// Chars is the length of the text in characters.
func (p *Plan) Chars() int { return p.chars }

// Prepare checks in against the tenant's adapter and limits: text to speech
// enabled, the text within maxChars, a voice and a format the adapter has,
// a speed in range. Nothing is held or spoken yet.
func (s *Service) Prepare(ctx context.Context, c tenant.Caller, in api.TTSRequest) (*Plan, error) {
	synth := s.opts.Synthesizer(c.Tenant)
	voices, err := synth.Voices(ctx) // Disabled answers tts_not_enabled here
	if err != nil {
		return nil, err
	}
	info := synth.Info()
	if !utf8.ValidString(in.Text) {
		return nil, pathError("/text", "text is not valid UTF-8")
	}
	if strings.TrimSpace(in.Text) == "" {
		return nil, pathError("/text", "text is empty: send the words to speak")
	}
	chars := utf8.RuneCountInString(in.Text)
	if limit := c.Tenant.Config.TTS.MaxChars; chars > limit {
		return nil, api.Errorf(api.CodePayloadTooLarge, "/text: %d characters is over this tenant's limit of %d (tts.maxChars); split the text", chars, limit).
			WithDetails(map[string]any{"path": "/text", "limit": limit, "chars": chars})
	}
	voice := in.Voice
	if voice == "" {
		voice = defaultVoice(c.Tenant, info)
	}
	if !slices.ContainsFunc(voices, func(v Voice) bool { return v.ID == voice }) {
		ids := voiceIDs(voices)
		return nil, api.Errorf(api.CodeInvalidRequest, "/voice: unknown voice %q for the %s adapter; GET /tts/voices lists the %d voices (for example %s)", voice, info.Adapter, len(ids), strings.Join(ids[:min(len(ids), 8)], ", ")).
			WithDetails(map[string]any{"path": "/voice", "allowed": ids})
	}
	format := Format(in.Format)
	if format == "" {
		format = DefaultFormat
		if !slices.Contains(info.Formats, format) {
			format = info.Formats[0]
		}
	}
	if !slices.Contains(info.Formats, format) {
		return nil, api.Errorf(api.CodeInvalidRequest, "/format: %q is not a format of the %s adapter; allowed: %s", in.Format, info.Adapter, strings.Join(formatNames(info.Formats), ", ")).
			WithDetails(map[string]any{"path": "/format", "allowed": formatNames(info.Formats)})
	}
	speed := 1.0
	if in.Speed != nil {
		speed = *in.Speed
		if !(speed >= MinSpeed && speed <= MaxSpeed) {
			return nil, api.Errorf(api.CodeInvalidRequest, "/speed: %g is outside %g to %g", speed, MinSpeed, MaxSpeed).
				WithDetails(map[string]any{"path": "/speed", "min": MinSpeed, "max": MaxSpeed})
		}
	}
	return &Plan{
		caller: c, synth: synth, info: info, chars: chars, stream: in.Stream, parent: trace.SpanContextFromContext(ctx),
		async: !in.Stream && chars > c.Tenant.Config.TTS.AsyncChars,
		req:   Request{Text: in.Text, Voice: voice, Format: format, Speed: speed, Tenant: c.Tenant.ID.String(), RequestID: c.RequestID},
	}, nil
}

// Speak holds the plan's characters against the budgets (budget_exceeded
// before anything is spoken) and writes the audio to w as it is produced.
func (s *Service) Speak(ctx context.Context, p *Plan, w io.Writer) error {
	res, err := s.opts.Budgets.ReserveSpeechContext(ctx, p.caller.Tenant, p.caller.Key, int64(p.chars))
	if err != nil {
		return err
	}
	return s.run(ctx, p, res, w)
}

// SpeakAll is Speak into memory: the whole audio, at most MaxBufferBytes,
// WAV with its real sizes.
func (s *Service) SpeakAll(ctx context.Context, p *Plan) ([]byte, error) {
	res, err := s.opts.Budgets.ReserveSpeechContext(ctx, p.caller.Tenant, p.caller.Key, int64(p.chars))
	if err != nil {
		return nil, err
	}
	return s.all(ctx, p, res)
}

func (s *Service) all(ctx context.Context, p *Plan, res *gateway.Reservation) ([]byte, error) {
	buf := &boundedBuffer{max: s.opts.MaxBufferBytes}
	if err := s.run(ctx, p, res, buf); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if p.req.Format == WAV {
		if err := FixWAVSizes(b); err != nil {
			return nil, api.Internal(fmt.Errorf("tts: %s answered a bad WAV: %w", p.info.Adapter, err))
		}
	}
	return b, nil
}

// Start holds the plan's characters and runs it as a job; the audio is
// then kept for JobTTL, for the plan's tenant only.
func (s *Service) Start(p *Plan) (api.TTSJob, error) {
	res, err := s.opts.Budgets.ReserveSpeech(p.caller.Tenant, p.caller.Key, int64(p.chars))
	if err != nil {
		return api.TTSJob{}, err
	}
	job, err := s.jobs.add(p.caller.Tenant.ID.String(), p.chars, p.ContentType(), p.SampleRate(), s.opts.Now())
	if err != nil {
		res.SettleAmount(gateway.Amount{})
		return api.TTSJob{}, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.JobTimeout)
		defer cancel()
		audio, err := s.all(ctx, p, res)
		job.finish(s.opts.Now(), audio, err)
	}()
	st, _ := job.Result(s.opts.JobTTL)
	return st, nil
}

// Job returns a job of the caller's tenant and, once it is done, its audio.
func (s *Service) Job(c tenant.Caller, id string) (api.TTSJob, []byte, error) {
	if _, err := s.opts.Synthesizer(c.Tenant).Voices(context.Background()); err != nil {
		return api.TTSJob{}, nil, err // tts_not_enabled
	}
	j, err := s.jobs.get(c.Tenant.ID.String(), id, s.opts.Now())
	if err != nil {
		return api.TTSJob{}, nil, err
	}
	st, audio := j.Result(s.opts.JobTTL)
	return st, audio, nil
}

// run synthesizes p into w, then settles res, counts and records the call.
// Characters are billed once any audio was produced, even if the
// synthesis then failed or the caller went away.
func (s *Service) run(ctx context.Context, p *Plan, res *gateway.Reservation, w io.Writer) error {
	start := s.opts.Now()
	ctx, span := s.startSpan(ctx, p)
	adapter := p.info.Adapter
	m := s.opts.Metrics
	s.active.Add(1)
	m.Active.WithLabelValues(adapter).Inc()
	var ttfb time.Duration
	cw := &countingWriter{w: w, first: func() {
		ttfb = max(s.opts.Now().Sub(start), 0)
		m.TTFB.WithLabelValues(adapter).Observe(ttfb.Seconds())
	}}
	err := p.synth.Synthesize(ctx, p.req, cw)
	s.active.Add(-1)
	m.Active.WithLabelValues(adapter).Dec()

	elapsed := s.opts.Now().Sub(start)
	status, kind := "ok", ""
	if err != nil {
		status, kind = "error", string(api.AsError(err).Code)
		var e *api.Error
		if ctx.Err() != nil || isWriteError(err) && !errors.As(err, &e) {
			status = "cancelled" // the caller went away
		}
	}
	var chars int64
	if cw.n > 0 {
		chars = int64(p.chars)
	}
	res.SettleAmount(gateway.Amount{TTSChars: chars})
	endSpan(span, status, kind)
	tid := p.caller.Tenant.ID.String()
	m.Requests.WithLabelValues(tid, adapter, status).Inc()
	m.Chars.WithLabelValues(tid, adapter).Add(float64(chars))
	if err == nil {
		m.Latency.WithLabelValues(adapter).Observe(elapsed.Seconds())
	}
	rec := store.UsageRecord{
		Time: start, Tenant: p.caller.Tenant.ID, RequestID: p.caller.RequestID, KeyID: p.caller.KeyID(), Route: Route,
		Provider: p.info.Provider, Model: p.info.Model + ":" + p.req.Voice, Attempts: 1, Status: status, ErrorKind: kind,
		Latency: elapsed, TTFT: ttfb, TTSChars: chars,
	}
	gateway.TallyFrom(ctx).Add(rec)
	if s.opts.Ledger != nil {
		s.opts.Ledger.Record(rec)
	}
	if err != nil && status == "error" && api.AsError(err).Code == api.CodeInternal {
		s.opts.Logger.Error("speech synthesis failed", "tenant", tid, "adapter", adapter, "error", err, "request_id", p.caller.RequestID)
	}
	return err
}

// countingWriter counts what passes to w and calls first before the first
// byte does.
type countingWriter struct {
	w     io.Writer
	n     int64
	first func()
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n == 0 && len(p) > 0 && c.first != nil {
		c.first()
		c.first = nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// boundedBuffer is a buffer that refuses to grow past max bytes.
type boundedBuffer struct {
	bytes.Buffer
	max int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if int64(b.Len()+len(p)) > b.max {
		return 0, api.Errorf(api.CodePayloadTooLarge, "the audio is larger than this server holds in one answer (%d bytes): send stream:true or a shorter text", b.max).
			WithDetails(map[string]any{"limit": b.max})
	}
	return b.Buffer.Write(p)
}

func defaultVoice(t *tenant.Tenant, info Info) string {
	if v := t.Config.TTS.Voice; v != "" {
		return v
	}
	return info.Voice
}

func pathError(path, msg string) error {
	return api.Errorf(api.CodeInvalidRequest, "%s: %s", path, msg).WithDetails(map[string]any{"path": path})
}
