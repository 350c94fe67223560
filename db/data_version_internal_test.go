package db

import "testing"

// TestMendInFeedOnlyAtTheVersionRead: a count found wrong at a version is
// counted again only while that version is current; a mend of a version
// written since changes nothing.
func TestMendInFeedOnlyAtTheVersionRead(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, d *DB) {
		ctx := t.Context()
		s := NewStore(d)
		s.SetDiscoveryIndex(false)
		for _, name := range []string{"One", "Two", "Three"} {
			if _, err := s.Create(ctx, PornstarInput{PornstarFields: PornstarFields{Name: name}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.db.W.ExecContext(ctx, "UPDATE data_version SET in_feed = 7 WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		read, err := s.DataVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.mendInFeed(ctx, read-1, 7, 3) {
			t.Error("mended at a version older than the current one")
		}
		if n, _ := s.countInFeed(ctx); n != 7 {
			t.Errorf("after a mend at an old version the count is %d, want it left at 7", n)
		}
		if !s.mendInFeed(ctx, read, 7, 3) {
			t.Error("not mended at the current version")
		}
		if n, _ := s.countInFeed(ctx); n != 3 {
			t.Errorf("after the mend the count is %d, want 3", n)
		}
		if now, _ := s.DataVersion(ctx); now != read+1 {
			t.Errorf("after the mend the data version is %d, want %d: answers kept with the wrong total must go", now, read+1)
		}
	})
}
