package api

import "time"

// Document describes a document of a tenant's knowledge base.
type Document struct {
	ID             string         `json:"id"`
	Title          string         `json:"title,omitempty"`
	URL            string         `json:"url,omitempty"`
	Format         string         `json:"format"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	Chunks         int            `json:"chunks"`
	Bytes          int64          `json:"bytes"`
	Hash           string         `json:"hash"`
	EmbeddingModel string         `json:"embeddingModel"`
	UploadedBy     string         `json:"uploadedBy,omitempty"`
	Created        time.Time      `json:"created"`
	Updated        time.Time      `json:"updated"`
}

// DocumentChunk is one chunk of a document: its text is the document's
// extracted text from Start to End (byte offsets).
type DocumentChunk struct {
	ID          string   `json:"id"`
	Ordinal     int      `json:"ordinal"`
	HeadingPath []string `json:"headingPath,omitempty"`
	Start       int      `json:"start"`
	End         int      `json:"end"`
	Tokens      int      `json:"tokens"`
	Hash        string   `json:"hash"`
	Text        string   `json:"text"`
}

// KnowledgeQuota is what a tenant's knowledge base holds against each of
// its quotas (limits.knowledge of its config), as GET /documents reports it.
type KnowledgeQuota struct {
	Documents QuotaUse `json:"documents"`
	Chunks    QuotaUse `json:"chunks"`
	// Bytes counts the documents' source texts.
	Bytes QuotaUse `json:"bytes"`
	// ChunksPerDocument is the most chunks one document may make.
	ChunksPerDocument int `json:"chunksPerDocument"`
	// Jobs are the batch ingests running now.
	Jobs QuotaUse `json:"jobs"`
}

// QuotaUse is how much of a quota is used.
type QuotaUse struct {
	Used  int64 `json:"used"`
	Limit int64 `json:"limit"`
}
