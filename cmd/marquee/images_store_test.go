package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"marquee/db"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
)

// TestRunWithImagesInABucket runs `marquee run` with MARQUEE_IMAGES_STORE in
// a bucket of the S3 fake: it fetches every image once and serves them from
// the bucket, the data dir keeps none, and a `marquee api` with a data dir
// of its own serves the same bytes from the same bucket, a range of them
// with a ranged read.
func TestRunWithImagesInABucket(t *testing.T) {
	srv := imagingtest.FakeS3(t)
	vars := map[string]string{
		"MARQUEE_IMAGES_STORE":         "s3://" + srv.Bucket + "/run",
		"MARQUEE_S3_ENDPOINT":          srv.Endpoint,
		"MARQUEE_S3_REGION":            "us-east-1",
		"MARQUEE_S3_PATH_STYLE":        "true",
		"MARQUEE_S3_ACCESS_KEY_ID":     srv.AccessKeyID,
		"MARQUEE_S3_SECRET_ACCESS_KEY": srv.SecretAccessKey,
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	run := startRunWith(t, ctx, nil, vars, "--data-dir", dataDir)
	checkRunServesImages(t, run)
	if _, err := os.Stat(filepath.Join(dataDir, "images")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the data dir has an images directory (%v); the bytes belong in the bucket", err)
	}

	const firstThumbnail = "https://ei.phncdn.com/pics/pornstars/000/000/001/(m=lciuhScOb_c)(mh=cYkGra4ZCV8khARK)thumb_1268311.jpg"
	want := imagingtest.Image("/pics/pornstars/000/000/001/(m=lciuhScOb_c)(mh=cYkGra4ZCV8khARK)thumb_1268311.jpg")
	bucket, err := imaging.OpenS3Store(t.Context(), imaging.S3Options{Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey, Bucket: srv.Bucket, Prefix: "run"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := bucket.Stat(t.Context(), contentKeyOf(t, want))
	if err != nil || info.Size != int64(len(want)) || info.ContentType != "image/png" {
		t.Errorf("the bucket's object of the first thumbnail: %+v, %v; want %d bytes of image/png", info, err, len(want))
	}

	apiArgs := []string{"--data-dir", filepath.Join(t.TempDir(), "api-data"), "--db", "sqlite://" + filepath.Join(dataDir, "marquee.db")}
	for name, value := range vars {
		// MARQUEE_S3_ENDPOINT is --s3-endpoint, and so on.
		apiArgs = append(apiArgs, "--"+strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "MARQUEE_")), "_", "-")+"="+value)
	}
	api := startAPI(t, apiArgs...)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api+"/images/"+db.URLHash(firstThumbnail), nil)
	req.Header.Set("Range", "bytes=10-29")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[10:30]) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("the second API's GET of bytes 10-29 = %d %s %q, want 206 image/png with those bytes", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
