package workersai_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
)

func TestChatErrorClasses(t *testing.T) {
	retryAt := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name        string
		status      int
		contentType string
		header      http.Header
		body        string
		kind        provider.Kind
		retryAfter  func(time.Duration) bool
		message     string
	}{
		{name: "no such model", status: 400, body: envelopeErr(5007, "No such model @cf/meta/nope or task"), kind: provider.KindNotFound, message: "5007: No such model"},
		{name: "invalid model id", status: 404, body: envelopeErr(3042, "The model name is invalid"), kind: provider.KindNotFound},
		{name: "no route", status: 404, body: envelopeErr(7003, "No route for the URI"), kind: provider.KindNotFound},
		{name: "plain 404", status: 404, body: "not found", kind: provider.KindNotFound},
		{name: "invalid data", status: 400, body: envelopeErr(5004, "Invalid data type for base64 input: x"), kind: provider.KindBadRequest},
		{name: "incomplete request", status: 400, body: envelopeErr(3003, "Request is missing headers or body: body"), kind: provider.KindBadRequest},
		{name: "too large", status: 413, body: envelopeErr(3006, "Request is too large"), kind: provider.KindBadRequest},
		{name: "lora unsupported", status: 405, body: envelopeErr(5005, "The model does not support LoRa inference"), kind: provider.KindBadRequest},
		{name: "plain 400", status: 400, kind: provider.KindBadRequest},
		{name: "authentication error", status: 401, body: envelopeErr(10000, "Authentication error"), kind: provider.KindAuth, message: "10000: Authentication error"},
		{name: "gateway unauthorized", status: 401, body: `{"success":false,"result":[],"messages":[],"error":[{"code":2009,"message":"Unauthorized"}]}`, kind: provider.KindAuth, message: "2009: Unauthorized"},
		{name: "account blocked", status: 403, body: envelopeErr(3023, "Service unavailable for account"), kind: provider.KindAuth},
		{name: "model agreement", status: 403, body: envelopeErr(5016, "User has not agreed to Llama3.2 model terms"), kind: provider.KindAuth},
		{name: "plain 403", status: 403, body: "<html>forbidden</html>", contentType: "text/html", kind: provider.KindAuth},
		{name: "upstream timeout code", status: 408, body: envelopeErr(3007, "Request timeout"), kind: provider.KindTimeout},
		{name: "aborted", status: 408, body: envelopeErr(3008, "Request was aborted"), kind: provider.KindConnection},
		{
			name: "out of capacity with Retry-After", status: 429, header: http.Header{"Retry-After": {"2"}},
			body: envelopeErr(3040, "Capacity temporarily exceeded, please try again."), kind: provider.KindOverloaded,
			retryAfter: func(d time.Duration) bool { return d == 2*time.Second },
		},
		{
			name: "daily allocation used up", status: 429,
			body: envelopeErr(3036, "You have used up your daily free allocation of 10,000 neurons."), kind: provider.KindRateLimited,
			retryAfter: func(d time.Duration) bool { return d > 0 && d <= 24*time.Hour },
		},
		{
			name: "429 with an HTTP date", status: 429, header: http.Header{"Retry-After": {retryAt}}, kind: provider.KindRateLimited,
			retryAfter: func(d time.Duration) bool { return d > 80*time.Second && d <= 90*time.Second },
		},
		{name: "429 with a bad Retry-After", status: 429, header: http.Header{"Retry-After": {"soon"}}, kind: provider.KindRateLimited, retryAfter: func(d time.Duration) bool { return d == 0 }},
		{name: "500 html", status: 500, contentType: "text/html", body: "<html>" + strings.Repeat("oops ", 500) + "</html>", kind: provider.KindOverloaded},
		{name: "502", status: 502, kind: provider.KindOverloaded},
		{name: "503 with a code", status: 503, body: envelopeErr(3040, "No more data centers to forward the request to"), kind: provider.KindOverloaded},
		{name: "504", status: 504, kind: provider.KindTimeout},
		{name: "524 cloudflare timeout", status: 524, kind: provider.KindTimeout},
		{name: "529", status: 529, kind: provider.KindOverloaded},
		{name: "gateway log id in message", status: 500, header: http.Header{"Cf-Aig-Log-Id": {"01JABC"}}, body: envelopeErr(9999, "boom"), kind: provider.KindOverloaded, message: "ai gateway log 01JABC"},
		{name: "code as a string", status: 400, body: `{"success":false,"errors":[{"code":"5007","message":"No such model"}]}`, kind: provider.KindNotFound},
		{name: "200 but not a stream", status: 200, contentType: "text/html", body: "<html>login</html>", kind: provider.KindProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			if ct == "" && strings.HasPrefix(tt.body, "{") {
				ct = "application/json"
			}
			f := newFake(t, raw(tt.status, ct, tt.header, tt.body))
			_, err := newClient(t, f.gatewayConfig()).Chat(context.Background(), chatReq())
			pe := asProviderError(t, err, tt.kind)
			if pe.Status != tt.status {
				t.Errorf("status = %d, want %d", pe.Status, tt.status)
			}
			if pe.Provider != "workersai" {
				t.Errorf("provider = %q", pe.Provider)
			}
			if tt.retryAfter != nil && !tt.retryAfter(pe.RetryAfter) {
				t.Errorf("RetryAfter = %s", pe.RetryAfter)
			}
			if tt.retryAfter == nil && pe.RetryAfter != 0 {
				t.Errorf("RetryAfter = %s, want none", pe.RetryAfter)
			}
			if !strings.Contains(pe.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", pe.Message, tt.message)
			}
			if len(pe.Message) > 600 {
				t.Errorf("message is %d bytes long, want it clipped", len(pe.Message))
			}
		})
	}
}

