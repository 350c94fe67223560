package imaging_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

// Benchmark parameters: 10,000 distinct images of 10 KiB, answered at once
// and after 20 ms, as a CDN might.
const (
	benchImages    = 10_000
	benchImageSize = 10 << 10
	benchWorkers   = 16
)

var benchLatencies = []time.Duration{0, 20 * time.Millisecond}

// compactorMeasurement is what BenchmarkCompactor measured on one backend
// at one source latency, with the bound measured in the same run.
type compactorMeasurement struct {
	wall     time.Duration
	requests int
	// bound is the images/s the compactor cannot beat: the workers over the
	// latency, or, at zero latency, the rate at which the disk makes a
	// small file durable (one fsync each), measured in the same directory.
	bound     float64
	boundName string
}

func (m *compactorMeasurement) rate() float64 { return benchImages / m.wall.Seconds() }

// BenchmarkCompactor publishes one request for each of 10,000 distinct
// image URLs to an in-process broker and measures how long a compactor with
// the default settings (16 workers, 16 per host) takes to settle them all:
// claims in the database, HTTP from a local server answering at once and
// with 20 ms latency, validation, content-addressed files, outcomes
// published, offsets committed. Each database backend runs with the
// directory store and with a bucket of the in-process S3 fake (-s3). The
// directory store runs with GOMAXPROCS raised by imaging.RaiseProcs
// (unless the environment sets it), as 'marquee imaging' runs it, and
// again at the CPUs (-cpu-procs), as in 'marquee run', whose APIs share
// the process. It reports images/s beside
// its bound from the same run (workers / latency; at zero latency, for the
// directory, the disk's own rate of small files written and fsynced one
// after another in the same directory) and the share of the bound reached,
// and the HTTP requests made, which must equal the distinct URLs. Each is
// measured once per call of the benchmark, whatever b.N is.
func BenchmarkCompactor(b *testing.B) {
	if testing.Short() {
		b.Skip("10,000 fetches are not short")
	}
	measured := map[string]*compactorMeasurement{}
	stores := []struct {
		suffix string
		open   func(b *testing.B) imaging.ObjectStore
		atCPUs bool // GOMAXPROCS left as it is
	}{
		{"", func(b *testing.B) imaging.ObjectStore { return openFiles(b) }, false},
		{"-cpu-procs", func(b *testing.B) imaging.ObjectStore { return openFiles(b) }, true},
		{"-s3", func(b *testing.B) imaging.ObjectStore { return openS3(b, imagingtest.FakeS3(b), "bench") }, false},
	}
	for _, backend := range dbtest.Backends() {
		for _, store := range stores {
			for _, latency := range benchLatencies {
				name := fmt.Sprintf("%s%s/latency=%v", backend.Name, store.suffix, latency)
				b.Run(name, func(b *testing.B) {
					m := measured[name]
					if m == nil {
						files := store.open(b)
						if !store.atCPUs {
							if before, raised := imaging.RaiseProcs(files, os.LookupEnv); raised { // as the command
								defer runtime.GOMAXPROCS(before)
							}
						}
						m = measureCompactor(b, backend.URL(b), files, latency)
						measured[name] = m
					}
					b.ReportMetric(float64(m.wall.Nanoseconds()), "ns/op")
					b.ReportMetric(m.rate(), "images/s")
					if m.bound > 0 {
						b.ReportMetric(m.bound, m.boundName)
						b.ReportMetric(100*m.rate()/m.bound, "%bound")
					}
					b.ReportMetric(float64(m.requests), "requests")
				})
			}
		}
	}
}

func measureCompactor(b *testing.B, dbURL string, files imaging.ObjectStore, latency time.Duration) *compactorMeasurement {
	k := startKafka(b)
	store := testkit.OpenStore(b, dbURL)
	server := imagingtest.NewServer(b)
	server.SetImageSize(benchImageSize)
	server.SetLatency(latency)
	c := newCompactor(b, imaging.Config{
		Store: store, Publisher: k.writer, Files: files, TempDir: tempDirFor(b, files), Kafka: bus.Cluster{Brokers: k.brokers}, Logger: quietLogger(),
		AllowAddrs: []netip.AddrPort{server.AddrPort()}, SessionTimeout: 6 * time.Second, Workers: benchWorkers,
	})
	runCompactor(b, c)

	// One request first, so the consumer has joined its group before the clock runs.
	k.request(b, []string{server.URL + "/warm-up.png"})
	k.waitSettled(b, imaging.GroupID)
	before := server.Total()

	urls := make([]string, benchImages)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/pics/pornstars/%03d/%03d/(m=lciuhScOb_c)(mh=%08x)thumb_%d.jpg", server.URL, i/1000, i%1000, i*2654435761, i)
	}
	start := time.Now()
	for i := 0; i < len(urls); i += 1000 {
		k.request(b, urls[i:min(i+1000, len(urls))])
	}
	k.waitSettled(b, imaging.GroupID)
	m := &compactorMeasurement{wall: time.Since(start), requests: server.Total() - before}

	s := c.Stats()
	if m.requests != benchImages || s.Cached != benchImages+1 || s.Failed != 0 {
		b.Fatalf("%d requests for %d distinct URLs; stats %+v", m.requests, benchImages, s)
	}
	_, isDir := files.(*imaging.FileStore)
	switch {
	case latency > 0:
		m.bound, m.boundName = benchWorkers/latency.Seconds(), "bound_workers/s"
	case isDir:
		m.bound, m.boundName = fsyncRate(b, filepath.Join(b.TempDir(), "fsync-probe")), "bound_fsync/s"
	}
	b.Logf("%d images of %d KiB at %v latency: %.1f s, %.0f images/s (bound %.0f %s), %d requests, %.1f MB read",
		benchImages, benchImageSize>>10, latency, m.wall.Seconds(), m.rate(), m.bound, m.boundName,
		m.requests, float64(s.Bytes)/1e6)
	return m
}

// fsyncRate measures how many files of benchImageSize bytes the disk makes
// durable per second in dir, one after another: each written, fsynced and
// closed, as the file store does for every image (which also fsyncs its
// directory, so this is a bound, not a model).
func fsyncRate(b *testing.B, dir string) float64 {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	const files = 2000
	body := make([]byte, benchImageSize)
	start := time.Now()
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("probe-%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(body); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return files / time.Since(start).Seconds()
}

// tempDirFor is the compactor's TempDir for files: a bucket's downloads go
// to a directory of the test, a directory store keeps its own.
func tempDirFor(tb testing.TB, files imaging.ObjectStore) string {
	if _, isDir := files.(*imaging.FileStore); isDir {
		return ""
	}
	return tb.TempDir()
}
