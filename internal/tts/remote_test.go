package tts_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/openai"
	"github.com/crispy-enigma/crispy/internal/provider/workersai"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// openAIFake is a local /v1/audio/speech answering with h.
func openAIFake(t *testing.T, h http.HandlerFunc) tts.SpeakerFunc {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	c, err := openai.New(openai.Config{Name: "oai", BaseURL: hs.URL + "/v1", APIKey: "sk-test", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return func() (provider.Speaker, error) { return c, nil }
}

// serviceFor is a Service whose every tenant speaks with s.
func serviceFor(t *testing.T, s tts.Synthesizer) (*tts.Service, tenant.Caller) {
	t.Helper()
	acme, _, _ := tenants(t, tenant.TTS{Adapter: "openai"}, tenant.Budget{})
	svc := tts.New(tts.Options{Synthesizer: func(*tenant.Tenant) tts.Synthesizer { return s }})
	t.Cleanup(svc.Close)
	return svc, tenant.Caller{Tenant: acme, RequestID: "req-7"}
}

func TestOpenAIAdapter(t *testing.T) {
	var got map[string]any
	speaker := openAIFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/speech" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "audio/wav")
		// OpenAI streams WAV with unknown sizes, as espeak-ng does.
		w.Write(tts.AppendWAVHeader(nil, openai.SpeechSampleRate, tts.StreamingSize))
		w.Write(make([]byte, 2*openai.SpeechSampleRate)) // one second
	})
	s := tts.NewOpenAI(tts.RemoteOptions{Provider: "oai", Speaker: speaker})
	svc, c := serviceFor(t, s)
	speed := 1.25
	p, err := svc.Prepare(t.Context(), c, api.TTSRequest{Text: "-rf $(reboot)", Voice: "nova", Speed: &speed})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := svc.SpeakAll(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if d := wavDuration(t, audio, openai.SpeechSampleRate); d != 1 {
		t.Errorf("duration %.3fs, want 1s", d)
	}
	want := map[string]any{"model": "tts-1", "input": "-rf $(reboot)", "voice": "nova", "response_format": "wav", "speed": 1.25}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// mp3 and opus are formats of this adapter; flac is not offered.
	for f, ok := range map[string]bool{"mp3": true, "opus": true, "pcm": true, "flac": false} {
		_, err := svc.Prepare(t.Context(), c, api.TTSRequest{Text: "hi", Format: f})
		if (err == nil) != ok {
			t.Errorf("format %s: %v", f, err)
		}
	}
	// The tenant may list the voices of an OpenAI-compatible server.
	own := tts.NewOpenAI(tts.RemoteOptions{Provider: "local", Voices: []string{"af_bella", "am_adam"}, Voice: "af_bella", Speaker: speaker})
	vs, _ := own.Voices(t.Context())
	if len(vs) != 2 || vs[0].ID != "af_bella" || own.Info().Voice != "af_bella" {
		t.Errorf("voices %+v", vs)
	}
}

func TestRemoteErrors(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
		code api.ErrorCode
	}{
		{"rejected", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"message":"input too long","type":"invalid_request_error"}}`)
		}, api.CodeInvalidRequest},
		{"failing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }, api.CodeUpstreamError},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // the server sees the client go only once the body is read
			<-r.Context().Done()
		}, api.CodeUpstreamTimeout},
		{"breaks mid-stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "audio/mpeg")
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte("only a little"))
		}, api.CodeUpstreamError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, c := serviceFor(t, tts.NewOpenAI(tts.RemoteOptions{Provider: "oai", Speaker: openAIFake(t, tt.h)}))
			p, err := svc.Prepare(t.Context(), c, api.TTSRequest{Text: "hi", Format: "mp3"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.SpeakAll(t.Context(), p)
			if code(err) != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	t.Run("no provider", func(t *testing.T) {
		s := tts.NewOpenAI(tts.RemoteOptions{Provider: "oai", Speaker: func() (provider.Speaker, error) {
			return nil, errors.New("environment variable OPENAI_API_KEY is not set")
		}})
		svc, c := serviceFor(t, s)
		if _, err := svc.Prepare(t.Context(), c, api.TTSRequest{Text: "hi"}); code(err) != api.CodeUnavailable || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
			t.Fatalf("err = %v, want unavailable naming the variable", err)
		}
		if err := s.Synthesize(t.Context(), tts.Request{Text: "hi", Voice: "alloy", Format: tts.MP3}, io.Discard); code(err) != api.CodeUnavailable {
			t.Fatalf("Synthesize: err = %v, want unavailable", err)
		}
	})
}

func TestWorkersAIAdapter(t *testing.T) {
	var path string
	var body map[string]any
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.EscapedPath()
		body = nil
		_ = json.NewDecoder(r.Body).Decode(&body)
		if strings.Contains(path, "melotts") {
			b, _ := json.Marshal(map[string]any{"success": true, "errors": []any{}, "result": map[string]string{"audio": base64.StdEncoding.EncodeToString([]byte("ID3mp3"))}})
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
			return
		}
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(tts.AppendWAVHeader(nil, workersai.AuraSampleRate, tts.StreamingSize))
		w.Write(make([]byte, workersai.AuraSampleRate)) // half a second
	}))
	defer hs.Close()
	c, err := workersai.New(workersai.Config{AccountID: "acct", APIToken: "tok", BaseURL: hs.URL + "/client/v4"})
	if err != nil {
		t.Fatal(err)
	}
	speaker := func() (provider.Speaker, error) { return c, nil }

	svc, caller := serviceFor(t, tts.NewWorkersAI(tts.RemoteOptions{Provider: "cf", Speaker: speaker}))
	p, err := svc.Prepare(t.Context(), caller, api.TTSRequest{Text: "Hello", Voice: "luna"})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := svc.SpeakAll(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if d := wavDuration(t, audio, workersai.AuraSampleRate); d != 0.5 {
		t.Errorf("duration %.3f, want 0.5", d)
	}
	if path != "/client/v4/accounts/acct/ai/run/@cf/deepgram/aura-1" || body["speaker"] != "luna" || body["text"] != "Hello" || body["encoding"] != "linear16" {
		t.Errorf("request %s %v", path, body)
	}

	// MeloTTS: mp3 only, its languages as voices.
	melo := tts.NewWorkersAI(tts.RemoteOptions{Provider: "cf", Model: "@cf/myshell-ai/melotts", Speaker: speaker})
	svc, caller = serviceFor(t, melo)
	if _, err := svc.Prepare(t.Context(), caller, api.TTSRequest{Text: "Hello"}); err != nil {
		t.Fatalf("the default format of an mp3-only model: %v", err)
	}
	_, err = svc.Prepare(t.Context(), caller, api.TTSRequest{Text: "Hello", Format: "wav"})
	if e := api.AsError(err); e.Code != api.CodeInvalidRequest || !strings.Contains(e.Message, "allowed: mp3") {
		t.Fatalf("wav from MeloTTS: %v", err)
	}
	p, _ = svc.Prepare(t.Context(), caller, api.TTSRequest{Text: "Bonjour", Voice: "fr", Format: "mp3"})
	audio, err = svc.SpeakAll(t.Context(), p)
	if err != nil || string(audio) != "ID3mp3" || p.ContentType() != "audio/mpeg" {
		t.Fatalf("MeloTTS audio %q %v", audio, err)
	}
	if body["prompt"] != "Bonjour" || body["lang"] != "fr" {
		t.Errorf("MeloTTS body %v", body)
	}
}

// plainSpeaker is a Speaker that does not describe its models.
type plainSpeaker struct{}

func (plainSpeaker) Speak(context.Context, *provider.SpeechRequest) (*provider.Speech, error) {
	return &provider.Speech{ContentType: "audio/mpeg", Body: io.NopCloser(strings.NewReader("ID3"))}, nil
}

func TestRemoteDescription(t *testing.T) {
	oai := openAIFake(t, func(w http.ResponseWriter, r *http.Request) {})
	plain := func() (provider.Speaker, error) { return plainSpeaker{}, nil }
	tests := []struct {
		name       string
		synth      tts.Synthesizer
		model      string
		voice      string
		voices     int
		formats    []tts.Format
		sampleRate int
	}{
		{"openai defaults", tts.NewOpenAI(tts.RemoteOptions{Provider: "oai", Speaker: oai}), "tts-1", "alloy", 11, []tts.Format{tts.WAV, tts.PCM, tts.MP3, tts.Opus}, openai.SpeechSampleRate},
		{"the tenant's voices win", tts.NewOpenAI(tts.RemoteOptions{Provider: "oai", Model: "kokoro", Voice: "af_bella", Voices: []string{"af_bella"}, Speaker: oai}), "kokoro", "af_bella", 1, []tts.Format{tts.WAV, tts.PCM, tts.MP3, tts.Opus}, openai.SpeechSampleRate},
		{"a speaker that does not describe itself", tts.NewOpenAI(tts.RemoteOptions{Provider: "x", Model: "m", Voice: "v", Voices: []string{"v", "w"}, Speaker: plain}), "m", "v", 2, []tts.Format{tts.MP3}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, err := tt.synth.Voices(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			info := tt.synth.Info()
			if info.Model != tt.model || info.Voice != tt.voice || len(vs) != tt.voices || !slices.Equal(info.Formats, tt.formats) || info.SampleRate != tt.sampleRate {
				t.Errorf("info %+v with %d voices", info, len(vs))
			}
		})
	}
}
