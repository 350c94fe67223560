package auth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Proxies are the networks of the reverse proxies in front of Marquee
// (MARQUEE_TRUSTED_PROXIES). Only a request whose connection comes from one
// of them has its Forwarded, X-Forwarded-For and X-Forwarded-Proto headers
// read; anyone else could write whatever address they like there, so from
// anyone else they are ignored. The zero value trusts no proxy. Proxies is
// immutable and safe for concurrent use.
type Proxies struct {
	networks []netip.Prefix
}

// NewProxies trusts the proxies in networks.
func NewProxies(networks []netip.Prefix) Proxies {
	return Proxies{networks: slices.Clone(networks)}
}

// String is the networks, comma-separated.
func (p Proxies) String() string {
	items := make([]string, len(p.networks))
	for i, network := range p.networks {
		items[i] = network.String()
	}
	return strings.Join(items, ",")
}

// trusts reports whether addr belongs to a trusted proxy. An IPv4 address
// written as IPv6 (::ffff:10.0.0.1) is the IPv4 address.
func (p Proxies) trusts(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, network := range p.networks {
		if network.Contains(addr) {
			return true
		}
	}
	return false
}

// Client is where a request came from.
type Client struct {
	// Addr is the client's IP address: the connection's, or, behind
	// trusted proxies, the one they forwarded.
	Addr string
	// Proto is the scheme the client used: "https" or "http".
	Proto string
	// Forwarded says whether Addr came from a trusted proxy's headers.
	Forwarded bool
}

// Client says where r came from. From a peer outside the trusted networks,
// it is the peer. From a trusted peer, the client is the rightmost address
// of the forwarding chain that is not a trusted proxy: the chain is the
// Forwarded header's "for" parameters (RFC 7239) when there is one, else
// X-Forwarded-For, followed by the peer; when every address in it is
// trusted, the leftmost one. Each trusted proxy appends whom it heard from,
// so addresses to the right of the first untrusted one were written by
// trusted proxies, and everything to its left by the client, who may lie.
// When the chain cannot be read (a malformed header, or an "unknown" or
// obfuscated node where the client's address should be), the client is the
// peer: never an error, and never an address the client chose.
//
// Proto is "https" when the connection is TLS; else, from a trusted peer,
// the "proto" of the Forwarded element that named the client, or the
// rightmost X-Forwarded-Proto value; else "http".
func (p Proxies) Client(r *http.Request) Client {
	peer := Client{Addr: peerAddr(r), Proto: "http"}
	if r.TLS != nil {
		peer.Proto = "https"
	}
	peerIP, err := netip.ParseAddr(peer.Addr)
	if err != nil || !p.trusts(peerIP) {
		return peer
	}
	var chain []hop
	if values := r.Header.Values("Forwarded"); len(values) > 0 {
		chain, err = parseForwarded(values)
	} else if values := r.Header.Values("X-Forwarded-For"); len(values) > 0 {
		chain, err = parseForwardedFor(values)
		if proto := lastForwardedProto(r.Header.Values("X-Forwarded-Proto")); err == nil && proto != "" {
			for i := range chain {
				chain[i].proto = proto
			}
		}
	}
	if err != nil || len(chain) == 0 {
		return peer
	}
	client := chain[0]
	for i := len(chain) - 1; i >= 0; i-- {
		client = chain[i]
		if !client.addr.IsValid() {
			return peer
		}
		if !p.trusts(client.addr) {
			break
		}
	}
	c := Client{Addr: client.addr.Unmap().String(), Proto: peer.Proto, Forwarded: true}
	if peer.Proto == "http" && client.proto != "" {
		c.Proto = client.proto
	}
	return c
}

// hop is one address of a forwarding chain: addr is invalid for an
// "unknown" or obfuscated node; proto is the scheme it used, when known.
type hop struct {
	addr  netip.Addr
	proto string
}

// peerAddr is the IP address of r's connection (RemoteAddr without its port).
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// parseForwarded reads the "for" and "proto" parameters of every element of
// the Forwarded header lines, in order (RFC 7239 section 4: elements
// separated by commas, parameters by semicolons, values tokens or quoted
// strings). An element without "for" or a malformed one is an error.
func parseForwarded(lines []string) ([]hop, error) {
	var chain []hop
	for _, line := range lines {
		s := line
		for {
			h, seen, rest, err := parseForwardedElement(s)
			if err != nil {
				return nil, err
			}
			if !seen {
				return nil, fmt.Errorf("forwarded element without for=")
			}
			chain = append(chain, h)
			if rest == "" {
				break
			}
			s = rest[1:] // past the comma
		}
	}
	return chain, nil
}

