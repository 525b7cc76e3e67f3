package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// streamsResult is what the open-streams phase measured.
type streamsResult struct {
	streams  int
	mock     mockupstream.Config
	openTime time.Duration // release of the clients to the last first token
	allOpen  bool          // every stream had its first token at once
	open     int           // streams with their first token when measured
	upstream int64         // streams the mock was sending when measured

	before, during, after, afterGC usage
	gcWait                         time.Duration // until the server's next GC after the streams ended; 0 if none came

	ok       int
	errors   map[string]int // by kind
	firstErr error
	ttft     []time.Duration // client: request sent to the first token
	whole    []time.Duration // client: request sent to done
	load     [2]string       // load average at the start and once every stream was open
}

// usage is the server's footprint at one moment.
type usage struct {
	rss        float64 // MiB, VmRSS
	goroutines float64
	heap       float64 // MiB, Go heap in use (live and not yet collected)
	stack      float64 // MiB, goroutine stacks in use
	gcCycles   float64
	goHeld     float64 // MiB the Go runtime holds from the OS (sys - released)
}

func measure(c *crispy) (usage, error) {
	rss, err := rssMiB(c.pid())
	if err != nil {
		return usage{}, err
	}
	// A connection of its own, not kept alive: a pooled one would stay
	// open in the server and count as a goroutine there.
	m, err := readMetrics(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, c.metrics)
	if err != nil {
		return usage{}, err
	}
	return usage{rss: rss, goroutines: m.goroutines, heap: m.heapInuse / (1 << 20), stack: m.stackInuse / (1 << 20), gcCycles: m.gcCycles, goHeld: (m.sys - m.released) / (1 << 20)}, nil
}

// runStreams opens o.streams streams at once on the slow tenant, measures
// the server while all of them are open, and lets them finish.
func runStreams(o options, tenants string, k keys, mock *mockupstream.Server, hs *httptest.Server) (streamsResult, error) {
	r := streamsResult{streams: o.streams, mock: o.mockConfig(), errors: map[string]int{}, load: [2]string{loadAvg(), "?"}}
	c, err := startCrispy(o.bin, o.dataParent, tenants, o.backends.Args())
	if err != nil {
		return r, err
	}
	defer c.stop()
	client := newClient(o.streams)
	defer client.CloseIdleConnections()

	// Warm-up with short answers (scripted: 2 tokens), then drop every
	// keep-alive connection on both sides, so that the baseline holds
	// no connection the measure would reuse.
	warm := min(50, o.streams)
	for range warm {
		mock.Enqueue(mockupstream.Step{Tokens: 2})
	}
	if _, err := fanOut(warm, func(i int) error {
		_, err := chatTurn(context.Background(), client, c.base, k.slow, "", api.ChatRequest{Message: o.message}, nil)
		return err
	}); err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}
	dropConns(client, hs)
	if r.before, err = measure(c); err != nil {
		return r, err
	}

	var (
		firstOrEnd sync.WaitGroup // each stream: its first token, or its end without one
		opened     atomic.Int64
		mu         sync.Mutex
	)
	firstOrEnd.Add(o.streams)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamFor := r.mock.TTFT + time.Duration(float64(r.mock.CompletionTokens)/r.mock.TokensPerSecond*float64(time.Second))
	t0 := time.Now()
	var finished sync.WaitGroup
	finished.Add(1)
	go func() {
		defer finished.Done()
		_, _ = fanOut(o.streams, func(i int) error {
			var once sync.Once
			signal := func() { once.Do(firstOrEnd.Done) }
			defer signal()
			tctx, tcancel := context.WithTimeout(ctx, streamFor+o.openTimeout+time.Minute)
			defer tcancel()
			t, err := chatTurn(tctx, client, c.base, k.slow, "", api.ChatRequest{Message: o.message}, func() {
				opened.Add(1)
				signal()
			})
			if err == nil && (t.tokens != r.mock.CompletionTokens || t.result.Usage.CompletionTokens != r.mock.CompletionTokens) {
				err = fmt.Errorf("%w: %d token events and %d completion tokens, want %d", errStream, t.tokens, t.result.Usage.CompletionTokens, r.mock.CompletionTokens)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.errors[errKind(err)]++
				if r.firstErr == nil {
					r.firstErr = err
				}
				return err
			}
			r.ok++
			r.ttft, r.whole = append(r.ttft, t.first), append(r.whole, t.done)
			return nil
		})
	}()

	allFirst := make(chan struct{})
	go func() { firstOrEnd.Wait(); close(allFirst) }()
	select {
	case <-allFirst:
	case <-time.After(o.openTimeout):
	}
	r.openTime = time.Since(t0)
	time.Sleep(200 * time.Millisecond) // let the server's allocations settle
	r.open = int(opened.Load())
	r.load[1] = loadAvg()
	r.upstream = mock.Stats().ActiveStreams
	r.allOpen = r.open == o.streams && r.upstream == int64(o.streams)
	if r.during, err = measure(c); err != nil {
		return r, err
	}
	if !r.allOpen {
		fmt.Fprintf(logw, "streams: only %d of %d streams had their first token (mock sending %d) after %s\n", r.open, o.streams, r.upstream, r.openTime.Round(time.Millisecond))
	}
	finished.Wait()

	// After: the idle keep-alive connections closed, the clients' to crispy
	// and crispy's to the upstream (a pool it would otherwise keep for 90 s);
	// then again once the server has run a garbage collection, which the Go
	// runtime forces within two minutes of the last one, so that the heap
	// holds what is live and not the streams' garbage.
	dropConns(client, hs)
	if r.after, err = measure(c); err != nil {
		return r, err
	}
	r.afterGC = r.after
	t1 := time.Now()
	for o.settle > 0 && time.Since(t1) < o.settle {
		time.Sleep(time.Second)
		u, err := measure(c)
		if err != nil {
			return r, err
		}
		if u.gcCycles > r.after.gcCycles {
			r.afterGC, r.gcWait = u, time.Since(t1)
			break
		}
	}
	return r, c.stop()
}

// dropConns closes the client's idle connections to crispy and the mock's
// connections from crispy, then gives both servers a moment to notice.
func dropConns(client interface{ CloseIdleConnections() }, hs *httptest.Server) {
	client.CloseIdleConnections()
	hs.CloseClientConnections()
	time.Sleep(time.Second)
}

// errKind names the kind of a stream's failure for the report.
func errKind(err error) string {
	msg := err.Error()
	switch {
	case !errors.Is(err, errStream):
		return "transport"
	case strings.Contains(msg, "status "):
		return "non-200"
	case strings.Contains(msg, "error event"):
		return "error event"
	case strings.Contains(msg, "without a done event"):
		return "no done event"
	case strings.Contains(msg, "token events"):
		return "short answer"
	}
	return "protocol"
}
