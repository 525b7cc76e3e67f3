package chunk_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/rag/chunk"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

var update = flag.Bool("update", false, "rewrite the .golden files under testdata")

// load extracts a fixture by its extension.
func load(t testing.TB, path string) extract.Document {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := extract.Extract(extract.FormatOf(path), string(src))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func render(opts chunk.Options, chunks []chunk.Chunk) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "options: chunk=%d overlap=%d\n", opts.ChunkTokens, opts.OverlapTokens)
	for _, c := range chunks {
		fmt.Fprintf(&sb, "--- chunk %d path=%q [%d,%d) tokens=%d\n", c.Ordinal, c.HeadingPath, c.Start, c.End, c.Tokens)
		sb.WriteString(c.Text)
		sb.WriteString("\n")
	}
	return sb.String()
}

func TestGolden(t *testing.T) {
	// The sources are the extractor's fixtures, but for giant.txt; the
	// goldens are the chunker's.
	const shared = "../extract/testdata"
	tests := []struct {
		dir, file string
		opts      chunk.Options
	}{
		{shared, "guide.md", chunk.Options{ChunkTokens: 64, OverlapTokens: 16}},
		{shared, "page.html", chunk.Options{ChunkTokens: 40, OverlapTokens: 10}},
		{shared, "notes.txt", chunk.Options{ChunkTokens: 16, OverlapTokens: 8}},
		{"testdata", "giant.txt", chunk.Options{ChunkTokens: 64, OverlapTokens: 24}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc := load(t, filepath.Join(tt.dir, tt.file))
			chunks := chunk.Split(doc, tt.opts)
			check(t, doc, tt.opts, chunks)
			got := render(tt.opts, chunks)
			golden := filepath.Join("testdata", tt.file+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run go test -update to accept):\n%s", golden, got)
			}
		})
	}
}

// limits returns the sizes Split applies for opts.
func limits(opts chunk.Options) (size, overlap int) {
	size, overlap = opts.ChunkTokens, opts.OverlapTokens
	if size <= 0 {
		size = chunk.DefaultChunkTokens
	}
	size = min(max(size, chunk.MinChunkTokens), chunk.MaxChunkTokens)
	switch {
	case overlap == 0:
		overlap = chunk.DefaultOverlapTokens
	case overlap < 0:
		overlap = 0
	}
	if overlap >= size {
		overlap = size / 2
	}
	return size, overlap
}

// pathAt returns the heading path in force at offset p of doc.Text.
func pathAt(doc extract.Document, p int) []string {
	type open struct {
		level int
		text  string
	}
	var stack []open
	for _, h := range doc.Headings {
		if h.Offset > p {
			break
		}
		for len(stack) > 0 && stack[len(stack)-1].level >= h.Level {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, open{h.Level, strings.Join(strings.Fields(h.Text), " ")})
	}
	if len(stack) == 0 {
		return nil
	}
	path := make([]string, len(stack))
	for k, o := range stack {
		path[k] = o.text
	}
	return path
}

