package imaging

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// createPending starts a download in a new temporary file of dir: its
// content hash is known only once it is complete.
func createPending(dir string) (*pendingFile, error) {
	f, err := os.CreateTemp(dir, pendingPattern)
	if err != nil {
		return nil, fmt.Errorf("imaging: create temporary file: %w", err)
	}
	return &pendingFile{file: f, sum: sha256.New()}, nil
}

// pendingFile is content being written: it hashes and counts what it is
// given and keeps the first bytes for sniffing. commit or discard it.
type pendingFile struct {
	file *os.File
	sum  hash.Hash
	size int64
	head []byte
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

// rewind positions the file at its start, for reading it.
func (p *pendingFile) rewind() (*os.File, error) {
	if _, err := p.file.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("imaging: rewind temporary file: %w", err)
	}
	return p.file, nil
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
	file, err := p.rewind()
	if err != nil {
		return "", false, err
	}
	if err := store.Put(ctx, key, file, p.size, contentType); err != nil {
		return "", false, err
	}
	return contentSHA256, false, nil
}

// discard removes the temporary file (if Put did not take it).
func (p *pendingFile) discard() {
	p.file.Close()
	os.Remove(p.file.Name())
}
