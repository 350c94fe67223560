package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestPprof checks that Options.PprofAddr serves the runtime profiles on a
// listener of its own, that the API's address does not serve them, and that
// the profiles' listener closes with the server.
func TestPprof(t *testing.T) {
	srv := New(Options{Addr: "127.0.0.1:0", PprofAddr: "127.0.0.1:0"})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	profiles := "http://" + srv.PprofAddr().String()
	tests := []struct {
		name, url string
		code      int
		contains  string
	}{
		{"index on the profiles' address", profiles + "/debug/pprof/", 200, "goroutine"},
		{"a heap profile", profiles + "/debug/pprof/heap?debug=1", 200, "heap profile"},
		{"a 1 s CPU profile", profiles + "/debug/pprof/profile?seconds=1", 200, ""},
		{"not the API's address", "http://" + srv.Addr().String() + "/debug/pprof/", 404, ""},
		{"nothing else on the profiles' address", profiles + "/metrics", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(tt.url)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Fatalf("GET %s = %d, body %.200q; want %d containing %q", tt.url, code, body, tt.code, tt.contains)
			}
		})
	}

	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, err := http.Get(profiles + "/debug/pprof/"); err == nil {
		t.Fatal("the profiles' address still answers after Run returned")
	}
}

// TestPprofOff checks that without Options.PprofAddr there is no second
// listener.
func TestPprofOff(t *testing.T) {
	srv := New(Options{Addr: "127.0.0.1:0"})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if addr := srv.PprofAddr(); addr != nil {
		t.Fatalf("PprofAddr = %v, want nil", addr)
	}
}

// TestStartPprof checks the profiles' server of a command without a Server
// of its own: it answers until stopped.
func TestStartPprof(t *testing.T) {
	addr, stop, err := StartPprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr.String() + "/debug/pprof/goroutine?debug=1"
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("GET %s = %d %.200q, want the goroutine profile", url, res.StatusCode, body)
	}
	stop()
	if _, err := http.Get(url); err == nil {
		t.Fatal("the profiles still answer after stop")
	}
}
