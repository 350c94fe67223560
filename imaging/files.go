package imaging

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"marquee/db"
)

// ErrInvalidContentHash: a content hash that is not 64 lowercase hex digits.
// FileStore builds paths only from hashes that pass this check.
var ErrInvalidContentHash = errors.New("imaging: content hash must be 64 lowercase hex digits")

// tempDirName is the directory of files being written, inside the store.
const tempDirName = "tmp"

// staleTempAge is how old a temporary file must be before OpenFileStore
// removes it as left behind by a crash: far longer than writing one image
// takes, so a file another process is writing right now is never touched.
const staleTempAge = time.Hour

// FileStore keeps image bytes under one directory (DATA_DIR/images),
// content-addressed: the bytes whose SHA-256 is abcdef... live in
// ab/cd/abcdef.... A file is written to tmp/, fsynced, renamed into place and
// its directory fsynced, so a reader never sees part of a file and a crash
// never leaves one under a content name. Identical bytes are stored once,
// whatever URLs they came from. Paths are built only from validated content
// hashes, never from URL text. A FileStore is safe for concurrent use, also
// by several processes sharing the directory.
type FileStore struct {
	dir string
	tmp string
}

// OpenFileStore opens (creating it if need be) the store in dir and removes
// temporary files that a crashed writer left there.
func OpenFileStore(dir string) (*FileStore, error) {
	s := &FileStore{dir: dir, tmp: filepath.Join(dir, tempDirName)}
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

// ReadFileStore returns the store in dir for reading only (Open and Path),
// as the API serves it from a volume it may not write. It creates and
// cleans nothing; the directory need not exist yet.
func ReadFileStore(dir string) *FileStore {
	return &FileStore{dir: dir, tmp: filepath.Join(dir, tempDirName)}
}

// Dir is the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Path returns where the bytes with this content hash are (or would be)
// stored, or ErrInvalidContentHash.
func (s *FileStore) Path(contentSHA256 string) (string, error) {
	if !db.IsSHA256Hex(contentSHA256) {
		return "", ErrInvalidContentHash
	}
	return filepath.Join(s.dir, contentSHA256[:2], contentSHA256[2:4], contentSHA256), nil
}

// Open opens the stored bytes with this content hash for reading. It returns
// an error satisfying errors.Is(err, fs.ErrNotExist) when none are stored,
// and ErrInvalidContentHash for a malformed hash.
func (s *FileStore) Open(contentSHA256 string) (*os.File, error) {
	path, err := s.Path(contentSHA256)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("imaging: %s is not a regular file: %w", path, fs.ErrNotExist)
	}
	return f, nil
}

// create starts a new temporary file, for content not yet known.
func (s *FileStore) create() (*pendingFile, error) {
	f, err := os.CreateTemp(s.tmp, "fetch-*")
	if err != nil {
		return nil, fmt.Errorf("imaging: create temporary file: %w", err)
	}
	return &pendingFile{store: s, file: f, sum: sha256.New()}, nil
}

// pendingFile is content being written: it hashes and counts what it is
// given and keeps the first bytes for sniffing. commit or discard it.
type pendingFile struct {
	store *FileStore
	file  *os.File
	sum   hash.Hash
	size  int64
	head  []byte
}

func (p *pendingFile) Write(b []byte) (int, error) {
	if missing := sniffLen - len(p.head); missing > 0 {
		p.head = append(p.head, b[:min(missing, len(b))]...)
	}
	n, err := p.file.Write(b)
	p.sum.Write(b[:n])
	p.size += int64(n)
	return n, err
}

// rewind positions the file at its start, for reading its header.
func (p *pendingFile) rewind() (*os.File, error) {
	if _, err := p.file.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("imaging: rewind temporary file: %w", err)
	}
	return p.file, nil
}

// contentHash is the lowercase hex SHA-256 of what was written.
func (p *pendingFile) contentHash() string { return hex.EncodeToString(p.sum.Sum(nil)) }

// commit makes the written bytes durable under their content hash and
// reports whether identical bytes were stored already (then the temporary
// file is dropped and the stored file kept).
func (p *pendingFile) commit() (contentSHA256 string, duplicate bool, err error) {
	contentSHA256 = p.contentHash()
	path, _ := p.store.Path(contentSHA256)
	defer func() {
		if err != nil {
			p.discard()
		}
	}()
	if info, statErr := os.Stat(path); statErr == nil && info.Mode().IsRegular() && info.Size() == p.size {
		p.discard()
		return contentSHA256, true, nil
	}
	if err := p.file.Sync(); err != nil {
		return "", false, fmt.Errorf("imaging: fsync: %w", err)
	}
	if err := p.file.Close(); err != nil {
		return "", false, fmt.Errorf("imaging: close: %w", err)
	}
	fanOut := filepath.Dir(path)
	created, err := mkdirAll(fanOut, p.store.dir)
	if err != nil {
		return "", false, err
	}
	// Rename is atomic: readers see no file or the whole file. Two writers
	// of the same bytes may both rename; the second replaces identical bytes.
	if err := os.Rename(p.file.Name(), path); err != nil {
		return "", false, fmt.Errorf("imaging: store file: %w", err)
	}
	// The new names are durable once their directories are: the fan-out
	// directory, and each directory above that mkdirAll created an entry in.
	for _, dir := range append([]string{fanOut}, created...) {
		if err := syncDir(dir); err != nil {
			return "", false, err
		}
	}
	return contentSHA256, false, nil
}

// discard removes the temporary file.
func (p *pendingFile) discard() {
	p.file.Close()
	os.Remove(p.file.Name())
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

// Remove deletes the stored bytes with this content hash; bytes already
// gone are no error.
func (s *FileStore) Remove(contentSHA256 string) error {
	path, err := s.Path(contentSHA256)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("imaging: remove %s: %w", contentSHA256, err)
	}
	return nil
}
