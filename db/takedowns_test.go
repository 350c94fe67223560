package db_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"marquee/db"
)

// takedownFixture loads performers 1-3 (benchProfile) with cached images:
// performers 1 and 2 have other URLs but the same bytes, performer 3 bytes
// of its own.
func takedownFixture(t *testing.T, s *db.Store) (profiles []db.Profile, shared, own string) {
	t.Helper()
	ctx := context.Background()
	profiles = benchProfiles(1, 3, 1)
	if _, err := s.UpsertProfiles(ctx, profiles); err != nil {
		t.Fatal(err)
	}
	shared, own = sha256Hex("shared bytes"), sha256Hex("own bytes")
	var states []db.ImageState
	for i, p := range profiles {
		st := cachedImage(p.Thumbnails[0].URL, fetchedEarly)
		st.ContentSHA256 = ptr(shared)
		if i == 2 {
			st.ContentSHA256 = ptr(own)
		}
		states = append(states, st)
	}
	if err := s.UpsertImages(ctx, states); err != nil {
		t.Fatal(err)
	}
	return profiles, shared, own
}

func TestTakeDownPerformer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		profiles, shared, own := takedownFixture(t, s)
		hashOf := func(i int) string { return profiles[i].Thumbnails[0].URLHash }
		p1, err := s.GetByFeedID(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().Add(-time.Hour)

		takedowns := []struct {
			name        string
			in          db.TakedownInput
			wantErr     error
			wantDeleted []string
			wantKept    []string
		}{
			{"by feed id: bytes another performer still uses are kept",
				db.TakedownInput{FeedID: ptr(int64(1)), Reason: "DMCA 1", TakenBy: "cli"}, nil, []string{}, []string{shared}},
			{"by performer id: bytes of its own are deleted",
				db.TakedownInput{PornstarID: ptr(p1.ID + 2), Reason: "DMCA 3", TakenBy: "ops"}, nil, []string{own}, []string{}},
			{"twice is a conflict",
				db.TakedownInput{PornstarID: &p1.ID, Reason: "again", TakenBy: "cli"}, db.ErrConflict, nil, nil},
			{"an unknown performer id is not found",
				db.TakedownInput{PornstarID: ptr(int64(999)), Reason: "x", TakenBy: "cli"}, db.ErrNotFound, nil, nil},
		}
		var ids []int64
		for _, tt := range takedowns {
			td, err := s.TakeDown(ctx, tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s: error %v, want %v", tt.name, err, tt.wantErr)
			}
			if err != nil {
				continue
			}
			ids = append(ids, td.ID)
			if !slices.Equal(td.DeletedFiles, tt.wantDeleted) || !slices.Equal(td.KeptFiles, tt.wantKept) {
				t.Errorf("%s: deleted %v kept %v, want %v and %v", tt.name, td.DeletedFiles, td.KeptFiles, tt.wantDeleted, tt.wantKept)
			}
		}

		invalid := []struct {
			name string
			in   db.TakedownInput
		}{
			{"nothing named", db.TakedownInput{Reason: "x", TakenBy: "cli"}},
			{"two things named", db.TakedownInput{FeedID: ptr(int64(2)), URLHash: ptr(hashOf(1)), Reason: "x", TakenBy: "cli"}},
			{"no reason", db.TakedownInput{FeedID: ptr(int64(2)), Reason: " ", TakenBy: "cli"}},
			{"a malformed hash", db.TakedownInput{URLHash: ptr("ABC"), Reason: "x", TakenBy: "cli"}},
		}
		for _, tt := range invalid {
			var fieldErr *db.FieldError
			if _, err := s.TakeDown(ctx, tt.in); !errors.As(err, &fieldErr) {
				t.Errorf("%s: error %v, want a field error", tt.name, err)
			}
		}

		// Every read path leaves performer 1 out; lookups say why.
		lookups := []struct {
			name string
			get  func() (*db.Pornstar, error)
		}{
			{"by id", func() (*db.Pornstar, error) { return s.Get(ctx, p1.ID) }},
			{"by feed id", func() (*db.Pornstar, error) { return s.GetByFeedID(ctx, 1) }},
			{"by slug", func() (*db.Pornstar, error) { return s.GetBySlug(ctx, p1.Slug) }},
		}
		for _, tt := range lookups {
			if _, err := tt.get(); !errors.Is(err, db.ErrTakenDown) {
				t.Errorf("lookup %s: %v, want ErrTakenDown", tt.name, err)
			}
		}
		lists := []struct {
			name    string
			filter  db.Filter
			want    []int64 // feed ids
			removed bool
		}{
			{"default list", db.Filter{}, []int64{2}, false},
			{"removed=any", db.Filter{Removed: db.RemovedAny}, []int64{2}, false},
			{"search by name", db.Filter{Q: "Performer 1"}, nil, false},
			{"sync walk sees them removed", db.Filter{Removed: db.RemovedAny, UpdatedSince: &before}, []int64{1, 2, 3}, true},
		}
		for _, tt := range lists {
			page, err := s.List(ctx, tt.filter, []db.OrderKey{{Field: db.OrderRank}}, db.Page{First: 10})
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var got []int64
			for _, p := range page.Items {
				got = append(got, *p.ExternalID)
				if tt.removed && *p.ExternalID != 2 && p.RemovedAt == nil {
					t.Errorf("%s: feed id %d is not removed", tt.name, *p.ExternalID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: feed ids %v, want %v", tt.name, got, tt.want)
			}
		}
		facets, err := s.Facets(ctx, db.Filter{}, []string{"hair_color"})
		if err != nil || facets.Total != 1 {
			t.Errorf("facets: total %v, %v; want 1", facets, err)
		}

		// Loads and claims do not bring it back.
		changed := benchProfile(1, 2)
		if _, err := s.UpsertProfiles(ctx, []db.Profile{changed}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, p1.ID); !errors.Is(err, db.ErrTakenDown) {
			t.Errorf("after a load of its profile: %v, want ErrTakenDown", err)
		}
		if err := s.UpsertImages(ctx, []db.ImageState{cachedImage(profiles[0].Thumbnails[0].URL, fetchedLate)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Image(ctx, hashOf(0)); !errors.Is(err, db.ErrTakenDown) {
			t.Errorf("image after a load of its outcome: %v, want ErrTakenDown", err)
		}
		held, records := mustClaim(t, s, "compactor-a", claimAt, []db.ImageClaim{{URLHash: hashOf(0), URL: profiles[0].Thumbnails[0].URL}})
		if held[hashOf(0)] || records[hashOf(0)].Status != db.ImageFailed {
			t.Errorf("claim of a taken-down hash: held %v, record %+v; want a failure, not a claim", held, records[hashOf(0)])
		}
		set, err := s.ActiveTakedowns(ctx)
		if err != nil || !set.FeedIDs[1] || !set.FeedIDs[3] || !set.URLHashes[hashOf(0)] || set.URLHashes[hashOf(1)] {
			t.Errorf("active takedowns: %+v, %v", set, err)
		}

		// Lifted, the next load restores it and its images may be fetched.
		if _, err := s.LiftTakedown(ctx, ids[0], "ops"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LiftTakedown(ctx, ids[0], "ops"); !errors.Is(err, db.ErrConflict) {
			t.Errorf("lifting twice: %v, want ErrConflict", err)
		}
		if _, err := s.Get(ctx, p1.ID); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("lifted, before the next load: %v, want ErrNotFound", err)
		}
		if _, err := s.UpsertProfiles(ctx, []db.Profile{changed}); err != nil {
			t.Fatal(err)
		}
		back, err := s.Get(ctx, p1.ID)
		if err != nil || back.RemovedAt != nil || back.DeletedAt != nil {
			t.Fatalf("restored: %+v, %v", back, err)
		}
		thumbs, err := s.Thumbnails(ctx, []int64{p1.ID})
		if err != nil || len(thumbs[p1.ID]) != len(changed.Thumbnails) {
			t.Errorf("restored thumbnails: %v, %v", thumbs[p1.ID], err)
		}
		held, _ = mustClaim(t, s, "compactor-a", claimAt, []db.ImageClaim{{URLHash: hashOf(0), URL: profiles[0].Thumbnails[0].URL}})
		if !held[hashOf(0)] {
			t.Errorf("claim after the lift: not held")
		}
		list, err := s.Takedowns(ctx)
		if err != nil || len(list) != 2 || list[1].LiftedAt == nil || list[1].TakenBy != "cli" || !slices.Equal(list[1].URLHashes, []string{hashOf(0)}) {
			t.Errorf("takedowns: %+v, %v", list, err)
		}
	})
}

func TestTakeDownImage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		profiles, _, own := takedownFixture(t, s)
		hash := profiles[2].Thumbnails[0].URLHash
		td, err := s.TakeDown(ctx, db.TakedownInput{URLHash: &hash, Reason: "privacy", TakenBy: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(td.DeletedFiles, []string{own}) {
			t.Errorf("deleted %v, want %v", td.DeletedFiles, []string{own})
		}
		if _, err := s.Image(ctx, hash); !errors.Is(err, db.ErrTakenDown) {
			t.Errorf("image: %v, want ErrTakenDown", err)
		}
		if _, err := s.GetByFeedID(ctx, 3); err != nil {
			t.Errorf("its performer stays: %v", err)
		}
		if _, err := s.TakeDown(ctx, db.TakedownInput{URLHash: &hash, Reason: "again", TakenBy: "ops"}); !errors.Is(err, db.ErrConflict) {
			t.Errorf("twice: %v, want ErrConflict", err)
		}
	})
}
