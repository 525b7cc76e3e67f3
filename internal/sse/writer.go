package sse

import (
	"bytes"
	"io"
	"strings"
)

// Write writes one event to w. Each line of data becomes its own "data:"
// line, so a payload that contains newlines, "event:" or blank lines can
// never end the event early or forge another one. The event name and ID are
// cut at the first line break for the same reason.
func Write(w io.Writer, ev Event) error {
	var b bytes.Buffer
	if ev.Event != "" {
		b.WriteString("event: ")
		b.WriteString(firstLine(ev.Event))
		b.WriteByte('\n')
	}
	if ev.ID != "" {
		b.WriteString("id: ")
		b.WriteString(firstLine(ev.ID))
		b.WriteByte('\n')
	}
	data := ev.Data
	for {
		i := bytes.IndexAny(data, "\r\n")
		b.WriteString("data: ")
		if i < 0 {
			b.Write(data)
			b.WriteByte('\n')
			break
		}
		b.Write(data[:i])
		b.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// Comment writes a comment line, used as a heartbeat.
func Comment(w io.Writer, text string) error {
	_, err := io.WriteString(w, ": "+firstLine(text)+"\n\n")
	return err
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
