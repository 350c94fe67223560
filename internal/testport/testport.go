// Package testport hands tests loopback addresses for servers that must
// listen on the same address again after a restart. For tests only.
//
// A port taken from the kernel with 127.0.0.1:0 comes from the ephemeral
// range, the same range the kernel gives every outgoing connection and every
// other listener that asks for port 0: once the test releases it, a parallel
// test may be handed it before the server binds it (again). Addr picks a port
// below the ephemeral range instead, which the kernel never hands out on its
// own; only another caller of Addr could pick the same one, and it chooses at
// random among thousands.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// lowest is the lowest port Addr picks: above the well-known and the
// commonly configured service ports.
const lowest = 10000

// defaultEphemeralLow is the start of Linux's default ephemeral range, used
// when the running system's range cannot be read.
const defaultEphemeralLow = 32768

// Addr returns "127.0.0.1:PORT" with a port that is free now and outside the
// ephemeral range, so it stays free for a server that binds it, stops and
// binds it again during the test.
func Addr(tb testing.TB) string {
	tb.Helper()
	high := ephemeralLow()
	if high <= lowest {
		tb.Fatalf("testport: the ephemeral port range starts at %d, leaving no ports below it", high)
	}
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lowest+rand.IntN(high-lowest)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	tb.Fatalf("testport: no free port between %d and %d", lowest, high)
	return ""
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralLow
	}
	var low, high int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &low, &high); err != nil || low <= 0 {
		return defaultEphemeralLow
	}
	return low
}

// Port is the port of Addr.
func Port(tb testing.TB) int {
	tb.Helper()
	_, port, _ := net.SplitHostPort(Addr(tb))
	n, _ := strconv.Atoi(port)
	return n
}
