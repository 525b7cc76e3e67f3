// Package ratelimit limits request rates per tenant, API key and client IP
// with the generic cell rate algorithm (GCRA), caps open streams per tenant,
// and formats the IETF RateLimit header fields.
//
// # Algorithm
//
// A [Limit] admits Requests per Per with bursts of up to Burst. GCRA keeps a
// single number per bucket, the theoretical arrival time (TAT): the time at
// which the bucket would be full again if no more requests came. With the
// emission interval T = Per/Requests and the burst offset B·T, a request of
// cost n at time now is checked like this:
//
//	tat  := max(stored TAT, now)   // an idle bucket is full: TAT = now
//	next := tat + n·T              // the TAT if the request is admitted
//	if next-now <= B·T {           // within the burst: admit, store next
//		remaining  = (B·T - (next-now)) / T
//		resetAfter = next - now
//	} else {                       // refuse, store nothing
//		retryAfter = next - B·T - now
//	}
//
// From an idle bucket exactly B requests are admitted at once; after that one
// request is admitted every T. There is no timer and no counter to reset: the
// state is one int64 per key, and an entry whose TAT has passed is the same as
// no entry at all, so it can be dropped at any time.
//
// # Burst
//
// Burst is the bucket's capacity: the number of requests admitted at once
// from an idle bucket (schema/tenant.schema.json: minimum 1, default
// requests). A Burst of zero means Requests, the schema's default. Changing a
// limit keeps the stored TAT, so a lower burst takes effect at once and a
// higher one as the bucket refills.
//
// # Atomicity
//
// One request is usually checked against several limits (tenant, key, IP).
// [Store.Allow] takes all of them at once and admits all or nothing: when one
// limit refuses, no bucket is charged, so refused requests never use up the
// quota of the limits that would have admitted them. [Memory] locks the
// shards involved in a fixed order; a Redis store must do the whole check and
// update in one Lua script (see [Store]).
//
// # Headers
//
// [SetHeaders] writes the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers (revision 11), which are Structured
// Field lists of quoted policy names with parameters:
//
//	RateLimit-Policy: "tenant";q=600;w=60, "key";q=120;w=60
//	RateLimit: "tenant";r=59;t=1, "key";r=19;t=1
//
// q and w are the configured rate (Requests per Per, in whole seconds), r is
// the number of requests that would be admitted right now and t the number of
// seconds until the bucket is full again, rounded up. A refused request also
// gets Retry-After in whole seconds, rounded up.
//
// # Client addresses and streams
//
// [ClientIP] finds the client's address behind trusted proxies without
// letting a client spoof it through X-Forwarded-For, and [Streams] caps the
// number of streams a tenant has open at once.
package ratelimit
