package storetest

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
)

// testSessionOwner checks that a session keeps the owner it was created
// with, whatever later appends say, and loses it with the session.
func testSessionOwner(t *testing.T, s store.Sessions) {
	ctx := t.Context()
	owned := func(owner string) store.AppendOptions { return store.AppendOptions{Owner: owner} }
	if _, err := s.AppendMessages(ctx, acme, "owned", []store.Message{userMessage("a")}, owned("key:alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendMessages(ctx, acme, "owned", []store.Message{userMessage("b")}, owned("key:mallory")); err != nil {
		t.Fatal(err)
	}
	if got := mustSession(t, s, acme, "owned").Owner; got != "key:alice" {
		t.Errorf("Owner = %q, want %q, the creator's", got, "key:alice")
	}
	mustAppendMessages(t, s, acme, "unowned", 0, userMessage("a"))
	if got := mustSession(t, s, acme, "unowned").Owner; got != "" {
		t.Errorf("Owner of a session created without one = %q, want empty", got)
	}
	if err := s.DeleteSession(ctx, acme, "owned"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendMessages(ctx, acme, "owned", []store.Message{userMessage("c")}, owned("token:0123")); err != nil {
		t.Fatal(err)
	}
	if got := mustSession(t, s, acme, "owned").Owner; got != "token:0123" {
		t.Errorf("Owner of a session created again = %q, want %q", got, "token:0123")
	}
	long := owned(strings.Repeat("o", store.MaxOwnerBytes+1))
	if _, err := s.AppendMessages(ctx, acme, "long", []store.Message{userMessage("a")}, long); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendMessages with an owner of %d bytes = %v, want ErrInvalid", store.MaxOwnerBytes+1, err)
	}
	wantNoSession(t, s, acme, "long")
}

// testSessionIdempotency checks that an idempotency record is written with
// the messages of its append, in one transaction: a second append with the
// same key writes nothing and fails with ErrConflict, however many race for
// it, until the record expires; records are per tenant.
func testSessionIdempotency(t *testing.T, s store.Sessions) {
	ctx := t.Context()
	if _, err := s.Idempotency(ctx, acme, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Idempotency of a key never used = %v, want ErrNotFound", err)
	}
	rec := func(key, hash, result string, ttl time.Duration) store.AppendOptions {
		return store.AppendOptions{Idempotency: &store.IdempotencyRecord{Key: key, Hash: hash, Result: []byte(result), TTL: ttl}}
	}
	before := time.Now().Add(-time.Second)
	mustAppendMessages(t, s, acme, "chat", 0, userMessage("q0"), store.Message{Role: "assistant", Content: "a0"})
	if _, err := s.AppendMessages(ctx, acme, "chat", []store.Message{userMessage("q1"), {Role: "assistant", Content: "a1"}}, rec("k", "h1", `{"text":"a1"}`, time.Hour)); err != nil {
		t.Fatalf("AppendMessages with an idempotency record: %v", err)
	}
	got, err := s.Idempotency(ctx, acme, "k")
	switch {
	case err != nil:
		t.Fatalf("Idempotency: %v", err)
	case got.Key != "k" || got.Hash != "h1" || !bytes.Equal(got.Result, []byte(`{"text":"a1"}`)) || got.Seq != 3:
		t.Errorf("Idempotency = %+v, want key k, hash h1, the result stored and Seq 3 (the append's first message)", got)
	case got.Expires.Before(before.Add(time.Hour)) || got.Expires.After(time.Now().Add(time.Hour+time.Second)):
		t.Errorf("Expires = %v, want an hour from the append", got.Expires)
	}
	if _, err := s.Idempotency(ctx, globex, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("globex reads acme's record: %v, want ErrNotFound", err)
	}

	// The key is taken: another append with it writes nothing, whatever
	// its session or hash.
	for _, session := range []string{"chat", "other"} {
		_, err := s.AppendMessages(ctx, acme, session, []store.Message{userMessage("q2")}, rec("k", "h2", `{}`, time.Hour))
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("AppendMessages(%s) with a key taken = %v, want ErrConflict", session, err)
		}
	}
	if msgs := mustMessages(t, s, acme, "chat", 0, 10); len(msgs) != 4 {
		t.Errorf("after the conflicts the session holds %q, want the first four messages", contents(msgs))
	}
	wantNoSession(t, s, acme, "other")
	if got, _ := s.Idempotency(ctx, acme, "k"); got.Hash != "h1" {
		t.Errorf("after the conflicts the record has hash %q, want h1", got.Hash)
	}
	// Another tenant's key space is its own.
	if _, err := s.AppendMessages(ctx, globex, "chat", []store.Message{userMessage("g")}, rec("k", "g1", `{}`, time.Hour)); err != nil {
		t.Errorf("globex AppendMessages with acme's key: %v", err)
	}

	// Concurrent appends with one key: exactly one is written.
	const racers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range racers {
		wg.Go(func() {
			_, err := s.AppendMessages(ctx, acme, "race", []store.Message{userMessage("once"), {Role: "assistant", Content: "done"}}, rec("race", "h", `{}`, time.Hour))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("racing AppendMessages: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != racers-1 {
		t.Errorf("%d racing appends with one key: %d written, %d conflicts; want 1 and %d", racers, wins, conflicts, racers-1)
	}
	if msgs := mustMessages(t, s, acme, "race", 0, 100); len(msgs) != 2 {
		t.Errorf("racing appends stored %q, want one turn", contents(msgs))
	}

	// An expired record is not returned, and its key can be used again.
	if _, err := s.AppendMessages(ctx, acme, "short", []store.Message{userMessage("s1")}, rec("short", "old", `{}`, time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(clockDeadline)
	for {
		_, err := s.Idempotency(ctx, acme, "short")
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Idempotency of a record with a TTL of 1ms after %v = %v, want ErrNotFound", clockDeadline, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.AppendMessages(ctx, acme, "short", []store.Message{userMessage("s2")}, rec("short", "new", `{}`, time.Hour)); err != nil {
		t.Fatalf("AppendMessages with an expired key: %v", err)
	}
	if got, err := s.Idempotency(ctx, acme, "short"); err != nil || got.Hash != "new" {
		t.Errorf("Idempotency after reuse of an expired key = %+v, %v; want hash new", got, err)
	}

	// Invalid records write nothing.
	for name, opts := range map[string]store.AppendOptions{
		"empty key":    rec("", "h", `{}`, time.Hour),
		"long key":     rec(strings.Repeat("k", store.MaxKeyBytes+1), "h", `{}`, time.Hour),
		"zero ttl":     rec("bad", "h", `{}`, 0),
		"negative ttl": rec("bad", "h", `{}`, -time.Second),
		"large result": rec("bad", "h", strings.Repeat("r", store.MaxValueBytes+1), time.Hour),
	} {
		if _, err := s.AppendMessages(ctx, acme, "invalid", []store.Message{userMessage("x")}, opts); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: AppendMessages = %v, want ErrInvalid", name, err)
		}
	}
	wantNoSession(t, s, acme, "invalid")
	for _, key := range []string{"", strings.Repeat("k", store.MaxKeyBytes+1)} {
		if _, err := s.Idempotency(ctx, acme, key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Idempotency(%d-byte key) = %v, want ErrInvalid", len(key), err)
		}
	}
}
