package gateway

import (
	"math/rand/v2"
	"time"
)

// Retry timing: exponential backoff with full jitter between attempts on the
// same model, and the longest Retry-After the gateway will wait before it
// prefers to fall back to the next model instead.
const (
	backoffBase       = 100 * time.Millisecond
	backoffMax        = 2 * time.Second
	maxRetryAfterWait = 5 * time.Second
)

// backoff returns the wait before retry number n (1 for the first retry):
// a random duration in [0, min(backoffMax, backoffBase * 2^(n-1))].
func backoff(n int) time.Duration {
	ceiling := min(backoffBase<<min(n-1, 10), backoffMax)
	return rand.N(ceiling + 1)
}
