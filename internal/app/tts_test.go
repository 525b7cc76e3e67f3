package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// needEspeak skips a test when espeak-ng is not installed, unless
// CRISPY_REQUIRE_ESPEAK says it must be (CI).
func needEspeak(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(tts.EspeakBinary); err != nil {
		if os.Getenv("CRISPY_REQUIRE_ESPEAK") != "" {
			t.Fatalf("espeak-ng is required here: %v", err)
		}
		t.Skip("espeak-ng is not installed")
	}
}

// ttsTenants copies the example tenants with acme's tts and budget
// changed, and adds initech, a second tenant that speaks.
func ttsTenants(t *testing.T, acmeTTS, acmeBudget string) string {
	t.Helper()
	dir := copyTenants(t)
	b, err := os.ReadFile(filepath.Join(dir, "acme", tenant.FileName))
	if err != nil {
		t.Fatal(err)
	}
	acme := string(b)
	for old, repl := range map[string]string{
		`"tts": { "adapter": "espeak", "voice": "en", "maxChars": 5000 },`: `"tts": ` + acmeTTS + `,`,
		`"budget": { "tokensPerDay": 5000000, "ttsCharsPerDay": 200000 },`: `"budget": ` + acmeBudget + `,`,
		// No seed documents, whose embeddings would show in /usage.
		`"enabled": true, "seed": "docs",`: `"enabled": true,`,
	} {
		if !strings.Contains(acme, old) {
			t.Fatalf("acme's tenant file no longer holds %s", old)
		}
		acme = strings.Replace(acme, old, repl, 1)
	}
	writeTenant(t, dir, "acme", acme)
	writeTenant(t, dir, "initech", `{"id":"initech","name":"Initech","keys":[{"id":"dev","hash":"`+tenant.HashKey(tenant.DevKey("initech"))+
		`","scopes":["tts"],"dev":true}],"tts":{"adapter":"espeak"}}`)
	return dir
}

func speakReq(t *testing.T, s *started, key, body string) *http.Response {
	t.Helper()
	return do(t, context.Background(), "POST", s.url+"/tts", key, body)
}

func envelope(t *testing.T, res *http.Response) api.Envelope {
	t.Helper()
	defer res.Body.Close()
	var env api.Envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatalf("status %d, not an envelope: %v", res.StatusCode, err)
	}
	return env
}

// checkWAV checks a whole WAV answer and returns its duration in seconds.
func checkWAV(t *testing.T, b []byte) float64 {
	t.Helper()
	h, err := tts.ReadWAVHeader(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("not a WAV: %v", err)
	}
	if h.SampleRate != tts.EspeakSampleRate || h.Channels != 1 || h.BitsPerSample != 16 {
		t.Fatalf("WAV %+v, want 22050 Hz mono 16-bit", h)
	}
	if int(h.DataSize) != len(b)-h.HeaderSize {
		t.Fatalf("data size %d in a file of %d bytes of samples", h.DataSize, len(b)-h.HeaderSize)
	}
	return float64(h.DataSize) / float64(h.BytesPerSecond())
}

