// Package schemaerr turns a JSON Schema validation error into a flat,
// stable list: one entry per failing leaf, with the JSON Pointer (RFC 6901)
// of the value and an English message. Tenant configs and tool arguments
// report their problems this way.
package schemaerr

import (
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer renders schema errors in English.
var printer = message.NewPrinter(language.English)

// Leaf is one failing value.
type Leaf struct {
	Path    string // JSON Pointer of the value, "/" for the whole document
	Message string
}

// Leaves flattens ve into its failing leaves, sorted by path (those of one
// path in the validator's order), without repeats.
func Leaves(ve *jsonschema.ValidationError) []Leaf {
	var out []Leaf
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, Leaf{Path: Pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.SortStableFunc(out, func(a, b Leaf) int { return strings.Compare(a.Path, b.Path) })
	return slices.Compact(out)
}

// Pointer renders a location as a JSON Pointer.
func Pointer(loc []string) string {
	if len(loc) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		tok = strings.ReplaceAll(tok, "~", "~0")
		b.WriteString(strings.ReplaceAll(tok, "/", "~1"))
	}
	return b.String()
}
