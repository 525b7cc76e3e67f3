package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// clockDeadline bounds how long the idle sweep test waits for the store's
// clock to move past a session's Updated time.
const clockDeadline = 5 * time.Second

// TestSessions runs the Sessions conformance suite against the store
// returned by open. Each subtest calls open once and expects an empty store;
// open must arrange for the store to be closed with t.Cleanup. The store
// must use a clock that advances with real time, such as time.Now.
func TestSessions(t *testing.T, open func(t *testing.T) store.Sessions) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Sessions)
	}{
		{"RoundTrip", testSessionRoundTrip},
		{"SessionIDs", testSessionIDs},
		{"Seq", testSessionSeq},
		{"Retention", testSessionRetention},
		{"Pagination", testSessionPagination},
		{"PageLimit", testSessionPageLimit},
		{"Delete", testSessionDelete},
		{"IdleSweep", testSessionIdleSweep},
		{"Invalid", testSessionInvalid},
		{"TenantIsolation", testSessionTenantIsolation},
		{"Concurrent", testSessionConcurrent},
		{"ContextCanceled", testSessionContextCanceled},
		{"Content", testSessionContent},
		{"Owner", testSessionOwner},
		{"Idempotency", testSessionIdempotency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// testSessionRoundTrip checks that every field of a message comes back as
// appended, that the store sets Seq and Time whatever the caller put there,
// and that the session's description follows the appends.
func testSessionRoundTrip(t *testing.T, s store.Sessions) {
	wantNoSession(t, s, acme, "chat")
	in := []store.Message{
		{Role: "system", Content: "You are terse."},
		{Role: "user", Content: "What is 6×7?", RequestID: "req-1",
			Seq: 99, Time: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}, // ignored
		{Role: "assistant", Content: "Let me check.", Model: "openai/gpt-x", RequestID: "req-1", TokensIn: 12, TokensOut: 4},
		{Role: "tool", Content: `{"result": 42}`, RequestID: "req-2"},
		{Role: "assistant", Content: "It is 4", Incomplete: true, Model: "workersai/@cf/meta/llama-3.1-8b-instruct",
			RequestID: "req-2", TokensIn: 1 << 40, TokensOut: math.MaxInt64},
		{Role: "user", Content: ""},
	}
	got := mustAppendMessages(t, s, acme, "chat", 0, in...)
	if len(got) != len(in) {
		t.Fatalf("AppendMessages returned %d messages, want %d", len(got), len(in))
	}
	for i := range got {
		want := in[i]
		want.Seq, want.Time = int64(i+1), got[i].Time
		if got[i].Time.IsZero() {
			t.Errorf("AppendMessages: message %d has a zero Time", i)
		}
		if !sameMessage(got[i], want) {
			t.Errorf("AppendMessages: message %d = %s, want %s", i, formatMessage(got[i]), formatMessage(want))
		}
	}
	if got[1].Time.Equal(in[1].Time) {
		t.Errorf("AppendMessages kept the Time the caller set, %v", in[1].Time)
	}
	wantMessages(t, mustMessages(t, s, acme, "chat", 0, store.MaxMessagesPerPage), got)

	info := mustSession(t, s, acme, "chat")
	wantInfo(t, info, "chat", 6, 6)
	if info.Created.IsZero() || info.Updated.Before(info.Created) {
		t.Errorf("Session: Created %v, Updated %v; want Created set and Updated not before it", info.Created, info.Updated)
	}
	for _, m := range got {
		if m.Time.Before(info.Created) || m.Time.After(info.Updated) {
			t.Errorf("message %d: Time %v is outside the session's Created %v and Updated %v", m.Seq, m.Time, info.Created, info.Updated)
		}
	}

	// A second append continues the session: Created stays, Updated does
	// not go back, and the new message's time is after the first ones'.
	more := mustAppendMessages(t, s, acme, "chat", 0, store.Message{Role: "user", Content: "And 7×8?", RequestID: "req-3"})
	if more[0].Seq != 7 {
		t.Errorf("second AppendMessages: Seq %d, want 7", more[0].Seq)
	}
	if more[0].Time.Before(got[len(got)-1].Time) {
		t.Errorf("second AppendMessages: Time %v is before the first append's %v", more[0].Time, got[len(got)-1].Time)
	}
	info2 := mustSession(t, s, acme, "chat")
	wantInfo(t, info2, "chat", 7, 7)
	if !info2.Created.Equal(info.Created) {
		t.Errorf("Session after a second append: Created %v, want %v", info2.Created, info.Created)
	}
	if info2.Updated.Before(info.Updated) || info2.Updated.Before(more[0].Time) {
		t.Errorf("Session after a second append: Updated %v, want not before %v nor %v", info2.Updated, info.Updated, more[0].Time)
	}
	wantMessages(t, mustMessages(t, s, acme, "chat", 0, store.MaxMessagesPerPage), append(got, more...))
}

// testSessionIDs checks that session IDs are opaque strings: no two
// distinct IDs share a session, whatever they contain.
func testSessionIDs(t *testing.T, s store.Sessions) {
	ids := []string{
		"a",
		"A",
		"a ",
		" a",
		"a/b",
		"a:b",
		"%",
		"_",
		"*",
		"'; DROP TABLE sessions; --",
		`"quoted"`,
		"сессия",
		"🔑",
		strings.Repeat("s", store.MaxSessionIDBytes),
	}
	for i, id := range ids {
		for j := range i + 1 {
			mustAppendMessages(t, s, acme, id, 0, userMessage(fmt.Sprintf("%d/%d", i, j)))
		}
	}
	for i, id := range ids {
		wantInfo(t, mustSession(t, s, acme, id), id, int64(i+1), int64(i+1))
		msgs := mustMessages(t, s, acme, id, 0, store.MaxMessagesPerPage)
		if len(msgs) == 0 || msgs[0].Content != fmt.Sprintf("%d/0", i) {
			t.Errorf("Messages(%q) = %q, want %d messages starting with %q", id, contents(msgs), i+1, fmt.Sprintf("%d/0", i))
		}
	}
	wantNoSession(t, s, acme, "b")
	wantNoSession(t, s, acme, strings.Repeat("s", store.MaxSessionIDBytes-1))
}

// testSessionSeq checks that Seqs run 1, 2, 3, ... across appends of any
// size, with no gap.
func testSessionSeq(t *testing.T, s store.Sessions) {
	n := 0
	for _, size := range []int{1, 3, 2, 5, 1} {
		batch := make([]store.Message, size)
		for i := range batch {
			n++
			batch[i] = userMessage(fmt.Sprintf("m%d", n))
		}
		got := mustAppendMessages(t, s, acme, "chat", 0, batch...)
		if want := seqRange(int64(n-size+1), int64(n)); !slices.Equal(seqs(got), want) {
			t.Errorf("AppendMessages(%d messages): Seqs %v, want %v", size, seqs(got), want)
		}
	}
	msgs := mustMessages(t, s, acme, "chat", 0, store.MaxMessagesPerPage)
	if got, want := seqs(msgs), seqRange(1, int64(n)); !slices.Equal(got, want) {
		t.Errorf("Messages: Seqs %v, want %v", got, want)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("m%d", i+1); m.Content != want {
			t.Errorf("Messages: Seq %d holds %q, want %q", m.Seq, m.Content, want)
		}
	}
	wantInfo(t, mustSession(t, s, acme, "chat"), "chat", int64(n), int64(n))
}

// testSessionRetention checks that keep drops the oldest messages and
// never renumbers the others.
func testSessionRetention(t *testing.T, s store.Sessions) {
	for i := 1; i <= 5; i++ {
		mustAppendMessages(t, s, acme, "chat", 3, userMessage(fmt.Sprintf("c%d", i)))
	}
	wantKept(t, s, "chat", 5, 3, 5)

	// A batch larger than keep: some of its own messages are dropped, but
	// all of them are returned with their Seqs.
	batch := []store.Message{userMessage("c6"), userMessage("c7"), userMessage("c8"), userMessage("c9")}
	got := mustAppendMessages(t, s, acme, "chat", 3, batch...)
	if want := seqRange(6, 9); !slices.Equal(seqs(got), want) {
		t.Errorf("AppendMessages(4 messages, keep 3): Seqs %v, want %v", seqs(got), want)
	}
	wantKept(t, s, "chat", 9, 7, 9)

	mustAppendMessages(t, s, acme, "chat", 0, userMessage("c10")) // keep 0 keeps everything
	wantKept(t, s, "chat", 10, 7, 10)
	mustAppendMessages(t, s, acme, "chat", 10, userMessage("c11")) // fewer than keep
	wantKept(t, s, "chat", 11, 7, 11)
	mustAppendMessages(t, s, acme, "chat", 5, userMessage("c12")) // exactly keep
	wantKept(t, s, "chat", 12, 8, 12)
	mustAppendMessages(t, s, acme, "chat", 1, userMessage("c13"))
	wantKept(t, s, "chat", 13, 13, 13)
	mustAppendMessages(t, s, acme, "chat", 2, userMessage("c14"))
	wantKept(t, s, "chat", 14, 13, 14)

	// Paging starts at the oldest message kept.
	for _, after := range []int64{0, 5, 12} {
		if got := seqs(mustMessages(t, s, acme, "chat", after, 10)); !slices.Equal(got, []int64{13, 14}) {
			t.Errorf("Messages(after %d) = Seqs %v, want [13 14]", after, got)
		}
	}
	if got := seqs(mustMessages(t, s, acme, "chat", 13, 10)); !slices.Equal(got, []int64{14}) {
		t.Errorf("Messages(after 13) = Seqs %v, want [14]", got)
	}

	// Retention in one session leaves the others alone.
	mustAppendMessages(t, s, acme, "other", 0, userMessage("o1"), userMessage("o2"), userMessage("o3"))
	mustAppendMessages(t, s, acme, "chat", 1, userMessage("c15"))
	wantInfo(t, mustSession(t, s, acme, "other"), "other", 3, 3)
}

// wantKept checks that session holds exactly the messages c<first> to
// c<last> of tenant acme, numbered first to last, and that its description
// agrees.
func wantKept(t *testing.T, s store.Sessions, session string, lastSeq, first, last int64) {
	t.Helper()
	wantInfo(t, mustSession(t, s, acme, session), session, lastSeq, last-first+1)
	msgs := mustMessages(t, s, acme, session, 0, store.MaxMessagesPerPage)
	if got, want := seqs(msgs), seqRange(first, last); !slices.Equal(got, want) {
		t.Errorf("Messages(%q): Seqs %v, want %v", session, got, want)
		return
	}
	for _, m := range msgs {
		if want := fmt.Sprintf("c%d", m.Seq); m.Content != want {
			t.Errorf("Messages(%q): Seq %d holds %q, want %q", session, m.Seq, m.Content, want)
		}
	}
}

// testSessionPagination checks after and limit.
func testSessionPagination(t *testing.T, s store.Sessions) {
	const n = 25
	batch := make([]store.Message, n)
	for i := range batch {
		batch[i] = userMessage(fmt.Sprintf("p%d", i+1))
	}
	mustAppendMessages(t, s, acme, "chat", 0, batch...)

	// Paging by the last Seq of each page visits every message once.
	var pages [][]int64
	after := int64(0)
	for range n {
		page := mustMessages(t, s, acme, "chat", after, 10)
		if len(page) == 0 {
			break
		}
		pages = append(pages, seqs(page))
		after = page[len(page)-1].Seq
	}
	want := [][]int64{seqRange(1, 10), seqRange(11, 20), seqRange(21, 25)}
	if !slices.EqualFunc(pages, want, slices.Equal[[]int64]) {
		t.Errorf("pages of 10 = %v, want %v", pages, want)
	}

	tests := []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 1, []int64{1}},
		{0, 3, []int64{1, 2, 3}},
		{-5, 3, []int64{1, 2, 3}},
		{math.MinInt64, 2, []int64{1, 2}},
		{7, 2, []int64{8, 9}},
		{24, 10, []int64{25}},
		{0, n, seqRange(1, n)},
		{0, n + 1, seqRange(1, n)},
		{25, 10, nil},
		{1000, 10, nil},
		{math.MaxInt64, 10, nil},
	}
	for _, tt := range tests {
		got := mustMessages(t, s, acme, "chat", tt.after, tt.limit)
		if !slices.Equal(seqs(got), tt.want) {
			t.Errorf("Messages(after %d, limit %d) = Seqs %v, want %v", tt.after, tt.limit, seqs(got), tt.want)
		}
		for _, m := range got {
			if want := fmt.Sprintf("p%d", m.Seq); m.Content != want {
				t.Errorf("Messages(after %d, limit %d): Seq %d holds %q, want %q", tt.after, tt.limit, m.Seq, m.Content, want)
			}
		}
	}
}