func TestTTSExampleTenants(t *testing.T) {
	needEspeak(t)
	s := start(t, testConfig(t, copyTenants(t)))

	// acme speaks: a whole WAV with its length.
	res := speakReq(t, s, "ck_dev_acme", `{"text":"Hello from Crispy Enigma."}`)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" || res.ContentLength != int64(len(body)) {
		t.Fatalf("status %d, type %q, length %d of %d", res.StatusCode, res.Header.Get("Content-Type"), res.ContentLength, len(body))
	}
	short := checkWAV(t, body)
	res = speakReq(t, s, "ck_dev_acme", `{"text":"Hello from Crispy Enigma. Hello from Crispy Enigma. Hello from Crispy Enigma."}`)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if long := checkWAV(t, body); long < 2.5*short {
		t.Errorf("three sentences last %.2fs, one %.2fs", long, short)
	}

	// pcm is the bare samples, its rate in the type.
	res = speakReq(t, s, "ck_dev_acme", `{"text":"-n --help; $(id)","format":"pcm"}`)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/pcm;rate=22050;channels=1;bits=16;endianness=little" || len(body) < 22050 {
		t.Errorf("pcm: status %d type %q, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}

	// The errors of the contract.
	for _, tt := range []struct {
		name, key, body string
		status          int
		code            api.ErrorCode
	}{
		{"globex has it disabled", "ck_dev_globex", `{"text":"hi"}`, 403, api.CodeTTSNotEnabled},
		{"unknown voice", "ck_dev_acme", `{"text":"hi","voice":"klingon"}`, 400, api.CodeInvalidRequest},
		{"unknown format", "ck_dev_acme", `{"text":"hi","format":"mp3"}`, 400, api.CodeInvalidRequest},
		{"over maxChars", "ck_dev_acme", `{"text":"` + strings.Repeat("a", 5001) + `"}`, 413, api.CodePayloadTooLarge},
		{"unknown field", "ck_dev_acme", `{"text":"hi","pitch":3}`, 400, api.CodeInvalidRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := speakReq(t, s, tt.key, tt.body)
			env := envelope(t, res)
			if res.StatusCode != tt.status || env.Error == nil || env.Error.Code != tt.code {
				t.Fatalf("status %d, error %+v; want %d %s", res.StatusCode, env.Error, tt.status, tt.code)
			}
		})
	}
	res = speakReq(t, s, "ck_dev_acme", `{"text":"hi","format":"mp3"}`)
	if env := envelope(t, res); fmt.Sprint(env.Error.Details["allowed"]) != "[wav pcm]" {
		t.Errorf("allowed formats %v", env.Error.Details["allowed"])
	}

	// Voices.
	status, env := get(t, s.url+"/tts/voices", "ck_dev_acme")
	var vs api.TTSVoices
	_ = json.Unmarshal(env.Data, &vs)
	if status != 200 || vs.Adapter != "espeak" || vs.Default != "en" || vs.MaxChars != 5000 || len(vs.Voices) < 50 {
		t.Errorf("voices: %d %+v", status, vs)
	}
	if status, env := get(t, s.url+"/tts/voices", "ck_dev_globex"); status != 403 || env.Error.Code != api.CodeTTSNotEnabled {
		t.Errorf("globex voices: %d %+v", status, env.Error)
	}
}

// metric returns the value of a metric line of /metrics, such as
// `crispy_tts_active{adapter="espeak"}`.
func metric(t *testing.T, s *started, name string) string {
	t.Helper()
	for line := range strings.Lines(scrape(t, s)) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), name+" "); ok {
			return v
		}
	}
	return ""
}

func TestTTSStreamsWhileSpeaking(t *testing.T) {
	needEspeak(t)
	s := start(t, testConfig(t, copyTenants(t)))
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 108) // 4860 characters
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := do(t, ctx, "POST", s.url+"/tts", "ck_dev_acme", `{"text":"`+text+`","stream":true}`)
	defer res.Body.Close()
	if res.StatusCode != 200 || res.ContentLength != -1 || res.Header.Get("X-Audio-Sample-Rate") != "22050" {
		t.Fatalf("status %d, length %d, rate %q: want a stream", res.StatusCode, res.ContentLength, res.Header.Get("X-Audio-Sample-Rate"))
	}
	head := make([]byte, 4096)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	h, err := tts.ReadWAVHeader(bufio.NewReader(bytes.NewReader(head)))
	if err != nil || h.DataSize != tts.StreamingSize || h.SampleRate != tts.EspeakSampleRate {
		t.Fatalf("stream header %+v, %v: want a WAV of unknown length", h, err)
	}
	// The first bytes are here and the synthesis has not ended: about
	// 20 MB of audio cannot all wait in the buffers between us.
	if v := metric(t, s, `crispy_tts_active{adapter="espeak"}`); v != "1" {
		t.Errorf("crispy_tts_active = %q at the first bytes, want 1", v)
	}
	// Going away stops it.
	cancel()
	res.Body.Close()
	for range 500 {
		if metric(t, s, `crispy_tts_active{adapter="espeak"}`) == "0" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v := metric(t, s, `crispy_tts_active{adapter="espeak"}`); v != "0" {
		t.Errorf("crispy_tts_active = %q after the client left, want 0", v)
	}
	if v := metric(t, s, `crispy_tts_requests_total{adapter="espeak",status="cancelled",tenant="acme"}`); v != "1" {
		t.Errorf("cancelled requests = %q, want 1", v)
	}
}

