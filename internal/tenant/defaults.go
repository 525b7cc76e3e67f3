package tenant

import "time"

// Defaults of tenant config fields. Each is also the "default" keyword of its
// field in schema/tenant.schema.json (TestSchemaDefaultsMatchWithDefaults
// keeps the two in step), and WithDefaults fills it in when a config loads:
// code that reads a tenant's config from a Registry finds every value set.
const (
	DefaultChatModel      = "builtin/extractive" // models.chat
	DefaultEmbeddingModel = "builtin/hash-384"   // models.embedding
	DefaultRetries        = 2                    // models.retries

	DefaultMaxBodyBytes    = 1 << 20         // limits.maxBodyBytes
	DefaultMaxUploadBytes  = 32 << 20        // limits.maxUploadBytes
	DefaultMaxOutputTokens = 4096            // limits.maxOutputTokens
	DefaultRequestTimeout  = 2 * time.Minute // limits.requestTimeout

	DefaultMaxDocuments         = 10_000    // limits.knowledge.maxDocuments
	DefaultMaxChunks            = 50_000    // limits.knowledge.maxChunks
	DefaultMaxStoredBytes       = 256 << 20 // limits.knowledge.maxStoredBytes
	DefaultMaxChunksPerDocument = 2_000     // limits.knowledge.maxChunksPerDocument
	DefaultMaxJobs              = 2         // limits.knowledge.maxJobs

	DefaultEmbeddingTTL  = 30 * 24 * time.Hour // cache.embeddingTtl
	DefaultCompletionTTL = 10 * time.Minute    // cache.ttl
	DefaultSearchTTL     = 5 * time.Minute     // cache.searchTtl

	DefaultChunkTokens      = 256  // rag.chunkTokens
	DefaultOverlapTokens    = 32   // rag.overlapTokens, when rag.chunkTokens is not set either
	DefaultTopK             = 8    // rag.topK
	DefaultMaxTopK          = 20   // rag.maxTopK
	DefaultMaxContextTokens = 3000 // rag.maxContextTokens
	DefaultMinConfidence    = 0.3  // rag.minConfidence

	DefaultMaxRounds      = 4                   // tools.maxRounds
	DefaultAuditRetention = 90 * 24 * time.Hour // tools.auditRetention

	DefaultTTSMaxChars   = 4096 // tts.maxChars
	DefaultTTSAsyncChars = 2000 // tts.asyncChars

	DefaultMaxInputChars = 32000 // safety.maxInputChars
)

// WithDefaults returns c with every field that has a default and is not set
// (zero, or nil for models.retries) set to its default. NewRegistry applies
// it, so the config of every Tenant is complete; a Config built by hand (in
// a test) needs it before use. c itself is not changed.
//
// Some fields stay zero because zero has a meaning of its own: budgets,
// rate limits, limits.rate.concurrentStreams, sessions.maxMessages and
// sessions.maxAge (no cap), rag.overlapTokens when rag.chunkTokens is set (no
// overlap). Some defaults depend on something other than the tenant and are
// applied where that is known: limits.maxInFlight (a share of the server's
// --max-in-flight, in internal/httpapi), rate.burst (the rate's requests, in
// internal/ratelimit), a model missing from models.contextWindows (in
// internal/gateway), tts.model and tts.voice (the adapter's, in internal/tts),
// a provider's timeout (the adapter's), rag.template (internal/rag's) and
// rag.reranker.timeout (internal/rag's).
func (c Config) WithDefaults() Config {
	m := &c.Models
	if m.Chat == nil {
		m.Chat = &ModelChoice{Model: DefaultChatModel}
	}
	if m.Embedding == nil {
		m.Embedding = &ModelChoice{Model: DefaultEmbeddingModel}
	}
	if m.Retries == nil {
		n := DefaultRetries
		m.Retries = &n
	}

	l := &c.Limits
	orDefault(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	orDefault(&l.MaxUploadBytes, DefaultMaxUploadBytes)
	orDefault(&l.MaxOutputTokens, DefaultMaxOutputTokens)
	orDefault(&l.RequestTimeout, Duration(DefaultRequestTimeout))
	k := &l.Knowledge
	orDefault(&k.MaxDocuments, DefaultMaxDocuments)
	orDefault(&k.MaxChunks, DefaultMaxChunks)
	orDefault(&k.MaxStoredBytes, DefaultMaxStoredBytes)
	orDefault(&k.MaxChunksPerDocument, DefaultMaxChunksPerDocument)
	orDefault(&k.MaxJobs, DefaultMaxJobs)

	orDefault(&c.Cache.EmbeddingTTL, Duration(DefaultEmbeddingTTL))
	orDefault(&c.Cache.TTL, Duration(DefaultCompletionTTL))
	orDefault(&c.Cache.SearchTTL, Duration(DefaultSearchTTL))

	r := &c.RAG
	if r.ChunkTokens <= 0 {
		// Overlap takes its default only beside the default chunk size: a
		// tenant that sets chunkTokens alone asks for chunks without overlap.
		r.ChunkTokens = DefaultChunkTokens
		orDefault(&r.OverlapTokens, DefaultOverlapTokens)
	}
	orDefault(&r.TopK, DefaultTopK)
	orDefault(&r.MaxTopK, DefaultMaxTopK)
	r.TopK = min(r.TopK, r.MaxTopK) // a default topK above maxTopK is cut to it
	orDefault(&r.MaxContextTokens, DefaultMaxContextTokens)
	orDefault(&r.MinConfidence, DefaultMinConfidence)

	orDefault(&c.Tools.MaxRounds, DefaultMaxRounds)
	orDefault(&c.Tools.AuditRetention, Duration(DefaultAuditRetention))

	orDefault(&c.TTS.MaxChars, DefaultTTSMaxChars)
	orDefault(&c.TTS.AsyncChars, DefaultTTSAsyncChars)

	orDefault(&c.Safety.MaxInputChars, DefaultMaxInputChars)
	return c
}

// orDefault sets *v to def when *v is zero (or, never valid in a tenant
// file, negative).
func orDefault[T int | int64 | float64 | Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
