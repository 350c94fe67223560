package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"marquee/db/dbtest"
)

// benchFeedItems and benchFeedSeed select the feed BenchmarkIngestOnce
// ingests: five times the real feed's 21,000 performers.
const (
	benchFeedItems = 100_000
	benchFeedSeed  = 20261126
)

// ingestMeasurement is what BenchmarkIngestOnce measured on one backend.
type ingestMeasurement struct {
	wall, rerunWall   time.Duration
	peakRSS, rerunRSS int64 // KiB
	// withImages is the default run, which also settles every image
	// request, into a fresh database.
	withImagesWall    time.Duration
	withImagesPeakRSS int64 // KiB
	// stages are the standalone speeds of the run's stages.
	stages stageSpeeds
}

// BenchmarkIngestOnce runs `marquee ingest --once --images=false` as a
// subprocess on a generated 100,000-item feed served over HTTP, end to end
// (HTTP, parse, embedded Kafka, loader) into SQLite and into MySQL, then once
// more on the unchanged feed (a 304). It reports items/s of the first run,
// the peak RSS of the whole process, and the time of the re-run; ns/op is the
// first run's wall time. Beside it, it reports the standalone speed of each
// stage the run chains (parse, hash, publish, consume, upsert), measured in
// the same call, and the run's share of the slowest. The database is checked
// with `marquee dev verify` afterwards. Then it runs the default `ingest --once` into a fresh database,
// which also settles the run's 94,000 image requests (their URLs name the
// real image hosts, which this machine cannot reach, so each fails at its
// first attempt and is claimed, recorded, published and loaded as failed),
// and reports that run's items/s and peak RSS as with-images-*.
//
// Each backend ingests once per call of BenchmarkIngestOnce (once per
// -count), whatever b.N is: when a call of a sub-benchmark takes less than
// -benchtime, the framework calls it again with a larger b.N, and that call
// reports the same measurement instead of ingesting b.N times.
func BenchmarkIngestOnce(b *testing.B) {
	if testing.Short() {
		b.Skip("a 100,000-item ingest is not short")
	}
	binary := buildMarquee(b)
	feed := startFeedServer(b, benchFeedItems, benchFeedSeed)
	measured := map[string]*ingestMeasurement{}
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			m := measured[backend.Name]
			if m == nil {
				m = measureIngestOnce(b, binary, feed, backend.URL(b))
				m.withImagesWall, m.withImagesPeakRSS = measureWithImages(b, binary, feed, backend.URL(b))
				m.stages = measureStages(b, feed, backend.URL(b))
				measured[backend.Name] = m
			}
			b.ReportMetric(float64(m.wall.Nanoseconds()), "ns/op")
			itemsPerSecond := float64(benchFeedItems) / m.wall.Seconds()
			b.ReportMetric(itemsPerSecond, "items/s")
			b.ReportMetric(m.stages.parse, "parse-items/s")
			b.ReportMetric(m.stages.hash, "hash-items/s")
			b.ReportMetric(m.stages.publish, "publish-items/s")
			b.ReportMetric(m.stages.consume, "consume-items/s")
			b.ReportMetric(m.stages.upsert, "upsert-items/s")
			b.ReportMetric(100*itemsPerSecond/m.stages.slowest(), "%-of-slowest-stage")
			b.ReportMetric(float64(m.peakRSS)/1024, "peak-RSS-MB")
			b.ReportMetric(float64(m.rerunWall.Microseconds())/1000, "rerun-ms")
			b.ReportMetric(float64(benchFeedItems)/m.withImagesWall.Seconds(), "with-images-items/s")
			b.ReportMetric(float64(m.withImagesPeakRSS)/1024, "with-images-peak-RSS-MB")
		})
	}
}

