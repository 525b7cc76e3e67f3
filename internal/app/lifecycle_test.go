package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

var mockKey = app.Deps{LookupEnv: func(k string) (string, bool) { return "k", k == "MOCK_KEY" }}

// slowKB returns the config of a server whose tenant acme embeds with a
// mock upstream configured by mcfg, with the given shutdown timeout, and a
// batch of n documents as NDJSON.
func slowKB(t *testing.T, mcfg mockupstream.Config, shutdown time.Duration, n int) (config.Serve, string) {
	t.Helper()
	mcfg.APIKey = "k"
	_, url := mockupstream.Start(t, mcfg)
	dir := t.TempDir()
	writeTenant(t, dir, "acme", kbTenant("acme", "mock/emb", fmt.Sprintf(`"mock": {"type": "openai", "baseUrl": %q, "apiKeyEnv": "MOCK_KEY", "timeout": "60s"}`, url)))
	cfg := testConfig(t, dir)
	cfg.ShutdownTimeout = shutdown
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, `{"id":"doc-%03d","text":"Document %d says hotel nights cost %d euros."}`+"\n", i, i, 100+i)
	}
	return cfg, batch.String()
}

type jobView struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Results []struct {
		Status string `json:"status"`
	} `json:"results"`
}

func startJob(t *testing.T, s *started, batch string) jobView {
	t.Helper()
	status, env := call(t, s, "acme", "POST", "/documents", "application/x-ndjson", batch)
	if status != 202 {
		t.Fatalf("POST /documents = %d %+v, want 202", status, env.Error)
	}
	var job jobView
	_ = json.Unmarshal(env.Data, &job)
	return job
}

func pollJob(t *testing.T, s *started, id string, until func(jobView) bool) jobView {
	t.Helper()
	var job jobView
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, env := call(t, s, "acme", "GET", "/jobs/"+id, "", "")
		_ = json.Unmarshal(env.Data, &job)
		if until(job) {
			return job
		}
	}
	t.Fatalf("job %s never got there: %+v", id, job)
	return job
}

// stopTimed cancels a server, closes its app and returns how long it took.
func stopTimed(t *testing.T, s *started) time.Duration {
	t.Helper()
	start := time.Now()
	s.cancel()
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := s.app.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	return time.Since(start)
}

// TestShutdownStopsBatchIngestBetweenDocuments cancels a server while a
// large batch ingests: the job stops between documents instead of holding
// the shutdown until its end, what it stored stays, and sending the batch
// again ingests only the rest.
func TestShutdownStopsBatchIngestBetweenDocuments(t *testing.T) {
	const n = 240 // 240 documents of 50 ms each, 8 at a time: 1.5 s
	cfg, batch := slowKB(t, mockupstream.Config{Latency: 50 * time.Millisecond}, 10*time.Second, n)
	a, err := app.New(t.Context(), cfg, mockKey)
	if err != nil {
		t.Fatal(err)
	}
	s := serveApp(t, a)
	job := startJob(t, s, batch)
	pollJob(t, s, job.ID, func(j jobView) bool { return j.Done >= 8 })
	if took := stopTimed(t, s); took > time.Second {
		t.Errorf("shutdown took %s with a batch running; want it to stop between documents", took)
	}

	a, err = app.New(t.Context(), cfg, mockKey)
	if err != nil {
		t.Fatal(err)
	}
	s = serveApp(t, a)
	defer s.stop(t)
	job = startJob(t, s, batch)
	job = pollJob(t, s, job.ID, func(j jobView) bool { return j.Status != "running" })
	unchanged := 0
	for _, r := range job.Results {
		if r.Status == "unchanged" {
			unchanged++
		}
	}
	if job.Status != "done" || job.Done != n || unchanged < 8 || unchanged == n {
		t.Errorf("resubmitted batch: status %s, %d done, %d unchanged; want done, %d, and the documents stored before the shutdown unchanged", job.Status, job.Done, unchanged, n)
	}
}

// TestCloseBoundsTheWaitForJobs stops a server whose batch ingest hangs on
// its embedding provider: Close gives up on it after the shutdown timeout
// instead of waiting for the provider's own, much longer, timeout.
func TestCloseBoundsTheWaitForJobs(t *testing.T) {
	cfg, batch := slowKB(t, mockupstream.Config{HangRate: 1}, 300*time.Millisecond, 20)
	a, err := app.New(t.Context(), cfg, mockKey)
	if err != nil {
		t.Fatal(err)
	}
	s := serveApp(t, a)
	startJob(t, s, batch)
	time.Sleep(50 * time.Millisecond) // the first documents are waiting on the provider
	if took := stopTimed(t, s); took > 3*time.Second {
		t.Errorf("shutdown took %s; want about the 300ms shutdown timeout", took)
	}
}
