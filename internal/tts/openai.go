package tts

import "log/slog"

// OpenAI defaults.
const (
	// OpenAIModel is the model used when the tenant names none.
	OpenAIModel = "tts-1"
	// OpenAIVoice is the default voice.
	OpenAIVoice = "alloy"
	// OpenAISampleRate is the rate of OpenAI's wav and pcm output.
	OpenAISampleRate = 24000
)

// openAIVoices are the built-in voices of OpenAI's speech models.
var openAIVoices = []string{"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}

// RemoteOptions configure a remote adapter for one tenant.
type RemoteOptions struct {
	Provider string      // the provider's name in the tenant config
	Model    string      // "": the adapter's default
	Voice    string      // default voice; "": the adapter's
	Voices   []string    // the voices offered; nil: the adapter's list
	Speaker  SpeakerFunc // the provider client
	Logger   *slog.Logger
}

// NewOpenAI returns the adapter of an OpenAI-compatible /audio/speech
// endpoint: OpenAI itself, or a local server that speaks its wire format
// (the tenant lists that server's voices).
func NewOpenAI(o RemoteOptions) Synthesizer {
	info := Info{Adapter: "openai", Provider: o.Provider, Model: o.Model, Formats: []Format{WAV, PCM, MP3, Opus}, SampleRate: OpenAISampleRate, Voice: o.Voice}
	if info.Model == "" {
		info.Model = OpenAIModel
	}
	if info.Voice == "" {
		info.Voice = OpenAIVoice
	}
	ids := o.Voices
	if len(ids) == 0 {
		ids = openAIVoices
	}
	return &remote{info: info, voices: staticVoices(ids, ""), speaker: o.Speaker, log: o.Logger}
}
