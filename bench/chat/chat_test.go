package main

import (
	"context"
	"flag"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/bench/internal/backends"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// BenchmarkTurn runs streamed POST /chat turns against an in-process server
// answered by the builtin model, to profile what a turn costs:
//
//	go test ./bench/chat -run '^$' -bench Turn -cpuprofile /tmp/chat.cpu
//	go tool pprof -top /tmp/chat.cpu
//
// Sessions last turnsPerSession turns, as in the command's default run.
// The data folder is the test's temporary folder; set TMPDIR to a tmpfs to
// take the disk's syncs out of the measure.
func BenchmarkTurn(b *testing.B) {
	const turnsPerSession = 20
	base, key := startInProcess(b)
	client := newClient(256)
	for _, bc := range []struct {
		name    string
		clients int
	}{{"sequential", 1}, {"concurrent-200", 200}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.clients == 1 {
				sess := ""
				lat := make([]time.Duration, 0, b.N)
				for i := range b.N {
					if i%turnsPerSession == 0 {
						sess = ""
					}
					t, err := chatTurn(context.Background(), client, base, key, "", api.ChatRequest{SessionID: sess, Message: "What are your opening hours on Sundays?"}, nil)
					if err != nil {
						b.Fatal(err)
					}
					sess = t.result.SessionID
					lat = append(lat, t.done)
				}
				b.ReportMetric(float64(pct(lat, .5).Microseconds()), "p50-µs")
				b.ReportMetric(float64(pct(lat, .95).Microseconds()), "p95-µs")
				return
			}
			// RunParallel runs parallelism x GOMAXPROCS goroutines.
			b.SetParallelism(max(1, bc.clients/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				sess, turns := "", 0
				for pb.Next() {
					if turns%turnsPerSession == 0 {
						sess = ""
					}
					t, err := chatTurn(context.Background(), client, base, key, "", api.ChatRequest{SessionID: sess, Message: "What are your opening hours on Sundays?"}, nil)
					if err != nil {
						b.Error(err)
						return
					}
					sess, turns = t.result.SessionID, turns+1
				}
			})
		})
	}
}

var heapOpen = flag.String("heap-open", "", "BenchmarkOpenStreams: write a heap profile here while every stream is open")

// BenchmarkOpenStreams opens 1000 streams on the slow tenant in process,
// and reports the heap they hold while open and what is left once they
// have ended, every connection is closed and two collections have run (the
// second empties sync.Pool caches). The client and the mock share the
// process, so the per-stream figure counts their side too; the command
// measures the server alone. For a profile of what stays:
//
//	go test ./bench/chat -run '^$' -bench OpenStreams -benchtime 1x -memprofile /tmp/streams.mem
//	go tool pprof -sample_index=inuse_space -top /tmp/streams.mem
//
// and for what the open streams hold, -args -heap-open /tmp/open.mem.
func BenchmarkOpenStreams(b *testing.B) {
	const streams = 1000
	if _, err := raiseNoFile(8 * streams); err != nil {
		b.Fatal(err)
	}
	mock, hs := mockupstream.NewHTTPTest(mockupstream.Config{APIKey: mockKey, TTFT: 10 * time.Millisecond, TokensPerSecond: 20, CompletionTokens: 40})
	b.Cleanup(func() { mock.Close(); hs.Close() })
	base, k := startInProcessURL(b, hs.URL+"/v1")
	client := newClient(streams)
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapInuse + m.StackInuse)
	}
	for range b.N {
		before := heap()
		var first sync.WaitGroup
		first.Add(streams)
		errs := make(chan error, streams)
		for range streams {
			go func() {
				var once sync.Once
				done := func() { once.Do(first.Done) }
				defer done()
				_, err := chatTurn(context.Background(), client, base, k.slow, "", api.ChatRequest{Message: "hello there"}, done)
				errs <- err
			}()
		}
		first.Wait()
		open := heap()
		if *heapOpen != "" {
			f, err := os.Create(*heapOpen)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		for range streams {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		dropConns(client, hs)
		after := heap()
		b.ReportMetric((open-before)/streams/1024, "KiB/stream")
		b.ReportMetric((after-before)/(1<<20), "MiB-retained")
	}
}

// startInProcess runs the server in this process on the benchmark's
// tenants and returns its base URL and the builtin tenant's key.
func startInProcess(b *testing.B) (string, string) {
	base, k := startInProcessURL(b, "http://127.0.0.1:9/v1")
	return base, k.fast
}

// startInProcessURL is startInProcess with the slow tenant's upstream at
// mockURL; it returns both keys.
func startInProcessURL(b *testing.B, mockURL string) (string, keys) {
	b.Helper()
	dir := b.TempDir()
	k, err := writeTenants(dir+"/tenants", mockURL, backends.Flags{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Addr, cfg.DataDir, cfg.TenantsDir, cfg.LogLevel = "127.0.0.1:0", dir+"/data", dir+"/tenants", "error"
	cfg.MetricsAddr = config.MetricsOff
	a, err := app.New(context.Background(), cfg, app.Deps{LookupEnv: func(string) (string, bool) { return mockKey, true }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- a.ListenAndServe(ctx, func(x net.Addr) { addr <- x }) }()
	var base string
	select {
	case x := <-addr:
		base = "http://" + x.String()
	case err := <-done:
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		<-done
		_ = a.Close()
	})
	return base, k
}
