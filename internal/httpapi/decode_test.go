package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
)

// FuzzDecode checks that the strict decoder never panics, that every failure
// is an invalid_request envelope error with a JSON Pointer where it names one,
// and that whatever it accepts, encoding/json accepts too.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","count":2,"items":[{"id":"x","score":3}],"tags":{"k":"v"}}`,
		`{"items":[{"id":"y","extra":1}]}`, `{"count":"two"}`, `{"items":[{"score":300}]}`,
		`{"tags":{"a/b":true}}`, `[1,2]`, `{"name":`, `{} {}`, ``, `null`, `{"Name":"case"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got echoBody
		err := decodeBytes(data, &got)
		if err == nil {
			var want echoBody
			if jerr := json.Unmarshal(data, &want); jerr != nil {
				t.Fatalf("strict decoder accepted what encoding/json rejects: %v", jerr)
			}
			return
		}
		e, ok := err.(*api.Error)
		if !ok || e.Code != api.CodeInvalidRequest || e.Message == "" {
			t.Fatalf("err = %#v, want an invalid_request *api.Error", err)
		}
		if p, ok := e.Details["path"].(string); ok && !strings.HasPrefix(p, "/") {
			t.Fatalf("details.path %q is not a JSON Pointer", p)
		}
	})
}
