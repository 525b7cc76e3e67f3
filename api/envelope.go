package api

import "encoding/json"

// Envelope is the body of every JSON response outside the SSE and
// OpenAI-compatible routes: {"ok":true,"data":...,"traceId":"..."} on success,
// {"ok":false,"error":{...},"traceId":"..."} on failure.
type Envelope struct {
	OK      bool            `json:"ok"`
	Data    json.RawMessage `json:"data,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	TraceID string          `json:"traceId"`
}

// Health is the data of GET /health: the tenant the caller resolved to, the
// server's version and the state of its storage and Redis.
type Health struct {
	Tenant  string `json:"tenant"`
	Version string `json:"version"`
	Storage Status `json:"storage"`
	// Redis is reported when the server keeps limits and budgets in Redis.
	Redis *Status `json:"redis,omitempty"`
}

// Status reports whether a dependency answers.
type Status struct {
	OK bool `json:"ok"`
	// Backend names it: "sqlite", "postgres", "redis".
	Backend string `json:"backend,omitempty"`
	Error   string `json:"error,omitempty"`
}

// UsageReport is the data of GET /usage: the tenant's usage over a range of
// UTC days, in total, by day and by model.
type UsageReport struct {
	From    string        `json:"from"` // YYYY-MM-DD, inclusive
	To      string        `json:"to"`   // YYYY-MM-DD, inclusive
	KeyID   string        `json:"key,omitempty"`
	Totals  UsageTotals   `json:"totals"`
	ByDay   []UsageTotals `json:"byDay"`
	ByModel []UsageTotals `json:"byModel"`
	// Budgets are the tenant's budgets, and the key's (the caller's, or the
	// one key names), with what their current day or month has used.
	Budgets []BudgetUse `json:"budgets"`
}

// BudgetUse is one budget and its use in the current period: tokens,
// characters of speech, or US dollars for the usd budgets.
type BudgetUse struct {
	Name  string  `json:"name"`            // tokensPerDay, tokensPerMonth, usdPerDay, usdPerMonth, ttsCharsPerDay
	Scope string  `json:"scope"`           // tenant or key
	KeyID string  `json:"keyId,omitempty"` // for scope key
	Limit float64 `json:"limit"`
	Used  float64 `json:"used"`
}

// UsageTotals sums usage over a day, a model or the whole range.
type UsageTotals struct {
	Day       string  `json:"day,omitempty"`
	Model     string  `json:"model,omitempty"` // provider/model
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	Fallbacks int64   `json:"fallbacks"`
	CacheHits int64   `json:"cacheHits"`
	TokensIn  int64   `json:"tokensIn"`
	TokensOut int64   `json:"tokensOut"`
	CostUSD   float64 `json:"costUsd"`
	TTSChars  int64   `json:"ttsChars"` // characters of speech (POST /tts)
	// LatencyMs is the mean latency of the Requests in milliseconds, to the
	// microsecond: the sum of their latencies over their number, errors and
	// cache hits included; 0 when there are none.
	LatencyMs float64 `json:"latencyMs"`
	// TTFTMs is the mean time to first token in milliseconds, to the
	// microsecond, over the requests that had a first token; 0 when none did.
	TTFTMs float64 `json:"ttftMs"`
}
