package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/internal/samples"
	"marquee/internal/testkit"
	"marquee/server"
)

// waitLimit bounds every wait in these tests; it is generous on purpose and
// never the thing a test asserts.
const waitLimit = 60 * time.Second

// startedRun is a `marquee run` running in-process. Its compactor fetches
// the feed's images from images.
type startedRun struct {
	baseURL          string
	stderr           *testkit.SyncBuffer
	exit             chan int
	images           *imagingtest.Server
	configureImaging func(*imaging.Config)
}

// startRun starts `marquee run` on 127.0.0.1:0 with args and waits until it
// serves. mount, when set, mounts routes of the test on its server.
func startRun(t *testing.T, ctx context.Context, mount func(*server.Server), args ...string) *startedRun {
	t.Helper()
	return startRunWith(t, ctx, mount, nil, args...)
}

// startRunWith is startRun with the environment variables vars.
func startRunWith(t *testing.T, ctx context.Context, mount func(*server.Server), vars map[string]string, args ...string) *startedRun {
	t.Helper()
	r := &startedRun{stderr: &testkit.SyncBuffer{}, exit: make(chan int, 1)}
	serving := make(chan net.Addr, 1)
	r.images, r.configureImaging = imageHosts(t)
	env := environment{
		stdout:           io.Discard,
		stderr:           r.stderr,
		lookupEnv:        envFrom(vars),
		configureImaging: r.configureImaging,
		serverStarting: func(srv *server.Server) {
			if mount != nil {
				mount(srv)
			}
			serving <- srv.Addr()
		},
	}
	args = append([]string{"run", "--http-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--feed-url", testFeed(t)}, args...)
	go func() { r.exit <- run(ctx, args, env) }()
	select {
	case addr := <-serving:
		r.baseURL = "http://" + addr.String()
	case code := <-r.exit:
		t.Fatalf("marquee run exited %d before serving; stderr:\n%s", code, r.stderr)
	case <-time.After(waitLimit):
		t.Fatalf("marquee run did not start serving; stderr:\n%s", r.stderr)
	}
	return r
}

