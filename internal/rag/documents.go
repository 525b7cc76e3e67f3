package rag

// Reading and deleting a tenant's documents.

import (
	"context"
	"errors"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Delete removes a document: nothing of it is retrievable afterwards.
func (s *Service) Delete(ctx context.Context, t tenant.ID, id string) (int64, error) {
	if !validDocID(id) {
		return 0, docErr(id, store.ErrNotFound)
	}
	k, err := s.base(ctx, t)
	if err != nil {
		return 0, api.Internal(err)
	}
	if k, err = s.lockWrite(ctx, t, k); err != nil {
		return 0, api.Internal(err)
	}
	defer k.write.Unlock()
	before := k.currentVersion()
	version, err := s.docs.DeleteDocument(ctx, t, id)
	if err != nil {
		return 0, docErr(id, err)
	}
	k.remove(id)
	s.written(ctx, t, k, before, version, 1)
	return version, nil
}

// Document returns a document's record.
func (s *Service) Document(ctx context.Context, t tenant.ID, id string) (store.DocumentRecord, error) {
	d, err := s.docs.Document(ctx, t, id)
	if err != nil {
		return d, docErr(id, err)
	}
	return d, nil
}

// Chunks returns a document's chunks.
func (s *Service) Chunks(ctx context.Context, t tenant.ID, id string) ([]api.DocumentChunk, error) {
	cs, err := s.docs.Chunks(ctx, t, id)
	if err != nil {
		return nil, docErr(id, err)
	}
	out := make([]api.DocumentChunk, len(cs))
	for i, c := range cs {
		out[i] = api.DocumentChunk{ID: c.ID, Ordinal: c.Ordinal, HeadingPath: c.HeadingPath, Start: c.Start, End: c.End, Tokens: c.Tokens, Hash: c.Hash, Text: c.Text}
	}
	return out, nil
}

// Documents lists documents by ID, after the given one.
func (s *Service) Documents(ctx context.Context, t tenant.ID, after string, limit int) ([]store.DocumentRecord, error) {
	ds, err := s.docs.Documents(ctx, t, after, limit)
	if err != nil {
		return nil, api.Internal(err)
	}
	return ds, nil
}

// docErr maps a store error about document id: a document that does not
// exist, or whose ID no document could have, is not found.
func docErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return api.Errorf(api.CodeNotFound, "document %q does not exist", id)
	}
	return api.Internal(err)
}
