package auth

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestProxiesClient(t *testing.T) {
	proxies := NewProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")})
	for _, tc := range []struct {
		name    string
		proxies Proxies
		peer    string
		tls     bool
		headers map[string][]string
		want    Client
	}{
		{"no proxy trusted: the headers are ignored", Proxies{}, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Proto": {"https"}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"an untrusted peer spoofing X-Forwarded-For", proxies, "203.0.113.9:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7"}},
			Client{Addr: "203.0.113.9", Proto: "http"}},
		{"an untrusted peer spoofing Forwarded", proxies, "203.0.113.9:5000",
			false, map[string][]string{"Forwarded": {"for=198.51.100.7;proto=https"}},
			Client{Addr: "203.0.113.9", Proto: "http"}},
		{"a trusted proxy without forwarding headers", proxies, "10.1.1.1:5000",
			false, nil,
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"X-Forwarded-For from a trusted proxy", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Proto": {"https"}},
			Client{Addr: "198.51.100.7", Proto: "https", Forwarded: true}},
		{"the client's own X-Forwarded-For entries are passed over", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"1.2.3.4, 198.51.100.7, 10.2.2.2"}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
		{"X-Forwarded-For over several lines", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"1.2.3.4", "198.51.100.7,10.2.2.2"}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
		{"X-Forwarded-For with a port", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7:4711"}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
		{"every hop trusted: the leftmost", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"10.9.9.9, 10.2.2.2"}},
			Client{Addr: "10.9.9.9", Proto: "http", Forwarded: true}},
		{"the rightmost X-Forwarded-Proto", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Proto": {"http, https"}},
			Client{Addr: "198.51.100.7", Proto: "https", Forwarded: true}},
		{"an X-Forwarded-Proto that is no scheme is ignored", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Proto": {"gopher"}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
		{"Forwarded with a quoted IPv6 address and port", proxies, "[fd00::1]:5000",
			false, map[string][]string{"Forwarded": {`for="[2001:db8:cafe::17]:4711";proto=https;by=10.2.2.2`}},
			Client{Addr: "2001:db8:cafe::17", Proto: "https", Forwarded: true}},
		{"Forwarded with a quoted IPv4 address and port", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {`For="198.51.100.7:4711"`}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
		{"Forwarded over elements and lines: the rightmost untrusted", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {`for=1.2.3.4, for="[2001:db8::7]";proto=https`, `for=10.2.2.2;proto=http`}},
			Client{Addr: "2001:db8::7", Proto: "https", Forwarded: true}},
		{"Forwarded wins over X-Forwarded-For", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {"for=198.51.100.7"}, "X-Forwarded-For": {"198.51.100.99"}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
		{"a trusted peer over IPv4-mapped IPv6", proxies, "[::ffff:10.1.1.1]:5000",
			false, map[string][]string{"X-Forwarded-For": {"::ffff:198.51.100.7"}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
		{"TLS to us is https whatever a proxy says", proxies, "10.1.1.1:5000",
			true, map[string][]string{"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Proto": {"http"}},
			Client{Addr: "198.51.100.7", Proto: "https", Forwarded: true}},
		// Malformed or unusable headers from a trusted proxy: the peer.
		{"X-Forwarded-For that is no address", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7, evil"}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"an empty X-Forwarded-For item", proxies, "10.1.1.1:5000",
			false, map[string][]string{"X-Forwarded-For": {"198.51.100.7,,"}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"Forwarded with an unquoted IPv6 address", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {"for=2001:db8::7"}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"Forwarded with an unclosed quote", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {`for="[2001:db8::7]`}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"Forwarded with a repeated parameter", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {"for=198.51.100.7;for=198.51.100.8"}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"Forwarded with a bad port", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {`for="198.51.100.7:http"`}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"Forwarded without for", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {"proto=https;by=10.2.2.2"}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"Forwarded naming an unknown client", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {"for=unknown, for=10.2.2.2"}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"Forwarded naming an obfuscated client", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {`for="_hidden:_port"`}},
			Client{Addr: "10.1.1.1", Proto: "http"}},
		{"an unknown hop left of the client does not matter", proxies, "10.1.1.1:5000",
			false, map[string][]string{"Forwarded": {"for=unknown, for=198.51.100.7"}},
			Client{Addr: "198.51.100.7", Proto: "http", Forwarded: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for name, values := range tc.headers {
				for _, v := range values {
					r.Header.Add(name, v)
				}
			}
			if got := tc.proxies.Client(r); got != tc.want {
				t.Errorf("Client = %+v, want %+v", got, tc.want)
			}
			// Without a stored client, ClientFrom trusts no proxy.
			if got := ClientFrom(r); got.Addr != peerAddr(r) || got.Forwarded {
				t.Errorf("ClientFrom without WithClient = %+v, want the peer", got)
			}
			if got := ClientFrom(r.WithContext(WithClient(r.Context(), tc.want))); got != tc.want {
				t.Errorf("ClientFrom = %+v, want the stored %+v", got, tc.want)
			}
		})
	}
}
