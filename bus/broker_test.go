package bus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"marquee/internal/testport"
)

// TestBusEmbedded runs the publisher/consumer suite against the in-process embedded broker.
func TestBusEmbedded(t *testing.T) {
	broker := startTestBroker(t, "127.0.0.1:0", "")
	runBusSuite(t, broker.Brokers())
}

// TestBusExternal runs the suite against the cluster named by MARQUEE_TEST_KAFKA_BROKERS
// (comma-separated), e.g. a `marquee broker` process or Kafka in Docker.
func TestBusExternal(t *testing.T) {
	brokers := os.Getenv("MARQUEE_TEST_KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("MARQUEE_TEST_KAFKA_BROKERS is not set")
	}
	runBusSuite(t, strings.Split(brokers, ","))
}

func startTestBroker(t *testing.T, addr, dataDir string) *Broker {
	t.Helper()
	broker, err := tryStartTestBroker(t, addr, dataDir)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	return broker
}

// tryStartTestBroker is startTestBroker returning the error.
func tryStartTestBroker(t *testing.T, addr, dataDir string) (*Broker, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	broker, err := StartBroker(ctx, BrokerConfig{Addr: addr, DataDir: dataDir, Partitions: 3, Logger: testLogger()})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { broker.Close() })
	return broker, nil
}