// testSessionPageLimit checks that a limit above store.MaxMessagesPerPage
// is clamped to it and that a limit of zero or less gives a default page.
func testSessionPageLimit(t *testing.T, s store.Sessions) {
	const n = store.MaxMessagesPerPage + 5
	batch := make([]store.Message, n)
	for i := range batch {
		batch[i] = userMessage(fmt.Sprint(i + 1))
	}
	mustAppendMessages(t, s, acme, "chat", 0, batch...)

	for _, limit := range []int{store.MaxMessagesPerPage, store.MaxMessagesPerPage + 1, math.MaxInt} {
		got := mustMessages(t, s, acme, "chat", 0, limit)
		if want := seqRange(1, store.MaxMessagesPerPage); !slices.Equal(seqs(got), want) {
			t.Errorf("Messages(limit %d) = %d messages (Seqs %d to %d), want Seqs 1 to %d", limit, len(got), firstSeq(got), lastSeq(got), store.MaxMessagesPerPage)
		}
	}
	for _, limit := range []int{0, -1, math.MinInt} {
		got := mustMessages(t, s, acme, "chat", 0, limit)
		if len(got) < 1 || len(got) > store.MaxMessagesPerPage || !slices.Equal(seqs(got), seqRange(1, int64(len(got)))) {
			t.Errorf("Messages(limit %d) = %d messages (Seqs %d to %d), want a default page from Seq 1", limit, len(got), firstSeq(got), lastSeq(got))
		}
	}
	got := mustMessages(t, s, acme, "chat", store.MaxMessagesPerPage, store.MaxMessagesPerPage)
	if want := seqRange(store.MaxMessagesPerPage+1, n); !slices.Equal(seqs(got), want) {
		t.Errorf("Messages(after %d) = Seqs %v, want %v", store.MaxMessagesPerPage, seqs(got), want)
	}
	wantInfo(t, mustSession(t, s, acme, "chat"), "chat", n, n)
}

