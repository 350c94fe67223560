package db_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"marquee/db"
)

var (
	fetchedEarly = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	fetchedLate  = fetchedEarly.Add(90 * time.Minute)
)

func cachedImage(url string, at time.Time) db.ImageState {
	return db.ImageState{
		URLHash: db.URLHash(url), URL: url, Status: db.ImageCached,
		ContentSHA256: ptr(sha256Hex("bytes of " + url)), ContentType: ptr("image/jpeg"),
		Bytes: ptr(int64(48_213)), Width: ptr(int32(234)), Height: ptr(int32(344)),
		Attempts: 1, FetchedAt: &at,
	}
}

func failedImage(url string, at time.Time) db.ImageState {
	return db.ImageState{
		URLHash: db.URLHash(url), URL: url, Status: db.ImageFailed,
		Attempts: 5, Error: ptr("GET: HTTP 503 Service Unavailable after 5 attempts"), FetchedAt: &at,
	}
}

// imageStateDiff describes how got differs from want; "" when equal. Times
// compare as instants.
func imageStateDiff(want, got db.ImageState) string {
	var diffs []string
	if (want.FetchedAt == nil) != (got.FetchedAt == nil) ||
		(want.FetchedAt != nil && !want.FetchedAt.Equal(*got.FetchedAt)) {
		diffs = append(diffs, fmt.Sprintf("FetchedAt: got %v, want %v", got.FetchedAt, want.FetchedAt))
	}
	want.FetchedAt, got.FetchedAt = nil, nil
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range wv.NumField() {
		if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", wv.Type().Field(i).Name, show(gv.Field(i)), show(wv.Field(i))))
		}
	}
	return strings.Join(diffs, "; ")
}

