package extract_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/extract"
)

// goDoc reads a file of the Go distribution's doc directory, large real
// documents to measure with; the benchmark skips when it is missing.
func goDoc(b *testing.B, name string) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skip("no GOROOT:", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "doc", name))
	if err != nil {
		b.Skip(err)
	}
	return string(src)
}

func BenchmarkHTML(b *testing.B) {
	src := goDoc(b, "go_spec.html")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := extract.HTML(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarkdown measures Markdown extraction on real documents (this
// repository's docs, concatenated in testdata/bench/docs.md, and the Go
// distribution's godebug.md) and on pathological input.
func BenchmarkMarkdown(b *testing.B) {
	docs, err := os.ReadFile(filepath.Join("testdata", "bench", "docs.md"))
	if err != nil {
		b.Fatal(err)
	}
	const mb = 10 << 20
	inputs := []struct {
		name string
		src  func() string
	}{
		{"docs", func() string { return string(docs) }},
		{"godebug", func() string { return goDoc(b, "godebug.md") }},
		{"headings", func() string { return strings.Repeat("# a\n", 1_000_000) }},
		{"nested-lists", func() string { return strings.Repeat("- ", 50_000) + "a\n" }},
		{"indented-lists", func() string { return indentedList(1 << 20) }},
		{"nested-quotes", func() string { return strings.Repeat(">", 100_000) + " a\n" }},
		{"stars", func() string { return strings.Repeat("*", mb) }},
		{"brackets", func() string { return strings.Repeat("[", mb) }},
		{"emphasis", func() string { return strings.Repeat("*a_", mb/3) }},
		{"link-parens", func() string { return strings.Repeat("[a](", mb/4) }},
		{"refs", func() string { return strings.Repeat("[a]: b\n", mb/7) }},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			src := in.src()
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				extract.Markdown(src)
			}
		})
	}
}

func BenchmarkText(b *testing.B) {
	doc, err := extract.HTML(goDoc(b, "go_spec.html"))
	if err != nil {
		b.Fatal(err)
	}
	src := doc.Text
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		extract.Text(src)
	}
}
