package imaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tempDirName is the directory of files being written, inside the store.
const tempDirName = "tmp"

// staleTempAge is how old a temporary file must be before OpenFileStore
// removes it as left behind by a crash: far longer than writing one image
// takes, so a file another process is writing right now is never touched.
const staleTempAge = time.Hour

// FileStore is the ObjectStore in one directory (DATA_DIR/images by
// default): the object under key a/b/c is the file a/b/c, so the original
// bytes whose SHA-256 is abcdef... live in ab/cd/abcdef.... A file is
// written to tmp/, made durable, renamed into place and its new name made
// durable, so a reader never sees part of a file and a crash never leaves
// one under a key. On Linux, files stored at the same time share each of
// those two steps: one syncfs(2) of the file system per round (groupSync)
// instead of an fsync of each file and of each directory that gained an
// entry. Paths are built only from checked keys, never from URL text. A
// FileStore is safe for concurrent use, also by several processes sharing
// the directory.
type FileStore struct {
	dir     string
	tmp     string
	durable *groupSync // nil: fsync each file and directory instead
}

func newFileStore(dir string) *FileStore {
	return &FileStore{dir: dir, tmp: filepath.Join(dir, tempDirName), durable: fileSystemSync(dir)}
}

// OpenFileStore opens (creating it if need be) the store in dir and removes
// temporary files that a crashed writer left there.
func OpenFileStore(dir string) (*FileStore, error) {
	s := newFileStore(dir)
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("imaging: open file store: %w", err)
	}
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("imaging: open file store: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
	return s, nil
}

// ReadFileStore returns the store in dir for reading (Open, Stat, List) and
// deleting (Remove),
// as the API serves it from a volume it may not write. It creates and
// cleans nothing; the directory need not exist yet.
func ReadFileStore(dir string) *FileStore {
	return newFileStore(dir)
}

// Dir is the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Path returns where the bytes with this content hash are (or would be)
// stored, or ErrInvalidContentHash.
func (s *FileStore) Path(contentSHA256 string) (string, error) {
	key, err := ContentKey(contentSHA256)
	if err != nil {
		return "", err
	}
	return s.path(key), nil
}

// path is the file of a checked key.
func (s *FileStore) path(key string) string { return filepath.Join(s.dir, filepath.FromSlash(key)) }

// String is the store's MARQUEE_IMAGES_STORE URL.
func (s *FileStore) String() string { return "file://" + s.dir }

// Open opens an object's file.
func (s *FileStore) Open(ctx context.Context, key string) (Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("imaging: %s is not a regular file: %w", key, fs.ErrNotExist)
	}
	return fileObject{File: f, size: info.Size()}, nil
}

// fileObject is an opened file of a FileStore.
type fileObject struct {
	*os.File
	size int64
}

func (o fileObject) Size() int64 { return o.size }

// Stat describes an object's file.
func (s *FileStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	info, err := os.Stat(s.path(key))
	if err != nil {
		return ObjectInfo{}, err
	}
	if !info.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("imaging: %s is not a regular file: %w", key, fs.ErrNotExist)
	}
	return ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Put writes body to a temporary file, fsyncs it and renames it into place.
// A body that is an *os.File in the store's temporary directory (a
// download of the compactor) is renamed itself, not copied; Put then owns
// it. The directory keeps no media type: the database records it.
func (s *FileStore) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) (err error) {
	if err := checkKey(key); err != nil {
		return err
	}
	if s.reserved(key) {
		return fmt.Errorf("%w: %q is in the store's temporary directory", ErrInvalidKey, key)
	}
	file, ok := body.(*os.File)
	if !ok || filepath.Dir(file.Name()) != s.tmp {
		if file, err = os.CreateTemp(s.tmp, "put-*"); err != nil {
			return fmt.Errorf("imaging: create temporary file: %w", err)
		}
		if _, err := io.CopyN(file, body, size); err != nil {
			err = fmt.Errorf("imaging: put %s: %w", key, err)
			file.Close()
			os.Remove(file.Name())
			return err
		}
	} else if info, err := file.Stat(); err != nil || info.Size() != size {
		return fmt.Errorf("imaging: put %s: the file is not %d bytes", key, size)
	}
	defer func() {
		if err != nil {
			file.Close()
			os.Remove(file.Name())
		}
	}()
	if s.durable != nil {
		err = s.durable.wait(ctx)
	} else {
		err = file.Sync()
	}
	if err != nil {
		return fmt.Errorf("imaging: put %s: %w", key, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("imaging: close: %w", err)
	}
	return s.rename(ctx, file.Name(), s.path(key))
}

// reserved reports whether key lies in the store's temporary directory.
func (s *FileStore) reserved(key string) bool {
	return key == tempDirName || strings.HasPrefix(key, tempDirName+"/")
}

// rename moves a file into place and makes the new name durable: a round
// of the group sync, or an fsync of the target's directory and of each
// directory above that gained an entry. Rename is atomic: readers see no
// file or the whole file; two writers of the same key replace identical
// bytes.
func (s *FileStore) rename(ctx context.Context, from, to string) error {
	dir := filepath.Dir(to)
	created, err := mkdirAll(dir, s.dir)
	if err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("imaging: store file: %w", err)
	}
	if s.durable != nil {
		if err := s.durable.wait(ctx); err != nil {
			return fmt.Errorf("imaging: store file: %w", err)
		}
		return nil
	}
	for _, d := range append([]string{dir}, created...) {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Move renames an object's file.
func (s *FileStore) Move(ctx context.Context, from, to string) error {
	for _, key := range []string{from, to} {
		if err := checkKey(key); err != nil {
			return err
		}
		if s.reserved(key) {
			return fmt.Errorf("%w: %q is in the store's temporary directory", ErrInvalidKey, key)
		}
	}
	if _, err := s.Stat(ctx, from); err != nil {
		return err
	}
	return s.rename(ctx, s.path(from), s.path(to))
}

// List walks the directory below prefix, leaving out the temporary files
// and anything that is not a regular file with a valid key.
func (s *FileStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	root := s.dir
	if prefix != "" {
		root = s.path(strings.TrimSuffix(prefix, "/"))
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, path)
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if path != root && (s.reserved(key) || checkKey(key) != nil) {
				return filepath.SkipDir
			}
			return nil
		}
		if checkKey(key) != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		return fn(ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("imaging: list %s: %w", s, err)
	}
	return nil
}

// mkdirAll creates dir and its missing parents below root and returns the
// directories that gained an entry (the parents of those created).
func mkdirAll(dir, root string) (synced []string, err error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, nil
	}
	parent := filepath.Dir(dir)
	if parent != root && parent != dir {
		if synced, err = mkdirAll(parent, root); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("imaging: create directory: %w", err)
	}
	return append(synced, parent), nil
}

// syncDir fsyncs a directory, making the names in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("imaging: open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("imaging: fsync directory: %w", err)
	}
	return nil
}

// Remove deletes an object's file; one already gone is no error.
func (s *FileStore) Remove(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("imaging: remove %s: %w", key, err)
	}
	return nil
}
