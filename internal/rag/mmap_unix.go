//go:build unix

package rag

import (
	"os"
	"runtime"
	"syscall"
)

// mapping is a memory-mapped section of an image; it is unmapped once
// nothing refers to it.
type mapping struct{ b []byte }

// mapSection maps n bytes of f from off (a multiple of the page size),
// privately: an index may change its arrays in place (compaction), which
// copies the pages it writes and never changes the file. Where mapping
// fails it reads the section instead. Every page is mapped at once where
// the system allows (populate), so that the first query after a start is
// as fast as the next. keep must be held as long as mem is used; aliased
// says whether arrays may point into mem.
func mapSection(f *os.File, off, n int64) (mem []byte, keep any, aliased bool, err error) {
	if n == 0 {
		return nil, nil, false, nil
	}
	b, err := syscall.Mmap(int(f.Fd()), off, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|populate)
	if err != nil {
		return readSection(f, off, n)
	}
	m := &mapping{b: b}
	runtime.AddCleanup(m, func(b []byte) { _ = syscall.Munmap(b) }, b)
	return b, m, true, nil
}
