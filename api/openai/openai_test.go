package openai_test

import (
	"encoding/json"
	"testing"

	"github.com/crispy-enigma/crispy/api/openai"
)

func TestSpeechVoice(t *testing.T) {
	tests := []struct {
		in   string
		want openai.SpeechVoice
		ok   bool
	}{
		{`"alloy"`, "alloy", true},
		{`{"id":"voice_1234"}`, "voice_1234", true},
		{` {"id": "en-us"} `, "en-us", true},
		{`{"id":""}`, "", false},
		{`{"id":"a","name":"b"}`, "", false},
		{`{}`, "", false},
		{`42`, "", false},
		{`null`, "", false},
		{`["alloy"]`, "", false},
	}
	for _, tt := range tests {
		var got openai.SpeechVoice
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzSpeechVoice(f *testing.F) {
	for _, s := range []string{`"alloy"`, `{"id":"v"}`, `{}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var v openai.SpeechVoice
		if err := json.Unmarshal([]byte(in), &v); err == nil {
			b, _ := json.Marshal(string(v))
			var again openai.SpeechVoice
			if err := json.Unmarshal(b, &again); err != nil || again != v {
				t.Errorf("%q decoded to %q, which does not round-trip", in, v)
			}
		}
	})
}
