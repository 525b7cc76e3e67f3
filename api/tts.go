package api

import "time"

// TTSRequest is the body of POST /tts.
type TTSRequest struct {
	// Text is what to speak, at most the tenant's tts.maxChars characters.
	Text string `json:"text"`
	// Voice is one of GET /tts/voices; "" for the tenant's default.
	Voice string `json:"voice,omitempty"`
	// Format is wav (default), pcm, or mp3 and opus where the adapter
	// speaks them.
	Format string `json:"format,omitempty"`
	// Speed is 0.25 to 4; 1 (default) is normal speed.
	Speed *float64 `json:"speed,omitempty"`
	// Stream sends the audio as it is produced.
	Stream bool `json:"stream,omitempty"`
}

// TTSVoices is the answer of GET /tts/voices.
type TTSVoices struct {
	Adapter    string     `json:"adapter"`
	Model      string     `json:"model,omitempty"`
	Default    string     `json:"default"`
	Formats    []string   `json:"formats"`
	SampleRate int        `json:"sampleRate,omitempty"` // of wav and pcm
	MaxChars   int        `json:"maxChars"`
	AsyncChars int        `json:"asyncChars"` // longer texts without stream become jobs
	Voices     []TTSVoice `json:"voices"`
}

// TTSVoice is one voice.
type TTSVoice struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Language string `json:"language,omitempty"`
	Gender   string `json:"gender,omitempty"`
}

// TTSJob is the state of a speech job, the 202 answer of a long POST /tts
// and of GET /tts/jobs/{id} while it runs or when it failed.
type TTSJob struct {
	JobID       string     `json:"jobId"`
	Status      string     `json:"status"` // running, done, failed
	Chars       int        `json:"chars"`
	ContentType string     `json:"contentType"`
	SampleRate  int        `json:"sampleRate,omitempty"` // of wav and pcm audio
	Created     time.Time  `json:"created"`
	Finished    *time.Time `json:"finished,omitempty"`
	Expires     *time.Time `json:"expires,omitempty"`
	Bytes       int        `json:"bytes,omitempty"`
	Error       *Error     `json:"error,omitempty"`
}
