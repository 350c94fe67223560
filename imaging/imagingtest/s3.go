package imagingtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is an S3-compatible server with one bucket, on 127.0.0.1.
type S3 struct {
	// Endpoint is the server's base URL (http://127.0.0.1:PORT).
	Endpoint string
	Bucket   string
	// AccessKeyID and SecretAccessKey are the server's account.
	AccessKeyID, SecretAccessKey string
	clock                        *settableClock
}

// WriteAt runs write with the fake's clock at at, so that the objects it
// writes carry that modification time (objects written long ago). Only
// for FakeS3; calls are serialized.
func (s S3) WriteAt(at time.Time, write func()) {
	s.clock.mu.Lock()
	defer s.clock.mu.Unlock()
	s.clock.at.Store(at.UnixNano())
	defer s.clock.at.Store(0)
	write()
}

// settableClock is the fake's clock: the real time unless WriteAt set one.
type settableClock struct {
	mu sync.Mutex   // held by WriteAt
	at atomic.Int64 // Unix nanoseconds; 0: the real time
}

func (c *settableClock) Now() time.Time {
	if at := c.at.Load(); at != 0 {
		return time.Unix(0, at)
	}
	return time.Now()
}

func (c *settableClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// FakeS3 serves an in-memory S3 fake (gofakes3) with the bucket
// "marquee-images", for the length of the test.
func FakeS3(t testing.TB) S3 {
	t.Helper()
	return FakeS3Behind(t, nil)
}

// FakeS3Behind is FakeS3 with every request passing through wrap first (a
// test's faults: hanging or failing uploads); nil wraps nothing.
func FakeS3Behind(t testing.TB, wrap func(http.Handler) http.Handler) S3 {
	t.Helper()
	clock := &settableClock{}
	backend := s3mem.New(s3mem.WithTimeSource(clock))
	const bucket = "marquee-images"
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handler := gofakes3.New(backend).Server()
	if wrap != nil {
		handler = wrap(handler)
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })
	return S3{Endpoint: "http://" + listener.Addr().String(), Bucket: bucket, AccessKeyID: "marquee", SecretAccessKey: "marquee-secret", clock: clock}
}

// MinIO starts a real MinIO server (the minio binary on the PATH) on
// 127.0.0.1 with a fresh data directory and the bucket "marquee-images",
// for the length of the test. Without the binary the test is skipped,
// unless MARQUEE_TEST_MINIO=required (for a machine where MinIO must be
// tested; .ci/run does not build it, README "Tests" says why).
func MinIO(t testing.TB) S3 {
	t.Helper()
	bin, err := exec.LookPath("minio")
	if err != nil {
		if os.Getenv("MARQUEE_TEST_MINIO") == "required" {
			t.Fatal("MARQUEE_TEST_MINIO=required but no minio binary is on the PATH")
		}
		t.Skip("no minio binary on the PATH")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	s := S3{Endpoint: "http://" + addr, Bucket: "marquee-images", AccessKeyID: "marquee", SecretAccessKey: "marquee-secret"}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, t.TempDir())
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKeyID, "MINIO_ROOT_PASSWORD="+s.SecretAccessKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	client, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKeyID, s.SecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err = client.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{})
		if err == nil {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatal(fmt.Errorf("minio did not start: %w", err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
