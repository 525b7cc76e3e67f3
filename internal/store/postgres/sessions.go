package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the sessions, messages and idempotency tables. Every one is
// filtered by tenant; times are in unix milliseconds.
const (
	// sessionTouch creates a session or marks it updated, and returns the
	// Seq of its newest message and the number of messages it keeps. It
	// locks the session's row until the transaction ends: the appends to
	// one session take their Seqs in turn. The owner is set when the
	// session is created, never changed.
	sessionTouch = `INSERT INTO sessions (tenant, id, created, updated, last_seq, count, owner)
VALUES ($1, $2, $3, $3, 0, 0, $4)
ON CONFLICT (tenant, id) DO UPDATE SET updated = excluded.updated
RETURNING last_seq, count`
	sessionSetSeq = `UPDATE sessions SET last_seq = $3, count = $4 WHERE tenant = $1 AND id = $2`
	sessionGet    = `SELECT created, updated, last_seq, count, owner FROM sessions WHERE tenant = $1 AND id = $2`
	sessionDelete = `DELETE FROM sessions WHERE tenant = $1 AND id = $2`

	// idempotencyPut stores a record unless its key holds one that has not
	// expired ($7 is now): it then changes no row.
	idempotencyPut = `INSERT INTO idempotency (tenant, key, hash, result, seq, expires)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant, key) DO UPDATE SET hash = excluded.hash, result = excluded.result, seq = excluded.seq, expires = excluded.expires
WHERE idempotency.expires <= $7`
	idempotencyGet = `SELECT hash, result, seq, expires FROM idempotency WHERE tenant = $1 AND key = $2 AND expires > $3`

	messagesInsert = `INSERT INTO messages (tenant, session, seq, role, content, incomplete,
	model, request_id, tokens_in, tokens_out, time)
SELECT $1, $2, *, $11 FROM unnest($3::bigint[], $4::text[], $5::text[], $6::boolean[],
	$7::text[], $8::text[], $9::bigint[], $10::bigint[])`
	// messagesTrim deletes the messages up to a Seq, for retention.
	messagesTrim = `DELETE FROM messages WHERE tenant = $1 AND session = $2 AND seq <= $3`
	// messagesPage reads a session and a page of its messages in one
	// statement, so one snapshot: a row with a NULL seq when the page is
	// empty, none when the session does not exist.
	messagesPage = `SELECT s.last_seq, m.seq, coalesce(m.role, ''), coalesce(m.content, ''), coalesce(m.incomplete, false),
	coalesce(m.model, ''), coalesce(m.request_id, ''), coalesce(m.tokens_in, 0), coalesce(m.tokens_out, 0), coalesce(m.time, 0)
FROM sessions s LEFT JOIN LATERAL (
	SELECT * FROM messages
	WHERE messages.tenant = s.tenant AND messages.session = s.id AND messages.seq > $3
	ORDER BY messages.seq
	LIMIT $4
) m ON true
WHERE s.tenant = $1 AND s.id = $2
ORDER BY m.seq`
	messagesDelete = `DELETE FROM messages WHERE tenant = $1 AND session = $2`

	// idleDelete deletes a batch of a tenant's sessions not updated since
	// a time, oldest first, with their messages, and counts them.
	idleDelete = `WITH gone AS (
	DELETE FROM sessions WHERE tenant = $1 AND id IN (
		SELECT id FROM sessions WHERE tenant = $1 AND updated < $2 ORDER BY updated, id LIMIT $3 FOR UPDATE)
	RETURNING id
), msgs AS (
	DELETE FROM messages WHERE tenant = $1 AND session IN (SELECT id FROM gone)
)
SELECT count(*) FROM gone`
)

const (
	// defaultMessagesPerPage is the number of messages Messages returns at
	// most when its limit is zero or negative.
	defaultMessagesPerPage = 100
	// idleSweepBatch bounds the sessions one transaction of
	// DeleteIdleSessions deletes.
	idleSweepBatch = 100
)

// Sessions is the store.Sessions kept in a DB, in the tables sessions,
// messages and idempotency. An append locks its session's row for its
// transaction, so that concurrent appends to one session, from any
// replica, get distinct, consecutive Seqs.
//
// Times are kept at millisecond precision and come back in UTC. Text must
// be UTF-8 without NUL (what PostgreSQL's text holds): other text is
// store.ErrInvalid.
type Sessions struct {
	db *DB
}

var _ store.Sessions = (*Sessions)(nil)

// messageColumns holds the messages of an append column by column.
type messageColumns struct {
	seq, tokensIn, tokensOut        []int64
	role, content, model, requestID []string
	incomplete                      []bool
}

