package chunk

import (
	"os/exec"
	"runtime"
	"strings"
)

// ResetCache empties the shared segment cache, for cold benchmarks.
func ResetCache() {
	segments.Lock()
	segments.m = make(map[string]int32)
	segments.Unlock()
}

// GOROOT returns the Go root of the toolchain running the tests.
func GOROOT() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.GOROOT()
}
