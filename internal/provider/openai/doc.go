// Package openai is the provider adapter for any endpoint that speaks the
// OpenAI chat completions and embeddings API: OpenAI itself, Ollama, vLLM,
// llama.cpp server, LM Studio, OpenRouter, Cloudflare's OpenAI-compatible
// endpoint.
//
// # Requests
//
// Chat posts to {BaseURL}/chat/completions, always with "stream": true and
// "stream_options": {"include_usage": true}: the gateway assembles answers
// that are not streamed itself, and the usage chunk is how the provider's
// token counts arrive. ChatRequest.MaxTokens is sent as "max_tokens", which
// every compatible server reads; OpenAI's reasoning models want
// "max_completion_tokens" instead and reject it, so leave MaxTokens at 0 for
// them. Passages are put into the system prompt as numbered sources to cite
// as [n]: into the first system message if the conversation starts with one
// (some chat templates read only that), else as a new one. Meta is not sent.
// An assistant message with tool calls and no text is sent with "content":
// null, as OpenAI documents; tool messages carry tool_call_id.
//
// Embed posts to {BaseURL}/embeddings with the inputs as an array,
// "encoding_format": "float" and "dimensions" when set, and returns the
// vectors in input order (sorted by their "index"). A vector of another size
// than the one asked for, a missing or repeated index is KindProtocol.
//
// Authorization is "Bearer <APIKey>" when APIKey is set; Config.Headers are
// added to every request (for OpenRouter's HTTP-Referer, an
// OpenAI-Organization, or a gateway's own auth header). Redirects are never
// followed, so neither the key nor a custom auth header leaves for another
// host.
//
// # Streams
//
// The body is read with internal/sse. Each chat.completion.chunk becomes a
// Delta: content (and refusal text) as Text, finish_reason (normalised to
// "stop", "length", "tool_calls" or "content_filter" where a server uses
// another word), and Usage from the usage chunk. Deltas with nothing in them
// (the first chunk with the role) are skipped. Tool calls arrive in pieces
// keyed by index; they are assembled and returned complete on the delta that
// carries the finish reason (or, if none did, on a last delta before io.EOF),
// and a finish reason of "stop" with tool calls becomes "tool_calls".
//
// "data: [DONE]" ends the stream with io.EOF, and every later Recv returns
// io.EOF again. A stream that ends before [DONE] fails with KindConnection,
// never a quiet io.EOF; a chunk that is not JSON fails with KindProtocol; an
// error object inside the stream ({"error":{...}}) is classified like an
// HTTP error by its code or type, and as KindOverloaded when neither is
// known (the call was accepted, so the failure is the provider's). Errors are
// sticky: once Recv has failed it keeps returning the same error.
//
// If a server ignores "stream" and answers with application/json, the
// chat.completion is returned as a single delta.
//
// # Timeouts and cancellation
//
// Config.Timeout bounds one attempt until the response headers arrive:
// connecting, sending and waiting for the provider to accept the call.
// Expiry is KindTimeout. It does not bound the stream: the time a model
// takes to think and write belongs to the caller's context, which the
// gateway gives the tenant's deadline. An Embed call is bounded by Timeout
// as a whole, since its answer is the whole body.
//
// The caller's context cancels the HTTP request at any time, which closes
// the connection so the provider sees the client leave. A Recv after the
// context is cancelled returns an error matching the context's error (a
// *provider.Error with Err set to it), even if more data was buffered.
// Close releases the connection; it may be called at any time, from any
// goroutine, more than once.
//
// # Errors
//
// Every failure is a *provider.Error with Provider set to Config.Name and,
// for HTTP errors, Status and the provider's own message (from OpenAI's
// {"error":{"message","type","param","code"}} body, read up to 64 KiB):
//
//	400, 413, 422, other 4xx     KindBadRequest
//	401, 403                     KindAuth
//	404                          KindNotFound
//	408, attempt timeout         KindTimeout
//	429                          KindRateLimited, with RetryAfter
//	429 insufficient_quota       KindAuth (the account is out of credit: fall back, do not retry)
//	500, 502, 503, 504, 529, 5xx KindOverloaded, with RetryAfter
//	dial, TLS, reset, cut        KindConnection
//	bad JSON, bad SSE, 3xx       KindProtocol
//
// The API key is replaced by "[redacted]" wherever a provider echoes it
// in a message. RetryAfter comes from "retry-after-ms" (milliseconds) when present, else
// "Retry-After" in seconds or as an HTTP date (provider.RetryAfter). A cancelled caller gets a
// *provider.Error whose Err is context.Canceled (Kind unknown), or
// context.DeadlineExceeded (KindTimeout) when its deadline passed.
package openai
