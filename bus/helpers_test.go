package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Kafka settings for tests: the broker's minimum session timeout, small
// waits everywhere else.
const (
	testSessionTimeout = 6 * time.Second
	testTimeout        = 30 * time.Second
)

// testLogger returns a logger for code under test: discarded unless BUS_TEST_LOG is set, so
// that kafka-go goroutines outliving a test never write to a finished testing.T.
func testLogger() *slog.Logger {
	if os.Getenv("BUS_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logBuffer collects log records for assertions on what an operator would read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

var unsafeTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// newTopic creates a fresh compacted topic with its dead-letter topic, named after the test
// plus a random suffix so runs against a long-lived broker never meet old data.
func newTopic(t *testing.T, brokers []string, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("test.%s.%08x", unsafeTopicChars.ReplaceAllString(t.Name(), "_"), rand.Uint32())
	policies := []TopicPolicy{
		{Topic: name, Configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"}},
		{Topic: DeadLetterTopic(name), Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "1209600000"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := ensureTopics(ctx, Cluster{Brokers: brokers}, partitions, policies, testLogger()); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

func newGroup(t *testing.T) string {
	return fmt.Sprintf("group.%s.%08x", unsafeTopicChars.ReplaceAllString(t.Name(), "_"), rand.Uint32())
}

func newTestWriter(t *testing.T, brokers []string) *Writer {
	t.Helper()
	w, err := NewWriter(WriterConfig{Cluster: Cluster{Brokers: brokers}, BatchTimeout: 2 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close writer: %v", err)
		}
	})
	return w
}

func publish(t *testing.T, w *Writer, topic string, msgs ...Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := w.Publish(ctx, topic, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// numbered returns n JSON messages keyed prefix-0 .. prefix-(n-1).
func numbered(prefix string, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		key := fmt.Sprintf("%s-%d", prefix, i)
		msgs[i] = Message{Key: key, Value: fmt.Appendf(nil, `{"key":%q}`, key)}
	}
	return msgs
}

func testConsumerConfig(brokers []string, topic, group string) ConsumerConfig {
	return ConsumerConfig{
		Cluster:           Cluster{Brokers: brokers},
		GroupID:           group,
		Topic:             topic,
		MaxBatch:          100,
		MaxWait:           50 * time.Millisecond,
		FetchWait:         100 * time.Millisecond,
		SessionTimeout:    testSessionTimeout,
		HeartbeatInterval: 300 * time.Millisecond,
		RetryBackoffMin:   10 * time.Millisecond,
		RetryBackoffMax:   50 * time.Millisecond,
		ShutdownGrace:     5 * time.Second,
		CommitTimeout:     10 * time.Second,
		Logger:            testLogger(),
	}
}

// running is a Consumer running in the background.
type running struct {
	consumer *Consumer
	cancel   context.CancelFunc
	done     chan error
	once     sync.Once
	err      error
}

func startConsumer(t *testing.T, cfg ConsumerConfig, handle Handler) *running {
	t.Helper()
	return startRunning(t, cfg, func(ctx context.Context, c *Consumer) error { return c.Run(ctx, handle) })
}

// startFlow runs a Consumer's RunFlow in the background.
func startFlow(t *testing.T, cfg ConsumerConfig, handle MessageHandler) *running {
	t.Helper()
	return startRunning(t, cfg, func(ctx context.Context, c *Consumer) error { return c.RunFlow(ctx, handle) })
}

func startRunning(t *testing.T, cfg ConsumerConfig, run func(context.Context, *Consumer) error) *running {
	t.Helper()
	consumer, err := NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{consumer: consumer, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx, consumer) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it; it returns Run's error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(testTimeout):
			r.err = fmt.Errorf("consumer did not stop within %s", testTimeout)
		}
	})
	if r.err != nil {
		t.Errorf("consumer run: %v", r.err)
	}
	return r.err
}

// collector is a Handler that records every message it is given, tagged with who handled it.
type collector struct {
	mu      sync.Mutex
	msgs    []Message
	handler map[string]string // topic/partition/offset -> consumer name
	changed chan struct{}
}

func newCollector() *collector {
	return &collector{handler: map[string]string{}, changed: make(chan struct{}, 1)}
}

func (c *collector) handle(name string) Handler {
	return func(_ context.Context, msgs []Message) ([]DeadLetter, error) {
		c.mu.Lock()
		c.msgs = append(c.msgs, msgs...)
		for _, msg := range msgs {
			c.handler[position(msg)] = name
		}
		c.mu.Unlock()
		select {
		case c.changed <- struct{}{}:
		default:
		}
		return nil, nil
	}
}

func position(msg Message) string {
	return fmt.Sprintf("%s/%d/%d", msg.Topic, msg.Partition, msg.Offset)
}

func (c *collector) snapshot() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// waitKeys waits until every key has been handled at least once and returns all messages.
func (c *collector) waitKeys(t *testing.T, keys []string) []Message {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		msgs := c.snapshot()
		seen := map[string]bool{}
		for _, msg := range msgs {
			seen[msg.Key] = true
		}
		missing := 0
		for _, key := range keys {
			if !seen[key] {
				missing++
			}
		}
		if missing == 0 {
			return msgs
		}
		select {
		case <-c.changed:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of %d keys never handled", missing, len(keys))
		}
	}
}

func keysOf(msgs []Message) []string {
	keys := make([]string, len(msgs))
	for i, msg := range msgs {
		keys[i] = msg.Key
	}
	return keys
}

// adminClient returns a client with fresh connections (see newAdminClient).
func adminClient(brokers []string) *kafka.Client { return newAdminClient(Cluster{Brokers: brokers}) }

// partitionsOf returns the partition ids of topic.
func partitionsOf(t *testing.T, brokers []string, topic string) []int {
	t.Helper()
	meta, err := adminClient(brokers).Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v %+v", topic, err, meta)
	}
	var ids []int
	for _, p := range meta.Topics[0].Partitions {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids
}

// endOffsets returns the next offset to be written, per partition.
func endOffsets(t *testing.T, brokers []string, topic string) map[int]int64 {
	t.Helper()
	var requests []kafka.OffsetRequest
	for _, p := range partitionsOf(t, brokers, topic) {
		requests = append(requests, kafka.LastOffsetOf(p))
	}
	resp, err := adminClient(brokers).ListOffsets(context.Background(), &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: requests},
	})
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	ends := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets of %s/%d: %v", topic, p.Partition, p.Error)
		}
		ends[p.Partition] = p.LastOffset
	}
	return ends
}

