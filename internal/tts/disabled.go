package tts

import (
	"context"
	"io"

	"github.com/crispy-enigma/crispy/api"
)

// Disabled is the adapter of a tenant without text to speech: every call
// fails with tts_not_enabled and says how to turn it on.
type Disabled struct {
	Tenant string
}

var _ Synthesizer = Disabled{}

// Info implements Synthesizer.
func (d Disabled) Info() Info { return Info{Adapter: "disabled", Provider: "disabled"} }

// Voices implements Synthesizer: always tts_not_enabled.
func (d Disabled) Voices(context.Context) ([]Voice, error) { return nil, d.err() }

// Synthesize implements Synthesizer: always tts_not_enabled.
func (d Disabled) Synthesize(context.Context, Request, io.Writer) error { return d.err() }

func (d Disabled) err() error {
	return NotEnabled(d.Tenant, "")
}

// NotEnabled is the error of a tenant whose text to speech is off; why,
// when set, says more (espeak-ng missing on the server).
func NotEnabled(tenantID, why string) error {
	msg := "text to speech is not enabled for tenant " + tenantID +
		": set \"tts\": {\"adapter\": \"espeak\"} (or \"openai\" or \"workersai\" with a provider) in tenants/" + tenantID +
		"/tenant.jsonc and give the key the \"tts\" scope"
	if why != "" {
		msg = why
	}
	return api.Errorf(api.CodeTTSNotEnabled, "%s", msg).WithDetails(map[string]any{"tenant": tenantID, "docs": "docs/tts.md"})
}

// Unavailable is the adapter of a tenant whose adapter cannot run on this
// server (espeak-ng not installed): every call fails with unavailable and
// the reason.
type Unavailable struct {
	Adapter string
	Reason  error
}

var _ Synthesizer = Unavailable{}

// Info implements Synthesizer.
func (u Unavailable) Info() Info { return Info{Adapter: u.Adapter, Provider: u.Adapter} }

// Voices implements Synthesizer: always unavailable.
func (u Unavailable) Voices(context.Context) ([]Voice, error) { return nil, u.err() }

// Synthesize implements Synthesizer: always unavailable.
func (u Unavailable) Synthesize(context.Context, Request, io.Writer) error { return u.err() }

func (u Unavailable) err() error {
	return api.Errorf(api.CodeUnavailable, "text to speech (%s) is not available on this server: %v", u.Adapter, u.Reason)
}
