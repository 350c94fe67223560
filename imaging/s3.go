package imaging

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configure OpenS3Store.
type S3Options struct {
	// Endpoint is the base URL of the S3 API: http://host:port or
	// https://host[:port] (MARQUEE_S3_ENDPOINT). Required.
	Endpoint string
	// Region is the bucket's region (MARQUEE_S3_REGION); empty asks the
	// server.
	Region string
	// AccessKeyID and SecretAccessKey sign requests; both empty sends
	// unsigned requests (a public bucket, read only).
	AccessKeyID, SecretAccessKey string
	// PathStyle addresses the bucket as host/bucket rather than
	// bucket.host (MARQUEE_S3_PATH_STYLE): MinIO and most self-hosted
	// servers need it.
	PathStyle bool
	// RootCAs verify the server's certificate; nil trusts the system's.
	RootCAs *x509.CertPool
	// Bucket is the bucket; Prefix, if not empty, is put before every key
	// (without a trailing '/', which is added).
	Bucket, Prefix string
}

// s3RequestTimeout bounds one request of Stat, Remove, Move and one page of
// List: object storage answers those in milliseconds, and a hung
// connection must not hold a compactor worker or an API request forever.
// Reads and uploads are bounded by their callers' contexts instead, since
// their length depends on the bytes.
const s3RequestTimeout = 30 * time.Second

// S3Store is the ObjectStore in a bucket of S3-compatible object storage
// (AWS S3, MinIO, and the other servers of the protocol): the object under
// key k is PREFIX/k. An object becomes visible only when its upload
// completed, so a killed writer leaves nothing readable; objects carry
// their Content-Type and ObjectCacheControl, so that a CDN can serve the
// bucket. Safe for concurrent use.
type S3Store struct {
	client *minio.Client
	core   minio.Core
	bucket string
	prefix string // "" or ending in '/'
	name   string
}

// OpenS3Store connects to the bucket and checks that it exists.
func OpenS3Store(ctx context.Context, opts S3Options) (*S3Store, error) {
	endpoint, err := url.Parse(opts.Endpoint)
	if err != nil || (endpoint.Scheme != "http" && endpoint.Scheme != "https") || endpoint.Host == "" ||
		(endpoint.Path != "" && endpoint.Path != "/") {
		return nil, fmt.Errorf("imaging: S3 endpoint %q is not an http:// or https:// URL of a host", opts.Endpoint)
	}
	if opts.Bucket == "" {
		return nil, errors.New("imaging: no S3 bucket")
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: s3RequestTimeout,
		ExpectContinueTimeout: time.Second,
		// Objects are images, compressed already.
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs},
	}
	var creds *credentials.Credentials
	if opts.AccessKeyID != "" || opts.SecretAccessKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKeyID, opts.SecretAccessKey, "")
	} else {
		creds = credentials.New(&credentials.Static{})
	}
	client, err := minio.New(endpoint.Host, &minio.Options{
		Creds:        creds,
		Secure:       endpoint.Scheme == "https",
		Region:       opts.Region,
		BucketLookup: lookup,
		Transport:    transport,
	})
	if err != nil {
		return nil, fmt.Errorf("imaging: S3 client: %w", err)
	}
	s := &S3Store{client: client, core: minio.Core{Client: client}, bucket: opts.Bucket}
	s.name = "s3://" + opts.Bucket
	if p := strings.Trim(opts.Prefix, "/"); p != "" {
		s.prefix = p + "/"
		s.name += "/" + p
	}
	checkCtx, cancel := context.WithTimeout(ctx, s3RequestTimeout)
	defer cancel()
	exists, err := client.BucketExists(checkCtx, opts.Bucket)
	if err != nil {
		return nil, fmt.Errorf("imaging: %s at %s: %w", s.name, endpoint.Redacted(), err)
	}
	if !exists {
		return nil, fmt.Errorf("imaging: the bucket of %s does not exist at %s", s.name, endpoint.Redacted())
	}
	return s, nil
}

// String is the store's MARQUEE_IMAGES_STORE URL.
func (s *S3Store) String() string { return s.name }

