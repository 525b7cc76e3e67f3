package h1

import "syscall"

// peekAlive reports whether the connection behind rc is open with nothing
// to read: a non-blocking peek would block. It finds a connection the
// server closed (end of file) or wrote to unasked while it sat idle.
func peekAlive(rc syscall.RawConn) bool {
	var buf [1]byte
	alive := false
	err := rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // never wait for the socket to be readable
	})
	return err == nil && alive
}
