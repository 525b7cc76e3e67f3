package tts

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/provider"
)

// SpeakerFunc returns the provider that speaks for a remote adapter, or
// why it cannot (a missing credential). It is called for each synthesis so
// that a config reload takes effect.
type SpeakerFunc func() (provider.Speaker, error)

// RemoteOptions configure a remote adapter for one tenant.
type RemoteOptions struct {
	Provider string      // the provider's name in the tenant config
	Model    string      // "": the provider's default speech model
	Voice    string      // default voice; "": the model's
	Voices   []string    // the voices offered; nil: the model's
	Speaker  SpeakerFunc // the provider client
	Logger   *slog.Logger
}

// NewOpenAI returns the adapter of an OpenAI-compatible /audio/speech
// endpoint: OpenAI itself, or a local server that speaks its wire format
// (the tenant lists that server's voices).
func NewOpenAI(o RemoteOptions) Synthesizer { return &remote{adapter: "openai", opts: o} }

// NewWorkersAI returns the adapter of a Workers AI text-to-speech model,
// called directly or through AI Gateway as the tenant's workersai provider
// is configured.
func NewWorkersAI(o RemoteOptions) Synthesizer { return &remote{adapter: "workersai", opts: o} }

// remote is a provider Speaker with a model and its voices and formats.
// They come from the provider, found at each call: a Speaker that
// implements provider.SpeechDescriber says what its model offers (the
// tenant's voices and default voice win); one that does not speaks the
// tenant's voices in mp3.
type remote struct {
	adapter string
	opts    RemoteOptions
}

// describe returns the provider in force with what its model offers, or
// why there is none (with Info from the options alone).
func (r *remote) describe() (provider.Speaker, Info, []Voice, error) {
	info := Info{Adapter: r.adapter, Provider: r.opts.Provider, Model: r.opts.Model, Voice: r.opts.Voice}
	sp, err := r.opts.Speaker()
	if err != nil {
		return nil, info, nil, api.Errorf(api.CodeUnavailable, "the speech provider %q is not available: %v", r.opts.Provider, err)
	}
	m := provider.SpeechModel{Model: r.opts.Model, Formats: []string{string(MP3)}}
	if d, ok := sp.(provider.SpeechDescriber); ok {
		m = d.SpeechModel(r.opts.Model)
	}
	info.Model, info.SampleRate = m.Model, m.SampleRate
	for _, f := range m.Formats {
		info.Formats = append(info.Formats, Format(f))
	}
	if info.Voice == "" {
		info.Voice = m.DefaultVoice
	}
	ids := r.opts.Voices
	if len(ids) == 0 {
		ids = m.Voices
	}
	return sp, info, staticVoices(ids, ""), nil
}

// Info implements Synthesizer.
func (r *remote) Info() Info {
	_, info, _, _ := r.describe()
	return info
}

// Voices implements Synthesizer; a provider that is not available (a
// missing credential) answers unavailable here, before any synthesis.
func (r *remote) Voices(context.Context) ([]Voice, error) {
	_, _, vs, err := r.describe()
	return vs, err
}

// Synthesize implements Synthesizer: one provider call, its audio copied
// to w as it arrives. Speech is not retried: a provider that fails is
// reported at once.
func (r *remote) Synthesize(ctx context.Context, req Request, w io.Writer) error {
	sp, info, _, err := r.describe()
	if err != nil {
		return err
	}
	speech, err := sp.Speak(ctx, &provider.SpeechRequest{
		Model: info.Model, Input: req.Text, Voice: req.Voice, Format: string(req.Format), Speed: req.Speed,
		Meta: provider.Meta{Tenant: req.Tenant, Route: "tts", RequestID: req.RequestID},
	})
	if err != nil {
		r.warn(info, req, err)
		return providerError(ctx, err)
	}
	defer speech.Body.Close()
	buf := make([]byte, 16<<10)
	for {
		n, rerr := speech.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return &writeError{err}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			err := &provider.Error{Provider: info.Provider, Kind: provider.KindConnection, Message: "the audio stream broke", Err: rerr}
			r.warn(info, req, err)
			return providerError(ctx, err)
		}
	}
}

// warn logs a provider failure, whose details the caller does not see.
func (r *remote) warn(info Info, req Request, err error) {
	if r.opts.Logger != nil {
		r.opts.Logger.Warn("speech provider call failed", "tenant", req.Tenant, "provider", info.Provider, "model", info.Model,
			"kind", provider.KindOf(err).String(), "error", err, "request_id", req.RequestID)
	}
}

// providerError maps a provider failure to the error the caller sees.
func providerError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return api.Errorf(api.CodeUpstreamTimeout, "the speech provider did not answer within the deadline")
		}
		return api.Errorf(api.CodeUnavailable, "the request was cancelled")
	}
	var pe *provider.Error
	kind := provider.KindOf(err)
	switch kind {
	case provider.KindBadRequest:
		msg := "bad request"
		if errors.As(err, &pe) && pe.Message != "" {
			msg = pe.Message
		}
		return api.Errorf(api.CodeInvalidRequest, "the speech provider rejected the request: %s", msg)
	case provider.KindTimeout:
		return api.Errorf(api.CodeUpstreamTimeout, "the speech provider did not answer in time")
	}
	return api.Errorf(api.CodeUpstreamError, "the speech provider failed (%s)", kind).WithDetails(map[string]any{"kind": kind.String()})
}
