// Package freeaddr finds a free loopback address for a benchmark program
// to start a server on.
package freeaddr

import "net"

// Get returns a loopback address ("127.0.0.1:port") whose port was free
// a moment ago: the kernel picks it, and the listener is closed before
// returning, for the server to bind.
func Get() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
