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

// remote is what the openai and workersai adapters share: a provider
// Speaker, a model and a fixed set of voices and formats.
type remote struct {
	info    Info
	voices  []Voice
	speaker SpeakerFunc
	log     *slog.Logger
}

// Info implements Synthesizer.
func (r *remote) Info() Info { return r.info }

// Voices implements Synthesizer.
func (r *remote) Voices(context.Context) ([]Voice, error) { return r.voices, nil }

// Synthesize implements Synthesizer: one provider call, its audio copied
// to w as it arrives. Speech is not retried: a provider that fails is
// reported at once.
func (r *remote) Synthesize(ctx context.Context, req Request, w io.Writer) error {
	sp, err := r.speaker()
	if err != nil {
		return api.Errorf(api.CodeUnavailable, "the speech provider %q is not available: %v", r.info.Provider, err)
	}
	speech, err := sp.Speak(ctx, &provider.SpeechRequest{
		Model: r.info.Model, Input: req.Text, Voice: req.Voice, Format: string(req.Format), Speed: req.Speed,
		Meta: provider.Meta{Tenant: req.Tenant, Route: "tts", RequestID: req.RequestID},
	})
	if err != nil {
		r.warn(req, err)
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
			err := &provider.Error{Provider: r.info.Provider, Kind: provider.KindConnection, Message: "the audio stream broke", Err: rerr}
			r.warn(req, err)
			return providerError(ctx, err)
		}
	}
}

// warn logs a provider failure, whose details the caller does not see.
func (r *remote) warn(req Request, err error) {
	if r.log != nil {
		r.log.Warn("speech provider call failed", "tenant", req.Tenant, "provider", r.info.Provider, "model", r.info.Model,
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
