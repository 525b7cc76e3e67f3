package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
)

// usageSink is a store.Usage that keeps what it is given, and can be made
// to wait before each append.
type usageSink struct {
	store.Usage
	mu      sync.Mutex
	got     []store.UsageRecord
	batches []int
	gate    chan struct{} // when set, each append waits for a value
}

func (s *usageSink) AppendUsage(_ context.Context, rs []store.UsageRecord) error {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, rs...)
	s.batches = append(s.batches, len(rs))
	return nil
}

func (s *usageSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func TestLedgerKeepsEveryRecordOnce(t *testing.T) {
	sink := &usageSink{}
	l := NewLedger(sink, nil)
	const writers, each = 16, 1000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				l.Record(store.UsageRecord{RequestID: fmt.Sprintf("%d-%d", w, i)})
			}
		})
	}
	wg.Wait()
	l.Flush()
	if n := sink.count(); n != writers*each {
		t.Fatalf("after Flush the store has %d records, want %d", n, writers*each)
	}
	seen := map[string]bool{}
	for _, r := range sink.got {
		if seen[r.RequestID] {
			t.Fatalf("record %s stored twice", r.RequestID)
		}
		seen[r.RequestID] = true
	}
	for _, n := range sink.batches {
		if n > ledgerBatch {
			t.Fatalf("a batch of %d records, more than %d", n, ledgerBatch)
		}
	}
	l.Close()
}

func TestLedgerWritesAFullBatchWithoutWaitingForTheTick(t *testing.T) {
	sink := &usageSink{}
	l := NewLedger(sink, nil)
	defer l.Close()
	for range ledgerBatch {
		l.Record(store.UsageRecord{})
	}
	// Well under ledgerFlush would do; the bound only keeps a broken
	// ledger from hanging the test.
	deadline := time.Now().Add(5 * time.Second)
	for sink.count() < ledgerBatch {
		if time.Now().After(deadline) {
			t.Fatalf("a full batch was not written: %d stored", sink.count())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLedgerWritesOnTheTick(t *testing.T) {
	sink := &usageSink{}
	l := NewLedger(sink, nil)
	defer l.Close()
	l.Record(store.UsageRecord{RequestID: "one"})
	deadline := time.Now().Add(5 * time.Second)
	for sink.count() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("a lone record was not written by the periodic flush")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLedgerBackPressure(t *testing.T) {
	sink := &usageSink{gate: make(chan struct{})}
	l := NewLedger(sink, nil)
	// Fill the buffer while the store is stuck in its first write.
	for range ledgerBatch {
		l.Record(store.UsageRecord{})
	}
	// The writer takes the first batch and blocks on the gate; fill the
	// buffer behind it.
	for l.queued() != 0 {
		time.Sleep(time.Millisecond)
	}
	for range ledgerBuffer {
		l.Record(store.UsageRecord{})
	}
	blocked := make(chan struct{})
	go func() {
		l.Record(store.UsageRecord{RequestID: "over"})
		close(blocked)
	}()
	select {
	case <-blocked:
		t.Fatal("Record returned with the buffer full: a record was dropped or the cap ignored")
	case <-time.After(50 * time.Millisecond):
	}
	close(sink.gate) // the store recovers
	<-blocked
	l.Close()
	if n, want := sink.count(), ledgerBatch+ledgerBuffer+1; n != want {
		t.Fatalf("stored %d records, want %d", n, want)
	}
}

func TestLedgerCloseFlushesAndDropsLaterRecords(t *testing.T) {
	sink := &usageSink{}
	l := NewLedger(sink, nil)
	l.Record(store.UsageRecord{RequestID: "before"})
	l.Close()
	if sink.count() != 1 {
		t.Fatalf("Close stored %d records, want 1", sink.count())
	}
	l.Record(store.UsageRecord{RequestID: "after"}) // logged, not stored, no panic
	l.Flush()                                       // returns at once
	l.Close()                                       // idempotent
	if sink.count() != 1 {
		t.Fatalf("a record after Close was stored")
	}
}

// queued is the number of records waiting for the writer.
func (l *Ledger) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// failingUsage fails its first appends with store.ErrUnavailable, as a
// database that cannot be reached, then stores.
type failingUsage struct {
	usageSink
	failures int
}

func (s *failingUsage) AppendUsage(ctx context.Context, rs []store.UsageRecord) error {
	s.mu.Lock()
	if s.failures > 0 {
		s.failures--
		s.mu.Unlock()
		return fmt.Errorf("postgres: append usage: %w: connection refused", store.ErrUnavailable)
	}
	s.mu.Unlock()
	return s.usageSink.AppendUsage(ctx, rs)
}

func TestLedgerKeepsRecordsWhileTheStoreIsAway(t *testing.T) {
	sink := &failingUsage{failures: 2}
	l := NewLedger(sink, nil)
	defer l.Close()
	for i := range 3 {
		l.Record(store.UsageRecord{RequestID: fmt.Sprint(i)})
	}
	l.Flush() // fails: kept
	l.Record(store.UsageRecord{RequestID: "3"})
	l.Flush() // fails: kept
	if n := sink.count(); n != 0 {
		t.Fatalf("%d records stored while the store is away", n)
	}
	l.Flush()
	var got []string
	for _, r := range sink.got {
		got = append(got, r.RequestID)
	}
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Errorf("stored %v, want [0 1 2 3] once each, in order", got)
	}
}
