package tts_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// newEspeak returns the espeak adapter, or skips the test when espeak-ng
// is not installed (CI installs it and sets CRISPY_REQUIRE_ESPEAK, so that
// there it fails instead).
func newEspeak(t testing.TB, opts tts.EspeakOptions) *tts.Espeak {
	t.Helper()
	e, err := tts.NewEspeak(context.Background(), opts)
	if errors.Is(err, tts.ErrEspeakMissing) {
		if os.Getenv("CRISPY_REQUIRE_ESPEAK") != "" {
			t.Fatalf("espeak-ng is required here: %v", err)
		}
		t.Skipf("espeak-ng is not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// speak synthesizes req and returns the audio.
func speak(t *testing.T, s tts.Synthesizer, req tts.Request) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Synthesize(t.Context(), req, &buf); err != nil {
		t.Fatalf("Synthesize(%.40q): %v", req.Text, err)
	}
	return buf.Bytes()
}

// wavDuration checks that b is a whole 16-bit mono WAV at rate and
// returns its length in seconds.
func wavDuration(t *testing.T, b []byte, rate int) float64 {
	t.Helper()
	b = bytes.Clone(b)
	if err := tts.FixWAVSizes(b); err != nil {
		t.Fatal(err)
	}
	h, err := tts.ReadWAVHeader(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("not a WAV: %v", err)
	}
	if h.Format != 1 || h.Channels != 1 || h.BitsPerSample != 16 || int(h.SampleRate) != rate {
		t.Fatalf("WAV is %+v, want PCM mono 16-bit at %d Hz", h, rate)
	}
	if int(h.DataSize) != len(b)-h.HeaderSize {
		t.Fatalf("data size %d, file holds %d bytes of samples", h.DataSize, len(b)-h.HeaderSize)
	}
	return float64(h.DataSize) / float64(h.BytesPerSecond())
}

const sentence = "The quick brown fox jumps over the lazy dog. "

func TestEspeakWAV(t *testing.T) {
	e := newEspeak(t, tts.EspeakOptions{})
	short := wavDuration(t, speak(t, e, tts.Request{Text: sentence, Voice: "en", Format: tts.WAV, Speed: 1}), tts.EspeakSampleRate)
	long := wavDuration(t, speak(t, e, tts.Request{Text: strings.Repeat(sentence, 4), Voice: "en", Format: tts.WAV, Speed: 1}), tts.EspeakSampleRate)
	if short < 1 || short > 10 {
		t.Errorf("one sentence lasts %.2fs, want a second or more", short)
	}
	if long < 3*short {
		t.Errorf("four sentences last %.2fs, one %.2fs: want the duration to grow with the text", long, short)
	}
	fast := wavDuration(t, speak(t, e, tts.Request{Text: sentence, Voice: "en", Format: tts.WAV, Speed: 2}), tts.EspeakSampleRate)
	if fast > 0.75*short {
		t.Errorf("speed 2 lasts %.2fs, speed 1 %.2fs: want it faster", fast, short)
	}
}

func TestEspeakPCMIsTheWAVSamples(t *testing.T) {
	e := newEspeak(t, tts.EspeakOptions{})
	wav := speak(t, e, tts.Request{Text: "Hello world.", Voice: "en-us", Format: tts.WAV, Speed: 1})
	pcm := speak(t, e, tts.Request{Text: "Hello world.", Voice: "en-us", Format: tts.PCM, Speed: 1})
	if len(pcm) < 10000 || len(pcm)%2 != 0 {
		t.Fatalf("pcm of %d bytes", len(pcm))
	}
	if !bytes.Equal(wav[44:], pcm) {
		t.Errorf("pcm (%d bytes) is not the samples of the wav (%d bytes after its header)", len(pcm), len(wav)-44)
	}
}

func TestEspeakTextIsNeverAnOptionOrACommand(t *testing.T) {
	e := newEspeak(t, tts.EspeakOptions{})
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	texts := []string{
		"--version",
		"-w " + marker + " hello",
		"--help",
		"$(touch " + marker + ") `touch " + marker + "`; touch " + marker + " | cat > " + marker + " && echo done",
		"-v xx -s 999 --stdout > " + marker,
	}
	for _, text := range texts {
		t.Run(text, func(t *testing.T) {
			d := wavDuration(t, speak(t, e, tts.Request{Text: text, Voice: "en", Format: tts.WAV, Speed: 1}), tts.EspeakSampleRate)
			// The words are spoken: at least a fifth of a second per word.
			if words := len(strings.Fields(text)); d < 0.2*float64(words) {
				t.Errorf("%d words last %.2fs: the text was not spoken", words, d)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the text ran as a command: %s exists", marker)
			}
		})
	}
}

func TestEspeakRefuses(t *testing.T) {
	e := newEspeak(t, tts.EspeakOptions{})
	for name, req := range map[string]tts.Request{
		"unknown voice": {Text: "hi", Voice: "-v", Format: tts.WAV},
		"mp3":           {Text: "hi", Voice: "en", Format: tts.MP3},
	} {
		var buf bytes.Buffer
		err := e.Synthesize(t.Context(), req, &buf)
		if api.AsError(err).Code != api.CodeInvalidRequest || buf.Len() != 0 {
			t.Errorf("%s: err = %v, %d bytes written; want invalid_request and nothing", name, err, buf.Len())
		}
	}
}

func TestEspeakOutputBound(t *testing.T) {
	e := newEspeak(t, tts.EspeakOptions{MaxBytes: 50_000})
	var buf bytes.Buffer
	err := e.Synthesize(t.Context(), tts.Request{Text: strings.Repeat(sentence, 10), Voice: "en", Format: tts.PCM}, &buf)
	if api.AsError(err).Code != api.CodePayloadTooLarge {
		t.Fatalf("err = %v, want payload_too_large", err)
	}
	if buf.Len() > 50_000 {
		t.Errorf("%d bytes written past the bound of 50000", buf.Len())
	}
}

func TestEspeakTimeout(t *testing.T) {
	e := newEspeak(t, tts.EspeakOptions{Timeout: time.Millisecond})
	err := e.Synthesize(t.Context(), tts.Request{Text: strings.Repeat(sentence, 50), Voice: "en", Format: tts.PCM}, io.Discard)
	if code := api.AsError(err).Code; code != api.CodeUpstreamTimeout {
		t.Fatalf("err = %v, want upstream_timeout", err)
	}
}

// espeakChildren counts the espeak-ng processes this test process started
// that are still running.
func espeakChildren(t *testing.T) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, d := range entries {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(espeak-ng") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(os.Getpid()) { // a zombie has exited
			n++
		}
	}
	return n
}

// gate is a writer whose first Write reports and then waits to be released.
type gate struct {
	first   chan struct{}
	release chan struct{}
	n       int
}

func (g *gate) Write(p []byte) (int, error) {
	if g.n == 0 {
		close(g.first)
		<-g.release
	}
	g.n += len(p)
	return len(p), nil
}

func TestEspeakStreamsAndCancelStopsIt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts child processes through /proc")
	}
	e := newEspeak(t, tts.EspeakOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g := &gate{first: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- e.Synthesize(ctx, tts.Request{Text: strings.Repeat(sentence, 100), Voice: "en", Format: tts.WAV}, g)
	}()
	<-g.first
	// The first bytes came while espeak-ng is still speaking: a long text
	// makes megabytes of audio, more than a pipe holds, so it cannot have
	// finished before its output was read.
	if n := espeakChildren(t); n != 1 {
		t.Errorf("%d espeak-ng processes at the first byte, want 1 still running", n)
	}
	cancel()
	close(g.release)
	err := <-done
	if err == nil {
		t.Fatal("a cancelled synthesis reported success")
	}
	if n := espeakChildren(t); n != 0 {
		t.Errorf("%d espeak-ng processes left after cancel, want 0", n)
	}
}

