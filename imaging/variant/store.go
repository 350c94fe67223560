package variant

import "io"

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
