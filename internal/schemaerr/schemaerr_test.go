package schemaerr

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestPointer(t *testing.T) {
	for loc, want := range map[string]string{"": "/", "a": "/a", "a/b~c": "/a~1b~0c"} {
		var parts []string
		if loc != "" {
			parts = []string{loc}
		}
		if got := Pointer(parts); got != want {
			t.Errorf("Pointer(%q) = %q, want %q", parts, got, want)
		}
	}
	if got := Pointer([]string{"keys", "0", "id"}); got != "/keys/0/id" {
		t.Errorf("Pointer = %q", got)
	}
}

func TestLeaves(t *testing.T) {
	c := jsonschema.NewCompiler()
	schema, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"type":"object","required":["b"],"properties":{"a":{"type":"integer","minimum":3},"z":{"type":"string"}}}`)))
	if err := c.AddResource("s.json", schema); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("s.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"z":1,"a":1}`)))
	var ve *jsonschema.ValidationError
	if !errors.As(sch.Validate(inst), &ve) {
		t.Fatal("want a validation error")
	}
	var paths []string
	for _, l := range Leaves(ve) {
		paths = append(paths, l.Path)
		if l.Message == "" {
			t.Errorf("%s: no message", l.Path)
		}
	}
	if want := []string{"/", "/a", "/z"}; !slices.Equal(paths, want) {
		t.Errorf("paths = %v, want %v (every failing leaf, by path)", paths, want)
	}
}
