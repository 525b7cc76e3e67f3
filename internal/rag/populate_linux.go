package rag

import "syscall"

// populate has mmap map every page of a section at once, so that the
// first queries after a load do not fault the index in page by page.
const populate = syscall.MAP_POPULATE