// AppendMessages appends msgs to the session, creating it with opts.Owner
// when it does not exist, in one transaction that is durable when it
// returns. Each message gets the next Seq and the DB's clock (Options.Now),
// truncated to the millisecond, as Time; the Seq and Time the caller set
// are ignored. When opts.Keep > 0 the oldest messages beyond the newest
// opts.Keep are deleted. When opts.Idempotency is set, the record is
// written in the same transaction, expiring opts.Idempotency.TTL after the
// DB's clock; when its key holds a record that has not expired, the
// transaction is rolled back and the error is store.ErrConflict. It returns
// a copy of msgs with Seq and Time set, and leaves msgs alone.
func (s *Sessions) AppendMessages(ctx context.Context, t tenant.ID, session string, msgs []store.Message, opts store.AppendOptions) ([]store.Message, error) {
	if err := store.CheckSession(t, session); err != nil {
		return nil, fmt.Errorf("postgres: append messages: %w", err)
	}
	if err := store.CheckMessages(msgs); err != nil {
		return nil, fmt.Errorf("postgres: append messages: %w", err)
	}
	if err := store.CheckAppend(opts); err != nil {
		return nil, fmt.Errorf("postgres: append messages: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: append messages: %w", err)
	}
	now := s.db.now().UnixMilli()
	at := time.UnixMilli(now).UTC()
	tenantID := t.String()

	tx, err := s.db.pool.Begin(ctx)
	if err != nil {
		return nil, s.db.fail(ctx, "append messages", err)
	}
	defer tx.Rollback(ctx) // a no-op once committed
	b := tenantBatch(tenantID)
	b.Queue(sessionTouch, tenantID, session, now, opts.Owner)
	var last, count int64
	br := tx.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&last, &count)
	}
	if err == nil {
		err = br.Close()
	} else {
		br.Close()
	}
	if err != nil {
		return nil, s.db.fail(ctx, "append messages: session", err)
	}

	out := slices.Clone(msgs)
	var cols messageColumns
	first := last + 1
	for i := range out {
		m := &out[i]
		last++
		m.Seq, m.Time = last, at
		cols.seq = append(cols.seq, m.Seq)
		cols.role = append(cols.role, m.Role)
		cols.content = append(cols.content, m.Content)
		cols.incomplete = append(cols.incomplete, m.Incomplete)
		cols.model = append(cols.model, m.Model)
		cols.requestID = append(cols.requestID, m.RequestID)
		cols.tokensIn = append(cols.tokensIn, m.TokensIn)
		cols.tokensOut = append(cols.tokensOut, m.TokensOut)
	}
	count += int64(len(out))

	b = &pgx.Batch{}
	if rec := opts.Idempotency; rec != nil {
		expires := time.UnixMilli(now).Add(rec.TTL).UnixMilli()
		b.Queue(idempotencyPut, tenantID, []byte(rec.Key), rec.Hash, nonNil(rec.Result), first, expires, now)
	}
	b.Queue(messagesInsert, tenantID, session, cols.seq, cols.role, cols.content, cols.incomplete,
		cols.model, cols.requestID, cols.tokensIn, cols.tokensOut, now)
	if keep := opts.Keep; keep > 0 && count > int64(keep) {
		// The kept messages are the Seqs last-count+1 to last: dropping the
		// oldest is a range delete on the primary key.
		b.Queue(messagesTrim, tenantID, session, last-int64(keep))
		count = int64(keep)
	}
	b.Queue(sessionSetSeq, tenantID, session, last, count)
	br = tx.SendBatch(ctx, b)
	conflict := false
	for i := range b.Len() {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return nil, s.db.fail(ctx, "append messages", err)
		}
		if i == 0 && opts.Idempotency != nil && tag.RowsAffected() == 0 {
			conflict = true
		}
	}
	if err := br.Close(); err != nil {
		return nil, s.db.fail(ctx, "append messages", err)
	}
	if conflict { // the deferred Rollback undoes the whole append
		return nil, fmt.Errorf("postgres: append messages: idempotency key: %w", store.ErrConflict)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.db.fail(ctx, "append messages: commit", err)
	}
	return out, nil
}

