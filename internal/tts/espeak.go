package tts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/crispy-enigma/crispy/api"
)

// Defaults of the espeak adapter.
const (
	// EspeakBinary is the program looked up on PATH.
	EspeakBinary = "espeak-ng"
	// EspeakSampleRate is the rate of espeak-ng's own voices.
	EspeakSampleRate = 22050
	// EspeakVoice is the default voice.
	EspeakVoice = "en"
	// DefaultEspeakTimeout bounds one synthesis.
	DefaultEspeakTimeout = 2 * time.Minute
	// DefaultEspeakMaxBytes bounds the audio of one synthesis: about 25
	// minutes of speech.
	DefaultEspeakMaxBytes = 64 << 20
	// espeakWPM is espeak-ng's normal speed in words per minute, speed 1;
	// it accepts 80 to 450.
	espeakWPM, espeakMinWPM, espeakMaxWPM = 175, 80, 450
	// espeakWaitDelay is how long espeak-ng may take to exit once killed
	// or once its output is closed.
	espeakWaitDelay = 2 * time.Second
	// maxStderr bounds what is kept of espeak-ng's error output.
	maxStderr = 4 << 10
)

// ErrEspeakMissing is returned by NewEspeak when espeak-ng is not installed.
var ErrEspeakMissing = errors.New("espeak-ng is not installed on this server (Debian/Ubuntu: apt-get install espeak-ng)")

// EspeakOptions configure the espeak adapter. The zero value means the
// defaults.
type EspeakOptions struct {
	// Path is the espeak-ng program; default EspeakBinary looked up on PATH.
	Path string
	// Timeout bounds one synthesis; default DefaultEspeakTimeout.
	Timeout time.Duration
	// MaxBytes bounds the audio of one synthesis; default DefaultEspeakMaxBytes.
	MaxBytes int64
}

// Espeak speaks with espeak-ng, run on the server: one process per
// synthesis, started without a shell, the text written to its standard
// input (so that no text can become an option), its WAV output read as it
// is produced. It is safe for concurrent use.
type Espeak struct {
	path     string
	timeout  time.Duration
	maxBytes int64
	voices   []Voice
	args     map[string]string // voice ID -> the -v argument
}

var _ Synthesizer = (*Espeak)(nil)

// NewEspeak finds espeak-ng and lists its voices (espeak-ng --voices). It
// returns ErrEspeakMissing when the program is not there.
func NewEspeak(ctx context.Context, opts EspeakOptions) (*Espeak, error) {
	path := opts.Path
	if path == "" {
		path = EspeakBinary
	}
	full, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEspeakMissing, err)
	}
	e := &Espeak{path: full, timeout: opts.Timeout, maxBytes: opts.MaxBytes}
	if e.timeout <= 0 {
		e.timeout = DefaultEspeakTimeout
	}
	if e.maxBytes <= 0 {
		e.maxBytes = DefaultEspeakMaxBytes
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, full, "--voices")
	cmd.WaitDelay = espeakWaitDelay
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tts: espeak-ng --voices: %w", err)
	}
	e.voices, e.args = parseEspeakVoices(out)
	if len(e.voices) == 0 {
		return nil, errors.New("tts: espeak-ng lists no voice")
	}
	return e, nil
}

// parseEspeakVoices reads the table of espeak-ng --voices:
//
//	Pty Language       Age/Gender VoiceName          File                 Other Languages
//	 2  en-gb           --/M      English_(Great_Britain) gmw/en         (en 2)
//
// A voice's ID is its language; a second voice of the same language is
// known by its file's name instead. The "other languages" a voice speaks
// (en above) become voices too, each of the voice with the best priority
// for it, unless a voice of that language exists. Rows whose language or
// file could be taken for an option, or hold odd characters, are skipped.
// The -v argument of each ID is the voice's file.
func parseEspeakVoices(out []byte) ([]Voice, map[string]string) {
	var voices []Voice
	args := map[string]string{}
	type alias struct {
		prio  int
		file  string
		voice Voice
	}
	aliases := map[string]alias{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] == "Pty" {
			continue
		}
		lang, gender, name, file := f[1], f[2], strings.ReplaceAll(f[3], "_", " "), f[4]
		if !voiceToken(lang) || !voiceToken(file) {
			continue
		}
		v := Voice{Name: name}
		switch {
		case strings.HasSuffix(gender, "/M"):
			v.Gender = "male"
		case strings.HasSuffix(gender, "/F"):
			v.Gender = "female"
		}
		// Other languages: "(en 2)(en-us 3)".
		for _, other := range strings.Split(strings.Join(f[5:], " "), "(") {
			o := strings.Fields(strings.TrimSuffix(strings.TrimSpace(other), ")"))
			if len(o) != 2 || !voiceToken(o[0]) {
				continue
			}
			prio, err := strconv.Atoi(o[1])
			if a, seen := aliases[o[0]]; err != nil || seen && a.prio <= prio {
				continue
			}
			av := v
			av.ID, av.Language = o[0], o[0]
			aliases[o[0]] = alias{prio: prio, file: file, voice: av}
		}
		id := lang
		if _, taken := args[id]; taken {
			id = strings.ToLower(file[strings.LastIndexByte(file, '/')+1:])
			if _, taken := args[id]; taken {
				continue
			}
		}
		args[id] = file
		v.ID, v.Language = id, lang
		voices = append(voices, v)
	}
	for id, a := range aliases {
		if _, taken := args[id]; !taken {
			args[id] = a.file
			voices = append(voices, a.voice)
		}
	}
	slices.SortFunc(voices, func(a, b Voice) int { return strings.Compare(a.ID, b.ID) })
	return voices, args
}