// check checks every promise Split makes about chunks of an extracted doc.
func check(t testing.TB, doc extract.Document, opts chunk.Options, chunks []chunk.Chunk) {
	t.Helper()
	size, overlap := limits(opts)
	text := doc.Text
	covered := make([]bool, len(text))
	for i, c := range chunks {
		if c.Ordinal != i {
			t.Fatalf("chunk %d has ordinal %d", i, c.Ordinal)
		}
		if c.Start < 0 || c.End > len(text) || c.Start >= c.End {
			t.Fatalf("chunk %d: bad range [%d,%d) of %d bytes", i, c.Start, c.End, len(text))
		}
		if c.Text != text[c.Start:c.End] {
			t.Fatalf("chunk %d: Text differs from doc.Text[%d:%d]", i, c.Start, c.End)
		}
		if strings.TrimSpace(c.Text) != c.Text || c.Text == "" {
			t.Fatalf("chunk %d has white space at an end: %q", i, c.Text)
		}
		n := tokens.Count(c.Text)
		if n > size {
			t.Fatalf("chunk %d has %d tokens, limit %d: %q", i, n, size, c.Text)
		}
		if c.Tokens != n {
			t.Fatalf("chunk %d reports %d tokens, counts %d: %q", i, c.Tokens, n, c.Text)
		}
		if utf8.ValidString(text) && !utf8.ValidString(c.Text) {
			t.Fatalf("chunk %d cuts a character: %q", i, c.Text)
		}
		if want := pathAt(doc, c.End-1); !reflect.DeepEqual(c.HeadingPath, want) {
			t.Fatalf("chunk %d has path %q, want %q", i, c.HeadingPath, want)
		}
		// Within a chunk, only headings may come before a heading: a chunk
		// holds one section, after any empty sections joined to it.
		body := false
		first := sort.Search(len(doc.Blocks), func(k int) bool { return doc.Blocks[k].End > c.Start })
		for _, b := range doc.Blocks[first:] {
			if b.Start >= c.End {
				break
			}
			if b.Kind != extract.KindHeading {
				body = true
			} else if body && b.Start > c.Start {
				t.Fatalf("chunk %d crosses into section %q: %q", i, text[b.Start:b.End], c.Text)
			}
		}
		for k := c.Start; k < c.End; k++ {
			covered[k] = true
		}
		if i == 0 {
			continue
		}
		prev := chunks[i-1]
		if c.Start < prev.Start || c.End <= prev.End {
			t.Fatalf("chunk %d [%d,%d) does not move on from chunk %d [%d,%d)", i, c.Start, c.End, i-1, prev.Start, prev.End)
		}
		if c.Start < prev.End {
			if !reflect.DeepEqual(c.HeadingPath, prev.HeadingPath) {
				t.Fatalf("chunk %d overlaps chunk %d of another section", i, i-1)
			}
			if n := tokens.Count(text[c.Start:prev.End]); n > overlap {
				t.Fatalf("chunk %d overlaps by %d tokens, limit %d", i, n, overlap)
			}
		}
	}
	for k := 0; k < len(text); {
		r, size := utf8.DecodeRuneInString(text[k:])
		if !covered[k] && !unicode.IsSpace(r) {
			t.Fatalf("byte %d (%q) is in no chunk", k, text[k:min(len(text), k+40)])
		}
		k += size
	}
	if again := chunk.Split(doc, opts); !reflect.DeepEqual(again, chunks) {
		t.Fatalf("a second Split differs")
	}
}

// words for random documents: common words, abbreviations, numbers,
// punctuation, non-Latin scripts and an occasional huge word.
var vocab = strings.Fields(`the a of to and in is it that for on with as was by at be this from or
an are not have which one you were her all she there would their we him been has when who will
more no if out so said what up its about into than them can only other new some could time these
two may then do first any my now such like our over man me even most made after also did many
before must through back years where much your way well down should because each just those people
Mr. Mrs. Dr. e.g. i.e. etc. U.S. vs. Fig. No. Jan. 3.5 42 1,000 2026 10% $5 (see) "quoted" it's
don't — – ... … ? ! ; : , . Ünïcödé naïve café 東京 日本語 Привет мир 😀 x86_64 example.com
https://example.com/a/b?c=d snake_case camelCase CONST-ANT`)

// randomMarkdown writes a Markdown document of about n words.
func randomMarkdown(r *rand.Rand, n int) string {
	var sb strings.Builder
	sentence := func() {
		k := 1 + r.IntN(30)
		if r.IntN(20) == 0 {
			k = 200 + r.IntN(400) // a giant sentence
		}
		for i := 0; i < k; i++ {
			if i > 0 {
				sb.WriteString([]string{" ", " ", " ", " ", "  ", "\n", "\u00a0"}[r.IntN(7)])
			}
			w := vocab[r.IntN(len(vocab))]
			if r.IntN(2000) == 0 {
				w = strings.Repeat(w, 100+r.IntN(300)) // a giant word
			}
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			sb.WriteString(w)
		}
		sb.WriteString([]string{". ", ". ", "? ", "! ", "... ", "。", ".\" ", ". "}[r.IntN(8)])
	}
	for written := 0; written < n; {
		switch r.IntN(10) {
		case 0:
			sb.WriteString(strings.Repeat("#", 1+r.IntN(4)) + " ")
			sentence()
		case 1:
			for i := 0; i < 1+r.IntN(6); i++ {
				sb.WriteString(strings.Repeat("  ", r.IntN(2)) + "- ")
				sentence()
				sb.WriteString("\n")
			}
		case 2:
			sb.WriteString("```\n")
			for i := 0; i < 1+r.IntN(10); i++ {
				sb.WriteString(strings.Repeat("\t", r.IntN(3)) + "x := f(y) // " + vocab[r.IntN(len(vocab))] + "\n")
			}
			sb.WriteString("```")
		case 3:
			sb.WriteString("| a | b |\n|---|---|\n")
			for i := 0; i < 1+r.IntN(5); i++ {
				sb.WriteString("| " + vocab[r.IntN(len(vocab))] + " | " + vocab[r.IntN(len(vocab))] + " |\n")
			}
		default:
			for i := 0; i < 1+r.IntN(12); i++ {
				sentence()
			}
		}
		sb.WriteString("\n\n")
		written += 20
	}
	return sb.String()
}

