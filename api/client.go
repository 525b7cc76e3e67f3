package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is a small Go client of the Crispy Enigma API. It sends the API key
// of one tenant with every request and returns failures as *Error.
type Client struct {
	base *url.URL
	key  string
	http *http.Client
}

// NewClient returns a client of the server at baseURL (for example
// "http://127.0.0.1:8080") using key. A nil hc means http.DefaultClient.
func NewClient(baseURL, key string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api: base URL %q: want http(s)://host[:port]", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, key: key, http: hc}, nil
}

// Health returns the health of the key's tenant (GET /health).
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.do(ctx, http.MethodGet, "/health", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// do sends a request with an optional JSON body and decodes the envelope's
// data into out. A failure envelope comes back as *Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	var env Envelope
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&env); err != nil {
		return fmt.Errorf("api: %s %s: status %d: response is not an envelope: %w", method, path, res.StatusCode, err)
	}
	if !env.OK {
		if env.Error == nil {
			return fmt.Errorf("api: %s %s: status %d without an error", method, path, res.StatusCode)
		}
		return env.Error
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("api: %s %s: decode data: %w", method, path, err)
		}
	}
	return nil
}

// Tools lists the tools the key may invoke (GET /tools).
func (c *Client) Tools(ctx context.Context) (*ToolList, error) {
	var l ToolList
	if err := c.do(ctx, http.MethodGet, "/tools", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// InvokeTool runs the tool called name with args, a JSON object
// (POST /tools/{name}/invoke).
func (c *Client) InvokeTool(ctx context.Context, name string, args json.RawMessage) (*ToolResult, error) {
	var res ToolResult
	if err := c.do(ctx, http.MethodPost, "/tools/"+url.PathEscape(name)+"/invoke", ToolInvocation{Args: args}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// AuditQuery selects a page of the audit log; its zero value is the
// newest page of the default size.
type AuditQuery struct {
	From, To time.Time
	Tool     string
	Limit    int
	Cursor   string // AuditPage.Next of the previous page
}

// Audit returns a page of the tenant's tool audit log, newest first
// (GET /audit; the key needs the scope admin).
func (c *Client) Audit(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339Nano))
	}
	if q.Tool != "" {
		v.Set("tool", q.Tool)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	path := "/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var p AuditPage
	if err := c.do(ctx, http.MethodGet, path, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
