package rag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Job statuses.
const (
	JobRunning = "running"
	JobDone    = "done"
	// JobStopped is a job cut short by a shutdown: the documents it
	// stored stay, the ones it did not reach were not ingested.
	JobStopped = "stopped"
)

// jobRetention is how long a finished job stays readable.
const jobRetention = time.Hour

// Job is a batch ingest running in the background.
type Job struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Total  int    `json:"total"`
	Done   int    `json:"done"`
	Failed int    `json:"failed"`
	// Skipped counts the documents a stopped job did not reach.
	Skipped  int            `json:"skipped,omitempty"`
	Created  time.Time      `json:"created"`
	Finished *time.Time     `json:"finished,omitempty"`
	Results  []IngestResult `json:"results"`
	// Errors are the documents that failed, by their position in the batch.
	Errors []JobError `json:"errors,omitempty"`

	tenant tenant.ID
}

// JobError is one document of a job that failed.
type JobError struct {
	Line  int        `json:"line"`
	ID    string     `json:"id,omitempty"`
	Error *api.Error `json:"error"`
}

// Jobs runs batch ingests in the background, one tenant's jobs visible only
// to that tenant. Jobs live in memory: a job interrupted by a restart is
// not resumed, and resubmitting its batch is cheap, since documents already
// ingested are unchanged no-ops.
//
// Jobs own their goroutines: Shutdown stops every job between documents
// and waits for them, within a deadline.
type Jobs struct {
	svc *Service
	log *slog.Logger

	// stop ends the jobs' feeding of documents; abort cancels the
	// documents being ingested, once Shutdown's deadline has passed.
	stop, abort         context.Context
	stopJobs, abortJobs context.CancelFunc

	mu      sync.Mutex
	jobs    map[string]*Job
	wg      sync.WaitGroup
	stopped bool // set by Shutdown under mu: Start refuses new jobs
}

// NewJobs returns a job runner over svc that logs to log (nil: discard).
func NewJobs(svc *Service, log *slog.Logger) *Jobs {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := &Jobs{svc: svc, log: log, jobs: map[string]*Job{}}
	j.stop, j.stopJobs = context.WithCancel(context.Background())
	j.abort, j.abortJobs = context.WithCancel(context.Background())
	return j
}

// Start ingests docs in the background and returns the job at once, or a
// rate_limited error when the tenant already runs as many jobs as
// limits.knowledge.maxJobs allows, or unavailable once Shutdown has begun.
func (j *Jobs) Start(c tenant.Caller, docs []DocumentInput) (Job, error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	job := &Job{ID: "job_" + hex.EncodeToString(b), Status: JobRunning, Total: len(docs), Created: time.Now().UTC(), Results: []IngestResult{}, tenant: c.Tenant.ID}
	limit := c.Tenant.Config.Limits.Knowledge.MaxJobs
	j.mu.Lock()
	if j.stopped {
		j.mu.Unlock()
		return Job{}, api.Errorf(api.CodeUnavailable, "the server is shutting down; send the batch again once it is back")
	}
	j.prune()
	if n := j.running(c.Tenant.ID); n >= limit {
		j.mu.Unlock()
		return Job{}, api.Errorf(api.CodeRateLimited, "this tenant has %d batch ingests running, its limit; retry once one is done", n).
			WithDetails(map[string]any{"limit": "jobs", "retryAfter": 5})
	}
	j.jobs[job.ID] = job
	snapshot := *job

	j.wg.Add(1) // under mu: Shutdown, which sets stopped under mu, waits for it
	j.mu.Unlock()
	go func() {
		defer j.wg.Done()
		j.run(c, job, docs)
	}()
	return snapshot, nil
}

// run ingests a job's documents until they are all done or the jobs are
// stopped: then no document is started, those under way finish (unless
// the shutdown's deadline aborts them), and the job records what it did.
func (j *Jobs) run(c tenant.Caller, job *Job, docs []DocumentInput) {
	// Documents are prepared (extracted, chunked, embedded) by two workers
	// a core, so that the cores stay busy while a group of writes holds the
	// tenant's lock; the writes share transactions.
	next := make(chan int)
	var workers sync.WaitGroup
	for range min(2*runtime.GOMAXPROCS(0), 8, len(docs)) {
		workers.Go(func() {
			for i := range next {
				d := docs[i]
				res, err := j.svc.Ingest(j.abort, c, d)
				j.mu.Lock()
				if err != nil {
					job.Failed++
					job.Errors = append(job.Errors, JobError{Line: i + 1, ID: d.ID, Error: api.AsError(err)})
				} else {
					job.Done++
					job.Results = append(job.Results, res)
				}
				j.mu.Unlock()
			}
		})
	}
	fed := 0
feed:
	for i := range docs {
		if j.stop.Err() != nil {
			break
		}
		select {
		case next <- i:
			fed++
		case <-j.stop.Done():
			break feed
		}
	}
	close(next)
	workers.Wait()
	j.mu.Lock()
	sort.Slice(job.Errors, func(a, b int) bool { return job.Errors[a].Line < job.Errors[b].Line })
	now := time.Now().UTC()
	job.Status, job.Finished = JobDone, &now
	if fed < len(docs) {
		job.Status, job.Skipped = JobStopped, len(docs)-fed
		j.log.Warn("batch ingest stopped by shutdown; send the batch again to ingest the rest (documents already stored are unchanged no-ops)",
			"tenant", job.tenant.String(), "job", job.ID, "total", job.Total, "done", job.Done, "failed", job.Failed, "skipped", job.Skipped)
	}
	j.mu.Unlock()
}

// Running returns how many of tenant t's jobs are running.
func (j *Jobs) Running(t tenant.ID) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.running(t)
}

// running is Running with j.mu held.
func (j *Jobs) running(t tenant.ID) int {
	n := 0
	for _, job := range j.jobs {
		if job.tenant == t && job.Status == JobRunning {
			n++
		}
	}
	return n
}

// Get returns a job of tenant t, or not found for another tenant's job.
func (j *Jobs) Get(t tenant.ID, id string) (Job, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.jobs[id]
	if !ok || job.tenant != t {
		return Job{}, api.Errorf(api.CodeNotFound, "job %q does not exist", id)
	}
	out := *job
	out.Results = append([]IngestResult(nil), job.Results...)
	out.Errors = append([]JobError(nil), job.Errors...)
	return out, nil
}

// Wait waits for every running job to finish, for tests.
func (j *Jobs) Wait() { j.wg.Wait() }

// Shutdown refuses new jobs, stops the running ones between documents and
// waits for them until ctx ends; then it cancels the documents still being
// ingested and waits for their goroutines to return. A stopped job's
// documents already stored stay; the rest can be sent again. It returns
// ctx's error when the deadline cut documents short.
func (j *Jobs) Shutdown(ctx context.Context) error {
	j.mu.Lock()
	j.stopped = true
	j.mu.Unlock()
	j.stopJobs()
	done := make(chan struct{})
	go func() {
		j.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		j.abortJobs()
		return nil
	case <-ctx.Done():
		j.abortJobs()
		<-done
		return ctx.Err()
	}
}

// prune forgets jobs finished more than jobRetention ago.
func (j *Jobs) prune() {
	cutoff := time.Now().Add(-jobRetention)
	for id, job := range j.jobs {
		if job.Finished != nil && job.Finished.Before(cutoff) {
			delete(j.jobs, id)
		}
	}
}
