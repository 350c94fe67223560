package db

import (
	"context"
	"testing"
	"time"

	"marquee/db/dbtest"
	"marquee/internal/priority"
)

// openInternalStore opens and migrates a store on backend.
func openInternalStore(t *testing.T, backend dbtest.Backend) *Store {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, Options{URL: backend.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	return NewStore(d)
}

// TestStatementsOfBackgroundWorkYield checks that each statement run under
// priority.Background waits while the gate's foreground work runs, and that
// other statements do not.
func TestStatementsOfBackgroundWorkYield(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			s := openInternalStore(t, backend)
			gate := priority.NewGate(time.Hour)
			end := gate.Begin()
			defer end()

			if _, err := s.Create(t.Context(), PornstarInput{PornstarFields: PornstarFields{Name: "Foreground"}}); err != nil {
				t.Fatalf("a write outside background work: %v", err)
			}
			written := make(chan error, 1)
			go func() {
				_, err := s.Create(priority.Background(t.Context(), gate), PornstarInput{PornstarFields: PornstarFields{Name: "Background"}})
				written <- err
			}()
			select {
			case err := <-written:
				t.Fatalf("a background write ran while foreground work was in flight (%v)", err)
			case <-time.After(100 * time.Millisecond):
			}
			end()
			select {
			case err := <-written:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the background write never ran")
			}
			if yields, _ := gate.Stats(); yields == 0 {
				t.Fatal("no statement waited")
			}
		})
	}
}
