package extract

import (
	"strconv"
	"strings"
)

// Markdown extracts CommonMark and GitHub-flavoured Markdown: ATX ("# h")
// and setext (underlined) headings, paragraphs (soft line breaks become
// spaces), bullet and ordered lists (one item a line, "- " or "N. " before
// it, two spaces of indentation a nesting level), fenced and indented code
// (kept verbatim, info string dropped), block quotes, and pipe tables (one
// row a line, cells joined by " | ", the delimiter row dropped). Inline markup
// goes: emphasis, links (their text stays), images, code-span backticks,
// HTML tags and comments, escapes; entities are decoded. Link reference
// definitions, thematic breaks and YAML front matter are dropped. The first
// level-1 heading becomes the Title, else a "title:" in the front matter.
//
// This is a pragmatic reading of Markdown for search, not a full CommonMark
// parser: containers nest only as lists in lists.
func Markdown(src string) Document { return markdown(src, 0) }

// markdown is Markdown keeping at most max blocks (0: all).
func markdown(src string, max int) Document {
	p := mdParser{lines: strings.Split(normalize(src), "\n"), b: builder{max: max}}
	p.frontMatter()
	p.collectRefs()
	for p.i < len(p.lines) && !p.b.full() {
		p.block()
	}
	doc := p.b.document()
	for _, h := range doc.Headings {
		if h.Level == 1 {
			doc.Title = h.Text
			break
		}
	}
	if doc.Title == "" {
		doc.Title = p.title
	}
	return doc
}

type mdParser struct {
	b     builder
	lines []string
	i     int             // the next line to read
	refs  map[string]bool // normalised labels of link reference definitions
	title string          // from the front matter
	inl   inlineParser    // reused for every inline rendering
}

func (p *mdParser) inline(s string) string { return p.inl.render(s, p.refs) }

// frontMatter skips YAML front matter ("---" lines around "key: value"
// lines) at the top of the document, keeping its title.
func (p *mdParser) frontMatter() {
	if len(p.lines) < 3 || strings.TrimRight(p.lines[0], " \t") != "---" {
		return
	}
	end := -1
	for k := 1; k < len(p.lines) && k < 1000; k++ {
		if l := strings.TrimRight(p.lines[k], " \t"); l == "---" || l == "..." {
			end = k
			break
		}
	}
	if end < 0 {
		return
	}
	first := true
	for _, l := range p.lines[1:end] {
		if isBlank(l) {
			continue
		}
		key, val, ok := strings.Cut(l, ":")
		if first && (!ok || key == "" || strings.ContainsAny(key, " \t")) {
			return // not YAML: a thematic break and a setext heading, say
		}
		first = false
		if ok && strings.TrimSpace(key) == "title" && p.title == "" {
			val = strings.TrimSpace(val)
			if uq, err := strconv.Unquote(val); err == nil {
				val = uq
			} else if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
				val = val[1 : len(val)-1]
			}
			p.title = collapse(val)
		}
	}
	p.i = end + 1
}

// collectRefs finds the labels of link reference definitions outside code,
// so that reference links can be told from text in brackets.
func (p *mdParser) collectRefs() {
	var fence byte
	var fenceLen int
	for _, l := range p.lines[p.i:] {
		if c, n, _, ok := fenceOpen(l); ok {
			switch {
			case fence == 0:
				fence, fenceLen = c, n
			case c == fence && n >= fenceLen && isFenceClose(l, fence, fenceLen):
				fence = 0
			}
			continue
		}
		if fence != 0 {
			continue
		}
		if label, _, ok := refDef(l); ok && label[0] != '^' {
			if p.refs == nil {
				p.refs = map[string]bool{}
			}
			p.refs[normLabel(label)] = true
		}
	}
}

