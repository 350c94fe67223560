package benchload

import (
	"errors"
	"flag"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunTimesEachLoad runs a benchmark that makes two loads, as one that
// measures a ceiling beside its target does. The timer must cover the last
// load's calls: untimed, b.N grows a hundredfold each round, past any
// bound.
func TestRunTimesEachLoad(t *testing.T) {
	// Rounds of 50 ms, not the default second, keep the test short: a timed
	// 20 µs call then needs some 5,000 calls in all.
	benchtime := flag.Lookup("test.benchtime")
	was := benchtime.Value.String()
	if err := benchtime.Value.Set("50ms"); err != nil {
		t.Fatal(err)
	}
	defer benchtime.Value.Set(was)

	const limit = 100_000 // calls over every round
	var calls atomic.Int64
	call := func(int) error {
		if calls.Add(1) > limit {
			return errors.New("too many calls: the benchmark's timer does not see them")
		}
		for began := time.Now(); time.Since(began) < 20*time.Microsecond; {
		}
		return nil
	}
	var failed atomic.Bool
	result := testing.Benchmark(func(b *testing.B) {
		defer func() { failed.Store(failed.Load() || b.Failed()) }()
		Run(b, 1, call)
		Run(b, 1, call)
	})
	if failed.Load() || result.N == 0 {
		t.Fatalf("the benchmark failed after %d calls (N %d)", calls.Load(), result.N)
	}
	if perCall := result.T / time.Duration(result.N); perCall < 20*time.Microsecond {
		t.Errorf("timed %v per call of at least 20 µs (N %d over %v)", perCall, result.N, result.T)
	}
}
