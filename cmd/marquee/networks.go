package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// networkList is a comma-separated list of networks in CIDR notation
// (--images-allow-networks), checked when it is set. It keeps its text, so
// that Config stays comparable.
type networkList string

// UnmarshalText sets the list, refusing anything that is not a network in
// CIDR notation with its host bits clear.
func (l *networkList) UnmarshalText(text []byte) error {
	if _, err := parseNetworks(string(text)); err != nil {
		return err
	}
	*l = networkList(text)
	return nil
}

func (l networkList) MarshalText() ([]byte, error) { return []byte(l), nil }

// prefixes returns the networks of the list (checked when it was set).
func (l networkList) prefixes() []netip.Prefix {
	prefixes, _ := parseNetworks(string(l))
	return prefixes
}

// parseNetworks reads comma-separated CIDR networks; spaces around an item
// and empty items are ignored. An address without a prefix length, and a
// network with bits set past its length, are refused rather than guessed at:
// this list opens the compactor to addresses it otherwise refuses.
func parseNetworks(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		network, err := netip.ParsePrefix(item)
		if err != nil {
			if addr, addrErr := netip.ParseAddr(item); addrErr == nil && addr.Zone() == "" {
				return nil, fmt.Errorf("%q is an address, not a network: write %s for it alone", item, netip.PrefixFrom(addr, addr.BitLen()))
			}
			return nil, fmt.Errorf("%q is not a network in CIDR notation, such as 127.0.0.0/8 or fd00::/8", item)
		}
		if masked := network.Masked(); masked != network {
			return nil, fmt.Errorf("%q has bits set past its /%d: write %s", item, network.Bits(), masked)
		}
		out = append(out, network)
	}
	return out, nil
}