func testSessionDelete(t *testing.T, s store.Sessions) {
	ctx := t.Context()
	mustAppendMessages(t, s, acme, "doomed", 0, userMessage("d1"), userMessage("d2"), userMessage("d3"))
	mustAppendMessages(t, s, acme, "kept", 0, userMessage("k1"), userMessage("k2"))

	if err := s.DeleteSession(ctx, acme, "doomed"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	wantNoSession(t, s, acme, "doomed")
	if err := s.DeleteSession(ctx, acme, "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession of a deleted session = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, acme, "never-created"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession of a missing session = %v, want ErrNotFound", err)
	}

	wantInfo(t, mustSession(t, s, acme, "kept"), "kept", 2, 2)
	if got := contents(mustMessages(t, s, acme, "kept", 0, 10)); !slices.Equal(got, []string{"k1", "k2"}) {
		t.Errorf("Messages(kept) after deleting another session = %q, want [k1 k2]", got)
	}

	// Appending to a deleted session starts a new one, with none of the
	// old messages.
	got := mustAppendMessages(t, s, acme, "doomed", 0, userMessage("again"))
	if got[0].Seq != 1 {
		t.Errorf("AppendMessages to a deleted session: Seq %d, want 1", got[0].Seq)
	}
	wantInfo(t, mustSession(t, s, acme, "doomed"), "doomed", 1, 1)
	if got := contents(mustMessages(t, s, acme, "doomed", 0, 10)); !slices.Equal(got, []string{"again"}) {
		t.Errorf("Messages of a recreated session = %q, want [again]", got)
	}
}

