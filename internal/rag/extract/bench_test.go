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

func BenchmarkMarkdown(b *testing.B) {
	src := goDoc(b, "godebug.md")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		extract.Markdown(src)
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