func TestMurmur2MatchesJavaClient(t *testing.T) {
	// Kafka's own vectors for Utils.murmur2 (clients/src/test/java/org/apache/kafka/common/
	// utils/UtilsTest.java, testMurmur2). The Java default partitioner picks
	// Utils.toPositive(murmur2(key)) % numPartitions, toPositive clearing the sign bit.
	vectors := []struct {
		key      string
		javaHash int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, v := range vectors {
		for _, partitions := range []int{1, 3, 6, 7, 10, 64} {
			want := int(uint32(v.javaHash)&0x7fffffff) % partitions
			if got := javaPartition(v.key, partitions); got != want {
				t.Errorf("kafka-go: key %q over %d partitions -> %d, Java -> %d", v.key, partitions, got, want)
			}
			if got := kgoPartition(v.key, partitions); got != want {
				t.Errorf("franz-go: key %q over %d partitions -> %d, Java -> %d", v.key, partitions, got, want)
			}
		}
	}
	// Marquee's keys: decimal feed ids and URL hashes (docs/topics.md, "URL hash").
	for _, key := range []string{"1", "2", "42", "1234567", "ec5c6429c95bd7c798e15a479bb9a5a4c75ab2023981d9c6bf69eba9460a8294"} {
		if a, b := javaPartition(key, 6), kgoPartition(key, 6); a != b {
			t.Errorf("key %q: kafka-go picks partition %d, franz-go %d", key, a, b)
		}
	}
}

// kgoPartition is franz-go's implementation of the Java partitioner, an independent check.
func kgoPartition(key string, partitions int) int {
	return kgo.StickyKeyPartitioner(nil).ForTopic("t").Partition(&kgo.Record{Key: []byte(key)}, partitions)
}

func TestStartBrokerAddress(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{":9092", "0.0.0.0:9092", "[::]:9092", "localhost"} {
		if b, err := StartBroker(ctx, BrokerConfig{Addr: addr, Logger: testLogger()}); err == nil {
			b.Close()
			t.Errorf("StartBroker(%q) succeeded; clients could not use the advertised address", addr)
		}
	}
	broker := startTestBroker(t, "127.0.0.1:0", "")
	host, port, err := net.SplitHostPort(broker.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Errorf("Addr() = %q, want 127.0.0.1 with the chosen port", broker.Addr())
	}
}

// TestEmbeddedBrokerPersists checks that records, topic configs and committed offsets survive a
// restart on the same data dir, after Close and after kill -9 of the broker's process.
func TestEmbeddedBrokerPersists(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T, addr, dataDir string) (stop func(), err error)
	}{
		{"Close", func(t *testing.T, addr, dataDir string) (func(), error) {
			broker, err := tryStartTestBroker(t, addr, dataDir)
			if err != nil {
				return nil, err
			}
			return func() { broker.Close() }, nil
		}},
		{"kill -9", func(t *testing.T, addr, dataDir string) (func(), error) {
			helper := startHelper(t, "broker", "BUS_ADDR="+addr, "BUS_DATA_DIR="+dataDir)
			helper.waitLine(t, "ready")
			return helper.kill, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The address the broker restarts on. Another process may take
			// the port between testport's check and the first start (it
			// happened, rarely, in full suite runs): then another is tried.
			// The restart below is what must find it free again.
			dataDir := t.TempDir()
			var addr string
			var stop func()
			var err error
			for range 5 {
				addr = testport.Addr(t)
				if stop, err = tt.start(t, addr, dataDir); !errors.Is(err, syscall.EADDRINUSE) {
					break
				}
			}
			if err != nil {
				t.Fatalf("start broker: %v", err)
			}
			brokers := []string{addr}

			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := ensureTopics(ctx, Cluster{Brokers: brokers}, 3, TopicPolicies(), testLogger()); err != nil {
				t.Fatal(err)
			}
			w, err := NewWriter(WriterConfig{Cluster: Cluster{Brokers: brokers}, Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			consumed, pending := numbered("old", 50), numbered("new", 10)
			if err := w.Publish(ctx, TopicPornstars, consumed...); err != nil {
				t.Fatal(err)
			}
			group := newGroup(t)
			got := newCollector()
			c := startConsumer(t, testConsumerConfig(brokers, TopicPornstars, group), got.handle("before"))
			got.waitKeys(t, keysOf(consumed))
			waitFullyCommitted(t, brokers, group, TopicPornstars)
			c.stop(t)
			if err := w.Publish(ctx, TopicPornstars, pending...); err != nil {
				t.Fatal(err)
			}
			w.Close()
			stop()

			startTestBroker(t, addr, dataDir)
			configs, err := describeTopicConfigs(ctx, adminClient(brokers), TopicPolicies())
			if err != nil {
				t.Fatal(err)
			}
			if got := configs[TopicPornstars]["cleanup.policy"]; got != "compact" {
				t.Errorf("after restart cleanup.policy = %q, want compact", got)
			}
			var committed int64
			for _, offset := range committedOffsets(t, brokers, group, TopicPornstars) {
				committed += max(offset, 0)
			}
			if committed != int64(len(consumed)) {
				t.Errorf("after restart the group's committed offsets cover %d messages, want %d", committed, len(consumed))
			}
			// The group resumes after what it committed ...
			resumed := newCollector()
			startConsumer(t, testConsumerConfig(brokers, TopicPornstars, group), resumed.handle("after"))
			resumed.waitKeys(t, keysOf(pending))
			waitFullyCommitted(t, brokers, group, TopicPornstars)
			if msgs := resumed.snapshot(); len(msgs) != len(pending) {
				t.Errorf("resumed group got %d messages, want only the %d unconsumed", len(msgs), len(pending))
			}
			// ... and a new group reads every record, values intact.
			fresh := newCollector()
			startConsumer(t, testConsumerConfig(brokers, TopicPornstars, newGroup(t)), fresh.handle("fresh"))
			all := slices.Concat(consumed, pending)
			for _, msg := range fresh.waitKeys(t, keysOf(all)) {
				if want := fmt.Sprintf(`{"key":%q}`, msg.Key); string(msg.Value) != want {
					t.Errorf("%s: value %q after restart, want %q", msg.Key, msg.Value, want)
				}
			}
		})
	}
}

func testKilledConsumerRedelivers(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	sent := numbered("killed", 20)
	publish(t, w, topic, sent...)

	helper := startHelper(t, "consumer", "BUS_BROKERS="+strings.Join(brokers, ","), "BUS_TOPIC="+topic, "BUS_GROUP="+group)
	helper.waitLine(t, "handling")
	helper.kill() // no commit, no LeaveGroup: the coordinator notices after the session timeout
	assertNothingCommitted(t, brokers, group, topic)

	got := newCollector()
	startConsumer(t, testConsumerConfig(brokers, topic, group), got.handle("survivor"))
	got.waitKeys(t, keysOf(sent))
	waitFullyCommitted(t, brokers, group, topic)
}

// TestHelperProcess is not a test: it is the body of the processes other tests start and kill.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv("BUS_HELPER")
	if role == "" {
		t.Skip("helper process for the kill -9 tests")
	}
	// Never outlive a parent that died without killing us.
	time.AfterFunc(5*time.Minute, func() { os.Exit(2) })
	ctx := context.Background()
	switch role {
	case "broker":
		broker, err := StartBroker(ctx, BrokerConfig{Addr: os.Getenv("BUS_ADDR"), DataDir: os.Getenv("BUS_DATA_DIR"), Logger: testLogger()})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ready", broker.Addr())
	case "consumer":
		cfg := testConsumerConfig(strings.Split(os.Getenv("BUS_BROKERS"), ","), os.Getenv("BUS_TOPIC"), os.Getenv("BUS_GROUP"))
		consumer, err := NewConsumer(cfg)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		go consumer.Run(ctx, func(context.Context, []Message) ([]DeadLetter, error) {
			fmt.Println("handling")
			select {} // until killed
		})
	}
	select {} // until killed
}

type helperProcess struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

