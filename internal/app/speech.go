package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// reportEspeak says at start whether espeak-ng is there, and which tenants
// cannot speak without it.
func (a *App) reportEspeak(reg *tenant.Registry) {
	var users []string
	for _, t := range reg.Tenants() {
		if t.Config.TTS.Adapter == "espeak" {
			users = append(users, t.ID.String())
		}
	}
	switch {
	case a.espeakErr != nil && len(users) > 0:
		a.log.Warn("espeak-ng is not installed: text to speech of these tenants answers 503 until it is (apt-get install espeak-ng)",
			"tenants", users, "error", a.espeakErr)
	case a.espeakErr != nil:
		a.log.Info("espeak-ng is not installed; no tenant uses it", "error", a.espeakErr)
	default:
		vs, _ := a.espeak.Voices(context.Background())
		a.log.Info("text to speech: espeak-ng ready", "voices", len(vs), "tenants", users)
	}
}

// synthesizer returns the speech adapter of tenant t in the registry in
// force; a tenant added since is treated as disabled until it is loaded.
func (a *App) synthesizer(t *tenant.Tenant) tts.Synthesizer {
	if s, ok := a.current.Load().voices[t.ID.String()]; ok {
		return s
	}
	return tts.Disabled{Tenant: t.ID.String()}
}

// buildSynthesizers makes the speech adapter of every tenant of reg. The
// remote adapters find their provider in the catalog at each call, so
// they use the same clients, credentials and URLs as the gateway.
func (a *App) buildSynthesizers(reg *tenant.Registry) map[string]tts.Synthesizer {
	out := make(map[string]tts.Synthesizer)
	for _, t := range reg.Tenants() {
		id, cfg := t.ID.String(), t.Config.TTS
		opts := tts.RemoteOptions{Provider: cfg.Provider, Model: cfg.Model, Voice: cfg.Voice, Voices: cfg.Voices, Speaker: a.speaker(id, cfg.Provider), Logger: a.log}
		switch strings.ToLower(cfg.Adapter) {
		case "espeak":
			if a.espeak == nil {
				out[id] = tts.Unavailable{Adapter: "espeak", Reason: a.espeakErr}
			} else {
				out[id] = a.espeak
			}
		case "openai":
			out[id] = tts.NewOpenAI(opts)
		case "workersai":
			out[id] = tts.NewWorkersAI(opts)
		default: // "disabled", or no tts at all
			out[id] = tts.Disabled{Tenant: id}
		}
	}
	return out
}

// speaker returns the Speaker of provider name of tenant id from the
// catalog in force.
func (a *App) speaker(tenantID, name string) tts.SpeakerFunc {
	return func() (provider.Speaker, error) {
		ad, ok := a.current.Load().catalog.Adapter(tenantID, name)
		switch {
		case !ok:
			return nil, fmt.Errorf("provider %q is not configured", name)
		case ad.Err != nil:
			return nil, ad.Err
		case ad.Speech == nil:
			return nil, fmt.Errorf("provider %q does not speak", name)
		}
		return ad.Speech, nil
	}
}
