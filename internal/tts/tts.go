// Package tts is text to speech for Crispy Enigma: the Synthesizer
// interface that each adapter implements (espeak-ng on the server, an
// OpenAI-compatible /audio/speech endpoint, a Workers AI model, or the
// explicit "disabled"), WAV header handling, and the Service that checks a
// request against the tenant's config, holds its budget, synthesizes,
// meters it and keeps the results of long texts as jobs.
package tts

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Format is an audio format a caller may ask for.
type Format string

// The formats of the API. WAV and PCM are 16-bit little-endian mono at the
// adapter's sample rate; PCM is the bare samples.
const (
	WAV  Format = "wav"
	PCM  Format = "pcm"
	MP3  Format = "mp3"
	Opus Format = "opus"
)

// ContentType returns the media type of audio in f at rate (wav and pcm).
func (f Format) ContentType(rate int) string {
	switch f {
	case WAV:
		return "audio/wav"
	case PCM:
		// audio/L16 is big-endian by definition (RFC 2586); these samples
		// are little-endian, so the parameters say so.
		return fmt.Sprintf("audio/pcm;rate=%d;channels=1;bits=16;endianness=little", rate)
	case MP3:
		return "audio/mpeg"
	case Opus:
		return "audio/ogg;codecs=opus"
	}
	return "application/octet-stream"
}

// Voice is a voice an adapter can speak with.
type Voice struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Language string `json:"language,omitempty"`
	Gender   string `json:"gender,omitempty"`
}

// Info describes an adapter as configured for a tenant.
type Info struct {
	Adapter    string   // espeak, openai, workersai, disabled
	Provider   string   // the provider name of the usage ledger
	Model      string   // the model, "" when the adapter has none
	Formats    []Format // the formats it produces
	SampleRate int      // of its wav and pcm output
	Voice      string   // the default voice
}

// Request is one synthesis, already checked against the adapter's voices
// and formats.
type Request struct {
	Text   string
	Voice  string
	Format Format
	Speed  float64 // 1 is normal speed
	// Tenant and RequestID travel to remote providers that record them.
	Tenant    string
	RequestID string
}

// Synthesizer is a text-to-speech adapter. Synthesize writes the audio of
// req to w as it is produced; an error returned before anything was
// written leaves w untouched, one after it means the audio is incomplete.
// WAV output may carry the "unknown" sizes of a stream (StreamingSize):
// the Service fixes them when it holds the whole answer. Cancelling ctx
// stops the synthesis.
type Synthesizer interface {
	Info() Info
	Voices(ctx context.Context) ([]Voice, error)
	Synthesize(ctx context.Context, req Request, w io.Writer) error
}

// Speed bounds of the API, those of OpenAI's speech endpoint.
const (
	MinSpeed = 0.25
	MaxSpeed = 4.0
)

// formatNames returns fs as strings, for messages.
func formatNames(fs []Format) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

// voiceIDs returns the IDs of vs, sorted.
func voiceIDs(vs []Voice) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	slices.Sort(out)
	return out
}

// staticVoices makes voices of IDs with no other detail.
func staticVoices(ids []string, language string) []Voice {
	out := make([]Voice, len(ids))
	for i, id := range ids {
		out[i] = Voice{ID: id, Name: strings.ToUpper(id[:1]) + id[1:], Language: language}
	}
	return out
}