// measureIngestOnce ingests the feed into dbURL through a fresh data dir,
// runs the unchanged re-run, checks both summaries and the database, and
// logs what it measured.
func measureIngestOnce(b *testing.B, binary string, feed *feedServer, dbURL string) *ingestMeasurement {
	dataDir := b.TempDir()
	args := []string{"ingest", "--once", "--images=false", "--feed", feed.URL(), "--db", dbURL, "--data-dir", dataDir,
		"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	first := runMarquee(ctx, b, binary, args...)
	if first.err != nil || !firstRunSummary.MatchString(first.stdout) {
		b.Fatalf("first ingest: %v, stdout %q, want a completed run of %d items\nstderr:\n%s",
			first.err, first.stdout, benchFeedItems, tail(first.stderr))
	}
	checkFirstRunCounts(b, first.stdout)

	notModifiedBefore := feed.notModified.Load()
	rerun := runMarquee(ctx, b, binary, args...)
	const wantRerun = "status=not_modified seen=0 valid=0 rejected=0 changed=0 removed=0 images_requested=0"
	if rerun.err != nil || strings.TrimSpace(rerun.stdout) != wantRerun {
		b.Fatalf("re-run: %v, stdout %q, want %q\nstderr:\n%s", rerun.err, rerun.stdout, wantRerun, tail(rerun.stderr))
	}
	if got := feed.notModified.Load() - notModifiedBefore; got != 1 {
		b.Fatalf("re-run: the feed server answered %d requests with 304, want 1", got)
	}

	verify := runMarquee(ctx, b, binary, "dev", "verify", "--feed", feed.URL(), "--db", dbURL)
	if verify.err != nil {
		b.Fatalf("dev verify: %v\n%s\nstderr:\n%s", verify.err, tail(verify.stdout), tail(verify.stderr))
	}

	m := &ingestMeasurement{wall: first.wall, peakRSS: first.maxRSS, rerunWall: rerun.wall, rerunRSS: rerun.maxRSS}
	b.Logf("ingest --once of %d items (%.1f MB feed) into %s: %.1f s, %.0f items/s, peak RSS %.1f MB; %s",
		benchFeedItems, float64(feed.size)/1e6, redactURL(dbURL), m.wall.Seconds(),
		float64(benchFeedItems)/m.wall.Seconds(), float64(m.peakRSS)/1024, strings.TrimSpace(first.stdout))
	b.Logf("unchanged re-run (HTTP 304): %d ms, peak RSS %.1f MB; dev verify: database equals the feed",
		m.rerunWall.Milliseconds(), float64(m.rerunRSS)/1024)
	return m
}

// measureWithImages runs the default ingest --once, which waits for every
// image request to settle, into dbURL and returns its wall time and peak RSS.
func measureWithImages(b *testing.B, binary string, feed *feedServer, dbURL string) (time.Duration, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	run := runMarquee(ctx, b, binary, "ingest", "--once", "--feed", feed.URL(), "--db", dbURL, "--data-dir", b.TempDir(),
		"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if run.err != nil || !firstRunSummary.MatchString(run.stdout) {
		b.Fatalf("ingest with images: %v, stdout %q\nstderr:\n%s", run.err, run.stdout, tail(run.stderr))
	}
	b.Logf("ingest --once with its image requests settled, into %s: %.1f s, %.0f items/s, peak RSS %.1f MB; %s",
		redactURL(dbURL), run.wall.Seconds(), float64(benchFeedItems)/run.wall.Seconds(), float64(run.maxRSS)/1024,
		strings.TrimSpace(run.stdout))
	return run.wall, run.maxRSS
}

var firstRunSummary = regexp.MustCompile(`^status=completed seen=(\d+) valid=(\d+) rejected=(\d+) changed=(\d+) removed=0 images_requested=\d+\n$`)

// checkFirstRunCounts checks that the first run saw every item and
// published every valid one.
func checkFirstRunCounts(b *testing.B, summary string) {
	m := firstRunSummary.FindStringSubmatch(summary)
	n := make([]int, 4)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	seen, valid, rejected, changed := n[0], n[1], n[2], n[3]
	if seen != benchFeedItems || valid+rejected != seen || changed != valid {
		b.Fatalf("first ingest: %q: want seen=%d = valid + rejected, changed = valid", summary, benchFeedItems)
	}
}

// feedServer serves one generated feed at /feed.json over HTTP on
// 127.0.0.1, with a strong ETag and a Last-Modified date, answering
// conditional requests with 304 as a CDN does. Every other path is 404.
type feedServer struct {
	*httptest.Server
	path        string
	items       int
	size        int64
	etag        string
	modified    time.Time
	requests    atomic.Int64
	notModified atomic.Int64
}

// startFeedServer writes the feed of items and seed to a temporary file and
// serves it until the test ends. Its thumbnails point at the same server
// (paths that answer 404), so that nothing, now or once an image compactor
// runs in `ingest --once`, fetches from outside the machine.
func startFeedServer(tb testing.TB, items int, seed int64) *feedServer {
	tb.Helper()
	fs := &feedServer{path: filepath.Join(tb.TempDir(), "feed.json"), items: items}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve)) // listens on 127.0.0.1
	tb.Cleanup(fs.Close)
	if err := writeFeedFile(fs.path, items, seed, fs.Server.URL+"/pics/pornstars"); err != nil {
		tb.Fatal(err)
	}
	info, err := os.Stat(fs.path)
	if err != nil {
		tb.Fatal(err)
	}
	fs.size = info.Size()
	fs.modified = info.ModTime().UTC().Truncate(time.Second)
	fs.etag = fmt.Sprintf(`"feed-%d-%d-%d"`, items, seed, fs.size)
	return fs
}

// URL is the feed's address.
func (fs *feedServer) URL() string { return fs.Server.URL + "/feed.json" }

func (fs *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/feed.json" {
		http.NotFound(w, r)
		return
	}
	fs.requests.Add(1)
	file, err := os.Open(fs.path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer file.Close()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", fs.etag)
	// ServeContent answers If-None-Match (and, without it, If-Modified-Since)
	// with 304 and sets Last-Modified.
	counter := &statusRecorder{ResponseWriter: w}
	http.ServeContent(counter, r, "feed.json", fs.modified, file)
	if counter.status == http.StatusNotModified {
		fs.notModified.Add(1)
	}
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// processResult is how a marquee subprocess ended.
type processResult struct {
	err            error // nil for exit status 0
	stdout, stderr string
	wall           time.Duration
	maxRSS         int64 // KiB: the peak resident set of the process
}

// runMarquee runs the binary with args to completion, with no MARQUEE_*
// variables from the environment, and measures it.
func runMarquee(ctx context.Context, tb testing.TB, binary string, args ...string) processResult {
	tb.Helper()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = marqueeFreeEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return processResult{err: err}
	}
	// The peak is read from the process's own memory map (VmHWM), which
	// starts at its exec: the rusage of a child started by vfork also counts
	// the parent's pages it ran on before the exec, here the benchmark's own.
	var peak atomic.Int64
	polled := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(polled)
		ticker := time.NewTicker(20 * time.Millisecond)
		defer ticker.Stop()
		for {
			if kib, ok := peakRSS(cmd.Process.Pid); ok && kib > peak.Load() {
				peak.Store(kib)
			}
			select {
			case <-exited:
				return
			case <-ticker.C:
			}
		}
	}()
	err := cmd.Wait()
	close(exited)
	<-polled
	res := processResult{err: err, stdout: stdout.String(), stderr: stderr.String(), wall: time.Since(start), maxRSS: peak.Load()}
	return res
}

// peakRSS reads the peak resident set (KiB) of the running process pid.
func peakRSS(pid int) (int64, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib, err == nil
		}
	}
	return 0, false
}
