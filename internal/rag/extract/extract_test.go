package extract_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/rag/extract"
)

var update = flag.Bool("update", false, "rewrite the .golden files under testdata")

// extractFile extracts a fixture by its extension.
func extractFile(t testing.TB, path string) extract.Document {
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

// render prints a Document for a golden file.
func render(doc extract.Document) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "title: %q\n", doc.Title)
	sb.WriteString("headings:\n")
	for _, h := range doc.Headings {
		fmt.Fprintf(&sb, "  h%d @%d %q\n", h.Level, h.Offset, h.Text)
	}
	sb.WriteString("blocks:\n")
	for i, b := range doc.Blocks {
		kind := b.Kind
		if b.Kind == extract.KindHeading {
			kind = fmt.Sprintf("%s(%d)", kind, b.Level)
		}
		fmt.Fprintf(&sb, "--- %d %s [%d,%d)\n", i, kind, b.Start, b.End)
		sb.WriteString(doc.Text[b.Start:b.End])
		sb.WriteString("\n")
	}
	return sb.String()
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") || strings.Contains(f, "fuzz") {
			continue
		}
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue // testdata/bench holds the benchmarks' inputs
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			doc := extractFile(t, f)
			checkDoc(t, doc)
			got := render(doc)
			golden := f + ".golden"
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

// checkDoc checks the invariants every Document keeps.
func checkDoc(t testing.TB, doc extract.Document) {
	t.Helper()
	if !utf8.ValidString(doc.Text) || !utf8.ValidString(doc.Title) {
		t.Fatalf("invalid UTF-8 in %q / %q", doc.Title, doc.Text)
	}
	prev := 0
	heads := 0
	for i, b := range doc.Blocks {
		if b.Start < prev || b.End <= b.Start || b.End > len(doc.Text) {
			t.Fatalf("block %d [%d,%d) out of order or bounds (prev end %d, len %d)", i, b.Start, b.End, prev, len(doc.Text))
		}
		if sep := doc.Text[prev:b.Start]; (i == 0 && sep != "") || (i > 0 && sep != "\n\n") {
			t.Fatalf("block %d separated by %q", i, sep)
		}
		text := doc.Text[b.Start:b.End]
		if strings.TrimSpace(text) != text {
			t.Fatalf("block %d has white space at an end: %q", i, text)
		}
		switch b.Kind {
		case extract.KindHeading:
			if b.Level < 1 || b.Level > 6 {
				t.Fatalf("heading block %d has level %d", i, b.Level)
			}
			if heads >= len(doc.Headings) {
				t.Fatalf("heading block %d has no Heading", i)
			}
			h := doc.Headings[heads]
			if h.Offset != b.Start || h.Text != text || h.Level != b.Level {
				t.Fatalf("heading %d = %+v, block %+v %q", heads, h, b, text)
			}
			heads++
		case extract.KindParagraph, extract.KindList, extract.KindCode, extract.KindTable, extract.KindQuote:
			if b.Level != 0 {
				t.Fatalf("block %d of kind %s has level %d", i, b.Kind, b.Level)
			}
			if b.Kind != extract.KindCode && strings.Contains(text, "\n\n") {
				t.Fatalf("block %d (%s) has a blank line: %q", i, b.Kind, text)
			}
		default:
			t.Fatalf("block %d has kind %q", i, b.Kind)
		}
		prev = b.End
	}
	if prev != len(doc.Text) {
		t.Fatalf("text goes on past the last block: %q", doc.Text[prev:])
	}
	if heads != len(doc.Headings) {
		t.Fatalf("%d headings, %d heading blocks", len(doc.Headings), heads)
	}
	if strings.ContainsFunc(doc.Title, func(r rune) bool { return r == '\n' }) {
		t.Fatalf("title has a line break: %q", doc.Title)
	}
}

// texts returns the text of each block, kind first.
func texts(doc extract.Document) []string {
	var out []string
	for _, b := range doc.Blocks {
		k := b.Kind
		if k == extract.KindHeading {
			k = fmt.Sprintf("h%d", b.Level)
		}
		out = append(out, k+": "+doc.Text[b.Start:b.End])
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestText(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"empty", "", nil},
		{"blank", " \n\t\n \u00a0\n", nil},
		{"one", "hello", []string{"paragraph: hello"}},
		{"paragraphs", "a\nb  \n\n\n c\r\nd\r\n", []string{"paragraph: a\nb", "paragraph: c\nd"}},
		{"dedent", "    x\n      y\n", []string{"paragraph: x\n  y"}},
		{"crlf and cr", "a\r\rb", []string{"paragraph: a", "paragraph: b"}},
		{"invalid utf8", "a\xff\xfeb\x00c", []string{"paragraph: a\uFFFDb\uFFFDc"}},
		{"controls", "a\x01b\x7fc\fd", []string{"paragraph: abc\nd"}},
		{"bom", "\uFEFFtitle", []string{"paragraph: title"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := extract.Text(tt.src)
			checkDoc(t, doc)
			if got := texts(doc); !equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if doc.Title != "" {
				t.Errorf("title %q", doc.Title)
			}
		})
	}
}

