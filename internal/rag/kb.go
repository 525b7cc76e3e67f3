package rag

// A tenant's knowledge base in memory: its index and what results show of
// each chunk, kept in step with the store.

import (
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/store"
)

// kb is one tenant's knowledge base in memory.
type kb struct {
	load    sync.Once
	loadErr error
	ready   atomic.Bool // loaded without error

	write sync.Mutex // one write, delete or catch-up at a time: store and index agree
	// evicted is set, under write, when the Service drops this kb (memory
	// budget, a pruned change feed): writes then go to the tenant's
	// current kb, and its version no longer moves.
	evicted atomic.Bool

	used     atomic.Int64 // the Service's use clock at its last use (LRU)
	checked  atomic.Int64 // when its version was last checked against the store, unix ns
	target   atomic.Int64 // the highest corpus version notified
	catching atomic.Bool  // a catch-up goroutine runs
	bytes    atomic.Int64 // the estimated memory of the index and what results show
	terms    int          // the index's distinct terms counted in bytes, under mu

	qmu     sync.Mutex // guards queue and writing
	queue   []*pending // prepared documents waiting for their write
	writing bool       // an ingest is writing the queue

	fullVectors bool // the index holds float32 vectors, not int8 codes
	ixOpts      index.Options

	// dirty says that k changed since its image was last written; timer
	// writes it when writes pause (Options.ImageDelay). Under qmu.
	dirty atomic.Bool
	timer *time.Timer
	// nextImage is the earliest time, unix ns, of the next image write:
	// writing images takes at most a twentieth of the time.
	nextImage atomic.Int64

	mu      sync.RWMutex
	ix      *index.Index
	chunks  map[string]*chunkInfo // chunk ID -> what results show
	byDoc   map[string][]string   // document ID -> chunk IDs
	docSize map[string]int64      // document ID -> estimated bytes
	version int64
	// img is the image the texts of chunks on disk are read from, at
	// imgText.
	img     *os.File
	imgText int64
}

// newKB returns an empty knowledge base whose index has the options o
// (o.FullVectors keeps its vectors as float32s).
func newKB(o index.Options) *kb {
	k := &kb{fullVectors: o.FullVectors, ixOpts: o}
	k.reset()
	return k
}

// reset empties k, which is not in use yet.
func (k *kb) reset() {
	if k.img != nil {
		k.img.Close()
	}
	k.ix = index.NewWithOptions(k.ixOpts)
	k.chunks, k.byDoc, k.docSize = map[string]*chunkInfo{}, map[string][]string{}, map[string]int64{}
	k.img, k.imgText, k.version, k.terms = nil, 0, 0, 0
	k.bytes.Store(0)
}

// chunkInfo is what a result shows of a chunk. The chunks of a document
// share their docInfo, and consecutive chunks of a section their heading
// path.
type chunkInfo struct {
	*docInfo
	HeadingPath []string
	Text        string
	Start, End  int
	Tokens      int
	Flagged     bool
	// disk says that Text is in the kb's image, size bytes at at.
	disk bool
	size uint32
	at   int64
}

// docInfo is what a result shows of a chunk's document.
type docInfo struct {
	DocID string
	Title string
	URL   string
}

// indexed is a document made ready for the index, outside any lock: its
// index entries (Vector set from its chunks) and what results show.
type indexed struct {
	docID   string
	entries []index.Entry
	infos   []*chunkInfo
	ids     []string
	// batch, when set, is entries analysed for the index already.
	batch *index.Prepared
}

// size estimates the memory the document takes in the index: its chunks
// (chunkBytes) and their postings, 6 bytes each.
func (p indexed) size(fullVectors bool) int64 {
	n := 6 * int64(p.batch.Postings())
	for i, e := range p.entries {
		n += chunkBytes(e, p.infos[i].Text, fullVectors)
	}
	return n
}

func prepare(d store.DocumentRecord, cs []store.StoredChunk) indexed {
	p := indexed{docID: d.ID, entries: make([]index.Entry, len(cs)), infos: make([]*chunkInfo, len(cs)), ids: make([]string, len(cs))}
	doc := &docInfo{DocID: d.ID, Title: d.Title, URL: d.URL}
	infos := make([]chunkInfo, len(cs)) // one allocation for the document's chunks
	var headings []string
	for i, c := range cs {
		if !slices.Equal(c.HeadingPath, headings) || len(c.HeadingPath) == 0 {
			headings = c.HeadingPath
		}
		p.entries[i] = index.Entry{ChunkID: c.ID, DocID: d.ID, Text: IndexText(d.Title, c.HeadingPath, c.Text), Vector: c.Vector, Metadata: d.Metadata}
		infos[i] = chunkInfo{docInfo: doc, HeadingPath: headings, Text: c.Text,
			Start: c.Start, End: c.End, Tokens: c.Tokens, Flagged: LooksLikeInjection(c.Text)}
		p.infos[i] = &infos[i]
		p.ids[i] = c.ID
	}
	return p
}

// put indexes a stored document, replacing its previous chunks.
func (k *kb) put(d store.DocumentRecord, cs []store.StoredChunk) error {
	return k.apply(prepare(d, cs))
}

// apply puts a prepared document in the index.
func (k *kb) apply(p indexed) error {
	if p.batch == nil {
		b, err := k.ix.Prepare(p.docID, p.entries)
		if err != nil {
			return err
		}
		p.batch = b
	}
	if err := k.ix.ReplacePrepared(p.batch); err != nil {
		return err
	}
	size := p.size(k.fullVectors)
	k.mu.Lock()
	for _, id := range k.byDoc[p.docID] {
		delete(k.chunks, id)
	}
	for i, id := range p.ids {
		k.chunks[id] = p.infos[i]
	}
	k.byDoc[p.docID] = p.ids
	if k.docSize == nil {
		k.docSize = map[string]int64{}
	}
	k.bytes.Add(size - k.docSize[p.docID])
	k.docSize[p.docID] = size
	k.countTerms()
	k.mu.Unlock()
	return nil
}

func (k *kb) remove(docID string) {
	k.ix.Delete(docID)
	k.mu.Lock()
	for _, id := range k.byDoc[docID] {
		delete(k.chunks, id)
	}
	delete(k.byDoc, docID)
	k.bytes.Add(-k.docSize[docID])
	delete(k.docSize, docID)
	k.countTerms()
	k.mu.Unlock()
}

// countTerms brings the dictionary's share of bytes up to date, termBytes
// a distinct term. Callers hold mu.
func (k *kb) countTerms() {
	n := k.ix.Terms()
	k.bytes.Add(int64(n-k.terms) * termBytes)
	k.terms = n
}

// IndexText is what BM25 and the embedder see of a chunk: its document's
// title and its headings give it context its text may lack.
func IndexText(title string, headings []string, text string) string {
	var b strings.Builder
	if title != "" {
		b.WriteString(title)
		b.WriteString("\n")
	}
	if len(headings) > 0 {
		b.WriteString(strings.Join(headings, " > "))
		b.WriteString("\n")
	}
	b.WriteString(text)
	return b.String()
}

func (k *kb) currentVersion() int64 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.version
}

// setVersion moves the version forward to v, never back.
func (k *kb) setVersion(v int64) {
	k.mu.Lock()
	k.version = max(k.version, v)
	k.mu.Unlock()
}
