// Package benchload is the closed-loop load of the benchmarks: a number of
// concurrent callers share b.N calls, and the benchmark reads calls/s and
// latency percentiles from the result, printed the same way everywhere.
// For benchmarks only.
package benchload

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Result is what one load measured.
type Result struct {
	// PerSecond is calls completed per second of wall time.
	PerSecond float64
	// Latencies of every call, sorted ascending.
	Latencies []time.Duration
}

// Run makes b.N calls of call, numbered from 0, from clients concurrent
// callers, each starting its next call as soon as its last returned. The
// benchmark's timer covers these calls only, whatever ran before them (a
// Run before it included), so that b.N and ns/op follow the last Run of a
// benchmark. The first error stops the load and fails the benchmark.
func Run(b *testing.B, clients int, call func(i int) error) Result {
	b.Helper()
	var (
		next      atomic.Int64
		failed    atomic.Pointer[error]
		wg        sync.WaitGroup
		latencies = make([][]time.Duration, clients)
	)
	// A Run before this one stopped the timer, which ResetTimer alone would
	// leave stopped: these calls would go untimed, and b.N would grow a
	// hundredfold each round.
	b.StartTimer()
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				began := time.Now()
				if err := call(int(i)); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				latencies[c] = append(latencies[c], time.Since(began))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return Result{PerSecond: float64(len(all)) / elapsed.Seconds(), Latencies: all}
}

// Quantile is the latency below which the fraction q of the calls
// completed (0 without calls).
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(len(r.Latencies)-1, int(float64(len(r.Latencies))*q))]
}

// Report prints calls/s as req/s and the 99th percentile as p99_ms.
func (r Result) Report(b *testing.B) {
	b.ReportMetric(r.PerSecond, "req/s")
	b.ReportMetric(Milliseconds(r.Quantile(0.99)), "p99_ms")
}

// Milliseconds is d in milliseconds, with fractions.
func Milliseconds(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// Sort sorts Latencies, for a Result made of latencies measured elsewhere.
func (r Result) Sort() { slices.Sort(r.Latencies) }

// Drain reads and closes the answer of a request that client.Do or Get
// returned with err, and fails unless the request was answered 200.
func Drain(res *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", res.Request.Method, res.Request.URL.Path, res.StatusCode)
	}
	return nil
}
