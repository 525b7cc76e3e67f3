package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client that sent r.
//
// It is the connection's remote address unless that peer is a trusted proxy
// (inside one of the trusted prefixes). Only then is X-Forwarded-For read,
// from the right, since each proxy appends the address it received the
// request from: trusted proxies are skipped and the first untrusted address
// is the client. Addresses to its left were written by the client or by
// untrusted hops and are ignored, so a client cannot choose its own address.
// An entry that is not an IP address (with or without a port) stops the walk
// and the peer is returned. When every entry is trusted, the left-most one is
// returned. Several X-Forwarded-For fields count as one list, in order.
//
// IPv4-mapped IPv6 addresses are unmapped and zones dropped. The result is
// the zero Addr only when r.RemoteAddr is not an address, which net/http
// servers never produce.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok || !isTrusted(peer, trusted) {
		return peer
	}
	client := peer
	fields := r.Header.Values("X-Forwarded-For")
	for i := len(fields) - 1; i >= 0; i-- {
		rest := fields[i]
		for {
			entry := rest
			cut := strings.LastIndexByte(rest, ',')
			if cut >= 0 {
				entry, rest = rest[cut+1:], rest[:cut]
			}
			a, ok := parseAddr(entry)
			if !ok {
				return peer
			}
			if !isTrusted(a, trusted) {
				return a
			}
			client = a
			if cut < 0 {
				break
			}
		}
	}
	return client
}

// parseAddr parses an IP address with an optional port or brackets, as found
// in RemoteAddr and X-Forwarded-For.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
				return netip.Addr{}, false
			}
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !a.Is6() {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IPKey returns the bucket key for a client address: "ip:" and the address
// for IPv4, "ip:" and the /64 prefix for IPv6, since one IPv6 client usually
// holds a whole /64 and could otherwise pick a fresh address per request.
func IPKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}
