//go:build !unix

package rag

import "os"

// mapSection reads n bytes of f from off: this system has no mapping the
// server uses, so the arrays of the index live in that buffer.
func mapSection(f *os.File, off, n int64) (mem []byte, keep any, aliased bool, err error) {
	return readSection(f, off, n)
}