func get(t *testing.T, url string) (code int, contentType, body string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// logLine finds the JSON log line with message msg in stderr.
func logLine(t *testing.T, stderr, msg string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == msg {
			return entry
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, stderr)
	return nil
}

// TestRunEndToEnd starts `marquee run` on a fresh data dir, checks its
// endpoints and its ownership of the data dir, then stops it with a request
// in flight and checks that the request finished and the lock was released.
func TestRunEndToEnd(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	slowStarted := make(chan struct{})
	slowRelease := make(chan struct{})
	mountSlow := func(srv *server.Server) {
		srv.Handle("GET /test/slow", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(slowStarted)
			<-slowRelease
			_, _ = io.WriteString(w, "slow and done")
		}))
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	first := startRun(t, ctx, mountSlow, "--data-dir", dataDir)

	start := logLine(t, first.stderr.String(), "marquee run starting")
	if start["addr"] != strings.TrimPrefix(first.baseURL, "http://") || start["data_dir"] != dataDir ||
		start["db"] != "sqlite://"+filepath.Join(dataDir, "marquee.db") {
		t.Errorf("start line %v, want the bound address, the data dir and the database URL", start)
	}

	if code, _, body := get(t, first.baseURL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", code, body)
	}
	code, contentType, body := get(t, first.baseURL+"/readyz")
	if code != 200 || contentType != "application/json" ||
		strings.TrimSpace(body) != `{"status":"ready","checks":{"database":"ok","kafka":"ok"}}` {
		t.Errorf("GET /readyz = %d %s %q, want 200 ready with the database and Kafka ok", code, contentType, body)
	}
	// The start-up feed run's images: fetched once each, served with
	// immutable caching and a strong ETag.
	checkRunServesImages(t, first)
	checkFanOutRefused(t, first.baseURL)

	code, _, body = get(t, first.baseURL+"/metrics")
	for _, want := range []string{`marquee_build_info{goversion="go`, `version="dev"} 1`, "go_goroutines ", "process_resident_memory_bytes ",
		"marquee_imaging_http_requests_total "} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics = %d, body lacks %q", code, want)
		}
	}

	// A second process on the same data dir exits 1 and names the owner. Its
	// context is bounded, so that a broken lock fails the test instead of
	// leaving the second process serving.
	secondCtx, cancelSecond := context.WithTimeout(t.Context(), waitLimit)
	defer cancelSecond()
	code, _, stderr := runCLI(secondCtx, nil, "run", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--feed-url", testFeed(t))
	wantOwner := fmt.Sprintf("pid %d", os.Getpid())
	if code != exitFailure || !strings.Contains(stderr, wantOwner) {
		t.Errorf("second run on the same data dir = %d %q, want 1 naming %q", code, stderr, wantOwner)
	}

	// Stop with a request in flight: the request completes, then run exits 0.
	slowDone := make(chan string, 1)
	go func() {
		resp, err := http.Get(first.baseURL + "/test/slow")
		if err != nil {
			slowDone <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slowDone <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	select {
	case <-slowStarted:
	case <-time.After(waitLimit):
		t.Fatal("the slow request never reached its handler")
	}
	stop()
	waitUntilRefused(t, strings.TrimPrefix(first.baseURL, "http://"))
	select {
	case code := <-first.exit:
		t.Fatalf("marquee run exited %d with a request in flight", code)
	default:
	}
	close(slowRelease)
	select {
	case got := <-slowDone:
		if got != "200 slow and done" {
			t.Errorf("in-flight request = %q, want \"200 slow and done\"", got)
		}
	case <-time.After(waitLimit):
		t.Fatal("the in-flight request never completed")
	}
	select {
	case code := <-first.exit:
		if code != exitOK {
			t.Fatalf("marquee run exited %d after SIGINT, want 0; stderr:\n%s", code, first.stderr)
		}
	case <-time.After(waitLimit):
		t.Fatal("marquee run did not exit after its context ended")
	}
	logLine(t, first.stderr.String(), "marquee run stopped")

	// The lock is free again: the data dir can be owned by the next process.
	lock, err := lockDataDir(dataDir)
	if err != nil {
		t.Fatalf("data dir still locked after run stopped: %v", err)
	}
	lock.Release()
}

func TestRunPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dataDir := t.TempDir()
	code, _, stderr := runCLI(t.Context(), nil, "run", "--data-dir", dataDir, "--http-addr", taken.Addr().String(), "--kafka-addr", "127.0.0.1:0", "--feed-url", testFeed(t))
	if code != exitFailure || !strings.Contains(stderr, "address already in use") || !strings.Contains(stderr, taken.Addr().String()) {
		t.Fatalf("run on a taken port = %d %q, want 1 naming the address", code, stderr)
	}
	// It gave the data dir back.
	lock, err := lockDataDir(dataDir)
	if err != nil {
		t.Fatalf("data dir still locked after a failed start: %v", err)
	}
	lock.Release()
}

func TestRunBadDatabaseFails(t *testing.T) {
	code, _, stderr := runCLI(t.Context(), nil, "run", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--feed-url", testFeed(t),
		"--db", "mysql://marquee:s3cret@127.0.0.1:1/marquee")
	if code != exitFailure || !strings.Contains(stderr, "marquee run failed") {
		t.Fatalf("run with an unreachable database = %d %q, want 1", code, stderr)
	}
	if strings.Contains(stderr, "s3cret") {
		t.Fatalf("the password leaked into the log: %q", stderr)
	}
	if !strings.Contains(stderr, "mysql://marquee:xxxxx@127.0.0.1:1/marquee") {
		t.Errorf("start line lacks the redacted database URL: %q", stderr)
	}
}

// waitUntilRefused polls until addr refuses connections: the listener is
// closed, so shutdown has begun.
func waitUntilRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections after shutdown began", addr)
}

// testFeed is the head fixture, a feed of 100 performers in the real
// layout: tests never reach for the real feed.
func testFeed(t testing.TB) string {
	t.Helper()
	return samples.Head.Path(t)
}

// checkRunServesImages waits until `marquee run` serves the image of the
// test feed's first thumbnail at /images/{url_hash}, checks the answer, and
// that every image of the feed was requested once.
func checkRunServesImages(t *testing.T, r *startedRun) {
	t.Helper()
	const firstThumbnail = "https://ei.phncdn.com/pics/pornstars/000/000/001/(m=lciuhScOb_c)(mh=cYkGra4ZCV8khARK)thumb_1268311.jpg"
	resp := fetchImage(t, r.baseURL, db.URLHash(firstThumbnail))
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := imagingtest.Image("/pics/pornstars/000/000/001/(m=lciuhScOb_c)(mh=cYkGra4ZCV8khARK)thumb_1268311.jpg")
	sum := sha256.Sum256(want)
	if !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != "image/png" ||
		resp.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("GET /images/{hash of the first thumbnail}: %d bytes, headers %v; want the served PNG, its hash as ETag, immutable", len(body), resp.Header)
	}
	if code, contentType, _ := get(t, r.baseURL+"/images/"+strings.Repeat("A", 64)); code != http.StatusBadRequest || contentType != "application/problem+json" {
		t.Errorf("GET /images/<upper-case hash> = %d %s, want a 400 problem", code, contentType)
	}
	// The run loaded every performer before this image could be served;
	// wait for its remaining images, then count the requests.
	paths := feedImageRequests(t, testFeed(t))
	deadline := time.Now().Add(waitLimit)
	for len(r.images.Counts()) < len(paths) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	checkImageRequests(t, r.images, paths, "marquee run")
}
