package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
)

// Ledger batching: records are appended in the background, in batches of up
// to ledgerBatch or every ledgerFlush, so that the hot path only hands a
// record to a channel. A full buffer makes Record wait (back-pressure)
// rather than drop usage.
const (
	ledgerBuffer = 8192
	ledgerBatch  = 512
	ledgerFlush  = 250 * time.Millisecond
)

// Ledger writes usage records to the store in the background.
type Ledger struct {
	store store.Usage
	log   *slog.Logger
	in    chan store.UsageRecord
	flush chan chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewLedger starts a ledger writing to s. Close it to flush and stop.
func NewLedger(s store.Usage, log *slog.Logger) *Ledger {
	l := &Ledger{
		store: s,
		log:   log,
		in:    make(chan store.UsageRecord, ledgerBuffer),
		flush: make(chan chan struct{}),
		done:  make(chan struct{}),
	}
	go l.run()
	return l
}

// Record queues r for the ledger.
func (l *Ledger) Record(r store.UsageRecord) { l.in <- r }

// Flush writes every record queued so far and returns when they are stored.
func (l *Ledger) Flush() {
	ack := make(chan struct{})
	select {
	case l.flush <- ack:
		<-ack
	case <-l.done:
	}
}

// Close flushes what is queued and stops the writer. Record must not be
// called after Close.
func (l *Ledger) Close() {
	l.once.Do(func() { close(l.in) })
	<-l.done
}

func (l *Ledger) run() {
	defer close(l.done)
	tick := time.NewTicker(ledgerFlush)
	defer tick.Stop()
	batch := make([]store.UsageRecord, 0, ledgerBatch)
	write := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.store.AppendUsage(ctx, batch); err != nil {
			l.log.Error("usage ledger write failed", "records", len(batch), "error", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case r, ok := <-l.in:
			if !ok {
				write()
				return
			}
			batch = append(batch, r)
			if len(batch) >= ledgerBatch {
				write()
			}
		case <-tick.C:
			write()
		case ack := <-l.flush:
			for drained := false; !drained; {
				select {
				case r, ok := <-l.in:
					if !ok {
						drained = true
						break
					}
					batch = append(batch, r)
					if len(batch) >= ledgerBatch {
						write()
					}
				default:
					drained = true
				}
			}
			write()
			close(ack)
		}
	}
}
