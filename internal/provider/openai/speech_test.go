package openai_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/openai"
)

// speechServer is a local OpenAI-compatible /v1/audio/speech.
func speechServer(t *testing.T, h http.HandlerFunc) (*openai.Client, *[]map[string]any) {
	t.Helper()
	var seen []map[string]any
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/speech" {
			http.Error(w, `{"error":{"message":"no such route","type":"invalid_request_error"}}`, http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer sk-test-speech-key" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		seen = append(seen, body)
		h(w, r)
	}))
	t.Cleanup(hs.Close)
	c, err := openai.New(overTransport(t, openai.Config{BaseURL: hs.URL + "/v1", APIKey: "sk-test-speech-key", Timeout: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return c, &seen
}

func TestSpeakWireFormat(t *testing.T) {
	c, seen := speechServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		io.WriteString(w, "RIFF....WAVE")
	})
	sp, err := c.Speak(t.Context(), &provider.SpeechRequest{Model: "tts-1", Input: "-v; echo hi", Voice: "alloy", Format: "wav", Speed: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(sp.Body)
	sp.Body.Close()
	if string(b) != "RIFF....WAVE" || sp.ContentType != "audio/wav" {
		t.Errorf("audio %q %q", b, sp.ContentType)
	}
	got := (*seen)[0]
	want := map[string]any{"model": "tts-1", "input": "-v; echo hi", "voice": "alloy", "response_format": "wav", "speed": 1.5}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("body has fields %v, want exactly %v", got, want)
	}
}

func TestSpeakErrors(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
		kind provider.Kind
	}{
		{"bad voice", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"message":"Input should be 'alloy', 'echo'","type":"invalid_request_error","param":"voice","code":null}}`)
		}, provider.KindBadRequest},
		{"rate limited", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "2")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
		}, provider.KindRateLimited},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
		}, provider.KindOverloaded},
		{"JSON instead of audio", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`)
		}, provider.KindProtocol},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // never answers within the client's timeout
		}, provider.KindTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := speechServer(t, tt.h)
			_, err := c.Speak(t.Context(), &provider.SpeechRequest{Model: "tts-1", Input: "hi", Voice: "alloy", Format: "mp3"})
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tt.kind {
				t.Fatalf("err = %v, want a provider error of kind %s", err, tt.kind)
			}
		})
	}
}

func TestSpeakStreamsPastTheTimeout(t *testing.T) {
	// Timeout bounds the wait for the answer to start, not the audio: a
	// long answer that started in time is read to its end.
	c, _ := speechServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		for range 3 {
			io.WriteString(w, "chunk")
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond)
		}
	})
	sp, err := c.Speak(t.Context(), &provider.SpeechRequest{Model: "tts-1", Input: "hi", Voice: "alloy", Format: "mp3"})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Body.Close()
	b, err := io.ReadAll(sp.Body)
	if err != nil || string(b) != "chunkchunkchunk" {
		t.Fatalf("audio %q, %v", b, err)
	}
}
