package openai

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"strings"

	oai "github.com/crispy-enigma/crispy/api/openai"
	"github.com/crispy-enigma/crispy/internal/provider"
)

// Speech defaults of OpenAI's /audio/speech.
const (
	// SpeechModelDefault is the model used when the tenant names none.
	SpeechModelDefault = "tts-1"
	// SpeechVoiceDefault is the default voice.
	SpeechVoiceDefault = "alloy"
	// SpeechSampleRate is the rate of OpenAI's wav and pcm output.
	SpeechSampleRate = 24000
)

// speechVoices are the built-in voices of OpenAI's speech models.
var speechVoices = []string{"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}

var _ provider.SpeechDescriber = (*Client)(nil)

// SpeechModel implements provider.SpeechDescriber with OpenAI's voices,
// formats and rate; a local server that speaks OpenAI's wire format has
// its own voices, which the tenant lists.
func (c *Client) SpeechModel(model string) provider.SpeechModel {
	if model == "" {
		model = SpeechModelDefault
	}
	return provider.SpeechModel{Model: model, Voices: speechVoices, DefaultVoice: SpeechVoiceDefault,
		Formats: []string{"wav", "pcm", "mp3", "opus"}, SampleRate: SpeechSampleRate}
}

// Speak implements provider.Speaker with POST /audio/speech. Config.Timeout
// bounds the wait for the answer to start; the audio then streams for as
// long as the caller's context allows. An answer that is JSON or text
// rather than audio is a protocol error.
func (c *Client) Speak(ctx context.Context, req *provider.SpeechRequest) (*provider.Speech, error) {
	switch {
	case req == nil || req.Model == "":
		return nil, c.fail(provider.KindBadRequest, 0, "no model", nil)
	case req.Input == "":
		return nil, c.fail(provider.KindBadRequest, 0, "no input", nil)
	case req.Voice == "":
		return nil, c.fail(provider.KindBadRequest, 0, "no voice", nil)
	}
	wire := oai.SpeechRequest{Model: req.Model, Input: req.Input, Voice: oai.SpeechVoice(req.Voice), ResponseFormat: req.Format}
	if req.Speed != 0 {
		wire.Speed = &req.Speed
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, c.fail(provider.KindBadRequest, 0, "cannot encode the request", err)
	}
	a := c.newAttempt(ctx)
	resp, err := c.post(a, c.cfg.BaseURL+"/audio/speech", "audio/*, application/octet-stream", body, false)
	if err != nil {
		a.cancel(nil)
		return nil, err
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt == "application/json" || strings.HasPrefix(mt, "text/") {
		defer a.cancel(nil)
		defer resp.Body.Close()
		return nil, c.fail(provider.KindProtocol, resp.StatusCode, "the answer is "+mt+", not audio", nil)
	}
	return &provider.Speech{ContentType: ct, Body: &attemptBody{ReadCloser: resp.Body, a: a}}, nil
}

// attemptBody is a response body that ends its attempt when closed.
type attemptBody struct {
	io.ReadCloser
	a *attempt
}

// Close closes the body and cancels the attempt's context.
func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.a.cancel(nil)
	return err
}

var _ provider.Speaker = (*Client)(nil)
