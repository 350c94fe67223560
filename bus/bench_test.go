package bus

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"marquee/internal/testport"
)

// The benchmarks run the embedded broker in a child process, so that its resident memory can be
// reported apart from the client's. b.N counts messages; the feed-sized run is
//
//	go test ./bus -run '^$' -bench . -benchtime 100000x
//
// Each reports msgs/s and, for the broker, broker-RSS-MiB after the run.

// BenchmarkPublishProfiles publishes b.N profile-sized (~1.5 KB) messages in slices of 500, the
// way ingest publishes a feed run.
func BenchmarkPublishProfiles(b *testing.B) {
	for _, mode := range []string{"memory", "datadir"} {
		b.Run(mode, func(b *testing.B) {
			brokers, rss := startBenchBroker(b, mode)
			topic := benchTopic(b, brokers)
			w, err := NewWriter(WriterConfig{Cluster: Cluster{Brokers: brokers}, Logger: testLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			msgs := benchProfiles(b.N)
			b.SetBytes(int64(len(msgs[0].Value)))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < len(msgs); i += 500 {
				if err := w.Publish(context.Background(), topic, msgs[i:min(i+500, len(msgs))]...); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(rss(), "broker-RSS-MiB")
		})
	}
}

// BenchmarkConsumeProfiles consumes b.N profile-sized messages in a group with the default batch
// settings (500 per batch, 200ms gathering), committing after each batch.
func BenchmarkConsumeProfiles(b *testing.B) {
	brokers, rss := startBenchBroker(b, "datadir")
	topic := benchTopic(b, brokers)
	w, err := NewWriter(WriterConfig{Cluster: Cluster{Brokers: brokers}, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	msgs := benchProfiles(b.N)
	for i := 0; i < len(msgs); i += 500 {
		if err := w.Publish(context.Background(), topic, msgs[i:min(i+500, len(msgs))]...); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()

	consumer, err := NewConsumer(ConsumerConfig{
		Cluster: Cluster{Brokers: brokers}, GroupID: "bench", Topic: topic, SessionTimeout: testSessionTimeout, Logger: testLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var handled atomic.Int64
	done := make(chan struct{})
	b.SetBytes(int64(len(msgs[0].Value)))
	b.ResetTimer()
	start := time.Now()
	go func() {
		defer close(done)
		_ = consumer.Run(ctx, func(_ context.Context, batch []Message) ([]DeadLetter, error) {
			if handled.Add(int64(len(batch))) >= int64(b.N) {
				cancel()
			}
			return nil, nil
		})
	}()
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	if handled.Load() < int64(b.N) {
		b.Fatalf("handled %d of %d", handled.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(consumer.Stats().Batches), "batches")
	b.ReportMetric(rss(), "broker-RSS-MiB")
}

// startBenchBroker starts a broker process and returns its address and a func reading its
// resident set size in MiB.
func startBenchBroker(b *testing.B, mode string) ([]string, func() float64) {
	b.Helper()
	dataDir := ""
	if mode == "datadir" {
		dataDir = b.TempDir()
	}
	addr := testport.Addr(b)
	helper := startHelper(b, "broker", "BUS_ADDR="+addr, "BUS_DATA_DIR="+dataDir)
	helper.waitLine(b, "ready")
	pid := helper.cmd.Process.Pid
	return []string{addr}, func() float64 {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return -1
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				return kib / 1024
			}
		}
		return -1
	}
}

func benchTopic(b *testing.B, brokers []string) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := ensureTopics(ctx, Cluster{Brokers: brokers}, 6, TopicPolicies()[:1], testLogger()); err != nil {
		b.Fatal(err)
	}
	return TopicPornstars
}

// benchProfiles returns n messages keyed by feed id with ~1.5 KB JSON values, random enough
// not to be trivially compressible.
func benchProfiles(n int) []Message {
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := make([]Message, n)
	for i := range msgs {
		var value bytes.Buffer
		fmt.Fprintf(&value, `{"schema_version":1,"feed_id":%d,"name":"Performer %d","aliases":["a%x","b%x"],"thumbnails":[`, i, i, rng.Uint64(), rng.Uint64())
		for j := range 7 {
			if j > 0 {
				value.WriteByte(',')
			}
			fmt.Fprintf(&value, `{"type":"pc","width":234,"height":344,"url":"https://ei.phncdn.com/pics/pornstars/%016x/thumb_%d.jpg","url_hash":"%016x%016x%016x%016x"}`,
				rng.Uint64(), j, rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())
		}
		fmt.Fprintf(&value, `],"views":%d,"rank":%d,"content_hash":"%016x%016x%016x%016x"}`, rng.Uint32(), i, rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())
		msgs[i] = Message{Key: strconv.Itoa(i), Value: value.Bytes()}
	}
	return msgs
}
