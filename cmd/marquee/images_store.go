package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"marquee/imaging"
)

// declareImagesStore declares the settings that locate the image store.
func (c *Config) declareImagesStore(f *flags) {
	f.String(&c.ImagesStore, "images-store", "image store `URL`: file://PATH (a directory) or s3://BUCKET[/PREFIX] (S3-compatible object storage) (default file://DATA_DIR/images)")
	c.declareS3(f)
}

// declareS3 declares the settings that reach the bucket of an s3:// image
// store.
func (c *Config) declareS3(f *flags) {
	f.String(&c.S3Endpoint, "s3-endpoint", "base `URL` of the S3 API of an s3:// image store, e.g. https://s3.eu-west-1.amazonaws.com or http://minio:9000")
	f.String(&c.S3Region, "s3-region", "`region` of the bucket (empty: asked of the server)")
	f.String(&c.S3AccessKeyID, "s3-access-key-id", "access key `id` of the S3 account")
	f.String(&c.S3SecretAccessKey, "s3-secret-access-key", "secret access `key` of the S3 account")
	f.Bool(&c.S3PathStyle, "s3-path-style", "address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (MinIO and most self-hosted servers)")
	f.String(&c.S3TLSCAFile, "s3-tls-ca-file", "PEM `file` of the CAs that sign the S3 endpoint's certificate (default: the system's CAs)")
}

// imagesStoreURL is the image store's URL, the default filled in.
func (c *Config) imagesStoreURL() string {
	if c.ImagesStore == "" {
		return "file://" + filepath.Join(c.DataDir, "images")
	}
	return c.ImagesStore
}

// openImagesStore opens the image store of cfg. readOnly opens a directory
// without creating or cleaning it (the API may not write the volume it
// serves); a bucket is the same either way.
func openImagesStore(ctx context.Context, cfg Config, readOnly bool) (imaging.ObjectStore, error) {
	raw := cfg.imagesStoreURL()
	scheme, rest, ok := strings.Cut(raw, "://")
	switch {
	case ok && scheme == "file" && rest != "":
		if readOnly {
			return imaging.ReadFileStore(rest), nil
		}
		return imaging.OpenFileStore(rest)
	case ok && scheme == "s3":
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, &usageError{fmt.Sprintf("--images-store (MARQUEE_IMAGES_STORE) %q: want s3://BUCKET or s3://BUCKET/PREFIX", raw)}
		}
		if cfg.S3Endpoint == "" {
			return nil, &usageError{"--images-store (MARQUEE_IMAGES_STORE) is a bucket: set --s3-endpoint (MARQUEE_S3_ENDPOINT) too"}
		}
		if e, err := url.Parse(cfg.S3Endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" ||
			(e.Path != "" && e.Path != "/") || e.User != nil || e.RawQuery != "" {
			return nil, &usageError{fmt.Sprintf("--s3-endpoint (MARQUEE_S3_ENDPOINT) %q: want http:// or https:// and a host, nothing more", cfg.S3Endpoint)}
		}
		var roots *x509.CertPool
		if cfg.S3TLSCAFile != "" {
			if roots, err = loadCAs("s3-tls", cfg.S3TLSCAFile); err != nil {
				return nil, err
			}
		}
		return imaging.OpenS3Store(ctx, imaging.S3Options{
			Endpoint: cfg.S3Endpoint, Region: cfg.S3Region,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey,
			PathStyle: cfg.S3PathStyle, RootCAs: roots,
			Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"),
		})
	}
	return nil, &usageError{fmt.Sprintf("--images-store (MARQUEE_IMAGES_STORE) %q: want file://PATH or s3://BUCKET[/PREFIX]", raw)}
}

// imagesTempDir is where the compactor writes downloads before they go to
// a bucket (a directory store has its own temporary directory).
func (c *Config) imagesTempDir() string { return filepath.Join(c.DataDir, "images-tmp") }
