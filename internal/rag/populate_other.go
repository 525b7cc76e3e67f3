//go:build unix && !linux

package rag

// populate is 0 where mmap cannot map every page at once: the first
// queries fault the index in.
const populate = 0
