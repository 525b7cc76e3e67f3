package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/store/storetest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestSessions(t *testing.T) {
	storetest.TestSessions(t, func(t *testing.T) store.Sessions {
		return openDB(t, dbPath(t), sqlite.Options{}).Sessions()
	})
}

func TestSessionsDurability(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)

	db := mustOpen(t, path, sqlite.Options{})
	s := db.Sessions()
	want := mustAppendMessages(t, s, acme, "chat", 0,
		store.Message{Role: "user", Content: "hello", RequestID: "r1"},
		store.Message{Role: "assistant", Content: "hi", Incomplete: true, Model: "openai/gpt-x", RequestID: "r1", TokensIn: 3, TokensOut: 1})
	mustAppendMessages(t, s, acme, "trimmed", 0, userMsgs("t1", "t2", "t3")...)
	mustAppendMessages(t, s, acme, "trimmed", 2, userMsgs("t4")...)
	mustAppendMessages(t, s, globex, "chat", 0, userMsgs("globex's own")...)
	mustAppendMessages(t, s, acme, "deleted", 0, userMsgs("gone")...)
	if err := s.DeleteSession(ctx, acme, "deleted"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	info := mustSessionInfo(t, s, acme, "chat")
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openDB(t, path, sqlite.Options{}).Sessions()
	if got := mustSessionInfo(t, s, acme, "chat"); got != info {
		t.Errorf("after reopen: Session(acme, chat) = %+v, want %+v", got, info)
	}
	got, err := s.Messages(ctx, acme, "chat", 0, 10)
	if err != nil {
		t.Fatalf("after reopen: Messages: %v", err)
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("after reopen: Messages(acme, chat) =\n%+v\nwant\n%+v", got, want)
	}
	tests := []struct {
		id       tenant.ID
		session  string
		contents string
	}{
		{acme, "trimmed", "t3 t4"},
		{globex, "chat", "globex's own"},
	}
	for _, tt := range tests {
		if got := contentsOf(t, s, tt.id, tt.session); got != tt.contents {
			t.Errorf("after reopen: Messages(%v, %q) = %q, want %q", tt.id, tt.session, got, tt.contents)
		}
	}
	if _, err := s.Session(ctx, acme, "deleted"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after reopen: Session(deleted) = %v, want ErrNotFound", err)
	}
	// Seqs go on from where they were.
	if got := mustAppendMessages(t, s, acme, "trimmed", 2, userMsgs("t5")...); got[0].Seq != 5 {
		t.Errorf("after reopen: AppendMessages(trimmed): Seq %d, want 5", got[0].Seq)
	}
}

// TestSessionsClock checks that the store stamps messages and sessions with
// Options.Now, truncated to the millisecond and in UTC, and that the idle
// sweep compares with that stored time exactly.
func TestSessionsClock(t *testing.T) {
	ctx := t.Context()
	clock := newClock()
	s := openDB(t, dbPath(t), sqlite.Options{Now: clock.Now, SweepInterval: -1}).Sessions()
	clock.Advance(1500 * time.Microsecond) // between two milliseconds
	created := clock.Now().Truncate(time.Millisecond)

	got := mustAppendMessages(t, s, acme, "chat", 0, userMsgs("a", "b")...)
	for _, m := range got {
		if !m.Time.Equal(created) || m.Time.Location() != time.UTC {
			t.Errorf("AppendMessages: Time %v, want %v in UTC", m.Time, created)
		}
	}
	clock.Advance(time.Minute)
	updated := clock.Now().Truncate(time.Millisecond)
	got = mustAppendMessages(t, s, acme, "chat", 0, userMsgs("c")...)
	if !got[0].Time.Equal(updated) {
		t.Errorf("second AppendMessages: Time %v, want %v", got[0].Time, updated)
	}
	info := mustSessionInfo(t, s, acme, "chat")
	if !info.Created.Equal(created) || !info.Updated.Equal(updated) {
		t.Errorf("Session: Created %v, Updated %v; want %v, %v", info.Created, info.Updated, created, updated)
	}

	// Idle means updated strictly before the time given.
	clock.Advance(time.Hour)
	for _, before := range []time.Time{updated, updated.Add(-time.Nanosecond), updated.In(time.FixedZone("", 3600))} {
		if n, err := s.DeleteIdleSessions(ctx, acme, before); err != nil || n != 0 {
			t.Errorf("DeleteIdleSessions(%v) = %d, %v; want 0, nil", before, n, err)
		}
	}
	if n, err := s.DeleteIdleSessions(ctx, acme, updated.Add(time.Nanosecond)); err != nil || n != 1 {
		t.Errorf("DeleteIdleSessions(a nanosecond after the update) = %d, %v; want 1, nil", n, err)
	}
}

