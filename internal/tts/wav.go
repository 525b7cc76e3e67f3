package tts

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// StreamingSize is written as the RIFF and data sizes of a WAV header when
// the length of the audio is not known yet, as decoders that read streams
// expect.
const StreamingSize = 0xFFFFFFFF

// WAVHeader is what a WAV file says about its samples.
type WAVHeader struct {
	Format        uint16 // 1: PCM
	Channels      uint16
	SampleRate    uint32
	BitsPerSample uint16
	DataSize      uint32 // as written: may be StreamingSize or another placeholder
	HeaderSize    int    // bytes before the first sample
}

// BytesPerSecond is the data rate of the samples.
func (h WAVHeader) BytesPerSecond() int {
	return int(h.SampleRate) * int(h.Channels) * int(h.BitsPerSample) / 8
}

// ErrNotWAV is returned by ReadWAVHeader for data that is not a PCM WAV.
var ErrNotWAV = errors.New("not a PCM WAV stream")

// maxWAVChunk bounds a chunk skipped before the data chunk (LIST, fact...).
const maxWAVChunk = 1 << 20

// ReadWAVHeader reads a RIFF/WAVE header from r up to the first sample,
// skipping chunks other than "fmt " and "data". r is left at the first
// sample.
func ReadWAVHeader(r *bufio.Reader) (WAVHeader, error) {
	var h WAVHeader
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return h, fmt.Errorf("%w: %v", ErrNotWAV, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return h, fmt.Errorf("%w: no RIFF/WAVE signature", ErrNotWAV)
	}
	h.HeaderSize = 12
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return h, fmt.Errorf("%w: %v", ErrNotWAV, err)
		}
		h.HeaderSize += 8
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 64 {
				return h, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return h, fmt.Errorf("%w: %v", ErrNotWAV, err)
			}
			h.HeaderSize += len(b)
			h.Format = binary.LittleEndian.Uint16(b[0:2])
			h.Channels = binary.LittleEndian.Uint16(b[2:4])
			h.SampleRate = binary.LittleEndian.Uint32(b[4:8])
			h.BitsPerSample = binary.LittleEndian.Uint16(b[14:16])
			haveFmt = true
		case "data":
			if !haveFmt {
				return h, fmt.Errorf("%w: data before fmt", ErrNotWAV)
			}
			h.DataSize = size
			if h.Format != 1 || h.Channels == 0 || h.SampleRate == 0 || h.BitsPerSample == 0 || h.BitsPerSample%8 != 0 {
				return h, fmt.Errorf("%w: format %d, %d channels, %d Hz, %d bits", ErrNotWAV, h.Format, h.Channels, h.SampleRate, h.BitsPerSample)
			}
			return h, nil
		default:
			if size > maxWAVChunk {
				return h, fmt.Errorf("%w: %q chunk of %d bytes", ErrNotWAV, id, size)
			}
			n, err := r.Discard(int(size + size%2))
			h.HeaderSize += n
			if err != nil {
				return h, fmt.Errorf("%w: %v", ErrNotWAV, err)
			}
		}
	}
}

// wavHeaderSize is the size of the header AppendWAVHeader writes.
const wavHeaderSize = 44

// AppendWAVHeader appends a 44-byte header of 16-bit mono PCM at rate with
// dataSize bytes of samples; StreamingSize when the size is not known.
func AppendWAVHeader(b []byte, rate int, dataSize uint32) []byte {
	riffSize := uint32(StreamingSize)
	if dataSize != StreamingSize {
		riffSize = dataSize + wavHeaderSize - 8
	}
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, riffSize)
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1) // PCM
	b = binary.LittleEndian.AppendUint16(b, 1) // mono
	b = binary.LittleEndian.AppendUint32(b, uint32(rate))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate*2))
	b = binary.LittleEndian.AppendUint16(b, 2)  // block align
	b = binary.LittleEndian.AppendUint16(b, 16) // bits
	b = append(b, "data"...)
	return binary.LittleEndian.AppendUint32(b, dataSize)
}

// FixWAVSizes rewrites, in place, the RIFF and data sizes of a whole WAV
// file held in b to its real length, replacing the placeholders of a
// streamed header.
func FixWAVSizes(b []byte) error {
	h, err := ReadWAVHeader(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return err
	}
	if len(b) > 0xFFFFFFFF-8 {
		return fmt.Errorf("tts: %d bytes do not fit a WAV file", len(b))
	}
	data := len(b) - h.HeaderSize
	data -= data % (int(h.Channels) * int(h.BitsPerSample) / 8) // whole frames only
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)-8))
	binary.LittleEndian.PutUint32(b[h.HeaderSize-4:h.HeaderSize], uint32(data))
	return nil
}