func TestMarkdownInline(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"plain text", "plain text"},
		{"*em* and **strong** and ***both***", "em and strong and both"},
		{"_em_ and __strong__ but snake_case_name stays", "em and strong but snake_case_name stays"},
		{"~~gone~~ text", "gone text"},
		{"2 * 3 * 4 = 24", "2 * 3 * 4 = 24"},
		{"an * alone", "an * alone"},
		{"a *dangling opener", "a *dangling opener"},
		{"[link](http://x.y/z) text", "link text"},
		{"[link](</a b> \"title\")x", "linkx"},
		{"[**bold link**](u)", "bold link"},
		{"![alt text](img.png) after", "after"},
		{"[![badge](b.svg)](https://ci)", ""},
		{"[ref link][r] and [collapsed][] and [shortcut]", "ref link and collapsed and shortcut"},
		{"[not a link] stays", "[not a link] stays"},
		{"footnote[^1] here", "footnote here"},
		{"use `go test` now", "use go test now"},
		{"``code with ` tick``", "code with ` tick"},
		{"`*not em*`", "*not em*"},
		{"unclosed `tick", "unclosed `tick"},
		{"\\*escaped\\* \\[x\\]", "*escaped* [x]"},
		{"a &amp; b &lt;c&gt; &copy; &#65; &bogus;", "a & b <c> © A &bogus;"},
		{"x <b>bold</b>y <br> z", "x boldy z"},
		{"<https://example.com/a?b> and <me@example.com>", "https://example.com/a?b and me@example.com"},
		{"a < b > c", "a < b > c"},
		{"line one\nline two", "line one line two"},
		{"[a](u1) [b](u2)", "a b"},
		{"[nested [brackets]](u)", "nested [brackets]"},
		{"[unclosed(x", "[unclosed(x"},
		{"[x](unclosed", "[x](unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			src := tt.src + "\n\n[r]: http://r\n[collapsed]: http://c\n[shortcut]: http://s\n"
			doc := extract.Markdown(src)
			checkDoc(t, doc)
			got := ""
			if len(doc.Blocks) > 0 {
				got = doc.Text[doc.Blocks[0].Start:doc.Blocks[0].End]
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMarkdownBlocks(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		want  []string
		title string
	}{
		{"atx", "# One #\n## Two\n####### seven\n#nospace", []string{"h1: One", "h2: Two", "paragraph: ####### seven #nospace"}, "One"},
		{"setext", "Title\n=====\n\nSub\ntitle\n---\n", []string{"h1: Title", "h2: Sub title"}, "Title"},
		{"title is first h1", "## Two\n\n# One\n\n# Again", []string{"h2: Two", "h1: One", "h1: Again"}, "One"},
		{"thematic break", "a\n\n***\n\n- - -\nb", []string{"paragraph: a", "paragraph: b"}, ""},
		{"paragraph interrupted", "text\n# head\nmore\n> quote", []string{"paragraph: text", "h1: head", "paragraph: more", "quote: quote"}, "head"},
		{"bullets", "- a\n- b\n  continued\n* c", []string{"list: - a\n- b continued\n- c"}, ""},
		{"nested", "1. one\n   - inner\n     - deeper\n2. two\n\n   second para\n3) three", []string{"list: 1. one\n  - inner\n    - deeper\n2. two\n  second para\n3. three"}, ""},
		{"list ends", "- a\n\nafter", []string{"list: - a", "paragraph: after"}, ""},
		{"list with code", "1. run:\n   ```sh\n   make\n   ```\n2. done", []string{"list: 1. run:", "code: make", "list: 2. done"}, ""},
		{"fence", "```go\nfunc f() {\n\treturn\n}\n```\nafter", []string{"code: func f() {\n\treturn\n}", "paragraph: after"}, ""},
		{"tilde fence keeps markup", "~~~\n# not a heading\n*x*\n~~~", []string{"code: # not a heading\n*x*"}, ""},
		{"unclosed fence", "```\ncode\n\nmore", []string{"code: code\n\nmore"}, ""},
		{"indented code", "para\n\n    code line\n      indented\n\nafter", []string{"paragraph: para", "code: code line\n  indented", "paragraph: after"}, ""},
		{"quote", "> a\n> b\nlazy\n>\n> - item\n> # head\n\nafter", []string{"quote: a b lazy\n- item\nhead", "paragraph: after"}, ""},
		{"nested quote", "> > deep *em*", []string{"quote: deep em"}, ""},
		{"quote with code", "> text\n> ```\n> a\n>\n> b\n> ```", []string{"quote: text\na\nb"}, ""},
		{"table", "| a | b |\n|---|:-:|\n| `x\\|y` | **z** |\n| 1 |\n\nafter", []string{"table: a | b\nx|y | z\n1", "paragraph: after"}, ""},
		{"not a table", "a | b\n--- | --- | ---\n", []string{"paragraph: a | b --- | --- | ---"}, ""},
		{"table after paragraph", "intro\nx | y\n- | -\n1 | 2", []string{"paragraph: intro", "table: x | y\n1 | 2"}, ""},
		{"html comment", "<!-- hidden\nstill hidden -->\nshown", []string{"paragraph: shown"}, ""},
		{"html block", "<div align=\"center\">\n  <img src=\"x.png\">\n</div>\n\ntext", []string{"paragraph: text"}, ""},
		{"ref definitions dropped", "[a]: http://a\n[b]: <http://b> \"B\"\nsee [a]", []string{"paragraph: see a"}, ""},
		{"footnote definition", "text[^n]\n\n[^n]: the note", []string{"paragraph: text", "paragraph: the note"}, ""},
		{"front matter", "---\ntitle: 'From YAML'\n---\n\nbody", []string{"paragraph: body"}, "From YAML"},
		{"not front matter", "---\nSome text\n---\nbody", []string{"h2: Some text", "paragraph: body"}, ""},
		{"empty items dropped", "-\n- \n- x", []string{"list: - x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := extract.Markdown(tt.src)
			checkDoc(t, doc)
			if got := texts(doc); !equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if doc.Title != tt.title {
				t.Errorf("title %q, want %q", doc.Title, tt.title)
			}
		})
	}
}

func TestHTML(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		want  []string
		title string
	}{
		{"title and noise", "<title> A &amp; B </title><script>x()</script><style>p{}</style><p>text</p><footer>f</footer>", []string{"paragraph: text"}, "A & B"},
		{"title falls back to h1", "<h1>Main</h1><h2>Sub</h2>", []string{"h1: Main", "h2: Sub"}, "Main"},
		{"svg title ignored", "<svg><title>icon</title></svg><p>x</p>", []string{"paragraph: x"}, ""},
		{"whitespace", "<p>  a\n\t b&nbsp;&nbsp;c  </p>", []string{"paragraph: a b c"}, ""},
		{"inline elements", "<p>a<b>b</b>c <a href=x>link</a>, <code>x</code></p>", []string{"paragraph: abc link, x"}, ""},
		{"br", "<p>one<br>two</p><div>three<br/>four</div>", []string{"paragraph: one\ntwo", "paragraph: three\nfour"}, ""},
		{"div text", "<div>a<div>b</div>c</div>", []string{"paragraph: a", "paragraph: b", "paragraph: c"}, ""},
		{"unclosed p", "<p>one<p>two", []string{"paragraph: one", "paragraph: two"}, ""},
		{"lists", "<ul><li>a<li>b<ol start=\"5\"><li>c</li><li>d</li></ol></ul>", []string{"list: - a\n- b\n  5. c\n  6. d"}, ""},
		{"dl", "<dl><dt>term</dt><dd>definition</dd></dl>", []string{"list: - term\n  definition"}, ""},
		{"table", "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td><p>2</p><p>3</p></td></tr><tr><td></td></tr></table>", []string{"table: a | b\n1 | 2 3"}, ""},
		{"nested table", "<table><tr><td>x<table><tr><td>y</td><td>z</td></tr></table></td></tr></table>", []string{"table: x y z"}, ""},
		{"pre", "<pre>\n  line 1\n    line 2\n</pre>", []string{"code: line 1\n    line 2"}, ""},
		{"blockquote", "<blockquote><p>a</p><p>b</p></blockquote>", []string{"quote: a\nb"}, ""},
		{"hidden", "<div hidden>h</div><p aria-hidden=\"true\">a</p><div role=\"navigation\">n</div><p style=\"display: none\">d</p><p>shown</p>", []string{"paragraph: shown"}, ""},
		{"images and buttons", "<p>see <img alt=\"pic\" src=x> <button>Click</button> this</p>", []string{"paragraph: see this"}, ""},
		{"entities", "<p>&lt;tag&gt; &eacute; &#x1F600; &bogus</p>", []string{"paragraph: <tag> é 😀 &bogus"}, ""},
		{"invalid utf8", "<p>a\xffb</p>", []string{"paragraph: a\uFFFDb"}, ""},
		{"heading with br", "<h2>a<br>b</h2>", []string{"h2: a b"}, ""},
		{"empty", "", nil, ""},
		{"text only", "just text", []string{"paragraph: just text"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extract.HTML(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			checkDoc(t, doc)
			if got := texts(doc); !equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if doc.Title != tt.title {
				t.Errorf("title %q, want %q", doc.Title, tt.title)
			}
		})
	}
}

// TestPathological feeds inputs that make naive parsers quadratic or deep;
// each must finish quickly.
func TestPathological(t *testing.T) {
	const n = 200_000
	inputs := map[string]string{
		"brackets":    strings.Repeat("[", n),
		"bracket-par": strings.Repeat("[a](", n/4),
		"backticks":   strings.Repeat("`a``b```c", n/9),
		"angles":      strings.Repeat("<a ", n/3),
		"stars":       strings.Repeat("*a_", n/3),
		"entities":    strings.Repeat("&amp", n/4),
		"quotes":      strings.Repeat(">", n),
		"list nest":   strings.Repeat("- ", n/2),
		"lines":       strings.Repeat("a\n", n/2),
		"fences":      strings.Repeat("```\n", n/4),
		"tables":      strings.Repeat("|a|\n", n/4),
		"html nest":   strings.Repeat("<div>", n/5),
		"html tables": strings.Repeat("<table><tr><td>", n/15),
		"html lists":  strings.Repeat("<ul><li>", n/8),
		"refs":        strings.Repeat("[a]: b\n", n/7),
		"emphasis":    strings.Repeat("*a_b*c_d**e_f*g**h*i_j**", n/24),
		"link parens": strings.Repeat("[a](", n/4),
		"indents":     indentedList(n),
	}
	for name, src := range inputs {
		t.Run(name, func(t *testing.T) {
			checkDoc(t, extract.Markdown(src))
			doc, err := extract.HTML(src)
			if err != nil {
				t.Fatal(err)
			}
			checkDoc(t, doc)
			checkDoc(t, extract.Text(src))
		})
	}
}

// indentedList returns a list of about n bytes, each item nested in the
// one before it.
func indentedList(n int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		sb.WriteString(strings.Repeat("  ", i))
		sb.WriteString("- a\n")
	}
	return sb.String()
}

