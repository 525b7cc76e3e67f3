package extract

import (
	"html"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// render renders Markdown inline content as plain text: emphasis and
// strike-through markers, link and image syntax, code-span backticks, HTML
// tags and backslash escapes go, entities are decoded and white space
// (line breaks included) collapses to single spaces. Links keep their text,
// images vanish, code spans keep their content verbatim. refs holds the
// normalised labels of the document's link reference definitions, so that
// "[text]" alone loses its brackets when it is a link.
//
// Bracket and parenthesis pairs are matched once up front with a stack, and
// code spans through per-length queues of backtick runs, so the work stays
// linear in len(s) on any input. It reuses p's buffers from earlier calls.
func (p *inlineParser) render(s string, refs map[string]bool) string {
	if s == "" {
		return ""
	}
	p.src, p.refs = s, refs
	p.out, p.delims, p.frames = p.out[:0], p.delims[:0], p.frames[:0]
	p.closeOf = p.closeOf[:0]
	clear(p.runs)
	clear(p.runNext)
	p.match()
	p.scan()
	return collapse(p.finish())
}

type delim struct {
	pos      int  // offset of the run in out
	n        int  // length of the run
	c        byte // '*', '_' or '~'
	canOpen  bool // may open emphasis
	canClose bool // may close emphasis
	removed  bool // matched, so dropped from the output
}

// frame is a link or image whose text is being emitted: at close (its "]"),
// the scan resumes at resume, past the destination or reference.
type frame struct{ close, resume int }

type inlineParser struct {
	src    string
	refs   map[string]bool
	out    []byte
	delims []delim
	frames []frame

	closeOf []int32 // for "[" and "(": one past the offset of the matching "]" or ")", or 0
	runs    map[int][]int
	runNext map[int]int
}

// match pairs brackets and parentheses, skipping backslash escapes, and
// indexes backtick runs by length.
func (p *inlineParser) match() {
	s := p.src
	var brackets, parens []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			p.setClose(i, -1)
			brackets = append(brackets, i)
		case ']':
			if n := len(brackets); n > 0 {
				p.setClose(brackets[n-1], i)
				brackets = brackets[:n-1]
			}
		case '(':
			p.setClose(i, -1)
			parens = append(parens, i)
		case ')':
			if n := len(parens); n > 0 {
				p.setClose(parens[n-1], i)
				parens = parens[:n-1]
			}
		case '`':
			j := i
			for j < len(s) && s[j] == '`' {
				j++
			}
			if p.runs == nil {
				p.runs = map[int][]int{}
				p.runNext = map[int]int{}
			}
			p.runs[j-i] = append(p.runs[j-i], i)
			p.runNext[j-i] = 0
			i = j - 1
		}
	}
}

func (p *inlineParser) setClose(i, j int) {
	if len(p.closeOf) == 0 {
		p.closeOf = slices.Grow(p.closeOf, len(p.src))[:len(p.src)]
		clear(p.closeOf)
	}
	p.closeOf[i] = int32(j + 1)
}

// closing returns the offset matched to the "[" or "(" at i, or -1.
func (p *inlineParser) closing(i int) int {
	if i < 0 || i >= len(p.closeOf) {
		return -1
	}
	return int(p.closeOf[i]) - 1
}

// codeSpanEnd returns the offset of the backtick run of length n that
// closes a code span opened at i, or -1.
func (p *inlineParser) codeSpanEnd(i, n int) int {
	list := p.runs[n]
	k := p.runNext[n]
	for k < len(list) && list[k] <= i {
		k++
	}
	p.runNext[n] = k
	if k < len(list) {
		return list[k]
	}
	return -1
}

