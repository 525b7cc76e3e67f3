package openai

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

// DefaultName is the provider name used when Config.Name is empty.
const DefaultName = "openai"

// Config configures a Client. The API key is a value: the caller resolves
// the environment variable a tenant config names. Config implements
// slog.LogValuer and fmt.Stringer so that a logged or printed Config never
// shows the key or a header value.
type Config struct {
	// Name is the provider name from the tenant config, used in errors and
	// logs; default "openai".
	Name string
	// BaseURL is the API root, with the version: "https://api.openai.com/v1",
	// "http://localhost:11434/v1".
	BaseURL string
	// APIKey, when set, is sent as "Authorization: Bearer <APIKey>".
	APIKey string
	// Headers are extra request headers. They may not set Content-Type,
	// Accept, Content-Length or Host, nor Authorization when APIKey is set.
	Headers map[string]string
	// Timeout bounds one attempt until the response headers arrive (and an
	// Embed call as a whole); 0 means no bound but the caller's context.
	Timeout time.Duration
	// HTTPClient makes the requests; default a client with a shared pooled
	// transport and no total timeout. Its redirect policy is replaced:
	// redirects are never followed.
	HTTPClient *http.Client
}

// managedHeaders are set by the client and may not appear in Config.Headers.
var managedHeaders = []string{"Content-Type", "Accept", "Content-Length", "Host"}

// Validate reports what is wrong with c, or nil.
func (c Config) Validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("baseUrl is required"))
	} else if err := provider.CheckBaseURL(c.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("baseUrl: %w", err))
	}
	if !httpguts.ValidHeaderFieldValue(c.APIKey) {
		errs = append(errs, errors.New("the API key contains characters not allowed in a header"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, fmt.Errorf("header %q: not a valid header name", name))
		case slices.Contains(managedHeaders, canon):
			errs = append(errs, fmt.Errorf("header %q is set by the client and cannot be configured", name))
		case canon == "Authorization" && c.APIKey != "":
			errs = append(errs, fmt.Errorf("header %q conflicts with the API key", name))
		case !httpguts.ValidHeaderFieldValue(c.Headers[name]):
			errs = append(errs, fmt.Errorf("header %q: value contains characters not allowed in a header", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		name := c.Name
		if name == "" {
			name = DefaultName
		}
		return fmt.Errorf("openai provider %q: %w", name, err)
	}
	return nil
}

// LogValue implements slog.LogValuer: the key is shown only as set or not,
// header values not at all.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("baseUrl", c.BaseURL),
		slog.String("apiKey", provider.Redact(c.APIKey)),
		slog.Any("headers", slices.Sorted(maps.Keys(c.Headers))),
		slog.Duration("timeout", c.Timeout),
	)
}

// String implements fmt.Stringer with the same redactions as LogValue.
func (c Config) String() string { return c.LogValue().String() }

// GoString keeps %#v from printing the key.
func (c Config) GoString() string { return "openai.Config" + c.String() }
