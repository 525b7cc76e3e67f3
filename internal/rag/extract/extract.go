// Package extract turns a document's source (plain text, Markdown or HTML)
// into plain text that keeps the document's structure: its title, its
// headings and its blocks (paragraphs, lists, code, tables, quotes), each
// located by byte offsets in the extracted text.
//
// Every function is pure, never panics, does work roughly linear in the size
// of its input, and returns valid UTF-8: invalid bytes in the source become
// U+FFFD. Blocks are separated by a blank line ("\n\n") in Document.Text, and
// no block is empty or starts or ends with white space.
//
// Markdown is read by a parser of this package's own (markdown.go for
// blocks, inline.go for inline markup), not by github.com/yuin/goldmark,
// because goldmark v1.8.7 was measured to take time quadratic in the input
// on Markdown any tenant can upload, where this parser stays linear: with
// goldmark's default parser, 100 KB of "*a_" took 41 s (emphasis matching
// scans back over every earlier delimiter, yuin/goldmark#555), 100 KB of
// "[a](" 5.5 s, and 400 KB of link reference definitions ("[a]: b" lines)
// 17 s, where this parser reads 10 MB of each in 0.2 to 3.2 s. Given goldmark's
// blocks and this package's inline renderer, a list nested one level deeper
// a line took 40 s for 4 MB (0.3 s here), and ordinary Markdown (docs/*.md
// repeated to 10 MB) made twice the allocations, held 3.5 times the heap at
// its peak (130 to 141 MiB against 33 to 42 MiB) and ran at about half the
// speed, since goldmark builds the whole document's tree before a block can
// be kept, out of ExtractAtMost's reach. Measured with go test -bench
// Markdown and the same inputs at 10 MB, on two shared cores.
package extract

import (
	"strings"
	"unicode/utf8"
)

// Block kinds.
const (
	KindHeading   = "heading"
	KindParagraph = "paragraph"
	KindList      = "list"
	KindCode      = "code"
	KindTable     = "table"
	KindQuote     = "quote"
)

// Document is the plain text of a source together with its structure.
type Document struct {
	Title    string    // the document's title, "" when it has none
	Text     string    // the extracted text, blocks separated by "\n\n"
	Headings []Heading // the headings in order, each also a heading block
	Blocks   []Block   // the blocks in order, covering all of Text but the separators
	// Truncated is set when the source held more blocks than
	// ExtractAtMost allowed: the Document holds the first of them only.
	Truncated bool
}

// Heading is one heading of a Document.
type Heading struct {
	Level  int    // 1 to 6
	Text   string // the heading's text
	Offset int    // byte offset in Document.Text where the heading's section starts
}

// Block is one block of a Document: a heading, a paragraph, a list (one item
// a line), a code block, a table (one row a line, cells joined by " | ") or a
// block quote.
type Block struct {
	Kind  string // one of the Kind constants
	Level int    // a heading's level; 0 for other kinds
	Start int    // byte offset in Document.Text where the block starts
	End   int    // byte offset in Document.Text just past the block
}

// builder accumulates a Document block by block.
type builder struct {
	doc Document
	sb  strings.Builder
	max int // the most blocks kept; 0: no limit
}

// add appends a block; text is cleaned first and an empty block is dropped.
// It reports whether a block was added.
func (b *builder) add(kind string, level int, text string) bool {
	if b.full() {
		return false
	}
	text = cleanBlock(text)
	if text == "" {
		return false
	}
	if b.max > 0 && len(b.doc.Blocks) >= b.max {
		b.doc.Truncated = true
		return false
	}
	if kind != KindHeading {
		level = 0
	} else {
		level = min(max(level, 1), 6)
	}
	if b.sb.Len() > 0 {
		b.sb.WriteString("\n\n")
	}
	start := b.sb.Len()
	b.sb.WriteString(text)
	b.doc.Blocks = append(b.doc.Blocks, Block{Kind: kind, Level: level, Start: start, End: b.sb.Len()})
	if kind == KindHeading {
		b.doc.Headings = append(b.doc.Headings, Heading{Level: level, Text: text, Offset: start})
	}
	return true
}

// full reports whether a block was refused for want of room: the parser
// may stop.
func (b *builder) full() bool { return b.doc.Truncated }

// document returns the finished Document.
func (b *builder) document() Document {
	b.doc.Text = b.sb.String()
	return b.doc
}

// cleanBlock makes text fit to be a block: valid UTF-8, no trailing white
// space on any line, no blank lines at either end, no leading white space on
// the first line.
func cleanBlock(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	if strings.IndexByte(text, '\n') < 0 {
		return strings.TrimSpace(text)
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\u00a0")
	}
	text = strings.Join(lines, "\n")
	text = strings.Trim(text, "\n")
	// The first line's indentation goes (a block starts with text), the
	// others' stays (code keeps its shape).
	return strings.TrimSpace(text)
}

// normalize prepares source text: invalid UTF-8 becomes U+FFFD, line breaks
// become "\n", NUL becomes U+FFFD, a leading byte order mark and other C0
// control characters but tab are dropped, and form and vertical feeds
// become line breaks.
func normalize(src string) string {
	src = strings.TrimPrefix(src, "\uFEFF")
	clean := utf8.ValidString(src)
	if clean {
		for i := 0; i < len(src); i++ {
			if c := src[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				clean = false
				break
			}
		}
	}
	if clean {
		return src
	}
	var sb strings.Builder
	sb.Grow(len(src))
	for i := 0; i < len(src); {
		c := src[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && size == 1 {
				sb.WriteString("\uFFFD")
				// One replacement for a run of invalid bytes.
				i++
				for i < len(src) {
					r, size = utf8.DecodeRuneInString(src[i:])
					if r != utf8.RuneError || size != 1 {
						break
					}
					i++
				}
				continue
			}
			sb.WriteString(src[i : i+size])
			i += size
			continue
		}
		switch {
		case c == '\r':
			sb.WriteByte('\n')
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
		case c == '\f' || c == '\v':
			sb.WriteByte('\n')
		case c == 0:
			sb.WriteString("\uFFFD")
		case (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f:
			// dropped
		default:
			sb.WriteByte(c)
		}
		i++
	}
	return sb.String()
}
