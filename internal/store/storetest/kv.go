// Package storetest is a conformance suite for the store interfaces, in the
// manner of testing/fstest: every backend runs it from its own tests so that
// they all honour the same contract, tenant isolation first of all.
//
// A backend's test passes a factory that opens a fresh, empty store and
// registers its cleanup with t.Cleanup:
//
//	func TestKV(t *testing.T) {
//		storetest.TestKV(t, func(t *testing.T) store.KV {
//			db := openTestDB(t) // closed by t.Cleanup
//			return db.KV()
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Timings of the expiry tests. The TTL is short so that the suite stays fast;
// the deadline is long so that it does not flake on a slow or loaded machine.
const (
	shortTTL       = 150 * time.Millisecond
	expiryDeadline = 5 * time.Second
	pollInterval   = 10 * time.Millisecond
)

var (
	acme   = tenant.MustID("acme")
	globex = tenant.MustID("globex")
)

// TestKV runs the KV conformance suite against the store returned by open.
// Each subtest calls open once and expects an empty store; open must arrange
// for the store to be closed with t.Cleanup.
func TestKV(t *testing.T, open func(t *testing.T) store.KV) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, kv store.KV)
	}{
		{"RoundTrip", testRoundTrip},
		{"Keys", testKeys},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"NotFound", testNotFound},
		{"Aliasing", testAliasing},
		{"TTL", testTTL},
		{"Invalid", testInvalid},
		{"TenantIsolation", testTenantIsolation},
		{"Concurrent", testConcurrent},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func testRoundTrip(t *testing.T, kv store.KV) {
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"text", "greeting", []byte("hello, world")},
		{"binary", "binary", []byte{0x00, 0xff, 0x00, 0x01, 0x80, 0x7f, 0x00}},
		{"zero bytes", "zeros", make([]byte, 64)},
		{"empty", "empty", []byte{}},
		{"nil", "nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			mustSet(t, kv, acme, tt.key, tt.value, 0)
			got := mustGet(t, kv, acme, tt.key)
			if !bytes.Equal(got, tt.value) {
				t.Errorf("Get(%q) = %s, want %s", tt.key, brief(got), brief(tt.value))
			}
			if err := kv.Delete(ctx, acme, tt.key); err != nil {
				t.Fatalf("Delete(%q): %v", tt.key, err)
			}
		})
	}
}

// testKeys checks that keys are opaque bytes: no two distinct keys collide,
// whatever they contain.
func testKeys(t *testing.T, kv store.KV) {
	keys := []string{
		"a",
		"A",
		"a ",
		" a",
		"a\x00",
		"a\x00b",
		"a\x00c",
		"\x00",
		"\xff\xfe",
		"ключ",
		"🔑",
		"a/b",
		"a:b",
		"%",
		"_",
		"*",
		"'; DROP TABLE kv; --",
		`"quoted"`,
		strings.Repeat("k", store.MaxKeyBytes),
	}
	for i, k := range keys {
		mustSet(t, kv, acme, k, fmt.Appendf(nil, "value %d", i), 0)
	}
	for i, k := range keys {
		want := fmt.Appendf(nil, "value %d", i)
		if got := mustGet(t, kv, acme, k); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) = %q, want %q", k, got, want)
		}
	}
}

func testOverwrite(t *testing.T, kv store.KV) {
	values := [][]byte{[]byte("first"), []byte("second, and longer"), {}, []byte("last")}
	for _, v := range values {
		mustSet(t, kv, acme, "k", v, 0)
		if got := mustGet(t, kv, acme, "k"); !bytes.Equal(got, v) {
			t.Errorf("after Set(%q): Get = %q, want %q", v, got, v)
		}
	}
}

func testDelete(t *testing.T, kv store.KV) {
	ctx := t.Context()
	mustSet(t, kv, acme, "doomed", []byte("x"), 0)
	mustSet(t, kv, acme, "kept", []byte("y"), 0)
	if err := kv.Delete(ctx, acme, "doomed"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, kv, acme, "doomed")
	if got := mustGet(t, kv, acme, "kept"); string(got) != "y" {
		t.Errorf("Get(kept) = %q after deleting another key, want %q", got, "y")
	}
	if err := kv.Delete(ctx, acme, "doomed"); err != nil {
		t.Errorf("Delete of a deleted key = %v, want nil", err)
	}
	if err := kv.Delete(ctx, acme, "never-set"); err != nil {
		t.Errorf("Delete of a missing key = %v, want nil", err)
	}
	mustSet(t, kv, acme, "doomed", []byte("back"), 0)
	if got := mustGet(t, kv, acme, "doomed"); string(got) != "back" {
		t.Errorf("Get after Delete and Set = %q, want %q", got, "back")
	}
}