func fuzzCheck(t *testing.T, doc extract.Document) {
	checkDoc(t, doc)
	for _, h := range doc.Headings {
		if h.Offset < 0 || h.Offset > len(doc.Text) {
			t.Fatalf("heading offset %d out of bounds", h.Offset)
		}
	}
	// Every block is non-blank.
	for _, b := range doc.Blocks {
		if strings.IndexFunc(doc.Text[b.Start:b.End], func(r rune) bool { return !unicode.IsSpace(r) }) < 0 {
			t.Fatalf("blank block %+v", b)
		}
	}
}

var fuzzSeeds = []string{
	"", "# h\n\npara *em* [l](u)\n\n- a\n  - b\n\n```\ncode\n```\n",
	"a | b\n--|--\n1 | 2\n", "> q\n> > qq\nlazy", "---\ntitle: x\n---\n", "\xff\xfe\x00",
	"<p>a<b>b</p><ul><li>x<table><tr><td>y", "<pre>a\n\n b</pre><h1>t</h1><title>x</title>",
	"Setext\n===\n\n    code\n\n1. x\n   ```\n   y\n", "![i](u) [[a]](b) `x` <!-- c -->",
	"> ```\n> a\n>\n> - b\n> ```\n> | c |\n> |---|\n",
}

func FuzzMarkdown(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		fuzzCheck(t, extract.Markdown(src))
	})
}

