package imaging

import (
	"bytes"
	"context"
	"io"
	"mime"
	"path"
)

// VariantObjects keeps the bytes of image variants (variant.Blobs) in an
// ObjectStore, below the variants namespace of their original
// (VariantPrefix), so that they live wherever the originals do, a
// directory or a bucket, and go with them on takedown and garbage
// collection. Keys are variant.Key's: ab/cd/<sha256>/<name>.
type VariantObjects struct {
	Store ObjectStore
}

// Put stores a variant; its media type follows its name's extension.
func (v VariantObjects) Put(key string, data []byte) error {
	contentType := mime.TypeByExtension(path.Ext(key))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return v.Store.Put(context.Background(), variantsNamespace+key, bytes.NewReader(data), int64(len(data)), contentType)
}

// Open opens a variant and returns its size.
func (v VariantObjects) Open(key string) (io.ReadSeekCloser, int64, error) {
	obj, err := v.Store.Open(context.Background(), variantsNamespace+key)
	if err != nil {
		return nil, 0, err
	}
	return obj, obj.Size(), nil
}

// Remove deletes a variant; one already gone is no error.
func (v VariantObjects) Remove(key string) error {
	return v.Store.Remove(context.Background(), variantsNamespace+key)
}
