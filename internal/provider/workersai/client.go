package workersai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// Response headers set by AI Gateway.
const (
	headerCacheStatus = "Cf-Aig-Cache-Status"
	headerLogID       = "Cf-Aig-Log-Id"
)

// Client calls Workers AI models. It is safe for concurrent use.
type Client struct {
	cfg     Config
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
}

// Compile-time interface guards.
var (
	_ provider.Chatter  = (*Client)(nil)
	_ provider.Embedder = (*Client)(nil)
	_ interface {
		EmbedWithCache(context.Context, *provider.EmbedRequest) (*provider.EmbedResponse, bool, error)
	} = (*Client)(nil)
)

// New validates cfg, fills in its defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Gateway != nil {
		g := *cfg.Gateway
		if g.BaseURL == "" {
			g.BaseURL = DefaultGatewayBaseURL
		}
		g.BaseURL = strings.TrimRight(g.BaseURL, "/")
		cfg.Gateway = &g
	}
	headers := make(map[string]string, len(cfg.Headers))
	for k, v := range cfg.Headers {
		headers[k] = v
	}
	cfg.Headers = headers
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{cfg: cfg, http: hc, timeout: timeout, now: time.Now}, nil
}

// Name returns the provider name used in errors.
func (c *Client) Name() string { return c.cfg.Name }

// LogValue implements slog.LogValuer, so that logging a Client shows its
// redacted Config.
func (c *Client) LogValue() slog.Value { return c.cfg.LogValue() }

// String implements fmt.Stringer, with the Config's redactions.
func (c *Client) String() string { return "workersai.Client" + c.cfg.String() }

// GoString keeps %#v from printing secrets.
func (c *Client) GoString() string { return c.String() }

// runURL returns the run endpoint for model, direct or through the gateway.
func (c *Client) runURL(model string) string {
	path := escapeModel(model)
	if g := c.cfg.Gateway; g != nil {
		return g.BaseURL + "/" + url.PathEscape(c.cfg.AccountID) + "/" + url.PathEscape(g.ID) + "/workers-ai/" + path
	}
	return c.cfg.BaseURL + "/accounts/" + url.PathEscape(c.cfg.AccountID) + "/ai/run/" + path
}

// checkModel refuses a model name that could leave the run path.
func checkModel(model string) error {
	if model == "" {
		return errors.New("no model given")
	}
	for seg := range strings.SplitSeq(model, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("model %q has an empty, \".\" or \"..\" path segment", model)
		}
		for i := 0; i < len(seg); i++ {
			ch := seg[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("._@:+~-", ch) >= 0) {
				return fmt.Errorf("model %q has a character outside [A-Za-z0-9._@:+~-]", model)
			}
		}
	}
	return nil
}