// block reads one block starting at line p.i, or skips a blank line.
func (p *mdParser) block() {
	line := p.lines[p.i]
	if isBlank(line) {
		p.i++
		return
	}
	if ind, _ := indentOf(line); ind >= 4 {
		p.indentedCode()
		return
	}
	rest := strings.TrimLeft(line, " \t")
	if _, _, _, ok := fenceOpen(line); ok {
		p.fenced(0)
		return
	}
	if level, text, ok := atxHeading(line); ok {
		p.b.add(KindHeading, level, p.inline(text))
		p.i++
		return
	}
	if isThematicBreak(line) {
		p.i++
		return
	}
	if rest[0] == '>' {
		p.quote()
		return
	}
	if _, ok := listMarker(line); ok {
		p.list()
		return
	}
	if strings.HasPrefix(rest, "<!--") {
		p.htmlComment()
		return
	}
	if label, after, ok := refDef(line); ok {
		if label[0] == '^' { // a footnote: its text is content
			p.lines[p.i] = after
			p.paragraph()
			return
		}
		p.i++
		return
	}
	if p.tableStart(p.i) {
		p.table()
		return
	}
	p.paragraph()
}

// paragraph reads lines up to a blank line or the start of another block; a
// setext underline turns them into a heading.
func (p *mdParser) paragraph() {
	start := p.i
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		if isBlank(line) {
			break
		}
		if p.i > start {
			if level, ok := setextUnderline(line); ok {
				p.b.add(KindHeading, level, p.inline(strings.Join(p.lines[start:p.i], "\n")))
				p.i++
				return
			}
			if interrupts(line) || p.tableStart(p.i) {
				break
			}
		}
		p.i++
	}
	p.b.add(KindParagraph, 0, p.inline(strings.Join(p.lines[start:p.i], "\n")))
}

// interrupts reports whether line starts a block that ends a paragraph.
func interrupts(line string) bool {
	if ind, _ := indentOf(line); ind >= 4 {
		return false
	}
	rest := strings.TrimLeft(line, " \t")
	if rest == "" {
		return true
	}
	if _, _, ok := atxHeading(line); ok {
		return true
	}
	if _, _, _, ok := fenceOpen(line); ok {
		return true
	}
	if rest[0] == '>' || isThematicBreak(line) || strings.HasPrefix(rest, "<!--") {
		return true
	}
	if m, ok := listMarker(line); ok && m.text != "" && (!m.ordered || m.num == "1") {
		return true
	}
	return false
}

// indentedCode reads a code block of lines indented by four columns.
func (p *mdParser) indentedCode() {
	var out []string
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		if ind, _ := indentOf(line); ind < 4 && !isBlank(line) {
			break
		}
		out = append(out, stripCols(line, 4))
		p.i++
	}
	p.b.add(KindCode, 0, strings.Join(out, "\n"))
}

// fenced reads a fenced code block whose opening fence is line p.i; base
// columns of container indentation are stripped from each line first.
func (p *mdParser) fenced(base int) {
	open := stripCols(p.lines[p.i], base)
	c, n, ind, _ := fenceOpen(open)
	p.i++
	var out []string
	for p.i < len(p.lines) {
		line := stripCols(p.lines[p.i], base)
		p.i++
		if isFenceClose(line, c, n) {
			break
		}
		out = append(out, stripCols(line, ind))
	}
	p.b.add(KindCode, 0, strings.Join(dedent(out), "\n"))
}

