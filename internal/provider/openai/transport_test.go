package openai_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/openai"
)

// These tests look at what a client transport changes (TestMain runs them
// over h1 and over net/http): connections kept or not after failures,
// large bodies both ways, and many calls at once.

// counted runs a mock with cfg and counts the connections it accepts.
func counted(t *testing.T, cfg mockupstream.Config) (*openai.Client, *mockupstream.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	mock := mockupstream.New(cfg)
	hs := httptest.NewUnstartedServer(mock)
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(func() {
		mock.Close()
		hs.Close()
	})
	c, err := openai.New(overTransport(t, openai.Config{Name: "mock", BaseURL: hs.URL + "/v1"}))
	if err != nil {
		t.Fatal(err)
	}
	return c, mock, &conns
}

// TestRetriesOnOneConnection makes the calls a gateway makes when it
// retries: refusals with and without Retry-After, then success, all on the
// connection of the first, since each answer is read to its end.
func TestRetriesOnOneConnection(t *testing.T) {
	c, _, conns := counted(t, mockupstream.Config{Reply: "at last", Script: []mockupstream.Step{
		{Status: 429, RetryAfter: 2 * time.Second},
		{Status: 503},
		{Status: 500},
	}})
	for _, want := range []struct {
		kind       provider.Kind
		status     int
		retryAfter time.Duration
	}{{provider.KindRateLimited, 429, 2 * time.Second}, {provider.KindOverloaded, 503, 0}, {provider.KindOverloaded, 500, 0}} {
		_, err := c.Chat(t.Context(), chatReq("x"))
		pe := failure(t, err, want.kind, want.status)
		if pe.RetryAfter != want.retryAfter {
			t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, want.retryAfter)
		}
	}
	st, err := c.Chat(t.Context(), chatReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := collect(t, st)
	if err != io.EOF || text(ds) != "at last" {
		t.Fatalf("text %q, end %v", text(ds), err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for three refusals and an answer, want 1", n)
	}
}

// TestLargeBodies sends a prompt of several MiB and reads long answers,
// streamed and not.
func TestLargeBodies(t *testing.T) {
	c, srv, _ := counted(t, mockupstream.Config{})
	prompt := strings.Repeat("word ", 1<<18) // 1.25 MiB
	req := chatReq(prompt)
	req.Buffered = true
	st, err := c.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := collect(t, st)
	if err != io.EOF {
		t.Fatal(err)
	}
	if got := strings.Fields(text(ds)); len(got) != 1<<18 {
		t.Errorf("the echo of a prompt of %d words has %d", 1<<18, len(got))
	}
	if r, _ := srv.LastRequest(); len(r.Body) < len(prompt) {
		t.Errorf("the server read %d bytes of a %d-byte prompt", len(r.Body), len(prompt))
	}

	for _, buffered := range []bool{false, true} {
		c, _ := start(t, mockupstream.Config{Reply: "long", CompletionTokens: 20000}, nil)
		req := chatReq("x")
		req.Buffered = buffered
		st, err := c.Chat(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := collect(t, st)
		if err != io.EOF {
			t.Fatalf("buffered %v: %v", buffered, err)
		}
		var usage *provider.Usage
		for _, d := range ds {
			if d.Usage != nil {
				usage = d.Usage
			}
		}
		if n := strings.Count(text(ds), "long"); n != 20000 || usage == nil || usage.CompletionTokens != 20000 {
			t.Errorf("buffered %v: %d tokens, usage %+v", buffered, n, usage)
		}
	}
}

// TestManyAtOnce runs concurrent streams, some abandoned after their
// first delta, over one client, and checks that every finished one got
// its whole text and that the upstream is left with no call open.
func TestManyAtOnce(t *testing.T) {
	c, srv, _ := counted(t, mockupstream.Config{Reply: "a b c d e f g h", TokensPerSecond: 200})
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			st, err := c.Chat(t.Context(), chatReq("x"))
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			if i%4 == 0 { // abandon after the first delta
				_, err := st.Recv()
				if err != nil {
					errs <- err
				}
				return
			}
			var got strings.Builder
			for {
				d, err := st.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- err
					return
				}
				got.WriteString(d.Text)
			}
			if got.String() != "a b c d e f g h" {
				errs <- &provider.Error{Provider: "test", Message: "text " + got.String()}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ctx := waitCtx(t)
	if _, err := srv.Wait(ctx, func(s mockupstream.Stats) bool { return s.Active == 0 && s.Streams == n }); err != nil {
		t.Errorf("stats %+v: %v", srv.Stats(), err)
	}
}
