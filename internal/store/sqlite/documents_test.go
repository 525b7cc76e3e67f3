package sqlite_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/store/storetest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestDocuments(t *testing.T) {
	storetest.TestDocuments(t, func(t *testing.T) store.Documents {
		return openDB(t, dbPath(t), sqlite.Options{}).Documents()
	})
}

func TestDocumentsDurability(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)

	db := mustOpen(t, path, sqlite.Options{})
	d := db.Documents()
	guide, guideChunks := testDocument("guide", 1, 3, 384)
	mustPutDoc(t, d, acme, guide, guideChunks)
	guide, guideChunks = testDocument("guide", 2, 2, 384) // replaced
	mustPutDoc(t, d, acme, guide, guideChunks)
	faq, faqChunks := testDocument("faq", 1, 0, 0)
	mustPutDoc(t, d, acme, faq, faqChunks)
	deleted, deletedChunks := testDocument("deleted", 1, 4, 8)
	mustPutDoc(t, d, acme, deleted, deletedChunks)
	if _, err := d.DeleteDocument(ctx, acme, "deleted"); err != nil {
		t.Fatalf("DeleteDocument: %v", err)
	}
	globexGuide, globexChunks := testDocument("guide", 9, 1, 16)
	mustPutDoc(t, d, globex, globexGuide, globexChunks)
	before := readTenant(t, d, acme)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	d = openDB(t, path, sqlite.Options{}).Documents()
	after := readTenant(t, d, acme)
	if got, want := after.String(), before.String(); got != want {
		t.Errorf("after reopen: acme holds\n%s\nwant\n%s", got, want)
	}
	if after.version != 5 {
		t.Errorf("after reopen: CorpusVersion(acme) = %d, want 5", after.version)
	}
	if !slices.Equal(after.ids, []string{"faq", "guide"}) {
		t.Errorf("after reopen: acme's documents are %q, want [faq guide]", after.ids)
	}
	if got := mustChunksOf(t, d, acme, "guide"); !sameChunks(got, guideChunks) {
		t.Errorf("after reopen: Chunks(acme, guide) differ from those put")
	}
	if got := mustChunksOf(t, d, globex, "guide"); !sameChunks(got, globexChunks) {
		t.Errorf("after reopen: Chunks(globex, guide) differ from those put")
	}
	if _, err := d.Document(ctx, acme, "deleted"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after reopen: Document(deleted) = %v, want ErrNotFound", err)
	}
	// Versions go on from where they were.
	if v := mustPutDoc(t, d, acme, faq, faqChunks); v != 6 {
		t.Errorf("after reopen: PutDocument = version %d, want 6", v)
	}
}

// TestDocumentsClock checks that the store stamps documents with
// Options.Now, truncated to the millisecond and in UTC, and keeps Created.
func TestDocumentsClock(t *testing.T) {
	clock := newClock()
	d := openDB(t, dbPath(t), sqlite.Options{Now: clock.Now, SweepInterval: -1}).Documents()
	clock.Advance(1500 * time.Microsecond) // between two milliseconds
	created := clock.Now().Truncate(time.Millisecond)
	doc, chunks := testDocument("doc", 1, 1, 4)
	mustPutDoc(t, d, acme, doc, chunks)
	got := mustDocumentOf(t, d, acme, "doc")
	if !got.Created.Equal(created) || !got.Updated.Equal(created) || got.Created.Location() != time.UTC || got.Updated.Location() != time.UTC {
		t.Errorf("Document: Created %v, Updated %v; want %v in UTC", got.Created, got.Updated, created)
	}

	clock.Advance(time.Hour)
	updated := clock.Now().Truncate(time.Millisecond)
	mustPutDoc(t, d, acme, doc, chunks)
	got = mustDocumentOf(t, d, acme, "doc")
	if !got.Created.Equal(created) || !got.Updated.Equal(updated) {
		t.Errorf("Document after a second put: Created %v, Updated %v; want %v, %v", got.Created, got.Updated, created, updated)
	}
}

