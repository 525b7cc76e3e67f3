package extract

import (
	"path"
	"strings"
)

// Source formats.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatHTML     = "html"
)

// FormatOf returns the format of a file by its extension (.txt, .text,
// .md, .markdown, .html, .htm, in any case), or "" for any other file.
func FormatOf(name string) string {
	switch strings.ToLower(path.Ext(strings.ReplaceAll(name, "\\", "/"))) {
	case ".txt", ".text":
		return FormatText
	case ".md", ".markdown":
		return FormatMarkdown
	case ".html", ".htm":
		return FormatHTML
	}
	return ""
}

// Extract extracts src in format: Markdown, HTML, or anything else as
// plain text.
func Extract(format, src string) (Document, error) {
	return ExtractAtMost(format, src, 0)
}

// ExtractAtMost is Extract keeping at most maxBlocks blocks (0: all): a
// source with more comes back Truncated, and the memory its extraction
// holds is bounded by maxBlocks rather than by the source's markup.
func ExtractAtMost(format, src string, maxBlocks int) (Document, error) {
	switch format {
	case FormatMarkdown:
		return markdown(src, maxBlocks), nil
	case FormatHTML:
		return htmlDoc(src, maxBlocks)
	}
	return text(src, maxBlocks), nil
}
