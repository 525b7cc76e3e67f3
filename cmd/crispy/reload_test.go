package main

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestReloadOnOwnsItsGoroutine checks that the SIGHUP loop reloads on each
// signal and that stop ends its goroutine: serving many times in one
// process leaves no goroutine behind.
func TestReloadOnOwnsItsGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		sig := make(chan os.Signal, 1)
		reloads := make(chan struct{}, 1)
		stop := reloadOn(sig, func() error { reloads <- struct{}{}; return nil })
		sig <- syscall.SIGHUP
		select {
		case <-reloads:
		case <-time.After(5 * time.Second):
			t.Fatal("no reload on SIGHUP")
		}
		stop()
		stop() // a second stop is harmless
		sig <- syscall.SIGHUP
		select {
		case <-reloads:
			t.Fatal("a reload after stop")
		case <-time.After(time.Millisecond):
		}
	}
	// stop returns once the goroutine has exited, so none is left.
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before, %d after 50 loops", before, after)
	}
}
