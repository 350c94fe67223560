package db

import (
	"context"
	"strings"
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

// TestIndexFollowsWrites checks that once the discovery index exists, a
// committed write brings it to the new data version without any read
// asking for it; and that without an index, writes build none.
func TestIndexFollowsWrites(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := t.Context()
			s := openInternalStore(t, backend)
			if _, err := s.Create(ctx, PornstarInput{PornstarFields: PornstarFields{Name: "Before The Index"}}); err != nil {
				t.Fatal(err)
			}
			if snap := s.discovery.current.Load(); snap != nil {
				t.Fatal("a write built the index, which no read asked for")
			}
			if err := s.WarmDiscovery(ctx); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"First Follower", "Second Follower"} {
				folded := strings.ToLower(name) // as the index holds names
				if _, err := s.Create(ctx, PornstarInput{PornstarFields: PornstarFields{Name: name}}); err != nil {
					t.Fatal(err)
				}
				var version int64
				if err := s.db.W.NewSelect().Table("data_version").Column("version").Where("id = 1").Scan(ctx, &version); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(30 * time.Second)
				for {
					snap := s.discovery.current.Load()
					if snap.version >= version {
						if len(snap.performers) == 0 || snap.performers[len(snap.performers)-1].name != folded {
							t.Fatalf("index at version %d ends with %q, want %q", snap.version, snap.performers[len(snap.performers)-1].name, folded)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the index stayed at version %d after the write of version %d", snap.version, version)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}
