package ingest

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"marquee/db"
	"marquee/ingest/feedgen"
)

// benchItems is the size of the generated feed the benchmarks parse: about
// five times the real feed.
const benchItems = 100_000

// BenchmarkParseFeed measures ParseFeed on a generated 100,000-item feed
// held in memory: throughput in items/s and MB/s of input.
func BenchmarkParseFeed(b *testing.B) {
	var feed bytes.Buffer
	if err := feedgen.Write(&feed, feedgen.Options{Items: benchItems, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	data := feed.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h, err := ParseFeed(bytes.NewReader(data), func(int, db.Profile) error { return nil }, func(Reject) error { return nil })
		if err != nil || h.Items != benchItems || h.Rejected != 0 {
			b.Fatalf("header %+v, error %v", h, err)
		}
	}
	b.ReportMetric(float64(benchItems)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkParseFeedMemory streams a generated 100,000-item feed through a
// pipe (so the input is never in memory) and reports the parser's peak heap:
// peak-heap-MiB is the most heap in use at any sample (garbage included),
// peak-live-heap-MiB the most still reachable after a forced collection,
// both above what was in use before the parse.
func BenchmarkParseFeedMemory(b *testing.B) {
	var peakHeap, peakLive uint64
	for b.Loop() {
		r, w := io.Pipe()
		go func() {
			w.CloseWithError(feedgen.Write(w, feedgen.Options{Items: benchItems, Seed: 1}))
		}()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		baseline := m.HeapAlloc
		items := 0
		_, err := ParseFeed(r, func(int, db.Profile) error {
			if items++; items%1000 == 0 {
				runtime.ReadMemStats(&m)
				peakHeap = max(peakHeap, m.HeapAlloc-min(baseline, m.HeapAlloc))
			}
			if items%10_000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&m)
				peakLive = max(peakLive, m.HeapAlloc-min(baseline, m.HeapAlloc))
			}
			return nil
		}, func(Reject) error { return nil })
		if err != nil || items != benchItems {
			b.Fatalf("%d items, error %v", items, err)
		}
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-heap-MiB")
}
