// Package chunk splits an extracted document into passages for retrieval,
// sized in tokens (cl100k_base, through internal/tokens) and cut along the
// document's structure: a chunk stays within one section, holds whole blocks
// where they fit, and otherwise breaks at sentences, then words, then
// characters.
package chunk

import (
	"iter"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// Default sizes, in tokens.
const (
	DefaultChunkTokens   = 256
	DefaultOverlapTokens = 32
	// MinChunkTokens is the smallest chunk size Split uses: four tokens
	// hold any single character.
	MinChunkTokens = 4
	// MaxChunkTokens is the largest chunk size Split uses.
	MaxChunkTokens = 1 << 30
)

// Options sets chunk sizes; the zero value means the defaults.
type Options struct {
	// ChunkTokens is the most tokens a chunk holds: DefaultChunkTokens when
	// zero or negative, and between MinChunkTokens and MaxChunkTokens.
	ChunkTokens int
	// OverlapTokens is the most tokens a chunk repeats from the end of the
	// previous chunk of its section: DefaultOverlapTokens when zero, none
	// when negative, and half of ChunkTokens when not below it.
	OverlapTokens int
	// MaxChunks, when positive, stops Split once the document is known to
	// make more than MaxChunks chunks: it returns the first MaxChunks+1,
	// so that the work on a document too large for its quota is bounded by
	// the quota, not by the document.
	MaxChunks int
}

// normalized returns o with its defaults and limits applied.
func (o Options) normalized() Options {
	if o.ChunkTokens <= 0 {
		o.ChunkTokens = DefaultChunkTokens
	}
	o.ChunkTokens = min(max(o.ChunkTokens, MinChunkTokens), MaxChunkTokens)
	switch {
	case o.OverlapTokens == 0:
		o.OverlapTokens = DefaultOverlapTokens
	case o.OverlapTokens < 0:
		o.OverlapTokens = 0
	}
	if o.OverlapTokens >= o.ChunkTokens {
		o.OverlapTokens = o.ChunkTokens / 2
	}
	return o
}

// Chunk is one passage of a document.
type Chunk struct {
	Ordinal     int      // position among the document's chunks, from 0
	HeadingPath []string // the enclosing headings, outermost first; nil before the first heading; shared by the chunks of a section, so read-only
	Text        string   // the passage: exactly the document's Text[Start:End]
	Start, End  int      // byte offsets in the extracted Document.Text
	Tokens      int      // tokens.Count(Text), exactly
}

// Split cuts doc into chunks of at most opts.ChunkTokens tokens each.
//
// A section (a heading and the blocks up to the next heading) is chunked on
// its own, so a chunk never mixes sections' text; a section that holds
// nothing but its heading is joined to the section that follows it (the
// next headings too, up to the chunk size) instead of making a chunk of a
// heading alone, so that the number of chunks follows the size of the
// text, not its markup. Within a section whole blocks are
// packed greedily; a block too large for that is packed sentence by
// sentence (line by line for code, lists and tables), a sentence too large
// word by word, and a word too large in pieces cut at character boundaries
// (a word of more than 16 bytes a token of the chunk size and 8 KiB, which
// no text but junk holds, is cut by bytes without counting, a chunk a
// piece, so that the work stays linear in its size).
// A chunk starts with the whole sentences that end the previous chunk of
// its section, as many as fit in opts.OverlapTokens, and always adds text
// of its own after them. Chunks are never empty, never start or end with
// white space, and together cover every non-space character of doc.Text.
//
// Blocks are taken from doc.Blocks; text the blocks leave out is split into
// paragraphs at blank lines, so a Document with Text alone works too. The
// result depends only on doc and opts. Split expects doc.Text to be valid
// UTF-8, as extract returns it; with invalid bytes it still keeps every
// promise above, but cuts may fall between the bytes of one character.
func Split(doc extract.Document, opts Options) []Chunk {
	opts = opts.normalized()
	s := splitter{text: doc.Text, limit: opts.ChunkTokens, overlap: opts.OverlapTokens, max: opts.MaxChunks}
	for sec := range sections(doc) {
		s.section(sec)
		if s.full {
			break
		}
	}
	s.c.flush()
	return s.out
}

// block is one block of a section.
type block struct {
	span
	kind  string
	level int
}

// section is a run of blocks under one heading path.
type section struct {
	path   []string
	blocks []block
	// joined holds, when empty sections were joined to this one, the
	// start of each of their headings and its path, in order.
	joined []pathFrom
}

// pathFrom is the heading path from an offset on.
type pathFrom struct {
	start int
	path  []string
}

// sections yields doc's sections in order, one at a time: a section's
// blocks are reused for the next, and a document is never held as a whole
// list of sections, so that chunking a document of a million headings
// stops as soon as Split does. Only a section's path outlives it.
func sections(doc extract.Document) iter.Seq[*section] {
	return func(yield func(*section) bool) {
		type open struct {
			level int
			text  string
		}
		var (
			stack   []open
			cur     section
			onlyHdr bool // cur holds nothing but headings so far
		)
		for b := range blocks(doc) {
			if b.kind != extract.KindHeading {
				cur.blocks = append(cur.blocks, b)
				onlyHdr = false
				continue
			}
			for len(stack) > 0 && stack[len(stack)-1].level >= b.level {
				stack = stack[:len(stack)-1]
			}
			stack = append(stack, open{b.level, strings.Join(strings.Fields(doc.Text[b.start:b.end]), " ")})
			path := make([]string, len(stack))
			for k, o := range stack {
				path[k] = o.text
			}
			if len(cur.blocks) > 0 && onlyHdr && b.level > cur.blocks[len(cur.blocks)-1].level {
				// An empty section joins its first subsection.
				if cur.joined == nil {
					cur.joined = append(cur.joined, pathFrom{cur.blocks[0].start, cur.path})
				}
				cur.joined = append(cur.joined, pathFrom{b.start, path})
				cur.blocks = append(cur.blocks, b)
				cur.path = path
				continue
			}
			if len(cur.blocks) > 0 && !yield(&cur) {
				return
			}
			cur = section{path: path, blocks: append(cur.blocks[:0], b)}
			onlyHdr = true
		}
		if len(cur.blocks) > 0 {
			yield(&cur)
		}
	}
}

// blocks yields doc's blocks, trimmed, in order and within bounds, with
// the text between them that is not white space as paragraphs.
func blocks(doc extract.Document) iter.Seq[block] {
	return func(yield func(block) bool) {
		text := doc.Text
		gap := func(a, b int) bool {
			for _, p := range paragraphs(text, a, b) {
				if !yield(block{span: p, kind: extract.KindParagraph}) {
					return false
				}
			}
			return true
		}
		prev := 0
		for _, b := range doc.Blocks {
			start, end := max(b.Start, prev), min(b.End, len(text))
			if start >= end {
				continue
			}
			if !gap(prev, start) {
				return
			}
			prev = end
			start, end = trim(text, start, end)
			if start >= end {
				continue
			}
			kind, level := b.Kind, 0
			if kind == extract.KindHeading {
				level = max(b.Level, 1)
			}
			if !yield(block{span: span{start, end}, kind: kind, level: level}) {
				return
			}
		}
		gap(prev, len(text))
	}
}

// paragraphs splits text[a:b] at blank lines into trimmed spans.
func paragraphs(text string, a, b int) []span {
	var out []span
	start := a
	for i := a; i < b; {
		e := strings.IndexByte(text[i:b], '\n')
		if e < 0 {
			break
		}
		lineStart := i + e + 1
		lineEnd := strings.IndexByte(text[lineStart:b], '\n')
		if lineEnd < 0 {
			lineEnd = b
		} else {
			lineEnd += lineStart
		}
		if x, y := trim(text, lineStart, lineEnd); x == y && lineEnd < b {
			// A blank line: the paragraph before it ends.
			if x, y := trim(text, start, lineStart); x < y {
				out = append(out, span{x, y})
			}
			start = lineEnd
		}
		i = lineStart
	}
	if x, y := trim(text, start, b); x < y {
		out = append(out, span{x, y})
	}
	return out
}

// unit is a piece of a section that is packed whole: a block, a sentence,
// a word or a piece of a word.
type unit struct {
	span
	ends    bool // ends at the end of a sentence
	heading bool // is a heading block
}

type splitter struct {
	text           string
	limit, overlap int
	max            int  // Options.MaxChunks
	full           bool // more than max chunks are out: stop
	solid          int  // out[:solid] take no merge: the last is a piece of a huge word
	headingsOut    bool // the last chunk out holds headings alone
	c              counter
	out            []Chunk

	// The section being split.
	path   []string
	joined []pathFrom
	blocks []block
	sents  [][]span // each block's sentences, computed when needed

	// The chunk being packed; start < 0 when there is none.
	start, end   int
	ends         bool // the chunk ends at the end of a sentence
	onlyHeadings bool // the chunk's own text is headings alone

	scratch []span
}

// section splits one section.
func (s *splitter) section(sec *section) {
	first, last := sec.blocks[0], sec.blocks[len(sec.blocks)-1]
	s.c.reset(s.text, first.start, last.end)
	s.path = slices.Clip(sec.path)
	s.joined = sec.joined
	s.blocks = sec.blocks
	s.sents = slices.Grow(s.sents[:0], len(sec.blocks))[:len(sec.blocks)]
	clear(s.sents)
	s.start = -1
	for k, b := range sec.blocks {
		if s.full {
			return
		}
		heading := b.kind == extract.KindHeading
		if s.start >= 0 && s.fits(s.start, b.end) {
			s.end, s.ends = b.end, true
			s.onlyHeadings = s.onlyHeadings && heading
			continue
		}
		// Rather than leave a heading alone in a chunk, break the block up so
		// that its first sentences can join the heading.
		strand := s.start >= 0 && s.onlyHeadings
		if !strand && s.fits(b.start, b.end) {
			s.add(unit{span: b.span, ends: true, heading: heading})
			continue
		}
		for _, st := range s.sentences(k) {
			if s.fits(st.start, st.end) {
				s.add(unit{span: st, ends: true, heading: heading})
				continue
			}
			s.words(st, heading)
		}
	}
	s.flush()
}

// fits reports whether text[a:b] fits in a chunk. A span of more than
// maxTokenBytes bytes a token of the limit is taken not to fit without
// counting it: no cl100k_base token is that long, and counting a span
// that is one piece of the tokenizer (a run of dots, say) costs as much as
// the whole document would. A span taken not to fit is split further, so
// a wrong guess only makes smaller chunks.
func (s *splitter) fits(a, b int) bool {
	return b-a <= maxTokenBytes*s.limit && s.c.count(a, b) <= s.limit
}

// maxTokenBytes bounds the bytes of a token, for fits.
const maxTokenBytes = 64

// sentences returns block k's sentences.
func (s *splitter) sentences(k int) []span {
	if s.sents[k] == nil {
		b := s.blocks[k]
		switch b.kind {
		case extract.KindCode, extract.KindList, extract.KindTable:
			s.sents[k] = lines(s.text, b.start, b.end, nil)
		default:
			s.sents[k] = sentences(s.text, b.start, b.end, nil)
		}
	}
	return s.sents[k]
}

// words packs a sentence too large for a chunk word by word.
func (s *splitter) words(st span, heading bool) {
	s.scratch = words(s.text, st.start, st.end, s.scratch[:0])
	for _, w := range s.scratch {
		if s.full {
			return
		}
		// A token has a byte at least, or three for an invalid byte, so a
		// short word fits. A long one is cut (whole, if it fits) without
		// first counting it, which would cost as much again.
		n := w.end - w.start
		if 3*n <= s.limit || (n <= 16*s.limit && s.c.count(w.start, w.end) <= s.limit) {
			s.add(unit{span: w, ends: w.end == st.end, heading: heading})
			continue
		}
		if n > max(16*s.limit, minJunkBytes) {
			s.junk(w, st.end, heading)
			continue
		}
		for a := w.start; a < w.end; {
			e := s.cut(a, w.end)
			s.add(unit{span: span{a, e}, ends: e == st.end, heading: heading})
			a = e
		}
	}
}

// minJunkBytes is the shortest word that junk cuts.
const minJunkBytes = 8 << 10

// junk cuts a huge word (base64, a run of one character) into pieces of
// at most s.limit bytes, a chunk each but the last, which later words may
// join. Valid UTF-8 has a byte a token at least, so a piece fits without
// counting it; a piece with invalid bytes is cut at a third of that.
func (s *splitter) junk(w span, sentenceEnd int, heading bool) {
	for a := w.start; a < w.end && !s.full; {
		e := min(a+s.limit, w.end)
		for e > a+1 && e < w.end && !utf8.RuneStart(s.text[e]) {
			e--
		}
		if !utf8.ValidString(s.text[a:e]) {
			e = min(a+max(s.limit/3, 1), w.end)
		}
		s.flush()
		s.solid = len(s.out)
		s.start, s.end, s.ends, s.onlyHeadings = a, e, e == sentenceEnd, heading
		a = e
	}
}

// cut returns the end of the longest prefix of text[a:end] that fits in a
// chunk, at a character boundary, and at least one character on.
func (s *splitter) cut(a, end int) int {
	first := a + 1
	for first < end && !utf8.RuneStart(s.text[first]) {
		first++
	}
	for window := min(8*s.limit, end-a); ; window = min(4*window, end-a) {
		e := a + window
		for e > first && e < end && !utf8.RuneStart(s.text[e]) {
			e--
		}
		w := s.text[a:e]
		fit := tokens.Truncate(w, s.limit)
		if !strings.HasPrefix(w, fit) {
			break // invalid UTF-8 was replaced: search instead
		}
		if len(fit) < len(w) || e == end {
			return max(a+len(fit), first)
		}
	}
	// Binary search for the last character boundary that fits.
	lo, hi := first, end
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		for mid > lo && mid < end && !utf8.RuneStart(s.text[mid]) {
			mid--
		}
		if mid == lo {
			break
		}
		if s.c.count(a, mid) <= s.limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// add packs one unit: into the open chunk if it fits, else into a new
// chunk that opens with the overlap.
func (s *splitter) add(u unit) {
	if s.start < 0 {
		s.start, s.end, s.ends, s.onlyHeadings = u.start, u.end, u.ends, u.heading
		return
	}
	if s.fits(s.start, u.end) {
		s.end, s.ends = u.end, u.ends
		s.onlyHeadings = s.onlyHeadings && u.heading
		return
	}
	prevStart, prevEnd, prevEnds := s.start, s.end, s.ends
	s.flush()
	start := u.start
	if prevEnds && s.overlap > 0 {
		start = s.overlapStart(prevStart, prevEnd, u.end, u.start)
	}
	s.start, s.end, s.ends, s.onlyHeadings = start, u.end, u.ends, u.heading
}

// overlapStart returns where a chunk that ends at end should start to
// repeat the whole sentences that end the previous chunk,
// text[prevStart:prevEnd], without passing the overlap or the chunk limit;
// or own, the start of its own text, when no sentence fits.
func (s *splitter) overlapStart(prevStart, prevEnd, end, own int) int {
	best := own
	// The block holding the previous chunk's last character.
	k, _ := slices.BinarySearchFunc(s.blocks, prevEnd, func(b block, t int) int {
		if b.end < t {
			return -1
		}
		if b.start >= t {
			return 1
		}
		return 0
	})
	for ; k >= 0 && k < len(s.blocks); k-- {
		sents := s.sentences(k)
		// The last sentence that starts before prevEnd.
		i, _ := slices.BinarySearchFunc(sents, prevEnd, func(x span, t int) int { return x.start - t })
		for i--; i >= 0; i-- {
			st := sents[i].start
			if st <= prevStart {
				return best
			}
			if s.c.count(st, prevEnd) > s.overlap || s.c.count(st, end) > s.limit {
				return best
			}
			best = st
		}
	}
	return best
}

// flush closes the open chunk.
func (s *splitter) flush() {
	if s.start < 0 || s.full {
		s.start = -1
		return
	}
	path := s.path
	// A chunk that ends before the last of joined headings has the path
	// of the last heading it holds.
	for k := len(s.joined) - 1; k >= 0; k-- {
		if s.joined[k].start < s.end {
			path = slices.Clip(s.joined[k].path)
			break
		}
	}
	s.emit(Chunk{
		HeadingPath: path,
		Start:       s.start,
		End:         s.end,
		Tokens:      s.c.count(s.start, s.end),
	}, s.onlyHeadings)
	s.start = -1
}

// emit adds a closed chunk to the output. A chunk of headings alone is
// not left alone: the chunk after it is merged into it when the two fit,
// and takes its heading path. Merged text is counted whole, so merging
// stops at 16 bytes a token of the limit: a run of headings costs a
// bounded number of counts of a bounded length each.
func (s *splitter) emit(c Chunk, onlyHeadings bool) {
	if n := len(s.out); n > s.solid && s.headingsOut && c.End > s.out[n-1].End && c.End-s.out[n-1].Start <= 16*s.limit {
		prev := &s.out[n-1]
		if m := tokens.Count(s.text[prev.Start:c.End]); m <= s.limit {
			prev.End, prev.Tokens, prev.HeadingPath = c.End, m, c.HeadingPath
			prev.Text = s.text[prev.Start:prev.End]
			s.headingsOut = onlyHeadings
			return
		}
	}
	c.Ordinal = len(s.out)
	c.Text = s.text[c.Start:c.End]
	s.out = append(s.out, c)
	s.headingsOut = onlyHeadings
	if s.max > 0 && len(s.out) > s.max {
		s.full = true
	}
}
