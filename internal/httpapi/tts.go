package httpapi

import (
	"maps"
	"net/http"
	"strconv"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tts"
)

func (s *Server) needTTS() error {
	if s.opts.TTS == nil {
		return api.Errorf(api.CodeUnavailable, "text to speech is not available on this server")
	}
	return nil
}

// ttsSpeak answers POST /tts: the audio of the text, streamed as it is
// produced with "stream": true; whole, with its length, otherwise; or, for
// a text longer than the tenant's tts.asyncChars sent without stream, 202
// with a job whose audio GET /tts/jobs/{id} returns.
func (s *Server) ttsSpeak(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTTS(); err != nil {
		return err
	}
	var in api.TTSRequest
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	plan, err := s.opts.TTS.Prepare(r.Context(), Caller(r), in)
	if err != nil {
		return err
	}
	switch {
	case plan.Async():
		job, err := s.opts.TTS.Start(plan)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/tts/jobs/"+job.JobID)
		return writeData(w, r, http.StatusAccepted, job)
	case !plan.Stream():
		audio, err := s.opts.TTS.SpeakAll(r.Context(), plan)
		if err != nil {
			return err
		}
		audioHeaders(w, plan.ContentType(), plan.SampleRate(), plan.Chars())
		w.Header().Set("Content-Length", strconv.Itoa(len(audio)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(audio)
		return nil
	}
	return s.speakStream(w, r, plan)
}

// speakStream sends the audio of plan as it is produced. An error before
// the first byte is returned, to be answered with its status; one after it
// cuts the response.
func (s *Server) speakStream(w http.ResponseWriter, r *http.Request, plan *tts.Plan) error {
	release, err := s.acquireStream(w, r)
	if err != nil {
		return err
	}
	defer release()
	aw := &audioWriter{w: w, rc: http.NewResponseController(w), start: func() {
		audioHeaders(w, plan.ContentType(), plan.SampleRate(), plan.Chars())
		w.WriteHeader(http.StatusOK)
	}}
	err = s.opts.TTS.Speak(r.Context(), plan, aw)
	if !aw.started {
		return err // nothing was sent: the error gets its status
	}
	if err != nil {
		// Too late for a status: end the response abruptly so that the
		// client cannot take the audio for complete.
		logError(r, api.AsError(err))
		panic(http.ErrAbortHandler)
	}
	return nil
}

// audioHeaders sets the headers of an audio answer.
func audioHeaders(w http.ResponseWriter, contentType string, rate, chars int) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-TTS-Chars", strconv.Itoa(chars))
	if rate > 0 {
		h.Set("X-Audio-Sample-Rate", strconv.Itoa(rate))
	}
}

// audioWriter sends audio as it comes: headers before the first byte, a
// flush after every write.
type audioWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	start   func()
	started bool
}

func (a *audioWriter) Write(p []byte) (int, error) {
	if !a.started {
		a.started = true
		a.start()
	}
	n, err := a.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, a.rc.Flush()
}

// ttsVoices answers GET /tts/voices.
func (s *Server) ttsVoices(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTTS(); err != nil {
		return err
	}
	out, err := s.opts.TTS.Voices(r.Context(), Caller(r))
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

// ttsJob answers GET /tts/jobs/{id}: the audio once the job is done, its
// state (202) while it runs, its error when it failed.
func (s *Server) ttsJob(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTTS(); err != nil {
		return err
	}
	job, audio, err := s.opts.TTS.Job(Caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	switch job.Status {
	case tts.JobRunning:
		w.Header().Set("Retry-After", "1")
		return writeData(w, r, http.StatusAccepted, job)
	case tts.JobFailed:
		details := maps.Clone(job.Error.Details)
		if details == nil {
			details = map[string]any{}
		}
		details["jobId"] = job.JobID
		return job.Error.WithDetails(details)
	}
	audioHeaders(w, job.ContentType, job.SampleRate, job.Chars)
	w.Header().Set("Content-Length", strconv.Itoa(len(audio)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(audio)
	return nil
}