func TestUpsertImages(t *testing.T) {
	t.Parallel()
	type testCase struct {
		name string
		// before are batches written first; upsert is the call under test.
		before [][]db.ImageState
		upsert []db.ImageState
		want   db.ImageState
		// wantVersion is the stored version afterwards; wantWrite says
		// whether the call under test writes (INSERT or UPDATE).
		wantVersion int64
		wantWrite   bool
	}
	var tests []testCase
	add := func(name string, build func(url string) testCase) {
		url := fmt.Sprintf("https://ei.phncdn.com/pics/(m=case%d)(mh=X_y=)thumb_%d.jpg", len(tests), len(tests))
		tc := build(url)
		tc.name = name
		tests = append(tests, tc)
	}
	add("insert a cached image", func(url string) testCase {
		return testCase{upsert: []db.ImageState{cachedImage(url, fetchedEarly)}, want: cachedImage(url, fetchedEarly), wantVersion: 1, wantWrite: true}
	})
	add("insert a failed image", func(url string) testCase {
		return testCase{upsert: []db.ImageState{failedImage(url, fetchedEarly)}, want: failedImage(url, fetchedEarly), wantVersion: 1, wantWrite: true}
	})
	add("a newer outcome overwrites", func(url string) testCase {
		return testCase{before: [][]db.ImageState{{cachedImage(url, fetchedEarly)}}, upsert: []db.ImageState{failedImage(url, fetchedLate)},
			want: failedImage(url, fetchedLate), wantVersion: 2, wantWrite: true}
	})
	add("a failed image cached on a later run", func(url string) testCase {
		return testCase{before: [][]db.ImageState{{failedImage(url, fetchedEarly)}}, upsert: []db.ImageState{cachedImage(url, fetchedLate)},
			want: cachedImage(url, fetchedLate), wantVersion: 2, wantWrite: true}
	})
	add("the same outcome fetched again later moves fetched_at", func(url string) testCase {
		return testCase{before: [][]db.ImageState{{failedImage(url, fetchedEarly)}}, upsert: []db.ImageState{failedImage(url, fetchedLate)},
			want: failedImage(url, fetchedLate), wantVersion: 2, wantWrite: true}
	})
	add("an older outcome does not overwrite a newer one", func(url string) testCase {
		return testCase{before: [][]db.ImageState{{cachedImage(url, fetchedLate)}}, upsert: []db.ImageState{failedImage(url, fetchedEarly)},
			want: cachedImage(url, fetchedLate), wantVersion: 1}
	})
	add("an older outcome later in the same batch is ignored", func(url string) testCase {
		return testCase{upsert: []db.ImageState{cachedImage(url, fetchedLate), failedImage(url, fetchedEarly)},
			want: cachedImage(url, fetchedLate), wantVersion: 1, wantWrite: true}
	})
	add("a newer outcome later in the same batch wins", func(url string) testCase {
		return testCase{upsert: []db.ImageState{failedImage(url, fetchedEarly), cachedImage(url, fetchedLate)},
			want: cachedImage(url, fetchedLate), wantVersion: 1, wantWrite: true}
	})
	add("an outcome without fetched_at does not replace a timed one", func(url string) testCase {
		undated := failedImage(url, fetchedEarly)
		undated.FetchedAt = nil
		return testCase{before: [][]db.ImageState{{cachedImage(url, fetchedEarly)}}, upsert: []db.ImageState{undated},
			want: cachedImage(url, fetchedEarly), wantVersion: 1}
	})
	add("identical re-upsert writes nothing", func(url string) testCase {
		return testCase{before: [][]db.ImageState{{cachedImage(url, fetchedEarly)}}, upsert: []db.ImageState{cachedImage(url, fetchedEarly)},
			want: cachedImage(url, fetchedEarly), wantVersion: 1}
	})
	add("identical re-upsert with nanoseconds writes nothing", func(url string) testCase {
		at := fetchedEarly.Add(123_456_789 * time.Nanosecond)
		want := cachedImage(url, at.Truncate(time.Microsecond))
		return testCase{before: [][]db.ImageState{{cachedImage(url, at)}}, upsert: []db.ImageState{cachedImage(url, at)},
			want: want, wantVersion: 1}
	})
	add("replayed twice in one batch", func(url string) testCase {
		return testCase{before: [][]db.ImageState{{failedImage(url, fetchedEarly)}},
			upsert: []db.ImageState{failedImage(url, fetchedEarly), failedImage(url, fetchedEarly)},
			want:   failedImage(url, fetchedEarly), wantVersion: 1}
	})
	add("fetched_at in another zone is the same instant", func(url string) testCase {
		return testCase{upsert: []db.ImageState{cachedImage(url, fetchedLate.In(time.FixedZone("CEST", 2*3600)))},
			want: cachedImage(url, fetchedLate), wantVersion: 1, wantWrite: true}
	})
	add("every optional field unknown", func(url string) testCase {
		bare := db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageFailed}
		return testCase{upsert: []db.ImageState{bare}, want: bare, wantVersion: 1, wantWrite: true}
	})
	add("64-bit size and a long error", func(url string) testCase {
		st := failedImage(url, fetchedEarly)
		st.Bytes, st.Error = ptr(int64(1<<40+1)), ptr(strings.Repeat("é", 16_000))
		return testCase{upsert: []db.ImageState{st}, want: st, wantVersion: 1, wantWrite: true}
	})

	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		log := logStatements(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, batch := range tt.before {
					if err := s.UpsertImages(ctx, batch); err != nil {
						t.Fatalf("UpsertImages (before): %v", err)
					}
				}
				var stored *db.Image
				if len(tt.before) > 0 {
					var err error
					if stored, err = s.Image(ctx, tt.want.URLHash); err != nil {
						t.Fatal(err)
					}
				}
				log.Reset()
				if err := s.UpsertImages(ctx, tt.upsert); err != nil {
					t.Fatalf("UpsertImages: %v", err)
				}
				if dml := log.dml(); (len(dml) > 0) != tt.wantWrite {
					t.Errorf("UpsertImages issued %d writes, want writes: %v: %q", len(dml), tt.wantWrite, shorten(dml))
				}
				got, err := s.Image(ctx, tt.want.URLHash)
				if err != nil {
					t.Fatalf("Image: %v", err)
				}
				if diff := imageStateDiff(tt.want, got.ImageState); diff != "" {
					t.Errorf("stored image differs: %s", diff)
				}
				if got.Version != tt.wantVersion {
					t.Errorf("version = %d, want %d", got.Version, tt.wantVersion)
				}
				if got.FetchedAt != nil {
					checkUTC(t, "FetchedAt", *got.FetchedAt)
				}
				checkUTC(t, "CreatedAt", got.CreatedAt)
				checkUTC(t, "UpdatedAt", got.UpdatedAt)
				if stored != nil && !tt.wantWrite && !got.UpdatedAt.Equal(stored.UpdatedAt) {
					t.Errorf("updated_at moved from %v to %v without a change", stored.UpdatedAt, got.UpdatedAt)
				}
				images, err := s.Images(ctx, []string{tt.want.URLHash})
				if err != nil {
					t.Fatal(err)
				}
				if img, ok := images[tt.want.URLHash]; !ok || img.Version != got.Version {
					t.Errorf("Images = %+v, want the row Image returns", images)
				}
			})
		}
		t.Run("empty batch", func(t *testing.T) {
			log.Reset()
			if err := s.UpsertImages(ctx, nil); err != nil {
				t.Errorf("UpsertImages(nil) = %v", err)
			}
			if all := log.All(); len(all) != 0 {
				t.Errorf("UpsertImages(nil) ran %q", shorten(all))
			}
		})
	})
}