// quote reads a block quote, lazy continuation lines included. Its content
// is flattened: paragraphs, headings and list items each become a line.
func (p *mdParser) quote() {
	var lines []string
	var para []string
	flush := func() {
		if len(para) > 0 {
			if t := p.inline(strings.Join(para, "\n")); t != "" {
				lines = append(lines, t)
			}
			para = para[:0]
		}
	}
	inCode := false
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		if isBlank(line) {
			break
		}
		rest := strings.TrimLeft(line, " \t")
		if rest[0] != '>' {
			if inCode || interrupts(line) {
				break
			}
			para = append(para, line) // lazy continuation
			p.i++
			continue
		}
		p.i++
		for len(rest) > 0 && rest[0] == '>' {
			rest = strings.TrimPrefix(rest[1:], " ")
			rest = strings.TrimLeft(rest, " \t")
		}
		if _, _, _, ok := fenceOpen(rest); ok {
			flush()
			inCode = !inCode
			continue
		}
		switch {
		case inCode:
			// A quote's lines hold no blank line, which would end a block.
			if !isBlank(rest) {
				lines = append(lines, rest)
			}
		case isBlank(rest):
			flush()
		case isThematicBreak(rest):
			flush()
		default:
			if _, text, ok := atxHeading(rest); ok {
				flush()
				para = append(para, text)
				flush()
			} else if m, ok := listMarker(rest); ok {
				flush()
				para = append(para, m.prefix(0)+m.text)
			} else {
				para = append(para, rest)
			}
		}
	}
	flush()
	p.b.add(KindQuote, 0, strings.Join(lines, "\n"))
}

// listLine is one line of a list block being built.
type listLine struct {
	prefix string // indentation and marker, kept out of inline rendering
	raw    []string
}

// list reads a list, nested lists included, as one block; a fenced code
// block inside an item splits it into list, code and list blocks.
func (p *mdParser) list() {
	type item struct{ contentCol int }
	var stack []item
	var out []listLine
	flush := func() {
		var sb strings.Builder
		for _, l := range out {
			t := p.inline(strings.Join(l.raw, "\n"))
			if t == "" {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(l.prefix)
			sb.WriteString(t)
		}
		p.b.add(KindList, 0, sb.String())
		out = out[:0]
	}
	blankBefore := false
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		if isBlank(line) {
			blankBefore = true
			p.i++
			continue
		}
		ind, _ := indentOf(line)
		if len(stack) > 0 && ind < stack[0].contentCol && !blankBefore && isThematicBreak(line) {
			break
		}
		if m, ok := listMarker(line); ok && !isThematicBreak(line) && (len(stack) > 0 || ind < 4) {
			if len(stack) > 0 && ind >= stack[len(stack)-1].contentCol+4 {
				// Too deep to be an item: text of the current one.
				if len(out) == 0 {
					out = append(out, listLine{prefix: strings.Repeat("  ", len(stack))})
				}
				out[len(out)-1].raw = append(out[len(out)-1].raw, strings.TrimSpace(line))
				blankBefore = false
				p.i++
				continue
			}
			for len(stack) > 0 && m.indent < stack[len(stack)-1].contentCol {
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 && m.indent >= 4 {
				break
			}
			depth := len(stack)
			stack = append(stack, item{contentCol: m.contentCol})
			out = append(out, listLine{prefix: m.prefix(depth), raw: []string{m.text}})
			blankBefore = false
			p.i++
			continue
		}
		if len(stack) == 0 {
			break
		}
		if blankBefore || interrupts(line) {
			if ind < stack[0].contentCol {
				break // the list has ended
			}
			for len(stack) > 1 && ind < stack[len(stack)-1].contentCol {
				stack = stack[:len(stack)-1]
			}
		}
		base := min(ind, stack[len(stack)-1].contentCol)
		if _, _, _, ok := fenceOpen(stripCols(line, base)); ok {
			flush()
			p.fenced(base)
			blankBefore = false
			continue
		}
		text := strings.TrimSpace(line)
		if _, t, ok := atxHeading(text); ok {
			text = t
		}
		if blankBefore {
			// A further paragraph of the innermost open item.
			out = append(out, listLine{prefix: strings.Repeat("  ", len(stack)), raw: []string{text}})
		} else if len(out) > 0 {
			out[len(out)-1].raw = append(out[len(out)-1].raw, text)
		} else {
			out = append(out, listLine{prefix: strings.Repeat("  ", len(stack)), raw: []string{text}})
		}
		blankBefore = false
		p.i++
	}
	if len(out) > 0 {
		flush()
	}
}

// htmlComment skips an HTML comment that starts a line, up to "-->".
func (p *mdParser) htmlComment() {
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		p.i++
		if strings.Contains(line, "-->") {
			return
		}
	}
}

