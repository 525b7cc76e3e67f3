package chat

import "sync"

// locks serialises work per key (a session, an idempotency key): one holder
// at a time, the others wait their turn. Entries live only while held or
// awaited, so memory follows concurrency, not the number of sessions.
type locks struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

// lock blocks until key is free and returns the function that frees it.
func (l *locks) lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*lockEntry)
	}
	e := l.m[key]
	if e == nil {
		e = &lockEntry{}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// len returns the number of keys held or awaited.
func (l *locks) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
