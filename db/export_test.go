package db_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"marquee/db"
)

// exported is what Export gave: every row in the order given, with its
// children rendered as the APIs show them, and the size of each batch.
type exported struct {
	rows    []db.Pornstar
	lines   []string // one per row: id, version, name, aliases, thumbnails and their image states
	batches []int
}

func exportAll(t testing.TB, s *db.Store, f db.Filter, during func(batch int)) exported {
	t.Helper()
	var out exported
	err := s.Export(context.Background(), f, func(b *db.ExportBatch) error {
		out.batches = append(out.batches, len(b.Items))
		for _, p := range b.Items {
			out.rows = append(out.rows, p)
			out.lines = append(out.lines, describe(p, b.Aliases[p.ID], b.Thumbnails[p.ID], b.Images))
		}
		if during != nil {
			during(len(out.batches))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Export(%+v): %v", f, err)
	}
	return out
}

// describe renders one performer with its children for comparisons.
func describe(p db.Pornstar, aliases []db.Alias, thumbs []db.Thumbnail, images map[string]db.Image) string {
	s := fmt.Sprintf("%d v%d %q removed=%v aliases=[", p.ID, p.Version, p.Name, p.RemovedAt != nil)
	for _, a := range aliases {
		s += fmt.Sprintf("%q ", a.Alias)
	}
	s += "] thumbnails=["
	for _, th := range thumbs {
		status := db.ImagePending
		if img, ok := images[th.URLHash]; ok {
			status = img.Status
		}
		s += fmt.Sprintf("%s %s %s; ", th.Type, th.URL, status)
	}
	return s + "]"
}

// listEvery walks every page of List for f and returns the rows with their
// children described, in id order: what a client paging the list sees.
func listEvery(t testing.TB, s *db.Store, f db.Filter) []string {
	t.Helper()
	ctx := context.Background()
	var rows []db.Pornstar
	page := db.Page{First: db.MaxPageSize}
	for {
		p, err := s.List(ctx, f, nil, page)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		rows = append(rows, p.Items...)
		if !p.HasNextPage {
			break
		}
		page.After = p.Cursors[len(p.Cursors)-1]
	}
	slices.SortFunc(rows, func(a, b db.Pornstar) int { return cmp.Compare(a.ID, b.ID) })
	ids := idsOf(rows)
	aliases, err := s.Aliases(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	thumbs, err := s.Thumbnails(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	images, err := s.ImagesForPornstars(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, p := range rows {
		out[i] = describe(p, aliases[p.ID], thumbs[p.ID], images)
	}
	return out
}

// TestExportBatches checks that Export gives every row once, in id order,
// with its children, in batches of at most ExportBatchRows, at the batch
// boundaries.
func TestExportBatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rows        int
		wantBatches []int
	}{
		{0, nil},
		{1, []int{1}},
		{db.ExportBatchRows, []int{db.ExportBatchRows}},
		{db.ExportBatchRows + 1, []int{db.ExportBatchRows, 1}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d rows", tc.rows), func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, s *db.Store) {
				if tc.rows > 0 {
					mustUpsert(t, s, generatedProfiles(1, tc.rows)...)
				}
				// Some image states, so that they are exported too.
				url := imageURL("ei.phncdn.com", 1)
				if err := s.UpsertImages(context.Background(), []db.ImageState{{URLHash: db.URLHash(url), URL: url,
					Status: db.ImageFailed, Attempts: 5, Error: ptr("HTTP 410")}}); err != nil {
					t.Fatal(err)
				}
				got := exportAll(t, s, db.Filter{}, nil)
				if !slices.Equal(got.batches, tc.wantBatches) {
					t.Errorf("batches %v, want %v", got.batches, tc.wantBatches)
				}
				if !slices.IsSortedFunc(got.rows, func(a, b db.Pornstar) int { return cmp.Compare(a.ID, b.ID) }) {
					t.Error("rows are not in id order")
				}
				if want := listEvery(t, s, db.Filter{}); !slices.Equal(got.lines, want) {
					t.Errorf("export differs from the list's pages: %d rows, want %d\n got %.300v\nwant %.300v", len(got.lines), len(want), got.lines, want)
				}
			})
		})
	}
}

// TestExportFilters checks that Export selects what List selects, filter
// by filter.
func TestExportFilters(t *testing.T) {
	t.Parallel()
	data := newFilterData()
	cases := []struct {
		name   string
		filter db.Filter
	}{
		{"none", db.Filter{}},
		{"q", db.Filter{Q: "b"}},
		{"hair colour", db.Filter{HairColors: []string{"blonde"}}},
		{"range", db.Filter{Ranges: map[string]db.Range{"age": {Min: ptr(int64(30))}}}},
		{"has image", db.Filter{HasImage: ptr(true)}},
		{"removed any", db.Filter{Removed: db.RemovedAny}},
		{"removed only", db.Filter{Removed: db.RemovedOnly}},
		{"nothing matches", db.Filter{Q: "no such performer"}},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		mustUpsert(t, s, data.profiles...)
		if err := s.UpsertImages(context.Background(), data.images); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkRemoved(context.Background(), []int64{data.profiles[0].FeedID}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := exportAll(t, s, tc.filter, nil)
				if want := listEvery(t, s, tc.filter); !slices.Equal(got.lines, want) {
					t.Errorf("export\n %v\nlist\n %v", got.lines, want)
				}
			})
		}
		t.Run("invalid filter", func(t *testing.T) {
			err := s.Export(context.Background(), db.Filter{Removed: "maybe"}, func(*db.ExportBatch) error {
				t.Error("a batch of an invalid filter")
				return nil
			})
			if !errors.Is(err, db.ErrInvalid) {
				t.Errorf("error %v, want ErrInvalid", err)
			}
		})
	})
}

// TestExportSnapshot checks that an export is the database as of its
// start: writes between its batches (a changed, a removed and a new
// performer, and image states) neither repeat nor drop a row and do not
// show in later batches.
func TestExportSnapshot(t *testing.T) {
	t.Parallel()
	const n = db.ExportBatchRows + 100
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		profiles := generatedProfiles(1, n)
		mustUpsert(t, s, profiles...)
		before := listEvery(t, s, db.Filter{})
		last := profiles[n-1] // in the second batch
		got := exportAll(t, s, db.Filter{}, func(batch int) {
			if batch != 1 {
				return
			}
			changed := last
			changed.Name, changed.Aliases = "changed during the export", []string{"new alias"}
			mustUpsert(t, s, changed, generatedProfile(n+1))
			if _, err := s.MarkRemoved(ctx, []int64{profiles[n-2].FeedID}); err != nil {
				t.Fatal(err)
			}
			url := last.Thumbnails[0].URL
			if err := s.UpsertImages(ctx, []db.ImageState{{URLHash: db.URLHash(url), URL: url, Status: db.ImageFailed,
				Attempts: 5, Error: ptr("HTTP 404")}}); err != nil {
				t.Fatal(err)
			}
		})
		if !slices.Equal(got.lines, before) {
			t.Errorf("the export is not the snapshot of its start: %d rows, want %d\n got %.400v\nwant %.400v",
				len(got.lines), len(before), got.lines[len(got.lines)-3:], before[len(before)-3:])
		}
		after := listEvery(t, s, db.Filter{})
		if slices.Equal(after, before) {
			t.Fatal("the writes during the export changed nothing: the test proves nothing")
		}
		if again := exportAll(t, s, db.Filter{}, nil); !slices.Equal(again.lines, after) {
			t.Errorf("an export after the writes differs from the list")
		}
	})
}
