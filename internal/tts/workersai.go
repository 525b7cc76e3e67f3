package tts

import "github.com/crispy-enigma/crispy/internal/provider/workersai"

// Workers AI defaults.
const (
	// WorkersAIModel is the model used when the tenant names none:
	// Deepgram Aura, which streams its audio.
	WorkersAIModel = "@cf/deepgram/aura-1"
	// WorkersAIVoice is Aura's default speaker.
	WorkersAIVoice = "angus"
)

// auraSpeakers are the speakers of @cf/deepgram/aura-1.
var auraSpeakers = []string{"angus", "arcas", "asteria", "athena", "helios", "hera", "luna", "orion", "orpheus", "perseus", "stella", "zeus"}

// meloLanguages are the languages of @cf/myshell-ai/melotts, its "voices".
var meloLanguages = []string{"en", "es", "fr", "zh", "jp", "kr"}

// NewWorkersAI returns the adapter of a Workers AI text-to-speech model,
// called directly or through AI Gateway as the tenant's workersai provider
// is configured. Aura models speak wav, pcm, mp3 and opus with their
// speakers; MeloTTS speaks mp3 in its languages.
func NewWorkersAI(o RemoteOptions) Synthesizer {
	info := Info{Adapter: "workersai", Provider: o.Provider, Model: o.Model, SampleRate: workersai.AuraSampleRate, Voice: o.Voice}
	if info.Model == "" {
		info.Model = WorkersAIModel
	}
	ids := auraSpeakers
	info.Formats = []Format{WAV, PCM, MP3, Opus}
	def := WorkersAIVoice
	if workersai.IsMeloTTS(info.Model) {
		ids, info.Formats, def, info.SampleRate = meloLanguages, []Format{MP3}, "en", 0
	}
	if len(o.Voices) > 0 {
		ids = o.Voices
	}
	if info.Voice == "" {
		info.Voice = def
	}
	return &remote{info: info, voices: staticVoices(ids, ""), speaker: o.Speaker, log: o.Logger}
}