// Idempotency returns the idempotency record of tenant t under key, unless
// it has expired by the DB's clock, or store.ErrNotFound.
func (s *Sessions) Idempotency(ctx context.Context, t tenant.ID, key string) (store.IdempotencyRecord, error) {
	if err := store.CheckKV(t, key); err != nil {
		return store.IdempotencyRecord{}, fmt.Errorf("postgres: idempotency: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return store.IdempotencyRecord{}, fmt.Errorf("postgres: idempotency: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(idempotencyGet, t.String(), []byte(key), s.db.now().UnixMilli())
	br, err := s.db.send(ctx, b)
	if err != nil {
		return store.IdempotencyRecord{}, s.db.fail(ctx, "idempotency", err)
	}
	defer br.Close()
	rec := store.IdempotencyRecord{Key: key}
	var expires int64
	switch err := br.QueryRow().Scan(&rec.Hash, &rec.Result, &rec.Seq, &expires); {
	case errors.Is(err, pgx.ErrNoRows):
		return store.IdempotencyRecord{}, store.ErrNotFound
	case err != nil:
		return store.IdempotencyRecord{}, s.db.fail(ctx, "idempotency", err)
	}
	if rec.Result == nil {
		rec.Result = []byte{}
	}
	rec.Expires = time.UnixMilli(expires).UTC()
	return rec, nil
}

// Session returns the description of a session of tenant t, or
// store.ErrNotFound when t has no such session.
func (s *Sessions) Session(ctx context.Context, t tenant.ID, session string) (store.SessionInfo, error) {
	if err := store.CheckSession(t, session); err != nil {
		return store.SessionInfo{}, fmt.Errorf("postgres: session: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return store.SessionInfo{}, fmt.Errorf("postgres: session: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(sessionGet, t.String(), session)
	br, err := s.db.send(ctx, b)
	if err != nil {
		return store.SessionInfo{}, s.db.fail(ctx, "session", err)
	}
	defer br.Close()
	info := store.SessionInfo{ID: session}
	var created, updated int64
	switch err := br.QueryRow().Scan(&created, &updated, &info.LastSeq, &info.Messages, &info.Owner); {
	case errors.Is(err, pgx.ErrNoRows):
		return store.SessionInfo{}, store.ErrNotFound
	case err != nil:
		return store.SessionInfo{}, s.db.fail(ctx, "session", err)
	}
	info.Created = time.UnixMilli(created).UTC()
	info.Updated = time.UnixMilli(updated).UTC()
	return info, nil
}

// Messages returns up to limit messages of a session with Seq > after,
// oldest first, or store.ErrNotFound when tenant t has no such session. A
// limit of zero or less means 100, and one above store.MaxMessagesPerPage
// means store.MaxMessagesPerPage. The session and its messages are read by
// one statement, so a page never mixes two states of the session.
func (s *Sessions) Messages(ctx context.Context, t tenant.ID, session string, after int64, limit int) ([]store.Message, error) {
	if err := store.CheckSession(t, session); err != nil {
		return nil, fmt.Errorf("postgres: messages: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: messages: %w", err)
	}
	switch {
	case limit <= 0:
		limit = defaultMessagesPerPage
	case limit > store.MaxMessagesPerPage:
		limit = store.MaxMessagesPerPage
	}
	b := tenantBatch(t.String())
	b.Queue(messagesPage, t.String(), session, after, limit)
	br, err := s.db.send(ctx, b)
	if err != nil {
		return nil, s.db.fail(ctx, "messages", err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, s.db.fail(ctx, "messages", err)
	}
	defer rows.Close()
	found := false
	var out []store.Message
	for rows.Next() {
		found = true
		var m store.Message
		var lastSeq int64
		var seq *int64
		var ms int64
		if err := rows.Scan(&lastSeq, &seq, &m.Role, &m.Content, &m.Incomplete, &m.Model, &m.RequestID, &m.TokensIn, &m.TokensOut, &ms); err != nil {
			return nil, s.db.fail(ctx, "messages", err)
		}
		if seq == nil {
			continue // the session has no message after after
		}
		m.Seq = *seq
		m.Time = time.UnixMilli(ms).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, "messages", err)
	}
	if !found {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// DeleteSession deletes a session of tenant t and its messages, or returns
// store.ErrNotFound when t has no such session. The messages are deleted
// by a statement of their own, which runs once the session's row is
// deleted: it sees the messages of an append that held the row before.
func (s *Sessions) DeleteSession(ctx context.Context, t tenant.ID, session string) error {
	if err := store.CheckSession(t, session); err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(sessionDelete, t.String(), session)
	b.Queue(messagesDelete, t.String(), session)
	n, err := s.db.exec(ctx, b)
	if err != nil {
		return s.db.fail(ctx, "delete session", err)
	}
	if n[0] == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteIdleSessions deletes the sessions of tenant t last updated before
// before, with their messages, and returns how many it deleted. It deletes
// them in batches of 100, oldest first, one transaction each; when it
// fails, the batches already committed stay deleted and are counted in the
// number returned. A zero before deletes nothing.
func (s *Sessions) DeleteIdleSessions(ctx context.Context, t tenant.ID, before time.Time) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("postgres: delete idle sessions: %w: tenant id is required", store.ErrInvalid)
	}
	if err := s.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: delete idle sessions: %w", err)
	}
	// updated < bound holds exactly when the stored time is before before.
	bound := store.MilliBound(before, math.MinInt64)
	var total int64
	for {
		b := tenantBatch(t.String())
		b.Queue(idleDelete, t.String(), bound, idleSweepBatch)
		var n int64
		br, err := s.db.send(ctx, b)
		if err == nil {
			err = br.QueryRow().Scan(&n)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return total, s.db.fail(ctx, "delete idle sessions", err)
		}
		total += n
		if n < idleSweepBatch {
			return total, nil
		}
	}
}
