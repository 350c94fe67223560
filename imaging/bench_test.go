package imaging_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

// Benchmark parameters: 10,000 distinct images of 10 KiB, each answered
// after 20 ms, as a CDN might.
const (
	benchImages    = 10_000
	benchImageSize = 10 << 10
	benchLatency   = 20 * time.Millisecond
)

// compactorMeasurement is what BenchmarkCompactor measured on one backend.
type compactorMeasurement struct {
	wall     time.Duration
	requests int
}

// BenchmarkCompactor publishes one request for each of 10,000 distinct
// image URLs to an in-process broker and measures how long a compactor with
// the default settings (16 workers, 16 per host) takes to settle them all:
// claims in the database, HTTP from a local server with 20 ms latency,
// validation, content-addressed files, outcomes published, offsets
// committed. It reports images/s and the HTTP requests made, which must
// equal the distinct URLs. Each database backend runs with the directory
// store (sqlite, mysql) and with a bucket of the in-process S3 fake
// (sqlite-s3, mysql-s3), and is measured once per call of the benchmark,
// whatever b.N is.
func BenchmarkCompactor(b *testing.B) {
	if testing.Short() {
		b.Skip("10,000 fetches are not short")
	}
	measured := map[string]*compactorMeasurement{}
	stores := []struct {
		suffix string
		open   func(b *testing.B) imaging.ObjectStore
	}{
		{"", func(b *testing.B) imaging.ObjectStore { return openFiles(b) }},
		{"-s3", func(b *testing.B) imaging.ObjectStore { return openS3(b, imagingtest.FakeS3(b), "bench") }},
	}
	for _, backend := range dbtest.Backends() {
		for _, store := range stores {
			name := backend.Name + store.suffix
			b.Run(name, func(b *testing.B) {
				m := measured[name]
				if m == nil {
					m = measureCompactor(b, backend.URL(b), store.open(b))
					measured[name] = m
				}
				b.ReportMetric(float64(m.wall.Nanoseconds()), "ns/op")
				b.ReportMetric(benchImages/m.wall.Seconds(), "images/s")
				b.ReportMetric(float64(m.requests), "requests")
			})
		}
	}
}

func measureCompactor(b *testing.B, dbURL string, files imaging.ObjectStore) *compactorMeasurement {
	k := startKafka(b)
	store := testkit.OpenStore(b, dbURL)
	server := imagingtest.NewServer(b)
	server.SetImageSize(benchImageSize)
	server.SetLatency(benchLatency)
	c := newCompactor(b, imaging.Config{
		Store: store, Publisher: k.writer, Files: files, TempDir: tempDirFor(b, files), Kafka: bus.Cluster{Brokers: k.brokers}, Logger: quietLogger(),
		AllowAddrs: []netip.AddrPort{server.AddrPort()}, SessionTimeout: 6 * time.Second,
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
	b.Logf("%d images of %d KiB at %v latency: %.1f s, %.0f images/s, %d requests, %.1f MB read",
		benchImages, benchImageSize>>10, benchLatency, m.wall.Seconds(), benchImages/m.wall.Seconds(), m.requests, float64(s.Bytes)/1e6)
	return m
}

// tempDirFor is the compactor's TempDir for files: a bucket's downloads go
// to a directory of the test, a directory store keeps its own.
func tempDirFor(tb testing.TB, files imaging.ObjectStore) string {
	if _, isDir := files.(*imaging.FileStore); isDir {
		return ""
	}
	return tb.TempDir()
}