// startHelper runs TestHelperProcess in a child process with the given role; kill it with
// kill (SIGKILL), as a crash would.
func startHelper(t testing.TB, role string, env ...string) *helperProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append(env, "BUS_HELPER="+role)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProcess{cmd: cmd, lines: bufio.NewScanner(stdout)}
	t.Cleanup(h.kill)
	return h
}

func (h *helperProcess) waitLine(t testing.TB, prefix string) {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		for h.lines.Scan() {
			if strings.HasPrefix(h.lines.Text(), prefix) {
				found <- h.lines.Text()
				return
			}
		}
		close(found)
	}()
	select {
	case _, ok := <-found:
		if !ok {
			t.Fatalf("helper exited before printing %q", prefix)
		}
	case <-time.After(testTimeout):
		t.Fatalf("helper never printed %q", prefix)
	}
}

func (h *helperProcess) kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	_ = h.cmd.Wait()
}

// TestEmbeddedBrokerCompaction checks the topic policies on the embedded broker itself:
// compaction keeps the latest value of each key and drops old tombstones, time retention never
// deletes a compacted topic's records however old (kfake applies retention.ms to compacted
// topics too; EnsureTopics sets it to -1), and dead letters expire after 14 days.
func TestEmbeddedBrokerCompaction(t *testing.T) {
	broker := startTestBroker(t, "127.0.0.1:0", t.TempDir())
	brokers := broker.Brokers()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := ensureTopics(ctx, Cluster{Brokers: brokers}, 1, TopicPolicies(), testLogger()); err != nil {
		t.Fatal(err)
	}
	w := newTestWriter(t, brokers)
	month := time.Now().Add(-30 * 24 * time.Hour)
	publish(t, w, TopicPornstars,
		Message{Key: "1", Value: []byte(`{"v":1}`), Time: month},
		Message{Key: "2", Value: []byte(`{"v":1}`), Time: month},
		Message{Key: "3", Value: []byte(`{"v":1}`), Time: month})
	publish(t, w, TopicPornstars,
		Message{Key: "1", Value: []byte(`{"v":2}`), Time: month},
		Message{Key: "3", Value: nil, Time: month})
	publish(t, w, TopicPornstars, Message{Key: "4", Value: []byte(`{"v":1}`)}) // kfake never compacts the last batch
	dlq := DeadLetterTopic(TopicPornstars)
	publish(t, w, dlq, Message{Key: "old", Value: []byte("x"), Time: time.Now().Add(-15 * 24 * time.Hour)})
	publish(t, w, dlq, Message{Key: "recent", Value: []byte("x"), Time: time.Now().Add(-13 * 24 * time.Hour)})

	broker.cluster.Compact() // what the broker does every log.cleaner.backoff.ms (1h); retention included

	read := func(topic string, keys ...string) map[string]string {
		got := newCollector()
		c := startConsumer(t, testConsumerConfig(brokers, topic, newGroup(t)), got.handle("reader"))
		got.waitKeys(t, keys)
		time.Sleep(300 * time.Millisecond) // anything else would have arrived with them
		c.stop(t)
		values := map[string]string{}
		for _, msg := range got.snapshot() {
			values[msg.Key] = string(msg.Value)
		}
		return values
	}
	want := map[string]string{"1": `{"v":2}`, "2": `{"v":1}`, "4": `{"v":1}`}
	if got := read(TopicPornstars, "1", "2", "4"); !maps.Equal(got, want) {
		t.Errorf("%s after compaction: %v, want %v", TopicPornstars, got, want)
	}
	if got := read(dlq, "recent"); len(got) != 1 {
		t.Errorf("%s after retention: %v, want only the 13-day-old letter", dlq, got)
	}
}

// TestClientsSurviveBrokerRestart: a running Consumer and a Writer made before the broker went
// down carry on once it is back, without being recreated.
func TestClientsSurviveBrokerRestart(t *testing.T) {
	dataDir, addr := t.TempDir(), testport.Addr(t)
	brokers := []string{addr}
	broker := startTestBroker(t, addr, dataDir)
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	got := newCollector()
	c := startConsumer(t, testConsumerConfig(brokers, topic, group), got.handle("a"))
	before := numbered("before", 10)
	publish(t, w, topic, before...)
	got.waitKeys(t, keysOf(before))
	waitFullyCommitted(t, brokers, group, topic)

	broker.Close()
	time.Sleep(time.Second) // the clients notice
	startTestBroker(t, addr, dataDir)

	after := numbered("after", 10)
	publish(t, w, topic, after...)
	got.waitKeys(t, keysOf(after))
	waitFullyCommitted(t, brokers, group, topic)
	if n := len(got.snapshot()); n < 20 {
		t.Errorf("handled %d messages, want all 20", n)
	}
	t.Logf("consumer stats after the restart: %+v", c.consumer.Stats())
}
