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
// internet: the only kind the compactor connects to by default (save the
// guarded ones in public space, see guardedPrefixes). The image
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

// guardedPrefixes are the link-local networks and the addresses of cloud
// instance metadata services, where a machine's credentials answer anyone
// who asks from it, with their NAT64 forms. Only a network named within one
// of them opens it: a network allowed to reach a test server (10.0.0.0/8,
// fc00::/7, even 0.0.0.0/0) never opens a metadata service by containing it.
var guardedPrefixes = withNAT64(
	// Link-local: the metadata service of AWS, GCP, Azure, OpenStack, Oracle,
	// DigitalOcean and others at 169.254.169.254, AWS's container and pod
	// credentials (169.254.170.2, 169.254.170.23), Tencent's, Scaleway's.
	"169.254.0.0/16",
	"fe80::/10",
	"fd00:ec2::254/128",  // AWS instance metadata over IPv6
	"fd00:ec2::23/128",   // AWS EKS Pod Identity Agent over IPv6
	"fd20:ce::254/128",   // GCP metadata over IPv6
	"fd00:42::42/128",    // Scaleway metadata over IPv6
	"100.100.100.200/32", // Alibaba Cloud metadata
	"192.0.0.192/32",     // Oracle Cloud Classic metadata
	"168.63.129.16/32",   // Azure's host endpoint (WireServer): public space, inside every virtual network
)

// nat64Prefix is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a9fe:a9fe
// reaches 169.254.169.254 through a NAT64 gateway.
var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// withNAT64 parses prefixes and adds the NAT64 form of each IPv4 one.
func withNAT64(prefixes ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		out = append(out, p)
		if p.Addr().Is4() {
			embedded := nat64Prefix.Addr().As16()
			v4 := p.Addr().As4()
			copy(embedded[12:], v4[:])
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(embedded), 96+p.Bits()))
		}
	}
	return out
}

// PrivateNetworks are what the deprecated
// MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS allows: loopback, the private IPv4
// networks of RFC 1918, and IPv6 loopback and unique local addresses. The
// metadata addresses among them (fd00:ec2::254, fd20:ce::254, ...) stay
// refused, as for every network that merely contains them.
func PrivateNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"),
	}
}

// addressPolicy decides which addresses the compactor may connect to:
// public internet addresses, the networks allowed, and exact addresses
// allowed; a guarded address (guardedPrefixes) only when it is allowed
// exactly.
type addressPolicy struct {
	// networks are allowed although not public
	// (MARQUEE_IMAGES_ALLOW_NETWORKS), in canonical form: masked, IPv4 as
	// IPv4.
	networks []netip.Prefix
	// allowed are exact addresses (IP and port) allowed although not
	// public: a test's own image server, and nothing else on its host.
	allowed map[netip.AddrPort]bool
}

// newAddressPolicy allows networks and the exact addresses allowed. A
// network must be valid; an IPv4-mapped IPv6 network counts as the IPv4
// network it maps.
func newAddressPolicy(networks []netip.Prefix, allowed []netip.AddrPort) (addressPolicy, error) {
	p := addressPolicy{allowed: map[netip.AddrPort]bool{}}
	for _, network := range networks {
		if !network.IsValid() {
			return addressPolicy{}, fmt.Errorf("invalid network %q", network)
		}
		if network.Addr().Is4In6() && network.Bits() >= 96 {
			network = netip.PrefixFrom(network.Addr().Unmap(), network.Bits()-96)
		}
		p.networks = append(p.networks, network.Masked())
	}
	for _, ap := range allowed {
		p.allowed[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
	}
	return p, nil
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
	addr := ap.Addr()
	if p.allowed[ap] {
		return nil
	}
	if guard, guarded := guardOf(addr); guarded {
		for _, network := range p.networks {
			if network.Contains(addr) && network.Bits() >= guard.Bits() {
				return nil
			}
		}
		return fmt.Errorf("%w: %s is a link-local or cloud metadata address, allowed only by a network within %s",
			ErrForbiddenAddress, ap, guard)
	}
	if isPublic(addr) {
		return nil
	}
	for _, network := range p.networks {
		if network.Contains(addr) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a public internet address", ErrForbiddenAddress, ap)
}

// guardOf returns the widest guarded prefix that holds addr: an allowed
// network that holds addr opens it only when it is at least as narrow, and
// so lies within that prefix.
func guardOf(addr netip.Addr) (netip.Prefix, bool) {
	var guard netip.Prefix
	for _, g := range guardedPrefixes {
		if g.Contains(addr) && (!guard.IsValid() || g.Bits() < guard.Bits()) {
			guard = g
		}
	}
	return guard, guard.IsValid()
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
