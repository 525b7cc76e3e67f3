// Package api holds the public wire types of Crispy Enigma, the error codes of
// its envelope, and a small Go client. The server decodes into and encodes
// from these same types; the CLI and the tests use the client.
package api

import (
	"errors"
	"fmt"
)

// ErrorCode is a machine-readable error code. The list is closed: every code
// the server can send is declared here and documented in docs/errors.md.
type ErrorCode string

// The error codes of the envelope, with the HTTP status each maps to.
const (
	CodeInvalidRequest       ErrorCode = "invalid_request"        // 400: malformed, unknown field, wrong type, failed validation
	CodeModelNotAllowed      ErrorCode = "model_not_allowed"      // 400: the request names a model the tenant does not allow
	CodeUnauthenticated      ErrorCode = "unauthenticated"        // 401: missing, malformed or unknown credentials
	CodeBudgetExceeded       ErrorCode = "budget_exceeded"        // 402: the call does not fit the tenant's or key's budget
	CodeForbidden            ErrorCode = "forbidden"              // 403: known key used outside its tenant or scopes
	CodeTTSNotEnabled        ErrorCode = "tts_not_enabled"        // 403: text to speech is off for the tenant
	CodeNotFound             ErrorCode = "not_found"              // 404: no such route or resource in this tenant
	CodeMethodNotAllowed     ErrorCode = "method_not_allowed"     // 405: the route exists with other methods
	CodeRequestTimeout       ErrorCode = "request_timeout"        // 408: the request body arrived slower than the server's minimum rate
	CodeConflict             ErrorCode = "conflict"               // 409: an Idempotency-Key reused for a different request
	CodePayloadTooLarge      ErrorCode = "payload_too_large"      // 413: body over the route's limit
	CodeQuotaExceeded        ErrorCode = "quota_exceeded"         // 413: the write would take the tenant's knowledge base past a quota
	CodeUnsupportedMediaType ErrorCode = "unsupported_media_type" // 415: body is not of an accepted content type
	CodeRateLimited          ErrorCode = "rate_limited"           // 429: a rate limit was hit
	CodeHeadersTooLarge      ErrorCode = "headers_too_large"      // 431: request line and headers over the server's limit
	CodeInternal             ErrorCode = "internal"               // 500: a bug or an unexpected failure; details are logged, not sent
	CodeUnavailable          ErrorCode = "unavailable"            // 503: the server is starting, draining or a dependency is down
	CodeUpstreamError        ErrorCode = "upstream_error"         // 502: every model provider tried failed
	CodeUpstreamTimeout      ErrorCode = "upstream_timeout"       // 504: no model answered within the deadline
	CodeToolTimeout          ErrorCode = "tool_timeout"           // 504: a tool did not finish within its timeout
)

// Codes lists every ErrorCode, in the order of docs/errors.md.
var Codes = []ErrorCode{
	CodeInvalidRequest, CodeModelNotAllowed, CodeUnauthenticated, CodeBudgetExceeded,
	CodeForbidden, CodeTTSNotEnabled, CodeNotFound, CodeMethodNotAllowed, CodeRequestTimeout, CodeConflict, CodePayloadTooLarge, CodeQuotaExceeded,
	CodeUnsupportedMediaType, CodeRateLimited, CodeHeadersTooLarge, CodeInternal, CodeUpstreamError,
	CodeUnavailable, CodeUpstreamTimeout, CodeToolTimeout,
}

// Error is the error object of the envelope. It is also the error type used
// inside the server: a handler returns an *Error and the HTTP layer maps its
// code to a status. The wrapped cause, if any, is logged and never sent.
type Error struct {
	Code    ErrorCode      `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`

	cause error
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal returns an *Error with CodeInternal that keeps cause for the log
// and shows the caller only "internal error".
func Internal(cause error) *Error {
	return &Error{Code: CodeInternal, Message: "internal error", cause: cause}
}

// WithDetails returns a copy of e with details set.
func (e *Error) WithDetails(details map[string]any) *Error {
	c := *e
	c.Details = details
	return &c
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// AsError returns err as an *Error: err itself if it is or wraps one,
// otherwise an internal error that keeps err as its cause.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}
