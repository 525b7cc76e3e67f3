package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// TestDocuments runs the Documents conformance suite against the store
// returned by open. Each subtest calls open once and expects an empty store;
// open must arrange for the store to be closed with t.Cleanup. The store
// must use a clock that advances with real time, such as time.Now.
func TestDocuments(t *testing.T, open func(t *testing.T) store.Documents) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, d store.Documents)
	}{
		{"RoundTrip", testDocRoundTrip},
		{"Aliasing", testDocAliasing},
		{"DocumentIDs", testDocIDs},
		{"Replace", testDocReplace},
		{"Times", testDocTimes},
		{"Version", testDocVersion},
		{"Batch", testDocBatch},
		{"Listing", testDocListing},
		{"Delete", testDocDelete},
		{"Scan", testDocScan},
		{"TenantIsolation", testDocTenantIsolation},
		{"Invalid", testDocInvalid},
		{"Concurrent", testDocConcurrent},
		{"ContextCanceled", testDocContextCanceled},
		{"Large", testDocLarge},
		{"Totals", testDocTotals},
		{"Quota", testDocQuota},
		{"QuotaConcurrent", testDocQuotaConcurrent},
		{"Changes", testDocChanges},
		{"ChangesPruned", testDocChangesPruned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// testDocRoundTrip checks that every field of a document and of its chunks
// comes back as put, through every read: metadata of each type, vectors bit
// for bit, chunks by ordinal whatever the order they were given in. The
// store sets Created and Updated whatever the caller put there; an empty
// heading path or vector comes back nil.
func testDocRoundTrip(t *testing.T, d store.Documents) {
	if v := mustCorpusVersion(t, d, acme); v != 0 {
		t.Errorf("CorpusVersion of an empty store = %d, want 0", v)
	}
	wantNoDocument(t, d, acme, "guide")

	caller := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := store.DocumentRecord{
		ID:     "guide",
		Title:  "Guide — «intro» 🔥",
		URL:    "https://example.com/docs/guide?lang=en&v=2#top",
		Format: "markdown",
		Metadata: map[string]any{
			"lang":   "en",
			"empty":  "",
			"ключ":   "значение 🔑",
			"year":   2024.0,
			"score":  0.1,
			"neg":    -1.5,
			"zero":   0.0,
			"huge":   math.MaxFloat64,
			"tiny":   math.SmallestNonzeroFloat64,
			"big":    float64(1 << 53),
			"public": true,
			"draft":  false,
		},
		Hash:           hashOf("guide v1"),
		EmbeddingModel: "workersai/@cf/baai/bge-small-en-v1.5",
		Bytes:          123456,
		Chunks:         5,
		UploadedBy:     "key-admin",
		Created:        caller, // ignored
		Updated:        caller, // ignored
	}
	chunks := []store.StoredChunk{
		{ID: "guide#5", DocID: "guide", Ordinal: 5, HeadingPath: []string{"", "Guide", "", "Ünïcødé", "第三", ""},
			Text: "Last chunk, after a gap in the ordinals.", Start: 1 << 20, End: 1<<20 + 40, Tokens: 9,
			Hash: hashOf("Last chunk, after a gap in the ordinals."), Vector: []float32{1, 2, 3}},
		{ID: "guide#0", DocID: "guide", Ordinal: 0, HeadingPath: []string{"Guide", "Intro"},
			Text: "Welcome to the guide.\n\nIt has \"quotes\", 'apostrophes' and tabs\t.", Start: 0, End: 64, Tokens: 16,
			Hash:   hashOf("chunk 0"),
			Vector: edgeVector()},
		{ID: "guide#2", DocID: "guide", Ordinal: 2, HeadingPath: nil, Text: "", Start: 80, End: 80, Tokens: 0, Hash: "", Vector: nil},
		{ID: "guide#1", DocID: "guide", Ordinal: 1, HeadingPath: []string{}, Text: "No heading, no vector.", Start: 64, End: 80, Tokens: 5,
			Hash: hashOf("No heading, no vector."), Vector: []float32{}},
		{ID: "guide#3", DocID: "guide", Ordinal: 3, Text: "Odd headings.", Start: 80, End: 93, Tokens: 3, Hash: hashOf("Odd headings."),
			HeadingPath: []string{"", `a","b`, `"quoted"`, `back\slash\`, "<h1> & </h1>", "tab\tnewline\n", "[1, 2]", "", "🔥"},
			Vector:      []float32{0.5}},
	}
	if v := mustPutDocument(t, d, acme, doc, chunks); v != 1 {
		t.Errorf("PutDocument = version %d, want 1", v)
	}

	want := doc
	wantChunks := []store.StoredChunk{chunks[1], chunks[3], chunks[2], chunks[4], chunks[0]} // by ordinal
	got := mustDocument(t, d, acme, "guide")
	if got.Created.IsZero() || got.Created.Equal(caller) || got.Updated.Before(got.Created) {
		t.Errorf("Document: Created %v, Updated %v; want Created set by the store and Updated not before it", got.Created, got.Updated)
	}
	want.Created, want.Updated = got.Created, got.Updated
	wantDocument(t, "Document", got, want)

	gotChunks := mustChunks(t, d, acme, "guide")
	wantChunkList(t, "Chunks", gotChunks, wantChunks)
	if len(gotChunks) == 5 {
		for _, c := range gotChunks[1:3] {
			if c.HeadingPath != nil || c.Vector != nil {
				t.Errorf("Chunks: chunk %q has HeadingPath %#v and Vector %#v, want nil for an empty one", c.ID, c.HeadingPath, c.Vector)
			}
		}
	}

	list := mustDocuments(t, d, acme, "", 10)
	if len(list) != 1 {
		t.Fatalf("Documents = %q, want [guide]", docIDs(list))
	}
	wantDocument(t, "Documents", list[0], want)

	scanned := scanAll(t, d, acme)
	if len(scanned) != 1 {
		t.Fatalf("ScanDocuments visited %q, want [guide]", scannedIDs(scanned))
	}
	wantDocument(t, "ScanDocuments", scanned[0].doc, want)
	wantChunkList(t, "ScanDocuments", scanned[0].chunks, wantChunks)

	if v := mustCorpusVersion(t, d, acme); v != 1 {
		t.Errorf("CorpusVersion = %d, want 1", v)
	}
}

// testDocAliasing checks that the store keeps copies: changing what was put
// or what was read changes nothing stored.
func testDocAliasing(t *testing.T, d store.Documents) {
	doc, chunks := docFixture("doc", 1, 3, 4)
	mustPutDocument(t, d, acme, doc, chunks)
	wantDoc, wantCks := cloneDoc(doc), cloneChunks(chunks)

	doc.Metadata["lang"] = "changed"
	chunks[0].Vector[0] = 42
	chunks[1].HeadingPath[0] = "changed"
	chunks[2].Text = "changed"

	got := mustDocument(t, d, acme, "doc")
	wantDoc.Created, wantDoc.Updated = got.Created, got.Updated
	wantDocument(t, "Document after changing the document put", got, wantDoc)
	gotChunks := mustChunks(t, d, acme, "doc")
	wantChunkList(t, "Chunks after changing the chunks put", gotChunks, wantCks)

	got.Metadata["lang"] = "changed again"
	gotChunks[0].Vector[0] = 43
	gotChunks[1].HeadingPath[0] = "changed again"
	wantDocument(t, "Document after changing a document read", mustDocument(t, d, acme, "doc"), wantDoc)
	wantChunkList(t, "Chunks after changing the chunks read", mustChunks(t, d, acme, "doc"), wantCks)
}

// testDocIDs checks that document IDs are opaque strings: no two distinct
// IDs share a document, and documents are listed in byte order of ID.
func testDocIDs(t *testing.T, d store.Documents) {
	ids := []string{
		"a",
		"A",
		"a ",
		" a",
		"a/b",
		"a#0",
		"a:b",
		"%",
		"_",
		"*",
		"'; DROP TABLE documents; --",
		`"quoted"`,
		"документ",
		"🔑",
		"z\u00e9",
		"ze\u0301",
		strings.Repeat("d", store.MaxDocumentIDBytes),
		strings.Repeat("é", store.MaxDocumentIDBytes/2),
	}
	for i, id := range ids {
		doc, chunks := docFixture(id, i, i%3+1, 2)
		mustPutDocument(t, d, acme, doc, chunks)
	}
	for i, id := range ids {
		got := mustDocument(t, d, acme, id)
		if want := fixtureTitle(id, i); got.ID != id || got.Title != want {
			t.Errorf("Document(%q) = {ID %q, Title %q}, want {ID %q, Title %q}", id, got.ID, got.Title, id, want)
		}
		if n := len(mustChunks(t, d, acme, id)); n != i%3+1 {
			t.Errorf("Chunks(%q) = %d chunks, want %d", id, n, i%3+1)
		}
	}
	sorted := slices.Sorted(slices.Values(ids))
	if got := docIDs(mustDocuments(t, d, acme, "", store.MaxDocumentsPage)); !slices.Equal(got, sorted) {
		t.Errorf("Documents = %q, want %q", got, sorted)
	}
	if got := scannedIDs(scanAll(t, d, acme)); !slices.Equal(got, sorted) {
		t.Errorf("ScanDocuments visited %q, want %q", got, sorted)
	}
	wantNoDocument(t, d, acme, "b")
	wantNoDocument(t, d, acme, strings.Repeat("d", store.MaxDocumentIDBytes-1))
}

// testDocReplace checks that a second put replaces the document and all of
// its chunks: no field, metadata key or chunk of the first is left.
func testDocReplace(t *testing.T, d store.Documents) {
	other, otherChunks := docFixture("other", 7, 3, 4)
	mustPutDocument(t, d, acme, other, otherChunks)

	doc, chunks := docFixture("doc", 1, 5, 4)
	mustPutDocument(t, d, acme, doc, chunks)
	wantStored(t, d, acme, doc, chunks)

	// Fewer chunks, other fields, fewer metadata keys.
	doc2, chunks2 := docFixture("doc", 2, 2, 8)
	doc2.Metadata = map[string]any{"only": true}
	doc2.URL, doc2.Format, doc2.EmbeddingModel, doc2.UploadedBy = "", "html", "openai/text-embedding-3-small", "key-2"
	mustPutDocument(t, d, acme, doc2, chunks2)
	wantStored(t, d, acme, doc2, chunks2)

	// No chunk at all, no metadata.
	doc3, _ := docFixture("doc", 3, 0, 4)
	doc3.Metadata = nil
	mustPutDocument(t, d, acme, doc3, nil)
	got := mustDocument(t, d, acme, "doc")
	if got.Chunks != 0 || len(got.Metadata) != 0 || got.Title != doc3.Title {
		t.Errorf("Document after a put without chunks = %s, want Title %q, no chunks and no metadata", formatDocument(got), doc3.Title)
	}
	if c := mustChunks(t, d, acme, "doc"); len(c) != 0 {
		t.Errorf("Chunks after a put without chunks = %d chunks, want none", len(c))
	}

	// And more chunks again, with ordinals given in reverse.
	doc4, chunks4 := docFixture("doc", 4, 6, 4)
	reversed := slices.Clone(chunks4)
	slices.Reverse(reversed)
	mustPutDocument(t, d, acme, doc4, reversed)
	wantStored(t, d, acme, doc4, chunks4)

	// The other document was left alone throughout.
	wantStored(t, d, acme, other, otherChunks)
	scanned := scanAll(t, d, acme)
	if got := scannedIDs(scanned); !slices.Equal(got, []string{"doc", "other"}) {
		t.Fatalf("ScanDocuments visited %q, want [doc other]", got)
	}
	wantChunkList(t, "ScanDocuments(doc)", scanned[0].chunks, chunks4)
}

// testDocTimes checks that Created stays what the first put set while
// Updated follows every put, and that a document put again after a delete
// is created anew.
func testDocTimes(t *testing.T, d store.Documents) {
	doc, chunks := docFixture("doc", 1, 2, 4)
	mustPutDocument(t, d, acme, doc, chunks)
	first := mustDocument(t, d, acme, "doc")
	if first.Updated.Before(first.Created) {
		t.Errorf("Document after the first put: Updated %v is before Created %v", first.Updated, first.Created)
	}

	doc2, chunks2 := docFixture("doc", 2, 1, 4)
	second := putUntilUpdatedAfter(t, d, doc2, chunks2, first.Updated)
	if !second.Created.Equal(first.Created) {
		t.Errorf("Document after a second put: Created %v, want %v", second.Created, first.Created)
	}

	if _, err := d.DeleteDocument(t.Context(), acme, "doc"); err != nil {
		t.Fatalf("DeleteDocument: %v", err)
	}
	third := putUntilUpdatedAfter(t, d, doc, chunks, second.Updated)
	if third.Created.Before(second.Updated) {
		t.Errorf("Document put again after a delete: Created %v, want a new one, not before the deleted document's Updated %v",
			third.Created, second.Updated)
	}
}

// putUntilUpdatedAfter puts doc until the store reports it updated after
// cutoff, checking that Created stays put, and returns what the store holds.
func putUntilUpdatedAfter(t *testing.T, d store.Documents, doc store.DocumentRecord, chunks []store.StoredChunk, cutoff time.Time) store.DocumentRecord {
	t.Helper()
	deadline := time.Now().Add(clockDeadline)
	var created time.Time
	for i := 0; ; i++ {
		mustPutDocument(t, d, acme, doc, chunks)
		got := mustDocument(t, d, acme, doc.ID)
		switch {
		case i == 0:
			created = got.Created
		case !got.Created.Equal(created):
			t.Errorf("Document(%q): Created moved from %v to %v on a put", doc.ID, created, got.Created)
		}
		if got.Updated.Before(got.Created) {
			t.Errorf("Document(%q): Updated %v is before Created %v", doc.ID, got.Updated, got.Created)
		}
		if got.Updated.After(cutoff) {
			wantStored(t, d, acme, doc, chunks)
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Document(%q).Updated is still %v after %v, want after %v: does the store's clock advance?", doc.ID, got.Updated, clockDeadline, cutoff)
		}
		time.Sleep(time.Millisecond)
	}
}

// testDocBatch checks that PutDocuments writes all of its documents or
// none, one version a document.
func testDocBatch(t *testing.T, d store.Documents) {
	ctx := t.Context()
	a, aChunks := docFixture("a", 1, 2, 4)
	b, bChunks := docFixture("b", 1, 3, 4)
	c, cChunks := docFixture("c", 1, 1, 4)
	mustPutDocument(t, d, acme, a, aChunks)

	a2, a2Chunks := docFixture("a", 2, 1, 4)
	v, err := d.PutDocuments(ctx, acme, []store.DocumentPut{{Doc: a2, Chunks: a2Chunks}, {Doc: b, Chunks: bChunks}, {Doc: c, Chunks: cChunks}}, store.DocumentQuota{})
	if err != nil || v != 4 {
		t.Fatalf("PutDocuments(a, b, c) = %d, %v; want version 4", v, err)
	}
	wantVersion(t, d, acme, 4)
	for id, n := range map[string]int{"a": 1, "b": 3, "c": 1} {
		if got := mustChunks(t, d, acme, id); len(got) != n {
			t.Errorf("%s: %d chunks after the batch, want %d", id, len(got), n)
		}
	}
	if got := mustDocument(t, d, acme, "a"); got.Hash != a2.Hash {
		t.Errorf("a was not replaced: hash %q, want %q", got.Hash, a2.Hash)
	}

	// One bad document, or the same ID twice, and nothing is written.
	bad := c
	bad.ID = "d"
	bad.Metadata = map[string]any{"n": 1}
	e, eChunks := docFixture("e", 1, 2, 4)
	for name, puts := range map[string][]store.DocumentPut{
		"invalid":  {{Doc: e, Chunks: eChunks}, {Doc: bad, Chunks: nil}},
		"repeated": {{Doc: e, Chunks: eChunks}, {Doc: e, Chunks: eChunks}},
		"empty":    nil,
	} {
		if _, err := d.PutDocuments(ctx, acme, puts, store.DocumentQuota{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutDocuments(%s) = %v, want ErrInvalid", name, err)
		}
	}
	wantNoDocument(t, d, acme, "e")
	wantVersion(t, d, acme, 4)
	wantVersion(t, d, globex, 0)
}

// testDocVersion checks that each tenant's corpus version goes up by one
// with every put and delete, and with nothing else.
func testDocVersion(t *testing.T, d store.Documents) {
	ctx := t.Context()
	a, aChunks := docFixture("a", 1, 2, 4)
	b, bChunks := docFixture("b", 1, 1, 4)

	wantVersion(t, d, acme, 0)
	wantVersion(t, d, globex, 0)
	if v := mustPutDocument(t, d, acme, a, aChunks); v != 1 {
		t.Errorf("first PutDocument = version %d, want 1", v)
	}

	// Reads change nothing.
	mustDocument(t, d, acme, "a")
	mustDocuments(t, d, acme, "", 10)
	mustChunks(t, d, acme, "a")
	scanAll(t, d, acme)
	wantNoDocument(t, d, acme, "missing")
	wantVersion(t, d, acme, 1)

	if v := mustPutDocument(t, d, acme, a, aChunks); v != 2 {
		t.Errorf("PutDocument of the same document again = version %d, want 2", v)
	}
	if v := mustPutDocument(t, d, acme, b, bChunks); v != 3 {
		t.Errorf("PutDocument of another document = version %d, want 3", v)
	}
	wantVersion(t, d, acme, 3)
	wantVersion(t, d, globex, 0)

	if v, err := d.DeleteDocument(ctx, acme, "a"); err != nil || v != 4 {
		t.Errorf("DeleteDocument(a) = %d, %v; want 4, nil", v, err)
	}
	if _, err := d.DeleteDocument(ctx, acme, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDocument(a) again = %v, want ErrNotFound", err)
	}
	if _, err := d.DeleteDocument(ctx, acme, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDocument(never) = %v, want ErrNotFound", err)
	}
	bad := b
	bad.Metadata = map[string]any{"n": 1}
	if _, err := d.PutDocument(ctx, acme, bad, bChunks); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutDocument with int metadata = %v, want ErrInvalid", err)
	}
	wantVersion(t, d, acme, 4)

	// Another tenant's versions are its own.
	if v := mustPutDocument(t, d, globex, a, aChunks); v != 1 {
		t.Errorf("PutDocument(globex) = version %d, want 1", v)
	}
	wantVersion(t, d, acme, 4)
	if v, err := d.DeleteDocument(ctx, globex, "a"); err != nil || v != 2 {
		t.Errorf("DeleteDocument(globex, a) = %d, %v; want 2, nil", v, err)
	}
	wantVersion(t, d, acme, 4)
	wantVersion(t, d, globex, 2)
}

// testDocListing checks after and limit.
func testDocListing(t *testing.T, d store.Documents) {
	const n = 25
	all := make([]string, n)
	for i := range all {
		all[i] = fmt.Sprintf("doc-%02d", i)
	}
	for i := range n {
		id := all[i*7%n] // not in ID order
		doc, chunks := docFixture(id, i, 1, 2)
		mustPutDocument(t, d, acme, doc, chunks)
	}

	// Paging by the last ID of each page visits every document once.
	var pages [][]string
	after := ""
	for range n {
		page := mustDocuments(t, d, acme, after, 10)
		if len(page) == 0 {
			break
		}
		pages = append(pages, docIDs(page))
		after = page[len(page)-1].ID
	}
	want := [][]string{all[:10], all[10:20], all[20:]}
	if !slices.EqualFunc(pages, want, slices.Equal[[]string]) {
		t.Errorf("pages of 10 = %q, want %q", pages, want)
	}

	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 1, all[:1]},
		{"", 3, all[:3]},
		{"doc-04", 3, all[5:8]},
		{"doc-04~", 2, all[5:7]}, // between two IDs
		{"doc-0", 2, all[:2]},    // a prefix of the IDs
		{"a", 2, all[:2]},
		{"doc-23", 10, all[24:]},
		{"", n, all},
		{"", n + 1, all},
		{"", store.MaxDocumentsPage, all},
		{"", math.MaxInt, all},
		{"doc-24", 10, nil},
		{"zzz", 10, nil},
	}
	for _, tt := range tests {
		got := mustDocuments(t, d, acme, tt.after, tt.limit)
		if !slices.Equal(docIDs(got), tt.want) {
			t.Errorf("Documents(after %q, limit %d) = %q, want %q", tt.after, tt.limit, docIDs(got), tt.want)
		}
		for _, doc := range got {
			if !strings.HasPrefix(doc.Title, doc.ID+" ") || doc.Chunks != 1 {
				t.Errorf("Documents(after %q, limit %d): %s is not the document put", tt.after, tt.limit, formatDocument(doc))
			}
		}
	}
	// A limit of zero or less gives a default page, from the first ID.
	for _, limit := range []int{0, -1, math.MinInt} {
		got := docIDs(mustDocuments(t, d, acme, "", limit))
		if len(got) == 0 || !slices.Equal(got, all[:len(got)]) {
			t.Errorf("Documents(limit %d) = %q, want a default page from %q", limit, got, all[0])
		}
	}
}

func testDocDelete(t *testing.T, d store.Documents) {
	ctx := t.Context()
	doomed, doomedChunks := docFixture("doomed", 1, 3, 4)
	kept, keptChunks := docFixture("kept", 1, 2, 4)
	mustPutDocument(t, d, acme, doomed, doomedChunks)
	mustPutDocument(t, d, acme, kept, keptChunks)

	if v, err := d.DeleteDocument(ctx, acme, "doomed"); err != nil || v != 3 {
		t.Fatalf("DeleteDocument = %d, %v; want 3, nil", v, err)
	}
	wantNoDocument(t, d, acme, "doomed")
	if got := docIDs(mustDocuments(t, d, acme, "", 10)); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("Documents after a delete = %q, want [kept]", got)
	}
	if got := scannedIDs(scanAll(t, d, acme)); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("ScanDocuments after a delete visited %q, want [kept]", got)
	}
	if _, err := d.DeleteDocument(ctx, acme, "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDocument of a deleted document = %v, want ErrNotFound", err)
	}
	if _, err := d.DeleteDocument(ctx, acme, "never-put"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDocument of a missing document = %v, want ErrNotFound", err)
	}
	wantStored(t, d, acme, kept, keptChunks)

	// A document put again after a delete has only its new chunks.
	again, againChunks := docFixture("doomed", 2, 1, 4)
	mustPutDocument(t, d, acme, again, againChunks)
	wantStored(t, d, acme, again, againChunks)

	// A document without chunks is deleted all the same.
	empty, _ := docFixture("empty", 1, 0, 0)
	mustPutDocument(t, d, acme, empty, nil)
	if _, err := d.DeleteDocument(ctx, acme, "empty"); err != nil {
		t.Errorf("DeleteDocument(empty): %v", err)
	}
	wantNoDocument(t, d, acme, "empty")
}

// testDocScan checks that ScanDocuments visits every document once, by ID,
// with its chunks, and stops at the first error of fn.
func testDocScan(t *testing.T, d store.Documents) {
	ctx := t.Context()
	calls := 0
	if err := d.ScanDocuments(ctx, acme, func(store.DocumentRecord, []store.StoredChunk) error { calls++; return nil }); err != nil || calls != 0 {
		t.Errorf("ScanDocuments of an empty tenant = %d calls, %v; want 0, nil", calls, err)
	}

	const n = 40
	ids := make([]string, n)
	docs := make(map[string]store.DocumentRecord)
	chunks := make(map[string][]store.StoredChunk)
	for i := range n {
		ids[i] = fmt.Sprintf("doc-%02d", i)
	}
	for i := range n {
		// Not in ID order, with 0 to 4 chunks each.
		j := i * 13 % n
		docs[ids[j]], chunks[ids[j]] = docFixture(ids[j], j, j%5, 3)
		mustPutDocument(t, d, acme, docs[ids[j]], chunks[ids[j]])
	}
	scanned := scanAll(t, d, acme)
	if got := scannedIDs(scanned); !slices.Equal(got, ids) {
		t.Fatalf("ScanDocuments visited %q, want %q", got, ids)
	}
	for _, s := range scanned {
		want := docs[s.doc.ID]
		want.Created, want.Updated = s.doc.Created, s.doc.Updated
		wantDocument(t, "ScanDocuments", s.doc, want)
		wantChunkList(t, fmt.Sprintf("ScanDocuments(%s)", s.doc.ID), s.chunks, chunks[s.doc.ID])
	}

	// The first error of fn stops the scan and is returned.
	errStop := errors.New("stop here")
	var visited []string
	err := d.ScanDocuments(ctx, acme, func(doc store.DocumentRecord, _ []store.StoredChunk) error {
		visited = append(visited, doc.ID)
		if len(visited) == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("ScanDocuments with fn failing = %v, want fn's error", err)
	}
	if !slices.Equal(visited, ids[:3]) {
		t.Errorf("ScanDocuments with fn failing on the third call visited %q, want %q", visited, ids[:3])
	}
}

func testDocTenantIsolation(t *testing.T, d store.Documents) {
	ctx := t.Context()
	acmeShared, acmeSharedChunks := docFixture("shared", 1, 3, 4)
	private, privateChunks := docFixture("private", 1, 2, 4)
	globexShared, globexSharedChunks := docFixture("shared", 2, 1, 4)
	mustPutDocument(t, d, acme, acmeShared, acmeSharedChunks)
	mustPutDocument(t, d, acme, private, privateChunks)

	// The same document ID in another tenant is another document.
	if v := mustPutDocument(t, d, globex, globexShared, globexSharedChunks); v != 1 {
		t.Errorf("PutDocument(globex, shared) = version %d, want 1", v)
	}
	wantStored(t, d, acme, acmeShared, acmeSharedChunks)
	wantStored(t, d, globex, globexShared, globexSharedChunks)

	// Another tenant can neither read, list, scan nor delete a document.
	wantNoDocument(t, d, globex, "private")
	if got := docIDs(mustDocuments(t, d, globex, "", 10)); !slices.Equal(got, []string{"shared"}) {
		t.Errorf("Documents(globex) = %q, want [shared]", got)
	}
	scanned := scanAll(t, d, globex)
	if got := scannedIDs(scanned); !slices.Equal(got, []string{"shared"}) {
		t.Fatalf("ScanDocuments(globex) visited %q, want [shared]", got)
	}
	wantChunkList(t, "ScanDocuments(globex)", scanned[0].chunks, globexSharedChunks)
	if _, err := d.DeleteDocument(ctx, globex, "private"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDocument(globex, private) = %v, want ErrNotFound", err)
	}
	wantStored(t, d, acme, private, privateChunks)
	wantVersion(t, d, acme, 2)
	wantVersion(t, d, globex, 1)

	// Replacing and deleting in one tenant leaves the other's document alone.
	replaced, replacedChunks := docFixture("shared", 3, 5, 4)
	mustPutDocument(t, d, globex, replaced, replacedChunks)
	wantStored(t, d, acme, acmeShared, acmeSharedChunks)
	if _, err := d.DeleteDocument(ctx, globex, "shared"); err != nil {
		t.Fatalf("DeleteDocument(globex, shared): %v", err)
	}
	wantNoDocument(t, d, globex, "shared")
	wantStored(t, d, acme, acmeShared, acmeSharedChunks)
	if got := scannedIDs(scanAll(t, d, acme)); !slices.Equal(got, []string{"private", "shared"}) {
		t.Errorf("ScanDocuments(acme) visited %q, want [private shared]", got)
	}
	wantVersion(t, d, acme, 2)
	wantVersion(t, d, globex, 3)

	// Tenant IDs that are prefixes of one another share no document, even
	// where tenant and document ID would join into the same string.
	abc, abcChunks := docFixture("d", 1, 1, 2)
	mustPutDocument(t, d, tenant.MustID("abc"), abc, abcChunks)
	wantNoDocument(t, d, tenant.MustID("ab"), "cd")
	wantNoDocument(t, d, tenant.MustID("ab"), "d")
	corp, corpChunks := docFixture("x", 1, 1, 2)
	mustPutDocument(t, d, tenant.MustID("acme-corp"), corp, corpChunks)
	wantNoDocument(t, d, acme, "x")
	wantNoDocument(t, d, acme, "-corpx")
	if _, err := d.DeleteDocument(ctx, tenant.MustID("acme-c"), "orpx"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDocument(acme-c, orpx) = %v, want ErrNotFound", err)
	}
	if got := docIDs(mustDocuments(t, d, tenant.MustID("ab"), "", 10)); len(got) != 0 {
		t.Errorf("Documents(ab) = %q, want none", got)
	}
	wantVersion(t, d, tenant.MustID("ab"), 0)
	wantVersion(t, d, acme, 2)
	wantStored(t, d, tenant.MustID("acme-corp"), corp, corpChunks)
}

func testDocInvalid(t *testing.T, d store.Documents) {
	ctx := t.Context()
	existing, existingChunks := docFixture("existing", 1, 2, 4)
	mustPutDocument(t, d, acme, existing, existingChunks)
	before := mustDocument(t, d, acme, "existing")
	longID := strings.Repeat("d", store.MaxDocumentIDBytes+1)

	args := []struct {
		name string
		id   tenant.ID
		doc  string
	}{
		{"zero tenant", tenant.ID{}, "doc"},
		{"empty document id", acme, ""},
		{"document id too long", acme, longID},
	}
	for _, tt := range args {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			doc, chunks := docFixture(tt.doc, 1, 1, 2)
			if _, err := d.PutDocument(ctx, tt.id, doc, chunks); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("PutDocument = %v, want ErrInvalid", err)
			}
			if _, err := d.Document(ctx, tt.id, tt.doc); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Document = %v, want ErrInvalid", err)
			}
			if _, err := d.Chunks(ctx, tt.id, tt.doc); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Chunks = %v, want ErrInvalid", err)
			}
			if _, err := d.DeleteDocument(ctx, tt.id, tt.doc); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("DeleteDocument = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := d.Documents(ctx, tenant.ID{}, "", 10); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Documents(zero tenant) = %v, want ErrInvalid", err)
	}
	if err := d.ScanDocuments(ctx, tenant.ID{}, func(store.DocumentRecord, []store.StoredChunk) error { return nil }); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ScanDocuments(zero tenant) = %v, want ErrInvalid", err)
	}
	if _, err := d.CorpusVersion(ctx, tenant.ID{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CorpusVersion(zero tenant) = %v, want ErrInvalid", err)
	}
	// An oversized ID is refused, not truncated.
	wantNoDocument(t, d, acme, longID[:store.MaxDocumentIDBytes])

	puts := []struct {
		name   string
		change func(doc *store.DocumentRecord, chunks []store.StoredChunk) []store.StoredChunk
	}{
		{"chunk of another document", func(_ *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			c[1].DocID = "other"
			return c
		}},
		{"chunk without document id", func(_ *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			c[0].DocID = ""
			return c
		}},
		{"chunk without id", func(_ *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			c[2].ID = ""
			return c
		}},
		{"invalid last in many chunks", func(_ *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			_, more := docFixture("other", 1, 1, 2)
			return append(c, more...)
		}},
		{"int metadata", func(d *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			d.Metadata["n"] = 1
			return c
		}},
		{"nil metadata value", func(d *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			d.Metadata["nothing"] = nil
			return c
		}},
		{"float32 metadata", func(d *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			d.Metadata["f"] = float32(1.5)
			return c
		}},
		{"list metadata", func(d *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			d.Metadata["tags"] = []string{"a", "b"}
			return c
		}},
		{"object metadata", func(d *store.DocumentRecord, c []store.StoredChunk) []store.StoredChunk {
			d.Metadata["nested"] = map[string]any{"a": "b"}
			return c
		}},
	}
	for _, tt := range puts {
		t.Run(tt.name, func(t *testing.T) {
			for _, id := range []string{"new", "existing"} {
				doc, chunks := docFixture(id, 2, 3, 4)
				chunks = tt.change(&doc, chunks)
				if v, err := d.PutDocument(t.Context(), acme, doc, chunks); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("PutDocument(%q) = version %d, %v; want ErrInvalid", id, v, err)
				}
			}
		})
	}

	// Nothing was written.
	wantNoDocument(t, d, acme, "new")
	wantNoDocument(t, d, acme, "other")
	wantDocument(t, "Document(existing) after the rejected puts", mustDocument(t, d, acme, "existing"), before)
	wantChunkList(t, "Chunks(existing) after the rejected puts", mustChunks(t, d, acme, "existing"), existingChunks)
	wantVersion(t, d, acme, 1)
}

// testDocConcurrent checks that each put replaces a document and its chunks
// atomically: while writers replace their documents with ever different
// numbers of chunks, readers never see a document with chunks of another
// put, nor a count of chunks other than its Chunks field. It also checks
// that each change gets a version of its own.
func testDocConcurrent(t *testing.T, d store.Documents) {
	const (
		workers = 6
		rounds  = 12
		dims    = 8
	)
	ctx := t.Context()
	var writers, readers sync.WaitGroup
	done := make(chan struct{})
	versions := make([][]int64, workers+1) // returned to each writer
	for w := range workers {
		writers.Go(func() {
			id := fmt.Sprintf("w-%d", w)
			for r := range rounds {
				doc, chunks := docFixture(id, r, (r*5+w)%7, dims) // 0 to 6 chunks
				v, err := d.PutDocument(ctx, acme, doc, chunks)
				if err != nil {
					t.Errorf("writer %d: PutDocument %d: %v", w, r, err)
					return
				}
				versions[w] = append(versions[w], v)
			}
		})
	}
	// One more writer puts and deletes a document, again and again.
	writers.Go(func() {
		for r := range rounds {
			doc, chunks := docFixture("flicker", r, r%4+1, dims)
			v, err := d.PutDocument(ctx, acme, doc, chunks)
			if err != nil {
				t.Errorf("flicker: PutDocument %d: %v", r, err)
				return
			}
			versions[workers] = append(versions[workers], v)
			if v, err = d.DeleteDocument(ctx, acme, "flicker"); err != nil {
				t.Errorf("flicker: DeleteDocument %d: %v", r, err)
				return
			}
			versions[workers] = append(versions[workers], v)
		}
	})
	for r := range 3 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond): // leave the writers some room
				}
				err := d.ScanDocuments(ctx, acme, func(doc store.DocumentRecord, chunks []store.StoredChunk) error {
					return consistentChunks(doc, chunks)
				})
				if err != nil {
					t.Errorf("reader %d: ScanDocuments: %v", r, err)
					return
				}
				id := fmt.Sprintf("w-%d", i%workers)
				chunks, err := d.Chunks(ctx, acme, id)
				switch {
				case errors.Is(err, store.ErrNotFound):
					continue // not put yet
				case err != nil:
					t.Errorf("reader %d: Chunks(%s): %v", r, id, err)
					return
				}
				if len(chunks) > 0 {
					// Chunks returns the chunks of one put.
					title, _, _ := strings.Cut(chunks[0].Text, " chunk ")
					if err := consistentChunks(store.DocumentRecord{ID: id, Title: title, Chunks: len(chunks)}, chunks); err != nil {
						t.Errorf("reader %d: Chunks: %v", r, err)
						return
					}
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

	total := int64(workers*rounds + 2*rounds)
	wantOnceEach(t, "versions", versions, total)
	wantVersion(t, d, acme, total)
	for w := range workers {
		doc, chunks := docFixture(fmt.Sprintf("w-%d", w), rounds-1, ((rounds-1)*5+w)%7, dims)
		wantStored(t, d, acme, doc, chunks)
	}
	wantNoDocument(t, d, acme, "flicker")
}

// consistentChunks returns an error unless chunks are those of one put of
// docFixture whose document is doc.
func consistentChunks(doc store.DocumentRecord, chunks []store.StoredChunk) error {
	if len(chunks) != doc.Chunks {
		return fmt.Errorf("document %q (%q) has Chunks %d but came with %d chunks", doc.ID, doc.Title, doc.Chunks, len(chunks))
	}
	for i, c := range chunks {
		if c.DocID != doc.ID || c.Ordinal != i || !strings.HasPrefix(c.Text, doc.Title+" chunk ") {
			return fmt.Errorf("document %q (%q) came with chunk %d of another put: {DocID %q, Ordinal %d, Text %q}",
				doc.ID, doc.Title, i, c.DocID, c.Ordinal, c.Text)
		}
	}
	return nil
}

func testDocContextCanceled(t *testing.T, d store.Documents) {
	present, presentChunks := docFixture("present", 1, 2, 4)
	mustPutDocument(t, d, acme, present, presentChunks)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	doc, chunks := docFixture("new", 1, 2, 4)
	if _, err := d.PutDocument(ctx, acme, doc, chunks); !errors.Is(err, context.Canceled) {
		t.Errorf("PutDocument(new) with a cancelled context = %v, want context.Canceled", err)
	}
	doc, chunks = docFixture("present", 2, 1, 4)
	if _, err := d.PutDocument(ctx, acme, doc, chunks); !errors.Is(err, context.Canceled) {
		t.Errorf("PutDocument(present) with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := d.Document(ctx, acme, "present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Document with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := d.Documents(ctx, acme, "", 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Documents with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := d.Chunks(ctx, acme, "present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Chunks with a cancelled context = %v, want context.Canceled", err)
	}
	calls := 0
	err := d.ScanDocuments(ctx, acme, func(store.DocumentRecord, []store.StoredChunk) error { calls++; return nil })
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Errorf("ScanDocuments with a cancelled context = %d calls, %v; want none, context.Canceled", calls, err)
	}
	if _, err := d.DeleteDocument(ctx, acme, "present"); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteDocument with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := d.CorpusVersion(ctx, acme); !errors.Is(err, context.Canceled) {
		t.Errorf("CorpusVersion with a cancelled context = %v, want context.Canceled", err)
	}

	// Nothing was changed.
	wantNoDocument(t, d, acme, "new")
	wantStored(t, d, acme, present, presentChunks)
	wantVersion(t, d, acme, 1)
}

// testDocLarge checks a document of 2,000 chunks of 384-dimension vectors,
// and its replacement by a small one.
func testDocLarge(t *testing.T, d store.Documents) {
	doc, chunks := docFixture("large", 1, 2000, 384)
	mustPutDocument(t, d, acme, doc, chunks)
	wantStored(t, d, acme, doc, chunks)
	scanned := scanAll(t, d, acme)
	if len(scanned) != 1 {
		t.Fatalf("ScanDocuments visited %q, want [large]", scannedIDs(scanned))
	}
	wantChunkList(t, "ScanDocuments(large)", scanned[0].chunks, chunks)

	small, smallChunks := docFixture("large", 2, 10, 384)
	mustPutDocument(t, d, acme, small, smallChunks)
	wantStored(t, d, acme, small, smallChunks)
}

// docFixture returns a document with n chunks with vectors of dims
// dimensions. Everything in it derives from id and gen, so that two puts of
// a document can be told apart: the text of every chunk starts with the
// document's title, which holds gen.
func docFixture(id string, gen, n, dims int) (store.DocumentRecord, []store.StoredChunk) {
	title := fixtureTitle(id, gen)
	doc := store.DocumentRecord{
		ID:             id,
		Title:          title,
		URL:            "https://example.com/docs/" + fmt.Sprint(gen),
		Format:         "markdown",
		Metadata:       map[string]any{"gen": float64(gen), "lang": "en", "draft": gen%2 == 1},
		Hash:           hashOf(title),
		EmbeddingModel: "workersai/@cf/baai/bge-small-en-v1.5",
		Bytes:          int64(n * 100),
		Chunks:         n,
		UploadedBy:     "key-1",
	}
	chunks := make([]store.StoredChunk, n)
	for i := range chunks {
		text := fmt.Sprintf("%s chunk %d", title, i)
		chunks[i] = store.StoredChunk{
			ID:          fmt.Sprintf("%s#%d", id, i),
			DocID:       id,
			Ordinal:     i,
			HeadingPath: []string{"Guide", fmt.Sprintf("Part %d", i/10)},
			Text:        text,
			Start:       i * 100,
			End:         i*100 + len(text),
			Tokens:      len(text) / 4,
			Hash:        hashOf(text),
			Vector:      fixtureVector(gen*7919+i, dims),
		}
	}
	return doc, chunks
}

// fixtureTitle returns the title docFixture gives a document.
func fixtureTitle(id string, gen int) string {
	return fmt.Sprintf("%s gen %d", id, gen)
}

// fixtureVector returns a vector of dims dimensions that depends on seed,
// or nil for no dimension.
func fixtureVector(seed, dims int) []float32 {
	if dims == 0 {
		return nil
	}
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(math.Sin(float64(seed*dims + i + 1)))
	}
	return v
}

// edgeVector returns a vector of finite float32 values at the edges of
// their encoding.
func edgeVector() []float32 {
	return []float32{
		0,
		float32(math.Copysign(0, -1)),
		1, -1, 0.1, 1.0 / 3,
		math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32,       // the smallest subnormal
		math.Float32frombits(0x007fffff),  // the largest subnormal
		math.Float32frombits(0x00800000),  // the smallest normal
		math.Float32frombits(0x3f800001),  // the float32 after 1
		-math.Float32frombits(0x00000123), // a negative subnormal
	}
}

// hashOf returns the SHA-256 of s in hex, as the store's hashes are.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func cloneDoc(doc store.DocumentRecord) store.DocumentRecord {
	if doc.Metadata != nil {
		m := make(map[string]any, len(doc.Metadata))
		for k, v := range doc.Metadata {
			m[k] = v
		}
		doc.Metadata = m
	}
	return doc
}

func cloneChunks(chunks []store.StoredChunk) []store.StoredChunk {
	out := slices.Clone(chunks)
	for i := range out {
		out[i].HeadingPath = slices.Clone(out[i].HeadingPath)
		out[i].Vector = slices.Clone(out[i].Vector)
	}
	return out
}

// scanned is a document and its chunks as ScanDocuments passed them.
type scanned struct {
	doc    store.DocumentRecord
	chunks []store.StoredChunk
}

// scanAll returns what ScanDocuments passes to fn for tenant id.
func scanAll(t *testing.T, d store.Documents, id tenant.ID) []scanned {
	t.Helper()
	var all []scanned
	err := d.ScanDocuments(t.Context(), id, func(doc store.DocumentRecord, chunks []store.StoredChunk) error {
		all = append(all, scanned{doc, chunks})
		return nil
	})
	if err != nil {
		t.Fatalf("ScanDocuments(%v): %v", id, err)
	}
	return all
}

func scannedIDs(all []scanned) []string {
	out := []string{}
	for _, s := range all {
		out = append(out, s.doc.ID)
	}
	return out
}

func docIDs(docs []store.DocumentRecord) []string {
	out := []string{}
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out
}

func mustPutDocument(t *testing.T, d store.Documents, id tenant.ID, doc store.DocumentRecord, chunks []store.StoredChunk) int64 {
	t.Helper()
	v, err := d.PutDocument(t.Context(), id, doc, chunks)
	if err != nil {
		t.Fatalf("PutDocument(%v, %q, %d chunks): %v", id, doc.ID, len(chunks), err)
	}
	return v
}

func mustDocument(t *testing.T, d store.Documents, id tenant.ID, doc string) store.DocumentRecord {
	t.Helper()
	got, err := d.Document(t.Context(), id, doc)
	if err != nil {
		t.Fatalf("Document(%v, %q): %v", id, doc, err)
	}
	return got
}

func mustDocuments(t *testing.T, d store.Documents, id tenant.ID, after string, limit int) []store.DocumentRecord {
	t.Helper()
	got, err := d.Documents(t.Context(), id, after, limit)
	if err != nil {
		t.Fatalf("Documents(%v, after %q, limit %d): %v", id, after, limit, err)
	}
	if len(got) > store.MaxDocumentsPage || limit > 0 && len(got) > limit {
		t.Fatalf("Documents(%v, after %q, limit %d) returned %d documents", id, after, limit, len(got))
	}
	return got
}

func mustChunks(t *testing.T, d store.Documents, id tenant.ID, doc string) []store.StoredChunk {
	t.Helper()
	got, err := d.Chunks(t.Context(), id, doc)
	if err != nil {
		t.Fatalf("Chunks(%v, %q): %v", id, doc, err)
	}
	return got
}

func mustCorpusVersion(t *testing.T, d store.Documents, id tenant.ID) int64 {
	t.Helper()
	v, err := d.CorpusVersion(t.Context(), id)
	if err != nil {
		t.Fatalf("CorpusVersion(%v): %v", id, err)
	}
	return v
}

func wantVersion(t *testing.T, d store.Documents, id tenant.ID, want int64) {
	t.Helper()
	if got := mustCorpusVersion(t, d, id); got != want {
		t.Errorf("CorpusVersion(%v) = %d, want %d", id, got, want)
	}
}

// wantNoDocument fails the test unless both Document and Chunks report that
// tenant id has no such document.
func wantNoDocument(t *testing.T, d store.Documents, id tenant.ID, doc string) {
	t.Helper()
	if got, err := d.Document(t.Context(), id, doc); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Document(%v, %q) = %s, %v; want ErrNotFound", id, doc, formatDocument(got), err)
	}
	if got, err := d.Chunks(t.Context(), id, doc); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Chunks(%v, %q) = %d chunks, %v; want ErrNotFound", id, doc, len(got), err)
	}
}

// wantStored checks that tenant id holds doc, with Chunks set to the
// number of chunks, and exactly chunks, by ordinal.
func wantStored(t *testing.T, d store.Documents, id tenant.ID, doc store.DocumentRecord, chunks []store.StoredChunk) {
	t.Helper()
	got := mustDocument(t, d, id, doc.ID)
	want := doc
	want.Chunks, want.Created, want.Updated = len(chunks), got.Created, got.Updated
	wantDocument(t, fmt.Sprintf("Document(%v, %q)", id, doc.ID), got, want)
	wantChunkList(t, fmt.Sprintf("Chunks(%v, %q)", id, doc.ID), mustChunks(t, d, id, doc.ID), chunks)
}

// wantDocument fails the test unless got and want are the same document,
// their times as instants.
func wantDocument(t *testing.T, what string, got, want store.DocumentRecord) {
	t.Helper()
	if !sameDocument(got, want) {
		t.Errorf("%s =\n%s\nwant\n%s", what, formatDocument(got), formatDocument(want))
	}
}

// sameDocument reports whether a and b are equal, their times as instants
// and no metadata the same as empty metadata.
func sameDocument(a, b store.DocumentRecord) bool {
	if !a.Created.Equal(b.Created) || !a.Updated.Equal(b.Updated) || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || v != w {
			return false
		}
	}
	return a.ID == b.ID && a.Title == b.Title && a.URL == b.URL && a.Format == b.Format &&
		a.Hash == b.Hash && a.EmbeddingModel == b.EmbeddingModel && a.Bytes == b.Bytes &&
		a.Chunks == b.Chunks && a.UploadedBy == b.UploadedBy
}

func formatDocument(d store.DocumentRecord) string {
	return fmt.Sprintf("{ID %q, Title %q, URL %q, Format %q, Metadata %v, Hash %q, EmbeddingModel %q, Bytes %d, Chunks %d, UploadedBy %q, Created %v, Updated %v}",
		briefString(d.ID), d.Title, d.URL, d.Format, d.Metadata, d.Hash, d.EmbeddingModel, d.Bytes, d.Chunks, d.UploadedBy, d.Created, d.Updated)
}

// wantChunkList fails the test unless got and want hold the same chunks in
// the same order, vectors bit for bit, reporting the first few that differ.
func wantChunkList(t *testing.T, what string, got, want []store.StoredChunk) {
	t.Helper()
	if slices.EqualFunc(got, want, sameChunk) {
		return
	}
	var b strings.Builder
	shown := 0
	for i := range max(len(got), len(want)) {
		g, w := "-", "-"
		if i < len(got) {
			g = formatChunk(got[i])
		}
		if i < len(want) {
			w = formatChunk(want[i])
		}
		if i < len(got) && i < len(want) && sameChunk(got[i], want[i]) {
			continue
		}
		if shown++; shown > 5 {
			b.WriteString("\n...")
			break
		}
		fmt.Fprintf(&b, "\n%d: got  %s\n%d: want %s", i, g, i, w)
	}
	t.Errorf("%s = %d chunks, want %d:%s", what, len(got), len(want), b.String())
}

// sameChunk reports whether a and b are equal, vectors bit for bit, and
// nil the same as empty.
func sameChunk(a, b store.StoredChunk) bool {
	return a.ID == b.ID && a.DocID == b.DocID && a.Ordinal == b.Ordinal &&
		slices.Equal(a.HeadingPath, b.HeadingPath) && a.Text == b.Text &&
		a.Start == b.Start && a.End == b.End && a.Tokens == b.Tokens && a.Hash == b.Hash &&
		slices.EqualFunc(a.Vector, b.Vector, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func formatChunk(c store.StoredChunk) string {
	vector := fmt.Sprintf("%d dims", len(c.Vector))
	if len(c.Vector) > 0 {
		vector += fmt.Sprintf(" %v...", c.Vector[:min(3, len(c.Vector))])
	}
	return fmt.Sprintf("{ID %q, DocID %q, Ordinal %d, HeadingPath %q, Text %s, Start %d, End %d, Tokens %d, Hash %q, Vector %s}",
		c.ID, c.DocID, c.Ordinal, c.HeadingPath, briefString(c.Text), c.Start, c.End, c.Tokens, c.Hash, vector)
}

// testDocTotals checks that Totals follows every put, replace and delete,
// tenant by tenant.
func testDocTotals(t *testing.T, d store.Documents) {
	ctx := t.Context()
	want := func(id tenant.ID, w store.DocumentTotals) {
		t.Helper()
		got, err := d.Totals(ctx, id)
		if err != nil || got != w {
			t.Fatalf("Totals(%s) = %+v, %v; want %+v", id, got, err, w)
		}
	}
	want(acme, store.DocumentTotals{})
	a, aChunks := docFixture("a", 0, 3, 4)
	a.Bytes = 100
	mustPutDocument(t, d, acme, a, aChunks)
	want(acme, store.DocumentTotals{Documents: 1, Chunks: 3, Bytes: 100})
	b, bChunks := docFixture("b", 0, 2, 4)
	b.Bytes = 50
	mustPutDocument(t, d, acme, b, bChunks)
	want(acme, store.DocumentTotals{Documents: 2, Chunks: 5, Bytes: 150})
	a2, a2Chunks := docFixture("a", 1, 1, 4)
	a2.Bytes = 10
	mustPutDocument(t, d, acme, a2, a2Chunks)
	want(acme, store.DocumentTotals{Documents: 2, Chunks: 3, Bytes: 60})
	want(globex, store.DocumentTotals{})
	if _, err := d.DeleteDocument(ctx, acme, "b"); err != nil {
		t.Fatal(err)
	}
	want(acme, store.DocumentTotals{Documents: 1, Chunks: 1, Bytes: 10})
	if _, err := d.DeleteDocument(ctx, acme, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	want(acme, store.DocumentTotals{Documents: 1, Chunks: 1, Bytes: 10})
}

// testDocQuota checks that a put past any quota writes nothing and says
// which quota it passed, that a put within it goes through, and that a
// document may be replaced by a smaller one while the tenant is above a
// quota.
func testDocQuota(t *testing.T, d store.Documents) {
	ctx := t.Context()
	a, aChunks := docFixture("a", 0, 3, 4)
	a.Bytes = 100
	mustPutDocument(t, d, acme, a, aChunks)
	before := mustCorpusVersion(t, d, acme)
	b, bChunks := docFixture("b", 0, 2, 4)
	b.Bytes = 50
	c, cChunks := docFixture("c", 0, 1, 4)
	c.Bytes = 1
	for _, tt := range []struct {
		quota store.DocumentQuota
		name  string
		after int64
	}{
		{store.DocumentQuota{Documents: 2}, "documents", 3},
		{store.DocumentQuota{Chunks: 5}, "chunks", 6},
		{store.DocumentQuota{Bytes: 150}, "bytes", 151},
	} {
		_, err := d.PutDocuments(ctx, acme, []store.DocumentPut{{Doc: b, Chunks: bChunks}, {Doc: c, Chunks: cChunks}}, tt.quota)
		var qe *store.QuotaError
		if !errors.As(err, &qe) || !errors.Is(err, store.ErrQuotaExceeded) {
			t.Fatalf("PutDocuments over %+v = %v, want a *QuotaError", tt.quota, err)
		}
		if qe.Quota != tt.name || qe.After != tt.after {
			t.Errorf("quota error %+v, want quota %s after %d", qe, tt.name, tt.after)
		}
		wantNoDocument(t, d, acme, "b")
		wantNoDocument(t, d, acme, "c")
		wantVersion(t, d, acme, before)
	}
	if _, err := d.PutDocuments(ctx, acme, []store.DocumentPut{{Doc: b, Chunks: bChunks}}, store.DocumentQuota{Documents: 2, Chunks: 5, Bytes: 150}); err != nil {
		t.Fatalf("PutDocuments within the quota: %v", err)
	}
	// Above a quota lowered since, a smaller replacement still goes in.
	a2, a2Chunks := docFixture("a", 1, 1, 4)
	a2.Bytes = 10
	if _, err := d.PutDocuments(ctx, acme, []store.DocumentPut{{Doc: a2, Chunks: a2Chunks}}, store.DocumentQuota{Documents: 1, Chunks: 1, Bytes: 1}); err != nil {
		t.Fatalf("a smaller replacement above the quota: %v", err)
	}
	wantStored(t, d, acme, a2, a2Chunks)
	// Another tenant's holdings count nothing against acme's quota.
	g, gChunks := docFixture("g", 0, 4, 4)
	if _, err := d.PutDocuments(ctx, globex, []store.DocumentPut{{Doc: g, Chunks: gChunks}}, store.DocumentQuota{Documents: 1, Chunks: 4}); err != nil {
		t.Fatalf("globex within its own quota: %v", err)
	}
}

// testDocQuotaConcurrent checks that concurrent writers never pass a quota
// together: of 16 writers of one chunk each against a quota of 5 chunks,
// exactly 5 succeed.
func testDocQuotaConcurrent(t *testing.T, d store.Documents) {
	ctx := t.Context()
	const writers, quota = 16, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, over := 0, 0
	for w := range writers {
		wg.Go(func() {
			doc, chunks := docFixture(fmt.Sprintf("q-%d", w), 0, 1, 4)
			_, err := d.PutDocuments(ctx, acme, []store.DocumentPut{{Doc: doc, Chunks: chunks}}, store.DocumentQuota{Chunks: quota})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrQuotaExceeded):
				over++
			default:
				t.Errorf("writer %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	if ok != quota || over != writers-quota {
		t.Errorf("%d puts went in and %d were refused; want %d and %d", ok, over, quota, writers-quota)
	}
	if got, err := d.Totals(ctx, acme); err != nil || got.Chunks != quota {
		t.Errorf("Totals = %+v, %v; want %d chunks", got, err, quota)
	}
}

// testDocChanges checks the change feed: one change a version, in the
// order of a batch, deletes marked, pages by limit, nothing for writes that
// failed, and each tenant's feed its own.
func testDocChanges(t *testing.T, d store.Documents) {
	ctx := t.Context()
	changes := func(id tenant.ID, after int64, limit int) []store.DocumentChange {
		t.Helper()
		got, err := d.Changes(ctx, id, after, limit)
		if err != nil {
			t.Fatalf("Changes(%s, %d, %d): %v", id, after, limit, err)
		}
		return got
	}
	if got := changes(acme, 0, 0); len(got) != 0 {
		t.Errorf("Changes of an empty store = %v, want none", got)
	}
	a, aChunks := docFixture("a", 1, 2, 4)
	b, bChunks := docFixture("b", 1, 1, 4)
	c, cChunks := docFixture("c", 1, 1, 4)
	mustPutDocument(t, d, acme, a, aChunks)
	mustPutDocument(t, d, acme, b, bChunks)
	puts := []store.DocumentPut{{Doc: c, Chunks: cChunks}, {Doc: a, Chunks: aChunks}}
	if v, err := d.PutDocuments(ctx, acme, puts, store.DocumentQuota{}); err != nil || v != 4 {
		t.Fatalf("PutDocuments(c, a) = %d, %v; want 4, nil", v, err)
	}
	if v, err := d.DeleteDocument(ctx, acme, "b"); err != nil || v != 5 {
		t.Fatalf("DeleteDocument(b) = %d, %v; want 5, nil", v, err)
	}
	// Writes that fail record nothing.
	if _, err := d.DeleteDocument(ctx, acme, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteDocument(missing) = %v, want ErrNotFound", err)
	}
	d2, d2Chunks := docFixture("d", 1, 1, 4)
	if _, err := d.PutDocuments(ctx, acme, []store.DocumentPut{{Doc: d2, Chunks: d2Chunks}}, store.DocumentQuota{Documents: 2}); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("PutDocuments past the quota = %v, want ErrQuotaExceeded", err)
	}

	put := func(v int64, id string) store.DocumentChange { return store.DocumentChange{Version: v, DocID: id} }
	want := []store.DocumentChange{put(1, "a"), put(2, "b"), put(3, "c"), put(4, "a"), {Version: 5, DocID: "b", Deleted: true}}
	if got := changes(acme, 0, 0); !slices.Equal(got, want) {
		t.Errorf("Changes(acme, 0) = %v, want %v", got, want)
	}
	if got := changes(acme, 2, 0); !slices.Equal(got, want[2:]) {
		t.Errorf("Changes(acme, 2) = %v, want %v", got, want[2:])
	}
	if got := changes(acme, 1, 2); !slices.Equal(got, want[1:3]) {
		t.Errorf("Changes(acme, 1, limit 2) = %v, want %v", got, want[1:3])
	}
	for _, after := range []int64{5, 6, 1000} {
		if got := changes(acme, after, 0); len(got) != 0 {
			t.Errorf("Changes(acme, %d) = %v, want none", after, got)
		}
	}

	// Another tenant's feed is its own.
	if got := changes(globex, 0, 0); len(got) != 0 {
		t.Errorf("Changes(globex) = %v, want none", got)
	}
	mustPutDocument(t, d, globex, b, bChunks)
	if got, want := changes(globex, 0, 0), []store.DocumentChange{put(1, "b")}; !slices.Equal(got, want) {
		t.Errorf("Changes(globex) = %v, want %v", got, want)
	}
	if got := changes(acme, 4, 0); !slices.Equal(got, want[4:]) {
		t.Errorf("Changes(acme, 4) after globex's put = %v, want %v", got, want[4:])
	}

	for _, tt := range []struct {
		name  string
		id    tenant.ID
		after int64
	}{
		{"no tenant", tenant.ID{}, 0},
		{"negative version", acme, -1},
	} {
		if _, err := d.Changes(ctx, tt.id, tt.after, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Changes with %s = %v, want ErrInvalid", tt.name, err)
		}
	}
}

// testDocChangesPruned checks that the feed keeps the latest
// store.KeepChanges versions of a tenant and says so when asked for older
// ones, and that a long feed pages.
func testDocChangesPruned(t *testing.T, d store.Documents) {
	ctx := t.Context()
	n := store.KeepChanges + 10
	puts := make([]store.DocumentPut, n)
	for i := range puts {
		puts[i].Doc = store.DocumentRecord{ID: fmt.Sprintf("doc-%05d", i)}
	}
	v, err := d.PutDocuments(ctx, acme, puts, store.DocumentQuota{})
	if err != nil || v != int64(n) {
		t.Fatalf("PutDocuments of %d documents = %d, %v", n, v, err)
	}
	if _, err := d.DeleteDocument(ctx, acme, "doc-00000"); err != nil {
		t.Fatal(err)
	}
	last := int64(n + 1)
	oldest := last - store.KeepChanges + 1 // the oldest version kept
	for _, after := range []int64{0, 1, oldest - 2} {
		if got, err := d.Changes(ctx, acme, after, 10); !errors.Is(err, store.ErrPruned) {
			t.Errorf("Changes(%d) with the feed kept from %d = %d changes, %v; want ErrPruned", after, oldest, len(got), err)
		}
	}
	got, err := d.Changes(ctx, acme, oldest-1, 0)
	if err != nil {
		t.Fatalf("Changes(%d): %v", oldest-1, err)
	}
	if len(got) != store.MaxChangesPage || got[0].Version != oldest || got[0].DocID != fmt.Sprintf("doc-%05d", oldest-1) {
		t.Fatalf("Changes(%d) = %d changes from %v, want %d from version %d", oldest-1, len(got), got[0], store.MaxChangesPage, oldest)
	}
	// Paging reaches the end: the delete, last.
	after, total := oldest-1, 0
	for {
		page, err := d.Changes(ctx, acme, after, 0)
		if err != nil {
			t.Fatalf("Changes(%d): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		for i, c := range page {
			if c.Version != after+int64(i)+1 {
				t.Fatalf("Changes(%d)[%d] = version %d, want %d", after, i, c.Version, after+int64(i)+1)
			}
		}
		total += len(page)
		after = page[len(page)-1].Version
	}
	if total != store.KeepChanges || after != last {
		t.Errorf("paged %d changes up to version %d, want %d up to %d", total, after, store.KeepChanges, last)
	}
	if got, err := d.Changes(ctx, acme, last-1, 0); err != nil || len(got) != 1 || got[0] != (store.DocumentChange{Version: last, DocID: "doc-00000", Deleted: true}) {
		t.Errorf("Changes(%d) = %v, %v; want the delete of doc-00000", last-1, got, err)
	}
}
