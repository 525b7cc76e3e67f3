package chunk

import (
	"os/exec"
	"strings"
)

// ResetCache empties the shared segment cache, for cold benchmarks.
func ResetCache() {
	segments.Lock()
	segments.m = make(map[string]int32)
	segments.Unlock()
}

// GOROOT returns the Go root of the toolchain running the tests, or ""
// when the go command cannot say.
func GOROOT() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
