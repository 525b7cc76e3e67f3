package gateway

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
)

// Ledger batching: Record appends to a pending list under a mutex, and a
// writer appends the list to the store every ledgerFlush, or at once when
// ledgerBatch records wait. The hot path wakes no goroutine: a call's
// record costs an append, not a hand-off to the writer. A full list
// (ledgerBuffer records) makes Record wait (back-pressure) rather than drop
// usage. A write that fails because the store cannot be reached
// (store.ErrUnavailable) keeps its records, up to half the buffer, for the
// next write; other failures are logged and the records dropped. A write
// cut off while it commits may have committed: its retry may then store
// those records twice.
const (
	ledgerBuffer = 8192
	ledgerBatch  = 512
	ledgerFlush  = 250 * time.Millisecond
)

// Ledger writes usage records to the store in the background.
type Ledger struct {
	store store.Usage
	log   *slog.Logger

	mu      sync.Mutex
	room    sync.Cond // signalled when the writer takes the pending records
	pending []store.UsageRecord
	closed  bool

	kick  chan struct{}      // a batch is ready (capacity 1)
	flush chan chan struct{} // Flush's request, answered once written
	stop  chan struct{}      // closed by Close
	done  chan struct{}      // closed when the writer has stopped
	once  sync.Once
}

// NewLedger starts a ledger writing to s. Close it to flush and stop.
func NewLedger(s store.Usage, log *slog.Logger) *Ledger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Ledger{
		store: s,
		log:   log,
		kick:  make(chan struct{}, 1),
		flush: make(chan chan struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	l.room.L = &l.mu
	go l.run()
	return l
}

// Record queues r for the ledger. It waits while ledgerBuffer records are
// queued. A record after Close is logged and dropped.
func (l *Ledger) Record(r store.UsageRecord) {
	l.mu.Lock()
	for len(l.pending) >= ledgerBuffer && !l.closed {
		l.room.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		l.log.Error("usage record after the ledger closed", "tenant", r.Tenant.String(), "request_id", r.RequestID)
		return
	}
	l.pending = append(l.pending, r)
	ready := len(l.pending) == ledgerBatch
	l.mu.Unlock()
	if ready {
		select {
		case l.kick <- struct{}{}:
		default: // the writer is already asked
		}
	}
}

// Flush writes every record queued so far and returns when they are stored.
func (l *Ledger) Flush() {
	ack := make(chan struct{})
	select {
	case l.flush <- ack:
		<-ack
	case <-l.done:
	}
}

// Close flushes what is queued and stops the writer. Records after Close
// are dropped.
func (l *Ledger) Close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.room.Broadcast()
		l.mu.Unlock()
		close(l.stop)
	})
	<-l.done
}

// requeue puts rs back before the pending records, to be written next
// time, unless the ledger is closing or the records kept would fill more
// than half its buffer (then Record would wait on an outage): it reports
// whether it kept them.
func (l *Ledger) requeue(rs []store.UsageRecord) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.pending)+len(rs) > ledgerBuffer/2 {
		return false
	}
	l.pending = append(slices.Clone(rs), l.pending...)
	return true
}

func (l *Ledger) run() {
	defer close(l.done)
	tick := time.NewTicker(ledgerFlush)
	defer tick.Stop()
	var spare []store.UsageRecord
	// write stores what is pending, a batch at a time, and keeps the
	// drained list to swap in next time.
	write := func() {
		l.mu.Lock()
		batch := l.pending
		l.pending = spare[:0]
		l.room.Broadcast()
		l.mu.Unlock()
		spare = batch
		for len(batch) > 0 {
			n := min(len(batch), ledgerBatch)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := l.store.AppendUsage(ctx, batch[:n])
			cancel()
			if err != nil && errors.Is(err, store.ErrUnavailable) && l.requeue(batch) {
				// The store is away: keep what is left for the next
				// write instead of dropping it.
				l.log.Warn("usage ledger write failed; records kept to retry", "records", len(batch), "error", err)
				clear(batch)
				return
			}
			if err != nil {
				l.log.Error("usage ledger write failed", "records", n, "error", err)
			}
			clear(batch[:n])
			batch = batch[n:]
		}
	}
	for {
		select {
		case <-tick.C:
			write()
		case <-l.kick:
			write()
		case ack := <-l.flush:
			write()
			close(ack)
		case <-l.stop:
			write()
			return
		}
	}
}
