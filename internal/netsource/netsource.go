// Package netsource names the source of a request for per-source limits:
// an IPv4 address, or the /64 of an IPv6 address, since one host usually
// holds a whole /64 (RFC 4291 section 2.5.1; RFC 6177). Every per-source
// limit (connections, streams, logins, sign-ups, enrolments) keys by it,
// so an attacker cannot escape one limit by changing the low bits of an
// address that another would count as the same source.
package netsource

import (
	"crypto/sha256"
	"net/netip"
)

// Key returns the key of addr, an IP address with or without a port:
// IPv4 addresses (including IPv4-mapped IPv6) as themselves, IPv6
// addresses as their /64 prefix, zones dropped. Anything that is not an
// address is kept as it is, or hashed when longer than 64 bytes so that
// keys stay short.
func Key(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(addr); perr == nil {
			a, err = ap.Addr(), nil
		}
	}
	if err != nil {
		if len(addr) <= 64 {
			return addr
		}
		h := sha256.Sum256([]byte(addr))
		return string(h[:16])
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