// object is the object name of a checked key.
func (s *S3Store) object(key string) string { return s.prefix + key }

// s3Error maps the errors of missing objects to fs.ErrNotExist.
func s3Error(op, key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, "NotFound":
		return fmt.Errorf("imaging: %s %s: %w", op, key, fs.ErrNotExist)
	}
	return fmt.Errorf("imaging: %s %s: %w", op, key, err)
}

// Put uploads the object in one request, or a multipart upload for large
// ones, which the client aborts on failure and which is never an object
// until it completes. The server checks the bytes against their checksum.
func (s *S3Store) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("imaging: put %s: negative size", key)
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), body, size, minio.PutObjectOptions{
		ContentType:  contentType,
		CacheControl: ObjectCacheControl,
	})
	if err != nil {
		return fmt.Errorf("imaging: put %s: %w", key, err)
	}
	return nil
}

// Stat asks for the object's headers.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3RequestTimeout)
	defer cancel()
	info, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s3Error("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: info.Size, ContentType: info.ContentType, ModTime: info.LastModified}, nil
}

// Open asks for the object's headers; reading then GETs the bytes from the
// current offset on, and a Seek elsewhere starts a new ranged GET at the
// next Read. The reads use ctx.
func (s *S3Store) Open(ctx context.Context, key string) (Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &s3Object{ctx: ctx, store: s, key: key, size: info.Size}, nil
}

// s3Object reads an object with ranged GETs.
type s3Object struct {
	ctx    context.Context
	store  *S3Store
	key    string
	size   int64
	offset int64
	body   io.ReadCloser // the GET open at offset, or nil
}

func (o *s3Object) Size() int64 { return o.size }

func (o *s3Object) Read(p []byte) (int, error) {
	if o.offset >= o.size {
		return 0, io.EOF
	}
	if o.body == nil {
		var opts minio.GetObjectOptions
		if o.offset > 0 {
			if err := opts.SetRange(o.offset, 0); err != nil {
				return 0, err
			}
		}
		body, _, _, err := o.store.core.GetObject(o.ctx, o.store.bucket, o.store.object(o.key), opts)
		if err != nil {
			return 0, s3Error("read", o.key, err)
		}
		o.body = body
	}
	n, err := o.body.Read(p)
	o.offset += int64(n)
	if err == io.EOF && o.offset < o.size {
		err = fmt.Errorf("imaging: read %s: %w", o.key, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += o.offset
	case io.SeekEnd:
		offset += o.size
	}
	if offset < 0 {
		return 0, fmt.Errorf("imaging: seek %s: negative offset", o.key)
	}
	if offset != o.offset && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.offset = offset
	return offset, nil
}

func (o *s3Object) Close() error {
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}

// Remove deletes the object.
func (s *S3Store) Remove(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s3RequestTimeout)
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		if err := s3Error("remove", key, err); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("imaging: remove %s: %w", key, err)
	}
	return nil
}

// Move copies the object on the server (headers included) and deletes the
// original: S3 has no rename. Until the delete, both keys hold the bytes.
func (s *S3Store) Move(ctx context.Context, from, to string) error {
	for _, key := range []string{from, to} {
		if err := checkKey(key); err != nil {
			return err
		}
	}
	copyCtx, cancel := context.WithTimeout(ctx, s3RequestTimeout)
	defer cancel()
	_, err := s.client.CopyObject(copyCtx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: s.object(to)},
		minio.CopySrcOptions{Bucket: s.bucket, Object: s.object(from)})
	if err != nil {
		return s3Error("move", from, err)
	}
	return s.Remove(ctx, from)
}

// List pages through the objects below prefix.
func (s *S3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing when fn fails
	for info := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.object(prefix), Recursive: true}) {
		if info.Err != nil {
			return fmt.Errorf("imaging: list %s: %w", s, info.Err)
		}
		key := strings.TrimPrefix(info.Key, s.prefix)
		if checkKey(key) != nil {
			continue // not an object of this store
		}
		if err := fn(ObjectInfo{Key: key, Size: info.Size, ContentType: info.ContentType, ModTime: info.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}
