package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	oa "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// recordingSynth speaks "audio:<format>:<voice>" and keeps the last request.
type recordingSynth struct {
	formats []tts.Format
	mu      sync.Mutex
	last    tts.Request
}

func (s *recordingSynth) Info() tts.Info {
	return tts.Info{Adapter: "fake", Provider: "fake", Model: "fake-1", Formats: s.formats, SampleRate: 22050, Voice: "en"}
}

func (s *recordingSynth) Voices(context.Context) ([]tts.Voice, error) {
	return []tts.Voice{{ID: "en"}, {ID: "en-us"}, {ID: "fr"}}, nil
}

func (s *recordingSynth) Synthesize(_ context.Context, req tts.Request, w io.Writer) error {
	s.mu.Lock()
	s.last = req
	s.mu.Unlock()
	_, err := io.WriteString(w, "audio:"+string(req.Format)+":"+req.Voice)
	return err
}

func (s *recordingSynth) request() tts.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// speechServer serves acme with synth and globex with text to speech off.
func speechServer(t *testing.T, synth tts.Synthesizer) *httptest.Server {
	t.Helper()
	reg := registry(t)
	svc := tts.New(tts.Options{Synthesizer: func(tn *tenant.Tenant) tts.Synthesizer {
		if tn.Config.TTS.Adapter == "disabled" {
			return tts.Disabled{Tenant: tn.ID.String()}
		}
		return synth
	}})
	t.Cleanup(svc.Close)
	s := New(Options{Registry: func() *tenant.Registry { return reg }, Metrics: obs.NewMetrics(), TTS: svc})
	s.SetReady(true)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func sdkClient(url, key string) oa.Client {
	return oa.NewClient(option.WithBaseURL(url+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// TestSpeechWithOfficialSDK drives POST /v1/audio/speech with OpenAI's own
// Go SDK: OpenAI's voice names speak with the tenant's default voice, the
// tenant's own voices by their names, and the audio comes back with its
// Content-Type.
func TestSpeechWithOfficialSDK(t *testing.T) {
	synth := &recordingSynth{formats: []tts.Format{tts.WAV, tts.PCM, tts.MP3, tts.Opus}}
	ts := speechServer(t, synth)
	client := sdkClient(ts.URL, "ck_dev_acme")
	str := func(s string) oa.AudioSpeechNewParamsVoiceUnion {
		return oa.AudioSpeechNewParamsVoiceUnion{OfString: oa.String(s)}
	}
	tests := []struct {
		name   string
		params oa.AudioSpeechNewParams
		ctype  string
		body   string
		speed  float64
	}{
		{"OpenAI voice, mp3", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hello there.", Voice: str("alloy"), ResponseFormat: "mp3", Speed: oa.Float(1.5)},
			"audio/mpeg", "audio:mp3:en", 1.5},
		{"default format is mp3", oa.AudioSpeechNewParams{Model: "gpt-4o-mini-tts", Input: "Hello.", Voice: str("nova"), Instructions: oa.String("Speak calmly.")},
			"audio/mpeg", "audio:mp3:en", 1},
		{"tenant voice, wav", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Bonjour.", Voice: str("fr"), ResponseFormat: "wav"},
			"audio/wav", "audio:wav:fr", 1},
		{"custom voice object, opus", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: oa.AudioSpeechNewParamsVoiceUnion{OfAudioSpeechNewsVoiceID: &oa.AudioSpeechNewParamsVoiceID{ID: "en-us"}}, ResponseFormat: "opus"},
			"audio/ogg;codecs=opus", "audio:opus:en-us", 1},
		{"pcm", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("marin"), ResponseFormat: "pcm"},
			"audio/pcm;rate=22050;channels=1;bits=16;endianness=little", "audio:pcm:en", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := client.Audio.Speech.New(t.Context(), tt.params)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != tt.ctype || string(b) != tt.body {
				t.Errorf("got %d %q %q, want 200 %q %q", res.StatusCode, res.Header.Get("Content-Type"), b, tt.ctype, tt.body)
			}
			if got := synth.request(); got.Text != tt.params.Input || got.Speed != tt.speed {
				t.Errorf("synthesized %+v, want the input at speed %g", got, tt.speed)
			}
			if got, want := res.Header.Get("X-TTS-Chars"), len(tt.params.Input); got != strconv.Itoa(want) {
				t.Errorf("X-TTS-Chars = %q, want %d", got, want)
			}
		})
	}
}

// TestSpeechErrorsInOpenAIShape checks the errors of POST /v1/audio/speech:
// OpenAI's shape, with the field in param, through the SDK's typed error.
func TestSpeechErrorsInOpenAIShape(t *testing.T) {
	espeakLike := &recordingSynth{formats: []tts.Format{tts.WAV, tts.PCM}}
	ts := speechServer(t, espeakLike)
	str := func(s string) oa.AudioSpeechNewParamsVoiceUnion {
		return oa.AudioSpeechNewParamsVoiceUnion{OfString: oa.String(s)}
	}
	tests := []struct {
		name   string
		key    string
		params oa.AudioSpeechNewParams
		status int
		code   string
		typ    string
		param  string
	}{
		{"speech off", "ck_dev_globex", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("alloy")}, 403, "tts_not_enabled", "permission_error", ""},
		{"aac", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("alloy"), ResponseFormat: "aac"}, 400, "invalid_request", "invalid_request_error", "response_format"},
		{"flac", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("alloy"), ResponseFormat: "flac"}, 400, "invalid_request", "invalid_request_error", "response_format"},
		{"mp3 the adapter lacks", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("alloy"), ResponseFormat: "mp3"}, 400, "invalid_request", "invalid_request_error", "response_format"},
		{"unknown voice", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("robot")}, 400, "invalid_request", "invalid_request_error", "voice"},
		{"empty input", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: " ", Voice: str("alloy")}, 400, "invalid_request", "invalid_request_error", "input"},
		{"input too long", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: strings.Repeat("a", 5001), Voice: str("alloy")}, 413, "payload_too_large", "invalid_request_error", "input"},
		{"speed", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("alloy"), Speed: oa.Float(9)}, 400, "invalid_request", "invalid_request_error", "speed"},
		{"sse", "ck_dev_acme", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("alloy"), StreamFormat: "sse"}, 400, "invalid_request", "invalid_request_error", "stream_format"},
		{"wrong key", "ck_wrong", oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("alloy")}, 401, "unauthenticated", "authentication_error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := sdkClient(ts.URL, tt.key)
			_, err := client.Audio.Speech.New(t.Context(), tt.params)
			var apiErr *oa.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an openai.Error", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code || apiErr.Type != tt.typ || apiErr.Param != tt.param || apiErr.Message == "" {
				t.Errorf("got %d %s, want %d %s %s param %q", apiErr.StatusCode, apiErr.RawJSON(), tt.status, tt.code, tt.typ, tt.param)
			}
		})
	}
	if got := espeakLike.request(); got.Text != "" {
		t.Errorf("a refused request was spoken: %+v", got)
	}

	// Without response_format, an adapter without mp3 answers its own
	// default format rather than failing.
	client := sdkClient(ts.URL, "ck_dev_acme")
	res, err := client.Audio.Speech.New(t.Context(), oa.AudioSpeechNewParams{Model: "tts-1", Input: "Hi.", Voice: str("echo")})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Content-Type") != "audio/wav" {
		t.Errorf("default format without mp3: Content-Type %q, want audio/wav", res.Header.Get("Content-Type"))
	}

	// Unknown fields are refused like everywhere.
	req, _ := http.NewRequest("POST", ts.URL+"/v1/audio/speech", strings.NewReader(`{"model":"tts-1","input":"Hi.","voice":"alloy","colour":"blue"}`))
	req.Header.Set("Authorization", "Bearer ck_dev_acme")
	raw, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Body.Close()
	b, _ := io.ReadAll(raw.Body)
	if raw.StatusCode != 400 || !strings.Contains(string(b), `"param":"colour"`) || strings.Contains(string(b), `"ok"`) {
		t.Errorf("unknown field: %d %s", raw.StatusCode, b)
	}
}

