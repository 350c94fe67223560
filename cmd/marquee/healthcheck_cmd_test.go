package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.Write([]byte("ok\n"))
		case r.URL.Path == "/readyz" && ready.Load():
			w.Write([]byte(`{"status":"ready"}`))
		default:
			http.Error(w, `{"status":"not ready","checks":{"database":"down"}}`, http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// Only the port of the listen address matters: ":PORT" is the usual one.
	code, stdout, stderr := runCLI(t.Context(), nil, "healthcheck", "--http-addr", ":"+port)
	if code != exitOK || !strings.Contains(stdout, "200 OK") {
		t.Fatalf("alive: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t.Context(), map[string]string{"MARQUEE_HTTP_ADDR": "0.0.0.0:" + port}, "healthcheck", "--path", "/readyz")
	if code != exitFailure || !strings.Contains(stderr, "503") || !strings.Contains(stderr, "database") {
		t.Fatalf("not ready: exit %d, stderr %q", code, stderr)
	}
	ready.Store(true)
	if code, _, stderr = runCLI(t.Context(), nil, "healthcheck", "--http-addr", ":"+port, "--path", "/readyz"); code != exitOK {
		t.Fatalf("ready: exit %d, stderr %q", code, stderr)
	}

	srv.Close()
	if code, _, stderr = runCLI(t.Context(), nil, "healthcheck", "--http-addr", ":"+port); code != exitFailure || !strings.Contains(stderr, "refused") {
		t.Fatalf("nobody listening: exit %d, stderr %q", code, stderr)
	}
	for _, args := range [][]string{{"--path", "/etc/passwd"}, {"--http-addr", "localhost"}, {"--http-addr", ":0"}, {"extra"}} {
		if code, _, _ := runCLI(t.Context(), nil, append([]string{"healthcheck"}, args...)...); code != exitUsage {
			t.Errorf("healthcheck %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