func FuzzHTML(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		doc, err := extract.HTML(src)
		if err != nil {
			t.Fatal(err)
		}
		fuzzCheck(t, doc)
	})
}

func FuzzText(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		fuzzCheck(t, extract.Text(src))
	})
}

// ExtractAtMost keeps the first blocks only and says so; a source within
// the limit comes back whole, as Extract gives it.
func TestExtractAtMost(t *testing.T) {
	for format, src := range map[string]string{
		extract.FormatMarkdown: strings.Repeat("# a\n\npara\n\n", 50),
		extract.FormatHTML:     strings.Repeat("<h1>a</h1><p>para</p>", 50),
		extract.FormatText:     strings.Repeat("para\n\n", 100),
	} {
		doc, err := extract.ExtractAtMost(format, src, 10)
		if err != nil || !doc.Truncated || len(doc.Blocks) != 10 {
			t.Errorf("%s: %d blocks, truncated %v, %v; want the first 10", format, len(doc.Blocks), doc.Truncated, err)
		}
		whole, _ := extract.Extract(format, src)
		if !strings.HasPrefix(whole.Text, doc.Text) || !reflect.DeepEqual(whole.Blocks[:10], doc.Blocks) {
			t.Errorf("%s: the truncated document is not the start of the whole one", format)
		}
		if all, _ := extract.ExtractAtMost(format, src, 100); all.Truncated || !reflect.DeepEqual(all, whole) {
			t.Errorf("%s: within the limit, extract.ExtractAtMost differs from Extract", format)
		}
	}
}
