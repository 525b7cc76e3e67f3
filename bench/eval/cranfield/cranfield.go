// Package cranfield reads the Cranfield test collection (1,400 aeronautics
// abstracts, 225 queries, graded relevance judgments) and scores ranked
// lists against its judgments with nDCG, average precision and recall.
//
// The files are those of the classic distribution: cran.all.1400 (records
// ".I id" with fields .T title, .A authors, .B bibliography, .W text),
// cran.qry (".I id" then .W text) and cranqrel ("query doc code" lines).
// The judgments number the queries 1..225 in the order of cran.qry, not by
// its .I numbers; Query.Num is that number.
package cranfield

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Doc is one document of cran.all.1400.
type Doc struct {
	ID      string // the .I number
	Title   string // .T, on one line
	Authors string // .A, on one line
	Biblio  string // .B, on one line
	Text    string // .W as it is, lines kept; it starts with the title again
}

// Query is one query of cran.qry.
type Query struct {
	Num  int    // 1-based position in the file: the judgments' number
	ID   string // the .I number, which the judgments do not use
	Text string // .W, on one line
}

// Qrels are the judgments: query number -> document ID -> code.
type Qrels map[int]map[string]int

// Collection is the whole test collection.
type Collection struct {
	Docs    []Doc
	Queries []Query
	Qrels   Qrels
}

// Files of the collection inside its folder.
const (
	DocsFile    = "cran.all.1400"
	QueriesFile = "cran.qry"
	QrelsFile   = "cranqrel"
)

// Load reads the collection from dir.
func Load(dir string) (*Collection, error) {
	var c Collection
	steps := []struct {
		name  string
		parse func(io.Reader) error
	}{
		{DocsFile, func(r io.Reader) (err error) { c.Docs, err = ParseDocs(r); return err }},
		{QueriesFile, func(r io.Reader) (err error) { c.Queries, err = ParseQueries(r); return err }},
		{QrelsFile, func(r io.Reader) (err error) { c.Qrels, err = ParseQrels(r); return err }},
	}
	for _, s := range steps {
		f, err := os.Open(filepath.Join(dir, s.name))
		if err != nil {
			return nil, err
		}
		err = s.parse(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return &c, nil
}

// record is one ".I" record: its ID and its fields by letter.
type record struct {
	id     string
	fields map[byte][]string
}

// parseRecords splits SMART-format text into records. Lines may end in
// CRLF. A line that starts with "." and a field letter opens that field;
// the lines up to the next one are its content.
func parseRecords(r io.Reader) ([]record, error) {
	var (
		out   []record
		field byte
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if id, ok := strings.CutPrefix(line, ".I"); ok && (id == "" || id[0] == ' ') {
			id = strings.TrimSpace(id)
			if id == "" {
				return nil, fmt.Errorf("line %d: .I without an id", n)
			}
			out = append(out, record{id: id, fields: map[byte][]string{}})
			field = 0
			continue
		}
		if len(line) == 2 && line[0] == '.' && strings.IndexByte("TABW", line[1]) >= 0 {
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d: field %s before the first .I", n, line)
			}
			field = line[1]
			out[len(out)-1].fields[field] = []string{} // present, maybe empty
			continue
		}
		if field == 0 {
			if strings.TrimSpace(line) == "" {
				continue
			}
			return nil, fmt.Errorf("line %d: text outside a field", n)
		}
		rec := &out[len(out)-1]
		rec.fields[field] = append(rec.fields[field], line)
	}
	return out, sc.Err()
}

// oneLine joins lines with single spaces.
func oneLine(lines []string) string {
	return strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
}

// text joins lines with newlines and trims the ends.
func text(lines []string) string {
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// ParseDocs reads cran.all.1400. Documents with no text (two in the
// collection, 471 and 995) are kept with an empty Text.
func ParseDocs(r io.Reader) ([]Doc, error) {
	recs, err := parseRecords(r)
	if err != nil {
		return nil, err
	}
	docs := make([]Doc, len(recs))
	for i, rec := range recs {
		docs[i] = Doc{
			ID: rec.id, Title: oneLine(rec.fields['T']), Authors: oneLine(rec.fields['A']),
			Biblio: oneLine(rec.fields['B']), Text: text(rec.fields['W']),
		}
	}
	return docs, nil
}

// ParseQueries reads cran.qry and numbers the queries from 1 in file order.
func ParseQueries(r io.Reader) ([]Query, error) {
	recs, err := parseRecords(r)
	if err != nil {
		return nil, err
	}
	qs := make([]Query, len(recs))
	for i, rec := range recs {
		qs[i] = Query{Num: i + 1, ID: rec.id, Text: oneLine(rec.fields['W'])}
		if qs[i].Text == "" {
			return nil, fmt.Errorf("query %s has no text", rec.id)
		}
	}
	return qs, nil
}

// ParseQrels reads cranqrel: lines of "query doc code", whitespace
// separated, blank lines skipped.
func ParseQrels(r io.Reader) (Qrels, error) {
	q := Qrels{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want 3 fields, got %d", n, len(f))
		}
		num, err1 := strconv.Atoi(f[0])
		code, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || num < 1 {
			return nil, fmt.Errorf("line %d: bad query number or code in %q", n, sc.Text())
		}
		if q[num] == nil {
			q[num] = map[string]int{}
		}
		q[num][f[1]] = code
	}
	return q, sc.Err()
}

// DefaultDir finds the collection where this repository keeps it: the
// folder ../shared/data/cranfield beside the module root, the first folder
// with a go.mod at or above the working directory. It returns an error
// when there is no module root or the collection is not there.
func DefaultDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod at or above the working directory")
		}
		dir = parent
	}
	data := filepath.Join(filepath.Dir(dir), "shared", "data", "cranfield")
	if _, err := os.Stat(filepath.Join(data, DocsFile)); err != nil {
		return "", fmt.Errorf("the Cranfield collection is not at %s", data)
	}
	return data, nil
}
