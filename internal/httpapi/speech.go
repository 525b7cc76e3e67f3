package httpapi

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/api/openai"
)

// speechPaths renames the fields of POST /tts in the errors of the text to
// speech service to the fields of POST /v1/audio/speech.
var speechPaths = map[string]string{"/text": "/input", "/format": "/response_format"}

// audioSpeech answers POST /v1/audio/speech, OpenAI's speech endpoint, by
// translating it to a POST /tts with "stream": true: same adapter, scope,
// limits and budget. The audio is sent as it is produced, as OpenAI does,
// so a long input never becomes a job. OpenAI's voice names that are not
// the tenant's own voices speak with the tenant's default voice; a missing
// response_format is mp3 where the adapter speaks it, else the adapter's
// default. The model named is not a choice: the tenant's adapter speaks.
func (s *Server) audioSpeech(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTTS(); err != nil {
		return err
	}
	var req openai.SpeechRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.Model == "":
		return pathErr("/model", "model is required")
	case req.StreamFormat != "" && req.StreamFormat != "audio":
		return pathErr("/stream_format", "stream_format %q is not supported: the audio itself is sent as it is produced (\"audio\")", req.StreamFormat)
	}
	caller := Caller(r)
	info, err := s.opts.TTS.Voices(r.Context(), caller) // tts_not_enabled for a tenant without speech
	if err != nil {
		return err
	}
	voice, err := speechVoice(string(req.Voice), info)
	if err != nil {
		return err
	}
	format, err := speechFormat(req.ResponseFormat, info)
	if err != nil {
		return err
	}
	plan, err := s.opts.TTS.Prepare(r.Context(), caller, api.TTSRequest{Text: req.Input, Voice: voice, Format: format, Speed: req.Speed, Stream: true})
	if err != nil {
		return renamePath(err, speechPaths)
	}
	w.Header().Set("X-TTS-Voice", voice)
	return s.speakStream(w, r, plan)
}

// speechVoice maps an OpenAI voice to one of the tenant's: its own voice
// by name; one of OpenAI's names that the tenant does not have, or none,
// to the tenant's default voice.
func speechVoice(name string, info api.TTSVoices) (string, error) {
	if name == "" {
		return info.Default, nil
	}
	ids := make([]string, len(info.Voices))
	for i, v := range info.Voices {
		ids[i] = v.ID
	}
	switch {
	case slices.Contains(ids, name):
		return name, nil
	case slices.Contains(openai.Voices, name):
		return info.Default, nil
	}
	return "", api.Errorf(api.CodeInvalidRequest, "voice %q is neither one of OpenAI's voices (%s) nor a voice of this tenant's %s adapter (GET /tts/voices lists them, for example %s)",
		name, strings.Join(openai.Voices, ", "), info.Adapter, strings.Join(ids[:min(len(ids), 8)], ", ")).
		WithDetails(map[string]any{"path": "/voice", "allowed": ids})
}

// speechFormat maps an OpenAI response_format to a format of the tenant's
// adapter: "" is mp3 where the adapter speaks it, else the adapter's
// default (""); aac, flac and formats the adapter lacks are refused.
func speechFormat(name string, info api.TTSVoices) (string, error) {
	if name == "" {
		if slices.Contains(info.Formats, "mp3") {
			return "mp3", nil
		}
		return "", nil
	}
	if !slices.Contains(openai.SpeechFormats, name) {
		return "", api.Errorf(api.CodeInvalidRequest, "response_format %q is not one of %s", name, strings.Join(openai.SpeechFormats, ", ")).
			WithDetails(map[string]any{"path": "/response_format", "allowed": info.Formats})
	}
	if !slices.Contains(info.Formats, name) {
		return "", api.Errorf(api.CodeInvalidRequest, "response_format %q is not available with this tenant's %s adapter; available: %s", name, info.Adapter, strings.Join(info.Formats, ", ")).
			WithDetails(map[string]any{"path": "/response_format", "allowed": info.Formats})
	}
	return name, nil
}

// renamePath returns err with its details.path, and the same prefix of its
// message, renamed by paths; other errors unchanged.
func renamePath(err error, paths map[string]string) error {
	var e *api.Error
	if !errors.As(err, &e) {
		return err
	}
	from, _ := e.Details["path"].(string)
	to, ok := paths[from]
	if !ok {
		return err
	}
	details := maps.Clone(e.Details)
	details["path"] = to
	msg := e.Message
	if rest, ok := strings.CutPrefix(msg, from+":"); ok {
		msg = to + ":" + rest
	}
	return api.Errorf(e.Code, "%s", msg).WithDetails(details)
}

// pathErr is an invalid_request error about the field at path.
func pathErr(path, format string, args ...any) error {
	return api.Errorf(api.CodeInvalidRequest, format, args...).WithDetails(map[string]any{"path": path})
}
