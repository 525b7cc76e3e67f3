package extract

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// flatHTML extracts HTML from its token stream without building a tree:
// text between block-level tags becomes paragraphs, h1-h6 headings, pre
// code; skipped elements are dropped up to their end tag. It is the fallback
// for pages the tree builder rejects, and its work is linear.
func flatHTML(src string, max int) Document {
	var (
		b        = builder{max: max}
		buf      textBuf
		kind     = KindParagraph
		level    int
		pre      int
		skip     atom.Atom // the skipped element being dropped, or 0
		skipName string
		depth    int // nesting of skip inside itself
		title    string
		inTitle  bool
	)
	flush := func() {
		b.add(kind, level, buf.String())
		buf.Reset()
		kind, level = KindParagraph, 0
	}
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		a := tok.DataAtom
		if skip != 0 || skipName != "" {
			switch {
			case tt == html.StartTagToken && a == skip && tok.Data == skipName:
				depth++
			case tt == html.EndTagToken && a == skip && tok.Data == skipName:
				if depth--; depth < 0 {
					skip, skipName, depth = 0, "", 0
				}
			}
			if tt == html.StartTagToken && a == atom.Title {
				inTitle = true
			}
			if tt == html.TextToken && inTitle && title == "" {
				title = collapse(tok.Data)
			}
			if tt == html.EndTagToken && a == atom.Title {
				inTitle = false
			}
			continue
		}
		switch tt {
		case html.TextToken:
			if pre > 0 {
				buf.raw(tok.Data)
			} else {
				buf.text(tok.Data)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			if skipped[a] && a != atom.Img && a != atom.Input && tt == html.StartTagToken {
				skip, skipName, depth = a, tok.Data, 0
				inTitle = a == atom.Title
				continue
			}
			switch {
			case headingLevel(a) > 0:
				flush()
				kind, level = KindHeading, headingLevel(a)
			case a == atom.Pre || a == atom.Listing || a == atom.Xmp:
				flush()
				kind = KindCode
				pre++
			case a == atom.Br:
				if pre > 0 {
					buf.raw("\n")
				} else {
					buf.newline()
				}
			case a == atom.Td || a == atom.Th:
				buf.space()
			case breaks(a) && pre == 0:
				flush()
			}
		case html.EndTagToken:
			switch {
			case headingLevel(a) > 0:
				flush()
			case a == atom.Pre || a == atom.Listing || a == atom.Xmp:
				if pre > 0 {
					pre--
				}
				if pre == 0 {
					flush()
				}
			case a == atom.Td || a == atom.Th:
				buf.space()
			case breaks(a) && pre == 0:
				flush()
			}
		}
	}
	flush()
	doc := b.document()
	doc.Title = title
	if doc.Title == "" {
		for _, h := range doc.Headings {
			if h.Level == 1 {
				doc.Title = h.Text
				break
			}
		}
	}
	return doc
}
