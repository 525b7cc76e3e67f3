package builtin

import (
	"context"
	"encoding/json"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
)

// maxIngestDocs is the most documents of one ingest_docs call.
const maxIngestDocs = 20

var ingestArgs = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["documents"],
  "properties": {
    "documents": {"type": "array", "minItems": 1, "maxItems": 20, "items": ` + documentSchema + `}
  }
}`

const ingestResult = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["results"],
  "properties": {
    "results": {"type": "array", "items": {
      "type": "object", "additionalProperties": false, "required": ["id", "status", "chunks", "version"],
      "properties": {
        "id": {"type": "string"},
        "status": {"enum": ["created", "updated", "unchanged"]},
        "chunks": {"type": "integer", "minimum": 0},
        "version": {"type": "integer"}
      }
    }}
  }
}`

// IngestResult is the result of ingest_docs.
type IngestResult struct {
	Results []rag.IngestResult `json:"results"`
}

func ingestTool(d Deps) *tools.Tool {
	return &tools.Tool{
		Name:        IngestDocs,
		Description: "Add or replace documents in the tenant's knowledge base (at most 20 a call).",
		Args:        json.RawMessage(ingestArgs),
		Result:      json.RawMessage(ingestResult),
		// A tool never lets a key do more than its own routes would: writing
		// documents needs documents:write there, and tools:write here.
		Scopes:  []tenant.Scope{tenant.ScopeTools, tenant.ScopeToolsWrite, tenant.ScopeDocumentsWrite},
		Writes:  true,
		Timeout: 2 * time.Minute,
		Run: func(ctx context.Context, c tenant.Caller, args json.RawMessage) (any, error) {
			if d.RAG == nil {
				return nil, api.Errorf(api.CodeUnavailable, "the knowledge base is not available on this server")
			}
			var in struct {
				Documents []rag.DocumentInput `json:"documents"`
			}
			if err := tools.Decode(args, &in); err != nil {
				return nil, err
			}
			out := IngestResult{Results: make([]rag.IngestResult, 0, len(in.Documents))}
			caller := tenant.Caller{Tenant: c.Tenant, Key: c.Key, RequestID: c.RequestID}
			for _, doc := range in.Documents[:min(len(in.Documents), maxIngestDocs)] {
				res, err := d.RAG.Ingest(ctx, caller, doc)
				if err != nil {
					return nil, err
				}
				out.Results = append(out.Results, res)
			}
			return out, nil
		},
	}
}
