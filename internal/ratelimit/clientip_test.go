package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
)

var trusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("fd00::/8"),
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name    string
		remote  string
		xff     []string // X-Forwarded-For fields, in order
		trusted []netip.Prefix
		want    string // "" for the zero Addr
	}{
		{name: "direct client", remote: "203.0.113.7:51234", want: "203.0.113.7"},
		{name: "direct IPv6 client", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "IPv4-mapped peer is unmapped", remote: "[::ffff:203.0.113.7]:443", want: "203.0.113.7"},
		{name: "peer with a zone", remote: "[fe80::1%eth0]:443", want: "fe80::1"},
		{name: "unparsable RemoteAddr", remote: "pipe", want: ""},
		{name: "RemoteAddr without port", remote: "203.0.113.7", want: "203.0.113.7"},

		// Spoofing: only a trusted peer's X-Forwarded-For counts.
		{name: "untrusted peer's XFF is ignored", remote: "203.0.113.7:1", xff: []string{"198.51.100.1"}, trusted: trusted, want: "203.0.113.7"},
		{name: "XFF ignored without trusted proxies", remote: "10.0.0.1:1", xff: []string{"198.51.100.1"}, want: "10.0.0.1"},
		{name: "untrusted peer claiming a trusted address", remote: "203.0.113.7:1", xff: []string{"10.0.0.2"}, trusted: trusted, want: "203.0.113.7"},

		// Through trusted proxies.
		{name: "one proxy", remote: "10.0.0.1:1", xff: []string{"198.51.100.1"}, trusted: trusted, want: "198.51.100.1"},
		{name: "two proxies", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, 10.0.0.2"}, trusted: trusted, want: "198.51.100.1"},
		{name: "forged left-most entries are ignored", remote: "10.0.0.1:1", xff: []string{"1.1.1.1, 2.2.2.2, 198.51.100.1, 10.0.0.2"}, trusted: trusted, want: "198.51.100.1"},
		{name: "forged trusted address left of the client", remote: "10.0.0.1:1", xff: []string{"10.9.9.9, 198.51.100.1"}, trusted: trusted, want: "198.51.100.1"},
		{name: "several fields are one list", remote: "10.0.0.1:1", xff: []string{"1.1.1.1", "198.51.100.1, 10.0.0.3", "10.0.0.2"}, trusted: trusted, want: "198.51.100.1"},
		{name: "all trusted: left-most", remote: "10.0.0.1:1", xff: []string{"10.0.0.3, 10.0.0.2"}, trusted: trusted, want: "10.0.0.3"},
		{name: "trusted peer, no XFF", remote: "10.0.0.1:1", trusted: trusted, want: "10.0.0.1"},
		{name: "IPv6 proxy and client", remote: "[fd00::1]:1", xff: []string{"2001:db8::7, fd00::2"}, trusted: trusted, want: "2001:db8::7"},
		{name: "entries with ports and brackets", remote: "10.0.0.1:1", xff: []string{"[2001:db8::7]:4711, 10.0.0.2:80"}, trusted: trusted, want: "2001:db8::7"},
		{name: "bracketed IPv6 without port", remote: "10.0.0.1:1", xff: []string{"[2001:db8::7]"}, trusted: trusted, want: "2001:db8::7"},
		{name: "IPv4-mapped entry is unmapped", remote: "10.0.0.1:1", xff: []string{"::ffff:198.51.100.1"}, trusted: trusted, want: "198.51.100.1"},
		{name: "mapped trusted proxy is still trusted", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, ::ffff:10.0.0.2"}, trusted: trusted, want: "198.51.100.1"},
		{name: "tabs and spaces", remote: "10.0.0.1:1", xff: []string{" 198.51.100.1 ,\t10.0.0.2\t"}, trusted: trusted, want: "198.51.100.1"},

		// Malformed entries stop the walk: the peer is used.
		{name: "garbage", remote: "10.0.0.1:1", xff: []string{"not-an-ip"}, trusted: trusted, want: "10.0.0.1"},
		{name: "garbage right of the client", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, unknown"}, trusted: trusted, want: "10.0.0.1"},
		{name: "garbage behind a trusted proxy", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, bogus, 10.0.0.2"}, trusted: trusted, want: "10.0.0.1"},
		{name: "garbage left of the client is never read", remote: "10.0.0.1:1", xff: []string{"bogus, 198.51.100.1"}, trusted: trusted, want: "198.51.100.1"},
		{name: "empty entry", remote: "10.0.0.1:1", xff: []string{"198.51.100.1,,10.0.0.2"}, trusted: trusted, want: "10.0.0.1"},
		{name: "empty field", remote: "10.0.0.1:1", xff: []string{""}, trusted: trusted, want: "10.0.0.1"},
		{name: "hostname", remote: "10.0.0.1:1", xff: []string{"example.com"}, trusted: trusted, want: "10.0.0.1"},
		{name: "bracketed IPv4", remote: "10.0.0.1:1", xff: []string{"[198.51.100.1]"}, trusted: trusted, want: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := ratelimit.ClientIP(r, tt.trusted)
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// FuzzClientIP checks that ClientIP never panics, that an untrusted peer is
// always the answer, and that any other answer is an address that appears
// in the request.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "198.51.100.1, 10.0.0.2")
	f.Add("203.0.113.7:1", "10.0.0.2")
	f.Add("[fd00::1]:1", "[2001:db8::7]:4711,fd00::2")
	f.Add("10.0.0.1:1", ",, ,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := ratelimit.ClientIP(r, trusted)
		peer := ratelimit.ClientIP(r, nil)
		if peer.IsValid() && !inPrefixes(peer) && got != peer {
			t.Fatalf("untrusted peer %v: got %v", peer, got)
		}
		if got != peer && !containsAddr(xff, got) {
			t.Fatalf("got %v, which is neither the peer %v nor in %q", got, peer, xff)
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("got %v, want no zone and no IPv4-mapped form", got)
		}
	})
}

func inPrefixes(a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// containsAddr reports whether some comma-separated entry of xff parses to a.
func containsAddr(xff string, a netip.Addr) bool {
	for e := range strings.SplitSeq(xff, ",") {
		e = strings.Trim(e, " \t[]")
		if i := strings.LastIndex(e, "]:"); i >= 0 {
			e = e[:i]
		}
		if b, err := netip.ParseAddr(e); err == nil && b.Unmap().WithZone("") == a {
			return true
		}
		if ap, err := netip.ParseAddrPort(e); err == nil && ap.Addr().Unmap().WithZone("") == a {
			return true
		}
	}
	return false
}

func TestIPKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"203.0.113.7", "ip:203.0.113.7"},
		{"::ffff:203.0.113.7", "ip:203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "ip:2001:db8:1:2::/64"},
		{"fe80::1%eth0", "ip:fe80::/64"},
	}
	for _, tt := range tests {
		if got := ratelimit.IPKey(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("IPKey(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
