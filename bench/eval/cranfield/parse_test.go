package cranfield_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/bench/eval/cranfield"
)

const docs = ".I 1\r\n.T\r\nexperimental investigation of a\r\nwing in a slipstream .\r\n.A\r\nbrenckman,m.\r\n.B\r\nj. ae. scs. 25, 1958, 324.\r\n.W\r\nexperimental investigation of a\r\nwing in a slipstream .\r\n  an experimental study .\r\n" +
	".I 471\n.T\n.A\n.B\n.W\n" +
	".I 472\n.T\nwaves in supersonic flow .\n.A\n.B\n.W\nwaves in supersonic flow .\nin this chapter\n"

func TestParseDocs(t *testing.T) {
	got, err := cranfield.ParseDocs(strings.NewReader(docs))
	if err != nil {
		t.Fatal(err)
	}
	want := []cranfield.Doc{
		{ID: "1", Title: "experimental investigation of a wing in a slipstream .", Authors: "brenckman,m.", Biblio: "j. ae. scs. 25, 1958, 324.",
			Text: "experimental investigation of a\nwing in a slipstream .\n  an experimental study ."},
		{ID: "471"},
		{ID: "472", Title: "waves in supersonic flow .", Text: "waves in supersonic flow .\nin this chapter"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestParseQueries(t *testing.T) {
	got, err := cranfield.ParseQueries(strings.NewReader(".I 001\n.W\nwhat similarity laws\nmust be obeyed .\n.I 004\n.W\nheat conduction .\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cranfield.Query{{Num: 1, ID: "001", Text: "what similarity laws must be obeyed ."}, {Num: 2, ID: "004", Text: "heat conduction ."}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestParseQrels(t *testing.T) {
	got, err := cranfield.ParseQrels(strings.NewReader("1 184 2 \r\n1 29 2\n\n2 12 -1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := cranfield.Qrels{1: {"184": 2, "29": 2}, 2: {"12": -1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"text before any record\n", ".W\nfield before .I\n", ".I\n.W\nno id\n"} {
		if _, err := cranfield.ParseDocs(strings.NewReader(in)); err == nil {
			t.Errorf("ParseDocs(%q): no error", in)
		}
	}
	if _, err := cranfield.ParseQueries(strings.NewReader(".I 1\n.W\n")); err == nil {
		t.Error("ParseQueries of an empty query: no error")
	}
	for _, in := range []string{"1 2\n", "x 2 3\n", "1 2 z\n", "0 2 1\n"} {
		if _, err := cranfield.ParseQrels(strings.NewReader(in)); err == nil {
			t.Errorf("ParseQrels(%q): no error", in)
		}
	}
}

func FuzzParseDocs(f *testing.F) {
	f.Add(docs)
	f.Add(".I 1\n.W\nx\n.I 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		ds, err := cranfield.ParseDocs(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.ID == "" {
				t.Fatalf("a document without an id from %q", in)
			}
		}
	})
}

// TestLoad reads the real collection when it is there.
func TestLoad(t *testing.T) {
	dir, err := cranfield.DefaultDir()
	if err != nil {
		t.Skip(err)
	}
	c, err := cranfield.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Docs) != 1400 || len(c.Queries) != 225 || len(c.Qrels) != 225 {
		t.Errorf("%d docs, %d queries, %d judged queries; want 1400, 225, 225", len(c.Docs), len(c.Queries), len(c.Qrels))
	}
	empty := 0
	for _, d := range c.Docs {
		if d.Text == "" {
			empty++
		}
	}
	if empty != 2 {
		t.Errorf("%d documents without text, want 2 (471 and 995)", empty)
	}
}
