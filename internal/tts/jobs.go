package tts

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/api"
)

// Job limits, used when the Options leave them zero.
const (
	// DefaultJobTTL is how long a finished job's audio is kept.
	DefaultJobTTL = 15 * time.Minute
	// DefaultMaxJobs is the most jobs a tenant holds at once, running or
	// finished and not yet expired.
	DefaultMaxJobs = 8
	// DefaultJobTimeout bounds the synthesis of one job.
	DefaultJobTimeout = 5 * time.Minute
)

// Job status values.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// Job is a synthesis that runs after its request was answered 202. Its
// audio is kept in memory, for its tenant only, until it expires.
type Job struct {
	ID          string
	Tenant      string
	Chars       int
	ContentType string
	SampleRate  int // of wav and pcm audio, 0 for the others
	Created     time.Time

	mu       sync.Mutex
	status   string
	finished time.Time
	audio    []byte
	err      *api.Error
}

// Result returns the job's state and, once done, its audio.
func (j *Job) Result(ttl time.Duration) (api.TTSJob, []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := api.TTSJob{JobID: j.ID, Status: j.status, Chars: j.Chars, ContentType: j.ContentType, SampleRate: j.SampleRate, Created: j.Created.UTC(), Bytes: len(j.audio), Error: j.err}
	if j.status != JobRunning {
		f, exp := j.finished.UTC(), j.finished.Add(ttl).UTC()
		out.Finished, out.Expires = &f, &exp
	}
	return out, j.audio
}

func (j *Job) finish(now time.Time, audio []byte, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.finished = now
	if err != nil {
		j.status, j.err = JobFailed, api.AsError(err)
		return
	}
	j.status, j.audio = JobDone, audio
}

// expired reports whether j finished more than ttl before now.
func (j *Job) expired(now time.Time, ttl time.Duration) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status != JobRunning && now.Sub(j.finished) > ttl
}

func (j *Job) running() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status == JobRunning
}

// jobs holds the jobs of every tenant, by tenant: a job is found only
// with its own tenant's ID.
type jobs struct {
	mu       sync.Mutex
	byTenant map[string]map[string]*Job
	ttl      time.Duration
	max      int
}

func newJobs(ttl time.Duration, max int) *jobs {
	return &jobs{byTenant: map[string]map[string]*Job{}, ttl: ttl, max: max}
}

// add registers a new running job of tenant, making room by dropping
// expired jobs and then the oldest finished ones; a tenant with max jobs
// running is refused.
func (js *jobs) add(tenant string, chars int, contentType string, rate int, now time.Time) (*Job, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	m := js.byTenant[tenant]
	if m == nil {
		m = map[string]*Job{}
		js.byTenant[tenant] = m
	}
	js.sweep(m, now)
	if len(m) >= js.max {
		var finished []*Job
		for _, j := range m {
			if !j.running() {
				finished = append(finished, j)
			}
		}
		if len(finished) == 0 {
			return nil, api.Errorf(api.CodeRateLimited, "this tenant has %d speech jobs running, its limit; retry when one is done", js.max).
				WithDetails(map[string]any{"limit": "ttsJobs", "retryAfter": 1})
		}
		slices.SortFunc(finished, func(a, b *Job) int { return a.Created.Compare(b.Created) })
		delete(m, finished[0].ID)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	j := &Job{ID: "tts_" + hex.EncodeToString(b[:]), Tenant: tenant, Chars: chars, ContentType: contentType, SampleRate: rate, Created: now, status: JobRunning}
	m[j.ID] = j
	return j, nil
}

// get returns tenant's job id, or not_found: a job of another tenant and
// an expired one are reported exactly like one that never existed.
func (js *jobs) get(tenant, id string, now time.Time) (*Job, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	m := js.byTenant[tenant]
	js.sweep(m, now)
	if j, ok := m[id]; ok {
		return j, nil
	}
	return nil, api.Errorf(api.CodeNotFound, "no speech job %q in this tenant (finished jobs are kept %s)", id, js.ttl)
}

// sweep drops the expired jobs of m. js.mu must be held.
func (js *jobs) sweep(m map[string]*Job, now time.Time) {
	for id, j := range m {
		if j.expired(now, js.ttl) {
			delete(m, id)
		}
	}
}
