package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/big"
	"regexp"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
)

// nopAudit keeps no records: fuzzing runs far too many invocations for a
// synced database.
type nopAudit struct{ n atomic.Int64 }

func (a *nopAudit) AppendAudit(context.Context, store.AuditRecord) (int64, error) {
	return a.n.Add(1), nil
}

func (a *nopAudit) AuditRecords(context.Context, tenant.ID, store.AuditFilter) ([]store.AuditRecord, error) {
	return nil, nil
}

func (a *nopAudit) DeleteAuditBefore(context.Context, tenant.ID, time.Time) (int64, error) {
	return 0, nil
}

const probeSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["text"],
  "properties": {
    "text": {"type": "string", "minLength": 1, "maxLength": 50},
    "n": {"type": "integer", "minimum": 1, "maximum": 5},
    "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"}}
  }
}`

// probeValid is the probe schema written by hand: the reference the
// validator is checked against.
func probeValid(data []byte) bool {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		return false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	text, ok := obj["text"].(string)
	if !ok || utf8.RuneCountInString(text) < 1 || utf8.RuneCountInString(text) > 50 {
		return false
	}
	for k, val := range obj {
		switch k {
		case "text":
		case "n":
			num, ok := val.(json.Number)
			if !ok {
				return false
			}
			r, ok := new(big.Rat).SetString(num.String())
			if !ok || !r.IsInt() || r.Cmp(big.NewRat(1, 1)) < 0 || r.Cmp(big.NewRat(5, 1)) > 0 {
				return false
			}
		case "tags":
			arr, ok := val.([]any)
			if !ok || len(arr) > 3 {
				return false
			}
			for _, e := range arr {
				if _, ok := e.(string); !ok {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// FuzzInvokeArgs checks that a tool runs exactly when its arguments are
// valid, and that every other call is refused as invalid_request: the
// validator's verdict is compared with a hand-written one.
func FuzzInvokeArgs(f *testing.F) {
	for _, seed := range []string{
		`{"text":"hi"}`, `{"text":"hi","n":3}`, `{"text":"hi","n":3.0}`, `{"text":"hi","n":3.5}`, `{"text":"hi","n":6}`,
		`{"text":"hi","n":1e0}`, `{"text":"hi","n":"3"}`, `{"text":""}`, `{"text":"` + string(make([]byte, 51)) + `"}`,
		`{"text":"hi","tags":["a","b","c"]}`, `{"text":"hi","tags":["a","b","c","d"]}`, `{"text":"hi","tags":[1]}`,
		`{"text":"hi","other":1}`, `{"text":"a","text":"b"}`, `{"text":"a","text":5}`, `[]`, `null`, `"text"`, ``, `   `,
		`{`, `{"text":"hi"} {}`, `{"text":"hi"}x`, `{"text":"\ud800"}`, "{\"text\":\"\xff\"}", `{"text":"hi","n":100000000000000000000000}`,
		`{"text":"hi","n":-0}`, `{"text":"é🙂"}`, `{"TEXT":"hi"}`,
	} {
		f.Add([]byte(seed))
	}
	var ran atomic.Int64
	reg := tools.MustRegistry(&tools.Tool{
		Name:   "probe",
		Args:   json.RawMessage(probeSchema),
		Result: json.RawMessage(`{"type":"object"}`),
		Scopes: []tenant.Scope{tenant.ScopeTools},
		Run: func(context.Context, tenant.Caller, json.RawMessage) (any, error) {
			ran.Add(1)
			return map[string]any{}, nil
		},
	})
	d := tools.New(tools.Options{Registry: reg, Audit: &nopAudit{}})
	c := callerOf(newTenant("acme", "probe"), tenant.ScopeTools)
	f.Fuzz(func(t *testing.T, data []byte) {
		if hugeExponent(data) {
			t.Skip("the reference uses math/big, which cannot hold 1e999999999")
		}
		before := ran.Load()
		_, err := d.Invoke(context.Background(), c, "probe", data, true)
		executed := ran.Load() > before
		valid := probeValid(data)
		if executed != valid {
			t.Fatalf("args %q: executed %v, reference says valid %v (err %v)", data, executed, valid, err)
		}
		if !valid && api.AsError(err).Code != api.CodeInvalidRequest {
			t.Fatalf("args %q: error %v, want invalid_request", data, err)
		}
	})
}

var exponent = regexp.MustCompile(`[eE][+-]?0*[0-9]{4,}`)

// hugeExponent reports whether data holds a number with an exponent of
// four digits or more.
func hugeExponent(data []byte) bool { return exponent.Match(data) }
