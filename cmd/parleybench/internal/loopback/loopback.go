// Package loopback keeps load on this machine: it accepts only addresses
// in 127.0.0.0/8, and hands out loopback source addresses to spread
// connections over more ephemeral ports.
package loopback

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
)

var prefix = netip.MustParsePrefix("127.0.0.0/8")

// Host checks that host is an IPv4 loopback address (127.0.0.0/8) or
// "localhost", which it maps to 127.0.0.1. Other names are refused
// rather than resolved, so a name cannot point the load elsewhere.
func Host(host string) (netip.Addr, error) {
	if host == "localhost" {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address in 127.0.0.0/8", host)
	}
	a = a.Unmap()
	if !prefix.Contains(a) {
		return netip.Addr{}, fmt.Errorf("%s is not in 127.0.0.0/8: load is sent to loopback only", a)
	}
	return a, nil
}

// HostPort checks an address such as "127.0.0.1:8080" with Host.
func HostPort(hostport string) error {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	_, err = Host(h)
	return err
}

// URL checks that u is an http or https URL whose host passes Host.
func URL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("%q: only http and https URLs on loopback are allowed", u)
	}
	_, err = Host(p.Hostname())
	return err
}

// Sources returns n source addresses 127.0.0.first, 127.0.0.first+1, …
// Each gives its own range of ephemeral ports to connections from it.
func Sources(first, n int) ([]netip.Addr, error) {
	if first < 1 || n < 1 || first+n-1 > 254 {
		return nil, fmt.Errorf("sources 127.0.0.%d and %d more do not fit in 127.0.0.1-254", first, n-1)
	}
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(first + i)})
	}
	return out, nil
}
