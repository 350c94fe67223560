package rest

// BenchmarkExport measures GET /api/v1/pornstars/export of 100,000 performers
// (the head fixture multiplied with distinct feed ids, images cached) from
// MariaDB/MySQL over loopback HTTP: rows/s and MB/s, the bytes sent and
// what gzip makes of them, and the growth of the process's heap and RSS
// while the export streams (sampled; the export's memory is bounded by one
// batch, whatever the number of rows). Beside it, the same bytes written
// from memory (one batch's lines again and again, flushed per batch) give
// the ceiling of this machine's HTTP stack and client, in the same run.
//
//	scripts/test-mysql.sh go test -run '^$' -bench BenchmarkExport -benchtime 1x ./rest/

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"marquee/auth"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/ingest/ingesttest"
	"marquee/internal/samples"
	"marquee/internal/testkit"
)

const benchExportPerformers = 100_000

func BenchmarkExport(b *testing.B) {
	store := testkit.OpenStore(b, dbtest.MySQLURL(b))
	samples.SeedCopies(b, store, ingesttest.ReadFeed(b, samples.Head.Path(b)), benchExportPerformers)
	tokens, _ := auth.ParseTokens(testWriteToken)
	dbServer := httptest.NewServer(tokens.Middleware(New(Options{Store: store, Takedowns: &imaging.Takedowns{Store: store}})))
	b.Cleanup(dbServer.Close)
	const path = "/api/v1/pornstars/export"

	// One batch of the real export's lines, for the memory handler.
	res, err := http.Get(dbServer.URL + path)
	if err != nil {
		b.Fatal(err)
	}
	var batch bytes.Buffer
	lines := bufio.NewReader(res.Body)
	for range db.ExportBatchRows {
		line, err := lines.ReadBytes('\n')
		if err != nil {
			b.Fatal(err)
		}
		batch.Write(line)
	}
	res.Body.Close()
	var exportBytes atomic.Int64 // the memory handler writes as many bytes as the real export did
	memServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setExportHeaders(w)
		rc := http.NewResponseController(w)
		for sent := int64(0); sent < exportBytes.Load(); sent += int64(batch.Len()) {
			if _, err := w.Write(batch.Bytes()); err != nil {
				return
			}
			rc.Flush()
		}
	}))
	b.Cleanup(memServer.Close)

	var ceilingRows float64
	for _, target := range []struct{ name, url string }{{"mariadb", dbServer.URL}, {"memory", memServer.URL}} {
		b.Run(target.name, func(b *testing.B) {
			var got exportRun
			b.ResetTimer()
			for range b.N {
				got = runExport(b, target.url+path, false)
			}
			b.StopTimer()
			if target.name == "mariadb" {
				if got.rows != benchExportPerformers {
					b.Fatalf("%d rows exported, want %d", got.rows, benchExportPerformers)
				}
				exportBytes.Store(got.bytes)
				gz := runExport(b, target.url+path, true)
				b.ReportMetric(float64(gz.gzipBytes)/1e6, "gzip_MB")
				b.ReportMetric(100*float64(gz.gzipBytes)/float64(got.bytes), "gzip_%")
			}
			rowsPerSec := float64(got.rows) / got.elapsed.Seconds()
			b.ReportMetric(rowsPerSec, "rows/s")
			b.ReportMetric(float64(got.bytes)/1e6, "MB")
			b.ReportMetric(float64(got.bytes)/1e6/got.elapsed.Seconds(), "MB/s")
			b.ReportMetric(float64(got.heapGrowth)/(1<<20), "heap_peak_growth_MiB")
			b.ReportMetric(float64(got.rssGrowth)/(1<<20), "rss_peak_growth_MiB")
			if target.name == "mariadb" {
				ceilingRows = rowsPerSec
			} else if ceilingRows > 0 {
				b.ReportMetric(100*ceilingRows/rowsPerSec, "%_of_ceiling(db)")
			}
		})
	}
}

// exportRun is what one export cost and gave.
type exportRun struct {
	rows, bytes, gzipBytes int64
	elapsed                time.Duration
	heapGrowth, rssGrowth  int64 // peak over the run, above the start
}

// runExport reads one export from url, counting rows and bytes (and, with
// compress, the size gzip makes of them in the client), while sampling the
// process's live heap and RSS.
func runExport(b *testing.B, url string, compress bool) exportRun {
	runtime.GC()
	heap0, rss0 := liveHeap(), rss()
	var heapPeak, rssPeak atomic.Int64
	heapPeak.Store(heap0)
	rssPeak.Store(rss0)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if h := liveHeap(); h > heapPeak.Load() {
					heapPeak.Store(h)
				}
				if r := rss(); r > rssPeak.Load() {
					rssPeak.Store(r)
				}
			}
		}
	}()
	start := time.Now()
	res, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("status %d", res.StatusCode)
	}
	counter := &countingWriter{}
	var dst io.Writer = counter
	var zw *gzip.Writer
	gzCount := &countingWriter{}
	if compress {
		zw = gzip.NewWriter(gzCount)
		dst = io.MultiWriter(counter, zw)
	}
	if _, err := io.CopyBuffer(dst, res.Body, make([]byte, 64<<10)); err != nil {
		b.Fatalf("reading the export: %v", err)
	}
	out := exportRun{elapsed: time.Since(start), rows: counter.lines, bytes: counter.n}
	close(stop)
	sampler.Wait()
	if zw != nil {
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
		out.gzipBytes = gzCount.n
	}
	out.heapGrowth, out.rssGrowth = heapPeak.Load()-heap0, rssPeak.Load()-rss0
	return out
}

type countingWriter struct{ n, lines int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// liveHeap is the bytes of live and not yet swept heap objects.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// rss is the process's resident set size, from /proc (0 where there is none).
func rss() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
