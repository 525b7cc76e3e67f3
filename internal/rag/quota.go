package rag

// The quotas of a tenant's knowledge base (limits.knowledge).

import (
	"context"
	"errors"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// storeQuota is the store's view of a tenant's knowledge quotas.
func storeQuota(q tenant.Knowledge) store.DocumentQuota {
	return store.DocumentQuota{Documents: q.MaxDocuments, Chunks: q.MaxChunks, Bytes: q.MaxStoredBytes}
}

// quotaError is the API error of a store.QuotaError for document id.
func quotaError(id string, err error) error {
	var qe *store.QuotaError
	if !errors.As(err, &qe) {
		return api.Internal(err)
	}
	return api.Errorf(api.CodeQuotaExceeded, "document %q: the knowledge base would hold %d %s, over its quota of %d", id, qe.After, qe.Quota, qe.Limit).
		WithDetails(map[string]any{"quota": qe.Quota, "limit": qe.Limit, "used": qe.Used, "after": qe.After})
}

// Quota returns what tenant t's knowledge base holds against its quotas;
// jobs is the number of its batch ingests running.
func (s *Service) Quota(ctx context.Context, t *tenant.Tenant, jobs int) (api.KnowledgeQuota, error) {
	totals, err := s.docs.Totals(ctx, t.ID)
	if err != nil {
		return api.KnowledgeQuota{}, api.Internal(err)
	}
	q := t.Config.Limits.Knowledge
	return api.KnowledgeQuota{
		Documents:         api.QuotaUse{Used: totals.Documents, Limit: q.MaxDocuments},
		Chunks:            api.QuotaUse{Used: totals.Chunks, Limit: q.MaxChunks},
		Bytes:             api.QuotaUse{Used: totals.Bytes, Limit: q.MaxStoredBytes},
		ChunksPerDocument: q.MaxChunksPerDocument,
		Jobs:              api.QuotaUse{Used: int64(jobs), Limit: int64(q.MaxJobs)},
	}, nil
}