func (p *inlineParser) scan() {
	s := p.src
	p.out = slices.Grow(p.out, len(s))
	for i := 0; i < len(s); {
		// Leave a link's text: jump over its destination or reference.
		if n := len(p.frames); n > 0 && i >= p.frames[n-1].close {
			if f := p.frames[n-1]; i < f.resume {
				i = f.resume
			}
			p.frames = p.frames[:n-1]
			continue
		}
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) && isASCIIPunct(s[i+1]) {
				p.out = append(p.out, s[i+1])
				i += 2
			} else if i+1 < len(s) && s[i+1] == '\n' {
				p.out = append(p.out, '\n') // hard line break
				i += 2
			} else {
				p.out = append(p.out, c)
				i++
			}
		case '`':
			j := i
			for j < len(s) && s[j] == '`' {
				j++
			}
			n := j - i
			end := p.codeSpanEnd(i, n)
			if end < 0 || p.crossesFrame(end) {
				p.out = append(p.out, s[i:j]...)
				i = j
				continue
			}
			code := s[j:end]
			if len(code) >= 2 && code[0] == ' ' && code[len(code)-1] == ' ' && strings.Trim(code, " ") != "" {
				code = code[1 : len(code)-1]
			}
			p.out = append(p.out, code...)
			i = end + n
		case '!':
			if i+1 < len(s) && s[i+1] == '[' {
				if next, ok := p.link(i+1, true); ok {
					i = next
					continue
				}
			}
			p.out = append(p.out, c)
			i++
		case '[':
			if next, ok := p.link(i, false); ok {
				i = next
				continue
			}
			p.out = append(p.out, c)
			i++
		case '<':
			i = p.angle(i)
		case '&':
			i = p.entity(i)
		case '*', '_', '~':
			j := i
			for j < len(s) && s[j] == c {
				j++
			}
			p.addDelim(i, j)
			i = j
		default:
			p.out = append(p.out, c)
			i++
		}
	}
}

// crossesFrame reports whether offset end lies past the close of the
// innermost open link, whose text a code span must not leave.
func (p *inlineParser) crossesFrame(end int) bool {
	n := len(p.frames)
	return n > 0 && end > p.frames[n-1].close
}

// link handles "[" at i: an inline link or image "[text](dest)", a full or
// collapsed reference "[text][ref]", a shortcut reference "[text]" whose
// label is defined, and a footnote reference "[^note]", which is dropped. It
// returns where to continue and whether i started such a construct. A link
// emits its text; an image emits nothing.
func (p *inlineParser) link(i int, image bool) (int, bool) {
	s := p.src
	j := p.closing(i)
	if j < 0 || p.crossesFrame(j) {
		return 0, false
	}
	resume := -1
	switch {
	case j+1 < len(s) && s[j+1] == '(':
		if k := p.closing(j + 1); k > 0 {
			resume = k + 1
		}
	case j+1 < len(s) && s[j+1] == '[':
		if k := p.closing(j + 1); k > 0 && !strings.ContainsAny(s[j+2:k], "[]") {
			resume = k + 1
		}
	case !image && j > i+1 && s[i+1] == '^':
		return j + 1, true // footnote reference
	case len(p.refs) > 0 && p.refs[normLabel(s[i+1:j])]:
		resume = j + 1
	}
	if resume < 0 || p.crossesFrame(resume-1) {
		return 0, false
	}
	if image {
		return resume, true
	}
	p.frames = append(p.frames, frame{close: j, resume: resume})
	return i + 1, true
}

// angle handles "<" at i: an autolink keeps its address, an HTML tag or
// comment is dropped, anything else stays.
func (p *inlineParser) angle(i int) int {
	s := p.src
	// The scan stops at the next "<", so scans never overlap.
	j := i + 1
	for j < len(s) && s[j] != '>' && s[j] != '<' {
		j++
	}
	if j >= len(s) || s[j] != '>' || j == i+1 {
		p.out = append(p.out, '<')
		return i + 1
	}
	inner := s[i+1 : j]
	switch {
	case isAutolink(inner):
		p.out = append(p.out, strings.TrimPrefix(inner, "mailto:")...)
	case isTag(inner):
		if breaksText(inner) {
			p.out = append(p.out, ' ')
		}
	default:
		p.out = append(p.out, '<')
		return i + 1
	}
	return j + 1
}

func isAutolink(s string) bool {
	if strings.ContainsAny(s, " \t\n") {
		return false
	}
	if k := strings.IndexByte(s, ':'); k >= 2 && k <= 32 {
		for _, r := range s[:k] {
			if !(r < utf8.RuneSelf && (isASCIIAlnum(byte(r)) || r == '+' || r == '.' || r == '-')) {
				return false
			}
		}
		return true
	}
	at := strings.IndexByte(s, '@')
	return at > 0 && strings.IndexByte(s[at:], '.') > 0
}

