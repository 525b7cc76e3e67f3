package httpapi

import (
	"net/http"

	"github.com/crispy-enigma/crispy/api"
)

// MaxRequestHead is crispy's limit on a request's head: the request line
// and the header fields, Host included, counted as sent (each field as
// name, ": ", value and CRLF). A larger head gets 431 headers_too_large in
// the envelope. It sits well below MaxHeaderBytes, so that a head between
// the two gets that answer instead of net/http's plain-text one.
const MaxRequestHead = 32 << 10

// MaxHeaderBytes is the http.Server's MaxHeaderBytes. net/http answers a
// head larger than it (give or take the 4 KiB it reads ahead) with a
// plain-text 431 of its own, before any handler runs; see docs/errors.md.
const MaxHeaderBytes = 64 << 10

// headSize returns the size of r's request line and header fields as sent,
// with the blank line that ends them.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// checkHead returns a headers_too_large error if r's head is larger than
// MaxRequestHead, and an invalid_request error if its target is "*", which
// names no resource (net/http itself answers OPTIONS *).
func checkHead(r *http.Request) error {
	if n := headSize(r); n > MaxRequestHead {
		return api.Errorf(api.CodeHeadersTooLarge, "the request line and headers are %d bytes, more than the limit of %d: send long parameters in a request body", n, MaxRequestHead).
			WithDetails(map[string]any{"limit": MaxRequestHead})
	}
	if r.RequestURI == "*" {
		return api.Errorf(api.CodeInvalidRequest, "the request target * names no resource")
	}
	return nil
}