func TestImageNotFoundIsPending(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		known := cachedImage(designVectorURL, fetchedEarly)
		if err := s.UpsertImages(ctx, []db.ImageState{known}); err != nil {
			t.Fatal(err)
		}
		pending := db.URLHash(imageURL("ei.phncdn.com", 5))
		for _, hash := range []string{pending, "", "not a hash", strings.ToUpper(designVectorHash)} {
			if img, err := s.Image(ctx, hash); !errors.Is(err, db.ErrNotFound) || img != nil {
				t.Errorf("Image(%q) = %+v, %v; want ErrNotFound", hash, img, err)
			}
		}
		if img, err := s.Image(ctx, designVectorHash); err != nil || img.Status != db.ImageCached {
			t.Errorf("Image(design vector) = %+v, %v", img, err)
		}
		images, err := s.Images(ctx, []string{pending, designVectorHash})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := images[pending]; ok || len(images) != 1 {
			t.Errorf("Images = %v, want only the known image", images)
		}
	})
}

func TestUpsertImagesInvalid(t *testing.T) {
	t.Parallel()
	url := imageURL("ei.phncdn.com", 77)
	tests := []struct {
		name   string
		change func(st *db.ImageState)
		field  string
	}{
		{"upper-case URL hash", func(st *db.ImageState) { st.URLHash = strings.ToUpper(st.URLHash) }, "url_hash"},
		{"short URL hash", func(st *db.ImageState) { st.URLHash = st.URLHash[:63] }, "url_hash"},
		{"URL hash not hex", func(st *db.ImageState) { st.URLHash = strings.Repeat("g", 64) }, "url_hash"},
		{"empty URL hash", func(st *db.ImageState) { st.URLHash = "" }, "url_hash"},
		{"status pending", func(st *db.ImageState) { st.Status = db.ImagePending }, "status"},
		{"status empty", func(st *db.ImageState) { st.Status = "" }, "status"},
		{"status upper-case", func(st *db.ImageState) { st.Status = "CACHED" }, "status"},
		{"content hash not hex", func(st *db.ImageState) { st.ContentSHA256 = ptr("xyz") }, "content_sha256"},
		{"URL not valid UTF-8", func(st *db.ImageState) { st.URL = "https://x/\xff" }, "url"},
		{"URL over 2048 characters", func(st *db.ImageState) { st.URL = "https://x/" + strings.Repeat("u", 2048) }, "url"},
		{"content type over 64 characters", func(st *db.ImageState) { st.ContentType = ptr(strings.Repeat("t", 65)) }, "content_type"},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		valid := cachedImage(imageURL("ei.phncdn.com", 78), fetchedEarly)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bad := cachedImage(url, fetchedEarly)
				tt.change(&bad)
				err := s.UpsertImages(ctx, []db.ImageState{valid, bad})
				if !errors.Is(err, db.ErrInvalid) {
					t.Fatalf("UpsertImages = %v, want ErrInvalid", err)
				}
				checkFieldError(t, err, tt.field)
				if img, err := s.Image(ctx, valid.URLHash); !errors.Is(err, db.ErrNotFound) {
					t.Errorf("the valid image of a refused batch was written: %+v, %v", img, err)
				}
			})
		}
	})
}
