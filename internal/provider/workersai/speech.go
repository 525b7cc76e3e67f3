package workersai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// maxSpeechJSON bounds a speech answer that comes as JSON (MeloTTS's
// base64 MP3 in the envelope).
const maxSpeechJSON = 64 << 20

// AuraSampleRate is the sample rate asked of Deepgram Aura models for wav
// and pcm output.
const AuraSampleRate = 24000

// Speech defaults.
const (
	// SpeechModelDefault is the model used when the tenant names none:
	// Deepgram Aura, which streams its audio.
	SpeechModelDefault = "@cf/deepgram/aura-1"
	// SpeechVoiceDefault is Aura's default speaker.
	SpeechVoiceDefault = "angus"
)

// auraSpeakers are the speakers of @cf/deepgram/aura-1.
var auraSpeakers = []string{"angus", "arcas", "asteria", "athena", "helios", "hera", "luna", "orion", "orpheus", "perseus", "stella", "zeus"}

// meloLanguages are the languages of @cf/myshell-ai/melotts, its "voices".
var meloLanguages = []string{"en", "es", "fr", "zh", "jp", "kr"}

var _ provider.SpeechDescriber = (*Client)(nil)

// SpeechModel implements provider.SpeechDescriber: Aura models speak wav,
// pcm, mp3 and opus with their speakers; MeloTTS speaks mp3 in its
// languages.
func (c *Client) SpeechModel(model string) provider.SpeechModel {
	if model == "" {
		model = SpeechModelDefault
	}
	if IsMeloTTS(model) {
		return provider.SpeechModel{Model: model, Voices: meloLanguages, DefaultVoice: "en", Formats: []string{"mp3"}}
	}
	return provider.SpeechModel{Model: model, Voices: auraSpeakers, DefaultVoice: SpeechVoiceDefault,
		Formats: []string{"wav", "pcm", "mp3", "opus"}, SampleRate: AuraSampleRate}
}

// auraInput is the input of the Deepgram Aura text-to-speech models
// (@cf/deepgram/aura-1, aura-2-*): the answer is the audio itself.
type auraInput struct {
	Text       string `json:"text"`
	Speaker    string `json:"speaker,omitempty"`
	Encoding   string `json:"encoding,omitempty"`
	Container  string `json:"container,omitempty"`
	SampleRate int    `json:"sample_rate,omitempty"`
}

// meloInput is the input of @cf/myshell-ai/melotts: the answer is the
// envelope with the MP3 as base64 in result.audio.
type meloInput struct {
	Prompt string `json:"prompt"`
	Lang   string `json:"lang,omitempty"`
}

type meloResult struct {
	Audio string `json:"audio"`
}

// IsMeloTTS reports whether model takes MeloTTS's input (prompt and lang)
// rather than Aura's (text, speaker, encoding).
func IsMeloTTS(model string) bool { return strings.Contains(model, "melotts") }

// speechBody is the run input of model for req.
func speechBody(req *provider.SpeechRequest) ([]byte, error) {
	if IsMeloTTS(req.Model) {
		if req.Format != "" && req.Format != "mp3" {
			return nil, fmt.Errorf("model %s speaks mp3 only, not %s", req.Model, req.Format)
		}
		return json.Marshal(meloInput{Prompt: req.Input, Lang: req.Voice})
	}
	in := auraInput{Text: req.Input, Speaker: req.Voice}
	switch req.Format {
	case "", "mp3":
		in.Encoding = "mp3"
	case "wav":
		in.Encoding, in.Container, in.SampleRate = "linear16", "wav", AuraSampleRate
	case "pcm":
		in.Encoding, in.Container, in.SampleRate = "linear16", "none", AuraSampleRate
	case "opus":
		in.Encoding, in.Container = "opus", "ogg"
	default:
		return nil, fmt.Errorf("format %q is not one of mp3, wav, pcm, opus", req.Format)
	}
	return json.Marshal(in)
}

// Speak implements provider.Speaker with a text-to-speech model run,
// directly or through AI Gateway. Timeout bounds the wait for the answer to
// start; audio then streams as it comes. Speed is not a parameter of these
// models and is ignored.
func (c *Client) Speak(ctx context.Context, req *provider.SpeechRequest) (*provider.Speech, error) {
	bad := func(err error) error {
		return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Message: err.Error(), Err: err}
	}
	if err := checkModel(req.Model); err != nil {
		return nil, bad(err)
	}
	body, err := speechBody(req)
	if err != nil {
		return nil, bad(err)
	}
	k := c.newCall(ctx)
	hreq, err := c.newRequest(k.ctx, req.Model, body, "audio/*, application/json", req.Meta)
	if err != nil {
		k.release()
		return nil, bad(err)
	}
	resp, err := c.send(k, hreq)
	if err != nil {
		k.release()
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.refused(k, resp)
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == "application/json" {
		defer k.release()
		defer resp.Body.Close()
		return c.speechJSON(k, resp.StatusCode, resp.Header, resp.Body)
	}
	if strings.HasPrefix(mt, "text/") {
		k.release()
		resp.Body.Close()
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindProtocol, Status: resp.StatusCode,
			Message: fmt.Sprintf("unexpected content type %q for audio", mt)}
	}
	k.timer.Stop() // the answer has started: from here the caller's context bounds it
	return &provider.Speech{ContentType: ct, Body: &callBody{ReadCloser: resp.Body, k: k}}, nil
}

// speechJSON decodes an envelope answer: MeloTTS's audio, or an error
// reported with a 200.
func (c *Client) speechJSON(k *call, status int, h map[string][]string, r io.Reader) (*provider.Speech, error) {
	b, err := readBody(r, maxSpeechJSON)
	if err != nil {
		if k.parent.Err() != nil || k.timedOut.Load() {
			return nil, c.transportError(k, err)
		}
		return nil, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindProtocol, Status: status, Err: err}
	}
	protocol := func(msg string, err error) error {
		return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindProtocol, Status: status, Message: msg, Err: err}
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, protocol("malformed JSON envelope", err)
	}
	if env.failed() {
		return nil, c.classify(status, h, b)
	}
	var res meloResult
	if err := json.Unmarshal(env.Result, &res); err != nil || res.Audio == "" {
		return nil, protocol("the answer holds no audio", err)
	}
	audio, err := base64.StdEncoding.DecodeString(res.Audio)
	if err != nil {
		return nil, protocol("the audio is not base64", err)
	}
	return &provider.Speech{ContentType: "audio/mpeg", Body: io.NopCloser(bytes.NewReader(audio))}, nil
}

// callBody is a response body that releases its call when closed.
type callBody struct {
	io.ReadCloser
	k *call
}

// Close closes the body and cancels the call.
func (b *callBody) Close() error {
	b.k.closed.Store(true)
	err := b.ReadCloser.Close()
	b.k.release()
	return err
}

var _ provider.Speaker = (*Client)(nil)
