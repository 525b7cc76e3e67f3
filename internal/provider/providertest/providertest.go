// Package providertest checks that a provider.Chatter keeps the contract
// the gateway relies on, in the style of testing/fstest: any adapter runs
// TestChatter against a live (or mock) endpoint in its own tests.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// Timeouts of the suite.
const (
	// CancelWithin is how soon a cancelled context must end a call.
	CancelWithin = time.Second
	// callTimeout bounds a whole call of the suite.
	callTimeout = 30 * time.Second
	// maxDeltas bounds how many deltas a stream may yield before the suite
	// gives up on seeing its end.
	maxDeltas = 100000
)

// TestChatter runs the conformance suite against c with req, which must be
// a request c answers successfully with some text and, ideally, several
// deltas. It checks that
//
//   - Recv yields deltas and then io.EOF, and io.EOF again after that;
//   - some delta carries Usage with PromptTokens > 0;
//   - Close is safe before io.EOF and after it, and more than once, and a
//     Recv after Close returns an error (not a hang);
//   - a context cancelled before Chat makes Chat or the first Recv fail
//     with an error matching context.Canceled within CancelWithin;
//   - a context cancelled mid-stream makes Recv fail with an error matching
//     context.Canceled within CancelWithin, not end quietly with io.EOF.
func TestChatter(t *testing.T, c provider.Chatter, req *provider.ChatRequest) {
	t.Helper()
	t.Run("StreamToEOF", func(t *testing.T) { testStream(t, c, req) })
	t.Run("CloseBeforeEOF", func(t *testing.T) { testCloseEarly(t, c, req) })
	t.Run("CancelBeforeChat", func(t *testing.T) { testCancelBefore(t, c, req) })
	t.Run("CancelMidStream", func(t *testing.T) { testCancelMid(t, c, req) })
}

// clone gives each call its own request, so that an adapter that changes
// it does not change the next subtest's.
func clone(req *provider.ChatRequest) *provider.ChatRequest {
	r := *req
	return &r
}

func testStream(t *testing.T, c provider.Chatter, req *provider.ChatRequest) {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	st, err := c.Chat(ctx, clone(req))
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if st == nil {
		t.Fatal("Chat returned a nil Stream and no error")
	}
	defer st.Close()
	var (
		n, content int
		usage      *provider.Usage
		finish     string
	)
	for {
		d, err := recvWithin(t, st, callTimeout)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d deltas: %v", n, err)
		}
		n++
		if d.Text != "" || len(d.ToolCalls) > 0 {
			content++
		}
		if d.Usage != nil {
			u := *d.Usage
			usage = &u
		}
		if d.FinishReason != "" {
			finish = d.FinishReason
		}
		if n > maxDeltas {
			t.Fatalf("no io.EOF after %d deltas", n)
		}
	}
	if n == 0 || content == 0 {
		t.Errorf("stream ended after %d deltas, %d with content; want some content", n, content)
	}
	if usage == nil || usage.PromptTokens <= 0 {
		t.Errorf("usage = %+v; want a delta with PromptTokens > 0", usage)
	}
	if finish == "" {
		t.Logf("no delta carried a FinishReason")
	}
	for i := range 3 {
		if _, err := recvWithin(t, st, CancelWithin); err != io.EOF {
			t.Errorf("Recv %d after io.EOF = %v, want io.EOF", i+1, err)
		}
	}
	for i := range 2 {
		if err := closeWithin(t, st); err != nil {
			t.Errorf("Close %d after io.EOF = %v, want nil", i+1, err)
		}
	}
}

func testCloseEarly(t *testing.T, c provider.Chatter, req *provider.ChatRequest) {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	st, err := c.Chat(ctx, clone(req))
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if _, err := recvWithin(t, st, callTimeout); err != nil && err != io.EOF {
		t.Fatalf("first Recv: %v", err)
	}
	for i := range 2 {
		if err := closeWithin(t, st); err != nil {
			t.Errorf("Close %d before io.EOF = %v, want nil", i+1, err)
		}
	}
	// A Recv after Close must end (with any error, io.EOF included), not
	// hang or yield forever.
	for n := 0; ; n++ {
		_, err := recvWithin(t, st, CancelWithin)
		if err != nil {
			break
		}
		if n > maxDeltas {
			t.Fatal("Recv keeps yielding deltas after Close")
		}
	}
}

func testCancelBefore(t *testing.T, c provider.Chatter, req *provider.ChatRequest) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	type result struct {
		st  provider.Stream
		err error
	}
	ch := make(chan result, 1)
	go func() {
		st, err := c.Chat(ctx, clone(req))
		ch <- result{st, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(CancelWithin):
		t.Fatalf("Chat with a cancelled context did not return within %v", CancelWithin)
	}
	if r.err != nil {
		checkCanceled(t, "Chat", r.err)
		return
	}
	defer r.st.Close()
	_, err := recvWithin(t, r.st, CancelWithin)
	if err == nil || err == io.EOF {
		t.Fatalf("Chat and Recv with a cancelled context succeeded (Recv: %v)", err)
	}
	checkCanceled(t, "Recv", err)
}

func testCancelMid(t *testing.T, c provider.Chatter, req *provider.ChatRequest) {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	ctx, stop := context.WithCancel(ctx)
	st, err := c.Chat(ctx, clone(req))
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	defer st.Close()
	if _, err := recvWithin(t, st, callTimeout); err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	stop()
	deadline := time.Now().Add(CancelWithin)
	for n := 0; ; n++ {
		_, err := recvWithin(t, st, time.Until(deadline))
		if err == nil {
			if n > maxDeltas {
				t.Fatal("Recv keeps yielding deltas after the context was cancelled")
			}
			continue
		}
		if err == io.EOF {
			t.Fatal("Recv after the context was cancelled ended with io.EOF; want an error matching context.Canceled")
		}
		checkCanceled(t, "Recv", err)
		break
	}
	if _, err := recvWithin(t, st, CancelWithin); err == nil || err == io.EOF {
		t.Errorf("Recv after a failed Recv = %v, want the error again", err)
	}
}

// checkCanceled fails t unless err matches context.Canceled.
func checkCanceled(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%s with a cancelled context: %v (%T); want an error matching context.Canceled", op, err, err)
	}
}

type recvResult struct {
	d   provider.Delta
	err error
}

// recvWithin calls st.Recv and fails the test if it does not return in d.
func recvWithin(t *testing.T, st provider.Stream, d time.Duration) (provider.Delta, error) {
	t.Helper()
	ch := make(chan recvResult, 1)
	go func() {
		dl, err := st.Recv()
		ch <- recvResult{dl, err}
	}()
	timer := time.NewTimer(max(d, 0))
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.d, r.err
	case <-timer.C:
		t.Fatalf("Recv did not return within %v", d)
		return provider.Delta{}, nil
	}
}

// closeWithin calls st.Close and fails the test if it does not return in
// CancelWithin.
func closeWithin(t *testing.T, st provider.Stream) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- st.Close() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(CancelWithin):
		t.Fatalf("Close did not return within %v", CancelWithin)
		return fmt.Errorf("close timed out")
	}
}
