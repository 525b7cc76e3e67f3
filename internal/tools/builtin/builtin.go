// Package builtin holds the builtin tools: summarize, extract_entities,
// classify_intent, tag_chunk and ingest_docs. Each works offline and
// deterministically; summarize, extract_entities and classify_intent ask a
// model instead when the tenant routes "tools" to one (models.routes.tools
// naming a provider other than builtin).
package builtin

import (
	"context"
	"strings"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
)

// The names of the builtin tools.
const (
	Summarize       = "summarize"
	ExtractEntities = "extract_entities"
	ClassifyIntent  = "classify_intent"
	TagChunk        = "tag_chunk"
	IngestDocs      = "ingest_docs"
)

// Methods say how a result was made.
const (
	methodExtractive = "extractive"
	methodRules      = "rules"
	methodModel      = "model"
)

// Deps are what the builtin tools use. A nil RAG leaves ingest_docs
// failing with unavailable; a nil Gateway keeps every tool offline.
type Deps struct {
	RAG     *rag.Service
	Gateway *gateway.Gateway
}

// Tools returns the builtin tools.
func Tools(d Deps) []*tools.Tool {
	return []*tools.Tool{
		summarizeTool(d), entitiesTool(d), intentTool(d), tagChunkTool(), ingestTool(d),
	}
}

// Registry returns a registry of the builtin tools.
func Registry(d Deps) *tools.Registry { return tools.MustRegistry(Tools(d)...) }

// usesModel reports whether the tenant routes tools to a model other than
// the builtin ones.
func usesModel(d Deps, cfg *tenant.Config) bool {
	if d.Gateway == nil {
		return false
	}
	if _, ok := cfg.Models.Routes[gateway.RouteTools]; !ok {
		return false
	}
	p, _, _ := strings.Cut(gateway.PrimaryModel(cfg, gateway.RouteTools), "/")
	return p != "builtin"
}

// ask calls the tenant's tools model with a system prompt and the text, as
// the caller, and returns the whole answer.
func ask(ctx context.Context, d Deps, c tenant.Caller, system, text string) (string, error) {
	call := gateway.Call{Caller: c, Route: gateway.RouteTools}
	req := provider.ChatRequest{Buffered: true, Messages: []provider.Message{
		{Role: provider.RoleSystem, Content: system},
		{Role: provider.RoleUser, Content: text},
	}}
	st, err := d.Gateway.Chat(ctx, call, req)
	if err != nil {
		return "", err
	}
	defer st.Close()
	answer, err := st.Text()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(answer), nil
}
