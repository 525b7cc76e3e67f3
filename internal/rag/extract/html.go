package extract

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTML extracts an HTML page, parsed as browsers do (golang.org/x/net/html):
// <title> becomes the Title (else the first <h1>); h1-h6 become headings; p,
// pre, blockquote, lists (ul, ol, dl: one item a line) and tables (one row a
// line, td and th cells joined by " | ") become blocks, and text directly
// inside other block elements (div, section, ...) becomes paragraphs. Noise
// is dropped: script, style, nav, footer, head, noscript, template, svg,
// iframe, object, embed, canvas, select, button, and elements that are
// hidden (the hidden attribute, aria-hidden="true", role="navigation",
// display:none). Images go. White space collapses, except in pre; entities
// are decoded.
//
// A page nested deeper than the parser accepts (512 open elements) is read
// flat instead: headings and block elements still separate blocks, but
// lists, tables and quotes become paragraphs.
//
// The error is nil today; it is there for sources that can fail to read,
// so that callers need not change should that come.
func HTML(src string) (Document, error) { return htmlDoc(src, 0) }

// htmlDoc is HTML keeping at most max blocks (0: all).
func htmlDoc(src string, max int) (Document, error) {
	src = normalize(src)
	root, err := html.Parse(strings.NewReader(src))
	if err != nil {
		// A string reader cannot fail, so the parser rejected the page,
		// which happens when it nests too deep: read the tags flat.
		return flatHTML(src, max), nil
	}
	w := htmlWalker{b: builder{max: max}}
	walk(root, w.enter, w.leave)
	w.flushAnon()
	doc := w.b.document()
	doc.Title = title(root)
	if doc.Title == "" {
		for _, h := range doc.Headings {
			if h.Level == 1 {
				doc.Title = h.Text
				break
			}
		}
	}
	return doc, nil
}

// walk visits the tree under root in document order without recursion, so
// that deep nesting cannot exhaust the stack. enter returns whether to
// visit a node's children; leave is called after them, only for nodes
// whose children were visited.
func walk(root *html.Node, enter func(*html.Node) bool, leave func(*html.Node)) {
	n := root
	for {
		if enter(n) {
			if n.FirstChild != nil {
				n = n.FirstChild
				continue
			}
			leave(n)
		}
		for n != root && n.NextSibling == nil {
			n = n.Parent
			leave(n)
		}
		if n == root {
			return
		}
		n = n.NextSibling
	}
}

// title returns the text of the first <title> outside svg.
func title(root *html.Node) string {
	var t string
	walk(root, func(n *html.Node) bool {
		if t != "" || n.Type == html.ElementNode && (n.DataAtom == atom.Svg || n.DataAtom == atom.Math) {
			return false
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Title {
			var sb strings.Builder
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.TextNode {
					sb.WriteString(c.Data)
				}
			}
			t = collapse(sb.String())
			return false
		}
		return true
	}, func(*html.Node) {})
	return t
}

// skipped lists the elements whose content is noise, or not text.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Nav: true, atom.Footer: true, atom.Head: true,
	atom.Noscript: true, atom.Template: true, atom.Svg: true, atom.Title: true,
	atom.Iframe: true, atom.Object: true, atom.Embed: true, atom.Canvas: true,
	atom.Select: true, atom.Button: true, atom.Img: true, atom.Picture: true,
	atom.Video: true, atom.Audio: true, atom.Input: true, atom.Textarea: true,
}

// containers lists block elements that hold other blocks: the text
// directly in them becomes paragraphs.
var containers = map[atom.Atom]bool{
	atom.Html: true, atom.Body: true, atom.Div: true, atom.Section: true, atom.Article: true,
	atom.Main: true, atom.Header: true, atom.Aside: true, atom.Figure: true, atom.Figcaption: true,
	atom.Address: true, atom.Details: true, atom.Summary: true, atom.Dialog: true, atom.Fieldset: true,
	atom.Legend: true, atom.Form: true, atom.Center: true, atom.Hgroup: true, atom.Hr: true,
	atom.Caption: true, atom.Search: true, atom.Menu: true, atom.Option: true,
}