func TestParseEspeakVoices(t *testing.T) {
	out, err := os.ReadFile("testdata/espeak-voices.txt")
	if err != nil {
		t.Fatal(err)
	}
	vs, args := tts.ParseEspeakVoices(out)
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	want := "af cmn en en-gb en-us yue yue-latn-jyutping zh zh-cmn zh-yue"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("voices %s\nwant   %s", got, want)
	}
	for id, file := range map[string]string{"en": "gmw/en", "en-us": "gmw/en-US", "yue-latn-jyutping": "sit/yue-Latn-jyutping", "zh": "sit/cmn"} {
		if args[id] != file {
			t.Errorf("-v of %s = %q, want %q", id, args[id], file)
		}
	}
	for _, v := range vs {
		if strings.HasPrefix(args[v.ID], "-") || strings.HasPrefix(v.ID, "-") {
			t.Errorf("voice %+v could be taken for an option", v)
		}
	}
	if vs[2].Name != "English (Great Britain)" || vs[0].Gender != "male" {
		t.Errorf("details: %+v", vs[:3])
	}
}

// firstByte is a writer that notes when its first byte came.
type firstByte struct{ at time.Time }

func (f *firstByte) Write(p []byte) (int, error) {
	if f.at.IsZero() {
		f.at = time.Now()
	}
	return len(p), nil
}

// BenchmarkEspeak measures a whole synthesis and, as first-byte-ms, the
// wait for its first byte of audio.
func BenchmarkEspeak(b *testing.B) {
	e := newEspeak(b, tts.EspeakOptions{})
	for _, n := range []int{100, 1000} {
		text := strings.Repeat(sentence, n/len(sentence)+1)[:n]
		b.Run(strconv.Itoa(n)+"chars", func(b *testing.B) {
			var first time.Duration
			for b.Loop() {
				w := &firstByte{}
				start := time.Now()
				if err := e.Synthesize(context.Background(), tts.Request{Text: text, Voice: "en", Format: tts.WAV, Speed: 1}, w); err != nil {
					b.Fatal(err)
				}
				first += w.at.Sub(start)
			}
			b.ReportMetric(float64(first)/float64(time.Millisecond)/float64(b.N), "first-byte-ms")
		})
	}
}
