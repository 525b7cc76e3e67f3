package rag_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// imageQueries are run before and after a reload: every mode, with and
// without a filter.
var imageQueries = []rag.Query{
	{Text: "refunds handbook section", Mode: rag.ModeHybrid, TopK: 20},
	{Text: "refunds handbook section", Mode: rag.ModeVector, TopK: 20},
	{Text: word(7) + " explains", Mode: rag.ModeBM25, TopK: 20},
	{Text: "section 12 refunds", Mode: rag.ModeHybrid, TopK: 10, Filters: index.Filter{"group": {Eq: "even"}}},
}

// imageDoc is document i with a metadata group and a heading.
func imageDoc(i int) rag.DocumentInput {
	in := docInput(i)
	in.Text = ""
	in.Markdown = fmt.Sprintf("# Document %d\n\n## Refunds\n\n%s\n\n## Hotels\n\nHotel nights of section %d are paid back.", i, docInput(i).Text, i)
	in.Metadata = map[string]any{"group": []string{"even", "odd"}[i%2]}
	return in
}

// answers runs imageQueries and returns the results, without timings, as
// JSON.
func answers(t *testing.T, s *rag.Service, tn *tenant.Tenant) string {
	t.Helper()
	var out []any
	for _, q := range imageQueries {
		res, err := s.Retrieve(t.Context(), tenant.Caller{Tenant: tn}, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Chunks) == 0 {
			t.Fatalf("query %q found nothing", q.Text)
		}
		res.Timings = nil
		out = append(out, res)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logs returns a logger that writes into a buffer.
func logs() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})), &b
}

// imageService is a Service over docs with images in dir, and its log.
func imageService(t *testing.T, gw *gateway.Gateway, docs store.Documents, dir string) (*rag.Service, *bytes.Buffer) {
	t.Helper()
	log, buf := logs()
	s := rag.NewWithOptions(gw, docs, log, nil, rag.Options{ImageDir: dir})
	t.Cleanup(func() { s.Close() })
	return s, buf
}

// scanningDocs counts the scans of a store: the rebuilds of an index.
type scanningDocs struct {
	docsStore
	scans atomic.Int64
}

func (c *scanningDocs) ScanDocuments(ctx context.Context, t tenant.ID, fn func(store.DocumentRecord, []store.StoredChunk) error) error {
	c.scans.Add(1)
	return c.docsStore.ScanDocuments(ctx, t, fn)
}

