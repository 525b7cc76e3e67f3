package workersai_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/workersai"
)

const (
	auraModel = "@cf/deepgram/aura-1"
	meloModel = "@cf/myshell-ai/melotts"
)

func speechReq(model, format string) *provider.SpeechRequest {
	return &provider.SpeechRequest{Model: model, Input: "Hello -- world; $(rm -rf /)", Voice: "luna", Format: format,
		Meta: provider.Meta{Tenant: "acme", Route: "tts", RequestID: "req-9"}}
}

func readSpeech(t *testing.T, sp *provider.Speech) []byte {
	t.Helper()
	defer sp.Body.Close()
	b, err := io.ReadAll(sp.Body)
	if err != nil {
		t.Fatalf("reading the audio: %v", err)
	}
	return b
}

func TestSpeakAuraWire(t *testing.T) {
	tests := []struct {
		format string
		want   map[string]any
	}{
		{"mp3", map[string]any{"encoding": "mp3"}},
		{"wav", map[string]any{"encoding": "linear16", "container": "wav", "sample_rate": float64(workersai.AuraSampleRate)}},
		{"pcm", map[string]any{"encoding": "linear16", "container": "none", "sample_rate": float64(workersai.AuraSampleRate)}},
		{"opus", map[string]any{"encoding": "opus", "container": "ogg"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f := newFake(t, raw(200, "audio/whatever", nil, "AUDIO-BYTES"))
			c := newClient(t, f.directConfig())
			sp, err := c.Speak(t.Context(), speechReq(auraModel, tt.format))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(readSpeech(t, sp)); got != "AUDIO-BYTES" {
				t.Errorf("audio = %q", got)
			}
			if sp.ContentType != "audio/whatever" {
				t.Errorf("content type = %q", sp.ContentType)
			}
			r := f.last()
			if r.EscapedPath != "/client/v4/accounts/"+accountID+"/ai/run/@cf/deepgram/aura-1" {
				t.Errorf("path = %s", r.EscapedPath)
			}
			if r.Header.Get("Authorization") != "Bearer "+apiToken {
				t.Errorf("no API token sent")
			}
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body["text"] != "Hello -- world; $(rm -rf /)" || body["speaker"] != "luna" {
				t.Errorf("body = %s", r.Body)
			}
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v (body %s)", k, body[k], v, r.Body)
				}
			}
		})
	}
}

func TestSpeakThroughGateway(t *testing.T) {
	f := newFake(t, raw(200, "audio/mpeg", nil, "MP3"))
	c := newClient(t, f.gatewayConfig())
	sp, err := c.Speak(t.Context(), speechReq(auraModel, "mp3"))
	if err != nil {
		t.Fatal(err)
	}
	readSpeech(t, sp)
	r := f.last()
	if want := "/v1/" + accountID + "/" + gatewayID + "/workers-ai/@cf/deepgram/aura-1"; r.EscapedPath != want {
		t.Errorf("path = %s, want %s", r.EscapedPath, want)
	}
	if r.Header.Get("cf-aig-authorization") != "Bearer "+gatewayToken {
		t.Error("no gateway token sent")
	}
	if !strings.Contains(r.Header.Get("cf-aig-metadata"), `"route":"tts"`) {
		t.Errorf("cf-aig-metadata = %q", r.Header.Get("cf-aig-metadata"))
	}
}

func TestSpeakMeloTTS(t *testing.T) {
	mp3 := []byte{0xff, 0xfb, 0x90, 0x00, 1, 2, 3}
	f := newFake(t, raw(200, "application/json", nil, envelopeOK(map[string]string{"audio": base64.StdEncoding.EncodeToString(mp3)})))
	c := newClient(t, f.directConfig())
	req := speechReq(meloModel, "mp3")
	req.Voice = "en"
	sp, err := c.Speak(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readSpeech(t, sp); string(got) != string(mp3) || sp.ContentType != "audio/mpeg" {
		t.Errorf("audio = %x (%s), want %x audio/mpeg", got, sp.ContentType, mp3)
	}
	var body map[string]any
	_ = json.Unmarshal(f.last().Body, &body)
	if body["prompt"] != req.Input || body["lang"] != "en" || body["text"] != nil {
		t.Errorf("MeloTTS body = %s", f.last().Body)
	}
	// MeloTTS speaks MP3 only: asking for wav is the caller's mistake, and
	// nothing is sent.
	n := len(f.requests())
	_, err = c.Speak(t.Context(), speechReq(meloModel, "wav"))
	asProviderError(t, err, provider.KindBadRequest)
	if len(f.requests()) != n {
		t.Error("a request the model cannot serve was sent")
	}
}

func TestSpeakErrors(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
		kind provider.Kind
	}{
		{"bad input", raw(400, "application/json", nil, envelopeErr(5006, "text: required")), provider.KindBadRequest},
		{"auth", raw(401, "application/json", nil, envelopeErr(10000, "Authentication error")), provider.KindAuth},
		{"rate limited", raw(429, "application/json", http.Header{"Retry-After": {"3"}}, envelopeErr(3036, "Daily free allocation used up")), provider.KindRateLimited},
		{"overloaded", raw(503, "text/plain", nil, "upstream unavailable"), provider.KindOverloaded},
		{"failure in a 200", raw(200, "application/json", nil, envelopeErr(5004, "Invalid data type")), provider.KindBadRequest},
		{"no audio in JSON", raw(200, "application/json", nil, envelopeOK(map[string]string{})), provider.KindProtocol},
		{"text instead of audio", raw(200, "text/html", nil, "<html>"), provider.KindProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.h)
			c := newClient(t, f.directConfig())
			_, err := c.Speak(t.Context(), speechReq(auraModel, "mp3"))
			asProviderError(t, err, tt.kind)
		})
	}
}

func TestSpeakSlowUpstreamTimesOut(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { f0(r) })
	cfg := f.directConfig()
	cfg.Timeout = 50 * time.Millisecond
	c := newClient(t, cfg)
	_, err := c.Speak(t.Context(), speechReq(auraModel, "mp3"))
	asProviderError(t, err, provider.KindTimeout)
}

// f0 waits for the client to go away.
func f0(r *http.Request) { <-r.Context().Done() }

func TestSpeakStreamsAndCloseCancels(t *testing.T) {
	release := make(chan struct{})
	var f *fake
	f = newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		io.WriteString(w, "FIRST")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			f.once.Do(func() { close(f.cancelled) })
		}
	})
	c := newClient(t, f.directConfig())
	sp, err := c.Speak(t.Context(), speechReq(auraModel, "mp3"))
	if err != nil {
		t.Fatal(err)
	}
	// The first bytes arrive while the upstream is still speaking.
	buf := make([]byte, 5)
	if _, err := io.ReadFull(sp.Body, buf); err != nil || string(buf) != "FIRST" {
		t.Fatalf("first bytes %q, %v", buf, err)
	}
	sp.Body.Close()
	f.assertCancelled(t)
	close(release)
}
