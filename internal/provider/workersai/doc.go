// Package workersai is the provider adapter for Cloudflare Workers AI, called
// directly or through Cloudflare AI Gateway.
//
// # Endpoints
//
// Chat and embeddings both use the native "run" endpoint, which takes the
// model's own input schema and answers in the Cloudflare v4 envelope
// ({"result":...,"success":true,"errors":[],"messages":[]}):
//
//	direct:  POST {BaseURL}/accounts/{account_id}/ai/run/{model}
//	gateway: POST {Gateway.BaseURL}/{account_id}/{gateway_id}/workers-ai/{model}
//
// The model keeps its "@" and slashes as path separators
// (".../ai/run/@cf/meta/llama-3.1-8b-instruct"); each segment is
// path-escaped and a model with an empty, "." or ".." segment or a character
// outside [A-Za-z0-9._@:+~-] is refused before any request, so a model name
// can never reach another API path with the account's token.
//
// The OpenAI-compatible endpoints (/ai/v1/chat/completions, and
// /workers-ai/v1/chat/completions through the gateway) are not used here: the
// openai adapter already speaks that format, and the native endpoint is the
// one the Workers AI model schemas, error table and AI Gateway provider page
// document. Streams from the run endpoint of newer models nevertheless carry
// OpenAI-shaped chunks, and the decoder reads both shapes (see below).
//
// # Authentication and AI Gateway headers
//
// The Workers AI API token always goes in "Authorization: Bearer <token>".
// Through AI Gateway the gateway's own token (for an Authenticated Gateway)
// goes in "cf-aig-authorization: Bearer <token>", and the client sends:
//
//	cf-aig-metadata         {"tenant":..,"route":..,"requestId":..}: at most
//	                        three of the five entries the gateway keeps; empty
//	                        values are left out; non-ASCII is \u-escaped
//	cf-aig-cache-ttl        Gateway.CacheTTL in whole seconds (60s minimum)
//	cf-aig-skip-cache       "true" when Gateway.SkipCache is set
//	cf-aig-request-timeout  the time to first byte, in milliseconds: Timeout,
//	                        or less if the caller's deadline is nearer
//
// The response headers cf-aig-cache-status (HIT or MISS) and cf-aig-log-id
// are recorded. A chat Stream reports them through CacheHit, CacheStatus and
// LogID; for embeddings EmbedWithCache returns the cache hit next to the
// vectors. A gateway that wants to mark cache hits asserts the optional
// interfaces
//
//	interface{ CacheHit() bool }  // on the provider.Stream that Chat returns
//	interface {                   // on the provider.Embedder
//		EmbedWithCache(context.Context, *provider.EmbedRequest) (*provider.EmbedResponse, bool, error)
//	}
//
// # Streaming
//
// Chat always asks for {"stream": true} and reads server-sent events with
// internal/sse. A native chunk is {"response":"tok"}; newer models send
// OpenAI-shaped chunks ({"choices":[{"delta":{"content":"tok"}}]}) on the
// same endpoint; both become deltas. Usage comes in a late chunk
// ({"response":"","usage":{...}}), which is cumulative and wins; usage on
// OpenAI-shaped chunks is incremental and is summed only when no native
// usage chunk arrives. Tool calls arrive either whole ({"name",
// "arguments":{...}}) or in OpenAI-style pieces keyed by index; they are
// assembled and returned, complete, on the final delta with FinishReason
// "tool_calls". Reasoning text (delta.reasoning_content) is not answer text
// and is dropped. "data: [DONE]" ends the stream with a final delta that
// carries the finish reason ("stop" if none was seen), tool calls and usage,
// then io.EOF. A stream that ends before [DONE] fails with KindConnection,
// never a quiet io.EOF; a chunk that is not JSON fails with KindProtocol.
//
// If the upstream ignores "stream" and answers with a JSON envelope, its
// result.response (and tool_calls and usage) comes back as a single delta.
//
// ChatRequest.Stop is not sent: the run endpoint's text-generation schema has
// no stop parameter. Passages are put into the system prompt as numbered
// sources for the model to cite as [n].
//
// # Errors
//
// Failures before the stream become *provider.Error, classified first by
// the Workers AI or Cloudflare error code in the envelope's errors[] (read
// from at most 64 KiB of body) and then by HTTP status. Retry-After is
// honoured (provider.RetryAfter: seconds, decimal or not, or an HTTP date); code 3036, the daily free allocation being
// used up, gets a RetryAfter that lasts until the allocation resets at 00:00
// UTC so that the gateway falls back instead of retrying. Redirects are never
// followed, so no credential leaves for another host.
//
// # Timeouts
//
// Config.Timeout (default 60s) bounds the wait for the response to start and,
// during a stream, the wait for each next event; an embeddings call is bounded
// by it as a whole. Either way the failure is KindTimeout. Cancelling the
// caller's context cancels the upstream request at any time.
package workersai