// testSessionIdleSweep checks that DeleteIdleSessions deletes the sessions
// of one tenant not updated since a time, and only those.
func testSessionIdleSweep(t *testing.T, s store.Sessions) {
	ctx := t.Context()
	mustAppendMessages(t, s, acme, "old-1", 0, userMessage("a"), userMessage("b"))
	mustAppendMessages(t, s, acme, "old-2", 0, userMessage("a"))
	mustAppendMessages(t, s, acme, "touched", 0, userMessage("a"))
	mustAppendMessages(t, s, globex, "old-1", 0, userMessage("a"))
	var earliest, cutoff time.Time
	for i, o := range []struct {
		id      tenant.ID
		session string
	}{{acme, "old-1"}, {acme, "old-2"}, {acme, "touched"}, {globex, "old-1"}} {
		u := mustSession(t, s, o.id, o.session).Updated
		if i == 0 || u.Before(earliest) {
			earliest = u
		}
		if u.After(cutoff) {
			cutoff = u
		}
	}

	// Nothing was updated before the earliest update, nor before the zero time.
	for _, before := range []time.Time{earliest, {}, earliest.Add(-time.Hour)} {
		if n, err := s.DeleteIdleSessions(ctx, acme, before); err != nil || n != 0 {
			t.Errorf("DeleteIdleSessions(acme, %v) = %d, %v; want 0, nil", before, n, err)
		}
	}

	// Wait for the store's clock to pass the cutoff, then update two sessions.
	fresh := waitUpdatedAfter(t, s, acme, "fresh", cutoff)
	mustAppendMessages(t, s, acme, "touched", 0, userMessage("b"))
	if u := mustSession(t, s, acme, "touched").Updated; !u.After(cutoff) {
		t.Fatalf("Session(touched).Updated = %v after an append, want after %v", u, cutoff)
	}

	// Every session updated up to the cutoff is idle; the others are not.
	before := cutoff.Add(time.Nanosecond)
	if n, err := s.DeleteIdleSessions(ctx, acme, before); err != nil || n != 2 {
		t.Fatalf("DeleteIdleSessions(acme) = %d, %v; want 2, nil", n, err)
	}
	wantNoSession(t, s, acme, "old-1")
	wantNoSession(t, s, acme, "old-2")
	wantInfo(t, mustSession(t, s, acme, "touched"), "touched", 2, 2)
	wantInfo(t, mustSession(t, s, acme, "fresh"), "fresh", fresh.LastSeq, fresh.Messages)
	wantInfo(t, mustSession(t, s, globex, "old-1"), "old-1", 1, 1)
	if n, err := s.DeleteIdleSessions(ctx, acme, before); err != nil || n != 0 {
		t.Errorf("second DeleteIdleSessions(acme) = %d, %v; want 0, nil", n, err)
	}

	// The other tenant's idle session goes with a sweep of its own.
	if n, err := s.DeleteIdleSessions(ctx, globex, before); err != nil || n != 1 {
		t.Errorf("DeleteIdleSessions(globex) = %d, %v; want 1, nil", n, err)
	}
	wantNoSession(t, s, globex, "old-1")

	// A time after every update deletes the rest.
	later := mustSession(t, s, acme, "touched").Updated.Add(time.Hour)
	if n, err := s.DeleteIdleSessions(ctx, acme, later); err != nil || n != 2 {
		t.Errorf("DeleteIdleSessions(acme, an hour after the last update) = %d, %v; want 2, nil", n, err)
	}
	wantNoSession(t, s, acme, "touched")
	wantNoSession(t, s, acme, "fresh")

	// A swept session can be started again, from Seq 1.
	if got := mustAppendMessages(t, s, acme, "old-1", 0, userMessage("new")); got[0].Seq != 1 {
		t.Errorf("AppendMessages to a swept session: Seq %d, want 1", got[0].Seq)
	}
	if got := contents(mustMessages(t, s, acme, "old-1", 0, 10)); !slices.Equal(got, []string{"new"}) {
		t.Errorf("Messages of a swept and recreated session = %q, want [new]", got)
	}
}

