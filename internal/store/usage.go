package store

import (
	"context"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// UsageRecord is one entry of the usage ledger: one model call (all its
// attempts and fallbacks) made through the gateway, or one synthesis of
// speech (route "tts").
type UsageRecord struct {
	Time       time.Time // when the call started
	Tenant     tenant.ID
	RequestID  string
	KeyID      string // "" for anonymous callers
	Route      string // chat, completions, search, embedding, ...
	Provider   string // provider that answered (or the last one tried)
	Model      string // model that answered (or the last one tried)
	Attempts   int    // provider calls made, retries and fallbacks included
	Fallback   bool   // the answer came from a fallback model
	Status     string // ok, error, cancelled
	ErrorKind  string // provider.Kind name when Status is error
	Latency    time.Duration
	TTFT       time.Duration // time to first token; 0 when none came
	TokensIn   int64
	TokensOut  int64
	Estimated  bool  // token counts were estimated by a tokenizer, not reported
	CostMicros int64 // cost in millionths of a US dollar
	CacheHit   bool
	TTSChars   int64 // characters of text spoken (route tts)
}

// UsageFilter selects ledger rows of one tenant. From is inclusive, To
// exclusive; both are truncated to UTC days by rollups.
type UsageFilter struct {
	From, To time.Time
	KeyID    string // "" for every key
}

// UsageRow is a rollup of the ledger: one UTC day, one key, one model.
// Durations are kept as sums, so that the mean over any set of rows is
// exact: LatencyMicros / Requests, and TTFTMicros / TTFTRequests.
type UsageRow struct {
	Day        string // YYYY-MM-DD, UTC
	KeyID      string
	Provider   string
	Model      string
	Requests   int64
	Errors     int64
	Fallbacks  int64
	CacheHits  int64
	TokensIn   int64
	TokensOut  int64
	CostMicros int64
	TTSChars   int64
	// LatencyMicros sums the latencies of the Requests, in microseconds.
	LatencyMicros int64
	// TTFTMicros sums the times to first token, in microseconds, of the
	// TTFTRequests: the requests whose TTFT is at least a microsecond.
	TTFTMicros   int64
	TTFTRequests int64
}

// Usage is the append-only usage ledger with its daily rollup.
type Usage interface {
	// AppendUsage adds records to the ledger and to the daily rollup, in one
	// transaction: either all of them are recorded or none. Every record must
	// have a non-zero Tenant (else ErrInvalid, and nothing is written).
	AppendUsage(ctx context.Context, recs []UsageRecord) error
	// UsageRollup returns the daily rollup rows of tenant t matching f,
	// ordered by day, key, provider, model.
	UsageRollup(ctx context.Context, t tenant.ID, f UsageFilter) ([]UsageRow, error)
	// UsageRecords returns the ledger entries of tenant t matching f, oldest
	// first, at most limit (1 to 1000).
	UsageRecords(ctx context.Context, t tenant.ID, f UsageFilter, limit int) ([]UsageRecord, error)
}