func TestInvariants(t *testing.T) {
	optsList := []chunk.Options{
		{},
		{ChunkTokens: 8, OverlapTokens: 3},
		{ChunkTokens: 16, OverlapTokens: -1},
		{ChunkTokens: 50, OverlapTokens: 100},
		{ChunkTokens: 128, OverlapTokens: 16},
		{ChunkTokens: 1},
		{ChunkTokens: math.MaxInt, OverlapTokens: math.MaxInt},
	}
	r := rand.New(rand.NewPCG(1, 2))
	docs := 16
	if testing.Short() {
		docs = 5
	}
	for i := 0; i < docs; i++ {
		src := randomMarkdown(r, 20+r.IntN(600))
		for j, doc := range []extract.Document{extract.Markdown(src), extract.Text(src), {Text: src}} {
			for _, opts := range optsList {
				chunks := chunk.Split(doc, opts)
				if testing.Verbose() && i == 0 {
					t.Logf("doc %d/%d %+v: %d chunks", i, j, opts, len(chunks))
				}
				check(t, doc, opts, chunks)
			}
		}
	}
}

func TestOptions(t *testing.T) {
	doc := extract.Text(strings.Repeat("One sentence here. ", 200))
	tests := []struct {
		opts         chunk.Options
		size, overlp int
	}{
		{chunk.Options{}, 256, 32},
		{chunk.Options{ChunkTokens: -5, OverlapTokens: -5}, 256, 0},
		{chunk.Options{ChunkTokens: 2}, 4, 2},
		{chunk.Options{ChunkTokens: 20, OverlapTokens: 30}, 20, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.opts), func(t *testing.T) {
			chunks := chunk.Split(doc, tt.opts)
			if len(chunks) < 2 {
				t.Fatalf("%d chunks", len(chunks))
			}
			maxTok, maxOverlap := 0, 0
			for i, c := range chunks {
				maxTok = max(maxTok, c.Tokens)
				if i > 0 && c.Start < chunks[i-1].End {
					maxOverlap = max(maxOverlap, tokens.Count(doc.Text[c.Start:chunks[i-1].End]))
				}
			}
			if maxTok > tt.size || maxTok < tt.size-8 {
				t.Errorf("largest chunk %d tokens, want about %d", maxTok, tt.size)
			}
			if maxOverlap > tt.overlp || (tt.overlp >= 8 && maxOverlap < tt.overlp-8) {
				t.Errorf("largest overlap %d tokens, want about %d", maxOverlap, tt.overlp)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	type want struct {
		path []string
		text string
	}
	tests := []struct {
		name string
		doc  extract.Document
		opts chunk.Options
		want []want
	}{
		{
			name: "empty",
			doc:  extract.Markdown(""),
			want: nil,
		},
		{
			name: "sections never mix",
			doc:  extract.Markdown("intro\n\n# A\n\none\n\n## B\n\ntwo\n\n# C\n\nthree"),
			want: []want{{nil, "intro"}, {[]string{"A"}, "A\n\none"}, {[]string{"A", "B"}, "B\n\ntwo"}, {[]string{"C"}, "C\n\nthree"}},
		},
		{
			name: "empty section joins its subsection",
			doc:  extract.Markdown("# Install\n\n## Linux\n\nRun it.\n\n## Mac\n\nBrew it."),
			want: []want{{[]string{"Install", "Linux"}, "Install\n\nLinux\n\nRun it."}, {[]string{"Install", "Mac"}, "Mac\n\nBrew it."}},
		},
		{
			name: "empty sibling section joins the next",
			doc:  extract.Markdown("## A\n\n## B\n\ntext"),
			want: []want{{[]string{"B"}, "A\n\nB\n\ntext"}},
		},
		{
			name: "headings alone fill one chunk",
			doc:  extract.Markdown(strings.Repeat("# a\n", 40)),
			opts: chunk.Options{ChunkTokens: 32},
			want: []want{
				{[]string{"a"}, strings.TrimSpace(strings.Repeat("a\n\n", 16))},
				{[]string{"a"}, strings.TrimSpace(strings.Repeat("a\n\n", 16))},
				{[]string{"a"}, strings.TrimSpace(strings.Repeat("a\n\n", 8))},
			},
		},
		{
			name: "a trailing heading stays alone",
			doc:  extract.Markdown("## A\n\ntext\n\n## B"),
			want: []want{{[]string{"A"}, "A\n\ntext"}, {[]string{"B"}, "B"}},
		},
		{
			name: "whole blocks packed",
			doc:  extract.Text("one two three four five.\n\nsix seven.\n\neight nine ten eleven twelve thirteen fourteen."),
			opts: chunk.Options{ChunkTokens: 12, OverlapTokens: -1},
			want: []want{{nil, "one two three four five.\n\nsix seven."}, {nil, "eight nine ten eleven twelve thirteen fourteen."}},
		},
		{
			name: "overlap of whole sentences",
			doc:  extract.Text("First sentence is here. Second one follows. Third comes now. Fourth ends it."),
			opts: chunk.Options{ChunkTokens: 12, OverlapTokens: 6},
			want: []want{
				{nil, "First sentence is here. Second one follows."},
				{nil, "Second one follows. Third comes now. Fourth ends it."},
			},
		},
		{
			name: "heading takes the first sentences of a large block",
			doc:  extract.Markdown("# Title\n\nAlpha beta gamma delta. Epsilon zeta eta theta."),
			opts: chunk.Options{ChunkTokens: 12, OverlapTokens: -1},
			want: []want{{[]string{"Title"}, "Title\n\nAlpha beta gamma delta."}, {[]string{"Title"}, "Epsilon zeta eta theta."}},
		},
		{
			name: "giant word",
			doc:  extract.Text(strings.Repeat("abcdefghij", 12)),
			opts: chunk.Options{ChunkTokens: 16, OverlapTokens: 4},
			want: []want{
				{nil, strings.Repeat("abcdefghij", 8)},
				{nil, strings.Repeat("abcdefghij", 4)},
			},
		},
		{
			name: "text without blocks",
			doc:  extract.Document{Text: "  para one\n \npara two  "},
			want: []want{{nil, "para one\n \npara two"}},
		},
		{
			name: "bogus blocks",
			doc: extract.Document{Text: "aaa bbb ccc ddd", Blocks: []extract.Block{
				{Kind: "paragraph", Start: 4, End: 7}, {Kind: "paragraph", Start: 0, End: 5}, {Kind: "heading", Start: 12, End: 99},
			}},
			want: []want{{nil, "aaa bbb ccc"}, {[]string{"ddd"}, "ddd"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := chunk.Split(tt.doc, tt.opts)
			var got []want
			for _, c := range chunks {
				got = append(got, want{c.HeadingPath, c.Text})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestHeadingsTrackText: a document of headings alone makes chunks by the
// size of its text, not one a heading.
func TestHeadingsTrackText(t *testing.T) {
	doc := extract.Markdown(strings.Repeat("# a\n", 20000))
	chunks := chunk.Split(doc, chunk.Options{})
	check(t, doc, chunk.Options{}, chunks)
	total := 0
	for _, c := range chunks {
		total += c.Tokens
	}
	if got, most := len(chunks), total/(chunk.DefaultChunkTokens/2)+1; got > most {
		t.Errorf("%d headings make %d chunks of %d tokens in all; want at most %d", 20000, got, total, most)
	}
}

// TestHugeWord: a word of megabytes is cut by bytes into chunks that keep
// every promise, and MaxChunks stops the work once the quota is passed.
func TestHugeWord(t *testing.T) {
	for _, text := range []string{strings.Repeat("x", 1<<18), strings.Repeat(".", 1<<18), strings.Repeat("é", 1<<17), "intro. " + strings.Repeat("ab", 1<<17) + " outro."} {
		doc := extract.Text(text)
		chunks := chunk.Split(doc, chunk.Options{})
		check(t, doc, chunk.Options{}, chunks)
		limited := chunk.Split(doc, chunk.Options{MaxChunks: 10})
		if len(limited) != 11 || !reflect.DeepEqual(limited, chunks[:11]) {
			t.Errorf("%q...: MaxChunks 10 gives %d chunks, want the first 11 of %d", text[:8], len(limited), len(chunks))
		}
	}
}

// BenchmarkHugeWord measures the worst documents per byte: one word of
// 4 MiB, cut until a quota of 2000 chunks is passed, or whole.
func BenchmarkHugeWord(b *testing.B) {
	for _, tc := range []struct {
		name string
		text string
		max  int
	}{
		{"x/quota", strings.Repeat("x", 4<<20), 2000},
		{"x/whole", strings.Repeat("x", 4<<20), 0},
		{"dots/whole", strings.Repeat(".", 4<<20), 0},
		{"headings/whole", strings.Repeat("# a\n", 1<<20), 0},
	} {
		doc := extract.Text(tc.text)
		if strings.HasPrefix(tc.name, "headings") {
			doc = extract.Markdown(tc.text)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			for b.Loop() {
				chunk.Split(doc, chunk.Options{MaxChunks: tc.max})
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("# a\n\nb. C d.\n\n## e\n\n- f\n- g", 8, 3)
	f.Add("x", 1, 0)
	f.Add(strings.Repeat("word ", 300), 20, 5)
	f.Add("\xff\xfe bad bytes. More here.", 5, 2)
	f.Add("東京。日本語！ Привет мир. 😀😀😀😀😀😀", 4, 1)
	f.Fuzz(func(t *testing.T, src string, size, overlap int) {
		opts := chunk.Options{ChunkTokens: size % 300, OverlapTokens: overlap % 300}
		check(t, extract.Markdown(src), opts, chunk.Split(extract.Markdown(src), opts))
		raw := extract.Document{Text: strings.ToValidUTF8(src, "\uFFFD")}
		check(t, raw, opts, chunk.Split(raw, opts))
	})
}

// benchDoc is a large real document: the Go specification, when GOROOT has it.
func benchDoc(b *testing.B) extract.Document {
	b.Helper()
	src, err := os.ReadFile(filepath.Join(chunk.GOROOT(), "doc", "go_spec.html"))
	if err != nil {
		b.Skip("no go_spec.html:", err)
	}
	doc, err := extract.HTML(string(src))
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

func BenchmarkSplit(b *testing.B) {
	doc := benchDoc(b)
	if err := tokens.Load(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc.Text)))
	b.ReportAllocs()
	for b.Loop() {
		chunk.Split(doc, chunk.Options{})
	}
}

// BenchmarkSplitCold starts each run with an empty segment cache, as the
// first document a process chunks does.
func BenchmarkSplitCold(b *testing.B) {
	doc := benchDoc(b)
	if err := tokens.Load(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc.Text)))
	for b.Loop() {
		b.StopTimer()
		chunk.ResetCache()
		b.StartTimer()
		chunk.Split(doc, chunk.Options{})
	}
}

// TestConcurrent splits documents at once from several goroutines, which
// share the segment cache, and expects what one goroutine gets alone.
func TestConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var docs []extract.Document
	var want [][]chunk.Chunk
	for i := 0; i < 8; i++ {
		doc := extract.Markdown(randomMarkdown(r, 300))
		docs = append(docs, doc)
		want = append(want, chunk.Split(doc, chunk.Options{ChunkTokens: 64}))
	}
	errs := make(chan string, len(docs))
	for i := range docs {
		go func() {
			if got := chunk.Split(docs[i], chunk.Options{ChunkTokens: 64}); !reflect.DeepEqual(got, want[i]) {
				errs <- fmt.Sprintf("doc %d split differently", i)
				return
			}
			errs <- ""
		}()
	}
	for range docs {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