func testNotFound(t *testing.T, kv store.KV) {
	wantNotFound(t, kv, acme, "missing")
	mustSet(t, kv, acme, "present", []byte("x"), 0)
	wantNotFound(t, kv, acme, "presen")
	wantNotFound(t, kv, acme, "present ")
	wantNotFound(t, kv, acme, "PRESENT")
}

// testAliasing checks that the store neither keeps the caller's slice nor
// hands out its own: mutating either must not change what is stored.
func testAliasing(t *testing.T, kv store.KV) {
	in := []byte("original")
	mustSet(t, kv, acme, "k", in, 0)
	copy(in, "XXXXXXXX")
	got := mustGet(t, kv, acme, "k")
	if string(got) != "original" {
		t.Fatalf("Get = %q after mutating the slice passed to Set, want %q", got, "original")
	}
	copy(got, "YYYYYYYY")
	if got := mustGet(t, kv, acme, "k"); string(got) != "original" {
		t.Errorf("Get = %q after mutating a slice returned by Get, want %q", got, "original")
	}
}

func testTTL(t *testing.T, kv store.KV) {
	ctx := t.Context()
	start := time.Now()
	mustSet(t, kv, acme, "short", []byte("soon gone"), shortTTL)
	mustSet(t, kv, acme, "forever", []byte("stays"), 0)
	mustSet(t, kv, acme, "reset", []byte("first"), shortTTL)
	mustSet(t, kv, acme, "reset", []byte("second"), 0)
	mustSet(t, kv, acme, "long", []byte("stays too"), time.Hour)

	// Right after Set the value is there, unless the machine stalled for
	// longer than the TTL, which says nothing about the store.
	got, err := kv.Get(ctx, acme, "short")
	switch {
	case err == nil:
		if string(got) != "soon gone" {
			t.Errorf("Get(short) = %q, want %q", got, "soon gone")
		}
	case errors.Is(err, store.ErrNotFound) && time.Since(start) < shortTTL:
		t.Errorf("Get(short) = ErrNotFound %v after Set with ttl %v", time.Since(start), shortTTL)
	case !errors.Is(err, store.ErrNotFound):
		t.Fatalf("Get(short): %v", err)
	}

	waitNotFound(t, kv, acme, "short")
	// Give the first ttl of "reset" (set after "short") time to pass as well.
	time.Sleep(shortTTL)

	tests := []struct{ key, want string }{
		{"forever", "stays"},
		{"reset", "second"},
		{"long", "stays too"},
	}
	for _, tt := range tests {
		if got := mustGet(t, kv, acme, tt.key); string(got) != tt.want {
			t.Errorf("Get(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}

	// An expired key can be set again.
	mustSet(t, kv, acme, "short", []byte("again"), 0)
	if got := mustGet(t, kv, acme, "short"); string(got) != "again" {
		t.Errorf("Get(short) after re-Set = %q, want %q", got, "again")
	}
}

func testInvalid(t *testing.T, kv store.KV) {
	longKey := strings.Repeat("k", store.MaxKeyBytes+1)
	bigValue := make([]byte, store.MaxValueBytes+1)
	tests := []struct {
		name  string
		id    tenant.ID
		key   string
		value []byte
		ttl   time.Duration
	}{
		{"zero tenant", tenant.ID{}, "k", []byte("v"), 0},
		{"empty key", acme, "", []byte("v"), 0},
		{"key too long", acme, longKey, []byte("v"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := kv.Get(ctx, tt.id, tt.key); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Get = %v, want ErrInvalid", err)
			}
			if err := kv.Set(ctx, tt.id, tt.key, tt.value, tt.ttl); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Set = %v, want ErrInvalid", err)
			}
			if err := kv.Delete(ctx, tt.id, tt.key); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Delete = %v, want ErrInvalid", err)
			}
		})
	}

	setOnly := []struct {
		name  string
		value []byte
		ttl   time.Duration
	}{
		{"value too big", bigValue, 0},
		{"negative ttl", []byte("v"), -time.Second},
		{"negative ttl of 1ns", []byte("v"), -1},
	}
	for _, tt := range setOnly {
		t.Run(tt.name, func(t *testing.T) {
			err := kv.Set(t.Context(), acme, "rejected", tt.value, tt.ttl)
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Set = %v, want ErrInvalid", err)
			}
			wantNotFound(t, kv, acme, "rejected")
		})
	}

	t.Run("limits are inclusive", func(t *testing.T) {
		maxKey := strings.Repeat("k", store.MaxKeyBytes)
		mustSet(t, kv, acme, maxKey, []byte("v"), 0)
		if got := mustGet(t, kv, acme, maxKey); string(got) != "v" {
			t.Errorf("Get(max key) = %q, want %q", got, "v")
		}
		if err := kv.Delete(t.Context(), acme, maxKey); err != nil {
			t.Errorf("Delete(max key): %v", err)
		}
		maxValue := bytes.Repeat([]byte{1}, store.MaxValueBytes)
		mustSet(t, kv, acme, "max value", maxValue, 0)
		if got := mustGet(t, kv, acme, "max value"); !bytes.Equal(got, maxValue) {
			t.Errorf("Get(max value) = %s, want %s", brief(got), brief(maxValue))
		}
	})
}

