package postgres_test

import (
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestCorpusListener checks that the listener reports the changes of its
// own schema only, with their tenant and version, and that after its
// connection is cut it connects again, says so, and reports what follows.
func TestCorpusListener(t *testing.T) {
	ctx := t.Context()
	db := postgres.OpenTest(t, postgres.Options{})
	other := postgres.OpenTest(t, postgres.Options{})
	type change struct {
		t tenant.ID
		v int64
	}
	changes := make(chan change, 16)
	connects := make(chan struct{}, 16)
	name := "crispy test listener " + db.Schema()
	l := db.ListenCorpus(postgres.ListenOptions{
		OnChange:  func(t tenant.ID, v int64) { changes <- change{t, v} },
		OnConnect: func() { connects <- struct{}{} },
		Retry:     20 * time.Millisecond,
		Name:      name,
	})
	defer l.Close()
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s within 5 s", what)
		}
	}
	wantChange := func(want change) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Errorf("change %v %d, want %v %d", got.t, got.v, want.t, want.v)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no change within 5 s, want %v %d", want.t, want.v)
		}
	}
	wait("connect", connects)

	doc := store.DocumentRecord{ID: "doc"}
	if _, err := other.Documents().PutDocument(ctx, acme, doc, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Documents().PutDocument(ctx, globex, doc, nil); err != nil {
		t.Fatal(err)
	}
	wantChange(change{globex, 1}) // and not other's

	// Cut the listener's connection from the server's side.
	raw := postgres.Raw(t, "public")
	tag, err := raw.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, name)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("terminate the listener's backend: %v, %v", tag, err)
	}
	wait("reconnect", connects)
	if _, err := db.Documents().DeleteDocument(ctx, globex, "doc"); err != nil {
		t.Fatal(err)
	}
	wantChange(change{globex, 2})
	select {
	case got := <-changes:
		t.Errorf("unexpected change %v", got)
	default:
	}
	l.Close()
	l.Close()
}