// TestSessionsIdleBatches sweeps more idle sessions than one batch deletes.
func TestSessionsIdleBatches(t *testing.T) {
	const idle = 234
	ctx := t.Context()
	clock := newClock()
	path := dbPath(t)
	s := openDB(t, path, sqlite.Options{Now: clock.Now, SweepInterval: -1}).Sessions()
	for i := range idle {
		mustAppendMessages(t, s, acme, fmt.Sprintf("idle-%d", i), 0, userMsgs("a", "b")...)
		clock.Advance(time.Millisecond)
	}
	mustAppendMessages(t, s, globex, "idle-0", 0, userMsgs("a")...)
	before := clock.Now()
	clock.Advance(time.Second)
	mustAppendMessages(t, s, acme, "fresh", 0, userMsgs("a")...)

	n, err := s.DeleteIdleSessions(ctx, acme, before)
	if err != nil || n != idle {
		t.Fatalf("DeleteIdleSessions = %d, %v; want %d, nil", n, err, idle)
	}
	if got := countTable(t, path, "sessions"); got != 2 {
		t.Errorf("sessions left = %d, want 2 (acme's fresh one and globex's)", got)
	}
	if got := countTable(t, path, "messages"); got != 2 {
		t.Errorf("messages left = %d, want 2", got)
	}
}