func testTenantIsolation(t *testing.T, kv store.KV) {
	ctx := t.Context()

	mustSet(t, kv, acme, "secret", []byte("acme only"), 0)
	wantNotFound(t, kv, globex, "secret")

	// Deleting through another tenant leaves the key alone.
	if err := kv.Delete(ctx, globex, "secret"); err != nil {
		t.Fatalf("Delete(globex, secret): %v", err)
	}
	if got := mustGet(t, kv, acme, "secret"); string(got) != "acme only" {
		t.Errorf("Get(acme, secret) = %q after globex deleted it, want %q", got, "acme only")
	}

	// The same key in two tenants holds two values.
	mustSet(t, kv, acme, "shared", []byte("acme value"), 0)
	mustSet(t, kv, globex, "shared", []byte("globex value"), 0)
	if got := mustGet(t, kv, acme, "shared"); string(got) != "acme value" {
		t.Errorf("Get(acme, shared) = %q, want %q", got, "acme value")
	}
	if got := mustGet(t, kv, globex, "shared"); string(got) != "globex value" {
		t.Errorf("Get(globex, shared) = %q, want %q", got, "globex value")
	}

	// Overwriting or expiring in one tenant leaves the other alone.
	mustSet(t, kv, globex, "shared", []byte("globex again"), 0)
	if got := mustGet(t, kv, acme, "shared"); string(got) != "acme value" {
		t.Errorf("Get(acme, shared) = %q after globex overwrote it, want %q", got, "acme value")
	}
	if err := kv.Delete(ctx, globex, "shared"); err != nil {
		t.Fatalf("Delete(globex, shared): %v", err)
	}
	wantNotFound(t, kv, globex, "shared")
	if got := mustGet(t, kv, acme, "shared"); string(got) != "acme value" {
		t.Errorf("Get(acme, shared) = %q after globex deleted its own, want %q", got, "acme value")
	}

	// Tenant IDs that are prefixes of one another do not share keys, even
	// where tenant and key would join into the same string.
	mustSet(t, kv, tenant.MustID("abc"), "d", []byte("abc/d"), 0)
	wantNotFound(t, kv, tenant.MustID("ab"), "cd")
	mustSet(t, kv, tenant.MustID("acme-corp"), "x", []byte("acme-corp/x"), 0)
	wantNotFound(t, kv, acme, "x")
	wantNotFound(t, kv, acme, "-corpx")
}

