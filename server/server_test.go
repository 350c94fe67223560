package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; it is generous on purpose and
// never the thing a test asserts.
const waitLimit = 30 * time.Second

func TestHealthz(t *testing.T) {
	srv := New(Options{})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Fatalf("GET /healthz = %d %q, want 200 \"ok\\n\"", rec.Code, rec.Body.String())
	}
}

func TestReadyz(t *testing.T) {
	slowCheck := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	hungCheck := func(context.Context) error {
		select {} // ignores its context; /readyz must answer all the same
	}
	tests := []struct {
		name       string
		checks     map[string]func(context.Context) error
		wantCode   int
		wantStatus string
		wantChecks map[string]string
	}{
		{
			name:       "no checks",
			wantCode:   200,
			wantStatus: "ready",
			wantChecks: map[string]string{},
		},
		{
			name: "all pass",
			checks: map[string]func(context.Context) error{
				"database": func(context.Context) error { return nil },
				"kafka":    func(context.Context) error { return nil },
			},
			wantCode:   200,
			wantStatus: "ready",
			wantChecks: map[string]string{"database": "ok", "kafka": "ok"},
		},
		{
			name: "one fails",
			checks: map[string]func(context.Context) error{
				"database": func(context.Context) error { return nil },
				"kafka":    func(context.Context) error { return errors.New("no broker answers") },
			},
			wantCode:   503,
			wantStatus: "not ready",
			wantChecks: map[string]string{"database": "ok", "kafka": "no broker answers"},
		},
		{
			name: "slow and hung checks time out",
			checks: map[string]func(context.Context) error{
				"slow": slowCheck,
				"hung": hungCheck,
			},
			wantCode:   503,
			wantStatus: "not ready",
			wantChecks: map[string]string{"slow": "no answer within 50ms", "hung": "no answer within 50ms"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := New(Options{CheckTimeout: 50 * time.Millisecond})
			for name, check := range tt.checks {
				srv.AddCheck(name, check)
			}
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tt.wantCode {
				t.Errorf("code = %d, want %d", rec.Code, tt.wantCode)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if body.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", body.Status, tt.wantStatus)
			}
			if len(body.Checks) != len(tt.wantChecks) {
				t.Errorf("checks = %v, want %v", body.Checks, tt.wantChecks)
			}
			for name, want := range tt.wantChecks {
				if got := body.Checks[name]; got != want {
					t.Errorf("checks[%q] = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestReadyzWhileShuttingDown(t *testing.T) {
	srv := New(Options{})
	srv.AddCheck("database", func(context.Context) error { return nil })
	srv.draining.Store(true)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"status":"shutting down"`) {
		t.Fatalf("GET /readyz while shutting down = %d %q, want 503 shutting down", rec.Code, rec.Body.String())
	}
}

func TestAddCheckDuplicatePanics(t *testing.T) {
	srv := New(Options{})
	srv.AddCheck("database", func(context.Context) error { return nil })
	defer func() {
		if recover() == nil {
			t.Fatal("a second check named database did not panic")
		}
	}()
	srv.AddCheck("database", func(context.Context) error { return nil })
}

func TestMetrics(t *testing.T) {
	srv := New(Options{Version: "v1.2.3", Revision: "abc123"})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`marquee_build_info{goversion="go`,
		`revision="abc123",version="v1.2.3"} 1`,
		"go_goroutines ",
		"process_open_fds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestListenErrorNamesTheAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv := New(Options{Addr: taken.Addr().String()})
	err = srv.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run on a taken port = %v, want an error naming %s and 'address already in use'", err, taken.Addr())
	}
}

// TestGracefulShutdown holds a request in flight, ends Run's context, and
// checks that new connections are refused while the request still completes
// and Run returns nil only after it.
func TestGracefulShutdown(t *testing.T) {
	srv := New(Options{Addr: "127.0.0.1:0", ShutdownTimeout: waitLimit})
	started := make(chan struct{})
	release := make(chan struct{})
	srv.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr().String()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()

	type response struct {
		code int
		body string
		err  error
	}
	slow := make(chan response, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- response{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		slow <- response{resp.StatusCode, string(body), err}
	}()
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("the slow request never reached its handler")
	}

	cancel()
	waitUntilRefused(t, srv.Addr().String())
	select {
	case err := <-runDone:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	default:
	}

	close(release)
	select {
	case got := <-slow:
		if got.err != nil || got.code != 200 || got.body != "finished" {
			t.Fatalf("in-flight request = %d %q %v, want 200 \"finished\"", got.code, got.body, got.err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the in-flight request never completed")
	}
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a graceful shutdown", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the last request finished")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close after Run = %v, want nil", err)
	}
}

// TestShutdownTimeoutCutsOff checks that a request outliving the shutdown
// time-out makes Run report it.
func TestShutdownTimeoutCutsOff(t *testing.T) {
	srv := New(Options{Addr: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond})
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	srv.Handle("GET /stuck", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(started)
		<-release
	}))
	ctx, cancel := context.WithCancel(t.Context())
	runDone := make(chan error, 1)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { runDone <- srv.Run(ctx) }()
	go func() {
		resp, err := http.Get("http://" + srv.Addr().String() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("the stuck request never reached its handler")
	}
	cancel()
	select {
	case err := <-runDone:
		if err == nil || !strings.Contains(err.Error(), "cut off") {
			t.Fatalf("Run = %v, want an error saying requests were cut off", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its shutdown time-out")
	}
}

// waitUntilRefused polls until addr refuses connections: the listener is
// closed, so shutdown has begun.
func waitUntilRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections after shutdown began", addr)
}
