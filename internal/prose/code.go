package prose

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsCode reports whether s, a sentence or a block of lines, reads as code,
// data or markup rather than prose: something an answer must not quote as
// a sentence and a question must not be made of. It holds for
//
//   - a JSON document or a piece of one: text that opens with '{', or with
//     '[' before a value, or holds `"key":` pairs;
//   - markup: text that opens with a tag ("<div", "</p>", "<!--");
//   - a command line: a lowercase command followed by flags, paths, pipes
//     or redirections ("curl -s localhost:8080 -H ...", "$ go test ./...");
//   - a URL or a path alone;
//   - a line of code: one that opens or closes a bracket, ends with ';',
//     or assigns or compares ("x := 1", "a == b") without ending like a
//     sentence;
//   - text whose characters are a tenth or more brackets, braces, pipes,
//     angle brackets, '=', ';', '$', '&', '\' and backquotes;
//   - a block of several lines, half or more of which are lines of code,
//     key: value pairs ("event: token", "Content-Type: text/plain") or
//     elisions ("...").
//
// Prose that mentions code keeps reading as prose: "Run go test ./... before
// you commit." opens with a capital, and an inline flag or path among words
// is not a command line. Tables are not code.
func IsCode(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	if strings.IndexByte(s, '\n') >= 0 {
		lines, coded := 0, 0
		for ln := range strings.SplitSeq(s, "\n") {
			ln = strings.TrimSpace(ln)
			if ln == "" {
				continue
			}
			lines++
			if codeLine(ln) {
				coded++
			}
		}
		if lines > 1 && 2*coded >= lines {
			return true
		}
		s = strings.Join(strings.Fields(s), " ")
	}
	return codeText(s)
}

// codeText reports whether one line of text, trimmed, reads as code.
func codeText(s string) bool {
	first, size := utf8.DecodeRuneInString(s)
	rest := strings.TrimLeftFunc(s[size:], unicode.IsSpace)
	second, _ := utf8.DecodeRuneInString(rest)
	switch first {
	case '{':
		return true
	case '[':
		if strings.ContainsRune(`{["']`, second) || unicode.IsDigit(second) && !citationStart(s) {
			return true
		}
	case '<':
		if next, _ := utf8.DecodeRuneInString(s[size:]); unicode.IsLetter(next) || strings.ContainsRune("/!?", next) {
			return true
		}
	case '}', ']':
		return true
	case '$':
		if strings.HasPrefix(s, "$ ") {
			return true
		}
	}
	if jsonKeys(s) >= 2 || first == '"' && jsonKeys(s) >= 1 {
		return true
	}
	if commandLine(s) || locationAlone(s) {
		return true
	}
	if statement(s) {
		return true
	}
	return symbolDense(s)
}

// citationStart reports whether s opens with a citation such as "[1] ".
func citationStart(s string) bool {
	i := 1
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i > 1 && i < len(s) && s[i] == ']' && (i+1 == len(s) || s[i+1] == ' ')
}

// jsonKeys counts the `"key":` pairs of s.
func jsonKeys(s string) int {
	n := 0
	for i := 0; i < len(s); {
		q := strings.IndexByte(s[i:], '"')
		if q < 0 {
			break
		}
		q += i
		e := strings.IndexByte(s[q+1:], '"')
		if e < 0 {
			break
		}
		e += q + 1
		key := s[q+1 : e]
		after := strings.TrimLeft(s[e+1:], " \t")
		if key != "" && len(key) <= 64 && !strings.ContainsAny(key, " \t") && strings.HasPrefix(after, ":") {
			n++
			i = e + 1
			continue
		}
		i = e
	}
	return n
}

// commandLine reports whether s is a command: a lowercase command name
// (letters, digits, '.', '_', '-', '/') followed by at least two flags,
// paths or shell operators, or by one operator that only a shell uses
// ("&&", "||", "|", "2>&1", a '\' that continues the line). The '|'
// between the cells of a table row is no pipe.
func commandLine(s string) bool {
	fields := strings.Fields(s)
	if len(fields) < 2 || !commandName(fields[0]) {
		return false
	}
	// A row of a table has cells between pipes, which are no pipeline.
	table := strings.Count(s, " | ") >= 2 || strings.Contains(s, "| |") || strings.HasSuffix(s, "|")
	marks := 0
	for _, f := range fields[1:] {
		switch {
		case f == "|" && !table:
			marks += 2
		case f == "&&" || f == "||" || f == "\\" || f == "2>&1" || f == ">" || f == ">>" || strings.HasPrefix(f, "$("):
			marks += 2
		case len(f) > 1 && f[0] == '-' && (unicode.IsLetter(rune(f[1])) || f[1] == '-' && len(f) > 2):
			marks++ // a flag: -s, --tenant
		case strings.HasPrefix(f, "./") || strings.HasPrefix(f, "../") || strings.HasPrefix(f, "~/") ||
			strings.HasPrefix(f, "/") && strings.Count(f, "/") >= 2:
			marks++ // a path
		}
	}
	return marks >= 2
}

// commandName reports whether w can name a command: lowercase ASCII
// letters first, then letters, digits, '.', '_', '-' or '/'.
func commandName(w string) bool {
	if w == "$" || w == "sudo" {
		return true
	}
	if w == "" || w[0] < 'a' || w[0] > 'z' {
		return false
	}
	for i := 1; i < len(w); i++ {
		c := w[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return false
		}
	}
	return true
}

// locationAlone reports whether s is a URL or a file path and nothing
// else.
func locationAlone(s string) bool {
	if strings.ContainsAny(s, " \t") {
		return false
	}
	return strings.Contains(s, "://") || strings.HasPrefix(s, "www.") ||
		strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~/") ||
		strings.HasPrefix(s, "/") && len(s) > 1
}

// statement reports whether s reads as a statement of code: it ends with
// ';' or an opening bracket, or assigns or compares without ending like a
// sentence.
func statement(s string) bool {
	last, _ := utf8.DecodeLastRuneInString(s)
	switch last {
	case ';', '{', '(', '[':
		return true
	}
	if endsSentence(s) {
		return false
	}
	for _, op := range []string{" = ", " := ", " == ", " != ", " => ", " += ", " -= "} {
		if strings.Contains(s, op) {
			return true
		}
	}
	return false
}

// symbolDense reports whether a tenth or more of the characters of s that
// are not spaces are symbols that prose seldom uses.
func symbolDense(s string) bool {
	symbols, chars := 0, 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			continue
		}
		chars++
		if strings.ContainsRune("{}[]<>=;|$&\\`", r) {
			symbols++
		}
	}
	return symbols >= 3 && 10*symbols >= chars
}

// codeLine reports whether one line of a block reads as code, or as the
// key: value pairs and elisions that sit among lines of code.
func codeLine(ln string) bool {
	if codeText(ln) || ln == "..." || ln == "…" || strings.HasPrefix(ln, "//") || strings.HasPrefix(ln, "#!") {
		return true
	}
	last, _ := utf8.DecodeLastRuneInString(ln)
	if last == '\\' || last == ')' && strings.Contains(ln, "(") && !endsSentence(ln) && !strings.Contains(ln, " ") {
		return true
	}
	// key: value, the key one word, the value one word.
	key, value, ok := strings.Cut(ln, ": ")
	if !ok || key == "" || strings.ContainsAny(key, " \t") || strings.ContainsAny(strings.TrimSpace(value), " \t") {
		return false
	}
	for _, r := range key {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return !endsSentence(value)
}