func TestTTSJobsAreTenantScoped(t *testing.T) {
	needEspeak(t)
	dir := ttsTenants(t, `{ "adapter": "espeak", "maxChars": 5000, "asyncChars": 40 }`, `{ "ttsCharsPerDay": 200000 }`)
	s := start(t, testConfig(t, dir))
	text := "This text is longer than forty characters, so it becomes a job."
	res := speakReq(t, s, "ck_dev_acme", `{"text":"`+text+`"}`)
	loc := res.Header.Get("Location")
	env := envelope(t, res)
	var job api.TTSJob
	_ = json.Unmarshal(env.Data, &job)
	if res.StatusCode != 202 || job.JobID == "" || loc != "/tts/jobs/"+job.JobID || job.Status != "running" {
		t.Fatalf("status %d, job %+v, Location %q", res.StatusCode, job, loc)
	}
	// Another tenant that speaks cannot see it; one with speech off is told so.
	if status, env := get(t, s.url+loc, "ck_dev_initech"); status != 404 || env.Error.Code != api.CodeNotFound {
		t.Errorf("initech: %d %+v, want 404", status, env.Error)
	}
	if status, env := get(t, s.url+loc, "ck_dev_globex"); status != 403 || env.Error.Code != api.CodeTTSNotEnabled {
		t.Errorf("globex: %d %+v, want 403 tts_not_enabled", status, env.Error)
	}
	var audio []byte
	for range 1000 {
		res := do(t, context.Background(), "GET", s.url+loc, "ck_dev_acme", "")
		if res.StatusCode == 202 {
			res.Body.Close()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" || res.Header.Get("X-Audio-Sample-Rate") != "22050" {
			t.Fatalf("job answer %d %q, sample rate %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("X-Audio-Sample-Rate"))
		}
		audio, _ = io.ReadAll(res.Body)
		res.Body.Close()
		break
	}
	if d := checkWAV(t, audio); d < 2 {
		t.Errorf("the job's audio lasts %.2fs", d)
	}
	// With stream, the same text is spoken at once.
	res = speakReq(t, s, "ck_dev_acme", `{"text":"`+text+`","stream":true}`)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || len(b) < 44100 {
		t.Errorf("stream of a long text: %d, %d bytes", res.StatusCode, len(b))
	}
}

func TestTTSBudgetAndUsage(t *testing.T) {
	needEspeak(t)
	dir := ttsTenants(t, `{ "adapter": "espeak" }`, `{ "ttsCharsPerDay": 30 }`)
	s := start(t, testConfig(t, dir))
	res := speakReq(t, s, "ck_dev_acme", `{"text":"Twenty characters!!!"}`)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	res = speakReq(t, s, "ck_dev_acme", `{"text":"eleven char"}`)
	if env := envelope(t, res); res.StatusCode != 402 || env.Error.Code != api.CodeBudgetExceeded || env.Error.Details["budget"] != "ttsCharsPerDay" {
		t.Fatalf("over the budget: %d %+v", res.StatusCode, env.Error)
	}
	s.app.FlushUsage()
	status, env := get(t, s.url+"/usage", "ck_dev_acme")
	var rep api.UsageReport
	_ = json.Unmarshal(env.Data, &rep)
	if status != 200 || rep.Totals.TTSChars != 20 || rep.Totals.Requests != 1 {
		t.Fatalf("usage %d %+v", status, rep.Totals)
	}
	if len(rep.ByModel) != 1 || rep.ByModel[0].Model != "espeak/espeak-ng:en" {
		t.Errorf("by model %+v", rep.ByModel)
	}
}
