package tts_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/crispy-enigma/crispy/internal/tts"
)

func TestWAVHeaderRoundTrip(t *testing.T) {
	for _, size := range []uint32{0, 2, 44100, tts.StreamingSize} {
		b := tts.AppendWAVHeader(nil, 22050, size)
		if len(b) != 44 {
			t.Fatalf("header of %d bytes, want 44", len(b))
		}
		h, err := tts.ReadWAVHeader(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatal(err)
		}
		want := tts.WAVHeader{Format: 1, Channels: 1, SampleRate: 22050, BitsPerSample: 16, DataSize: size, HeaderSize: 44}
		if h != want {
			t.Errorf("got %+v, want %+v", h, want)
		}
		if h.BytesPerSecond() != 44100 {
			t.Errorf("bytes per second %d", h.BytesPerSecond())
		}
		riff := binary.LittleEndian.Uint32(b[4:8])
		if size == tts.StreamingSize && riff != tts.StreamingSize || size != tts.StreamingSize && riff != size+36 {
			t.Errorf("RIFF size %#x for data size %#x", riff, size)
		}
	}
}

func TestReadWAVHeaderSkipsChunks(t *testing.T) {
	// A LIST chunk of odd size (padded) between fmt and data.
	b := tts.AppendWAVHeader(nil, 24000, 4)
	list := append([]byte("LIST"), 3, 0, 0, 0, 'a', 'b', 'c', 0)
	b = append(b[:36], append(list, b[36:]...)...)
	b = append(b, 1, 2, 3, 4)
	r := bufio.NewReader(bytes.NewReader(b))
	h, err := tts.ReadWAVHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if h.SampleRate != 24000 || h.HeaderSize != 44+len(list) {
		t.Errorf("got %+v", h)
	}
	rest := make([]byte, 4)
	if _, err := r.Read(rest); err != nil || !bytes.Equal(rest, []byte{1, 2, 3, 4}) {
		t.Errorf("reader left at %v, want the first sample", rest)
	}
}

func TestReadWAVHeaderRejects(t *testing.T) {
	good := tts.AppendWAVHeader(nil, 22050, 0)
	mp3 := []byte("ID3\x04\x00\x00\x00\x00\x00\x00 lots of mp3 data here")
	float := bytes.Clone(good)
	binary.LittleEndian.PutUint16(float[20:22], 3) // IEEE float, not PCM
	noFmt := append([]byte("RIFF\x00\x00\x00\x00WAVE"), []byte("data\x00\x00\x00\x00")...)
	for name, b := range map[string][]byte{"empty": nil, "mp3": mp3, "truncated": good[:30], "float": float, "data before fmt": noFmt} {
		if _, err := tts.ReadWAVHeader(bufio.NewReader(bytes.NewReader(b))); !errors.Is(err, tts.ErrNotWAV) {
			t.Errorf("%s: err = %v, want ErrNotWAV", name, err)
		}
	}
}

func TestFixWAVSizes(t *testing.T) {
	b := tts.AppendWAVHeader(nil, 22050, tts.StreamingSize)
	b = append(b, make([]byte, 1001)...) // an odd trailing byte is not a whole sample
	if err := tts.FixWAVSizes(b); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b[4:8]); got != uint32(len(b)-8) {
		t.Errorf("RIFF size %d, want %d", got, len(b)-8)
	}
	if got := binary.LittleEndian.Uint32(b[40:44]); got != 1000 {
		t.Errorf("data size %d, want 1000", got)
	}
	if err := tts.FixWAVSizes([]byte("not a wav at all, no")); !errors.Is(err, tts.ErrNotWAV) {
		t.Errorf("err = %v, want ErrNotWAV", err)
	}
}

func FuzzReadWAVHeader(f *testing.F) {
	f.Add(tts.AppendWAVHeader(nil, 22050, tts.StreamingSize))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVELIST\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := tts.ReadWAVHeader(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if h.HeaderSize > len(b) || h.Format != 1 || h.SampleRate == 0 {
			t.Fatalf("accepted %+v from %d bytes", h, len(b))
		}
		c := bytes.Clone(b)
		if err := tts.FixWAVSizes(c); err != nil {
			t.Fatalf("FixWAVSizes refused a header ReadWAVHeader accepted: %v", err)
		}
	})
}
