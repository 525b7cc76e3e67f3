package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// breakingSynth writes some audio, then fails.
type breakingSynth struct{ before int }

func (b breakingSynth) Info() tts.Info {
	return tts.Info{Adapter: "breaking", Provider: "breaking", Formats: []tts.Format{tts.MP3}, Voice: "v"}
}

func (b breakingSynth) Voices(context.Context) ([]tts.Voice, error) {
	return []tts.Voice{{ID: "v"}}, nil
}

func (b breakingSynth) Synthesize(_ context.Context, _ tts.Request, w io.Writer) error {
	if b.before > 0 {
		w.Write([]byte(strings.Repeat("a", b.before)))
	}
	return api.Errorf(api.CodeUpstreamError, "the speech provider failed (connection)")
}

func ttsServer(t *testing.T, synth tts.Synthesizer) *httptest.Server {
	t.Helper()
	reg := registry(t)
	svc := tts.New(tts.Options{Synthesizer: func(*tenant.Tenant) tts.Synthesizer { return synth }})
	t.Cleanup(svc.Close)
	s := New(Options{Registry: func() *tenant.Registry { return reg }, Metrics: obs.NewMetrics(), TTS: svc})
	s.SetReady(true)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func postTTS(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/tts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer ck_dev_acme")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTTSStreamErrorBeforeAudioHasItsStatus(t *testing.T) {
	ts := ttsServer(t, breakingSynth{})
	res := postTTS(t, ts.URL, `{"text":"hi","voice":"v","stream":true}`)
	defer res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %q, want 502 and an envelope", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestTTSStreamErrorAfterAudioCutsTheResponse(t *testing.T) {
	ts := ttsServer(t, breakingSynth{before: 1000})
	res := postTTS(t, ts.URL, `{"text":"hi","voice":"v","stream":true}`)
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("status %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(res.Body)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d bytes, err %v: want the stream cut (unexpected EOF), not a clean end", len(b), err)
	}
	if len(b) != 1000 {
		t.Errorf("got %d bytes before the cut, want 1000", len(b))
	}
}

func TestTTSWholeAnswerFailsCleanly(t *testing.T) {
	ts := ttsServer(t, breakingSynth{before: 1000})
	res := postTTS(t, ts.URL, `{"text":"hi","voice":"v"}`)
	defer res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d: a failure of a whole answer is a plain error, the partial audio dropped", res.StatusCode)
	}
}

func TestTTSUnavailableWithoutService(t *testing.T) {
	reg := registry(t)
	s := New(Options{Registry: func() *tenant.Registry { return reg }, Metrics: obs.NewMetrics()})
	s.SetReady(true)
	r := httptest.NewRequest("GET", "/tts/voices", nil)
	r.Header.Set("Authorization", "Bearer ck_dev_acme")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", rec.Code)
	}
}