// waitUpdatedAfter appends to session until the store reports it updated
// after cutoff, and returns its description.
func waitUpdatedAfter(t *testing.T, s store.Sessions, id tenant.ID, session string, cutoff time.Time) store.SessionInfo {
	t.Helper()
	deadline := time.Now().Add(clockDeadline)
	for {
		mustAppendMessages(t, s, id, session, 0, userMessage("tick"))
		info := mustSession(t, s, id, session)
		if info.Updated.After(cutoff) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("Session(%q).Updated is still %v after %v, want after %v: does the store's clock advance?", session, info.Updated, clockDeadline, cutoff)
		}
		time.Sleep(time.Millisecond)
	}
}

func testSessionInvalid(t *testing.T, s store.Sessions) {
	ctx := t.Context()
	existing := mustAppendMessages(t, s, acme, "existing", 0, userMessage("kept"))
	before := mustSession(t, s, acme, "existing")
	longID := strings.Repeat("s", store.MaxSessionIDBytes+1)

	args := []struct {
		name    string
		id      tenant.ID
		session string
	}{
		{"zero tenant", tenant.ID{}, "chat"},
		{"empty session id", acme, ""},
		{"session id too long", acme, longID},
	}
	for _, tt := range args {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := s.AppendMessages(ctx, tt.id, tt.session, []store.Message{userMessage("x")}, store.AppendOptions{}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("AppendMessages = %v, want ErrInvalid", err)
			}
			if _, err := s.Session(ctx, tt.id, tt.session); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Session = %v, want ErrInvalid", err)
			}
			if _, err := s.Messages(ctx, tt.id, tt.session, 0, 10); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Messages = %v, want ErrInvalid", err)
			}
			if err := s.DeleteSession(ctx, tt.id, tt.session); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("DeleteSession = %v, want ErrInvalid", err)
			}
		})
	}
	if n, err := s.DeleteIdleSessions(ctx, tenant.ID{}, time.Now().Add(time.Hour)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("DeleteIdleSessions(zero tenant) = %d, %v; want ErrInvalid", n, err)
	}
	// An oversized ID is refused, not truncated.
	wantNoSession(t, s, acme, longID[:store.MaxSessionIDBytes])

	valid := userMessage("valid")
	batches := []struct {
		name string
		msgs []store.Message
	}{
		{"nil", nil},
		{"empty", []store.Message{}},
		{"empty role", []store.Message{{Content: "x"}}},
		{"capitalised role", []store.Message{{Role: "User", Content: "x"}}},
		{"unknown role", []store.Message{{Role: "bot", Content: "x"}}},
		{"content too large", []store.Message{{Role: "user", Content: strings.Repeat("x", store.MaxMessageBytes+1)}}},
		{"invalid last in a batch", []store.Message{valid, valid, {Role: "narrator", Content: "x"}}},
		{"too large last in a batch", []store.Message{valid, {Role: "assistant", Content: strings.Repeat("é", store.MaxMessageBytes/2+1)}}},
	}
	for _, tt := range batches {
		t.Run(tt.name, func(t *testing.T) {
			for _, session := range []string{"new", "existing"} {
				got, err := s.AppendMessages(t.Context(), acme, session, tt.msgs, store.AppendOptions{})
				if !errors.Is(err, store.ErrInvalid) {
					t.Errorf("AppendMessages(%q) = %d messages, %v; want ErrInvalid", session, len(got), err)
				}
			}
		})
	}

	// Nothing was written: no new session, and the existing one unchanged.
	wantNoSession(t, s, acme, "new")
	after := mustSession(t, s, acme, "existing")
	if after.LastSeq != before.LastSeq || after.Messages != before.Messages || !after.Updated.Equal(before.Updated) {
		t.Errorf("Session(existing) after the rejected appends = %+v, want %+v", after, before)
	}
	wantMessages(t, mustMessages(t, s, acme, "existing", 0, 10), existing)
}

