package rag_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/store/postgres/pgtest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// replica is one crispy process over the shared database: its own pool,
// its own knowledge base Service and, unless turned off, its own listener
// wired as the app wires it.
type replica struct {
	name string
	db   *postgres.DB
	rag  *rag.Service
	// connects receives a value each time the listener (re)connects.
	connects chan struct{}
}

type replicaOptions struct {
	rag        rag.Options
	noListener bool
	retry      time.Duration
}

// cluster is replicas over one PostgreSQL database of their own.
type cluster struct {
	dsn string
	gw  *gateway.Gateway
	ts  []*tenant.Tenant
}

func newCluster(t *testing.T, tenants ...string) *cluster {
	t.Helper()
	dsn := pgtest.DSN(t)
	gw, ts := testTenants(t, tenants...)
	return &cluster{dsn: dsn, gw: gw, ts: ts}
}

func (c *cluster) replica(t *testing.T, name string, o replicaOptions) *replica {
	t.Helper()
	db, err := postgres.Open(t.Context(), c.dsn, postgres.Options{SweepInterval: -1, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	o.rag.Replicated = true
	s, _ := newService(t, c.gw, db.Documents(), o.rag)
	r := &replica{name: name, db: db, rag: s, connects: make(chan struct{}, 64)}
	if !o.noListener {
		l := db.ListenCorpus(postgres.ListenOptions{
			OnChange: s.Notify,
			OnConnect: func() {
				s.Resync()
				r.connects <- struct{}{}
			},
			Retry: o.retry,
			Name:  "crispy " + name,
		})
		t.Cleanup(l.Close)
		select {
		case <-r.connects:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the listener did not connect within 5 s", name)
		}
	}
	return r
}

// cut terminates the connection of r's listener from the server's side.
func (c *cluster) cut(t *testing.T, r *replica) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE application_name = $1 AND datname = current_database()`, "crispy "+r.name)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("cut the listener of %s: %v, %v", r.name, tag, err)
	}
}

// waitFor polls cond every millisecond until it holds or limit passes,
// and returns how long it took, or -1.
func waitFor(limit time.Duration, cond func() bool) time.Duration {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			return -1
		}
		time.Sleep(time.Millisecond)
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// TestReplicaPropagation is the bound: a document ingested through
// replica A is retrievable through replica B within 1 s, and one deleted
// through A disappears from B as fast. It measures the time from A's
// answer to B's first query that finds (or no longer finds) the document,
// over 200 ingests and 50 deletes.
func TestReplicaPropagation(t *testing.T) {
	c := newCluster(t, "acme")
	tn := c.ts[0]
	a := c.replica(t, "a", replicaOptions{})
	b := c.replica(t, "b", replicaOptions{})
	if _, err := b.rag.Version(t.Context(), tn.ID); err != nil { // B holds the tenant
		t.Fatal(err)
	}
	const ingests, deletes = 200, 50
	var put, del []time.Duration
	for i := range ingests {
		ingest(t, a.rag, tn, docInput(i))
		d := waitFor(5*time.Second, func() bool { ok, _ := finds(t, b.rag, tn, i); return ok })
		if d < 0 {
			t.Fatalf("document %d ingested through A is not retrievable through B after 5 s", i)
		}
		put = append(put, d)
	}
	for i := range deletes {
		if _, err := a.rag.Delete(t.Context(), tn.ID, docInput(i).ID); err != nil {
			t.Fatal(err)
		}
		d := waitFor(5*time.Second, func() bool { ok, _ := finds(t, b.rag, tn, i); return !ok })
		if d < 0 {
			t.Fatalf("document %d deleted through A is still retrievable through B after 5 s", i)
		}
		del = append(del, d)
	}
	t.Logf("ingest through A to retrievable through B, %d documents: p50 %v, p99 %v, max %v",
		ingests, percentile(put, 0.5), percentile(put, 0.99), percentile(put, 1))
	t.Logf("delete through A to gone from B, %d documents: p50 %v, p99 %v, max %v",
		deletes, percentile(del, 0.5), percentile(del, 0.99), percentile(del, 1))
	if p := percentile(put, 0.99); p > time.Second {
		t.Errorf("ingest propagation p99 %v, want within 1 s", p)
	}
	if p := percentile(del, 0.99); p > time.Second {
		t.Errorf("delete propagation p99 %v, want within 1 s", p)
	}
	// Both replicas agree with the store.
	want, err := a.db.Documents().CorpusVersion(t.Context(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*replica{a, b} {
		if v, _ := r.rag.Version(t.Context(), tn.ID); v != want {
			t.Errorf("%s is at version %d, the store at %d", r.name, v, want)
		}
	}
}

// TestReplicaVersionsMonotonic writes through two replicas at once, ingests
// and deletes, while both answer queries: the version each replica answers
// with never goes back, and once the writes end both reach the store's
// version and hold the same documents.
func TestReplicaVersionsMonotonic(t *testing.T) {
	c := newCluster(t, "acme")
	tn := c.ts[0]
	rs := []*replica{c.replica(t, "a", replicaOptions{}), c.replica(t, "b", replicaOptions{})}
	const writers, perWriter = 4, 15
	var writing sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		r := rs[w%2]
		writing.Go(func() {
			for j := range perWriter {
				i := w*perWriter + j
				ingest(t, r.rag, tn, docInput(i))
				if j%5 == 4 { // delete one of this writer's documents now and then
					if _, err := r.rag.Delete(t.Context(), tn.ID, docInput(i-2).ID); err != nil {
						t.Errorf("Delete: %v", err)
					}
				}
			}
		})
	}
	var reading sync.WaitGroup
	for _, r := range rs {
		for range 2 {
			reading.Go(func() {
				var last int64
				for n := 0; ; n++ {
					_, v := finds(t, r.rag, tn, n%(writers*perWriter))
					if v < last {
						t.Errorf("%s answered with version %d after %d", r.name, v, last)
					}
					last = v
					select {
					case <-done:
						return
					default:
					}
				}
			})
		}
	}
	writing.Wait()
	close(done)
	reading.Wait()

	want, err := rs[0].db.Documents().CorpusVersion(t.Context(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want != writers*perWriter+writers*perWriter/5 {
		t.Errorf("store at version %d, want %d", want, writers*perWriter+writers*perWriter/5)
	}
	for _, r := range rs {
		if waitFor(2*time.Second, func() bool { v, _ := r.rag.Version(t.Context(), tn.ID); return v == want }) < 0 {
			v, _ := r.rag.Version(t.Context(), tn.ID)
			t.Fatalf("%s is at version %d, the store at %d", r.name, v, want)
		}
		for i := range writers * perWriter {
			deleted := i%perWriter%5 == 2
			if ok, _ := finds(t, r.rag, tn, i); ok == deleted {
				t.Errorf("%s: document %d found %v, want %v", r.name, i, ok, !deleted)
			}
		}
	}
}

// TestReplicaMissedNotifications checks that a replica that misses
// notifications still catches up: after its listener's connection is cut
// (it checks what it holds when it reconnects), with no listener at all
// (the check of each query a second old), and when it is further behind
// than the change feed keeps (it loads the tenant whole).
func TestReplicaMissedNotifications(t *testing.T) {
	t.Run("ListenerCut", func(t *testing.T) {
		c := newCluster(t, "acme")
		tn := c.ts[0]
		a := c.replica(t, "a", replicaOptions{})
		// No check by queries: only the listener can bring B up to date.
		b := c.replica(t, "b", replicaOptions{rag: rag.Options{CheckInterval: time.Hour}, retry: 300 * time.Millisecond})
		ingest(t, a.rag, tn, docInput(0))
		if waitFor(2*time.Second, func() bool { ok, _ := finds(t, b.rag, tn, 0); return ok }) < 0 {
			t.Fatal("B does not find document 0")
		}
		c.cut(t, b)
		ingest(t, a.rag, tn, docInput(1)) // B's listener is down for 300 ms
		ingest(t, a.rag, tn, docInput(2))
		select {
		case <-b.connects:
		case <-time.After(5 * time.Second):
			t.Fatal("B's listener did not reconnect")
		}
		if waitFor(2*time.Second, func() bool {
			ok1, _ := finds(t, b.rag, tn, 1)
			ok2, _ := finds(t, b.rag, tn, 2)
			return ok1 && ok2
		}) < 0 {
			t.Fatal("B, its listener cut, does not find documents 1 and 2 after it reconnected")
		}
		ingest(t, a.rag, tn, docInput(3))
		if waitFor(2*time.Second, func() bool { ok, _ := finds(t, b.rag, tn, 3); return ok }) < 0 {
			t.Fatal("B does not find document 3, ingested after its listener reconnected")
		}
	})
	t.Run("NoListener", func(t *testing.T) {
		c := newCluster(t, "acme")
		tn := c.ts[0]
		a := c.replica(t, "a", replicaOptions{})
		b := c.replica(t, "b", replicaOptions{noListener: true, rag: rag.Options{CheckInterval: 200 * time.Millisecond}})
		if _, err := b.rag.Version(t.Context(), tn.ID); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			ingest(t, a.rag, tn, docInput(i))
			if d := waitFor(2*time.Second, func() bool { ok, _ := finds(t, b.rag, tn, i); return ok }); d < 0 {
				t.Fatalf("B, with no listener, does not find document %d after 2 s", i)
			}
		}
	})
	t.Run("Pruned", func(t *testing.T) {
		c := newCluster(t, "acme")
		tn := c.ts[0]
		a := c.replica(t, "a", replicaOptions{noListener: true})
		b := c.replica(t, "b", replicaOptions{noListener: true, rag: rag.Options{CheckInterval: time.Hour}})
		ingest(t, a.rag, tn, docInput(0))
		if ok, _ := finds(t, b.rag, tn, 0); !ok {
			t.Fatal("B does not find document 0")
		}
		// More changes than the feed keeps, straight into the store.
		puts := make([]store.DocumentPut, store.KeepChanges+10)
		for i := range puts {
			puts[i].Doc = store.DocumentRecord{ID: fmt.Sprintf("empty-%05d", i)}
		}
		if _, err := a.db.Documents().PutDocuments(t.Context(), tn.ID, puts, store.DocumentQuota{}); err != nil {
			t.Fatal(err)
		}
		last := ingest(t, a.rag, tn, docInput(1))
		if _, err := b.db.Documents().Changes(t.Context(), tn.ID, 1, 0); err == nil {
			t.Fatal("the feed still reaches back to version 1")
		}
		b.rag.Notify(tn.ID, last.Version)
		if waitFor(5*time.Second, func() bool {
			ok, v := finds(t, b.rag, tn, 1)
			return ok && v == last.Version
		}) < 0 {
			t.Fatal("B, behind the feed, did not load the tenant again")
		}
		if ok, _ := finds(t, b.rag, tn, 0); !ok {
			t.Error("B, loaded again, does not find document 0")
		}
	})
}

// TestReplicaImage checks images over PostgreSQL: a replica that restarts
// from its image while other replicas wrote meanwhile catches up from the
// change feed, and serves what they wrote, after its notifications too.
func TestReplicaImage(t *testing.T) {
	c := newCluster(t, "acme")
	tn := c.ts[0]
	dir := t.TempDir()
	a := c.replica(t, "a", replicaOptions{rag: rag.Options{ImageDir: dir}})
	for i := range 10 {
		ingest(t, a.rag, tn, docInput(i))
	}
	a.rag.Close() // writes a's image
	b := c.replica(t, "b", replicaOptions{})
	ingest(t, b.rag, tn, docInput(20))
	if _, err := b.rag.Delete(t.Context(), tn.ID, docInput(2).ID); err != nil {
		t.Fatal(err)
	}
	docs := &scanningDocs{docsStore: a.db.Documents()}
	log, buf := logs()
	again := rag.NewWithOptions(c.gw, docs, log, nil, rag.Options{ImageDir: dir, Replicated: true})
	defer again.Close()
	for i, want := range map[int]bool{0: true, 2: false, 9: true, 20: true} {
		if ok, _ := finds(t, again, tn, i); ok != want {
			t.Errorf("document %d found %v, want %v", i, ok, want)
		}
	}
	if docs.scans.Load() != 0 || !bytes.Contains(buf.Bytes(), []byte("knowledge base image loaded")) {
		t.Errorf("scans %d, want 0 (the image, caught up); log:\n%s", docs.scans.Load(), buf)
	}
	// A write through b after the load reaches the restarted replica.
	again.Notify(tn.ID, ingest(t, b.rag, tn, docInput(21)).Version)
	if waitFor(5*time.Second, func() bool { ok, _ := finds(t, again, tn, 21); return ok }) < 0 {
		t.Error("a write of another replica after the load is not found")
	}
}