func TestEmbedErrorClasses(t *testing.T) {
	f := newFake(t, raw(429, "application/json", http.Header{"Retry-After": {"3"}}, envelopeErr(3040, "Capacity temporarily exceeded")))
	_, err := newClient(t, f.gatewayConfig()).Embed(context.Background(), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}})
	pe := asProviderError(t, err, provider.KindOverloaded)
	if pe.RetryAfter != 3*time.Second || pe.Status != 429 {
		t.Errorf("error = %+v", pe)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	})
	_, err := newClient(t, f.gatewayConfig()).Chat(context.Background(), chatReq())
	asProviderError(t, err, provider.KindProtocol)
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests (with our tokens), want none", n)
	}
}

func TestConnectionRefused(t *testing.T) {
	f := newFake(t, sse(nil))
	cfg := f.directConfig()
	f.srv.Close()
	_, err := newClient(t, cfg).Chat(context.Background(), chatReq())
	asProviderError(t, err, provider.KindConnection)
}

func TestTimeoutBeforeHeaders(t *testing.T) {
	f := newFake(t, nil)
	f.handler = func(w http.ResponseWriter, r *http.Request) { f.waitCancelled(r) }
	cfg := f.gatewayConfig()
	cfg.Timeout = 150 * time.Millisecond
	start := time.Now()
	_, err := newClient(t, cfg).Chat(context.Background(), chatReq())
	pe := asProviderError(t, err, provider.KindTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v does not wrap context.DeadlineExceeded", pe)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s to time out", el)
	}
	f.assertCancelled(t)
}

func TestTimeoutMidStream(t *testing.T) {
	f := newFake(t, nil)
	f.handler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"response\":\"slow\"}\n\n")
		w.(http.Flusher).Flush()
		f.waitCancelled(r)
	}
	cfg := f.directConfig()
	cfg.Timeout = 150 * time.Millisecond
	st, err := newClient(t, cfg).Chat(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Recv()
	if err != nil || d.Text != "slow" {
		t.Fatalf("first Recv = %+v, %v", d, err)
	}
	_, err = st.Recv()
	asProviderError(t, err, provider.KindTimeout)
	f.assertCancelled(t)
}

func TestSlowButSteadyStreamDoesNotTimeOut(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 6 {
			io.WriteString(w, "data: {\"response\":\""+string(rune('a'+i))+"\"}\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})
	cfg := f.directConfig()
	cfg.Timeout = 400 * time.Millisecond // less than the whole answer, more than any gap
	st, err := newClient(t, cfg).Chat(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, err := drain(t, st)
	if err != io.EOF || text(ds) != "abcdef" {
		t.Fatalf("text %q, end %v", text(ds), err)
	}
}

func TestCallerDeadline(t *testing.T) {
	f := newFake(t, nil)
	f.handler = func(w http.ResponseWriter, r *http.Request) { f.waitCancelled(r) }
	ctx := ctxTimeout(t, 150*time.Millisecond)
	_, err := newClient(t, f.directConfig()).Chat(ctx, chatReq())
	asProviderError(t, err, provider.KindTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v does not wrap context.DeadlineExceeded", err)
	}
	f.assertCancelled(t)
}

func TestCancelBeforeHeaders(t *testing.T) {
	f := newFake(t, nil)
	started := make(chan struct{})
	f.handler = func(w http.ResponseWriter, r *http.Request) {
		close(started)
		f.waitCancelled(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := newClient(t, f.directConfig()).Chat(ctx, chatReq())
	asProviderError(t, err, provider.KindConnection)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v does not wrap context.Canceled", err)
	}
	f.assertCancelled(t)
}

func TestCancelMidStream(t *testing.T) {
	for _, how := range []string{"context", "Close"} {
		t.Run(how, func(t *testing.T) {
			f := newFake(t, nil)
			f.handler = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: {\"response\":\"first\"}\n\n")
				w.(http.Flusher).Flush()
				f.waitCancelled(r)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := newClient(t, f.directConfig()).Chat(ctx, chatReq())
			if err != nil {
				t.Fatal(err)
			}
			if d, err := st.Recv(); err != nil || d.Text != "first" {
				t.Fatalf("first Recv = %+v, %v", d, err)
			}
			// Cancel while Recv is blocked on the stalled upstream.
			go func() {
				time.Sleep(50 * time.Millisecond)
				if how == "Close" {
					st.Close()
				} else {
					cancel()
				}
			}()
			_, err = st.Recv()
			asProviderError(t, err, provider.KindConnection)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err %v does not wrap context.Canceled", err)
			}
			f.assertCancelled(t)
			st.Close()
			st.Close()
		})
	}
}

func TestCloseBeforeRecv(t *testing.T) {
	f := newFake(t, sse(nil, helloStream...))
	st, err := newClient(t, f.directConfig()).Chat(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Recv after Close = %v, want context.Canceled", err)
	}
}
