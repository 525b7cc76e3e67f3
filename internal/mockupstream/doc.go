// Package mockupstream is a local model server that speaks the OpenAI wire
// format, for the tests of the gateway and its adapters and for the gateway
// benchmark. It answers
//
//	POST /v1/chat/completions   chat.completion, or chat.completion.chunk SSE frames
//	POST /v1/embeddings         deterministic vectors ("dimensions" honoured)
//	GET  /v1/models             the configured model list
//
// with OpenAI's error body ({"error":{"message","type","param","code"}}) for
// a bad request (400), a missing or wrong key (401, when Config.APIKey is
// set), an unknown model (404, when Config.Models is set) and injected
// failures.
//
// # Answers
//
// The reply is Config.Reply or, when that is empty, the words of the last
// user message echoed back. A token is a word with the whitespace before it
// ("Hello", " world"); Config.CompletionTokens > 0 repeats or cuts the reply
// to exactly that many tokens, and the request's max_tokens (or
// max_completion_tokens) cuts it further, with finish_reason "length". Token
// counts are words: a prompt costs 3 tokens plus, per message, 3 plus the
// words of its content, name and tool calls, so usage is deterministic.
//
// A stream is a first chunk with the role, one chunk per token, a chunk with
// the finish reason, then, when stream_options.include_usage is true, a
// chunk with empty choices and the usage (all earlier chunks then carry
// "usage":null), then "data: [DONE]".
//
// # Failures
//
// Failures come from four places, later ones winning: Config's rates
// (ErrorRate, HangRate, MalformedRate, CutRate, drawn from one seeded RNG so
// that they are exclusive and reproducible), the next Step of the script
// (Config.Script, then Server.Enqueue; one step per POST), the Step that
// Config.Decide returns for the request's body, and these request headers:
//
//	X-Mock-Status: 429            answer with this status and an OpenAI error body (200: force success)
//	X-Mock-Retry-After: 1         Retry-After value, sent verbatim (seconds or an HTTP date)
//	X-Mock-Retry-After-Ms: 1500   retry-after-ms value, sent verbatim
//	X-Mock-Hang: 1                never answer; wait for the client to go away
//	X-Mock-Latency: 200ms         wait before the response headers
//	X-Mock-TTFT: 50ms             wait between the headers and the first token
//	X-Mock-TPS: 100               tokens per second after the first
//	X-Mock-Reply: text            the reply
//	X-Mock-Tokens: 12             completion tokens (the reply repeated or cut)
//	X-Mock-Cut-After: 3           close the connection after 3 tokens, without [DONE]
//	X-Mock-Malformed: 2           send a chunk that is not JSON after 2 tokens
//	X-Mock-Stream-Error: 2        send an OpenAI error object after 2 tokens and end
//	X-Mock-Stream-Error-Type: t   the error object's type (default "server_error")
//	X-Mock-Tool-Calls: [...]      answer with tool calls: [{"id","name","arguments"}]
//
// # Observing
//
// Server.Stats counts requests, active requests and streams, and the
// requests whose client went away before the answer ended (with the time of
// the last one); Server.Wait blocks until a condition on the stats holds, so
// a test can assert that a cancelled client call reached the upstream.
// Server.LastRequest returns the last request's method, path, headers and
// body.
package mockupstream