// TestSpeechSharesTheTenantsBudget checks that POST /v1/audio/speech spends
// the same ttsCharsPerDay as POST /tts (acme: 200,000), and answers 402 in
// OpenAI's shape once it is spent.
func TestSpeechSharesTheTenantsBudget(t *testing.T) {
	ts := speechServer(t, &recordingSynth{formats: []tts.Format{tts.WAV}})
	text := strings.Repeat("a", 5000)
	for i := range 20 { // 100,000 characters through /tts
		res := postTTS(t, ts.URL, `{"text":"`+text+`","stream":true}`)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("POST /tts %d: %d", i, res.StatusCode)
		}
	}
	client := sdkClient(ts.URL, "ck_dev_acme")
	for i := range 21 { // and 100,000 more through /v1: the 21st is over
		res, err := client.Audio.Speech.New(t.Context(), oa.AudioSpeechNewParams{Model: "tts-1", Input: text, Voice: oa.AudioSpeechNewParamsVoiceUnion{OfString: oa.String("alloy")}})
		if i < 20 {
			if err != nil {
				t.Fatalf("speech %d: %v", i, err)
			}
			res.Body.Close()
			continue
		}
		var apiErr *oa.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 402 || apiErr.Code != "budget_exceeded" || apiErr.Type != "insufficient_quota" {
			t.Errorf("speech over the budget: err = %v, want 402 budget_exceeded", err)
		}
	}
}