func testSessionTenantIsolation(t *testing.T, s store.Sessions) {
	ctx := t.Context()
	mustAppendMessages(t, s, acme, "shared", 0, userMessage("acme-1"), userMessage("acme-2"), userMessage("acme-3"))
	mustAppendMessages(t, s, acme, "private", 0, userMessage("acme only"))

	// The same session ID in another tenant is another session, with Seqs
	// of its own.
	got := mustAppendMessages(t, s, globex, "shared", 0, userMessage("globex-1"))
	if got[0].Seq != 1 {
		t.Errorf("AppendMessages(globex, shared): Seq %d, want 1", got[0].Seq)
	}
	wantInfo(t, mustSession(t, s, acme, "shared"), "shared", 3, 3)
	wantInfo(t, mustSession(t, s, globex, "shared"), "shared", 1, 1)
	if got := contents(mustMessages(t, s, acme, "shared", 0, 10)); !slices.Equal(got, []string{"acme-1", "acme-2", "acme-3"}) {
		t.Errorf("Messages(acme, shared) = %q, want acme's", got)
	}
	if got := contents(mustMessages(t, s, globex, "shared", 0, 10)); !slices.Equal(got, []string{"globex-1"}) {
		t.Errorf("Messages(globex, shared) = %q, want globex's", got)
	}

	// Another tenant can neither read, page nor delete a session.
	wantNoSession(t, s, globex, "private")
	if err := s.DeleteSession(ctx, globex, "private"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession(globex, private) = %v, want ErrNotFound", err)
	}
	wantInfo(t, mustSession(t, s, acme, "private"), "private", 1, 1)

	// Retention and deletion in one tenant leave the other's session alone.
	mustAppendMessages(t, s, globex, "shared", 1, userMessage("globex-2"))
	wantInfo(t, mustSession(t, s, acme, "shared"), "shared", 3, 3)
	if err := s.DeleteSession(ctx, globex, "shared"); err != nil {
		t.Fatalf("DeleteSession(globex, shared): %v", err)
	}
	wantNoSession(t, s, globex, "shared")
	if got := contents(mustMessages(t, s, acme, "shared", 0, 10)); !slices.Equal(got, []string{"acme-1", "acme-2", "acme-3"}) {
		t.Errorf("Messages(acme, shared) after globex deleted its own = %q, want acme's", got)
	}

	// Another tenant's sweep leaves a session alone, however idle.
	mustAppendMessages(t, s, globex, "shared", 0, userMessage("globex-3"))
	later := mustSession(t, s, globex, "shared").Updated.Add(time.Hour)
	if n, err := s.DeleteIdleSessions(ctx, globex, later); err != nil || n != 1 {
		t.Errorf("DeleteIdleSessions(globex) = %d, %v; want 1, nil", n, err)
	}
	wantInfo(t, mustSession(t, s, acme, "shared"), "shared", 3, 3)
	wantInfo(t, mustSession(t, s, acme, "private"), "private", 1, 1)

	// Tenant IDs that are prefixes of one another share no session, even
	// where tenant and session ID would join into the same string.
	mustAppendMessages(t, s, tenant.MustID("abc"), "d", 0, userMessage("abc/d"))
	wantNoSession(t, s, tenant.MustID("ab"), "cd")
	wantNoSession(t, s, tenant.MustID("ab"), "d")
	mustAppendMessages(t, s, tenant.MustID("acme-corp"), "x", 0, userMessage("acme-corp/x"))
	wantNoSession(t, s, acme, "x")
	wantNoSession(t, s, acme, "-corpx")
	if err := s.DeleteSession(ctx, tenant.MustID("acme-c"), "orpx"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSession(acme-c, orpx) = %v, want ErrNotFound", err)
	}
	wantInfo(t, mustSession(t, s, tenant.MustID("acme-corp"), "x"), "x", 1, 1)
}

// testSessionConcurrent checks that concurrent appends to one session are
// each atomic: every message gets its own Seq, with no gap and no
// duplicate, and a reader never sees a gap either.
func testSessionConcurrent(t *testing.T, s store.Sessions) {
	const (
		workers = 16
		appends = 20
		total   = workers * appends
	)
	ctx := t.Context()
	var writers, readers sync.WaitGroup
	done := make(chan struct{})
	got := make([][]int64, workers) // the Seqs each worker was given
	for w := range workers {
		writers.Go(func() {
			for i := range appends {
				msg := store.Message{Role: "user", Content: fmt.Sprintf("worker-%d/%d", w, i), RequestID: fmt.Sprint(w)}
				out, err := s.AppendMessages(ctx, acme, "busy", []store.Message{msg}, store.AppendOptions{})
				if err != nil {
					t.Errorf("worker %d: AppendMessages %d: %v", w, i, err)
					return
				}
				got[w] = append(got[w], out[0].Seq)
			}
		})
	}
	for r := range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond): // leave the writers some room
				}
				msgs, err := s.Messages(ctx, acme, "busy", 0, store.MaxMessagesPerPage)
				switch {
				case errors.Is(err, store.ErrNotFound):
					continue // no append has committed yet
				case err != nil:
					t.Errorf("reader %d: Messages: %v", r, err)
					return
				}
				if want := seqRange(1, int64(len(msgs))); !slices.Equal(seqs(msgs), want) {
					t.Errorf("reader %d: Messages = Seqs %v, want 1 to %d with no gap", r, seqs(msgs), len(msgs))
					return
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	if t.Failed() {
		return
	}

	wantOnceEach(t, "Seqs", got, total)
	wantInfo(t, mustSession(t, s, acme, "busy"), "busy", total, total)

	msgs := allMessages(t, s, acme, "busy")
	if want := seqRange(1, total); !slices.Equal(seqs(msgs), want) {
		t.Fatalf("Messages = Seqs %v, want 1 to %d", seqs(msgs), total)
	}
	seen := make(map[string]int64)
	for _, m := range msgs {
		if prev, ok := seen[m.Content]; ok {
			t.Errorf("message %q stored twice, as Seqs %d and %d", m.Content, prev, m.Seq)
		}
		seen[m.Content] = m.Seq
	}
	for w := range workers {
		for i := range appends {
			content := fmt.Sprintf("worker-%d/%d", w, i)
			if seq, ok := seen[content]; !ok {
				t.Errorf("message %q is missing", content)
			} else if seq != got[w][i] {
				t.Errorf("message %q is stored as Seq %d, but AppendMessages returned Seq %d", content, seq, got[w][i])
			}
		}
	}
}

