package db

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/uptrace/bun"
)

// TestChildrenCache: entries serve only the version they were read for,
// each relation is loaded once per version, a performer without any is
// kept as known-empty, children read at another version than the row's
// and failed loads are not kept, and the bound holds.
func TestChildrenCache(t *testing.T) {
	ctx := context.Background()
	cc := newVersionCache[Alias](2)
	thumbCache := newVersionCache[Thumbnail](2)
	var asked [][]int64
	// The database: performer 1 with one alias, 2 with none, 3 without
	// any, each at version 1 unless versions says otherwise.
	versions := map[int64]int64{1: 1, 2: 1, 3: 1}
	loadAliases := func(_ context.Context, _ bun.IDB, ids []int64) (map[int64][]Alias, map[int64]int64, error) {
		asked = append(asked, slices.Clone(ids))
		return map[int64][]Alias{1: {{Alias: "one"}}}, versions, nil
	}
	rows := []*Pornstar{{ID: 1, Version: 1}, {ID: 2, Version: 1}}
	for range 2 {
		got, err := cc.readThrough(ctx, nil, rows, loadAliases)
		if err != nil || len(got) != 2 || got[1][0].Alias != "one" || len(got[2]) != 0 {
			t.Fatalf("got %v, %v", got, err)
		}
	}
	if want := [][]int64{{1, 2}}; !slices.EqualFunc(asked, want, slices.Equal) {
		t.Errorf("loads %v, want %v: the second read should come from the cache", asked, want)
	}

	// The other relation of the same versions is loaded on its own.
	thumbs, err := thumbCache.readThrough(ctx, nil, rows, func(_ context.Context, _ bun.IDB, ids []int64) (map[int64][]Thumbnail, map[int64]int64, error) {
		return map[int64][]Thumbnail{2: {{URL: "u"}}}, versions, nil
	})
	if err != nil || thumbs[2][0].URL != "u" {
		t.Fatalf("thumbnails %v, %v", thumbs, err)
	}

	// A new version is read again, and replaces the entry.
	asked = nil
	versions = map[int64]int64{1: 2, 2: 1, 3: 1}
	newer := []*Pornstar{{ID: 1, Version: 2}, {ID: 2, Version: 1}}
	if _, err := cc.readThrough(ctx, nil, newer, loadAliases); err != nil {
		t.Fatal(err)
	}
	if want := [][]int64{{1}}; !slices.EqualFunc(asked, want, slices.Equal) {
		t.Errorf("loads %v, want %v", asked, want)
	}
	if e := cc.entries[1]; e.version != 2 || thumbCache.entries[1].version == 2 {
		t.Errorf("entry of 1: %+v, want version 2 without thumbnails", e)
	}

	// Children read at another version than the row's (the row from a
	// replica, the children from the primary, or the other way round) are
	// answered but not kept.
	asked = nil
	versions = map[int64]int64{1: 3, 2: 1, 3: 1}
	for range 2 {
		got, err := cc.readThrough(ctx, nil, []*Pornstar{{ID: 1, Version: 4}}, loadAliases)
		if err != nil || got[1][0].Alias != "one" {
			t.Fatalf("got %v, %v", got, err)
		}
	}
	if len(asked) != 2 || cc.entries[1].version != 2 {
		t.Errorf("children of version 3 were kept for version 4: loads %v, entry %+v", asked, cc.entries[1])
	}

	// A failed load keeps nothing.
	boom := errors.New("boom")
	if _, err := cc.readThrough(ctx, nil, []*Pornstar{{ID: 3, Version: 1}},
		func(context.Context, bun.IDB, []int64) (map[int64][]Alias, map[int64]int64, error) {
			return nil, nil, boom
		}); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	if _, ok := cc.entries[3]; ok {
		t.Error("a failed load was kept")
	}

	// The bound.
	if _, err := cc.readThrough(ctx, nil, []*Pornstar{{ID: 3, Version: 1}}, loadAliases); err != nil {
		t.Fatal(err)
	}
	if len(cc.entries) != 2 {
		t.Errorf("%d entries, bound 2", len(cc.entries))
	}

	// Off: every read loads.
	off := newVersionCache[Alias](0)
	asked = nil
	for range 2 {
		if _, err := off.readThrough(ctx, nil, rows, loadAliases); err != nil {
			t.Fatal(err)
		}
	}
	if len(asked) != 2 || len(off.entries) != 0 {
		t.Errorf("a cache turned off loaded %d times and kept %d entries", len(asked), len(off.entries))
	}
}
