package api

// Search intents.
const (
	IntentQuestion     = "question"
	IntentKeyword      = "keyword"
	IntentNavigational = "navigational"
	IntentChitChat     = "chitchat"
)

// SearchResult is the answer to POST /search; docs/search.md has its JSON
// Schema.
type SearchResult struct {
	// Answer cites Sources as [n]. It is NoConfidentAnswer when confidence
	// is below the tenant's threshold.
	Answer  string   `json:"answer"`
	Sources []Source `json:"sources"`
	// Confidence in [0, 1]: how well the sources cover the query and
	// support the answer (docs/search.md).
	Confidence float64  `json:"confidence"`
	FollowUps  []string `json:"followUps"`
	Intent     string   `json:"intent"`
	// Path lists the stages that ran for this intent, in order.
	Path           []string `json:"path"`
	RewrittenQuery string   `json:"rewrittenQuery"`
	Model          string   `json:"model,omitempty"`
	Cached         bool     `json:"cached"`
	// Timings are milliseconds by stage, and total.
	Timings map[string]float64 `json:"timings"`
	TraceID string             `json:"traceId,omitempty"`
}

// NoConfidentAnswer is the answer of a search whose confidence is below the
// tenant's threshold: it says it does not know rather than guess.
const NoConfidentAnswer = "I don't know: the knowledge base has nothing that answers this with confidence."

// SearchSources is the data of the first SSE event of a streamed search.
type SearchSources struct {
	Sources        []Source `json:"sources"`
	Intent         string   `json:"intent"`
	RewrittenQuery string   `json:"rewrittenQuery"`
}

// SearchFollowUps is the data of the followUps SSE event.
type SearchFollowUps struct {
	FollowUps []string `json:"followUps"`
}
