package imaging

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress: the image host resolved to, or redirected to, an
// address the compactor must not connect to.
var ErrForbiddenAddress = errors.New("forbidden address")

// nonPublicPrefixes are the ranges, beyond what netip's predicates cover
// (loopback, private, link-local, multicast, unspecified), that no public
// image host has: "this network", CGNAT, IETF protocol assignments,
// documentation, benchmarking, reserved and broadcast, and the IPv6 ranges
// that embed or translate to IPv4 (NAT64, 6to4, Teredo) or are deprecated
// (site-local, IPv4-compatible), which could otherwise smuggle a private
// IPv4 address past the checks.
var nonPublicPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("fec0::/10"),
}

// isPublic reports whether addr is a unicast address of the public
// internet: the only kind the compactor connects to by default. The image
// URLs are third-party input; without this check a feed (or a redirect, or a
// DNS answer) could point the compactor at the metadata service of the cloud
// it runs in, the database, or anything else inside the network.
func isPublic(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsLoopback() || addr.IsPrivate() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() ||
		addr.IsMulticast() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// addressPolicy decides which addresses the compactor may connect to.
type addressPolicy struct {
	// allowPrivate lets it connect anywhere (MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS).
	allowPrivate bool
	// allowed are exact addresses (IP and port) allowed although not public:
	// a test's own image server, and nothing else on its host.
	allowed map[netip.AddrPort]bool
}

// check returns nil when the policy lets the compactor connect to address
// ("ip:port", as a dialer reports it), else an error wrapping
// ErrForbiddenAddress.
func (p addressPolicy) check(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address and port", ErrForbiddenAddress, address)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if p.allowPrivate || p.allowed[ap] || isPublic(ap.Addr()) {
		return nil
	}
	return fmt.Errorf("%w: %s is not a public internet address", ErrForbiddenAddress, ap)
}

// Resolver returns the addresses (IP and port) to connect to for host and
// port, in the order to try them. Tests use one of their own to send real
// image hosts to a local server; by default the system's DNS resolver is used.
type Resolver func(ctx context.Context, host, port string) ([]netip.AddrPort, error)

// guardedDialer connects only where its policy allows. The policy is checked
// in net.Dialer.Control, on the address actually being connected to after
// DNS resolution, for every connection (also those of redirects), so neither
// a DNS answer that changes between checks nor a redirect can get past it.
type guardedDialer struct {
	dialer  net.Dialer
	resolve Resolver // nil: the dialer resolves with the system resolver
}

func newGuardedDialer(policy addressPolicy, resolve Resolver, connectTimeout time.Duration) *guardedDialer {
	return &guardedDialer{
		resolve: resolve,
		dialer: net.Dialer{
			Timeout:   connectTimeout,
			KeepAlive: 30 * time.Second,
			Control: func(network, address string, _ syscall.RawConn) error {
				return policy.check(address)
			},
		},
	}
}

// DialContext connects to address ("host:port"), trying each address the
// host resolves to that the policy allows, in order.
func (d *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d.resolve == nil {
		return d.dialer.DialContext(ctx, network, address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	targets, err := d.resolve(ctx, host, port)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if len(targets) == 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}}
	}
	var firstErr error
	for _, target := range targets {
		conn, err := d.dialer.DialContext(ctx, network, target.String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