// committedOffsets returns group's committed offset per partition of topic (-1: none).
func committedOffsets(t *testing.T, brokers []string, group, topic string) map[int]int64 {
	t.Helper()
	resp, err := adminClient(brokers).OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: partitionsOf(t, brokers, topic)},
	})
	if err != nil {
		t.Fatalf("offset fetch of %s: %v", group, err)
	}
	if errors.Is(resp.Error, kafka.GroupIdNotFound) { // kfake's answer for an unknown group
		committed := map[int]int64{}
		for _, p := range partitionsOf(t, brokers, topic) {
			committed[p] = -1
		}
		return committed
	}
	if resp.Error != nil {
		t.Fatalf("offset fetch of %s: %v", group, resp.Error)
	}
	committed := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch of %s/%d: %v", topic, p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	return committed
}

// waitFullyCommitted waits until group has committed the end of every partition of topic.
func waitFullyCommitted(t *testing.T, brokers []string, group, topic string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		ends, committed := endOffsets(t, brokers, topic), committedOffsets(t, brokers, group, topic)
		behind := 0
		for p, end := range ends {
			if end > 0 && committed[p] != end {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never committed the end of %s: committed %v, end %v", group, topic, committed, ends)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertNothingCommitted fails if group committed any offset of topic.
func assertNothingCommitted(t *testing.T, brokers []string, group, topic string) {
	t.Helper()
	for p, offset := range committedOffsets(t, brokers, group, topic) {
		if offset >= 0 {
			t.Errorf("partition %d: committed offset %d, want none", p, offset)
		}
	}
}
