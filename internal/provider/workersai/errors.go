package workersai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// maxMessage bounds the provider message kept in an error.
const maxMessage = 512

// Workers AI error codes (developers.cloudflare.com/workers-ai/platform/errors)
// and the Cloudflare API and AI Gateway codes seen in front of them.
const (
	codeNoSuchModel       = 5007 // 400 No such model or task
	codeInvalidData       = 5004 // 400 Invalid data type for base64 input
	codeFinetuneFiles     = 3039 // 400 Finetune missing required files
	codeIncompleteRequest = 3003 // 400 Request is missing headers or body
	codePrivateModel      = 5018 // 403 Account not allowed for private model
	codeModelAgreement    = 5016 // 403 User has not agreed to model terms
	codeAccountBlocked    = 3023 // 403 Service unavailable for account
	codePrivateModel2     = 3041 // 403 Account not allowed for private model
	codeDeprecatedSDK     = 5019 // 405 Deprecated SDK version
	codeLoRAUnsupported   = 5005 // 405 Model does not support LoRa
	codeInvalidModelID    = 3042 // 404 The model name is invalid
	codeTooLarge          = 3006 // 413 Request is too large
	codeTimeout           = 3007 // 408 Request timeout
	codeAborted           = 3008 // 408 Request was aborted
	codeAccountLimited    = 3036 // 429 Daily free allocation used up
	codeOutOfCapacity     = 3040 // 429 No more data centers / capacity exceeded

	codeAuthError     = 10000 // Cloudflare API: Authentication error
	codeNoRoute       = 7003  // Cloudflare API: No route for the URI
	codeNoRouteMethod = 7000  // Cloudflare API: No route for that URI
	codeGatewayAuth   = 2009  // AI Gateway: Unauthorized (gateway token)
)

// codeKinds maps the known codes to kinds.
var codeKinds = map[int]provider.Kind{
	codeNoSuchModel:       provider.KindNotFound,
	codeInvalidModelID:    provider.KindNotFound,
	codeNoRoute:           provider.KindNotFound,
	codeNoRouteMethod:     provider.KindNotFound,
	codeInvalidData:       provider.KindBadRequest,
	codeFinetuneFiles:     provider.KindBadRequest,
	codeIncompleteRequest: provider.KindBadRequest,
	codeDeprecatedSDK:     provider.KindBadRequest,
	codeLoRAUnsupported:   provider.KindBadRequest,
	codeTooLarge:          provider.KindBadRequest,
	codePrivateModel:      provider.KindAuth,
	codeModelAgreement:    provider.KindAuth,
	codeAccountBlocked:    provider.KindAuth,
	codePrivateModel2:     provider.KindAuth,
	codeAuthError:         provider.KindAuth,
	codeGatewayAuth:       provider.KindAuth,
	codeTimeout:           provider.KindTimeout,
	codeAborted:           provider.KindConnection,
	codeAccountLimited:    provider.KindRateLimited,
	codeOutOfCapacity:     provider.KindOverloaded,
}

// apiError is one entry of a Cloudflare envelope's errors[].
type apiError struct {
	Code    flexInt `json:"code"`
	Message string  `json:"message"`
}

// flexInt decodes a JSON number or a numeric string; anything else is 0.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 && n < 1e9 {
		*f = flexInt(n)
	}
	return nil
}

// envelope is the Cloudflare v4 response wrapper. AI Gateway's own errors
// use "error" where the API uses "errors"; both are read.
type envelope struct {
	Result  json.RawMessage `json:"result"`
	Success *bool           `json:"success"`
	Errors  []apiError      `json:"errors"`
	Error   json.RawMessage `json:"error"`
}

// failures returns the envelope's errors from either field.
func (e *envelope) failures() []apiError {
	errs := e.Errors
	if len(e.Error) > 0 {
		var list []apiError
		var one apiError
		var text string
		switch {
		case json.Unmarshal(e.Error, &list) == nil:
			errs = append(errs, list...)
		case json.Unmarshal(e.Error, &one) == nil:
			errs = append(errs, one)
		case json.Unmarshal(e.Error, &text) == nil && text != "":
			errs = append(errs, apiError{Message: text})
		}
	}
	return errs
}

// failed reports whether the envelope says the call did not succeed.
func (e *envelope) failed() bool {
	if e.Success != nil {
		return !*e.Success
	}
	return len(e.failures()) > 0
}

// classify turns an error response into a *provider.Error: the first known
// code in errors[] decides the kind, then the HTTP status.
func (c *Client) classify(status int, h http.Header, body []byte) *provider.Error {
	pe := &provider.Error{Provider: c.cfg.Name, Status: status, Kind: kindOfStatus(status)}
	var env envelope
	var errs []apiError
	if json.Unmarshal(bytes.TrimSpace(body), &env) == nil {
		errs = env.failures()
	}
	if kind, code, ok := kindOfCodes(errs); ok {
		pe.Kind = kind
		if code == codeAccountLimited {
			pe.RetryAfter = untilUTCMidnight(c.now())
		}
	}
	pe.Message = errorMessage(errs, body)
	if id := h.Get(headerLogID); id != "" {
		pe.Message = clip(pe.Message+" (ai gateway log "+id+")", maxMessage+64)
	}
	if ra, ok := provider.RetryAfter(h, c.now()); ok {
		pe.RetryAfter = ra
	}
	return pe
}

func kindOfCodes(errs []apiError) (provider.Kind, int, bool) {
	for _, e := range errs {
		if k, ok := codeKinds[int(e.Code)]; ok {
			return k, int(e.Code), true
		}
	}
	return provider.KindUnknown, 0, false
}

// kindOfStatus classifies an HTTP status alone.
func kindOfStatus(status int) provider.Kind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return provider.KindAuth
	case status == http.StatusNotFound:
		return provider.KindNotFound
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout || status == 524:
		return provider.KindTimeout
	case status == http.StatusTooManyRequests:
		return provider.KindRateLimited
	case status >= 500:
		return provider.KindOverloaded
	case status >= 400:
		return provider.KindBadRequest
	case status >= 300 && status < 400:
		return provider.KindProtocol // a redirect, never followed
	}
	return provider.KindUnknown
}

// errorMessage is the envelope's errors as "code: message; ...", or the
// start of a body that is not an envelope, clipped.
func errorMessage(errs []apiError, body []byte) string {
	if len(errs) > 0 {
		parts := make([]string, 0, len(errs))
		for _, e := range errs {
			if e.Code != 0 {
				parts = append(parts, fmt.Sprintf("%d: %s", int(e.Code), e.Message))
			} else {
				parts = append(parts, e.Message)
			}
		}
		return clip(strings.Join(parts, "; "), maxMessage)
	}
	return clip(strings.TrimSpace(string(body)), maxMessage)
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence and
// drops control characters, so that a message is safe in one log line.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// untilUTCMidnight is how long until the daily free allocation resets
// ("10,000 neurons per day, reset at 00:00 UTC").
func untilUTCMidnight(now time.Time) time.Duration {
	now = now.UTC()
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return next.Sub(now)
}
