package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"marquee/imaging"
	"marquee/imaging/imagingtest"
)

// TestImagingCopy moves a directory store into a bucket, resumes, and
// moves the bucket into a new directory, as docs/operations.md's runbook
// does; then the refusals.
func TestImagingCopy(t *testing.T) {
	ctx := t.Context()
	srv := imagingtest.FakeS3(t)
	source := filepath.Join(t.TempDir(), "images")
	files, err := imaging.OpenFileStore(source)
	if err != nil {
		t.Fatal(err)
	}
	bodies := [][]byte{[]byte("\x89PNG\r\n\x1a\n one"), []byte("GIF89a two, a little longer")}
	var total int
	for _, body := range bodies {
		key := contentKeyOf(t, body)
		if err := files.Put(ctx, key, bytes.NewReader(body), int64(len(body)), ""); err != nil {
			t.Fatal(err)
		}
		total += len(body)
	}
	s3 := []string{"--s3-endpoint", srv.Endpoint, "--s3-region", "us-east-1", "--s3-path-style",
		"--s3-access-key-id", srv.AccessKeyID, "--s3-secret-access-key", srv.SecretAccessKey}
	bucket := "s3://" + srv.Bucket + "/marquee/images"
	back := "file://" + filepath.Join(t.TempDir(), "back")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantErr    string
		// ownS3: the case gives its own S3 settings, or none.
		ownS3 bool
	}{
		{"directory into the bucket", []string{"--from", "file://" + source, "--to", bucket}, exitOK,
			fmt.Sprintf("copied=2 copied_bytes=%d skipped=0 skipped_bytes=0\n", total), "", false},
		{"again without --resume", []string{"--from", "file://" + source, "--to", bucket}, exitUsage, "", "holds objects: --resume finishes a copy into it", false},
		{"again with --resume", []string{"--from", "file://" + source, "--to", bucket, "--resume"}, exitOK,
			fmt.Sprintf("copied=0 copied_bytes=0 skipped=2 skipped_bytes=%d\n", total), "", false},
		{"the bucket back into a directory", []string{"--from", bucket, "--to", back}, exitOK,
			fmt.Sprintf("copied=2 copied_bytes=%d skipped=0 skipped_bytes=0\n", total), "", false},
		{"no target", []string{"--from", bucket}, exitUsage, "", "name both image stores", false},
		{"the same store twice", []string{"--from", bucket, "--to", bucket}, exitUsage, "", "--from and --to name the same image store", false},
		{"not a store URL", []string{"--from", "file://" + source, "--to", "ftp://x/y"}, exitUsage, "", "--to: --images-store (MARQUEE_IMAGES_STORE) \"ftp://x/y\": want file://PATH or s3://BUCKET[/PREFIX]", false},
		{"a bucket without an endpoint", []string{"--from", "file://" + source, "--to", bucket}, exitUsage, "", "set --s3-endpoint", true},
		{"an endpoint that is no base URL", []string{"--from", "file://" + source, "--to", bucket, "--s3-endpoint", "minio:9000"}, exitUsage, "",
			`--s3-endpoint (MARQUEE_S3_ENDPOINT) "minio:9000": want http:// or https:// and a host`, true},
		{"a bucket that does not exist", []string{"--from", "file://" + source, "--to", "s3://no-such-bucket"}, exitFailure, "", "does not exist", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"imaging", "copy"}, tt.args...)
			if !tt.ownS3 {
				args = append(args, s3...)
			}
			code, stdout, stderr := runCLI(context.Background(), nil, args...)
			if code != tt.wantCode || stdout != tt.wantStdout && tt.wantCode == exitOK || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, saying %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantErr)
			}
		})
	}
	for _, body := range bodies {
		path := filepath.Join(strings.TrimPrefix(back, "file://"), filepath.FromSlash(contentKeyOf(t, body)))
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s after the round trip: %q, %v; want %q", path, got, err, body)
		}
	}
}

// contentKeyOf is the image store key of body.
func contentKeyOf(t testing.TB, body []byte) string {
	sum := sha256.Sum256(body)
	key, err := imaging.ContentKey(hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	return key
}
