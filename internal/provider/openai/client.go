package openai

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// Client calls one OpenAI-compatible endpoint. It is safe for concurrent use.
type Client struct {
	cfg      Config
	http     *http.Client
	header   http.Header // sent with every request
	chatURL  string
	embedURL string
	now      func() time.Time
}

// Compile-time interface guards.
var (
	_ provider.Chatter  = (*Client)(nil)
	_ provider.Embedder = (*Client)(nil)
)

// sharedTransport is the default transport: http.DefaultTransport's
// settings with more idle connections per host, since a gateway keeps
// calling the same few hosts.
var sharedTransport = sync.OnceValue(func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
})

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	h := make(http.Header, len(cfg.Headers)+3)
	headers := make(map[string]string, len(cfg.Headers))
	for k, v := range cfg.Headers {
		headers[k] = v
		h.Set(k, v)
	}
	cfg.Headers = headers
	if cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	h.Set("Content-Type", "application/json")
	hc := &http.Client{Transport: sharedTransport()}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		cfg:      cfg,
		http:     hc,
		header:   h,
		chatURL:  cfg.BaseURL + "/chat/completions",
		embedURL: cfg.BaseURL + "/embeddings",
		now:      time.Now,
	}, nil
}

// Name returns the provider name used in errors.
func (c *Client) Name() string { return c.cfg.Name }

// attempt is one HTTP call: its context, derived from the caller's, and the
// timer that bounds it until the response headers arrive.
type attempt struct {
	caller context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

// timeoutError is the cause of an attempt's context when Timeout expired.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("no response within %s", e.d) }

// Timeout reports true, for net.Error-style checks.
func (e *timeoutError) Timeout() bool { return true }

func (c *Client) newAttempt(ctx context.Context) *attempt {
	a := &attempt{caller: ctx}
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	if d := c.cfg.Timeout; d > 0 {
		a.timer = time.AfterFunc(d, func() { a.cancel(&timeoutError{d}) })
	}
	return a
}

// timedOut reports whether the attempt's timer has cancelled it.
func (a *attempt) timedOut() bool {
	_, ok := context.Cause(a.ctx).(*timeoutError)
	return ok
}

// stopTimer stops the attempt's timer and reports whether it had already
// expired.
func (a *attempt) stopTimer() bool {
	return a.timer != nil && !a.timer.Stop()
}

// post sends body to url and returns the response once its headers have
// arrived with status 200. On any other outcome the attempt is over and the
// error is classified. The attempt's timer is stopped once the headers are
// in, unless wholeCall says it bounds the reading of the body too.
func (c *Client) post(a *attempt, url, accept string, body []byte, wholeCall bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(a.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, c.fail(provider.KindBadRequest, 0, "cannot build the request", err)
	}
	req.Header = c.header.Clone()
	req.Header.Set("Accept", accept)
	resp, err := c.http.Do(req)
	expired := false
	if !wholeCall {
		expired = a.stopTimer() // the timer fired: whatever came back is a timeout
	}
	if err != nil {
		return nil, c.transportError(a.caller, expired || a.timedOut(), err)
	}
	if expired {
		resp.Body.Close()
		return nil, c.transportError(a.caller, true, context.Cause(a.ctx))
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, c.statusError(resp)
	}
	return resp, nil
}
