package imaging_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"marquee/imaging"
	"marquee/imaging/imagingtest"
)

// TestCopyObjects moves a directory store into a bucket and back: every
// object arrives with its bytes, the bucket's originals carry the type
// their bytes show, a cut-off copy is finished by resuming, and a copy into
// a store that holds objects is refused unless it resumes.
func TestCopyObjects(t *testing.T) {
	srv := imagingtest.FakeS3(t)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 2000)...)
	gif := append([]byte("GIF89a"), bytes.Repeat([]byte{9}, 300)...)
	objects := map[string][]byte{
		contentKey(t, png):                        png,
		contentKey(t, gif):                        gif,
		"variants/" + contentKey(t, png) + "/w64": gif,
	}
	var keys []string
	var total int64
	for key, body := range objects {
		keys = append(keys, key)
		total += int64(len(body))
	}
	slices.Sort(keys)
	openDir := func(t *testing.T) imaging.ObjectStore {
		store, err := imaging.OpenFileStore(filepath.Join(t.TempDir(), "images"))
		if err != nil {
			t.Fatal(err)
		}
		return store
	}
	source := openDir(t)
	for key, body := range objects {
		if err := source.Put(t.Context(), key, bytes.NewReader(body), int64(len(body)), ""); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, store imaging.ObjectStore, types bool) {
		t.Helper()
		if got := listKeys(t, store, ""); !slices.Equal(got, keys) {
			t.Fatalf("keys = %v, want %v", got, keys)
		}
		for key, body := range objects {
			if got := readAll(t, store, key); !bytes.Equal(got, body) {
				t.Errorf("%s: %d bytes, want %d", key, len(got), len(body))
			}
		}
		if types {
			for key, want := range map[string]string{contentKey(t, png): imaging.TypePNG, contentKey(t, gif): imaging.TypeGIF} {
				if info, err := store.Stat(t.Context(), key); err != nil || info.ContentType != want {
					t.Errorf("%s: type %q (%v), want %s", key, info.ContentType, err, want)
				}
			}
		}
	}

	tests := []struct {
		name       string
		from, to   func(t *testing.T) imaging.ObjectStore
		preset     []string // keys the destination holds before
		resume     bool
		want       imaging.CopyReport
		wantErr    error
		wantsTypes bool
	}{
		{name: "directory into an empty bucket", from: func(*testing.T) imaging.ObjectStore { return source },
			to: func(t *testing.T) imaging.ObjectStore { return openS3(t, srv, "into") }, wantsTypes: true,
			want: imaging.CopyReport{Copied: len(objects), CopiedBytes: total}},
		{name: "a cut-off copy resumed", from: func(*testing.T) imaging.ObjectStore { return source },
			to:     func(t *testing.T) imaging.ObjectStore { return openS3(t, srv, "resumed") },
			preset: []string{contentKey(t, png)}, resume: true, wantsTypes: true,
			want: imaging.CopyReport{Copied: len(objects) - 1, CopiedBytes: total - int64(len(png)), Skipped: 1, SkippedBytes: int64(len(png))}},
		{name: "a store that holds objects without resume", from: func(*testing.T) imaging.ObjectStore { return source },
			to:     func(t *testing.T) imaging.ObjectStore { return openS3(t, srv, "refused") },
			preset: []string{contentKey(t, gif)}, wantErr: imaging.ErrDestinationNotEmpty},
		{name: "a bucket back into a directory", from: func(t *testing.T) imaging.ObjectStore {
			bucket := openS3(t, srv, "back")
			if _, err := imaging.CopyObjects(t.Context(), source, bucket, imaging.CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			return bucket
		}, to: openDir, want: imaging.CopyReport{Copied: len(objects), CopiedBytes: total}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := tt.from(t), tt.to(t)
			for _, key := range tt.preset {
				if err := to.Put(t.Context(), key, bytes.NewReader(objects[key]), int64(len(objects[key])), "image/png"); err != nil {
					t.Fatal(err)
				}
			}
			report, err := imaging.CopyObjects(t.Context(), from, to, imaging.CopyOptions{Resume: tt.resume})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("copy = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if report != tt.want {
				t.Errorf("report = %+v, want %+v", report, tt.want)
			}
			check(t, to, tt.wantsTypes)
			again, err := imaging.CopyObjects(t.Context(), from, to, imaging.CopyOptions{Resume: true})
			if err != nil || again.Copied != 0 || again.Skipped != len(objects) {
				t.Errorf("copy resumed once more = %+v, %v; want every object skipped", again, err)
			}
		})
	}
}