// tableStart reports whether line k is the header row of a pipe table: it
// has a "|" and the next line is a delimiter row with as many cells.
func (p *mdParser) tableStart(k int) bool {
	if k+1 >= len(p.lines) || !strings.Contains(p.lines[k], "|") {
		return false
	}
	if ind, _ := indentOf(p.lines[k]); ind >= 4 {
		return false
	}
	delims := tableCells(p.lines[k+1])
	if len(delims) == 0 || len(delims) != len(tableCells(p.lines[k])) {
		return false
	}
	for _, c := range delims {
		c = strings.TrimSpace(c)
		c = strings.TrimPrefix(c, ":")
		c = strings.TrimSuffix(c, ":")
		if c == "" || strings.Trim(c, "-") != "" {
			return false
		}
	}
	return true
}

// table reads a pipe table: the header row, the delimiter row (dropped) and
// the body rows up to a blank line or a line without "|".
func (p *mdParser) table() {
	var rows []string
	add := func(line string) {
		cells := tableCells(line)
		for k, c := range cells {
			cells[k] = p.inline(c)
		}
		if strings.Join(cells, "") != "" {
			rows = append(rows, strings.Join(cells, " | "))
		}
	}
	add(p.lines[p.i])
	p.i += 2
	for p.i < len(p.lines) {
		line := p.lines[p.i]
		if isBlank(line) || !strings.Contains(line, "|") || interrupts(line) {
			break
		}
		add(line)
		p.i++
	}
	p.b.add(KindTable, 0, strings.Join(rows, "\n"))
}

// tableCells splits a table row on unescaped pipes, outer pipes removed.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, "\\|") {
		line = line[:len(line)-1]
	}
	if strings.TrimSpace(line) == "" {
		return nil
	}
	var cells []string
	start := 0
	for k := 0; k < len(line); k++ {
		switch line[k] {
		case '\\':
			k++
		case '|':
			cells = append(cells, line[start:k])
			start = k + 1
		}
	}
	cells = append(cells, line[start:])
	for k, c := range cells {
		cells[k] = strings.ReplaceAll(c, "\\|", "|")
	}
	return cells
}

// indentOf returns a line's indentation in columns (tabs stop every four)
// and in bytes.
func indentOf(line string) (cols, bytes int) {
	for bytes < len(line) {
		switch line[bytes] {
		case ' ':
			cols++
		case '\t':
			cols += 4 - cols%4
		default:
			return cols, bytes
		}
		bytes++
	}
	return cols, bytes
}

// stripCols removes up to n columns of indentation from line.
func stripCols(line string, n int) string {
	cols := 0
	for k := 0; k < len(line); k++ {
		if cols >= n {
			return line[k:]
		}
		switch line[k] {
		case ' ':
			cols++
		case '\t':
			cols += 4 - cols%4
			if cols > n {
				return strings.Repeat(" ", cols-n) + line[k+1:]
			}
		default:
			return line[k:]
		}
	}
	return ""
}

