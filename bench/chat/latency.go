package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// measuredPrefix starts the X-Request-ID of measured turns, so that the
// usage ledger's records of the warm-up can be told apart.
const measuredPrefix = "m-"

// latencyResult is what the sessions phase measured.
type latencyResult struct {
	sessions, turns int
	think           time.Duration
	ok              int
	errors          int
	firstErr        error
	wall            time.Duration
	tokens          int // token events per turn, median

	e2e, ttft []time.Duration // client: request sent to done, and to the first token
	server    histogram       // the server's histogram over the measured turns

	// The usage ledger's records of the measured turns: the gateway's time
	// from the call's start to the model's first output (routing, prompt
	// token count, budget, the builtin model composing its answer), and to
	// the stream's close.
	ledgerTTFT, ledgerLatency []time.Duration
	ledgerErr                 error
	// modelAlone is the builtin model answering the same prompts in this
	// process: Chat and reading the stream to its end.
	modelAlone []time.Duration
	// fsync is the disk's time to sync a 4 KiB write in the data folder,
	// just before the phase: every turn's commit waits for one.
	fsync []time.Duration
	// load is the machine's load average at the start and the end: other
	// work on the machine takes CPU from both the server and the clients.
	load [2]string
}

// runSessions runs o.sessions sessions of o.turns streamed turns each, all
// at once, on a fresh server answered by the builtin model.
func runSessions(o options, think time.Duration, tenants string, k keys) (latencyResult, error) {
	r := latencyResult{sessions: o.sessions, turns: o.turns, think: think}
	var err error
	if r.fsync, err = syncLatency(o.dataParent, 200); err != nil {
		return r, err
	}
	r.load[0] = loadAvg()
	c, err := startCrispy(o.bin, o.dataParent, tenants, o.backends.Args())
	if err != nil {
		return r, err
	}
	defer c.stop()
	client := newClient(o.sessions)
	defer client.CloseIdleConnections()

	// Warm-up: every client opens its connection and runs a few turns of a
	// throwaway session, so that the measure sees warm pools and caches.
	if o.warmup > 0 {
		_, err := fanOut(o.sessions, func(i int) error {
			sess := ""
			for range o.warmup {
				t, err := chatTurn(context.Background(), client, c.base, k.fast, "", api.ChatRequest{SessionID: sess, Message: o.message}, nil)
				if err != nil {
					return err
				}
				sess = t.result.SessionID
			}
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("warm-up: %w", err)
		}
	}

	before, err := readMetrics(client, c.metrics)
	if err != nil {
		return r, err
	}
	type clientLog struct {
		e2e, ttft []time.Duration
		tokens    []int
		texts     []string
		errors    int
		firstErr  error
	}
	logs := make([]clientLog, o.sessions)
	t0 := time.Now()
	_, _ = fanOut(o.sessions, func(i int) error {
		l := &logs[i]
		sess, stored := "", 0 // the session, and the turns it has stored
		for n := range o.turns {
			switch {
			case think == 0:
			case n == 0:
				time.Sleep(rand.N(think))
			default:
				time.Sleep(think/2 + rand.N(think))
			}
			id := fmt.Sprintf("%s%d-%d", measuredPrefix, i, n)
			t, err := chatTurn(context.Background(), client, c.base, k.fast, id, api.ChatRequest{SessionID: sess, Message: o.message}, nil)
			if err == nil && (t.result.SessionID == "" || (sess != "" && t.result.SessionID != sess)) {
				err = fmt.Errorf("%w: done event has session %q, want %q", errStream, t.result.SessionID, sess)
			}
			if err == nil && t.result.AssistantSeq != int64(2*(stored+1)) {
				err = fmt.Errorf("%w: turn %d of session %s stored as seq %d, want %d", errStream, stored+1, t.result.SessionID, t.result.AssistantSeq, 2*(stored+1))
			}
			if err != nil {
				l.errors++
				if l.firstErr == nil {
					l.firstErr = err
				}
				continue
			}
			sess, stored = t.result.SessionID, stored+1
			l.e2e, l.ttft = append(l.e2e, t.done), append(l.ttft, t.first)
			l.tokens, l.texts = append(l.tokens, t.tokens), append(l.texts, t.text)
		}
		return nil
	})
	r.wall = time.Since(t0)
	r.load[1] = loadAvg()
	after, err := readMetrics(client, c.metrics)
	if err != nil {
		return r, err
	}
	r.server = after.hist.sub(before.hist)

	var tokens []int
	for _, l := range logs {
		r.e2e, r.ttft = append(r.e2e, l.e2e...), append(r.ttft, l.ttft...)
		tokens = append(tokens, l.tokens...)
		r.errors += l.errors
		if r.firstErr == nil {
			r.firstErr = l.firstErr
		}
	}
	r.ok = len(r.e2e)
	if len(tokens) > 0 {
		slices.Sort(tokens)
		r.tokens = tokens[len(tokens)/2]
	}

	client.CloseIdleConnections()
	if err := c.stop(); err != nil {
		return r, err
	}
	if o.backends.Store != "" {
		r.ledgerErr = errors.New("the ledger is in PostgreSQL (-store)")
	} else {
		r.ledgerTTFT, r.ledgerLatency, r.ledgerErr = readLedger(filepath.Join(c.data, "crispy.db"), fastTenant)
	}
	if len(logs[0].texts) == o.turns {
		r.modelAlone = timeModel(o.message, logs[0].texts, 20)
	}
	return r, nil
}

// syncLatency times n writes of 4 KiB to a file in dir, each followed by
// fsync, as SQLite's commit in WAL mode with synchronous(FULL) does.
func syncLatency(dir string, n int) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	out := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// fanOut runs f(0) to f(n-1) at once, released together, and returns the
// first error.
func fanOut(n int, f func(i int) error) (int, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		fails int
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if err := f(i); err != nil {
				mu.Lock()
				fails++
				if first == nil {
					first = fmt.Errorf("client %d: %w", i, err)
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return fails, first
}

// readLedger reads the usage records of the measured turns from the
// database of a stopped server.
func readLedger(path, tid string) (ttft, latency []time.Duration, err error) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{SweepInterval: -1})
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	id, err := tenant.ParseID(tid)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	var from time.Time
	for {
		recs, err := db.Usage().UsageRecords(ctx, id, store.UsageFilter{From: from}, 1000)
		if err != nil {
			return nil, nil, err
		}
		fresh := 0
		for _, rec := range recs {
			if seen[rec.RequestID] {
				continue
			}
			seen[rec.RequestID] = true
			fresh++
			if strings.HasPrefix(rec.RequestID, measuredPrefix) && rec.Status == "ok" {
				ttft, latency = append(ttft, rec.TTFT), append(latency, rec.Latency)
			}
		}
		if len(recs) < 1000 || fresh == 0 {
			return ttft, latency, nil
		}
		// Times are at millisecond precision: the next page starts at the
		// last record's millisecond, and the records seen are skipped.
		from = recs[len(recs)-1].Time
	}
}

// timeModel times the builtin model alone on the prompts of one session:
// turn n sends the n earlier exchanges and the message, as the chat service
// does. Each prompt is answered reps times.
func timeModel(message string, answers []string, reps int) []time.Duration {
	if err := tokens.Load(); err != nil { // as the server does at start
		return nil
	}
	m := builtin.New()
	var out []time.Duration
	var history []provider.Message
	for _, answer := range answers {
		msgs := append(slices.Clone(history), provider.Message{Role: provider.RoleUser, Content: message})
		for range reps {
			req := &provider.ChatRequest{Model: builtin.ChatModel, Messages: msgs, MaxTokens: 2048}
			t0 := time.Now()
			st, err := m.Chat(context.Background(), req)
			if err != nil {
				return nil
			}
			for {
				if _, err := st.Recv(); err != nil {
					if err != io.EOF {
						return nil
					}
					break
				}
			}
			st.Close()
			out = append(out, time.Since(t0))
		}
		history = append(msgs, provider.Message{Role: provider.RoleAssistant, Content: answer})
	}
	return out
}
