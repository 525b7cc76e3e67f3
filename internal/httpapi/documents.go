package httpapi

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Limits of POST /documents.
const (
	// syncBatch is the largest NDJSON batch ingested before answering;
	// larger ones run as jobs.
	syncBatch = 8
	// maxBatch is the most documents in one NDJSON batch.
	maxBatch = 10000
)

// maxUploadBytes is the POST /documents body limit for r: its tenant's
// limits.maxUploadBytes (the tenants' default for a request without a
// tenant).
func maxUploadBytes(r *http.Request) int64 {
	if t := Caller(r).Tenant; t != nil {
		return t.Config.Limits.MaxUploadBytes
	}
	return tenant.DefaultMaxUploadBytes
}

func (s *Server) needRAG() error {
	if s.opts.RAG == nil {
		return api.Errorf(api.CodeUnavailable, "the knowledge base is not available on this server")
	}
	return nil
}

// documentsPost answers POST /documents: one JSON document, an NDJSON batch,
// or multipart file uploads (.txt, .md, .html).
func (s *Server) documentsPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRAG(); err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return api.Errorf(api.CodeUnsupportedMediaType, "Content-Type %q is malformed: %v", ct, err)
	}
	switch {
	case mt == "application/x-ndjson" || mt == "application/jsonl" || mt == "application/x-jsonlines":
		return s.documentsBatch(w, r)
	case mt == "multipart/form-data":
		return s.documentsUpload(w, r, params["boundary"])
	case mt == "" || mt == "application/json":
		body, err := readBody(w, r, maxUploadBytes(r))
		if err != nil {
			return err
		}
		var in rag.DocumentInput
		if err := decodeBytes(body, &in); err != nil {
			return err
		}
		res, err := s.opts.RAG.Ingest(r.Context(), Caller(r), in)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if res.Status == "created" {
			status = http.StatusCreated
		}
		return writeData(w, r, status, res)
	default:
		return api.Errorf(api.CodeUnsupportedMediaType, "Content-Type must be application/json, application/x-ndjson or multipart/form-data, not %q", mt)
	}
}

// documentsBatch ingests NDJSON: every line is checked first (a bad line
// rejects the batch, nothing ingested); small batches are ingested at once,
// larger ones run as a job.
func (s *Server) documentsBatch(w http.ResponseWriter, r *http.Request) error {
	limit := maxUploadBytes(r)
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	var docs []rag.DocumentInput
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, int(limit))
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var in rag.DocumentInput
		if err := decodeBytes(sc.Bytes(), &in); err != nil {
			e := api.AsError(err)
			return api.Errorf(e.Code, "line %d: %s", line, e.Message).WithDetails(map[string]any{"line": line, "path": e.Details["path"]})
		}
		docs = append(docs, in)
		if len(docs) > maxBatch {
			return api.Errorf(api.CodePayloadTooLarge, "a batch holds at most %d documents", maxBatch)
		}
	}
	if len(docs) == 0 {
		return api.Errorf(api.CodeInvalidRequest, "the batch holds no document")
	}
	c := Caller(r)
	if len(docs) > syncBatch {
		job, err := s.opts.Jobs.Start(c, docs)
		if err != nil {
			w.Header().Set(ratelimit.HeaderRetryAfter, "5")
			return err
		}
		w.Header().Set("Location", "/jobs/"+job.ID)
		return writeData(w, r, http.StatusAccepted, job)
	}
	results := make([]rag.IngestResult, 0, len(docs))
	for i, d := range docs {
		res, err := s.opts.RAG.Ingest(r.Context(), c, d)
		if err != nil {
			e := api.AsError(err)
			return api.Errorf(e.Code, "line %d: %s (the %d documents before it were ingested)", i+1, e.Message, i).
				WithDetails(map[string]any{"line": i + 1, "ingested": results})
		}
		results = append(results, res)
	}
	return writeData(w, r, http.StatusOK, map[string]any{"results": results})
}

// documentsUpload ingests files sent as multipart/form-data. Each "file"
// part is a document, its format from its extension; optional fields
// title, url and metadata (JSON) apply to every file, id to a single file.
func (s *Server) documentsUpload(w http.ResponseWriter, r *http.Request, boundary string) error {
	if boundary == "" {
		return api.Errorf(api.CodeInvalidRequest, "multipart/form-data without a boundary")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes(r))
	mr := multipart.NewReader(r.Body, boundary)
	var files []rag.DocumentInput
	var common rag.DocumentInput
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return bodyError(err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			return bodyError(err)
		}
		switch name := part.FormName(); {
		case name == "file" || part.FileName() != "":
			in, err := fileDocument(part.FileName(), part.Header.Get("Content-Type"), string(b))
			if err != nil {
				return err
			}
			files = append(files, in)
		case name == "id":
			common.ID = string(b)
		case name == "title":
			common.Title = string(b)
		case name == "url":
			common.URL = string(b)
		case name == "metadata":
			if err := decodeBytes(b, &common.Metadata); err != nil {
				return api.Errorf(api.CodeInvalidRequest, "metadata: %s", api.AsError(err).Message)
			}
		default:
			return api.Errorf(api.CodeInvalidRequest, "unknown form field %q; allowed: file, id, title, url, metadata", name)
		}
	}
	if len(files) == 0 {
		return api.Errorf(api.CodeInvalidRequest, "no file in the upload")
	}
	if common.ID != "" && len(files) > 1 {
		return api.Errorf(api.CodeInvalidRequest, "id applies to a single file; %d were sent", len(files))
	}
	c := Caller(r)
	results := make([]rag.IngestResult, 0, len(files))
	for i, f := range files {
		if common.ID != "" {
			f.ID = common.ID
		}
		if common.Title != "" {
			f.Title = common.Title
		}
		f.URL, f.Metadata = common.URL, common.Metadata
		res, err := s.opts.RAG.Ingest(r.Context(), c, f)
		if err != nil {
			e := api.AsError(err)
			return api.Errorf(e.Code, "file %d (%s): %s", i+1, f.ID, e.Message).WithDetails(map[string]any{"ingested": results})
		}
		results = append(results, res)
	}
	return writeData(w, r, http.StatusOK, map[string]any{"results": results})
}

