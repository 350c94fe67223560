package imaging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// pendingPattern names the temporary files of downloads.
const pendingPattern = "fetch-*"

// cleanTempDir creates dir if need be and removes the downloads a crashed
// compactor left there (older than staleTempAge).
func cleanTempDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("imaging: temporary directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("imaging: temporary directory: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), strings.TrimSuffix(pendingPattern, "*")) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// Downloads are kept in memory while they are small, so that a fetch's
// worker is free as soon as the body is read and checked: creating a file is
// a journalled metadata write that, under the fsyncs of stores, can take
// longer than the fetch itself. The directory store writes its own file when
// the bytes are stored; a bucket's upload needs none.
const (
	// maxDownloadInMemory is the largest download kept in memory: every
	// real thumbnail (tens of KiB), not a body near the byte cap.
	maxDownloadInMemory = 1 << 20
	// downloadMemory bounds the bytes of all downloads a compactor keeps in
	// memory at once, including those waiting to be stored: hundreds of
	// thumbnails. Beyond it, downloads go to temporary files, as large ones do.
	downloadMemory = 16 << 20
)

// memoryBudget is the memory downloads may still take. Safe for concurrent use.
type memoryBudget struct{ left atomic.Int64 }

func newMemoryBudget(bytes int64) *memoryBudget {
	m := &memoryBudget{}
	m.left.Store(bytes)
	return m
}

// take takes n bytes of the budget, or reports that they are not left.
func (m *memoryBudget) take(n int64) bool {
	if m.left.Add(-n) >= 0 {
		return true
	}
	m.left.Add(n)
	return false
}

// give returns n bytes taken.
func (m *memoryBudget) give(n int64) { m.left.Add(n) }

// createPending starts a download: in memory within memory's budget (nil:
// none), else in a new temporary file of dir. Its content hash is known only
// once it is complete.
func createPending(dir string, memory *memoryBudget) *pendingFile {
	return &pendingFile{dir: dir, memory: memory, sum: sha256.New()}
}

// pendingFile is content being written: it hashes and counts what it is
// given and keeps the first bytes for sniffing, in memory until they outgrow
// it, then in a temporary file. commit or discard it.
type pendingFile struct {
	dir    string
	memory *memoryBudget
	// buf holds the bytes while file is nil; taken is what buf took of memory.
	buf   []byte
	taken int64
	file  *os.File
	sum   hash.Hash
	size  int64
	head  []byte
}

func (p *pendingFile) Write(b []byte) (int, error) {
	if missing := sniffLen - len(p.head); missing > 0 {
		p.head = append(p.head, b[:min(missing, len(b))]...)
	}
	if p.file == nil && !p.keep(b) {
		if err := p.spill(); err != nil {
			return 0, err
		}
	}
	n := len(b)
	var err error
	if p.file != nil {
		n, err = p.file.Write(b)
	}
	p.sum.Write(b[:n])
	p.size += int64(n)
	return n, err
}

// keep appends b to the bytes in memory if they stay within the limits.
func (p *pendingFile) keep(b []byte) bool {
	if p.memory == nil || len(p.buf)+len(b) > maxDownloadInMemory || !p.memory.take(int64(len(b))) {
		return false
	}
	p.taken += int64(len(b))
	p.buf = append(p.buf, b...)
	return true
}

// spill moves the bytes in memory to a new temporary file.
func (p *pendingFile) spill() error {
	f, err := os.CreateTemp(p.dir, pendingPattern)
	if err != nil {
		return fmt.Errorf("imaging: create temporary file: %w", err)
	}
	p.file = f
	if _, err := f.Write(p.buf); err != nil {
		return fmt.Errorf("imaging: write temporary file: %w", err)
	}
	p.release()
	return nil
}

// release gives back the memory of the bytes in memory.
func (p *pendingFile) release() {
	if p.memory != nil {
		p.memory.give(p.taken)
	}
	p.buf, p.taken = nil, 0
}

// rewind returns a reader of the content from its start.
func (p *pendingFile) rewind() (io.ReadSeeker, error) {
	if p.file == nil {
		return bytes.NewReader(p.buf), nil
	}
	if _, err := p.file.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("imaging: rewind temporary file: %w", err)
	}
	return p.file, nil
}

// contents returns the content, up to limit bytes.
func (p *pendingFile) contents(limit int64) ([]byte, error) {
	if p.file == nil {
		return p.buf[:min(int64(len(p.buf)), limit)], nil
	}
	r, err := p.rewind()
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, limit))
}

// contentHash is the lowercase hex SHA-256 of what was written.
func (p *pendingFile) contentHash() string { return hex.EncodeToString(p.sum.Sum(nil)) }

// commit stores the complete download in store under its content key and
// reports whether identical bytes were stored already (then nothing is
// uploaded). The temporary file is gone afterwards, whatever the outcome.
func (p *pendingFile) commit(ctx context.Context, store ObjectStore, contentType string) (contentSHA256 string, duplicate bool, err error) {
	defer p.discard()
	contentSHA256 = p.contentHash()
	key, err := ContentKey(contentSHA256)
	if err != nil {
		return "", false, err
	}
	info, err := store.Stat(ctx, key)
	switch {
	case err == nil && info.Size == p.size:
		return contentSHA256, true, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("imaging: stat %s: %w", key, err)
	}
	body, err := p.rewind()
	if err != nil {
		return "", false, err
	}
	if err := store.Put(ctx, key, body, p.size, contentType); err != nil {
		return "", false, err
	}
	return contentSHA256, false, nil
}

// discard frees the content: its memory, and its temporary file (if Put
// did not take it).
func (p *pendingFile) discard() {
	p.release()
	if p.file != nil {
		p.file.Close()
		os.Remove(p.file.Name())
	}
}
