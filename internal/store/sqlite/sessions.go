package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the sessions and messages tables. Every one is filtered by
// tenant; times are in unix milliseconds.
const (
	// sessionTouch creates a session or marks it updated, and returns the
	// Seq of its newest message and the number of messages it keeps.
	// The owner is set when the session is created, never changed.
	sessionTouch = `INSERT INTO sessions (tenant, id, created, updated, last_seq, count, owner)
VALUES (?1, ?2, ?3, ?3, 0, 0, ?4)
ON CONFLICT (tenant, id) DO UPDATE SET updated = excluded.updated
RETURNING last_seq, count`
	sessionSetSeq = `UPDATE sessions SET last_seq = ?, count = ? WHERE tenant = ? AND id = ?`
	sessionGet    = `SELECT created, updated, last_seq, count, owner FROM sessions WHERE tenant = ? AND id = ?`

	// idempotencyPut stores a record unless its key holds one that has not
	// expired (?6 is now): it then changes no row.
	idempotencyPut = `INSERT INTO idempotency (tenant, key, hash, result, seq, expires)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (tenant, key) DO UPDATE SET hash = excluded.hash, result = excluded.result, seq = excluded.seq, expires = excluded.expires
WHERE idempotency.expires <= ?7`
	idempotencyGet = `SELECT hash, result, seq, expires FROM idempotency WHERE tenant = ? AND key = ? AND expires > ?`
	sessionDelete  = `DELETE FROM sessions WHERE tenant = ? AND id = ?`

	messageInsert = `INSERT INTO messages (tenant, session, seq, role, content, incomplete,
	model, request_id, tokens_in, tokens_out, time)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// messagesTrim deletes the messages up to a Seq, for retention.
	messagesTrim = `DELETE FROM messages WHERE tenant = ? AND session = ? AND seq <= ?`
	messagesPage = `SELECT seq, role, content, incomplete, model, request_id, tokens_in, tokens_out, time
FROM messages
WHERE tenant = ? AND session = ? AND seq > ?
ORDER BY seq
LIMIT ?`
	messagesDelete = `DELETE FROM messages WHERE tenant = ? AND session = ?`

	// idleSessions selects a batch of a tenant's sessions not updated since
	// a time, oldest first. Both deletes of a batch run it in the same
	// transaction, so they select the same sessions.
	idleSessions       = `SELECT id FROM sessions WHERE tenant = ?1 AND updated < ?2 ORDER BY updated, id LIMIT ?3`
	idleMessagesDelete = `DELETE FROM messages WHERE tenant = ?1 AND session IN (` + idleSessions + `)`
	idleSessionsDelete = `DELETE FROM sessions WHERE tenant = ?1 AND id IN (` + idleSessions + `)`
)

const (
	// defaultMessagesPerPage is the number of messages Messages returns at
	// most when its limit is zero or negative.
	defaultMessagesPerPage = 100
	// idleSweepBatch bounds the sessions one transaction of
	// DeleteIdleSessions deletes, so that a large backlog never holds the
	// write lock for long.
	idleSweepBatch = 100
)

// Sessions is the store.Sessions kept in a DB, in the tables sessions and
// messages. Its writes are transactions of the writer connection, which
// serialises them: concurrent appends to one session get distinct,
// consecutive Seqs. Its reads go through the reader pool.
//
// Times are kept at millisecond precision and come back in UTC.
type Sessions struct {
	db *DB
}

var _ store.Sessions = (*Sessions)(nil)

// AppendMessages appends msgs to the session, creating it with opts.Owner
// when it does not exist, in one transaction that is durable when it
// returns. Each message gets the next Seq and the DB's clock (Options.Now),
// truncated to the millisecond, as Time; the Seq and Time the caller set
// are ignored. When opts.Keep > 0 the oldest messages beyond the newest
// opts.Keep are deleted, some of msgs among them when opts.Keep < len(msgs);
// opts.Keep <= 0 keeps every message. When opts.Idempotency is set, the
// record is written first in the same transaction, expiring opts.Idempotency.TTL
// after the DB's clock; when its key holds a record that has not expired,
// the transaction is rolled back and the error is store.ErrConflict. It
// returns a copy of msgs with Seq and Time set, and leaves msgs alone.
// Invalid arguments (see store.CheckSession, store.CheckMessages and
// store.CheckAppend) return store.ErrInvalid and write nothing.
func (s *Sessions) AppendMessages(ctx context.Context, t tenant.ID, session string, msgs []store.Message, opts store.AppendOptions) ([]store.Message, error) {
	if err := store.CheckSession(t, session); err != nil {
		return nil, fmt.Errorf("sqlite: append messages: %w", err)
	}
	if err := store.CheckMessages(msgs); err != nil {
		return nil, fmt.Errorf("sqlite: append messages: %w", err)
	}
	if err := store.CheckAppend(opts); err != nil {
		return nil, fmt.Errorf("sqlite: append messages: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: append messages: %w", err)
	}
	now := s.db.now().UnixMilli()
	at := time.UnixMilli(now).UTC()
	tenantID := t.String()

	tx, err := s.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return nil, s.db.fail(ctx, "append messages", err)
	}
	defer tx.Rollback() // a no-op once committed

	var last, count int64
	st := &s.db.stmts // prepared once at open: no SQL is parsed per turn
	if err := tx.StmtContext(ctx, st.sessionTouch).QueryRowContext(ctx, tenantID, session, now, opts.Owner).Scan(&last, &count); err != nil {
		return nil, s.db.fail(ctx, "append messages: session", err)
	}
	if rec := opts.Idempotency; rec != nil {
		expires := time.UnixMilli(now).Add(rec.TTL).UnixMilli()
		res, err := tx.StmtContext(ctx, st.idempotencyPut).ExecContext(ctx, tenantID, rec.Key, rec.Hash, nonNil(rec.Result), last+1, expires, now)
		if err != nil {
			return nil, s.db.fail(ctx, "append messages: idempotency", err)
		}
		n, err := res.RowsAffected()
		switch {
		case err != nil:
			return nil, s.db.fail(ctx, "append messages: idempotency", err)
		case n == 0: // the deferred Rollback undoes the session's touch
			return nil, fmt.Errorf("sqlite: append messages: idempotency key: %w", store.ErrConflict)
		}
	}
	insert := tx.StmtContext(ctx, st.messageInsert)
	out := slices.Clone(msgs)
	for i := range out {
		m := &out[i]
		last++
		m.Seq, m.Time = last, at
		_, err := insert.ExecContext(ctx, tenantID, session, m.Seq, m.Role, m.Content, m.Incomplete,
			m.Model, m.RequestID, m.TokensIn, m.TokensOut, now)
		if err != nil {
			return nil, s.db.fail(ctx, fmt.Sprintf("append messages: message %d", i), err)
		}
	}
	count += int64(len(out))
	if keep := opts.Keep; keep > 0 && count > int64(keep) {
		// The kept messages are the Seqs last-count+1 to last: dropping the
		// oldest is a range delete on the primary key.
		if _, err := tx.StmtContext(ctx, st.messagesTrim).ExecContext(ctx, tenantID, session, last-int64(keep)); err != nil {
			return nil, s.db.fail(ctx, "append messages: retention", err)
		}
		count = int64(keep)
	}
	if _, err := tx.StmtContext(ctx, st.sessionSetSeq).ExecContext(ctx, last, count, tenantID, session); err != nil {
		return nil, s.db.fail(ctx, "append messages: session", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.db.fail(ctx, "append messages: commit", err)
	}
	return out, nil
}

// Idempotency returns the idempotency record of tenant t under key, unless
// it has expired by the DB's clock, or store.ErrNotFound.
func (s *Sessions) Idempotency(ctx context.Context, t tenant.ID, key string) (store.IdempotencyRecord, error) {
	if err := store.CheckKV(t, key); err != nil {
		return store.IdempotencyRecord{}, fmt.Errorf("sqlite: idempotency: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return store.IdempotencyRecord{}, fmt.Errorf("sqlite: idempotency: %w", err)
	}
	rec := store.IdempotencyRecord{Key: key}
	var expires int64
	err := s.db.stmts.idempotencyGet.QueryRowContext(ctx, t.String(), key, s.db.now().UnixMilli()).Scan(&rec.Hash, &rec.Result, &rec.Seq, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.IdempotencyRecord{}, store.ErrNotFound
	case err != nil:
		return store.IdempotencyRecord{}, s.db.fail(ctx, "idempotency", err)
	}
	rec.Expires = time.UnixMilli(expires).UTC()
	return rec, nil
}

// Session returns the description of a session of tenant t, or
// store.ErrNotFound when t has no such session.
func (s *Sessions) Session(ctx context.Context, t tenant.ID, session string) (store.SessionInfo, error) {
	if err := store.CheckSession(t, session); err != nil {
		return store.SessionInfo{}, fmt.Errorf("sqlite: session: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return store.SessionInfo{}, fmt.Errorf("sqlite: session: %w", err)
	}
	info, err := sessionInfo(ctx, s.db.stmts.sessionGet, t, session)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.SessionInfo{}, store.ErrNotFound
	case err != nil:
		return store.SessionInfo{}, s.db.fail(ctx, "session", err)
	}
	return info, nil
}

// Messages returns up to limit messages of a session with Seq > after,
// oldest first, or store.ErrNotFound when tenant t has no such session. A
// limit of zero or less means 100, and one above store.MaxMessagesPerPage
// means store.MaxMessagesPerPage. The session and its messages are read in
// one transaction, so a page never mixes two states of the session.
func (s *Sessions) Messages(ctx context.Context, t tenant.ID, session string, after int64, limit int) ([]store.Message, error) {
	if err := store.CheckSession(t, session); err != nil {
		return nil, fmt.Errorf("sqlite: messages: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: messages: %w", err)
	}
	switch {
	case limit <= 0:
		limit = defaultMessagesPerPage
	case limit > store.MaxMessagesPerPage:
		limit = store.MaxMessagesPerPage
	}

	tx, err := s.db.reader.BeginTx(ctx, nil) // a deferred BEGIN: a read snapshot
	if err != nil {
		return nil, s.db.fail(ctx, "messages", err)
	}
	defer tx.Rollback() // it wrote nothing: there is nothing to commit
	info, err := sessionInfo(ctx, tx.StmtContext(ctx, s.db.stmts.sessionGet), t, session)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.db.fail(ctx, "messages", err)
	case after >= info.LastSeq:
		return nil, nil
	}
	rows, err := tx.StmtContext(ctx, s.db.stmts.messagesPage).QueryContext(ctx, t.String(), session, after, limit)
	if err != nil {
		return nil, s.db.fail(ctx, "messages", err)
	}
	defer rows.Close()
	out := make([]store.Message, 0, max(0, min(int64(limit), info.Messages)))
	for rows.Next() {
		var m store.Message
		var ms int64
		err := rows.Scan(&m.Seq, &m.Role, &m.Content, &m.Incomplete, &m.Model, &m.RequestID, &m.TokensIn, &m.TokensOut, &ms)
		if err != nil {
			return nil, s.db.fail(ctx, "messages", err)
		}
		m.Time = time.UnixMilli(ms).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, "messages", err)
	}
	return out, nil
}

// DeleteSession deletes a session of tenant t and its messages, or returns
// store.ErrNotFound when t has no such session.
func (s *Sessions) DeleteSession(ctx context.Context, t tenant.ID, session string) error {
	if err := store.CheckSession(t, session); err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	if err := s.db.ready(ctx); err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	tx, err := s.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return s.db.fail(ctx, "delete session", err)
	}
	defer tx.Rollback() // a no-op once committed
	res, err := tx.ExecContext(ctx, sessionDelete, t.String(), session)
	if err != nil {
		return s.db.fail(ctx, "delete session", err)
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return s.db.fail(ctx, "delete session", err)
	case n == 0:
		return store.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, messagesDelete, t.String(), session); err != nil {
		return s.db.fail(ctx, "delete session: messages", err)
	}
	if err := tx.Commit(); err != nil {
		return s.db.fail(ctx, "delete session: commit", err)
	}
	return nil
}

// DeleteIdleSessions deletes the sessions of tenant t last updated before
// before, with their messages, and returns how many it deleted. It deletes
// them in batches of 100, oldest first, one transaction each, so that a
// large sweep does not hold up the other writers; when it fails, the batches
// already committed stay deleted and are counted in the number returned. A
// zero before deletes nothing.
func (s *Sessions) DeleteIdleSessions(ctx context.Context, t tenant.ID, before time.Time) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("sqlite: delete idle sessions: %w: tenant id is required", store.ErrInvalid)
	}
	if err := s.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: delete idle sessions: %w", err)
	}
	// updated < bound holds exactly when the stored time is before before.
	bound := store.MilliBound(before, math.MinInt64)
	var total int64
	for {
		n, err := s.deleteIdleBatch(ctx, t.String(), bound)
		total += n
		if err != nil {
			return total, s.db.fail(ctx, "delete idle sessions", err)
		}
		if n < idleSweepBatch {
			return total, nil
		}
	}
}

// deleteIdleBatch deletes up to idleSweepBatch sessions of tenant whose
// updated is before bound, with their messages, in one transaction.
func (s *Sessions) deleteIdleBatch(ctx context.Context, tenantID string, bound int64) (int64, error) {
	tx, err := s.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // a no-op once committed
	if _, err := tx.ExecContext(ctx, idleMessagesDelete, tenantID, bound, idleSweepBatch); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, idleSessionsDelete, tenantID, bound, idleSweepBatch)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// sessionInfo reads the row of a session, or returns sql.ErrNoRows.
func sessionInfo(ctx context.Context, get *sql.Stmt, t tenant.ID, session string) (store.SessionInfo, error) {
	info := store.SessionInfo{ID: session}
	var created, updated int64
	err := get.QueryRowContext(ctx, t.String(), session).Scan(&created, &updated, &info.LastSeq, &info.Messages, &info.Owner)
	if err != nil {
		return store.SessionInfo{}, err
	}
	info.Created = time.UnixMilli(created).UTC()
	info.Updated = time.UnixMilli(updated).UTC()
	return info, nil
}

// nonNil returns b, or an empty slice for nil, which the driver would
// store as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
