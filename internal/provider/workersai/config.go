package workersai

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultName           = "workersai"
	DefaultBaseURL        = "https://api.cloudflare.com/client/v4"
	DefaultGatewayBaseURL = "https://gateway.ai.cloudflare.com/v1"
	DefaultTimeout        = 60 * time.Second
)

// Limits from Cloudflare's documentation.
const (
	// MinCacheTTL and MaxCacheTTL bound cf-aig-cache-ttl ("the minimum TTL
	// is 60 seconds and the maximum TTL is one month").
	MinCacheTTL = 60 * time.Second
	MaxCacheTTL = 30 * 24 * time.Hour
	// maxGatewayIDLen is the gateway name limit ("64 character limit").
	maxGatewayIDLen = 64
)

// Config configures a Client. Secrets are values: the caller resolves
// environment variable names (tenant config's apiKeyEnv, tokenEnv,
// headerEnv) before building it. Config implements slog.LogValuer and
// fmt.Stringer so that a logged or printed Config never shows a secret.
type Config struct {
	// Name is the provider name in errors and logs; default "workersai".
	Name string
	// AccountID is the Cloudflare account that runs the models.
	AccountID string
	// APIToken is the Workers AI API token, sent as Authorization: Bearer.
	APIToken string
	// BaseURL overrides the Cloudflare API base, default DefaultBaseURL.
	BaseURL string
	// Gateway, when set, sends every call through AI Gateway.
	Gateway *GatewayConfig
	// Headers are extra request headers. They may not set the headers the
	// client manages (Authorization, Content-Type, Accept, and the cf-aig-*
	// headers listed in the package documentation).
	Headers map[string]string
	// Timeout bounds the wait for a response to start and, in a stream, for
	// each next event; default DefaultTimeout.
	Timeout time.Duration
	// HTTPClient makes the requests; default a client without a total
	// timeout (streams last as long as the answer). Its redirect policy is
	// replaced: redirects are never followed.
	HTTPClient *http.Client
}

// GatewayConfig routes calls through Cloudflare AI Gateway. It implements
// slog.LogValuer and fmt.Stringer, hiding the token.
type GatewayConfig struct {
	// ID is the gateway's name.
	ID string
	// Token is the gateway's authentication token (value), sent as
	// cf-aig-authorization: Bearer; empty for an unauthenticated gateway.
	Token string
	// CacheTTL is sent as cf-aig-cache-ttl in whole seconds; zero leaves the
	// gateway's default. Nonzero values must lie in [MinCacheTTL, MaxCacheTTL].
	CacheTTL time.Duration
	// SkipCache sends cf-aig-skip-cache: true.
	SkipCache bool
	// BaseURL overrides the gateway base, default DefaultGatewayBaseURL.
	BaseURL string
}

// managedHeaders are set by the client and may not appear in Config.Headers.
var managedHeaders = []string{
	"Authorization", "Content-Type", "Accept", "Content-Length", "Host",
	"Cf-Aig-Authorization", "Cf-Aig-Metadata", "Cf-Aig-Cache-Ttl",
	"Cf-Aig-Skip-Cache", "Cf-Aig-Request-Timeout",
}

// Validate reports what is wrong with c, or nil.
func (c Config) Validate() error {
	var errs []error
	if c.AccountID == "" {
		errs = append(errs, errors.New("accountId is required"))
	} else if !isIdent(c.AccountID, 64) {
		errs = append(errs, errors.New("accountId may only contain letters, digits, '-' and '_' (at most 64)"))
	}
	if c.APIToken == "" {
		errs = append(errs, errors.New("the API token is required"))
	} else if !httpguts.ValidHeaderFieldValue(c.APIToken) {
		errs = append(errs, errors.New("the API token contains characters not allowed in a header"))
	}
	if c.BaseURL != "" {
		if err := provider.CheckBaseURL(c.BaseURL); err != nil {
			errs = append(errs, fmt.Errorf("baseUrl: %w", err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	if g := c.Gateway; g != nil {
		if g.ID == "" {
			errs = append(errs, errors.New("gateway.id is required"))
		} else if !isIdent(g.ID, maxGatewayIDLen) {
			errs = append(errs, fmt.Errorf("gateway.id may only contain letters, digits, '-' and '_' (at most %d)", maxGatewayIDLen))
		}
		if g.Token != "" && !httpguts.ValidHeaderFieldValue(g.Token) {
			errs = append(errs, errors.New("the gateway token contains characters not allowed in a header"))
		}
		if g.CacheTTL != 0 && (g.CacheTTL < MinCacheTTL || g.CacheTTL > MaxCacheTTL) {
			errs = append(errs, fmt.Errorf("gateway.cacheTtl %s is outside [%s, %s]", g.CacheTTL, MinCacheTTL, MaxCacheTTL))
		}
		if g.BaseURL != "" {
			if err := provider.CheckBaseURL(g.BaseURL); err != nil {
				errs = append(errs, fmt.Errorf("gateway baseUrl: %w", err))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, fmt.Errorf("header %q: not a valid header name", name))
		case slices.Contains(managedHeaders, http.CanonicalHeaderKey(name)):
			errs = append(errs, fmt.Errorf("header %q is set by the client and cannot be configured", name))
		case !httpguts.ValidHeaderFieldValue(c.Headers[name]):
			errs = append(errs, fmt.Errorf("header %q: value contains characters not allowed in a header", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("workersai config: %w", err)
	}
	return nil
}

// LogValue implements slog.LogValuer: secrets are shown only as set or
// not, header values not at all.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", c.Name),
		slog.String("accountId", c.AccountID),
		slog.String("apiToken", provider.Redact(c.APIToken)),
		slog.String("baseUrl", c.BaseURL),
		slog.Duration("timeout", c.Timeout),
		slog.Any("headers", slices.Sorted(maps.Keys(c.Headers))),
	}
	if c.Gateway != nil {
		attrs = append(attrs, slog.Any("gateway", c.Gateway))
	}
	return slog.GroupValue(attrs...)
}

// String implements fmt.Stringer with the same redactions as LogValue.
func (c Config) String() string { return c.LogValue().String() }

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return "workersai.Config" + c.String() }

// LogValue implements slog.LogValuer, hiding the token.
func (g GatewayConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", g.ID),
		slog.String("token", provider.Redact(g.Token)),
		slog.Duration("cacheTtl", g.CacheTTL),
		slog.Bool("skipCache", g.SkipCache),
		slog.String("baseUrl", g.BaseURL),
	)
}

// String implements fmt.Stringer with the same redactions as LogValue.
func (g GatewayConfig) String() string { return g.LogValue().String() }

// GoString keeps %#v from printing the token.
func (g GatewayConfig) GoString() string { return "workersai.GatewayConfig" + g.String() }

// isIdent reports whether s is 1..max characters of [A-Za-z0-9_-].
func isIdent(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
