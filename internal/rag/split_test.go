package rag_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestSplitOverlap checks that a tenant's rag.overlapTokens is honoured as
// the schema states: 32 tokens when neither chunkTokens nor overlapTokens is
// set, none when chunkTokens is set alone, and as set otherwise.
func TestSplitOverlap(t *testing.T) {
	var sb strings.Builder
	for i := range 400 {
		fmt.Fprintf(&sb, "Sentence number %d tells of turbines, blades and bleed air. ", i)
	}
	in := rag.DocumentInput{ID: "long", Text: sb.String()}
	tests := []struct {
		name        string
		rag         tenant.RAG
		wantOverlap bool
	}{
		{"defaults", tenant.RAG{}, true},
		{"chunkTokens alone", tenant.RAG{ChunkTokens: 128}, false},
		{"both set", tenant.RAG{ChunkTokens: 128, OverlapTokens: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tenant.Config{RAG: tt.rag}.WithDefaults()
			_, chunks, err := rag.Split(&cfg, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) < 3 {
				t.Fatalf("%d chunks, want several", len(chunks))
			}
			overlap := false
			for i := 1; i < len(chunks); i++ {
				if chunks[i].Start < chunks[i-1].End {
					overlap = true
				}
			}
			if overlap != tt.wantOverlap {
				t.Errorf("chunks overlap: %v, want %v", overlap, tt.wantOverlap)
			}
		})
	}
}
