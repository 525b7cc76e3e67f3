package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// Bounds on what is read from an error answer.
const (
	maxErrorBody    = 64 << 10
	maxMessageBytes = 1024
)

// fail returns a *provider.Error of this client.
func (c *Client) fail(kind provider.Kind, status int, msg string, err error) *provider.Error {
	return &provider.Error{Provider: c.cfg.Name, Kind: kind, Status: status, Message: msg, Err: err}
}

// transportError classifies a failure to get response headers: the
// caller's context first, then the attempt's timeout, then the network.
func (c *Client) transportError(caller context.Context, timedOut bool, err error) error {
	if cerr := caller.Err(); cerr != nil {
		return c.ctxError(cerr)
	}
	if timedOut {
		return c.fail(provider.KindTimeout, 0, "", &timeoutError{c.cfg.Timeout})
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return c.fail(provider.KindTimeout, 0, "", err)
	}
	return c.fail(provider.KindConnection, 0, "", err)
}

// ctxError wraps the caller's context error (see ctxError).
func (c *Client) ctxError(err error) error { return ctxError(c.cfg.Name, err) }

// statusError reads an error answer (up to maxErrorBody) and classifies it.
func (c *Client) statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)) // let the connection be reused
	e := parseError(body)
	msg := e.message
	if msg == "" {
		msg = textMessage(resp.Header.Get("Content-Type"), body)
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	kind := statusKind(resp.StatusCode, e.code, e.typ)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg = fmt.Sprintf("unexpected redirect to %q", resp.Header.Get("Location"))
	}
	if k := c.cfg.APIKey; k != "" {
		msg = strings.ReplaceAll(msg, k, provider.Redacted) // some servers echo the key back
	}
	pe := c.fail(kind, resp.StatusCode, bound(msg), nil)
	pe.RetryAfter, _ = provider.RetryAfter(resp.Header, c.now())
	return pe
}

// statusKind maps an HTTP status, refined by OpenAI's error code or type.
func statusKind(status int, code, typ string) provider.Kind {
	switch {
	case status == http.StatusTooManyRequests:
		if code == "insufficient_quota" || typ == "insufficient_quota" {
			return provider.KindAuth
		}
		return provider.KindRateLimited
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return provider.KindAuth
	case status == http.StatusNotFound:
		return provider.KindNotFound
	case status == http.StatusRequestTimeout:
		return provider.KindTimeout
	case status >= 400 && status < 500:
		return provider.KindBadRequest
	case status >= 500 && status < 600:
		return provider.KindOverloaded
	}
	return provider.KindProtocol
}

// codeKind classifies an error object that came without an HTTP status (in
// a stream) by its code or type; ok is false when neither is known.
func codeKind(code, typ string) (provider.Kind, bool) {
	for _, s := range []string{code, typ} {
		switch s {
		case "insufficient_quota", "invalid_api_key", "authentication_error", "permission_error", "permission_denied":
			return provider.KindAuth, true
		case "rate_limit_exceeded", "rate_limit_error", "requests", "tokens":
			return provider.KindRateLimited, true
		case "model_not_found", "not_found_error", "not_found":
			return provider.KindNotFound, true
		case "invalid_request_error", "context_length_exceeded", "invalid_value", "bad_request":
			return provider.KindBadRequest, true
		case "timeout", "request_timeout":
			return provider.KindTimeout, true
		case "server_error", "api_error", "overloaded_error", "service_unavailable", "engine_overloaded", "internal_error":
			return provider.KindOverloaded, true
		}
	}
	return provider.KindUnknown, false
}

// apiError is what an error body says.
type apiError struct {
	message, typ, code string
	status             int // a numeric code, as some servers send
	found              bool
}

// parseError reads OpenAI's {"error":{"message","type","param","code"}},
// and the variants compatible servers send: {"error":"text"},
// {"message":..., "type":..., "code":400} (vLLM), {"detail":...}.
func parseError(body []byte) apiError {
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Type    json.RawMessage `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &env) != nil {
		return apiError{}
	}
	var e apiError
	if obj := bytes.TrimSpace(env.Error); len(obj) > 0 && obj[0] == '{' {
		var inner struct {
			Message json.RawMessage `json:"message"`
			Type    json.RawMessage `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		if json.Unmarshal(obj, &inner) == nil {
			e.message, e.typ = scalar(inner.Message), scalar(inner.Type)
			e.code, e.status = code(inner.Code)
			e.found = true
			return e
		}
	}
	if s := scalar(env.Error); s != "" {
		e.message, e.found = s, true
	}
	if e.message == "" {
		e.message = scalar(env.Message)
	}
	if e.message == "" {
		e.message = scalar(env.Detail)
	}
	e.typ = scalar(env.Type)
	e.code, e.status = code(env.Code)
	e.found = e.found || e.message != ""
	return e
}

// scalar returns a JSON string's value, a number's or boolean's text, or ""
// (for null, objects and arrays).
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	case '{', '[', 'n':
		return ""
	}
	return string(raw)
}

// code returns an error code as text, and as a status when it is a number
// in the HTTP error range.
func code(raw json.RawMessage) (string, int) {
	s := scalar(raw)
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 400 && n < 600 {
			return "", n
		}
		return "", 0
	}
	return s, 0
}

// textMessage returns a short plain-text or HTML-less body as a message.
func textMessage(contentType string, body []byte) string {
	if strings.Contains(contentType, "html") {
		return ""
	}
	s := strings.TrimSpace(string(body))
	if s == "" || !utf8.ValidString(s) || strings.HasPrefix(s, "<") {
		return ""
	}
	return s
}

// bound cuts a provider message to maxMessageBytes of valid UTF-8 on one
// line.
func bound(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxMessageBytes {
		return s
	}
	cut := maxMessageBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