// TestImageRoundTrip writes a knowledge base's image (at Close) and loads
// it in a new Service: the results of every mode are the same, the load
// reads the image and not the store, and the image is written again after
// more writes and deletes.
func TestImageRoundTrip(t *testing.T) {
	db := openSQLite(t)
	gw, ts := testTenants(t, "acme")
	dir := t.TempDir()
	first := rag.NewWithOptions(gw, db.Documents(), nil, nil, rag.Options{ImageDir: dir})
	for i := range 40 {
		ingest(t, first, ts[0], imageDoc(i))
	}
	if _, err := first.Delete(t.Context(), ts[0].ID, imageDoc(3).ID); err != nil {
		t.Fatal(err)
	}
	want := answers(t, first, ts[0])
	first.Close()
	if _, err := os.Stat(filepath.Join(dir, "acme.kbi")); err != nil {
		t.Fatalf("no image after Close: %v", err)
	}

	// A write cut short by a crash left a temporary file: the load
	// removes it.
	leftover := filepath.Join(dir, "acme.kbi.tmp-12345")
	if err := os.WriteFile(leftover, []byte("half an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	docs := &scanningDocs{docsStore: db.Documents()}
	second, buf := imageService(t, gw, docs, dir)
	if got := answers(t, second, ts[0]); got != want {
		t.Errorf("answers after loading the image differ:\n%s\nwant\n%s", got, want)
	}
	if !bytes.Contains(buf.Bytes(), []byte("knowledge base image loaded")) {
		t.Errorf("the image was not loaded; log:\n%s", buf)
	}
	if n := docs.scans.Load(); n != 0 {
		t.Errorf("the store was scanned %d times, want 0", n)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file of a write cut short is still there: %v", err)
	}

	// Writes on the loaded image: a new document, a replaced one, a
	// deleted one; then an image again, and a third Service from it.
	ingest(t, second, ts[0], imageDoc(100))
	repl := imageDoc(5)
	repl.Markdown += "\n\nA new paragraph about " + word(555) + "."
	ingest(t, second, ts[0], repl)
	if _, err := second.Delete(t.Context(), ts[0].ID, imageDoc(8).ID); err != nil {
		t.Fatal(err)
	}
	want = answers(t, second, ts[0])
	res, err := second.Retrieve(t.Context(), tenant.Caller{Tenant: ts[0]}, rag.Query{Text: word(555), Mode: rag.ModeBM25})
	if err != nil || len(res.Chunks) == 0 || res.Chunks[0].DocID != repl.ID {
		t.Fatalf("the replaced document's new text is not found: %+v, %v", res, err)
	}
	second.Close()
	third, buf := imageService(t, gw, docs, dir)
	if got := answers(t, third, ts[0]); got != want {
		t.Errorf("answers after the second image differ:\n%s\nwant\n%s", got, want)
	}
	if !bytes.Contains(buf.Bytes(), []byte("knowledge base image loaded")) {
		t.Errorf("the second image was not loaded; log:\n%s", buf)
	}
	for _, i := range []int{3, 8} {
		if ok, _ := finds(t, third, ts[0], i); ok {
			t.Errorf("deleted document %d found", i)
		}
	}
}

// writeImage fills tenant tn of db with n documents through a Service with
// images in dir, closes it (which writes the image) and returns the
// answers it gave.
func writeImage(t *testing.T, gw *gateway.Gateway, docs store.Documents, tn *tenant.Tenant, dir string, n int) string {
	t.Helper()
	s := rag.NewWithOptions(gw, docs, nil, nil, rag.Options{ImageDir: dir})
	for i := range n {
		ingest(t, s, tn, imageDoc(i))
	}
	want := answers(t, s, tn)
	s.Close()
	return want
}

// TestImageDamaged checks that a damaged image is never served: a flipped
// byte anywhere, a truncated file, or garbage is rejected, logged, and the
// index rebuilt from the store gives the same answers.
func TestImageDamaged(t *testing.T) {
	db := openSQLite(t)
	gw, ts := testTenants(t, "acme")
	dir := t.TempDir()
	want := writeImage(t, gw, db.Documents(), ts[0], dir, 30)
	path := filepath.Join(dir, "acme.kbi")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b = bytes.Clone(b); b[at] ^= 0x10; return b }
	}
	for name, damage := range map[string]func([]byte) []byte{
		"header byte":  flip(20),
		"index byte":   flip(64<<10 + 100),
		"middle byte":  flip(len(good) / 2),
		"text byte":    flip(len(good) - 3),
		"truncated":    func(b []byte) []byte { return b[:len(b)-1000] },
		"header only":  func(b []byte) []byte { return b[:64<<10] },
		"empty":        func([]byte) []byte { return nil },
		"garbage":      func(b []byte) []byte { return bytes.Repeat([]byte("crispy"), len(b)/6) },
		"format later": func(b []byte) []byte { b = bytes.Clone(b); b[8] = 99; return b },
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, damage(good), 0o644); err != nil {
				t.Fatal(err)
			}
			docs := &scanningDocs{docsStore: db.Documents()}
			s, buf := imageService(t, gw, docs, dir)
			if got := answers(t, s, ts[0]); got != want {
				t.Errorf("answers differ:\n%s\nwant\n%s", got, want)
			}
			if docs.scans.Load() != 1 {
				t.Errorf("the store was scanned %d times, want 1 (a rebuild)", docs.scans.Load())
			}
			if !bytes.Contains(buf.Bytes(), []byte("knowledge base image not used")) {
				t.Errorf("the rejection was not logged:\n%s", buf)
			}
		})
	}
}

