// Package snap writes and reads the binary sections of a knowledge-base
// image: little-endian integers and floats, length-prefixed strings, and
// arrays of fixed-size numbers aligned to 8 bytes, so that a reader over a
// memory-mapped file can use an array in place instead of copying it.
//
// A Writer counts what it writes and keeps a CRC-32C (Castagnoli) of it; a
// Reader checks every length against what is left and turns any shortfall
// into one sticky error (ErrCorrupt), so that a damaged or foreign image
// fails cleanly instead of panicking or allocating without bound.
package snap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"unsafe"
)

// ErrCorrupt means an image is damaged, truncated or not what it claims.
var ErrCorrupt = errors.New("snap: corrupt image")

// Castagnoli is the CRC-32C table images are checksummed with (hardware
// accelerated on amd64 and arm64).
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// littleEndian reports whether this machine stores numbers as images do,
// so that arrays may be read and written in place.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Writer writes an image section by section.
type Writer struct {
	w   *bufio.Writer
	off int64
	crc uint32
	err error
	buf [8]byte
}

// NewWriter returns a Writer over w, at offset 0.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 1<<20)} }

// Offset returns the number of bytes written.
func (w *Writer) Offset() int64 { return w.off }

// Sum returns the CRC-32C of the bytes written since the last ResetSum.
func (w *Writer) Sum() uint32 { return w.crc }

// ResetSum starts the checksum again from the next byte.
func (w *Writer) ResetSum() { w.crc = 0 }

// Err returns the first error of a write.
func (w *Writer) Err() error { return w.err }

// Flush writes what is buffered and returns the first error.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Write writes p.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.crc = crc32.Update(w.crc, Castagnoli, p[:n])
	w.off += int64(n)
	w.err = err
	return n, err
}

// U8 writes a byte.
func (w *Writer) U8(v uint8) { w.buf[0] = v; _, _ = w.Write(w.buf[:1]) }

// Bool writes a bool as a byte.
func (w *Writer) Bool(v bool) {
	var b uint8
	if v {
		b = 1
	}
	w.U8(b)
}

// U32 writes a uint32.
func (w *Writer) U32(v uint32) {
	binary.LittleEndian.PutUint32(w.buf[:4], v)
	_, _ = w.Write(w.buf[:4])
}

// U64 writes a uint64.
func (w *Writer) U64(v uint64) {
	binary.LittleEndian.PutUint64(w.buf[:8], v)
	_, _ = w.Write(w.buf[:8])
}

// I64 writes an int64.
func (w *Writer) I64(v int64) { w.U64(uint64(v)) }

// F64 writes a float64.
func (w *Writer) F64(v float64) { w.U64(math.Float64bits(v)) }

// String writes a string with its length (uint32).
func (w *Writer) String(s string) {
	w.U32(uint32(len(s)))
	_, _ = io.WriteString(w, s)
}

// Align writes zeros up to the next multiple of n bytes.
func (w *Writer) Align(n int64) {
	var zero [64]byte
	for w.off%n != 0 && w.err == nil {
		_, _ = w.Write(zero[:min(int64(len(zero)), n-w.off%n)])
	}
}

// WriteString writes s without a length.
func (w *Writer) WriteString(s string) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.WriteString(s)
	w.crc = crc32.Update(w.crc, Castagnoli, unsafe.Slice(unsafe.StringData(s), n))
	w.off += int64(n)
	w.err = err
	return n, err
}

// Array writes the elements of a, aligned to 8 bytes; its length is the
// caller's to write. T is a fixed-size number.
func Array[T uint8 | int8 | uint16 | uint32 | uint64 | float32](w *Writer, a []T) {
	w.Align(8)
	Raw(w, a)
}

// Raw writes the elements of a where the Writer is, so that consecutive
// calls after one Align(8) write one array that ReadArray reads.
func Raw[T uint8 | int8 | uint16 | uint32 | uint64 | float32](w *Writer, a []T) {
	if len(a) == 0 {
		return
	}
	size := int(unsafe.Sizeof(a[0]))
	if littleEndian {
		_, _ = w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), len(a)*size))
		return
	}
	for _, v := range a {
		switch size {
		case 1:
			w.U8(uint8(v))
		case 2:
			binary.LittleEndian.PutUint16(w.buf[:2], uint16(v))
			_, _ = w.Write(w.buf[:2])
		case 4:
			if f, ok := any(v).(float32); ok {
				w.U32(math.Float32bits(f))
			} else {
				w.U32(uint32(v))
			}
		case 8:
			w.U64(uint64(v))
		}
	}
}

// Reader reads an image section held in memory (a mapped file or a
// buffer).
type Reader struct {
	b     []byte
	pos   int
	err   error
	alias bool // arrays may point into b
}