func testConcurrent(t *testing.T, kv store.KV) {
	const (
		workers = 16
		ops     = 50
	)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		id := acme
		if w%2 == 1 {
			id = globex
		}
		wg.Go(func() {
			for i := range ops {
				key := fmt.Sprintf("worker-%d/key-%d", w, i%10)
				value := fmt.Appendf(nil, "worker-%d/value-%d", w, i)
				if err := kv.Set(ctx, id, key, value, 0); err != nil {
					t.Errorf("worker %d: Set(%q): %v", w, key, err)
					return
				}
				got, err := kv.Get(ctx, id, key)
				if err != nil {
					t.Errorf("worker %d: Get(%q): %v", w, key, err)
					return
				}
				if !bytes.Equal(got, value) {
					t.Errorf("worker %d: Get(%q) = %q, want %q", w, key, got, value)
				}

				if err := kv.Set(ctx, id, "shared", value, 0); err != nil {
					t.Errorf("worker %d: Set(shared): %v", w, err)
					return
				}
				got, err = kv.Get(ctx, id, "shared")
				if err != nil {
					t.Errorf("worker %d: Get(shared): %v", w, err)
					return
				}
				if !bytes.HasPrefix(got, []byte("worker-")) {
					t.Errorf("worker %d: Get(shared) = %q, want a value some worker wrote", w, got)
				}
				if i%10 == 9 {
					if err := kv.Delete(ctx, id, fmt.Sprintf("worker-%d/key-0", w)); err != nil {
						t.Errorf("worker %d: Delete: %v", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Each worker's keys hold the last value it wrote to them.
	for w := range workers {
		id := acme
		if w%2 == 1 {
			id = globex
		}
		wantNotFound(t, kv, id, fmt.Sprintf("worker-%d/key-0", w))
		for k := 1; k < 10; k++ {
			key := fmt.Sprintf("worker-%d/key-%d", w, k)
			want := fmt.Sprintf("worker-%d/value-%d", w, ops-10+k)
			if got := mustGet(t, kv, id, key); string(got) != want {
				t.Errorf("Get(%v, %q) = %q, want %q", id, key, got, want)
			}
		}
	}
}

func testContextCanceled(t *testing.T, kv store.KV) {
	mustSet(t, kv, acme, "present", []byte("x"), 0)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := kv.Get(ctx, acme, "present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context = %v, want context.Canceled", err)
	}
	if err := kv.Set(ctx, acme, "new", []byte("x"), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a cancelled context = %v, want context.Canceled", err)
	}
	if err := kv.Delete(ctx, acme, "present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a cancelled context = %v, want context.Canceled", err)
	}

	// Nothing was changed.
	wantNotFound(t, kv, acme, "new")
	if got := mustGet(t, kv, acme, "present"); string(got) != "x" {
		t.Errorf("Get(present) = %q after a cancelled Delete, want %q", got, "x")
	}
}

func mustSet(t *testing.T, kv store.KV, id tenant.ID, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := kv.Set(t.Context(), id, key, value, ttl); err != nil {
		t.Fatalf("Set(%v, %q, %s, %v): %v", id, key, brief(value), ttl, err)
	}
}

func mustGet(t *testing.T, kv store.KV, id tenant.ID, key string) []byte {
	t.Helper()
	v, err := kv.Get(t.Context(), id, key)
	if err != nil {
		t.Fatalf("Get(%v, %q): %v", id, key, err)
	}
	return v
}

func wantNotFound(t *testing.T, kv store.KV, id tenant.ID, key string) {
	t.Helper()
	got, err := kv.Get(t.Context(), id, key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%v, %q) = %s, %v; want ErrNotFound", id, key, brief(got), err)
	}
}

// waitNotFound polls until key has expired, failing the test if it has not
// by expiryDeadline.
func waitNotFound(t *testing.T, kv store.KV, id tenant.ID, key string) {
	t.Helper()
	deadline := time.Now().Add(expiryDeadline)
	for {
		_, err := kv.Get(t.Context(), id, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return
		case err != nil:
			t.Fatalf("Get(%v, %q) while waiting for expiry: %v", id, key, err)
		case time.Now().After(deadline):
			t.Fatalf("Get(%v, %q) still finds the value %v after Set with ttl %v", id, key, expiryDeadline, shortTTL)
		}
		time.Sleep(pollInterval)
	}
}

// brief formats a value for a failure message, eliding large ones.
func brief(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%q... (%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%q", b)
}
