package imaging_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"marquee/imaging"
	"marquee/imaging/imagingtest"
)

// objectBackend is one implementation of imaging.ObjectStore under test.
type objectBackend struct {
	name string
	// setup starts what the backend needs for the length of t (or skips
	// t) and returns how to open an empty store of its own for one test.
	setup func(t *testing.T) func(t *testing.T) imaging.ObjectStore
	// keepsTypes: the store keeps the media type given to Put.
	keepsTypes bool
}

// objectBackends are every ObjectStore that can run here: the directory,
// the in-process S3 fake, and a real MinIO server where a minio binary is
// on the PATH.
func objectBackends() []objectBackend {
	s3Backend := func(name string, server func(testing.TB) imagingtest.S3) objectBackend {
		return objectBackend{name: name, keepsTypes: true, setup: func(t *testing.T) func(t *testing.T) imaging.ObjectStore {
			srv := server(t)
			var n atomic.Int64
			return func(t *testing.T) imaging.ObjectStore {
				// Each test gets a prefix of its own in the one bucket.
				return openS3(t, srv, fmt.Sprintf("suite/%d", n.Add(1)))
			}
		}}
	}
	return []objectBackend{
		{name: "directory", setup: func(*testing.T) func(t *testing.T) imaging.ObjectStore {
			return func(t *testing.T) imaging.ObjectStore {
				store, err := imaging.OpenFileStore(filepath.Join(t.TempDir(), "images"))
				if err != nil {
					t.Fatal(err)
				}
				return store
			}
		}},
		s3Backend("s3-fake", imagingtest.FakeS3),
		s3Backend("minio", imagingtest.MinIO),
	}
}