// parseForwardedElement reads one element from the start of s. rest is ""
// at the end of s, else it starts with the comma before the next element.
func parseForwardedElement(s string) (h hop, seenFor bool, rest string, err error) {
	seen := map[string]bool{}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] == ',' {
			return h, seenFor, s, nil
		}
		if s[0] == ';' {
			s = s[1:]
			continue
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return hop{}, false, "", fmt.Errorf("forwarded pair without '='")
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		if !isToken(name) || seen[name] {
			return hop{}, false, "", fmt.Errorf("forwarded parameter %q malformed or repeated", name)
		}
		seen[name] = true
		var value string
		value, s, err = forwardedValue(s[eq+1:])
		if err != nil {
			return hop{}, false, "", err
		}
		switch name {
		case "for":
			seenFor = true
			if h.addr, err = parseNode(value); err != nil {
				return hop{}, false, "", err
			}
		case "proto":
			switch v := strings.ToLower(value); v {
			case "http", "https":
				h.proto = v
			}
		}
		s = strings.TrimLeft(s, " \t")
		if s != "" && s[0] != ';' && s[0] != ',' {
			return hop{}, false, "", fmt.Errorf("forwarded value followed by %q", s[0])
		}
	}
}

// forwardedValue reads a token or a quoted string from the start of s.
func forwardedValue(s string) (value, rest string, err error) {
	if s == "" || s[0] != '"' {
		end := strings.IndexAny(s, ";, \t")
		if end < 0 {
			end = len(s)
		}
		if !isToken(s[:end]) {
			return "", "", fmt.Errorf("forwarded value %q is not a token", s[:end])
		}
		return s[:end], s[end:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", fmt.Errorf("forwarded quoted string ends in a backslash")
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("forwarded quoted string not closed")
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseNode reads a Forwarded node (RFC 7239 section 6): an IPv4 address,
// a bracketed IPv6 address, "unknown" or an obfuscated "_name", each with an
// optional ":port". It returns the invalid Addr for "unknown" and
// obfuscated names.
func parseNode(node string) (netip.Addr, error) {
	name, port := node, ""
	if strings.HasPrefix(node, "[") {
		end := strings.IndexByte(node, ']')
		if end < 0 {
			return netip.Addr{}, fmt.Errorf("forwarded node %q: no closing bracket", node)
		}
		name, port = node[1:end], node[end+1:]
		if port != "" && port[0] != ':' {
			return netip.Addr{}, fmt.Errorf("forwarded node %q: text after the bracket", node)
		}
		addr, err := netip.ParseAddr(name)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("forwarded node %q: not an IPv6 address", node)
		}
		return addr, checkNodePort(node, port)
	}
	if i := strings.IndexByte(node, ':'); i >= 0 {
		name, port = node[:i], node[i:]
	}
	if err := checkNodePort(node, port); err != nil {
		return netip.Addr{}, err
	}
	if strings.EqualFold(name, "unknown") || (strings.HasPrefix(name, "_") && len(name) > 1) {
		return netip.Addr{}, nil
	}
	addr, err := netip.ParseAddr(name)
	if err != nil || !addr.Is4() {
		return netip.Addr{}, fmt.Errorf("forwarded node %q: not an IPv4 address, a bracketed IPv6 one, unknown or _name", node)
	}
	return addr, nil
}

// checkNodePort accepts "", ":" and a port number or an obfuscated "_port".
func checkNodePort(node, port string) error {
	if port == "" {
		return nil
	}
	digits := port[1:]
	if strings.HasPrefix(digits, "_") && len(digits) > 1 {
		return nil
	}
	if digits == "" || len(digits) > 5 || strings.Trim(digits, "0123456789") != "" {
		return fmt.Errorf("forwarded node %q: bad port", node)
	}
	return nil
}

// parseForwardedFor reads X-Forwarded-For lines: comma-separated IP
// addresses, in order. An address with a port (some proxies add one) is
// accepted; anything else is an error.
func parseForwardedFor(lines []string) ([]hop, error) {
	var chain []hop
	for _, line := range lines {
		for item := range strings.SplitSeq(line, ",") {
			item = strings.TrimSpace(item)
			addr, err := netip.ParseAddr(item)
			if err != nil {
				addrPort, portErr := netip.ParseAddrPort(item)
				if portErr != nil {
					return nil, fmt.Errorf("X-Forwarded-For item %q is not an IP address", item)
				}
				addr = addrPort.Addr()
			}
			if addr.Zone() != "" {
				return nil, fmt.Errorf("X-Forwarded-For item %q has a zone", item)
			}
			chain = append(chain, hop{addr: addr})
		}
	}
	return chain, nil
}

// lastForwardedProto is the rightmost X-Forwarded-Proto value when it is
// http or https, the scheme the nearest proxy was reached over; else "".
func lastForwardedProto(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	values := strings.Split(lines[len(lines)-1], ",")
	switch v := strings.ToLower(strings.TrimSpace(values[len(values)-1])); v {
	case "http", "https":
		return v
	}
	return ""
}

type clientKey struct{}

// WithClient returns ctx carrying c, for ClientFrom.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client that WithClient stored in r's context (the
// HTTP server stores it for every request, read through its trusted
// proxies); without one, r's peer, as if no proxy were trusted.
func ClientFrom(r *http.Request) Client {
	if c, ok := r.Context().Value(clientKey{}).(Client); ok {
		return c
	}
	return Proxies{}.Client(r)
}
