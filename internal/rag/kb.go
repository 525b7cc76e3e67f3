package rag

// A tenant's knowledge base in memory: its index and what results show of
// each chunk, kept in step with the store.

import (
	"strings"
	"sync"
	"sync/atomic"

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

	qmu     sync.Mutex // guards queue and writing
	queue   []*pending // prepared documents waiting for their write
	writing bool       // an ingest is writing the queue

	mu      sync.RWMutex
	ix      *index.Index
	chunks  map[string]*chunkInfo // chunk ID -> what results show
	byDoc   map[string][]string   // document ID -> chunk IDs
	docSize map[string]int64      // document ID -> estimated bytes
	version int64
}

func newKB() *kb {
	return &kb{ix: index.New(), chunks: map[string]*chunkInfo{}, byDoc: map[string][]string{}, docSize: map[string]int64{}}
}

// chunkInfo is what a result shows of a chunk.
type chunkInfo struct {
	DocID       string
	Title       string
	URL         string
	HeadingPath []string
	Text        string
	Start, End  int
	Tokens      int
	Flagged     bool
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

// size estimates the memory the document takes in the index, see
// chunkBytes.
func (p indexed) size() int64 {
	var n int64
	for i, e := range p.entries {
		n += chunkBytes(e, p.infos[i].Text)
	}
	return n
}

func prepare(d store.DocumentRecord, cs []store.StoredChunk) indexed {
	p := indexed{docID: d.ID, entries: make([]index.Entry, len(cs)), infos: make([]*chunkInfo, len(cs)), ids: make([]string, len(cs))}
	for i, c := range cs {
		p.entries[i] = index.Entry{ChunkID: c.ID, DocID: d.ID, Text: IndexText(d.Title, c.HeadingPath, c.Text), Vector: c.Vector, Metadata: d.Metadata}
		p.infos[i] = &chunkInfo{DocID: d.ID, Title: d.Title, URL: d.URL, HeadingPath: c.HeadingPath, Text: c.Text,
			Start: c.Start, End: c.End, Tokens: c.Tokens, Flagged: LooksLikeInjection(c.Text)}
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
	var err error
	if p.batch != nil {
		err = k.ix.ReplacePrepared(p.batch)
	} else {
		err = k.ix.Replace(p.docID, p.entries)
	}
	if err != nil {
		return err
	}
	size := p.size()
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
	k.mu.Unlock()
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
