package chat

import (
	"runtime"
	"sync"
	"testing"
)

func TestLocksSerialiseAndForget(t *testing.T) {
	var l locks
	var wg sync.WaitGroup
	inside := map[string]int{}
	var mu sync.Mutex
	for i := range 200 {
		key := []string{"a", "b", "c"}[i%3]
		wg.Go(func() {
			unlock := l.lock(key)
			mu.Lock()
			inside[key]++
			if inside[key] > 1 {
				t.Errorf("two holders of %q", key)
			}
			mu.Unlock()
			runtime.Gosched() // give a second holder, if the lock let one in, the time to show
			mu.Lock()
			inside[key]--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if n := l.len(); n != 0 {
		t.Errorf("%d lock entries left, want 0", n)
	}
}