// NewReader returns a Reader over b. With alias, arrays that the machine
// can use as they are point into b (b must then outlive them and stay
// unchanged); otherwise every array is copied.
func NewReader(b []byte, alias bool) *Reader { return &Reader{b: b, alias: alias && littleEndian} }

// Err returns the first error: ErrCorrupt wrapped with where it happened.
func (r *Reader) Err() error { return r.err }

// Fail records a corruption the caller found, unless an error came first.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrCorrupt, fmt.Sprintf(format, args...), r.pos)
	}
}

// Offset returns the position of the next read.
func (r *Reader) Offset() int { return r.pos }

// Left returns the bytes not read yet.
func (r *Reader) Left() int { return len(r.b) - r.pos }

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.pos {
		r.Fail("%d bytes past the end", n)
		return nil
	}
	p := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return p
}

// U8 reads a byte.
func (r *Reader) U8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

// Bool reads a bool.
func (r *Reader) Bool() bool { return r.U8() != 0 }

// U32 reads a uint32.
func (r *Reader) U32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// U64 reads a uint64.
func (r *Reader) U64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// I64 reads an int64.
func (r *Reader) I64() int64 { return int64(r.U64()) }

// F64 reads a float64.
func (r *Reader) F64() float64 { return math.Float64frombits(r.U64()) }

// Count reads a uint64 count of items of at least size bytes each and
// checks that so many could fit in what is left.
func (r *Reader) Count(size int) int {
	n := r.U64()
	if r.err == nil && n > uint64(r.Left()/max(size, 1)) {
		r.Fail("count %d does not fit", n)
		return 0
	}
	return int(n)
}

// String reads a length-prefixed string (a copy).
func (r *Reader) String() string { return string(r.take(int(r.U32()))) }

// Bytes returns the next n bytes, in place.
func (r *Reader) Bytes(n int) []byte { return r.take(n) }

// Align skips to the next multiple of n bytes.
func (r *Reader) Align(n int) {
	if pad := (n - r.pos%n) % n; pad > 0 {
		r.take(pad)
	}
}

// ReadArray reads n elements written by Array: in place when the Reader
// may alias (the slice's capacity is its length, so that an append copies
// it), else a copy. It returns nil for n = 0.
func ReadArray[T uint8 | int8 | uint16 | uint32 | uint64 | float32](r *Reader, n int) []T {
	r.Align(8)
	if n == 0 || r.err != nil {
		return nil
	}
	var zero T
	size := int(unsafe.Sizeof(zero))
	if n > r.Left()/size {
		r.Fail("array of %d elements does not fit", n)
		return nil
	}
	p := r.take(n * size)
	if r.alias && uintptr(unsafe.Pointer(&p[0]))%unsafe.Alignof(zero) == 0 {
		s := unsafe.Slice((*T)(unsafe.Pointer(&p[0])), n)
		return s[:n:n]
	}
	out := make([]T, n)
	if littleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), n*size), p)
		return out
	}
	for i := range out {
		q := p[i*size:]
		switch size {
		case 1:
			out[i] = T(q[0])
		case 2:
			out[i] = T(binary.LittleEndian.Uint16(q))
		case 4:
			if _, ok := any(zero).(float32); ok {
				*(*float32)(unsafe.Pointer(&out[i])) = math.Float32frombits(binary.LittleEndian.Uint32(q))
			} else {
				out[i] = T(binary.LittleEndian.Uint32(q))
			}
		case 8:
			out[i] = T(binary.LittleEndian.Uint64(q))
		}
	}
	return out
}

// Strings reads n strings written as one blob and n+1 uint32 offsets
// (WriteStrings): they share one allocation.
func Strings(r *Reader, n int) []string {
	blob := string(r.take(int(r.U64())))
	offs := ReadArray[uint32](r, n+1)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		lo, hi := offs[i], offs[i+1]
		if lo > hi || int(hi) > len(blob) {
			r.Fail("string offsets %d-%d out of range", lo, hi)
			return nil
		}
		out[i] = blob[lo:hi]
	}
	return out
}

// WriteStrings writes ss as one blob and their offsets, for Strings; the
// count is the caller's to write.
func WriteStrings(w *Writer, ss []string) {
	total := 0
	for _, s := range ss {
		total += len(s)
	}
	if total > math.MaxUint32 {
		w.err = cmpErr(w.err, errors.New("snap: strings larger than 4 GiB"))
		return
	}
	w.U64(uint64(total))
	offs := make([]uint32, 0, len(ss)+1)
	at := uint32(0)
	for _, s := range ss {
		offs = append(offs, at)
		at += uint32(len(s))
		_, _ = io.WriteString(w, s)
	}
	offs = append(offs, at)
	Array(w, offs)
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