func escapeModel(model string) string {
	segs := strings.Split(model, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// call is one HTTP exchange in progress. Its context is cancelled by Close,
// by the caller's context, or by the timer when the upstream is too slow.
type call struct {
	parent   context.Context
	ctx      context.Context
	cancel   context.CancelFunc
	timer    *time.Timer
	timedOut atomic.Bool
	closed   atomic.Bool
}

// refused reads the body of an answer that is not a success and maps it
// to a provider error; it closes the body and releases the call.
func (c *Client) refused(k *call, resp *http.Response) error {
	defer k.release()
	defer resp.Body.Close()
	b, err := readBody(resp.Body, maxErrorBody)
	if err != nil && (k.parent.Err() != nil || k.timedOut.Load()) {
		return c.transportError(k, err)
	}
	return c.classify(resp.StatusCode, resp.Header, b)
}

func (c *Client) newCall(parent context.Context) *call {
	ctx, cancel := context.WithCancel(parent)
	k := &call{parent: parent, ctx: ctx, cancel: cancel}
	k.timer = time.AfterFunc(c.timeout, func() {
		k.timedOut.Store(true)
		cancel()
	})
	return k
}

// release stops the timer and cancels the request; safe to repeat.
func (k *call) release() {
	k.timer.Stop()
	k.cancel()
}

// meta is the cf-aig-metadata object: three of the five entries AI Gateway
// keeps, empty ones left out.
type meta struct {
	Tenant    string `json:"tenant,omitempty"`
	Route     string `json:"route,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// metadataHeader returns the cf-aig-metadata value for m, or "" when m is
// empty. Non-ASCII is written as \u escapes so the header stays ASCII.
func metadataHeader(m provider.Meta) string {
	if m == (provider.Meta{}) {
		return ""
	}
	b, err := json.Marshal(meta{Tenant: m.Tenant, Route: m.Route, RequestID: m.RequestID})
	if err != nil {
		return ""
	}
	return asciiJSON(b)
}

// asciiJSON rewrites the non-ASCII characters of valid JSON text as \u
// escapes (UTF-16 surrogate pairs above the BMP). json.Marshal already
// escapes control characters, so the result is a safe header value.
func asciiJSON(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			sb.WriteByte(b[0])
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&sb, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
		b = b[size:]
	}
	return sb.String()
}

// newRequest builds a POST of body to the run endpoint of model, with every
// header the configuration asks for.
func (c *Client) newRequest(ctx context.Context, model string, body []byte, accept string, m provider.Meta) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.runURL(model), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIToken)
	if g := c.cfg.Gateway; g != nil {
		if g.Token != "" {
			req.Header.Set("cf-aig-authorization", "Bearer "+g.Token)
		}
		if v := metadataHeader(m); v != "" {
			req.Header.Set("cf-aig-metadata", v)
		}
		if g.CacheTTL > 0 {
			req.Header.Set("cf-aig-cache-ttl", strconv.FormatInt(int64(g.CacheTTL/time.Second), 10))
		}
		if g.SkipCache {
			req.Header.Set("cf-aig-skip-cache", "true")
		}
		req.Header.Set("cf-aig-request-timeout", strconv.FormatInt(c.requestTimeout(ctx).Milliseconds(), 10))
	}
	return req, nil
}

// requestTimeout is the time to first byte the gateway may take: Timeout,
// or the time left before the caller's deadline if that is nearer.
func (c *Client) requestTimeout(ctx context.Context) time.Duration {
	d := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(c.now()); left < d {
			d = left
		}
	}
	return max(d, time.Millisecond)
}

// send makes the request and classifies a failure to get a response.
func (c *Client) send(k *call, req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(k, err)
	}
	return resp, nil
}

// transportError classifies an error from the transport or from reading a
// body: the caller's cancellation or deadline first, then Close, then our
// timer, then a broken connection.
func (c *Client) transportError(k *call, err error) error {
	switch {
	case k.parent.Err() != nil:
		cause := k.parent.Err()
		kind := provider.KindConnection
		if errors.Is(cause, context.DeadlineExceeded) {
			kind = provider.KindTimeout
		}
		return &provider.Error{Provider: c.cfg.Name, Kind: kind, Message: "request cancelled by the caller", Err: cause}
	case k.closed.Load():
		return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindConnection, Message: "stream closed", Err: context.Canceled}
	case k.timedOut.Load():
		return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindTimeout, Message: fmt.Sprintf("no response within %s", c.timeout), Err: context.DeadlineExceeded}
	}
	return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindConnection, Err: err}
}

// readBody reads at most limit bytes of r. A longer body, or a read error,
// returns what was read along with the error.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("response body larger than %d bytes", limit)
	}
	return b, nil
}

// gatewayInfo holds what AI Gateway said about how it served a call.
type gatewayInfo struct {
	cacheStatus string
	logID       string
}

func gatewayInfoOf(h http.Header) gatewayInfo {
	return gatewayInfo{cacheStatus: h.Get(headerCacheStatus), logID: h.Get(headerLogID)}
}

func (g gatewayInfo) hit() bool { return strings.EqualFold(g.cacheStatus, "HIT") }