func isTag(s string) bool {
	if strings.HasPrefix(s, "!--") || strings.HasPrefix(s, "!") || strings.HasPrefix(s, "?") {
		return true
	}
	s = strings.TrimPrefix(s, "/")
	if s == "" || !isASCIILetter(s[0]) {
		return false
	}
	k := 1
	for k < len(s) && (isASCIIAlnum(s[k]) || s[k] == '-') {
		k++
	}
	return k == len(s) || s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '/'
}

// breaksText reports whether the tag inside "<...>" separates words, as a
// line break or a block element does; inline elements such as <b> do not.
func breaksText(tag string) bool {
	tag = strings.TrimPrefix(tag, "/")
	k := 0
	for k < len(tag) && isASCIIAlnum(tag[k]) {
		k++
	}
	switch strings.ToLower(tag[:k]) {
	case "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "i", "ins",
		"kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var":
		return false
	}
	return true
}

// entity decodes an HTML character reference at i.
func (p *inlineParser) entity(i int) int {
	s := p.src
	j := i + 1
	for j < len(s) && j-i < 40 && (isASCIIAlnum(s[j]) || s[j] == '#') {
		j++
	}
	if j < len(s) && s[j] == ';' && j > i+1 {
		ref := s[i : j+1]
		if dec := html.UnescapeString(ref); dec != ref {
			p.out = append(p.out, dec...)
			return j + 1
		}
	}
	p.out = append(p.out, '&')
	return i + 1
}

// addDelim records a run of '*', '_' or '~' at s[i:j] and emits it; the
// runs that pair up are removed in finish.
func (p *inlineParser) addDelim(i, j int) {
	s := p.src
	c := s[i]
	before, after := ' ', ' '
	if i > 0 {
		before, _ = utf8.DecodeLastRuneInString(s[:i])
	}
	if j < len(s) {
		after, _ = utf8.DecodeRuneInString(s[j:])
	}
	wsBefore, wsAfter := unicode.IsSpace(before), unicode.IsSpace(after)
	punctBefore, punctAfter := isPunct(before), isPunct(after)
	left := !wsAfter && (!punctAfter || wsBefore || punctBefore)
	right := !wsBefore && (!punctBefore || wsAfter || punctAfter)
	d := delim{pos: len(p.out), n: j - i, c: c, canOpen: left, canClose: right}
	switch c {
	case '_':
		d.canOpen = left && (!right || punctBefore)
		d.canClose = right && (!left || punctAfter)
	case '~':
		if j-i > 2 {
			d.canOpen, d.canClose = false, false
		}
	}
	p.out = append(p.out, s[i:j]...)
	p.delims = append(p.delims, d)
}

// finish pairs emphasis delimiters, each closer with the nearest open opener
// of its character, and returns the output without the paired runs.
func (p *inlineParser) finish() string {
	if len(p.delims) == 0 {
		return string(p.out)
	}
	var openers [3][]int // for '*', '_' and '~'
	for k := range p.delims {
		d := &p.delims[k]
		c := strings.IndexByte("*_~", d.c)
		if st := openers[c]; d.canClose && len(st) > 0 {
			o := st[len(st)-1]
			openers[c] = st[:len(st)-1]
			p.delims[o].removed = true
			d.removed = true
			continue
		}
		if d.canOpen {
			openers[c] = append(openers[c], k)
		}
	}
	var sb strings.Builder
	sb.Grow(len(p.out))
	at := 0
	for _, d := range p.delims {
		if !d.removed {
			continue
		}
		sb.Write(p.out[at:d.pos])
		at = d.pos + d.n
	}
	sb.Write(p.out[at:])
	return sb.String()
}

// collapse turns every run of white space into one space and trims the ends.
func collapse(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if r == '\u200b' || r == '\u00ad' || r == '\ufeff' {
			continue
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		space = false
		sb.WriteRune(r)
	}
	return sb.String()
}

// normLabel normalises a link label for matching: case folded, white space
// collapsed.
func normLabel(s string) string {
	if len(s) > 999 {
		return ""
	}
	return strings.ToLower(collapse(s))
}

func isASCIIPunct(c byte) bool {
	return c > ' ' && c < 0x7f && !isASCIIAlnum(c)
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isASCIIAlnum(c byte) bool { return isASCIILetter(c) || c >= '0' && c <= '9' }

func isPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIPunct(byte(r))
	}
	return unicode.IsPunct(r) || unicode.IsSymbol(r)
}
