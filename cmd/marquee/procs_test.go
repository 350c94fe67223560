package main

import (
	"log/slog"
	"runtime"
	"testing"
)

// TestAddProcsForBlockingIO: GOMAXPROCS grows by the extra Ps unless the
// environment sets it, which the operator's choice then stays.
func TestAddProcsForBlockingIO(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	quiet := slog.New(slog.DiscardHandler)

	addProcsForBlockingIO(func(string) (string, bool) { return "3", true }, 2, quiet)
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS set in the environment: %d Ps, want the %d it had", got, before)
	}
	addProcsForBlockingIO(func(string) (string, bool) { return "", false }, 2, quiet)
	if got := runtime.GOMAXPROCS(0); got != before+2 {
		t.Fatalf("GOMAXPROCS unset: %d Ps, want %d", got, before+2)
	}
}
