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
	switch format {
	case FormatMarkdown:
		return Markdown(src), nil
	case FormatHTML:
		return HTML(src)
	}
	return Text(src), nil
}