func openS3(t testing.TB, srv imagingtest.S3, prefix string) *imaging.S3Store {
	t.Helper()
	store, err := imaging.OpenS3Store(context.Background(), imaging.S3Options{Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKeyID,
		SecretAccessKey: srv.SecretAccessKey, PathStyle: true, Region: "us-east-1", Bucket: srv.Bucket, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// failingReader gives some bytes, then fails: a writer killed mid-upload.
type failingReader struct {
	r io.Reader
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("the writer died")
	}
	return n, err
}

func contentKey(t *testing.T, body []byte) string {
	sum := sha256.Sum256(body)
	key, err := imaging.ContentKey(hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func readAll(t *testing.T, store imaging.ObjectStore, key string) []byte {
	t.Helper()
	obj, err := store.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return got
}

func listKeys(t *testing.T, store imaging.ObjectStore, prefix string) []string {
	t.Helper()
	var keys []string
	if err := store.List(t.Context(), prefix, func(info imaging.ObjectInfo) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	slices.Sort(keys)
	return keys
}

// TestObjectStore is the behavioural suite of imaging.ObjectStore, run
// against every backend.
func TestObjectStore(t *testing.T) {
	image := bytes.Repeat([]byte("marquee image bytes "), 3000) // 60 kB: a real thumbnail's size
	other := []byte("other bytes")
	tests := []struct {
		name string
		run  func(t *testing.T, b objectBackend, store imaging.ObjectStore)
	}{
		{"put stores the whole object, readable and described", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, image)
			if err := store.Put(t.Context(), key, bytes.NewReader(image), int64(len(image)), "image/png"); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, store, key); !bytes.Equal(got, image) {
				t.Fatalf("read back %d bytes, want the %d put", len(got), len(image))
			}
			info, err := store.Stat(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			if info.Key != key || info.Size != int64(len(image)) || info.ModTime.IsZero() {
				t.Errorf("stat = %+v, want key %s, size %d and a time", info, key, len(image))
			}
			if b.keepsTypes && info.ContentType != "image/png" {
				t.Errorf("content type = %q, want image/png", info.ContentType)
			}
		}},
		{"reads from an offset give the bytes from there", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, image)
			if err := store.Put(t.Context(), key, bytes.NewReader(image), int64(len(image)), "image/png"); err != nil {
				t.Fatal(err)
			}
			obj, err := store.Open(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			if obj.Size() != int64(len(image)) {
				t.Errorf("size = %d, want %d", obj.Size(), len(image))
			}
			for _, r := range []struct{ offset, length int64 }{{40000, 100}, {7, 13}, {int64(len(image)) - 5, 5}, {0, 1}} {
				if _, err := obj.Seek(r.offset, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, r.length)
				if _, err := io.ReadFull(obj, got); err != nil {
					t.Fatalf("read %d bytes at %d: %v", r.length, r.offset, err)
				}
				if want := image[r.offset : r.offset+r.length]; !bytes.Equal(got, want) {
					t.Errorf("at %d: %q, want %q", r.offset, got, want)
				}
			}
			if end, err := obj.Seek(0, io.SeekEnd); err != nil || end != int64(len(image)) {
				t.Errorf("seek to the end = %d, %v; want %d", end, err, len(image))
			}
			if n, err := obj.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("read at the end = %d, %v; want 0, EOF", n, err)
			}
		}},
		{"a writer that dies mid-upload leaves no object", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, image)
			err := store.Put(t.Context(), key, &failingReader{bytes.NewReader(image[:len(image)/2])}, int64(len(image)), "image/png")
			if err == nil {
				t.Fatal("a failed upload was reported stored")
			}
			if _, err := store.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat after a failed upload = %v, want fs.ErrNotExist", err)
			}
			if keys := listKeys(t, store, ""); len(keys) != 0 {
				t.Errorf("objects after a failed upload: %v", keys)
			}
		}},
		{"a body shorter than its size stores nothing", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, other)
			if err := store.Put(t.Context(), key, bytes.NewReader(other), int64(len(other))+10, "image/png"); err == nil {
				t.Fatal("a short body was stored")
			}
			if _, err := store.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat after a short body = %v, want fs.ErrNotExist", err)
			}
		}},
		{"missing objects are fs.ErrNotExist, removing them is no error", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, other)
			if _, err := store.Open(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("open = %v, want fs.ErrNotExist", err)
			}
			if _, err := store.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat = %v, want fs.ErrNotExist", err)
			}
			if err := store.Remove(t.Context(), key); err != nil {
				t.Errorf("remove = %v, want nil", err)
			}
		}},
		{"remove deletes", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, other)
			if err := store.Put(t.Context(), key, bytes.NewReader(other), int64(len(other)), "image/gif"); err != nil {
				t.Fatal(err)
			}
			if err := store.Remove(t.Context(), key); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Open(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("open after remove = %v, want fs.ErrNotExist", err)
			}
		}},
		{"move renames with the bytes and type", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, other)
			parked := "gc/" + strings.TrimPrefix(key, key[:6])
			if err := store.Put(t.Context(), key, bytes.NewReader(other), int64(len(other)), "image/gif"); err != nil {
				t.Fatal(err)
			}
			if err := store.Move(t.Context(), key, parked); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Stat(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the old key after a move: %v, want fs.ErrNotExist", err)
			}
			if got := readAll(t, store, parked); !bytes.Equal(got, other) {
				t.Errorf("moved bytes = %q, want %q", got, other)
			}
			if info, err := store.Stat(t.Context(), parked); err != nil || b.keepsTypes && info.ContentType != "image/gif" {
				t.Errorf("moved object = %+v, %v; want type image/gif", info, err)
			}
			if err := store.Move(t.Context(), key, parked); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("moving a missing object = %v, want fs.ErrNotExist", err)
			}
		}},
		{"list finds the objects below a prefix", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			original := contentKey(t, image)
			variant := "variants/" + original + "/w64.webp"
			parked := "gc/" + original[6:]
			for _, key := range []string{original, variant, parked} {
				if err := store.Put(t.Context(), key, bytes.NewReader(other), int64(len(other)), "image/webp"); err != nil {
					t.Fatal(err)
				}
			}
			for prefix, want := range map[string][]string{
				"":                                     {original, parked, variant},
				"variants/":                            {variant},
				"variants/" + original + "/":           {variant},
				"gc/":                                  {parked},
				"variants/00/00/" + original[6:] + "/": nil,
			} {
				if got := listKeys(t, store, prefix); !slices.Equal(got, want) {
					t.Errorf("list %q = %v, want %v", prefix, got, want)
				}
			}
			stop := errors.New("enough")
			if err := store.List(t.Context(), "", func(imaging.ObjectInfo) error { return stop }); !errors.Is(err, stop) {
				t.Errorf("list whose callback fails = %v, want its error", err)
			}
		}},
		{"writers racing on one key store it whole", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			key := contentKey(t, image)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					errs <- store.Put(context.Background(), key, bytes.NewReader(image), int64(len(image)), "image/png")
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if got := readAll(t, store, key); !bytes.Equal(got, image) {
				t.Errorf("read back %d bytes, want the %d put", len(got), len(image))
			}
		}},
		{"keys outside the syntax are refused", func(t *testing.T, b objectBackend, store imaging.ObjectStore) {
			for _, key := range []string{"", "../etc/passwd", "a//b", "/abs", "a/./b", "Upper", "a b", "a/", "tmp\\x"} {
				if err := store.Put(t.Context(), key, bytes.NewReader(other), int64(len(other)), "image/png"); !errors.Is(err, imaging.ErrInvalidKey) {
					t.Errorf("put %q = %v, want ErrInvalidKey", key, err)
				}
				if _, err := store.Open(t.Context(), key); !errors.Is(err, imaging.ErrInvalidKey) {
					t.Errorf("open %q = %v, want ErrInvalidKey", key, err)
				}
				if _, err := store.Stat(t.Context(), key); !errors.Is(err, imaging.ErrInvalidKey) {
					t.Errorf("stat %q = %v, want ErrInvalidKey", key, err)
				}
				if err := store.Remove(t.Context(), key); !errors.Is(err, imaging.ErrInvalidKey) {
					t.Errorf("remove %q = %v, want ErrInvalidKey", key, err)
				}
			}
			if keys := listKeys(t, store, ""); len(keys) != 0 {
				t.Errorf("objects after refused keys: %v", keys)
			}
		}},
	}
	for _, b := range objectBackends() {
		t.Run(b.name, func(t *testing.T) {
			open := b.setup(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, b, open(t)) })
			}
		})
	}
}
