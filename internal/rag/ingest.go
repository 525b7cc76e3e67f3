package rag

// Ingesting a document: validation, extraction and chunking within the
// tenant's quotas, embedding, and the hand-off to the group write.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/rag/chunk"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// DocumentInput is a document to ingest: exactly one of Text, Markdown and
// HTML.
type DocumentInput struct {
	ID       string         `json:"id,omitempty"`
	Title    string         `json:"title,omitempty"`
	URL      string         `json:"url,omitempty"`
	Text     string         `json:"text,omitempty"`
	Markdown string         `json:"markdown,omitempty"`
	HTML     string         `json:"html,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// IngestResult says what ingesting one document did.
type IngestResult struct {
	ID     string `json:"id"`
	Status string `json:"status"` // created, updated, unchanged
	Chunks int    `json:"chunks"`
	// Version is the tenant's corpus version after the ingest.
	Version int64 `json:"version"`
}

// Ingest adds or replaces one document. The same ID with the same content
// is a no-op; new content replaces the old chunks atomically.
func (s *Service) Ingest(ctx context.Context, c tenant.Caller, in DocumentInput) (IngestResult, error) {
	format, src, err := validateInput(&in)
	if err != nil {
		return IngestResult{}, err
	}
	cfg := c.Tenant.Config
	opts := chunkOptions(cfg)
	model := gateway.PrimaryModel(cfg, gateway.RouteEmbedding)
	if in.ID == "" {
		in.ID = derivedID(in, src)
	}
	hash := contentHash(format, src, in, opts, model)

	k, err := s.base(ctx, c.Tenant.ID)
	if err != nil {
		return IngestResult{}, api.Internal(err)
	}
	// A cheap check first: an unchanged document costs one read.
	old, err := s.docs.Document(ctx, c.Tenant.ID, in.ID)
	switch {
	case err == nil && old.Hash == hash:
		return IngestResult{ID: in.ID, Status: "unchanged", Chunks: old.Chunks, Version: k.currentVersion()}, nil
	case errors.Is(err, store.ErrNotFound):
		old = store.DocumentRecord{}
	case err != nil:
		return IngestResult{}, api.Internal(err)
	}

	// Extracting, chunking and embedding run outside the tenant's write
	// lock, so that a batch's documents are prepared in parallel.
	quota := cfg.Limits.Knowledge
	title, parts, err := split(format, src, in, opts, quota)
	if err != nil {
		return IngestResult{}, err
	}
	// The quotas are checked before the embedder is called, and again
	// where the document is written (the store's check is the one that
	// holds against concurrent writers).
	totals, err := s.docs.Totals(ctx, c.Tenant.ID)
	if err != nil {
		return IngestResult{}, api.Internal(err)
	}
	after := totals
	if old.ID != "" {
		after.Documents--
		after.Chunks -= int64(old.Chunks)
		after.Bytes -= old.Bytes
	}
	after.Documents++
	after.Chunks += int64(len(parts))
	after.Bytes += int64(len(src))
	if err := storeQuota(quota).Check(totals, after); err != nil {
		return IngestResult{}, quotaError(in.ID, err)
	}
	stored := make([]store.StoredChunk, len(parts))
	for i, p := range parts {
		sum := sha256.Sum256([]byte(p.Text))
		stored[i] = store.StoredChunk{
			ID: fmt.Sprintf("%s#%d", in.ID, p.Ordinal), DocID: in.ID, Ordinal: p.Ordinal, HeadingPath: p.HeadingPath,
			Text: p.Text, Start: p.Start, End: p.End, Tokens: p.Tokens, Hash: hex.EncodeToString(sum[:]),
		}
	}
	rec := store.DocumentRecord{
		ID: in.ID, Title: title, URL: in.URL, Format: format, Metadata: in.Metadata, Hash: hash,
		EmbeddingModel: model, Bytes: int64(len(src)), Chunks: len(stored), UploadedBy: c.KeyID(),
	}
	// The index entries are prepared now, outside the lock; the embedder
	// sees the same text as BM25.
	ready := prepare(rec, stored)
	texts := make([]string, len(stored))
	for i := range ready.entries {
		texts[i] = ready.entries[i].Text
	}
	for lo := 0; lo < len(texts); lo += embedBatch {
		hi := min(lo+embedBatch, len(texts))
		res, err := s.gw.Embed(ctx, gateway.Call{Caller: c, Route: gateway.RouteEmbedding}, provider.EmbedRequest{Input: texts[lo:hi]})
		if err != nil {
			return IngestResult{}, err
		}
		for i, v := range res.Vectors {
			if zero(v) {
				// No vector (text the embedder sees nothing in): the chunk
				// is found by BM25 alone.
				v = nil
			}
			stored[lo+i].Vector = v
			ready.entries[lo+i].Vector = v
		}
	}

	// The index's analysis of the text runs here too, not under the lock.
	if ready.batch, err = k.ix.Prepare(ready.docID, ready.entries); err != nil {
		return IngestResult{}, api.Internal(err)
	}
	w := &pending{rec: rec, stored: stored, ready: ready, quota: storeQuota(quota), done: make(chan struct{})}
	s.write(ctx, c.Tenant.ID, k, w)
	return w.res, w.err
}

// zero reports whether v has no non-zero component (or is empty).
func zero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// validateInput checks a document and returns its format and source.
func validateInput(in *DocumentInput) (format, src string, err error) {
	bad := func(path, format string, args ...any) error {
		return api.Errorf(api.CodeInvalidRequest, format, args...).WithDetails(map[string]any{"path": path})
	}
	n := 0
	for f, v := range map[string]string{extract.FormatText: in.Text, extract.FormatMarkdown: in.Markdown, extract.FormatHTML: in.HTML} {
		if v != "" {
			n++
			format, src = f, v
		}
	}
	switch {
	case n != 1:
		return "", "", bad("/text", "a document needs exactly one of text, markdown and html")
	case strings.TrimSpace(src) == "":
		return "", "", bad("/"+format, "the document is empty")
	case len(src) > MaxDocumentBytes:
		return "", "", api.Errorf(api.CodePayloadTooLarge, "the document is larger than %d bytes", MaxDocumentBytes).WithDetails(map[string]any{"path": "/" + format, "limit": MaxDocumentBytes})
	case !utf8.ValidString(src):
		return "", "", bad("/"+format, "the document is not valid UTF-8")
	case in.ID != "" && !validDocID(in.ID):
		return "", "", bad("/id", "id must be 1-256 characters of A-Z a-z 0-9 . _ : / @ -, starting with a letter or digit, with no empty, '.' or '..' segment between slashes")
	case utf8.RuneCountInString(in.Title) > 500:
		return "", "", bad("/title", "title is longer than 500 characters")
	case len(in.Metadata) > 32:
		return "", "", bad("/metadata", "at most 32 metadata keys")
	}
	if in.URL != "" {
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.URL) > 2048 {
			return "", "", bad("/url", "url must be an http or https URL of at most 2048 characters")
		}
	}
	for key, v := range in.Metadata {
		path := "/metadata/" + key
		if !metaKeyPattern.MatchString(key) {
			return "", "", bad(path, "metadata keys are 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or _")
		}
		if reservedMeta[key] {
			return "", "", bad(path, "metadata key %q is reserved: a document cannot set its tenant or namespace", key)
		}
		switch x := v.(type) {
		case string:
			if len(x) > 1024 {
				return "", "", bad(path, "metadata strings are at most 1024 bytes")
			}
		case bool:
		case float64:
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return "", "", bad(path, "metadata number out of range")
			}
			in.Metadata[key] = f
		default:
			return "", "", bad(path, "metadata values are strings, numbers or booleans")
		}
	}
	return format, src, nil
}

// chunkOptions are the chunk sizes of a tenant. Its rag.overlapTokens of 0
// (set, or left out beside a chunkTokens) means no overlap, which
// chunk.Options spells as a negative overlap: its zero is its own default.
func chunkOptions(cfg *tenant.Config) chunk.Options {
	o := chunk.Options{ChunkTokens: cfg.RAG.ChunkTokens, OverlapTokens: cfg.RAG.OverlapTokens}
	if o.OverlapTokens == 0 {
		o.OverlapTokens = -1
	}
	return o
}

// DocumentIDFrom makes a file's path (or name) a valid document ID: each
// character an ID cannot hold becomes '_', leading punctuation is dropped,
// and it is cut at 256 bytes.
func DocumentIDFrom(path string) string {
	var b strings.Builder
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._:/@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	// A segment between slashes that is empty or dots alone becomes '_'s.
	segs := strings.Split(b.String(), "/")
	for i, seg := range segs {
		if strings.Trim(seg, ".") == "" {
			segs[i] = strings.Repeat("_", max(len(seg), 1))
		}
	}
	id := strings.TrimLeft(strings.Join(segs, "/"), "._:/@-")
	if len(id) > 256 {
		id = strings.TrimRight(id[:256], "/")
	}
	return id
}

// derivedID names a document that came without an ID: by its URL when it
// has one, else by its content, so that re-sending it is idempotent.
func derivedID(in DocumentInput, src string) string {
	key := in.URL
	if key == "" {
		key = in.Title + "\x00" + src
	}
	sum := sha256.Sum256([]byte(key))
	return "d_" + hex.EncodeToString(sum[:12])
}

// contentHash identifies everything that shapes a document's chunks and
// vectors; an ingest with the same hash has nothing to do.
func contentHash(format, src string, in DocumentInput, o chunk.Options, model string) string {
	meta, _ := json.Marshal(in.Metadata) // map keys are sorted
	h := sha256.New()
	for _, part := range []string{format, src, in.Title, in.URL, string(meta), fmt.Sprint(o.ChunkTokens, "/", o.OverlapTokens), model} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Split extracts and chunks a document exactly as Ingest would for the
// tenant, and stores nothing: the document's title (given, or found in it)
// and its chunks.
func Split(cfg *tenant.Config, in DocumentInput) (string, []chunk.Chunk, error) {
	format, src, err := validateInput(&in)
	if err != nil {
		return "", nil, err
	}
	return split(format, src, in, chunkOptions(cfg), cfg.Limits.Knowledge)
}

// split extracts and chunks a document. A document with no words (no
// letter or digit once extracted: "...", an emoji, HTML of scripts alone)
// is invalid: nothing could ever find it. One that makes more chunks than
// its tenant allows is over quota, found without chunking the rest of it.
func split(format, src string, in DocumentInput, opts chunk.Options, q tenant.Knowledge) (string, []chunk.Chunk, error) {
	tooMany := func() error {
		return api.Errorf(api.CodeQuotaExceeded, "document %q makes more than %d chunks, the most one document may make; split it, or raise limits.knowledge.maxChunksPerDocument", in.ID, q.MaxChunksPerDocument).
			WithDetails(map[string]any{"quota": "chunksPerDocument", "limit": q.MaxChunksPerDocument, "path": "/" + format})
	}
	// Every block holds a token of its own at least, so a document of more
	// blocks than its chunks could hold is over quota: extraction keeps no
	// more than that, whatever the markup.
	doc, err := extract.ExtractAtMost(format, src, q.MaxChunksPerDocument*opts.ChunkTokens)
	if err != nil {
		return "", nil, api.Errorf(api.CodeInvalidRequest, "document %q: %v", in.ID, err)
	}
	if doc.Truncated {
		return "", nil, tooMany()
	}
	if !hasWords(doc.Text) {
		return "", nil, api.Errorf(api.CodeInvalidRequest, "document %q has no words to index: its %s holds no letter or digit once extracted", in.ID, format).
			WithDetails(map[string]any{"path": "/" + format})
	}
	title := strings.TrimSpace(in.Title)
	if title == "" {
		title = doc.Title
	}
	opts.MaxChunks = q.MaxChunksPerDocument
	parts := chunk.Split(doc, opts)
	if len(parts) > q.MaxChunksPerDocument {
		return "", nil, tooMany()
	}
	return title, parts, nil
}

// hasWords reports whether text holds a letter or a digit.
func hasWords(text string) bool {
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