// TestSessionsRows checks the rows behind the counters: retention and
// deletion leave no message behind.
func TestSessionsRows(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	s := openDB(t, path, sqlite.Options{}).Sessions()
	for i := range 30 {
		mustAppendMessages(t, s, acme, "chat", 7, userMsgs(fmt.Sprint(i), "reply")...)
	}
	info := mustSessionInfo(t, s, acme, "chat")
	if info.LastSeq != 60 || info.Messages != 7 {
		t.Errorf("Session = %+v, want LastSeq 60 and 7 messages", info)
	}
	if got := countTable(t, path, "messages"); got != 7 {
		t.Errorf("message rows = %d, want 7", got)
	}
	if err := s.DeleteSession(ctx, acme, "chat"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if got := countTable(t, path, "messages") + countTable(t, path, "sessions"); got != 0 {
		t.Errorf("rows after DeleteSession = %d, want 0", got)
	}
}

// TestSessionsPageLimit checks the default page size.
func TestSessionsPageLimit(t *testing.T) {
	s := openDB(t, dbPath(t), sqlite.Options{}).Sessions()
	batch := make([]store.Message, 150)
	for i := range batch {
		batch[i] = store.Message{Role: "user", Content: fmt.Sprint(i)}
	}
	mustAppendMessages(t, s, acme, "chat", 0, batch...)
	for _, limit := range []int{0, -1} {
		got, err := s.Messages(t.Context(), acme, "chat", 0, limit)
		if err != nil || len(got) != 100 || got[0].Seq != 1 || got[99].Seq != 100 {
			t.Errorf("Messages(limit %d) = %d messages, %v; want Seqs 1 to 100", limit, len(got), err)
		}
	}
}

// TestSessionsBytes checks that content is kept byte for byte beyond what
// the conformance suite asks: NUL and invalid UTF-8 included.
func TestSessionsBytes(t *testing.T) {
	s := openDB(t, dbPath(t), sqlite.Options{}).Sessions()
	texts := []string{"a\x00b", "\x00", "\xff\xfe invalid \xc3", "trailing NUL\x00"}
	mustAppendMessages(t, s, acme, "chat", 0, userMsgs(texts...)...)
	got, err := s.Messages(t.Context(), acme, "chat", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range got {
		if m.Content != texts[i] {
			t.Errorf("message %d = %q, want %q", i, m.Content, texts[i])
		}
	}
}

// TestSessionsCallerSlice checks that AppendMessages leaves the caller's
// slice alone and returns a copy.
func TestSessionsCallerSlice(t *testing.T) {
	s := openDB(t, dbPath(t), sqlite.Options{}).Sessions()
	in := userMsgs("a", "b")
	got := mustAppendMessages(t, s, acme, "chat", 0, in...)
	if in[0].Seq != 0 || !in[0].Time.IsZero() {
		t.Errorf("AppendMessages changed the caller's message to %+v", in[0])
	}
	got[0].Content = "changed"
	if c := contentsOf(t, s, acme, "chat"); c != "a b" {
		t.Errorf("Messages = %q after changing the returned slice, want %q", c, "a b")
	}
}

func TestSessionsClosed(t *testing.T) {
	ctx := t.Context()
	db := mustOpen(t, dbPath(t), sqlite.Options{})
	s := db.Sessions()
	mustAppendMessages(t, s, acme, "chat", 0, userMsgs("a")...)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, appendErr := s.AppendMessages(ctx, acme, "chat", userMsgs("b"), store.AppendOptions{})
	_, sessionErr := s.Session(ctx, acme, "chat")
	_, messagesErr := s.Messages(ctx, acme, "chat", 0, 10)
	_, idleErr := s.DeleteIdleSessions(ctx, acme, time.Now().Add(time.Hour))
	_, laterErr := db.Sessions().Session(ctx, acme, "chat")
	tests := []struct {
		name string
		err  error
	}{
		{"AppendMessages", appendErr},
		{"Session", sessionErr},
		{"Messages", messagesErr},
		{"DeleteSession", s.DeleteSession(ctx, acme, "chat")},
		{"DeleteIdleSessions", idleErr},
		{"Sessions after Close", laterErr},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", tt.name, tt.err)
		}
	}
}

// TestSessionsCancelDuringAppend cancels a large append while it is being
// written: either all of it is stored or none, and the DB stays usable.
func TestSessionsCancelDuringAppend(t *testing.T) {
	const size = 20000
	s := openDB(t, dbPath(t), sqlite.Options{}).Sessions()
	batch := make([]store.Message, size)
	for i := range batch {
		batch[i] = store.Message{Role: "user", Content: strings.Repeat("x", 100)}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	_, err := s.AppendMessages(ctx, acme, "chat", batch, store.AppendOptions{})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AppendMessages with a deadline = %v, want nil or context.DeadlineExceeded", err)
	}
	var want int64
	if err == nil {
		t.Log("the batch was written before the deadline")
		want = size
	}
	got := mustAppendMessages(t, s, acme, "chat", 0, userMsgs("after")...)
	if got[0].Seq != want+1 {
		t.Errorf("AppendMessages after the deadline: Seq %d, want %d", got[0].Seq, want+1)
	}
	if info := mustSessionInfo(t, s, acme, "chat"); info.Messages != want+1 {
		t.Errorf("Session = %+v, want %d messages", info, want+1)
	}
}

// BenchmarkAppendMessages appends one message at a time to a session that
// keeps its newest 500, as a chat turn does: every op is one durable
// transaction, past the first 500 one that also drops the oldest message.
func BenchmarkAppendMessages(b *testing.B) {
	ctx := b.Context()
	s := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).Sessions()
	msg := []store.Message{{Role: "assistant", Content: strings.Repeat("lorem ipsum ", 40), Model: "openai/gpt-x", RequestID: "req", TokensIn: 100, TokensOut: 120}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AppendMessages(ctx, acme, "chat", msg, store.AppendOptions{Keep: 500}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessages reads the newest page of 100 messages of a session of
// 500, as the chat service does to build a prompt.
func BenchmarkMessages(b *testing.B) {
	ctx := b.Context()
	s := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).Sessions()
	batch := make([]store.Message, 500)
	for i := range batch {
		batch[i] = store.Message{Role: "user", Content: strings.Repeat("lorem ipsum ", 40)}
	}
	if _, err := s.AppendMessages(ctx, acme, "chat", batch, store.AppendOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		msgs, err := s.Messages(ctx, acme, "chat", 400, 100)
		if err != nil || len(msgs) != 100 {
			b.Fatalf("Messages = %d, %v", len(msgs), err)
		}
	}
}

func userMsgs(contents ...string) []store.Message {
	msgs := make([]store.Message, len(contents))
	for i, c := range contents {
		msgs[i] = store.Message{Role: "user", Content: c}
	}
	return msgs
}

func mustAppendMessages(t testing.TB, s store.Sessions, id tenant.ID, session string, keep int, msgs ...store.Message) []store.Message {
	t.Helper()
	got, err := s.AppendMessages(t.Context(), id, session, msgs, store.AppendOptions{Keep: keep})
	if err != nil {
		t.Fatalf("AppendMessages(%v, %q): %v", id, session, err)
	}
	return got
}

func mustSessionInfo(t testing.TB, s store.Sessions, id tenant.ID, session string) store.SessionInfo {
	t.Helper()
	info, err := s.Session(t.Context(), id, session)
	if err != nil {
		t.Fatalf("Session(%v, %q): %v", id, session, err)
	}
	return info
}

// contentsOf returns the contents of a session's messages, joined by spaces.
func contentsOf(t testing.TB, s store.Sessions, id tenant.ID, session string) string {
	t.Helper()
	msgs, err := s.Messages(t.Context(), id, session, 0, store.MaxMessagesPerPage)
	if err != nil {
		t.Fatalf("Messages(%v, %q): %v", id, session, err)
	}
	var cs []string
	for _, m := range msgs {
		cs = append(cs, m.Content)
	}
	return strings.Join(cs, " ")
}

// countTable returns the number of rows in table, read directly from the
// database file.
func countTable(t testing.TB, path, table string) int {
	t.Helper()
	var n int
	if err := openRaw(t, path).QueryRowContext(t.Context(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("counting %s rows: %v", table, err)
	}
	return n
}