// hidden reports whether an element is marked as not shown.
func hidden(n *html.Node) bool {
	for _, a := range n.Attr {
		switch a.Key {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		case "role":
			if strings.EqualFold(strings.TrimSpace(a.Val), "navigation") {
				return true
			}
		case "style":
			v := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(v, "display:none") || strings.Contains(v, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

func headingLevel(a atom.Atom) int {
	switch a {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4:
		return 4
	case atom.H5:
		return 5
	case atom.H6:
		return 6
	}
	return 0
}

// htmlWalker builds a Document from enter and leave events. At most one
// leaf block (heading, paragraph, pre, quote, list or table) is open at a
// time; block elements inside it only separate its text.
type htmlWalker struct {
	b    builder
	anon textBuf // text outside any leaf block

	leaf   *html.Node // the element of the open leaf block, or nil
	kind   string
	level  int
	buf    textBuf
	pre    int   // depth of <pre> elements
	lists  []int // the open lists: -1 for unordered, else the next number
	tables int   // depth of tables inside a table block
	row    []string
	cell   textBuf
	inCell bool
}

func (w *htmlWalker) flushAnon() {
	w.b.add(KindParagraph, 0, w.anon.String())
	w.anon.Reset()
}

// text returns the buffer that text goes to now.
func (w *htmlWalker) text() *textBuf {
	switch {
	case w.leaf == nil:
		return &w.anon
	case w.inCell:
		return &w.cell
	}
	return &w.buf
}

func (w *htmlWalker) enter(n *html.Node) bool {
	switch n.Type {
	case html.TextNode:
		if w.pre > 0 {
			w.text().raw(n.Data)
		} else {
			w.text().text(n.Data)
		}
		return false
	case html.ElementNode:
	case html.DocumentNode:
		return true
	default:
		return false
	}
	a := n.DataAtom
	if skipped[a] || hidden(n) {
		return false
	}
	if w.leaf == nil {
		w.open(n)
		return true
	}
	w.inside(n)
	return true
}

// open handles an element while no leaf block is open.
func (w *htmlWalker) open(n *html.Node) {
	a := n.DataAtom
	start := func(kind string, level int) {
		w.flushAnon()
		w.leaf, w.kind, w.level = n, kind, level
		w.buf.Reset()
	}
	switch {
	case headingLevel(a) > 0:
		start(KindHeading, headingLevel(a))
	case a == atom.P:
		start(KindParagraph, 0)
	case a == atom.Pre || a == atom.Listing || a == atom.Xmp:
		start(KindCode, 0)
		w.pre++
	case a == atom.Blockquote:
		start(KindQuote, 0)
	case a == atom.Ul || a == atom.Ol || a == atom.Dl:
		start(KindList, 0)
		w.lists = w.lists[:0]
		w.pushList(n)
	case a == atom.Li || a == atom.Dt || a == atom.Dd:
		start(KindList, 0) // an item outside a list
		w.lists = w.lists[:0]
		w.item(n)
	case a == atom.Table:
		start(KindTable, 0)
		w.tables = 1
	case a == atom.Br:
		w.anon.newline()
	case containers[a]:
		w.flushAnon()
	}
}

// breaks reports whether an element separates the words around it.
func breaks(a atom.Atom) bool {
	if containers[a] || headingLevel(a) > 0 {
		return true
	}
	switch a {
	case atom.P, atom.Blockquote, atom.Pre, atom.Br, atom.Table, atom.Tr, atom.Td, atom.Th,
		atom.Ul, atom.Ol, atom.Dl, atom.Li, atom.Dt, atom.Dd:
		return true
	}
	return false
}

// inside handles an element inside the open leaf block.
func (w *htmlWalker) inside(n *html.Node) {
	a := n.DataAtom
	switch w.kind {
	case KindList:
		switch {
		case a == atom.Ul || a == atom.Ol || a == atom.Dl:
			w.pushList(n)
		case a == atom.Li || a == atom.Dt || a == atom.Dd:
			w.item(n)
		case breaks(a):
			w.buf.space()
		}
	case KindTable:
		switch {
		case a == atom.Table:
			w.tables++
			w.text().space()
		case a == atom.Tr && w.tables == 1:
			w.endRow()
		case (a == atom.Td || a == atom.Th) && w.tables == 1:
			w.endCell()
			w.inCell = true
		case a == atom.Caption && w.tables == 1:
			w.buf.newline()
		case breaks(a):
			w.text().space()
		}
	case KindCode:
		switch a {
		case atom.Pre, atom.Listing, atom.Xmp:
			w.pre++
		case atom.Br:
			w.buf.raw("\n")
		}
	case KindQuote:
		switch a {
		case atom.Pre, atom.Listing, atom.Xmp:
			w.pre++
		}
		if breaks(a) {
			w.buf.newline()
		}
	case KindParagraph:
		if a == atom.Br {
			w.buf.newline()
		} else if breaks(a) {
			w.buf.space()
		}
	default: // heading
		if breaks(a) {
			w.buf.space()
		}
	}
}

func (w *htmlWalker) leave(n *html.Node) {
	if n.Type != html.ElementNode {
		return
	}
	a := n.DataAtom
	if a == atom.Pre || a == atom.Listing || a == atom.Xmp {
		if w.pre > 0 && (w.kind == KindCode || w.kind == KindQuote) {
			w.pre--
		}
	}
	if w.leaf == nil {
		if containers[a] {
			w.flushAnon()
		}
		return
	}
	if n == w.leaf {
		if w.kind == KindTable {
			w.endRow()
		}
		w.b.add(w.kind, w.level, w.buf.String())
		w.leaf, w.kind, w.pre, w.tables, w.inCell = nil, "", 0, 0, false
		w.buf.Reset()
		return
	}
	switch w.kind {
	case KindList:
		if (a == atom.Ul || a == atom.Ol || a == atom.Dl) && len(w.lists) > 0 {
			w.lists = w.lists[:len(w.lists)-1]
		}
	case KindTable:
		switch {
		case a == atom.Table:
			w.tables--
		case (a == atom.Td || a == atom.Th) && w.tables == 1:
			w.endCell()
		case a == atom.Tr && w.tables == 1:
			w.endRow()
		}
	case KindQuote:
		if breaks(a) {
			w.buf.newline()
		}
	}
}

// pushList opens a (nested) list; an <ol> counts from its start attribute.
func (w *htmlWalker) pushList(n *html.Node) {
	next := -1
	if n.DataAtom == atom.Ol {
		next = 1
		for _, a := range n.Attr {
			if a.Key == "start" {
				if v, err := strconv.Atoi(strings.TrimSpace(a.Val)); err == nil && v >= 0 && v < 1e9 {
					next = v
				}
			}
		}
	}
	w.lists = append(w.lists, next)
}

// item starts a list item's line, indented two spaces a nesting level.
func (w *htmlWalker) item(n *html.Node) {
	depth := max(len(w.lists)-1, 0)
	marker := "- "
	if k := len(w.lists) - 1; k >= 0 && w.lists[k] >= 0 && n.DataAtom == atom.Li {
		marker = strconv.Itoa(w.lists[k]) + ". "
		w.lists[k]++
	}
	if n.DataAtom == atom.Dd {
		marker = "  "
	}
	w.buf.newline()
	w.buf.lit(strings.Repeat("  ", depth) + marker)
}

// endCell closes the open table cell, if any.
func (w *htmlWalker) endCell() {
	if !w.inCell {
		return
	}
	w.row = append(w.row, w.cell.String())
	w.cell.Reset()
	w.inCell = false
}

// endRow writes the open table row as a line.
func (w *htmlWalker) endRow() {
	w.endCell()
	nonEmpty := false
	for _, c := range w.row {
		if c != "" {
			nonEmpty = true
		}
	}
	if nonEmpty {
		w.buf.newline()
		w.buf.lit(strings.Join(w.row, " | "))
	}
	w.row = w.row[:0]
}

// textBuf accumulates text, collapsing white space: runs of spaces become
// one space, runs of line breaks one line break, and neither starts the
// text.
type textBuf struct {
	sb        strings.Builder
	pendSpace bool
	pendLine  bool
}

func (t *textBuf) String() string { return t.sb.String() }

func (t *textBuf) Reset() { *t = textBuf{} }

func (t *textBuf) space() { t.pendSpace = true }

func (t *textBuf) newline() { t.pendLine = true }

// pending writes the pending separator before new text.
func (t *textBuf) pending() {
	if t.sb.Len() > 0 {
		if t.pendLine {
			t.sb.WriteByte('\n')
		} else if t.pendSpace {
			t.sb.WriteByte(' ')
		}
	}
	t.pendSpace, t.pendLine = false, false
}

// text appends s with its white space collapsed.
func (t *textBuf) text(s string) {
	for len(s) > 0 {
		// Runs of visible ASCII go in one write.
		n := 0
		for n < len(s) && s[n] > ' ' && s[n] < utf8.RuneSelf {
			n++
		}
		if n > 0 {
			t.pending()
			t.sb.WriteString(s[:n])
			s = s[n:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case unicode.IsSpace(r):
			t.pendSpace = true
		case r == '\u200b' || r == '\u00ad' || r == '\ufeff':
		default:
			t.pending()
			t.sb.WriteRune(r)
		}
	}
}

// lit appends s as it is, after any pending separator.
func (t *textBuf) lit(s string) {
	t.pending()
	t.sb.WriteString(s)
}

// raw appends preformatted text as it is.
func (t *textBuf) raw(s string) {
	if s == "" {
		return
	}
	if t.sb.Len() > 0 && t.pendLine {
		t.sb.WriteByte('\n')
	}
	t.pendSpace, t.pendLine = false, false
	t.sb.WriteString(s)
}
