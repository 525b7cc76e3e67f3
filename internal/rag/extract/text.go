package extract

import "strings"

// Text extracts plain text: a paragraph is a run of lines between blank
// lines. A paragraph keeps its line breaks; each line loses its trailing white
// space and the paragraph its common indentation. Plain text has no title.
func Text(src string) Document { return text(src, 0) }

// text is Text keeping at most max blocks (0: all).
func text(src string, max int) Document {
	b := builder{max: max}
	lines := strings.Split(normalize(src), "\n")
	var para []string
	flush := func() {
		if len(para) > 0 {
			b.add(KindParagraph, 0, strings.Join(dedent(para), "\n"))
			para = para[:0]
		}
	}
	for _, l := range lines {
		if b.full() {
			break
		}
		if isBlank(l) {
			flush()
			continue
		}
		para = append(para, l)
	}
	flush()
	return b.document()
}

// isBlank reports whether line holds only white space.
func isBlank(line string) bool {
	return strings.TrimSpace(line) == ""
}

// dedent removes the indentation that all non-blank lines share; a tab
// counts as one column here, so mixed indentation is left as it is.
func dedent(lines []string) []string {
	common := -1
	for _, l := range lines {
		if isBlank(l) {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	if common <= 0 {
		return lines
	}
	prefix := ""
	for _, l := range lines {
		if !isBlank(l) {
			prefix = l[:common]
			break
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimPrefix(l, prefix)
		if isBlank(l) {
			out[i] = ""
		}
	}
	return out
}
