package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/crispy-enigma/crispy/api"
)

// DefaultMinBodyGrace is how long a request body may take before its rate
// is held to Options.MinBodyRate.
const DefaultMinBodyGrace = 5 * time.Second

// withBodyRate cuts off request bodies that arrive slower than
// Options.MinBodyRate on average once the grace period has passed, so that
// a client trickling a body a few bytes a second holds a connection and an
// in-flight slot for seconds, not for the whole read timeout. The rate is
// enforced with the connection's read deadline: the byte after the first n
// must arrive within the grace period plus n / rate of the request's
// start, so a stalled body is cut off as surely as a slow one. The server's
// own read timeout still applies and is put back once the body ends.
func (s *Server) withBodyRate(next http.Handler) http.Handler {
	if s.opts.MinBodyRate <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		b := &rateBody{ReadCloser: r.Body, w: w, rc: http.NewResponseController(w), start: now, rate: float64(s.opts.MinBodyRate), grace: s.opts.MinBodyGrace}
		if s.opts.ReadTimeout > 0 {
			b.limit = now.Add(s.opts.ReadTimeout)
		}
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// rateBody is a request body held to a minimum average rate.
type rateBody struct {
	io.ReadCloser
	w     http.ResponseWriter
	rc    *http.ResponseController
	start time.Time
	rate  float64       // bytes per second
	grace time.Duration // before the rate applies
	limit time.Time     // the server's read deadline, never passed; zero: none
	n     int64         // bytes read
	off   bool          // the body ended, or deadlines are not supported
}

// Read implements io.Reader.
func (b *rateBody) Read(p []byte) (int, error) {
	if b.off {
		return b.ReadCloser.Read(p)
	}
	deadline := b.start.Add(b.grace + time.Duration(float64(b.n+1)/b.rate*float64(time.Second)))
	if !b.limit.IsZero() && deadline.After(b.limit) {
		deadline = b.limit
	}
	if err := b.rc.SetReadDeadline(deadline); err != nil {
		b.off = true // a writer without deadlines (a test recorder): no minimum
		return b.ReadCloser.Read(p)
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.off = true
		_ = b.rc.SetReadDeadline(b.limit)
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		b.off = true
		b.w.Header().Set("Connection", "close")
		return n, &slowBodyError{rate: int64(b.rate), received: b.n}
	}
	return n, err
}

// slowBodyError is the error of a body cut off by withBodyRate.
type slowBodyError struct {
	rate, received int64
}

func (e *slowBodyError) Error() string {
	return fmt.Sprintf("request body slower than %d bytes/s (%d bytes received)", e.rate, e.received)
}

// apiError is the error's envelope: 408 request_timeout.
func (e *slowBodyError) apiError() *api.Error {
	return api.Errorf(api.CodeRequestTimeout, "the request body arrived slower than %d bytes a second on average and was cut off after %d bytes", e.rate, e.received).
		WithDetails(map[string]any{"minBytesPerSecond": e.rate, "received": e.received})
}