func testSessionContextCanceled(t *testing.T, s store.Sessions) {
	present := mustAppendMessages(t, s, acme, "present", 0, userMessage("x"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.AppendMessages(ctx, acme, "new", []store.Message{userMessage("y")}, store.AppendOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendMessages(new) with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := s.AppendMessages(ctx, acme, "present", []store.Message{userMessage("y")}, store.AppendOptions{Keep: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendMessages(present) with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := s.Session(ctx, acme, "present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Session with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := s.Messages(ctx, acme, "present", 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Messages with a cancelled context = %v, want context.Canceled", err)
	}
	if err := s.DeleteSession(ctx, acme, "present"); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteSession with a cancelled context = %v, want context.Canceled", err)
	}
	later := present[0].Time.Add(time.Hour)
	if _, err := s.DeleteIdleSessions(ctx, acme, later); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteIdleSessions with a cancelled context = %v, want context.Canceled", err)
	}

	// Nothing was changed.
	wantNoSession(t, s, acme, "new")
	wantInfo(t, mustSession(t, s, acme, "present"), "present", 1, 1)
	wantMessages(t, mustMessages(t, s, acme, "present", 0, 10), present)
}

// testSessionContent checks that text of any script, and messages as large
// as store.MaxMessageBytes, come back byte for byte. It sticks to valid
// UTF-8 without NUL, which is what a chat message decoded from JSON is and
// what every database's text type holds.
func testSessionContent(t *testing.T, s store.Sessions) {
	texts := []string{
		"héllo wörld",
		"日本語のテキスト、中文文本、한국어",
		"family 👩‍👩‍👧‍👦, flag 🇳🇴, fire 🔥",
		"RTL: שלום, مرحبا",
		"combining: e\u0301 vs é",
		"quotes ' \" ` \\ and '; DROP TABLE messages; --",
		"line 1\nline 2\r\n\ttabbed",
		"%_*? [brackets] {braces}",
		"separators \u2028 \u2029 and a BOM \ufeff",
		"edges \u0080 \u07ff \u0800 \uffff \U00010000 \U0010ffff",
		"  leading and trailing spaces  ",
	}
	in := make([]store.Message, len(texts))
	for i, text := range texts {
		in[i] = store.Message{Role: "assistant", Content: text, Model: "org/модель:v1 🔥", RequestID: "req-ключ-" + fmt.Sprint(i)}
	}
	session := "сессия-🔑"
	got := mustAppendMessages(t, s, acme, session, 0, in...)
	wantMessages(t, mustMessages(t, s, acme, session, 0, store.MaxMessagesPerPage), got)
	for i := range got {
		if got[i].Content != texts[i] || got[i].Model != in[i].Model || got[i].RequestID != in[i].RequestID {
			t.Errorf("message %d = %s, want %s", i, formatMessage(got[i]), formatMessage(in[i]))
		}
	}

	// Messages at the size limit, several in one append.
	var pattern strings.Builder
	for i := 0; pattern.Len() < store.MaxMessageBytes; i++ {
		fmt.Fprintf(&pattern, "%08d,", i)
	}
	large := []store.Message{
		{Role: "user", Content: strings.Repeat("é", store.MaxMessageBytes/2)},
		{Role: "assistant", Content: pattern.String()[:store.MaxMessageBytes]},
		{Role: "tool", Content: strings.Repeat("🔥", store.MaxMessageBytes/4)},
	}
	for i, m := range large {
		if len(m.Content) != store.MaxMessageBytes {
			t.Fatalf("large message %d is %d bytes, want %d", i, len(m.Content), store.MaxMessageBytes)
		}
	}
	appended := mustAppendMessages(t, s, acme, "large", 0, large...)
	read := mustMessages(t, s, acme, "large", 0, 10)
	wantMessages(t, read, appended)
	for i := range read {
		if i < len(large) && read[i].Content != large[i].Content {
			t.Errorf("large message %d came back as %s, want %s", i, briefString(read[i].Content), briefString(large[i].Content))
		}
	}
}

// userMessage returns a message of the user with the given content.
func userMessage(content string) store.Message {
	return store.Message{Role: "user", Content: content}
}

func mustAppendMessages(t *testing.T, s store.Sessions, id tenant.ID, session string, keep int, msgs ...store.Message) []store.Message {
	t.Helper()
	got, err := s.AppendMessages(t.Context(), id, session, msgs, store.AppendOptions{Keep: keep})
	if err != nil {
		t.Fatalf("AppendMessages(%v, %q, %d messages, keep %d): %v", id, session, len(msgs), keep, err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("AppendMessages(%v, %q, %d messages) returned %d messages", id, session, len(msgs), len(got))
	}
	return got
}

func mustSession(t *testing.T, s store.Sessions, id tenant.ID, session string) store.SessionInfo {
	t.Helper()
	info, err := s.Session(t.Context(), id, session)
	if err != nil {
		t.Fatalf("Session(%v, %q): %v", id, session, err)
	}
	return info
}

func mustMessages(t *testing.T, s store.Sessions, id tenant.ID, session string, after int64, limit int) []store.Message {
	t.Helper()
	msgs, err := s.Messages(t.Context(), id, session, after, limit)
	if err != nil {
		t.Fatalf("Messages(%v, %q, after %d, limit %d): %v", id, session, after, limit, err)
	}
	if limit > 0 && len(msgs) > limit {
		t.Fatalf("Messages(%v, %q, after %d, limit %d) returned %d messages", id, session, after, limit, len(msgs))
	}
	return msgs
}

// allMessages pages through every message of a session.
func allMessages(t *testing.T, s store.Sessions, id tenant.ID, session string) []store.Message {
	t.Helper()
	var all []store.Message
	after := int64(0)
	for {
		page := mustMessages(t, s, id, session, after, 100)
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

// wantNoSession fails the test unless both Session and Messages report that
// tenant id has no such session.
func wantNoSession(t *testing.T, s store.Sessions, id tenant.ID, session string) {
	t.Helper()
	if info, err := s.Session(t.Context(), id, session); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(%v, %q) = %+v, %v; want ErrNotFound", id, session, info, err)
	}
	if msgs, err := s.Messages(t.Context(), id, session, 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Messages(%v, %q) = %q, %v; want ErrNotFound", id, session, contents(msgs), err)
	}
}

// wantInfo checks the ID and counters of a session's description.
func wantInfo(t *testing.T, got store.SessionInfo, id string, lastSeq, messages int64) {
	t.Helper()
	if got.ID != id || got.LastSeq != lastSeq || got.Messages != messages {
		t.Errorf("Session = {ID %q, LastSeq %d, Messages %d}, want {ID %q, LastSeq %d, Messages %d}",
			got.ID, got.LastSeq, got.Messages, id, lastSeq, messages)
	}
}

// wantMessages fails the test unless got and want hold the same messages in
// the same order, their times as instants.
func wantMessages(t *testing.T, got, want []store.Message) {
	t.Helper()
	if slices.EqualFunc(got, want, sameMessage) {
		return
	}
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		g, w := "-", "-"
		if i < len(got) {
			g = formatMessage(got[i])
		}
		if i < len(want) {
			w = formatMessage(want[i])
		}
		mark := " "
		if g != w {
			mark = "!"
		}
		fmt.Fprintf(&b, "\n%s %d: got  %s\n%s %d: want %s", mark, i, g, mark, i, w)
	}
	t.Errorf("Messages = %d messages, want %d:%s", len(got), len(want), b.String())
}

// sameMessage reports whether a and b are equal, their times as instants.
func sameMessage(a, b store.Message) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

// formatMessage formats a message for a failure message, eliding large
// contents.
func formatMessage(m store.Message) string {
	return fmt.Sprintf("{Seq %d, Role %q, Content %s, Incomplete %t, Model %q, RequestID %q, Tokens %d/%d, Time %v}",
		m.Seq, m.Role, briefString(m.Content), m.Incomplete, m.Model, m.RequestID, m.TokensIn, m.TokensOut, m.Time)
}

// briefString formats a string for a failure message, eliding large ones.
func briefString(s string) string {
	if len(s) > 32 {
		return fmt.Sprintf("%q... (%d bytes)", s[:32], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func seqs(msgs []store.Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.Seq)
	}
	return out
}

func contents(msgs []store.Message) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Content)
	}
	return out
}

// wantOnceEach checks numbers handed out to concurrent workers (given[w]
// went to worker w): increasing for each worker, and together 1 to total,
// each once.
func wantOnceEach(t *testing.T, what string, given [][]int64, total int64) {
	t.Helper()
	var all []int64
	for w, ns := range given {
		if !slices.IsSorted(ns) {
			t.Errorf("worker %d was given %s %v, want them increasing", w, what, ns)
		}
		all = append(all, ns...)
	}
	slices.Sort(all)
	if want := seqRange(1, total); !slices.Equal(all, want) {
		t.Errorf("the workers were given %s %v, want 1 to %d once each", what, all, total)
	}
}

// seqRange returns the numbers from to to, both included.
func seqRange(from, to int64) []int64 {
	out := []int64{}
	for seq := from; seq <= to; seq++ {
		out = append(out, seq)
	}
	return out
}

// firstSeq and lastSeq return the Seq of the first and last of msgs, or 0.
func firstSeq(msgs []store.Message) int64 {
	if len(msgs) == 0 {
		return 0
	}
	return msgs[0].Seq
}

func lastSeq(msgs []store.Message) int64 {
	if len(msgs) == 0 {
		return 0
	}
	return msgs[len(msgs)-1].Seq
}
