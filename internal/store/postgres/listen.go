package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// ListenOptions configures a CorpusListener. The zero value gives the
// defaults, and a listener that calls nothing.
type ListenOptions struct {
	// OnChange is called with the tenant and the new corpus version of
	// each change to the documents of the DB's schema, from the listener's
	// goroutine, one call at a time: it must return quickly.
	OnChange func(t tenant.ID, version int64)
	// OnConnect is called each time the listener has connected and
	// listens, the first time and after every reconnection: notifications
	// sent while it was not listening are lost, so the callee checks the
	// versions of what it holds.
	OnConnect func()
	// Retry is the wait before connecting again after the connection was
	// lost or could not be made. Zero means one second.
	Retry time.Duration
	// Name is the connection's application_name, which pg_stat_activity
	// shows. The default is "crispy corpus listener".
	Name string
}

// CorpusListener keeps a connection of its own that LISTENs on
// CorpusChannel, and calls ListenOptions.OnChange for every notification
// of its DB's schema. It reconnects, after ListenOptions.Retry, whenever
// the connection is lost. Close stops it.
type CorpusListener struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// ListenCorpus starts a CorpusListener on the database and as the user of
// db's DSN. It returns at once: the listener connects in the background
// and calls OnConnect once it listens.
func (db *DB) ListenCorpus(opts ListenOptions) *CorpusListener {
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Name == "" {
		opts.Name = "crispy corpus listener"
	}
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = opts.Name
	ctx, cancel := context.WithCancel(context.Background())
	l := &CorpusListener{cancel: cancel, done: make(chan struct{})}
	go l.run(ctx, db, cfg, opts)
	return l
}

// Close stops the listener and waits for it to end. Closing it again does
// nothing.
func (l *CorpusListener) Close() {
	l.cancel()
	<-l.done
}

// run connects, listens and reads notifications until ctx is done.
func (l *CorpusListener) run(ctx context.Context, db *DB, cfg *pgx.ConnConfig, opts ListenOptions) {
	defer close(l.done)
	prefix := db.schema + " "
	for ctx.Err() == nil {
		err := l.listen(ctx, cfg, func(payload string) {
			rest, ok := strings.CutPrefix(payload, prefix)
			if !ok || opts.OnChange == nil {
				return // another schema's
			}
			id, v, ok := strings.Cut(rest, " ")
			t, err := tenant.ParseID(id)
			version, verr := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil || verr != nil {
				db.logger.Warn("corpus notification not understood", "payload", payload)
				return
			}
			opts.OnChange(t, version)
		}, opts.OnConnect)
		if ctx.Err() != nil {
			return
		}
		db.logger.Warn("corpus listener disconnected; reconnecting", "error", err, "retry", opts.Retry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(opts.Retry):
		}
	}
}

// listen runs one connection: it connects, listens, calls onConnect and
// then notify with each payload, until the connection fails or ctx is
// done.
func (l *CorpusListener) listen(ctx context.Context, cfg *pgx.ConnConfig, notify func(string), onConnect func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+CorpusChannel); err != nil {
		return err
	}
	if onConnect != nil {
		onConnect()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		notify(n.Payload)
	}
}
