package tenant

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Config is one tenant's configuration, decoded from tenants/<id>/tenant.jsonc
// after it has passed schema/tenant.schema.json. Field documentation lives in
// the schema and in docs/tenants.md. The Config of a Tenant in a Registry has
// its defaults filled in (WithDefaults).
type Config struct {
	Schema    string              `json:"$schema,omitempty"`
	ID        string              `json:"id"`
	Name      string              `json:"name"`
	Hosts     []string            `json:"hosts,omitempty"`
	Public    []string            `json:"public,omitempty"`
	Keys      []Key               `json:"keys"`
	Providers map[string]Provider `json:"providers,omitempty"`
	Models    Models              `json:"models,omitzero"`
	Limits    Limits              `json:"limits,omitzero"`
	Sessions  Sessions            `json:"sessions,omitzero"`
	Cache     Cache               `json:"cache,omitzero"`
	RAG       RAG                 `json:"rag,omitzero"`
	Tools     Tools               `json:"tools,omitzero"`
	TTS       TTS                 `json:"tts,omitzero"`
	Safety    Safety              `json:"safety,omitzero"`
}

// Key is an API key, known only by its hash.
type Key struct {
	ID          string  `json:"id"`
	Hash        string  `json:"hash"`
	Scopes      []Scope `json:"scopes"`
	Dev         bool    `json:"dev,omitempty"`
	Description string  `json:"description,omitempty"`
	Budget      Budget  `json:"budget,omitzero"`
	// Expires is when the key stops working; zero: never.
	Expires time.Time `json:"expires,omitzero"`
}

// Expired reports whether the key no longer works at now.
func (k *Key) Expired(now time.Time) bool {
	return !k.Expires.IsZero() && !now.Before(k.Expires)
}

