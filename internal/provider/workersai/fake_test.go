package workersai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/workersai"
)

// Secrets used by every test; no output may contain them.
const (
	apiToken     = "wai-SECRET-api-token-123"
	gatewayToken = "aig-SECRET-gateway-token-456"
	accountID    = "0123456789abcdef0123456789abcdef"
	gatewayID    = "crispy-gw"
	chatModel    = "@cf/meta/llama-3.1-8b-instruct"
	embedModel   = "@cf/baai/bge-base-en-v1.5"
)

// recorded is what the fake saw of one request.
type recorded struct {
	Method      string
	RequestURI  string
	EscapedPath string
	Header      http.Header
	Body        []byte
}

// fake is a local Workers AI / AI Gateway that speaks the documented wire
// format: the v4 envelope, SSE chunks, error codes and AI Gateway headers.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []recorded
	handler http.HandlerFunc

	// cancelled is closed when a handler that waits sees the request's
	// context end (the client went away).
	cancelled chan struct{}
	once      sync.Once
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{t: t, handler: h, cancelled: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Method: r.Method, RequestURI: r.RequestURI, EscapedPath: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body})
		h := f.handler
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fake) last() recorded {
	f.t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		f.t.Fatal("the fake received no request")
	}
	return reqs[len(reqs)-1]
}

// waitCancelled blocks the handler until the client goes away, and records
// that it did.
func (f *fake) waitCancelled(r *http.Request) {
	select {
	case <-r.Context().Done():
		f.once.Do(func() { close(f.cancelled) })
	case <-time.After(10 * time.Second):
	}
}

func (f *fake) assertCancelled(t *testing.T) {
	t.Helper()
	select {
	case <-f.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the fake never saw the request context cancelled")
	}
}

// directConfig calls the fake as the Cloudflare API.
func (f *fake) directConfig() workersai.Config {
	return workersai.Config{AccountID: accountID, APIToken: apiToken, BaseURL: f.srv.URL + "/client/v4"}
}

// gatewayConfig calls the fake as AI Gateway.
func (f *fake) gatewayConfig() workersai.Config {
	cfg := f.directConfig()
	cfg.BaseURL = "http://127.0.0.1:1/never-used"
	cfg.Gateway = &workersai.GatewayConfig{ID: gatewayID, Token: gatewayToken, BaseURL: f.srv.URL + "/v1"}
	return cfg
}

func newClient(t *testing.T, cfg workersai.Config) *workersai.Client {
	t.Helper()
	c, err := workersai.New(overTransport(t, cfg))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// sse answers with the given data payloads as events, flushing each.
func sse(header http.Header, events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for _, e := range events {
			fmt.Fprintf(w, "data: %s\n\n", e)
			w.(http.Flusher).Flush()
		}
	}
}

// raw answers with a status, headers and a body as given.
func raw(status int, contentType string, header http.Header, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// envelopeErr is a Cloudflare v4 failure envelope.
func envelopeErr(code int, msg string) string {
	b, _ := json.Marshal(map[string]any{
		"result": nil, "success": false, "messages": []any{},
		"errors": []map[string]any{{"code": code, "message": msg}},
	})
	return string(b)
}

// envelopeOK is a Cloudflare v4 success envelope around result.
func envelopeOK(result any) string {
	b, _ := json.Marshal(map[string]any{"result": result, "success": true, "errors": []any{}, "messages": []any{}})
	return string(b)
}

func chatReq() *provider.ChatRequest {
	return &provider.ChatRequest{
		Model:    chatModel,
		Messages: []provider.Message{{Role: provider.RoleUser, Content: "Where did Hello World come from?"}},
		Meta:     provider.Meta{Tenant: "acme", Route: "chat", RequestID: "req-1"},
	}
}

// drain reads a stream to its end and returns the deltas and the error
// that ended it (io.EOF for a clean end).
func drain(t *testing.T, st provider.Stream) ([]provider.Delta, error) {
	t.Helper()
	var ds []provider.Delta
	for range 10000 {
		d, err := st.Recv()
		if err != nil {
			return ds, err
		}
		ds = append(ds, d)
	}
	t.Fatal("stream did not end")
	return nil, nil
}

func text(ds []provider.Delta) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Text)
	}
	return b.String()
}

// asProviderError fails the test unless err is a *provider.Error of kind.
func asProviderError(t *testing.T, err error, kind provider.Kind) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want a *provider.Error of kind %s", err, err, kind)
	}
	if pe.Kind != kind {
		t.Fatalf("kind = %s, want %s (err: %v)", pe.Kind, kind, err)
	}
	if strings.Contains(err.Error(), apiToken) || strings.Contains(err.Error(), gatewayToken) {
		t.Fatalf("error shows a secret: %v", err)
	}
	return pe
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
