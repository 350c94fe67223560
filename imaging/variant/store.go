package variant

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Blobs keeps the bytes of variants by key. Keys are built by Key only:
// slash-separated, of hex digits, letters, digits, 'x', '-' and '.'.
// Implementations are safe for concurrent use, also by several processes
// sharing one store.
type Blobs interface {
	// Put stores data under key atomically: a reader sees no blob or all of it.
	Put(key string, data []byte) error
	// Open returns the blob under key and its size, or an error satisfying
	// errors.Is(err, fs.ErrNotExist).
	Open(key string) (io.ReadSeekCloser, int64, error)
	// Remove deletes the blob under key; a missing blob is no error.
	Remove(key string) error
}

// DirBlobs keeps variants as files below one directory (by default
// DATA_DIR/images/variants, beside the originals), written to a temporary
// file and renamed into place.
type DirBlobs struct {
	dir string
}

// NewDirBlobs returns the blob store in dir; directories are created when
// the first blob is put, so a read-only process may open it.
func NewDirBlobs(dir string) *DirBlobs { return &DirBlobs{dir: dir} }

// errBadKey: a key that Key would never build.
var errBadKey = errors.New("variant: malformed blob key")

func (d *DirBlobs) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") ||
		strings.ContainsFunc(key, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '/' || r == '.' || r == '-')
		}) {
		return "", errBadKey
	}
	return filepath.Join(d.dir, filepath.FromSlash(key)), nil
}

// Put implements Blobs.
func (d *DirBlobs) Put(key string, data []byte) error {
	path, err := d.path(key)
	if err != nil {
		return err
	}
	var tmp *os.File
	// Remove may take away an empty directory between MkdirAll and
	// CreateTemp: then once more.
	for attempt := 0; tmp == nil; attempt++ {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("variant: put %s: %w", key, err)
		}
		tmp, err = os.CreateTemp(filepath.Dir(path), ".put-*")
		if err != nil && (attempt > 0 || !errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("variant: put %s: %w", key, err)
		}
	}
	_, err = tmp.Write(data)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		// A variant can always be rendered again: no fsync, a crash loses
		// at most a cache entry, which a later request renders anew.
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("variant: put %s: %w", key, err)
	}
	return nil
}

// Open implements Blobs.
func (d *DirBlobs) Open(key string) (io.ReadSeekCloser, int64, error) {
	path, err := d.path(key)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("variant: %s is not a regular file: %w", key, fs.ErrNotExist)
	}
	return f, info.Size(), nil
}

// Remove implements Blobs.
func (d *DirBlobs) Remove(key string) error {
	path, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("variant: remove %s: %w", key, err)
	}
	// The original's directory goes with its last variant; another
	// variant being put there recreates it.
	_ = os.Remove(filepath.Dir(path))
	return nil
}
