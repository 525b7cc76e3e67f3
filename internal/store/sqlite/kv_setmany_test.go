package sqlite_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestKVSetMany(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "kv.db"), sqlite.Options{})
	kv := db.KV()
	acme, _ := tenant.ParseID("acme")
	globex, _ := tenant.ParseID("globex")
	ctx := t.Context()
	items := map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": nil}
	if err := kv.SetMany(ctx, acme, items, time.Hour); err != nil {
		t.Fatal(err)
	}
	for k, want := range items {
		got, err := kv.Get(ctx, acme, k)
		if err != nil || string(got) != string(want) {
			t.Errorf("Get(%q) = %q, %v; want %q", k, got, err, want)
		}
		if _, err := kv.Get(ctx, globex, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("globex sees %q: %v", k, err)
		}
	}
	// One bad item: nothing is written.
	bad := map[string][]byte{"d": []byte("4"), strings.Repeat("k", store.MaxKeyBytes+1): []byte("x")}
	if err := kv.SetMany(ctx, acme, bad, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetMany with an oversized key = %v, want ErrInvalid", err)
	}
	if _, err := kv.Get(ctx, acme, "d"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected batch wrote d: %v", err)
	}
	if err := kv.SetMany(ctx, tenant.ID{}, items, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("zero tenant = %v, want ErrInvalid", err)
	}
}
