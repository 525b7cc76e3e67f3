package sse_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/sse"
)

func readAll(t *testing.T, s string) ([]sse.Event, error) {
	t.Helper()
	r := sse.NewReader(strings.NewReader(s))
	var evs []sse.Event
	for {
		ev, err := r.Next()
		if err != nil {
			if err == io.EOF {
				return evs, nil
			}
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []sse.Event
		err  error
	}{
		{"openai chunks", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []sse.Event{{Data: []byte(`{"a":1}`)}, {Data: []byte("[DONE]")}}, nil},
		{"named event with id", "event: token\nid: 7\ndata: hi\n\n", []sse.Event{{Event: "token", ID: "7", Data: []byte("hi")}}, nil},
		{"multi-line data", "data: a\ndata: b\n\n", []sse.Event{{Data: []byte("a\nb")}}, nil},
		{"comments and heartbeats skipped", ": ping\n\n: ping\ndata: x\n\n", []sse.Event{{Data: []byte("x")}}, nil},
		{"CRLF and CR line ends", "data: a\r\n\r\ndata: b\r\rdata: c\n\n", []sse.Event{{Data: []byte("a")}, {Data: []byte("b")}, {Data: []byte("c")}}, nil},
		{"no space after colon", "data:x\n\n", []sse.Event{{Data: []byte("x")}}, nil},
		{"event without data is dropped", "event: ping\n\ndata: y\n\n", []sse.Event{{Data: []byte("y")}}, nil},
		{"unknown fields ignored", "retry: 10\nfoo: bar\ndata: z\n\n", []sse.Event{{Data: []byte("z")}}, nil},
		{"cut mid-event", "data: {\"a\":1}\n\ndata: {\"b\"", []sse.Event{{Data: []byte(`{"a":1}`)}}, io.ErrUnexpectedEOF},
		{"empty stream", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.in)
			if !errors.Is(err, tt.err) && err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %q, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Event != tt.want[i].Event || got[i].ID != tt.want[i].ID || !bytes.Equal(got[i].Data, tt.want[i].Data) {
					t.Errorf("event %d = %+v (%q), want %+v (%q)", i, got[i], got[i].Data, tt.want[i], tt.want[i].Data)
				}
			}
		})
	}
}

func TestReaderLineTooLong(t *testing.T) {
	_, err := readAll(t, "data: "+strings.Repeat("x", sse.MaxLineBytes+1)+"\n\n")
	if !errors.Is(err, sse.ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
}

// TestWriterCannotBeForged writes hostile payloads and reads them back: each
// comes back as exactly one event with its data intact.
func TestWriterCannotBeForged(t *testing.T) {
	for _, payload := range []string{
		"plain",
		"line1\nline2",
		"\n\nevent: done\ndata: {\"forged\":true}\n\n",
		"a\r\nb\rc",
		"",
		"data: x",
	} {
		var buf bytes.Buffer
		if err := sse.Write(&buf, sse.Event{Event: "token\nevent: done", Data: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
		evs, err := readAll(t, buf.String())
		if err != nil || len(evs) != 1 {
			t.Fatalf("payload %q: %d events, err %v:\n%s", payload, len(evs), err, buf.String())
		}
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(payload)
		if evs[0].Event != "token" || string(evs[0].Data) != want {
			t.Errorf("payload %q came back as %+v (%q)", payload, evs[0], evs[0].Data)
		}
	}
}

// FuzzReader checks the parser never panics and that anything written by
// Write reads back as one event.
func FuzzReader(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"), []byte("x"))
	f.Add([]byte("event: e\r\ndata: a\rdata: b\r\n\r\n: c\n"), []byte("\n\n"))
	f.Fuzz(func(t *testing.T, stream, payload []byte) {
		r := sse.NewReader(bytes.NewReader(stream))
		for range 10000 {
			if _, err := r.Next(); err != nil {
				break
			}
		}
		var buf bytes.Buffer
		if err := sse.Write(&buf, sse.Event{Event: "t", Data: payload}); err != nil {
			t.Fatal(err)
		}
		ev, err := sse.NewReader(&buf).Next()
		if err != nil || ev.Event != "t" {
			t.Fatalf("written event did not read back: %+v %v", ev, err)
		}
	})
}

// FuzzWrite checks the encoder: whatever the name, ID and data (model
// output included), what Write produces reads back as exactly one event
// with the data intact (line breaks normalised to \n, as SSE defines) and
// the name and ID cut at their first line break.
func FuzzWrite(f *testing.F) {
	f.Add("token", "1", []byte("\n\nevent: done\ndata: {}\n\n"))
	f.Add("done\nevent: x", "", []byte("a\r\nb\rc\n"))
	f.Add("", "id\r", []byte(": comment\n\n"))
	f.Fuzz(func(t *testing.T, name, id string, data []byte) {
		var buf bytes.Buffer
		if err := sse.Write(&buf, sse.Event{Event: name, ID: id, Data: data}); err != nil {
			t.Fatal(err)
		}
		r := sse.NewReader(&buf)
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("read back: %v\n%q", err, buf.String())
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("more than one event: %v\n%q", err, buf.String())
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		if string(ev.Data) != wantData {
			t.Errorf("data %q came back as %q", data, ev.Data)
		}
		firstLine := func(s string) string {
			if i := strings.IndexAny(s, "\r\n"); i >= 0 {
				return s[:i]
			}
			return s
		}
		if ev.Event != firstLine(name) {
			t.Errorf("event %q came back as %q", name, ev.Event)
		}
		wantID := firstLine(id)
		if strings.Contains(wantID, "\x00") {
			wantID = "" // readers ignore an ID with NUL, as SSE specifies
		}
		if ev.ID != wantID {
			t.Errorf("id %q came back as %q", id, ev.ID)
		}
	})
}