// atxHeading parses "# text #": one to six '#', then a space or the end.
func atxHeading(line string) (level int, text string, ok bool) {
	if ind, _ := indentOf(line); ind >= 4 {
		return 0, "", false
	}
	rest := strings.TrimLeft(line, " \t")
	for level < len(rest) && rest[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || (level < len(rest) && rest[level] != ' ' && rest[level] != '\t') {
		return 0, "", false
	}
	text = strings.TrimSpace(rest[level:])
	// A closing sequence of '#' goes when a space precedes it.
	if t := strings.TrimRight(text, "#"); t == "" || t[len(t)-1] == ' ' || t[len(t)-1] == '\t' {
		text = strings.TrimSpace(t)
	}
	return level, text, true
}

// setextUnderline parses a line of '=' (level 1) or '-' (level 2).
func setextUnderline(line string) (level int, ok bool) {
	if ind, _ := indentOf(line); ind >= 4 {
		return 0, false
	}
	t := strings.TrimSpace(line)
	switch {
	case t == "":
		return 0, false
	case strings.Trim(t, "=") == "":
		return 1, true
	case strings.Trim(t, "-") == "":
		return 2, true
	}
	return 0, false
}

// isThematicBreak reports a line of three or more '-', '*' or '_', spaces
// between allowed.
func isThematicBreak(line string) bool {
	if ind, _ := indentOf(line); ind >= 4 {
		return false
	}
	var c byte
	n := 0
	for k := 0; k < len(line); k++ {
		switch b := line[k]; b {
		case ' ', '\t':
		case '-', '*', '_':
			if c != 0 && b != c {
				return false
			}
			c = b
			n++
		default:
			return false
		}
	}
	return n >= 3
}

// fenceOpen parses a code fence: three or more '`' or '~' after at most
// three columns of indentation; a backtick fence's info has no backtick.
func fenceOpen(line string) (c byte, n, indent int, ok bool) {
	ind, b := indentOf(line)
	if ind >= 4 || b >= len(line) {
		return 0, 0, 0, false
	}
	c = line[b]
	if c != '`' && c != '~' {
		return 0, 0, 0, false
	}
	for b+n < len(line) && line[b+n] == c {
		n++
	}
	if n < 3 || (c == '`' && strings.IndexByte(line[b+n:], '`') >= 0) {
		return 0, 0, 0, false
	}
	return c, n, ind, true
}

// isFenceClose reports whether line closes a fence of n characters c.
func isFenceClose(line string, c byte, n int) bool {
	ind, b := indentOf(line)
	if ind >= 4 {
		return false
	}
	t := strings.TrimRight(line[b:], " \t")
	return len(t) >= n && strings.Trim(t, string(c)) == ""
}

// mdMarker is a list item's marker.
type mdMarker struct {
	indent     int    // columns before the marker
	contentCol int    // column where the item's content starts
	ordered    bool   // "1." rather than "-"
	num        string // an ordered item's number
	text       string // the rest of the line
}

// prefix is the marker as written in the extracted text at a nesting depth.
func (m mdMarker) prefix(depth int) string {
	ind := strings.Repeat("  ", depth)
	if m.ordered {
		return ind + m.num + ". "
	}
	return ind + "- "
}

// listMarker parses a bullet ("-", "+", "*") or ordered ("1." or "1)")
// list marker followed by a space or the end of the line.
func listMarker(line string) (mdMarker, bool) {
	ind, b := indentOf(line)
	rest := line[b:]
	m := mdMarker{indent: ind}
	n := 0
	switch {
	case rest == "":
		return m, false
	case rest[0] == '-' || rest[0] == '+' || rest[0] == '*':
		n = 1
	default:
		for n < len(rest) && n < 9 && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n >= len(rest) || (rest[n] != '.' && rest[n] != ')') {
			return m, false
		}
		m.ordered = true
		m.num = strings.TrimLeft(rest[:n], "0")
		if m.num == "" {
			m.num = "0"
		}
		n++
	}
	if n < len(rest) && rest[n] != ' ' && rest[n] != '\t' {
		return m, false
	}
	after := rest[n:]
	spaces, _ := indentOf(after)
	if spaces > 4 || strings.TrimSpace(after) == "" {
		spaces = 1
	}
	m.contentCol = ind + n + spaces
	m.text = strings.TrimSpace(after)
	return m, true
}

// refDef parses a link reference definition "[label]: destination" or a
// footnote definition "[^label]: text", returning the label and the rest.
func refDef(line string) (label, after string, ok bool) {
	if ind, _ := indentOf(line); ind >= 4 {
		return "", "", false
	}
	rest := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(rest, "[") {
		return "", "", false
	}
	end := strings.Index(rest, "]:")
	if end < 2 || strings.ContainsAny(rest[1:end], "[]") {
		return "", "", false
	}
	after = strings.TrimSpace(rest[end+2:])
	if after == "" {
		return "", "", false
	}
	return rest[1:end], after, true
}