// TestImageStale checks an image older than the store (caught up from the
// change feed, or rebuilt when the feed no longer reaches back) and one
// that the store does not know (another database: rebuilt).
func TestImageStale(t *testing.T) {
	gw, ts := testTenants(t, "acme")
	t.Run("behind", func(t *testing.T) {
		db := openSQLite(t)
		dir := t.TempDir()
		writeImage(t, gw, db.Documents(), ts[0], dir, 20)
		// Another writer, without images, moves the store on.
		other, _ := newService(t, gw, db.Documents(), rag.Options{})
		ingest(t, other, ts[0], imageDoc(50))
		if _, err := other.Delete(t.Context(), ts[0].ID, imageDoc(4).ID); err != nil {
			t.Fatal(err)
		}
		docs := &scanningDocs{docsStore: db.Documents()}
		s, _ := imageService(t, gw, docs, dir)
		if ok, _ := finds(t, s, ts[0], 50); !ok {
			t.Error("the document written after the image is not found")
		}
		if ok, _ := finds(t, s, ts[0], 4); ok {
			t.Error("the document deleted after the image is found")
		}
		if docs.scans.Load() != 0 {
			t.Errorf("scanned the store %d times, want 0: the feed catches the image up", docs.scans.Load())
		}
		if got, want := answers(t, s, ts[0]), answers(t, other, ts[0]); got != want {
			t.Errorf("answers differ from a rebuilt index's:\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("another store", func(t *testing.T) {
		dir := t.TempDir()
		writeImage(t, gw, openSQLite(t).Documents(), ts[0], dir, 20)
		// A fresh database at the same version, with other documents.
		db := openSQLite(t)
		plain, _ := newService(t, gw, db.Documents(), rag.Options{})
		for i := 100; i < 120; i++ {
			ingest(t, plain, ts[0], imageDoc(i))
		}
		docs := &scanningDocs{docsStore: db.Documents()}
		s, buf := imageService(t, gw, docs, dir)
		if ok, _ := finds(t, s, ts[0], 3); ok {
			t.Error("a document of the image's store is found")
		}
		if ok, _ := finds(t, s, ts[0], 103); !ok {
			t.Error("a document of the store is not found")
		}
		if docs.scans.Load() != 1 || !bytes.Contains(buf.Bytes(), []byte("not of this store")) {
			t.Errorf("scans %d, want 1; log:\n%s", docs.scans.Load(), buf)
		}
	})
	t.Run("store behind the image", func(t *testing.T) {
		dir := t.TempDir()
		writeImage(t, gw, openSQLite(t).Documents(), ts[0], dir, 20)
		db := openSQLite(t)
		plain, _ := newService(t, gw, db.Documents(), rag.Options{})
		ingest(t, plain, ts[0], imageDoc(7))
		docs := &scanningDocs{docsStore: db.Documents()}
		s, buf := imageService(t, gw, docs, dir)
		if ok, _ := finds(t, s, ts[0], 3); ok {
			t.Error("a document of the image is found")
		}
		if docs.scans.Load() != 1 || !bytes.Contains(buf.Bytes(), []byte("newer than the store")) {
			t.Errorf("scans %d, want 1; log:\n%s", docs.scans.Load(), buf)
		}
	})
}

// TestImageTenantIsolation checks that the image of one tenant is never
// loaded for another, even under the other's file name, and that each
// tenant's image holds only its own documents.
func TestImageTenantIsolation(t *testing.T) {
	db := openSQLite(t)
	gw, ts := testTenants(t, "alpha", "bravo")
	dir := t.TempDir()
	s := rag.NewWithOptions(gw, db.Documents(), nil, nil, rag.Options{ImageDir: dir})
	for i := range 10 {
		ingest(t, s, ts[0], imageDoc(i))
		ingest(t, s, ts[1], imageDoc(100+i))
	}
	s.Close()
	// Alpha's image under bravo's name (the store's versions are alike).
	a, err := os.ReadFile(filepath.Join(dir, "alpha.kbi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bravo.kbi"), a, 0o644); err != nil {
		t.Fatal(err)
	}
	docs := &scanningDocs{docsStore: db.Documents()}
	s2, buf := imageService(t, gw, docs, dir)
	for i := range 10 {
		if ok, _ := finds(t, s2, ts[1], i); ok {
			t.Fatalf("bravo finds alpha's document %d", i)
		}
		if ok, _ := finds(t, s2, ts[1], 100+i); !ok {
			t.Fatalf("bravo does not find its document %d", 100+i)
		}
		if ok, _ := finds(t, s2, ts[0], i); !ok {
			t.Fatalf("alpha does not find its document %d", i)
		}
		if ok, _ := finds(t, s2, ts[0], 100+i); ok {
			t.Fatalf("alpha finds bravo's document %d", 100+i)
		}
	}
	if !bytes.Contains(buf.Bytes(), []byte(`image of tenant \"alpha\"`)) || docs.scans.Load() != 1 {
		t.Errorf("bravo's load: scans %d, want 1 (bravo rebuilt, alpha from its image); log:\n%s", docs.scans.Load(), buf)
	}
}