// voiceToken reports whether s is safe as the value of -v: letters,
// digits, '-', '_', '/', '.', not starting with '-'.
func voiceToken(s string) bool {
	if s == "" || s[0] == '-' || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_/.", r))) {
			return false
		}
	}
	return true
}

// Info implements Synthesizer.
func (e *Espeak) Info() Info {
	return Info{Adapter: "espeak", Provider: "espeak", Model: "espeak-ng", Formats: []Format{WAV, PCM}, SampleRate: EspeakSampleRate, Voice: EspeakVoice}
}

// Voices implements Synthesizer: the voices espeak-ng listed at start.
func (e *Espeak) Voices(context.Context) ([]Voice, error) { return e.voices, nil }

// espeakArgs are the arguments of one synthesis; the text is not among them.
func (e *Espeak) espeakArgs(req Request) ([]string, error) {
	v, ok := e.args[req.Voice]
	if !ok {
		return nil, api.Errorf(api.CodeInvalidRequest, "unknown espeak-ng voice %q", req.Voice)
	}
	speed := req.Speed
	if speed == 0 {
		speed = 1
	}
	wpm := int(math.Round(espeakWPM * speed))
	wpm = min(max(wpm, espeakMinWPM), espeakMaxWPM)
	// --stdin: the text comes on standard input, never as an argument;
	// -b 1: it is UTF-8; --stdout: the WAV goes to standard output.
	return []string{"--stdin", "-b", "1", "--stdout", "-v", v, "-s", strconv.Itoa(wpm)}, nil
}

// Synthesize implements Synthesizer. espeak-ng writes a WAV whose header
// gives placeholder sizes while it streams; the header is checked (16-bit
// mono PCM) and replaced by one with StreamingSize (wav) or dropped (pcm),
// and the samples are copied to w as espeak-ng produces them.
func (e *Espeak) Synthesize(ctx context.Context, req Request, w io.Writer) error {
	if req.Format != WAV && req.Format != PCM {
		return api.Errorf(api.CodeInvalidRequest, "espeak-ng speaks wav or pcm, not %q", req.Format)
	}
	args, err := e.espeakArgs(req)
	if err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.path, args...)
	cmd.Stdin = strings.NewReader(req.Text)
	stderr := &limitBuffer{max: maxStderr}
	cmd.Stderr = stderr
	cmd.WaitDelay = espeakWaitDelay
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return api.Internal(fmt.Errorf("espeak-ng: %w", err))
	}
	if err := cmd.Start(); err != nil {
		return api.Internal(fmt.Errorf("espeak-ng: start: %w", err))
	}
	copyErr := e.copyAudio(bufio.NewReaderSize(stdout, 32<<10), req.Format, w)
	if copyErr != nil {
		cancel() // stop espeak-ng: nobody reads it any more
	}
	waitErr := cmd.Wait()
	switch {
	case isWriteError(copyErr):
		return copyErr
	case parent.Err() != nil:
		return api.Errorf(api.CodeUnavailable, "the request was cancelled")
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return api.Errorf(api.CodeUpstreamTimeout, "espeak-ng did not finish within %s", e.timeout)
	case copyErr != nil:
		return copyErr
	case waitErr != nil:
		return api.Internal(fmt.Errorf("espeak-ng: %w: %s", waitErr, bytes.TrimSpace(stderr.Bytes())))
	}
	return nil
}

// writeError marks a failure to write to the caller's writer (a client
// that went away), as opposed to a failure of espeak-ng.
type writeError struct{ err error }

func (e *writeError) Error() string { return "writing audio: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func isWriteError(err error) bool {
	var we *writeError
	return errors.As(err, &we)
}

// copyAudio reads espeak-ng's WAV from r and writes it to w in format.
func (e *Espeak) copyAudio(r *bufio.Reader, format Format, w io.Writer) error {
	h, err := ReadWAVHeader(r)
	if err != nil {
		return api.Internal(fmt.Errorf("espeak-ng output: %w", err))
	}
	if h.Channels != 1 || h.BitsPerSample != 16 || h.SampleRate != EspeakSampleRate {
		return api.Internal(fmt.Errorf("espeak-ng output is %d Hz, %d channels, %d bits; want %d Hz mono 16-bit", h.SampleRate, h.Channels, h.BitsPerSample, EspeakSampleRate))
	}
	if format == WAV {
		if _, err := w.Write(AppendWAVHeader(nil, EspeakSampleRate, StreamingSize)); err != nil {
			return &writeError{err}
		}
	}
	buf := make([]byte, 16<<10)
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			total += int64(n)
			if total > e.maxBytes {
				return api.Errorf(api.CodePayloadTooLarge, "the audio is longer than this server produces in one answer (%d bytes); send a shorter text", e.maxBytes).
					WithDetails(map[string]any{"limit": e.maxBytes})
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return &writeError{err}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return api.Internal(fmt.Errorf("espeak-ng output: %w", rerr))
		}
	}
}

// limitBuffer keeps the first max bytes written to it.
type limitBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