// Provider configures a remote model provider.
type Provider struct {
	Type      string            `json:"type"`
	BaseURL   string            `json:"baseUrl,omitempty"`
	APIKeyEnv string            `json:"apiKeyEnv,omitempty"`
	AccountID string            `json:"accountId,omitempty"`
	Gateway   *Gateway          `json:"gateway,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	HeaderEnv map[string]string `json:"headerEnv,omitempty"`
	Timeout   Duration          `json:"timeout,omitzero"`
	// Transport is the HTTP client transport of the provider's plain-http
	// calls: TransportH1 (the default) or TransportNetHTTP. https and
	// proxied calls always go through net/http.
	Transport string `json:"transport,omitempty"`
}

// The transports a provider may name.
const (
	TransportH1      = "h1"       // internal/h1: each call on the caller's goroutine
	TransportNetHTTP = "net/http" // net/http's Transport
)

// Gateway configures Cloudflare AI Gateway for a workersai provider.
type Gateway struct {
	ID        string   `json:"id"`
	TokenEnv  string   `json:"tokenEnv,omitempty"`
	CacheTTL  Duration `json:"cacheTtl,omitzero"`
	SkipCache bool     `json:"skipCache,omitempty"`
}

// Models chooses models per use and per route.
type Models struct {
	Chat      *ModelChoice           `json:"chat,omitempty"`
	Embedding *ModelChoice           `json:"embedding,omitempty"`
	Routes    map[string]ModelChoice `json:"routes,omitempty"`
	Aliases   map[string]string      `json:"aliases,omitempty"`
	Allow     []string               `json:"allow,omitempty"`
	Retries   *int                   `json:"retries,omitempty"`
	Pricing   map[string]Price       `json:"pricing,omitempty"`
	// ContextWindows are models' context sizes in tokens, by reference.
	ContextWindows map[string]int `json:"contextWindows,omitempty"`
}

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMTok  float64 `json:"inputPerMTok"`
	OutputPerMTok float64 `json:"outputPerMTok"`
}

// ModelChoice is a primary model and its ordered fallbacks.
type ModelChoice struct {
	Model     string   `json:"model"`
	Fallbacks []string `json:"fallbacks,omitempty"`
}

// Limits holds rate limits, budgets and request size limits.
type Limits struct {
	Rate            RateLimits `json:"rate,omitzero"`
	Budget          Budget     `json:"budget,omitzero"`
	MaxBodyBytes    int64      `json:"maxBodyBytes,omitempty"`
	MaxUploadBytes  int64      `json:"maxUploadBytes,omitempty"`
	MaxOutputTokens int        `json:"maxOutputTokens,omitempty"`
	RequestTimeout  Duration   `json:"requestTimeout,omitzero"`
	// MaxInFlight caps the tenant's requests served at once; 0: a share
	// of the server's cap, chosen by the server.
	MaxInFlight int       `json:"maxInFlight,omitempty"`
	Knowledge   Knowledge `json:"knowledge,omitzero"`
}

// Knowledge holds the quotas of the tenant's knowledge base; a zero field
// takes its default (Config.WithDefaults).
type Knowledge struct {
	MaxDocuments         int64 `json:"maxDocuments,omitempty"`
	MaxChunks            int64 `json:"maxChunks,omitempty"`
	MaxStoredBytes       int64 `json:"maxStoredBytes,omitempty"`
	MaxChunksPerDocument int   `json:"maxChunksPerDocument,omitempty"`
	MaxJobs              int   `json:"maxJobs,omitempty"`
}

// RateLimits are the tenant's request rate limits.
type RateLimits struct {
	Tenant            *Rate `json:"tenant,omitempty"`
	Key               *Rate `json:"key,omitempty"`
	IP                *Rate `json:"ip,omitempty"`
	ConcurrentStreams int   `json:"concurrentStreams,omitempty"`
}

// Rate admits Requests per Per, with bursts of up to Burst.
type Rate struct {
	Requests int      `json:"requests"`
	Per      Duration `json:"per"`
	Burst    int      `json:"burst,omitempty"`
}

// Budget caps spending per UTC day and month; zero means no cap.
type Budget struct {
	TokensPerDay   int64   `json:"tokensPerDay,omitempty"`
	TokensPerMonth int64   `json:"tokensPerMonth,omitempty"`
	USDPerDay      float64 `json:"usdPerDay,omitempty"`
	USDPerMonth    float64 `json:"usdPerMonth,omitempty"`
	TTSCharsPerDay int64   `json:"ttsCharsPerDay,omitempty"`
}

// Sessions holds chat session retention.
type Sessions struct {
	MaxMessages int      `json:"maxMessages,omitempty"`
	MaxAge      Duration `json:"maxAge,omitzero"`
}

// Cache configures the tenant's answer cache.
type Cache struct {
	Enabled      bool     `json:"enabled,omitempty"`
	EmbeddingTTL Duration `json:"embeddingTtl,omitzero"`
	TTL          Duration `json:"ttl,omitzero"`
	SearchTTL    Duration `json:"searchTtl,omitzero"`
}

// RAG configures chunking, retrieval and answer assembly.
type RAG struct {
	// Seed is a folder of documents, relative to the tenant's folder,
	// ingested when the tenant's knowledge base has never held one.
	Seed             string    `json:"seed,omitempty"`
	Enabled          bool      `json:"enabled,omitempty"`
	MaxContextTokens int       `json:"maxContextTokens,omitempty"`
	Redact           []string  `json:"redact,omitempty"`
	Reranker         *Reranker `json:"reranker,omitempty"`
	ChunkTokens      int       `json:"chunkTokens,omitempty"`
	OverlapTokens    int       `json:"overlapTokens,omitempty"`
	TopK             int       `json:"topK,omitempty"`
	MaxTopK          int       `json:"maxTopK,omitempty"`
	Template         string    `json:"template,omitempty"`
	MinConfidence    float64   `json:"minConfidence,omitempty"`
	// GroundCompletions grounds POST /v1/chat/completions in the
	// knowledge base as POST /chat is.
	GroundCompletions bool `json:"groundCompletions,omitempty"`
}

// Reranker is an HTTP reranking service.
type Reranker struct {
	BaseURL   string   `json:"baseUrl"`
	Model     string   `json:"model"`
	APIKeyEnv string   `json:"apiKeyEnv,omitempty"`
	Timeout   Duration `json:"timeout,omitzero"`
}

// Tools configures which builtin tools the tenant exposes.
type Tools struct {
	Enabled   []string `json:"enabled,omitempty"`
	MaxRounds int      `json:"maxRounds,omitempty"`
	Intents   []string `json:"intents,omitempty"`
	// AuditRetention is how long audit records are kept.
	AuditRetention Duration `json:"auditRetention,omitzero"`
}

// TTS configures text to speech.
type TTS struct {
	Adapter    string   `json:"adapter,omitempty"`
	Provider   string   `json:"provider,omitempty"`
	Model      string   `json:"model,omitempty"`
	Voice      string   `json:"voice,omitempty"`
	Voices     []string `json:"voices,omitempty"`
	MaxChars   int      `json:"maxChars,omitempty"`
	AsyncChars int      `json:"asyncChars,omitempty"`
}

// Safety holds input checks applied before any model call.
type Safety struct {
	MaxInputChars int      `json:"maxInputChars,omitempty"`
	BlockedTerms  []string `json:"blockedTerms,omitempty"`
}

// Duration is a time.Duration written as text ("30s", "24h") in config.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// SecretEnv returns the names of the environment variables the config
// reads secrets from (provider API keys and headers, AI Gateway tokens, the
// reranker's key), sorted, each once: what a server must have to serve it.
func (c *Config) SecretEnv() []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, p := range c.Providers {
		add(p.APIKeyEnv)
		for _, n := range p.HeaderEnv {
			add(n)
		}
		if p.Gateway != nil {
			add(p.Gateway.TokenEnv)
		}
	}
	if c.RAG.Reranker != nil {
		add(c.RAG.Reranker.APIKeyEnv)
	}
	slices.Sort(names)
	return names
}
