// Package sse reads and writes Server-Sent Events (the text/event-stream
// format of the HTML standard): the reader parses provider streams, the
// writer frames the server's own streams so that no payload can forge a frame.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one line of a stream; a longer line is an error rather
// than unbounded buffering.
const MaxLineBytes = 1 << 20

// ErrLineTooLong is returned when a line exceeds MaxLineBytes.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one dispatched event. Data holds the data lines joined by "\n".
type Event struct {
	Event string // "" means the default type, "message"
	Data  []byte
	ID    string
}

// Reader parses events from a stream.
type Reader struct {
	sc   *bufio.Scanner
	data bytes.Buffer // reused across events
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	sc.Split(scanLines)
	return &Reader{sc: sc}
}

// Next returns the next event. Comments and events without data are
// skipped, as the standard says. At the end of the stream it returns io.EOF;
// a stream that ends in the middle of an event returns io.ErrUnexpectedEOF.
func (r *Reader) Next() (Event, error) {
	var (
		ev      Event
		hasData bool
		partial bool
	)
	data := &r.data
	data.Reset()
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 { // blank line: dispatch
			if hasData {
				ev.Data = bytes.Clone(data.Bytes())
				return ev, nil
			}
			ev, partial = Event{}, false
			continue
		}
		partial = true
		if line[0] == ':' {
			continue // comment
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Event = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID = string(value)
			}
		}
		// "retry" and unknown fields are ignored.
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Event{}, ErrLineTooLong
		}
		return Event{}, fmt.Errorf("sse: %w", err)
	}
	if partial && hasData {
		return Event{}, io.ErrUnexpectedEOF
	}
	return Event{}, io.EOF
}

// scanLines splits on \n, \r\n or a lone \r, as the standard allows.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// \r: a \r\n pair needs the next byte to tell.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // wait for the byte after \r
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
