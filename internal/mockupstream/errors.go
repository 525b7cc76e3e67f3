package mockupstream

import (
	"net/http"
	"strconv"
)

// writeError writes OpenAI's error body with status. Empty param and code
// are written as null.
func writeError(w http.ResponseWriter, status int, msg, typ, param, code string) {
	b := appendError(make([]byte, 0, 128+len(msg)), msg, typ, param, code)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// appendError appends {"error":{"message","type","param","code"}}.
func appendError(b []byte, msg, typ, param, code string) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"param":`...)
	b = appendNullString(b, param)
	b = append(b, `,"code":`...)
	b = appendNullString(b, code)
	return append(b, "}}"...)
}

// writeStatusError answers an injected failure the way OpenAI words it.
func writeStatusError(w http.ResponseWriter, status int) {
	msg, typ, code := statusError(status)
	writeError(w, status, msg, typ, "", code)
}

// statusError returns OpenAI's message, type and code for status.
func statusError(status int) (msg, typ, code string) {
	switch status {
	case http.StatusBadRequest:
		return "Invalid request.", "invalid_request_error", ""
	case http.StatusUnauthorized:
		return "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
	case http.StatusForbidden:
		return "You are not allowed to sample from this model.", "invalid_request_error", "model_not_allowed"
	case http.StatusNotFound:
		return "The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"
	case http.StatusRequestTimeout:
		return "Request timed out.", "timeout", ""
	case http.StatusUnprocessableEntity:
		return "Unprocessable request.", "invalid_request_error", ""
	case http.StatusTooManyRequests:
		return "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"
	case http.StatusInternalServerError:
		return "The server had an error while processing your request. Sorry about that!", "server_error", ""
	case http.StatusBadGateway:
		return "Bad gateway.", "server_error", ""
	case http.StatusServiceUnavailable:
		return "The engine is currently overloaded, please try again later.", "server_error", "engine_overloaded"
	case http.StatusGatewayTimeout:
		return "Gateway timeout.", "server_error", ""
	case 529:
		return "Overloaded.", "overloaded_error", ""
	}
	typ = "invalid_request_error"
	if status >= 500 {
		typ = "server_error"
	}
	return http.StatusText(status), typ, ""
}

// badRequest is a 400 in OpenAI's shape.
type badRequest struct {
	status      int // 0: 400
	msg         string
	param, code string
}

func (e *badRequest) Error() string { return e.msg }

func invalid(param, code, msg string) *badRequest {
	return &badRequest{msg: msg, param: param, code: code}
}

func (e *badRequest) write(w http.ResponseWriter) {
	status := e.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeError(w, status, e.msg, "invalid_request_error", e.param, e.code)
}
