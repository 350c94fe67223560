package imaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"marquee/db"
)

// ObjectStore keeps the image store's objects: immutable byte strings
// under slash-separated keys. Two implementations exist: FileStore (a
// directory, MARQUEE_IMAGES_STORE=file://PATH) and S3Store (a bucket of
// S3-compatible object storage, s3://BUCKET/PREFIX). Both pass the same
// behavioural suite (objects_test.go).
//
// Keys are one to several segments of lowercase letters, digits, '.', '_'
// and '-', joined by '/'; no segment is empty, "." or "..". The namespaces:
//
//   - ab/cd/<sha256>: the original bytes whose SHA-256 is <sha256>
//     (ContentKey); what /images/{url_hash} serves.
//   - variants/ab/cd/<sha256>/<name>: objects derived from those bytes
//     (resized or re-encoded renditions; VariantPrefix). Their owner names
//     them below the prefix; takedown and garbage collection delete the
//     whole prefix together with the original.
//   - gc/<sha256>: originals the garbage collector has taken out of
//     service while it decides on them.
//   - tmp/: reserved (the directory store's files being written).
//
// Guarantees every implementation keeps:
//
//   - Put stores an object complete or not at all: a reader never sees part
//     of one, and a writer that fails or is killed leaves nothing under the
//     key (a directory renames a complete temporary file into place; S3
//     makes an object visible only when its PUT or multipart upload
//     completes, and an unfinished upload is never an object).
//   - Objects are written once: the same key always holds the same bytes
//     (content addressing), so two writers racing on a key are harmless and
//     callers Stat before they Put to store identical bytes once.
//   - Open reads from any offset without reading what lies before it (a
//     Seek then Read is a ranged read of the store), so ranges are served
//     without fetching whole objects.
//   - Missing objects are errors satisfying errors.Is(err, fs.ErrNotExist);
//     a malformed key is ErrInvalidKey.
//
// Implementations are safe for concurrent use, also by several processes
// (and hosts, for S3) sharing one store.
type ObjectStore interface {
	// Put stores the first size bytes read from body under key, with their
	// media type (S3 objects also carry ObjectCacheControl). A body that
	// ends early or fails fails the Put and stores nothing.
	Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error
	// Open opens an object for reading. The caller closes it.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes an object without reading it.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Remove deletes an object; one already gone is no error.
	Remove(ctx context.Context, key string) error
	// Move puts an object's bytes under another key and removes the old
	// one. An object already at to is replaced.
	Move(ctx context.Context, from, to string) error
	// List calls fn with every object whose key starts with prefix, in no
	// particular order, until fn returns an error (returned by List).
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// String names the store for logs and reports, without secrets.
	String() string
}

// Object is an opened object: reads from any offset, and its size.
type Object interface {
	io.ReadSeekCloser
	// Size is the object's length in bytes.
	Size() int64
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ContentType is the media type given to Put; List may leave it empty.
	ContentType string
	// ModTime is when the object was written.
	ModTime time.Time
}

// ObjectCacheControl is the Cache-Control that objects carry where the store
// keeps headers (S3), for a CDN serving the bucket: an object's bytes never
// change under its key.
const ObjectCacheControl = "public, max-age=31536000, immutable"

// ErrInvalidContentHash: a content hash that is not 64 lowercase hex digits.
// Keys are built only from hashes that pass this check.
var ErrInvalidContentHash = errors.New("imaging: content hash must be 64 lowercase hex digits")

// ErrInvalidKey: an object key outside the syntax of ObjectStore.
var ErrInvalidKey = errors.New("imaging: invalid object key")

const (
	variantsNamespace = "variants/"
	gcNamespace       = "gc/"
)

// ContentKey is the key of the original bytes with this content hash, or
// ErrInvalidContentHash.
func ContentKey(contentSHA256 string) (string, error) {
	if !db.IsSHA256Hex(contentSHA256) {
		return "", ErrInvalidContentHash
	}
	return contentSHA256[:2] + "/" + contentSHA256[2:4] + "/" + contentSHA256, nil
}

// VariantPrefix is the prefix (ending in '/') below which the objects
// derived from the bytes with this content hash live, or
// ErrInvalidContentHash.
func VariantPrefix(contentSHA256 string) (string, error) {
	key, err := ContentKey(contentSHA256)
	if err != nil {
		return "", err
	}
	return variantsNamespace + key + "/", nil
}

// contentOfKey returns the content hash of an original's key.
func contentOfKey(key string) (string, bool) {
	if len(key) != 6+64 {
		return "", false
	}
	sha := key[6:]
	if want, err := ContentKey(sha); err != nil || want != key {
		return "", false
	}
	return sha, true
}

// checkKey returns ErrInvalidKey unless key follows the syntax of
// ObjectStore. Keys become file paths and object names: this is what keeps
// them inside the store.
func checkKey(key string) error {
	if key == "" || len(key) > 512 {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for segment := range strings.SplitSeq(key, "/") {
		if segment == "" || segment == "." || segment == ".." {
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
		for _, c := range segment {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("%w: %q", ErrInvalidKey, key)
			}
		}
	}
	return nil
}

// checkPrefix is checkKey for a List prefix: empty, or keys' leading
// segments ending in '/'.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q does not end in /", ErrInvalidKey, prefix)
	}
	return checkKey(strings.TrimSuffix(prefix, "/"))
}

// Contents serves originals by content hash from an ObjectStore: the
// content source of the /images handler (rest.FilesContent).
type Contents struct {
	Store ObjectStore
}

// Open opens the original bytes with this content hash. Missing bytes are
// an error satisfying errors.Is(err, fs.ErrNotExist), a malformed hash
// ErrInvalidContentHash.
func (c Contents) Open(ctx context.Context, contentSHA256 string) (io.ReadSeekCloser, error) {
	key, err := ContentKey(contentSHA256)
	if err != nil {
		return nil, err
	}
	return c.Store.Open(ctx, key)
}

// removeContent deletes the original with this content hash and every
// variant of it.
func removeContent(ctx context.Context, store ObjectStore, contentSHA256 string) error {
	key, err := ContentKey(contentSHA256)
	if err != nil {
		return err
	}
	if err := removePrefix(ctx, store, variantsNamespace+key+"/"); err != nil {
		return err
	}
	return store.Remove(ctx, key)
}

// removePrefix deletes every object below prefix.
func removePrefix(ctx context.Context, store ObjectStore, prefix string) error {
	var keys []string
	err := store.List(ctx, prefix, func(info ObjectInfo) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, key := range keys {
		if err := store.Remove(ctx, key); err != nil {
			return err
		}
	}
	return nil
}
