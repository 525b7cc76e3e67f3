// Package redis keeps the state that replicas of crispy share in Redis: rate
// limit buckets ([Limits], a ratelimit.Store), open-stream slots ([Streams],
// leases that expire) and budget counters ([Budgets], a gateway.BudgetStore).
// One [DB] holds the connection, the key prefix and the goroutine that
// renews this replica's leases.
//
// # Atomicity
//
// Every check-and-update is one Lua script (EVALSHA, and EVAL when Redis
// answers NOSCRIPT, which loads it again), so it is atomic across all
// replicas: a rate limit check charges the tenant, key and IP buckets
// together or none of them, and a budget reservation fits beside every
// other replica's settled usage and open reservations or is not made.
//
// # Keys
//
// Every key is Prefix + "{tenant}:" + a kind and a name: "rl:" for a GCRA
// bucket, "streams" for a tenant's stream slots, "b:" for budget counters.
// The tenant in braces is a Redis Cluster hash tag, so the keys of one
// script are in one slot. Each key carries a TTL: a bucket expires when it
// is full again (its TAT has passed, plus a second), a lease set twice the
// lease TTL after its last write, and a budget counter a day after its day
// or month ends. Nothing needs sweeping.
//
// # Time
//
// Rate limits run on Redis server time (TIME inside the script) unless
// LimitsOptions.CallerClock is set. One clock for all replicas means clock
// skew between replicas cannot shift a bucket; the caller's clock is kept
// for the conformance suite (ratelimittest), which drives a fake clock and
// checks exact durations. Leases expire on Redis server time too.
//
// GCRA needs nanoseconds, which a Lua number (a float64) cannot hold since
// 1970 exactly; the script splits times into seconds and nanoseconds and
// works with durations relative to now, which are exact up to 2^53 ns
// (104 days) of burst. Longer bursts lose a few nanoseconds.
//
// # Leases
//
// A stream slot and a budget reservation are leases: members of a sorted
// set scored by their expiry. The DB renews the leases this process holds
// every LeaseTTL/3; a replica that dies stops renewing, and its slots and
// reservations lapse within LeaseTTL, after which the next check drops
// them.
//
// # Failures
//
// Client calls have short timeouts and are never retried (a retried script
// could charge twice). After a call could not reach Redis, calls fail at
// once with [ErrUnavailable] for a short backoff (Options.Backoff), so that
// an outage in which connections hang costs one request a timeout, not
// every request. When Redis cannot be reached: [Limits] returns the error
// and the limiter's caller decides (the HTTP layer admits the request, logs
// and counts it); [Streams] caps streams per replica with the same limit,
// logs and counts it; [Budgets] returns the error, and Budgets refuses the
// call with 503 unavailable (fail closed). After the backoff, calls try
// Redis again, so service resumes as soon as Redis does, without a
// restart.
package redis
