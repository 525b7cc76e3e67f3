package tenant_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/schema"
)

// TestSchemaDefaultsMatchWithDefaults checks that the "default" keywords of
// schema/tenant.schema.json and the values Config.WithDefaults fills into an
// empty config are the same defaults: each schema default is what
// WithDefaults sets at its JSON path, and each value WithDefaults sets is at
// or under a path with a schema default.
func TestSchemaDefaultsMatchWithDefaults(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(schema.Tenant, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{} // JSON path -> schema default
	walkDefaults(t, doc, doc, "", want, map[string]bool{})
	if len(want) == 0 {
		t.Fatal("the schema states no defaults")
	}

	empty := asJSON(t, tenant.Config{})
	filled := asJSON(t, tenant.Config{}.WithDefaults())

	for _, path := range slices.Sorted(maps.Keys(want)) {
		if strings.Contains(path, "/*") {
			t.Errorf("%s: schema default inside an array or a map, which WithDefaults cannot fill for every entry", path)
			continue
		}
		got, ok := lookup(filled, path)
		if !ok {
			t.Errorf("%s: schema default %v, but WithDefaults leaves it unset", path, want[path])
			continue
		}
		if !sameValue(got, want[path]) {
			t.Errorf("%s: WithDefaults sets %v, schema default is %v", path, got, want[path])
		}
	}

	for path, v := range leaves(filled, "") {
		if old, ok := lookup(empty, path); ok && sameValue(old, v) {
			continue
		}
		covered := false
		for p := path; p != "" && !covered; p = p[:strings.LastIndex(p, "/")] {
			_, covered = want[p]
		}
		if !covered {
			t.Errorf("%s: WithDefaults sets %v, but the schema states no default there", path, v)
		}
	}
}

// walkDefaults collects the default keywords of schema node s, found at the
// instance path path, into out. Array items and map values are under "/*".
func walkDefaults(t *testing.T, root, s map[string]any, path string, out map[string]any, seen map[string]bool) {
	t.Helper()
	if d, ok := s["default"]; ok {
		if prev, dup := out[path]; dup && !reflect.DeepEqual(prev, d) {
			t.Errorf("%s: two schema defaults, %v and %v", path, prev, d)
		}
		out[path] = d
	}
	if ref, ok := s["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			t.Fatalf("%s: $ref %q is not to #/$defs", path, ref)
		}
		key := path + " " + name
		if !seen[key] {
			seen[key] = true
			def, _ := root["$defs"].(map[string]any)[name].(map[string]any)
			if def == nil {
				t.Fatalf("%s: $ref %q names no definition", path, ref)
			}
			walkDefaults(t, root, def, path, out, seen)
		}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for name, p := range props {
			if ps, ok := p.(map[string]any); ok {
				walkDefaults(t, root, ps, path+"/"+name, out, seen)
			}
		}
	}
	for _, kw := range []string{"items", "additionalProperties"} {
		if sub, ok := s[kw].(map[string]any); ok {
			walkDefaults(t, root, sub, path+"/*", out, seen)
		}
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		subs, _ := s[kw].([]any)
		for _, sub := range subs {
			if ss, ok := sub.(map[string]any); ok {
				walkDefaults(t, root, ss, path, out, seen)
			}
		}
	}
	for _, kw := range []string{"then", "else"} {
		if sub, ok := s[kw].(map[string]any); ok {
			walkDefaults(t, root, sub, path, out, seen)
		}
	}
}

func asJSON(t *testing.T, c tenant.Config) map[string]any {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func lookup(v any, path string) (any, bool) {
	for _, name := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[name]; !ok {
			return nil, false
		}
	}
	return v, true
}

// leaves returns the values of v that are not objects, by JSON path.
func leaves(v any, path string) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{path: v}
	}
	out := map[string]any{}
	for k, sub := range m {
		maps.Copy(out, leaves(sub, path+"/"+k))
	}
	return out
}

// sameValue compares decoded JSON values, durations by their length ("720h"
// and "720h0m0s" are the same).
func sameValue(a, b any) bool {
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			da, errA := time.ParseDuration(as)
			db, errB := time.ParseDuration(bs)
			if errA == nil && errB == nil {
				return da == db
			}
		}
	}
	return reflect.DeepEqual(a, b)
}

// TestWithDefaultsKeepsMeaningfulZeros checks the fields whose zero, or whose
// value beside another field, is not simply replaced by a default.
func TestWithDefaultsKeepsMeaningfulZeros(t *testing.T) {
	zero, three := 0, 3
	tests := []struct {
		name string
		in   tenant.Config
		want func(c tenant.Config) bool
	}{
		{"no rag settings: default chunks and overlap", tenant.Config{},
			func(c tenant.Config) bool { return c.RAG.ChunkTokens == 256 && c.RAG.OverlapTokens == 32 }},
		{"chunkTokens alone: no overlap", tenant.Config{RAG: tenant.RAG{ChunkTokens: 512}},
			func(c tenant.Config) bool { return c.RAG.ChunkTokens == 512 && c.RAG.OverlapTokens == 0 }},
		{"overlapTokens alone: default chunks", tenant.Config{RAG: tenant.RAG{OverlapTokens: 16}},
			func(c tenant.Config) bool { return c.RAG.ChunkTokens == 256 && c.RAG.OverlapTokens == 16 }},
		{"retries 0 stays 0", tenant.Config{Models: tenant.Models{Retries: &zero}},
			func(c tenant.Config) bool { return *c.Models.Retries == 0 }},
		{"retries set", tenant.Config{Models: tenant.Models{Retries: &three}},
			func(c tenant.Config) bool { return *c.Models.Retries == 3 }},
		{"default topK cut to maxTopK", tenant.Config{RAG: tenant.RAG{MaxTopK: 5}},
			func(c tenant.Config) bool { return c.RAG.TopK == 5 && c.RAG.MaxTopK == 5 }},
		{"budgets and session retention stay uncapped", tenant.Config{},
			func(c tenant.Config) bool {
				return c.Limits.Budget == tenant.Budget{} && c.Sessions == tenant.Sessions{} && c.Limits.MaxInFlight == 0
			}},
		{"a route's model stays its own", tenant.Config{Models: tenant.Models{Routes: map[string]tenant.ModelChoice{"search": {Model: "builtin/x"}}}},
			func(c tenant.Config) bool {
				return c.Models.Routes["search"].Model == "builtin/x" && c.Models.Chat.Model == tenant.DefaultChatModel
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			got := in.WithDefaults()
			if !tt.want(got) {
				t.Errorf("WithDefaults() = %+v", got)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Errorf("WithDefaults changed its receiver: %+v", in)
			}
		})
	}
}