// fileDocument makes a document of an uploaded file, by its extension (or
// content type): plain text, Markdown or HTML. Its ID is its file name, so
// that uploading the file again replaces it.
func fileDocument(name, contentType, content string) (rag.DocumentInput, error) {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	in := rag.DocumentInput{ID: rag.DocumentIDFrom(base)}
	format := extract.FormatOf(base)
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case format == extract.FormatMarkdown || format == "" && mt == "text/markdown":
		in.Markdown = content
	case format == extract.FormatHTML || format == "" && mt == "text/html":
		in.HTML = content
	case format == extract.FormatText || format == "" && mt == "text/plain":
		in.Text = content
	default:
		return in, api.Errorf(api.CodeUnsupportedMediaType, "file %q: only .txt, .md and .html files are accepted (PDF is not supported)", base)
	}
	in.Title = strings.TrimSuffix(base, path.Ext(base))
	return in, nil
}

// documentsList answers GET /documents?after=ID&limit=N.
func (s *Server) documentsList(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRAG(); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := checkQuery(q, "after", "limit"); err != nil {
		return err
	}
	limit, err := queryInt(q.Get("limit"), 100, 1, store.MaxDocumentsPage)
	if err != nil {
		return api.Errorf(api.CodeInvalidRequest, "limit: %v", err)
	}
	ds, err := s.opts.RAG.Documents(r.Context(), Caller(r).Tenant.ID, q.Get("after"), int(limit)+1)
	if err != nil {
		return err
	}
	t := Caller(r).Tenant
	quota, err := s.opts.RAG.Quota(r.Context(), t, s.opts.Jobs.Running(t.ID))
	if err != nil {
		return err
	}
	out := struct {
		Documents []api.Document     `json:"documents"`
		Next      string             `json:"next,omitempty"`
		Quota     api.KnowledgeQuota `json:"quota"`
	}{Documents: []api.Document{}, Quota: quota}
	if len(ds) > int(limit) {
		ds = ds[:limit]
		out.Next = ds[len(ds)-1].ID
	}
	for _, d := range ds {
		out.Documents = append(out.Documents, documentOf(d))
	}
	return writeData(w, r, http.StatusOK, out)
}

// documentGet answers GET /documents/{id...}: the document and its chunks.
func (s *Server) documentGet(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRAG(); err != nil {
		return err
	}
	t := Caller(r).Tenant.ID
	id := r.PathValue("id")
	d, err := s.opts.RAG.Document(r.Context(), t, id)
	if err != nil {
		return err
	}
	chunks, err := s.opts.RAG.Chunks(r.Context(), t, id)
	if err != nil {
		return err
	}
	out := struct {
		api.Document
		ChunkList []api.DocumentChunk `json:"chunkList"`
	}{Document: documentOf(d), ChunkList: chunks}
	return writeData(w, r, http.StatusOK, out)
}

// documentDelete answers DELETE /documents/{id...}.
func (s *Server) documentDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRAG(); err != nil {
		return err
	}
	id := r.PathValue("id")
	version, err := s.opts.RAG.Delete(r.Context(), Caller(r).Tenant.ID, id)
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, map[string]any{"id": id, "deleted": true, "version": version})
}

// jobGet answers GET /jobs/{id}.
func (s *Server) jobGet(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRAG(); err != nil {
		return err
	}
	job, err := s.opts.Jobs.Get(Caller(r).Tenant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, job)
}

// retrieve answers POST /retrieve: ranked chunks of the caller's tenant.
func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRAG(); err != nil {
		return err
	}
	var q rag.Query
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	res, err := s.opts.RAG.Retrieve(r.Context(), Caller(r), q)
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, res)
}

func documentOf(d store.DocumentRecord) api.Document {
	return api.Document{
		ID: d.ID, Title: d.Title, URL: d.URL, Format: d.Format, Metadata: d.Metadata, Chunks: d.Chunks, Bytes: d.Bytes,
		Hash: d.Hash, EmbeddingModel: d.EmbeddingModel, UploadedBy: d.UploadedBy, Created: d.Created.UTC(), Updated: d.Updated.UTC(),
	}
}
