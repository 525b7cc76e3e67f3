package rag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
)

// jobRetention is how long a finished job stays readable.
const jobRetention = time.Hour

// Job is a batch ingest running in the background.
type Job struct {
	ID       string         `json:"id"`
	Status   string         `json:"status"`
	Total    int            `json:"total"`
	Done     int            `json:"done"`
	Failed   int            `json:"failed"`
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
type Jobs struct {
	svc *Service

	mu   sync.Mutex
	jobs map[string]*Job
	wg   sync.WaitGroup
}

// NewJobs returns a job runner over svc.
func NewJobs(svc *Service) *Jobs {
	return &Jobs{svc: svc, jobs: map[string]*Job{}}
}

// Start ingests docs in the background and returns the job at once, or a
// rate_limited error when the tenant already runs as many jobs as
// limits.knowledge.maxJobs allows.
func (j *Jobs) Start(c Caller, docs []DocumentInput) (Job, error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	job := &Job{ID: "job_" + hex.EncodeToString(b), Status: JobRunning, Total: len(docs), Created: time.Now().UTC(), Results: []IngestResult{}, tenant: c.Tenant.ID}
	limit := c.Tenant.Config.Limits.Knowledge.MaxJobs
	j.mu.Lock()
	j.prune()
	if n := j.running(c.Tenant.ID); n >= limit {
		j.mu.Unlock()
		return Job{}, api.Errorf(api.CodeRateLimited, "this tenant has %d batch ingests running, its limit; retry once one is done", n).
			WithDetails(map[string]any{"limit": "jobs", "retryAfter": 5})
	}
	j.jobs[job.ID] = job
	snapshot := *job
	j.mu.Unlock()

	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		ctx := context.Background()
		// Documents are prepared (extracted, chunked, embedded) by two
		// workers a core, so that the cores stay busy while a group of
		// writes holds the tenant's lock; the writes share transactions.
		next := make(chan int)
		var workers sync.WaitGroup
		for range min(2*runtime.GOMAXPROCS(0), 8, len(docs)) {
			workers.Go(func() {
				for i := range next {
					d := docs[i]
					res, err := j.svc.Ingest(ctx, c, d)
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
		for i := range docs {
			next <- i
		}
		close(next)
		workers.Wait()
		j.mu.Lock()
		sort.Slice(job.Errors, func(a, b int) bool { return job.Errors[a].Line < job.Errors[b].Line })
		now := time.Now().UTC()
		job.Status, job.Finished = JobDone, &now
		j.mu.Unlock()
	}()
	return snapshot, nil
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

// Wait waits for every running job, for shutdown and tests.
func (j *Jobs) Wait() { j.wg.Wait() }

// prune forgets jobs finished more than jobRetention ago.
func (j *Jobs) prune() {
	cutoff := time.Now().Add(-jobRetention)
	for id, job := range j.jobs {
		if job.Finished != nil && job.Finished.Before(cutoff) {
			delete(j.jobs, id)
		}
	}
}
