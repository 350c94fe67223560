package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseNetworks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		list    string
		want    []string
		wantErr string
	}{
		{"none", "", nil, ""},
		{"one", "127.0.0.0/8", []string{"127.0.0.0/8"}, ""},
		{"several, with spaces and empty items", " 127.0.0.0/8, 10.0.0.0/8,,fd00::/8 ,", []string{"127.0.0.0/8", "10.0.0.0/8", "fd00::/8"}, ""},
		{"one address", "169.254.169.254/32", []string{"169.254.169.254/32"}, ""},
		{"everything", "0.0.0.0/0,::/0", []string{"0.0.0.0/0", "::/0"}, ""},
		{"an address without a length", "10.0.0.1", nil, `"10.0.0.1" is an address, not a network: write 10.0.0.1/32 for it alone`},
		{"an IPv6 address without a length", "fd00:ec2::254", nil, `"fd00:ec2::254" is an address, not a network: write fd00:ec2::254/128 for it alone`},
		{"host bits set", "10.0.0.1/8", nil, `"10.0.0.1/8" has bits set past its /8: write 10.0.0.0/8`},
		{"a length too long", "10.0.0.0/33", nil, `"10.0.0.0/33" is not a network in CIDR notation`},
		{"a host name", "localhost/8", nil, `"localhost/8" is not a network in CIDR notation`},
		{"a zone", "fe80::%eth0/64", nil, `"fe80::%eth0/64" is not a network in CIDR notation`},
		{"a bad item among good ones", "127.0.0.0/8,private", nil, `"private" is not a network in CIDR notation`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetworks(tc.list)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseNetworks(%q) = %v, %v; want the error %q", tc.list, got, err, tc.wantErr)
				}
				return
			}
			var names []string
			for _, p := range got {
				names = append(names, p.String())
			}
			if err != nil || !slices.Equal(names, tc.want) {
				t.Fatalf("parseNetworks(%q) = %v, %v; want %v", tc.list, names, err, tc.want)
			}
		})
	}
}

// TestAllowedNetworksLog: what the log says about the networks allowed at
// start, and what the deprecated switch now means.
func TestAllowedNetworksLog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		networks networkList
		private  bool
		want     []string
	}{
		{"nothing allowed", "", false, nil},
		{"networks", "127.0.0.0/8,10.0.0.0/8", false, []string{
			`level=WARN msg="the image compactor may fetch from these networks although they are not public (local testing only)" networks="[127.0.0.0/8 10.0.0.0/8]"`,
		}},
		{"the old switch", "", true, []string{
			`level=WARN msg="--images-allow-private-networks (MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS) is deprecated: it allows loopback, RFC 1918 and IPv6 unique local networks only, as --images-allow-networks 127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7 does; link-local and cloud metadata addresses stay refused"`,
			`level=WARN msg="the image compactor may fetch from these networks although they are not public (local testing only)" networks="[127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 ::1/128 fc00::/7]"`,
		}},
		{"both", "169.254.169.254/32", true, []string{
			`is deprecated`,
			`networks="[169.254.169.254/32 127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 ::1/128 fc00::/7]"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
			cfg := defaultConfig()
			cfg.ImagesAllowNetworks, cfg.ImagesAllowPrivateNetworks = tc.networks, tc.private
			logAllowedNetworks(logger, cfg)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("logged %q, want %d lines", lines, len(tc.want))
			}
			for i, want := range tc.want {
				if !strings.Contains(lines[i], want) {
					t.Errorf("line %d: %s\nwant it to contain %s", i, lines[i], want)
				}
			}
		})
	}
}

// TestNetworkListSetting: MARQUEE_IMAGES_ALLOW_NETWORKS and its flag reach
// the configuration; a flag beats the variable.
func TestNetworkListSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []netip.Prefix
	}{
		{"default", nil, nil, nil},
		{"variable", nil, map[string]string{"MARQUEE_IMAGES_ALLOW_NETWORKS": "127.0.0.0/8"}, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		{"flag over variable", []string{"--images-allow-networks", "10.0.0.0/8,fd00::/8"}, map[string]string{"MARQUEE_IMAGES_ALLOW_NETWORKS": "127.0.0.0/8"},
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			if err := runFlags(&cfg).parse(tc.args, envFrom(tc.env)); err != nil {
				t.Fatal(err)
			}
			if got := cfg.ImagesAllowNetworks.prefixes(); !slices.Equal(got, tc.want) {
				t.Errorf("networks %v, want %v", got, tc.want)
			}
		})
	}
}
