package builtin

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// errClosed is what Recv returns after Close.
var errClosed = errors.New("builtin: stream closed")

// stream is a pull iterator over an answer composed in advance.
type stream struct {
	ctx    context.Context
	chunks []string
	next   int
	final  provider.Delta
	err    error // io.EOF, ctx.Err() or errClosed, returned again and again
	closed atomic.Bool
}

var _ provider.Stream = (*stream)(nil)

// Recv returns the next word, then the final delta, then io.EOF. Once ctx is
// done it returns ctx.Err(), and after Close an error.
func (s *stream) Recv() (provider.Delta, error) {
	if s.err != nil {
		return provider.Delta{}, s.err
	}
	if s.closed.Load() {
		s.err = errClosed
		return provider.Delta{}, s.err
	}
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return provider.Delta{}, err
	}
	switch {
	case s.next < len(s.chunks):
		s.next++
		return provider.Delta{Text: s.chunks[s.next-1]}, nil
	case s.next == len(s.chunks):
		s.next++
		return s.final, nil
	}
	s.err = io.EOF
	return provider.Delta{}, io.EOF
}

// Close ends the stream. It is safe at any time, more than once, and
// concurrently with Recv.
func (s *stream) Close() error {
	s.closed.Store(true)
	return nil
}
