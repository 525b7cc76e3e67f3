package rag

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Spans of a retrieval: "rag.retrieve", and under it one span per stage
// that runs ("rag.bm25", "rag.feedback", "rag.embed" with the gateway's
// embeddings call in it, "rag.vector", "rag.fuse", "rag.rerank"). They
// carry the tenant, the mode and the number of hits, never the query or a
// chunk's text.

const (
	attrMode    = attribute.Key("crispy.rag.mode")
	attrTopK    = attribute.Key("crispy.rag.top_k")
	attrHits    = attribute.Key("crispy.rag.hits")
	attrVersion = attribute.Key("crispy.rag.version")
)

// startRetrieve starts the span of a retrieval of q by c.
func (s *Service) startRetrieve(ctx context.Context, c tenant.Caller, q Query) (context.Context, trace.Span) {
	ctx, span := obs.StartSpan(ctx, s.opts.Tracer, "rag.retrieve", c.Tenant.ID.String(), trace.SpanKindInternal)
	if span.IsRecording() {
		span.SetAttributes(obs.GenAIOperationName.String("retrieval"), attrMode.String(q.Mode), attrTopK.Int(q.TopK))
	}
	return ctx, span
}

// startStage starts the span of one stage of a retrieval by c.
func (s *Service) startStage(ctx context.Context, c tenant.Caller, stage string) (context.Context, trace.Span) {
	return obs.StartSpan(ctx, s.opts.Tracer, "rag."+stage, c.Tenant.ID.String(), trace.SpanKindInternal)
}

// endStage ends a stage's span, which found hits results.
func endStage(span trace.Span, hits int) {
	if span.IsRecording() {
		span.SetAttributes(attrHits.Int(hits))
	}
	span.End()
}

// endRetrieve notes a retrieval's outcome on its span: hits chunks of the
// knowledge base at version, or the error's code.
func endRetrieve(span trace.Span, hits int, version int64, errCode string) {
	if !span.IsRecording() {
		return
	}
	if errCode != "" {
		obs.Fail(span, errCode)
		return
	}
	span.SetAttributes(attrHits.Int(hits), attrVersion.Int64(version))
}