// TestDocumentsScanPages scans a tenant that takes several pages, both by
// number of documents and by number of chunks, while fn writes to the store.
func TestDocumentsScanPages(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	d := openDB(t, path, sqlite.Options{}).Documents()

	// 600 small documents: more than two pages of documents. They are
	// written directly, in one transaction, to keep the test fast.
	var ids []string
	raw := openRaw(t, path)
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := range 600 {
		id := fmt.Sprintf("small-%03d", i)
		ids = append(ids, id)
		_, err := tx.ExecContext(ctx, `INSERT INTO documents VALUES (?, ?, ?, '', 'text', '{}', '', '', 0, 1, '', 0, 0)`, acme.String(), id, id)
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO chunks VALUES (?, ?, 0, ?, '[]', ?, 0, 0, 0, '', NULL)`, acme.String(), id, id+"#0", id)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Documents with more chunks than a page holds, among the small ones.
	large := map[string][]store.StoredChunk{}
	for _, id := range []string{"small-100-large", "small-101-large", "small-400-large"} {
		doc, chunks := testDocument(id, 1, 1500, 4)
		mustPutDoc(t, d, acme, doc, chunks)
		large[id] = chunks
		ids = append(ids, id)
	}
	mustPutDoc(t, d, globex, store.DocumentRecord{ID: "small-200"}, nil)
	slices.Sort(ids)

	var visited []string
	err = d.ScanDocuments(ctx, acme, func(doc store.DocumentRecord, chunks []store.StoredChunk) error {
		visited = append(visited, doc.ID)
		if len(chunks) != doc.Chunks {
			return fmt.Errorf("document %q has Chunks %d and came with %d chunks", doc.ID, doc.Chunks, len(chunks))
		}
		want, ok := large[doc.ID]
		switch {
		case doc.ID == "zzz":
			want = nil
		case !ok:
			want = []store.StoredChunk{{ID: doc.ID + "#0", DocID: doc.ID, Text: doc.ID}}
		}
		if !sameChunks(chunks, want) {
			return fmt.Errorf("document %q came with other chunks than those put", doc.ID)
		}
		// fn may write: a document put ahead of the scan, in a later page,
		// is seen; one put behind it is not.
		if len(visited) == 1 {
			mustPutDoc(t, d, acme, store.DocumentRecord{ID: "zzz"}, nil)
			mustPutDoc(t, d, acme, store.DocumentRecord{ID: "a-behind"}, nil)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ScanDocuments: %v", err)
	}
	if want := append(slices.Clone(ids), "zzz"); !slices.Equal(visited, want) {
		t.Errorf("ScanDocuments visited %d documents, want %d: %q... %q", len(visited), len(want), visited[:min(3, len(visited))], visited[max(0, len(visited)-3):])
	}
}

// TestDocumentsPageLimit checks the default and largest pages of Documents.
func TestDocumentsPageLimit(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	d := openDB(t, path, sqlite.Options{}).Documents()
	const n = store.MaxDocumentsPage + 5
	raw := openRaw(t, path)
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := range n {
		_, err := tx.ExecContext(ctx, `INSERT INTO documents VALUES (?, ?, '', '', 'text', '{}', '', '', 0, 0, '', 0, 0)`, acme.String(), fmt.Sprintf("doc-%04d", i))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit, want int
	}{
		{0, 100}, {-1, 100}, {math.MinInt, 100},
		{1, 1}, {store.MaxDocumentsPage, store.MaxDocumentsPage},
		{store.MaxDocumentsPage + 1, store.MaxDocumentsPage}, {math.MaxInt, store.MaxDocumentsPage},
	}
	for _, tt := range tests {
		got, err := d.Documents(ctx, acme, "", tt.limit)
		if err != nil || len(got) != tt.want || got[0].ID != "doc-0000" || got[len(got)-1].ID != fmt.Sprintf("doc-%04d", tt.want-1) {
			t.Errorf("Documents(limit %d) = %d documents, %v; want doc-0000 to doc-%04d", tt.limit, len(got), err, tt.want-1)
		}
	}
}

// TestDocumentsRows checks the rows behind the documents: a replace or a
// delete leaves no chunk behind, and the version has one row per tenant.
func TestDocumentsRows(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	d := openDB(t, path, sqlite.Options{}).Documents()
	for _, n := range []int{7, 3, 0, 5} {
		doc, chunks := testDocument("doc", n, n, 4)
		mustPutDoc(t, d, acme, doc, chunks)
		if got := countTable(t, path, "chunks"); got != n {
			t.Errorf("chunk rows after a put of %d chunks = %d", n, got)
		}
	}
	other, otherChunks := testDocument("doc", 1, 2, 4)
	mustPutDoc(t, d, globex, other, otherChunks)
	if _, err := d.DeleteDocument(ctx, acme, "doc"); err != nil {
		t.Fatalf("DeleteDocument: %v", err)
	}
	tests := []struct {
		table string
		want  int
	}{{"documents", 1}, {"chunks", 2}, {"corpus", 2}}
	for _, tt := range tests {
		if got := countTable(t, path, tt.table); got != tt.want {
			t.Errorf("%s rows = %d, want %d", tt.table, got, tt.want)
		}
	}
}

// TestDocumentsVectorBits checks the encoding of vectors: little-endian
// float32s, NaN payloads and infinities kept bit for bit.
func TestDocumentsVectorBits(t *testing.T) {
	path := dbPath(t)
	d := openDB(t, path, sqlite.Options{}).Documents()
	vector := []float32{
		1,
		float32(math.Inf(1)),
		float32(math.Inf(-1)),
		math.Float32frombits(0x7fc00000), // the quiet NaN
		math.Float32frombits(0x7f800001), // a signalling NaN
		math.Float32frombits(0xffc12345), // a negative NaN with a payload
	}
	chunks := []store.StoredChunk{{ID: "doc#0", DocID: "doc", Vector: vector}}
	mustPutDoc(t, d, acme, store.DocumentRecord{ID: "doc"}, chunks)
	got := mustChunksOf(t, d, acme, "doc")
	if !sameChunks(got, chunks) {
		t.Errorf("Chunks = %v, want %v", got[0].Vector, vector)
	}

	var blob []byte
	if err := openRaw(t, path).QueryRowContext(t.Context(), `SELECT vector FROM chunks`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0x7f, 0x00, 0x00, 0x80, 0xff,
		0x00, 0x00, 0xc0, 0x7f, 0x01, 0x00, 0x80, 0x7f, 0x45, 0x23, 0xc1, 0xff}
	if !slices.Equal(blob, want) {
		t.Errorf("vector column = % x, want % x", blob, want)
	}
}

// TestDocumentsRefused checks the arguments this backend refuses beyond
// store.CheckDocument, and that it writes nothing for them.
func TestDocumentsRefused(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	d := openDB(t, path, sqlite.Options{}).Documents()
	doc, chunks := testDocument("doc", 1, 3, 4)
	tests := []struct {
		name   string
		doc    store.DocumentRecord
		chunks []store.StoredChunk
	}{
		{"same ordinal twice", doc, append(slices.Clone(chunks), store.StoredChunk{ID: "doc#x", DocID: "doc", Ordinal: 1})},
		{"NaN metadata", withMetadata(doc, "x", math.NaN()), chunks},
		{"infinite metadata", withMetadata(doc, "x", math.Inf(-1)), chunks},
	}
	for _, tt := range tests {
		if _, err := d.PutDocument(ctx, acme, tt.doc, tt.chunks); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutDocument with %s = %v, want ErrInvalid", tt.name, err)
		}
	}
	if err := d.ScanDocuments(ctx, acme, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ScanDocuments(nil) = %v, want ErrInvalid", err)
	}
	for _, table := range []string{"documents", "chunks", "corpus"} {
		if got := countTable(t, path, table); got != 0 {
			t.Errorf("%s rows = %d, want 0", table, got)
		}
	}
}

// TestDocumentsChunkCount checks that the store records the number of
// chunks put, whatever doc.Chunks says.
func TestDocumentsChunkCount(t *testing.T) {
	d := openDB(t, dbPath(t), sqlite.Options{}).Documents()
	doc, chunks := testDocument("doc", 1, 3, 4)
	doc.Chunks = 42
	mustPutDoc(t, d, acme, doc, chunks)
	if got := mustDocumentOf(t, d, acme, "doc"); got.Chunks != 3 {
		t.Errorf("Document.Chunks = %d, want 3", got.Chunks)
	}
}

func TestDocumentsClosed(t *testing.T) {
	ctx := t.Context()
	db := mustOpen(t, dbPath(t), sqlite.Options{})
	d := db.Documents()
	doc, chunks := testDocument("doc", 1, 1, 4)
	mustPutDoc(t, d, acme, doc, chunks)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, putErr := d.PutDocument(ctx, acme, doc, chunks)
	_, docErr := d.Document(ctx, acme, "doc")
	_, docsErr := d.Documents(ctx, acme, "", 10)
	_, deleteErr := d.DeleteDocument(ctx, acme, "doc")
	_, chunksErr := d.Chunks(ctx, acme, "doc")
	_, versionErr := d.CorpusVersion(ctx, acme)
	_, laterErr := db.Documents().Document(ctx, acme, "doc")
	tests := []struct {
		name string
		err  error
	}{
		{"PutDocument", putErr},
		{"Document", docErr},
		{"Documents", docsErr},
		{"DeleteDocument", deleteErr},
		{"Chunks", chunksErr},
		{"ScanDocuments", d.ScanDocuments(ctx, acme, func(store.DocumentRecord, []store.StoredChunk) error { return nil })},
		{"CorpusVersion", versionErr},
		{"Documents after Close", laterErr},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", tt.name, tt.err)
		}
	}
}

// BenchmarkPutDocument replaces a document of 20 chunks of 384-dimension
// vectors, as ingesting a page of a few thousand words does: every op is
// one durable transaction. The bytes are those of the chunks' text and
// vectors.
func BenchmarkPutDocument(b *testing.B) {
	ctx := b.Context()
	d := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).Documents()
	doc, chunks := testDocument("doc", 1, 20, 384)
	b.SetBytes(chunkBytes(chunks))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.PutDocument(ctx, acme, doc, chunks); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanDocuments scans a tenant of 10,000 chunks of 384-dimension
// vectors in 100 documents, as building its index does. The bytes are those
// of the chunks' text and vectors.
func BenchmarkScanDocuments(b *testing.B) {
	ctx := b.Context()
	d := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).Documents()
	var size int64
	for i := range 100 {
		doc, chunks := testDocument(fmt.Sprintf("doc-%03d", i), 1, 100, 384)
		if _, err := d.PutDocument(ctx, acme, doc, chunks); err != nil {
			b.Fatal(err)
		}
		size += chunkBytes(chunks)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := d.ScanDocuments(ctx, acme, func(_ store.DocumentRecord, chunks []store.StoredChunk) error {
			n += len(chunks)
			return nil
		})
		if err != nil || n != 10000 {
			b.Fatalf("ScanDocuments = %d chunks, %v", n, err)
		}
	}
}

// testDocument returns a document of n chunks of about 500 bytes of text,
// with vectors of dims dimensions.
func testDocument(id string, gen, n, dims int) (store.DocumentRecord, []store.StoredChunk) {
	doc := store.DocumentRecord{
		ID:             id,
		Title:          fmt.Sprintf("%s, version %d", id, gen),
		URL:            "https://example.com/" + id,
		Format:         "markdown",
		Metadata:       map[string]any{"gen": float64(gen), "lang": "en", "public": true},
		Hash:           strings.Repeat("ab", 32),
		EmbeddingModel: "workersai/@cf/baai/bge-small-en-v1.5",
		Bytes:          int64(n * 500),
		Chunks:         n,
		UploadedBy:     "key-1",
	}
	chunks := make([]store.StoredChunk, n)
	for i := range chunks {
		text := fmt.Sprintf("%s chunk %d: ", doc.Title, i) + strings.Repeat("lorem ipsum ", 40)
		vector := make([]float32, dims)
		for j := range vector {
			vector[j] = float32(math.Sin(float64(gen*100003 + i*dims + j)))
		}
		chunks[i] = store.StoredChunk{
			ID:          fmt.Sprintf("%s#%d", id, i),
			DocID:       id,
			Ordinal:     i,
			HeadingPath: []string{doc.Title, fmt.Sprintf("Section %d", i/5)},
			Text:        text,
			Start:       i * 500,
			End:         i*500 + len(text),
			Tokens:      len(text) / 4,
			Hash:        strings.Repeat("cd", 32),
			Vector:      vector,
		}
	}
	return doc, chunks
}

// chunkBytes returns the bytes of the text and vectors of chunks.
func chunkBytes(chunks []store.StoredChunk) int64 {
	var n int64
	for _, c := range chunks {
		n += int64(len(c.Text) + 4*len(c.Vector))
	}
	return n
}

func withMetadata(doc store.DocumentRecord, key string, value any) store.DocumentRecord {
	m := map[string]any{key: value}
	for k, v := range doc.Metadata {
		m[k] = v
	}
	doc.Metadata = m
	return doc
}

// tenantState is what a tenant holds, for comparing before and after a
// reopen.
type tenantState struct {
	version int64
	ids     []string
	docs    []store.DocumentRecord
	chunks  [][]store.StoredChunk
}

// String formats the state with the vectors as bits.
func (s tenantState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version %d\n", s.version)
	for i, doc := range s.docs {
		fmt.Fprintf(&b, "%+v\n", doc)
		for _, c := range s.chunks[i] {
			v := c.Vector
			c.Vector = nil
			fmt.Fprintf(&b, "  %+v %x\n", c, vectorBytes(v))
		}
	}
	return b.String()
}

func vectorBytes(v []float32) []byte {
	var b []byte
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// readTenant reads everything tenant id holds, through every read.
func readTenant(t *testing.T, d *sqlite.Documents, id tenant.ID) tenantState {
	t.Helper()
	var s tenantState
	var err error
	if s.version, err = d.CorpusVersion(t.Context(), id); err != nil {
		t.Fatalf("CorpusVersion: %v", err)
	}
	err = d.ScanDocuments(t.Context(), id, func(doc store.DocumentRecord, chunks []store.StoredChunk) error {
		s.ids = append(s.ids, doc.ID)
		s.docs = append(s.docs, doc)
		s.chunks = append(s.chunks, chunks)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanDocuments: %v", err)
	}
	list, err := d.Documents(t.Context(), id, "", store.MaxDocumentsPage)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	for i, doc := range list {
		if i >= len(s.docs) || fmt.Sprint(doc) != fmt.Sprint(s.docs[i]) {
			t.Errorf("Documents and ScanDocuments disagree on document %d, %q", i, doc.ID)
		}
	}
	return s
}

func mustPutDoc(t testing.TB, d *sqlite.Documents, id tenant.ID, doc store.DocumentRecord, chunks []store.StoredChunk) int64 {
	t.Helper()
	v, err := d.PutDocument(t.Context(), id, doc, chunks)
	if err != nil {
		t.Fatalf("PutDocument(%v, %q): %v", id, doc.ID, err)
	}
	return v
}

func mustDocumentOf(t testing.TB, d *sqlite.Documents, id tenant.ID, doc string) store.DocumentRecord {
	t.Helper()
	got, err := d.Document(t.Context(), id, doc)
	if err != nil {
		t.Fatalf("Document(%v, %q): %v", id, doc, err)
	}
	return got
}

func mustChunksOf(t testing.TB, d *sqlite.Documents, id tenant.ID, doc string) []store.StoredChunk {
	t.Helper()
	got, err := d.Chunks(t.Context(), id, doc)
	if err != nil {
		t.Fatalf("Chunks(%v, %q): %v", id, doc, err)
	}
	return got
}

// sameChunks reports whether a and b hold the same chunks, vectors bit for
// bit.
func sameChunks(a, b []store.StoredChunk) bool {
	return slices.EqualFunc(a, b, func(x, y store.StoredChunk) bool {
		return x.ID == y.ID && x.DocID == y.DocID && x.Ordinal == y.Ordinal &&
			slices.Equal(x.HeadingPath, y.HeadingPath) && x.Text == y.Text &&
			x.Start == y.Start && x.End == y.End && x.Tokens == y.Tokens && x.Hash == y.Hash &&
			slices.Equal(vectorBytes(x.Vector), vectorBytes(y.Vector))
	})
}
