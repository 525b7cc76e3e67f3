package search

import (
	"strconv"
	"strings"
)

// maxMarker bounds the text held back after an unclosed "[": "[" and up
// to four digits and "]". A closed marker of any length is checked.
const maxMarker = 6

// citeFilter passes an answer through as it streams, dropping the [n]
// markers that name no source, so that every [n] a client sees maps to an
// entry of sources. Text after an unclosed "[" is held back until the
// marker closes or proves not to be one.
type citeFilter struct {
	sources int
	held    string
	cited   map[int]bool
	dropped []int
}

func newCiteFilter(sources int) *citeFilter {
	return &citeFilter{sources: sources, cited: map[int]bool{}}
}

// Write takes the next piece of the answer and returns what can be sent.
func (f *citeFilter) Write(s string) string {
	s = f.held + s
	f.held = ""
	var out strings.Builder
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			out.WriteString(s)
			return out.String()
		}
		out.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, ']')
		if j < 0 {
			if len(s) < maxMarker && digitsOnly(s[1:]) {
				f.held = s // may still become a marker
				return out.String()
			}
			out.WriteByte('[')
			s = s[1:]
			continue
		}
		inner := s[1:j]
		if len(inner) == 0 || !digitsOnly(inner) {
			out.WriteByte('[')
			s = s[1:]
			continue
		}
		n, err := strconv.Atoi(inner)
		if err != nil {
			n = 0 // too large for an int: it names no source
		}
		if n >= 1 && n <= f.sources {
			f.cited[n] = true
			out.WriteString(s[:j+1])
		} else {
			f.dropped = append(f.dropped, n)
		}
		s = s[j+1:]
	}
}

// Flush returns what is still held back, at the end of the answer.
func (f *citeFilter) Flush() string {
	s := f.held
	f.held = ""
	return s
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
