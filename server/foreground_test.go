package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"marquee/internal/priority"
)

// TestForeground checks that a request holds the gate's background work
// back until it is answered, and that the probes do not.
func TestForeground(t *testing.T) {
	gate := priority.NewGate(time.Hour)
	srv := New(Options{Foreground: gate})
	background := priority.Background(t.Context(), gate)

	inHandler := make(chan struct{})
	release := make(chan struct{})
	srv.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(inHandler)
		<-release
	}))
	// The readiness check runs inside /readyz: background work asked to
	// yield there must not wait.
	yieldedInProbe := make(chan struct{})
	srv.AddCheck("yield", func(context.Context) error {
		priority.Yield(background)
		close(yieldedInProbe)
		return nil
	})

	httpSrv := httptest.NewServer(srv.Handler())
	defer httpSrv.Close()
	res, err := http.Get(httpSrv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	<-yieldedInProbe
	if yields, _ := gate.Stats(); yields != 0 {
		t.Fatalf("background work waited %d times during /readyz, want 0", yields)
	}

	answered := make(chan struct{})
	go func() {
		defer close(answered)
		if res, err := http.Get(httpSrv.URL + "/slow"); err == nil {
			res.Body.Close()
		}
	}()
	<-inHandler
	yielded := make(chan struct{})
	go func() { defer close(yielded); priority.Yield(background) }()
	select {
	case <-yielded:
		t.Fatal("background work went on while a request was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-answered
	select {
	case <-yielded:
	case <-time.After(waitLimit):
		t.Fatal("background work still waits after the request was answered")
	}
}
