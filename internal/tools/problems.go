package tools

import (
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crispy-enigma/crispy/internal/schemaerr"
)

// problems flattens a validation error into one problem per failing leaf,
// sorted by path, without repeats.
func problems(ve *jsonschema.ValidationError) []Problem {
	leaves := schemaerr.Leaves(ve)
	ps := make([]Problem, len(leaves))
	for i, l := range leaves {
		ps[i] = Problem{Path: l.Path, Message: l.Message}
	}
	return ps
}
