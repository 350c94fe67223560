package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"marquee/internal/testport"
)

// runBusSuite is the behavioural suite of the publisher and the consumer (STYLE rule 8). It
// needs only the bootstrap brokers of a running cluster, so it runs against the in-process
// embedded broker (TestBusEmbedded) and can run against a separate `marquee broker` process
// or a real Kafka. Every subtest makes its own topics and groups with random suffixes; only
// EnsureTopics touches the real marquee.* topics.
func runBusSuite(t *testing.T, brokers []string) {
	t.Run("EnsureTopics", func(t *testing.T) { testEnsureTopics(t, brokers) })
	t.Run("Ping", func(t *testing.T) { t.Parallel(); testPing(t, brokers) })
	t.Run("Lag", func(t *testing.T) { t.Parallel(); testLag(t, brokers) })
	t.Run("Metrics", func(t *testing.T) { t.Parallel(); testMetrics(t, brokers) })
	t.Run("EnsureTopicsCorrectsPolicy", func(t *testing.T) { t.Parallel(); testEnsureTopicsCorrectsPolicy(t, brokers) })
	t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); testRoundTrip(t, brokers) })
	t.Run("PartitionByKey", func(t *testing.T) { t.Parallel(); testPartitionByKey(t, brokers) })
	t.Run("FailedBatchIsRetriedNotSkipped", func(t *testing.T) { t.Parallel(); testFailedBatchRetried(t, brokers) })
	t.Run("DeadLetters", func(t *testing.T) { t.Parallel(); testDeadLetters(t, brokers) })
	t.Run("StuckHandlerAtShutdownRedelivers", func(t *testing.T) { t.Parallel(); testStuckHandlerRedelivers(t, brokers) })
	t.Run("KilledConsumerRedelivers", func(t *testing.T) { t.Parallel(); testKilledConsumerRedelivers(t, brokers) })
	t.Run("GracefulShutdownCommits", func(t *testing.T) { t.Parallel(); testGracefulShutdownCommits(t, brokers) })
	t.Run("GroupSplitsPartitions", func(t *testing.T) { t.Parallel(); testGroupSplitsPartitions(t, brokers) })
	t.Run("RebalanceLosesNothing", func(t *testing.T) { t.Parallel(); testRebalanceLosesNothing(t, brokers) })
	t.Run("Flow", func(t *testing.T) { t.Parallel(); testFlow(t, brokers) })
	t.Run("FlowShutdownCommitsSettledPrefix", func(t *testing.T) { t.Parallel(); testFlowShutdown(t, brokers) })
}

func testEnsureTopics(t *testing.T, brokers []string) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// On a long-lived cluster the topics may exist already; EnsureTopics must leave their
	// partition count alone.
	wantPartitions := map[string]int{}
	meta, err := adminClient(brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: policyTopics()})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range meta.Topics {
		wantPartitions[topic.Name] = 3
		if topic.Error == nil {
			wantPartitions[topic.Name] = len(topic.Partitions)
		}
	}
	for range 2 { // the second run finds everything in place
		if err := EnsureTopics(ctx, Cluster{Brokers: brokers}, 3); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	policies := TopicPolicies()
	if len(policies) != 7 {
		t.Fatalf("got %d topic policies, want 3 topics, 3 dead-letter topics and the record of replays", len(policies))
	}
	actual, err := describeTopicConfigs(ctx, adminClient(brokers), policies)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // topic -> cleanup.policy, retention.ms
		"marquee.pornstars":          {"compact", "-1"},
		"marquee.image-requests":     {"compact", "-1"},
		"marquee.images":             {"compact", "-1"},
		"marquee.pornstars.dlq":      {"delete", "1209600000"},
		"marquee.image-requests.dlq": {"delete", "1209600000"},
		"marquee.images.dlq":         {"delete", "1209600000"},
		"marquee.dlq-replays":        {"delete", "2419200000"},
	}
	for topic, w := range want {
		got := [2]string{actual[topic]["cleanup.policy"], actual[topic]["retention.ms"]}
		if got != w {
			t.Errorf("%s: cleanup.policy, retention.ms = %q, want %q", topic, got, w)
		}
		if n := len(partitionsOf(t, brokers, topic)); n != wantPartitions[topic] {
			t.Errorf("%s: %d partitions, want %d", topic, n, wantPartitions[topic])
		}
	}
}

func policyTopics() []string {
	var topics []string
	for _, policy := range TopicPolicies() {
		topics = append(topics, policy.Topic)
	}
	return topics
}

func testPing(t *testing.T, brokers []string) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := Ping(ctx, Cluster{Brokers: brokers}); err != nil {
		t.Errorf("Ping(%v): %v", brokers, err)
	}
	if err := Ping(ctx, Cluster{Brokers: []string{testport.Addr(t)}}); err == nil {
		t.Error("Ping of an address nobody listens on succeeded")
	}
}

func testLag(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	lag := func() int64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		n, err := Lag(ctx, Cluster{Brokers: brokers}, group, topic)
		if err != nil {
			t.Fatalf("Lag: %v", err)
		}
		return n
	}
	if n := lag(); n != 0 {
		t.Errorf("lag of an empty topic = %d, want 0", n)
	}
	sent := numbered("lag", 25)
	publish(t, newTestWriter(t, brokers), topic, sent...)
	if n := lag(); n != 25 {
		t.Errorf("lag before consuming = %d, want 25", n)
	}
	got := newCollector()
	startConsumer(t, testConsumerConfig(brokers, topic, group), got.handle("a"))
	got.waitKeys(t, keysOf(sent))
	waitFullyCommitted(t, brokers, group, topic)
	if n := lag(); n != 0 {
		t.Errorf("lag after consuming = %d, want 0", n)
	}
}

func testEnsureTopicsCorrectsPolicy(t *testing.T, brokers []string) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	topic := fmt.Sprintf("test.corrects.%d", time.Now().UnixNano())
	deleting := []TopicPolicy{{Topic: topic, Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "1000"}}}
	compacted := []TopicPolicy{{Topic: topic, Configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"}}}
	if err := ensureTopics(ctx, Cluster{Brokers: brokers}, 1, deleting, testLogger()); err != nil {
		t.Fatal(err)
	}
	if err := ensureTopics(ctx, Cluster{Brokers: brokers}, 1, compacted, testLogger()); err != nil {
		t.Fatal(err)
	}
	actual, err := describeTopicConfigs(ctx, adminClient(brokers), compacted)
	if err != nil {
		t.Fatal(err)
	}
	if got := actual[topic]; got["cleanup.policy"] != "compact" || got["retention.ms"] != "-1" {
		t.Errorf("configs after correction: %v, want compact and -1", got)
	}
}

func testRoundTrip(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	w := newTestWriter(t, brokers)
	sent := []Message{
		{Key: "2", Value: []byte(`{"feed_id":2,"name":"Ann"}`)},
		{Key: "3", Value: []byte(`{"feed_id":3}`), Headers: []Header{{Key: "run-id", Value: []byte("42")}}},
		{Key: "2", Value: nil}, // Ann left the feed
	}
	publish(t, w, topic, sent...)

	got := newCollector()
	startConsumer(t, testConsumerConfig(brokers, topic, newGroup(t)), got.handle("a"))
	got.waitKeys(t, []string{"2", "3"})
	waitFor(t, func() bool { return len(got.snapshot()) >= 3 })
	msgs := got.snapshot()
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	// Order is per partition; both messages of key 2 share one.
	slices.SortStableFunc(msgs, func(a, b Message) int { return int(a.Offset - b.Offset) })
	byKey := map[string][]Message{}
	for _, msg := range msgs {
		byKey[msg.Key] = append(byKey[msg.Key], msg)
		if msg.Topic != topic {
			t.Errorf("message %s: topic %q, want %q", msg.Key, msg.Topic, topic)
		}
		if msg.Time.IsZero() || time.Since(msg.Time) > time.Minute {
			t.Errorf("message %s: time %v, want about now", msg.Key, msg.Time)
		}
	}
	ann := byKey["2"]
	if len(ann) != 2 || string(ann[0].Value) != `{"feed_id":2,"name":"Ann"}` {
		t.Fatalf("key 2: %+v, want the profile then a tombstone", ann)
	}
	if ann[1].Value != nil {
		t.Errorf("tombstone arrived with value %q (non-nil %v), want nil", ann[1].Value, ann[1].Value != nil)
	}
	if ct, ok := ann[0].Header(HeaderContentType); !ok || ct != "application/json" {
		t.Errorf("profile content-type = %q, %v; want application/json", ct, ok)
	}
	if _, ok := ann[1].Header(HeaderContentType); ok {
		t.Errorf("tombstone carries a content-type header")
	}
	other := byKey["3"][0]
	if runID, _ := other.Header("run-id"); runID != "42" {
		t.Errorf("custom header run-id = %q, want 42", runID)
	}
	if ct, _ := other.Header(HeaderContentType); ct != "application/json" {
		t.Errorf("content-type next to a custom header = %q", ct)
	}
}

func testPartitionByKey(t *testing.T, brokers []string) {
	const partitions = 6
	topic := newTopic(t, brokers, partitions)
	w := newTestWriter(t, brokers)
	first, second := numbered("feed", 120), numbered("feed", 120)
	for i := range second {
		second[i].Value = fmt.Appendf(nil, `{"version":2,"i":%d}`, i)
	}
	publish(t, w, topic, first...)
	publish(t, w, topic, second...)

	got := newCollector()
	startConsumer(t, testConsumerConfig(brokers, topic, newGroup(t)), got.handle("a"))
	got.waitKeys(t, keysOf(first))
	waitFor(t, func() bool { return len(got.snapshot()) >= 240 })

	byKey := map[string][]Message{}
	used := map[int]bool{}
	for _, msg := range got.snapshot() {
		byKey[msg.Key] = append(byKey[msg.Key], msg)
		used[msg.Partition] = true
	}
	for key, msgs := range byKey {
		want := javaPartition(key, partitions)
		for _, msg := range msgs {
			if msg.Partition != want {
				t.Errorf("key %s on partition %d, the Java client's murmur2 says %d", key, msg.Partition, want)
			}
		}
		if len(msgs) == 2 && msgs[0].Offset > msgs[1].Offset {
			msgs[0], msgs[1] = msgs[1], msgs[0]
		}
		if len(msgs) != 2 || msgs[0].Partition != msgs[1].Partition || string(msgs[1].Value[:12]) != `{"version":2` {
			t.Errorf("key %s: want two messages on one partition, the second version last; got %+v", key, msgs)
		}
	}
	if len(used) != partitions {
		t.Errorf("120 keys used %d of %d partitions", len(used), partitions)
	}
}

// javaPartition is the partition the Java client's default partitioner picks for key: murmur2
// of the key bytes, sign bit cleared, modulo the partition count. TestMurmur2MatchesJavaClient
// checks kafka-go's balancer against the Java test vectors; here we rely on it.
func javaPartition(key string, partitions int) int {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(key)}, ids...)
}

func testFailedBatchRetried(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	sent := numbered("p", 30)
	publish(t, w, topic, sent...)

	const failures = 3
	var (
		mu       sync.Mutex
		attempts [][]string // positions of each call's batch
		applied  []Message
	)
	outage := errors.New("database is down")
	logs := &logBuffer{}
	cfg := testConsumerConfig(brokers, topic, group)
	cfg.MaxBatch = 1000
	cfg.MaxWait = 300 * time.Millisecond // all 30 in one batch
	cfg.Logger = logs.logger()
	c := startConsumer(t, cfg, func(_ context.Context, msgs []Message) ([]DeadLetter, error) {
		mu.Lock()
		defer mu.Unlock()
		var positions []string
		for _, msg := range msgs {
			positions = append(positions, position(msg))
		}
		attempts = append(attempts, positions)
		if len(attempts) <= failures {
			return nil, outage
		}
		applied = append(applied, msgs...)
		return nil, nil
	})
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, msg := range applied {
			seen[msg.Key] = true
		}
		return len(seen) == len(sent)
	})
	waitFullyCommitted(t, brokers, group, topic)
	c.stop(t)

	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= failures; i++ {
		if !slices.Equal(attempts[i], attempts[0]) {
			t.Errorf("attempt %d got another batch:\n%v\nfirst:\n%v", i+1, attempts[i], attempts[0])
		}
	}
	stats := c.consumer.Stats()
	if stats.Retries != failures || stats.DeadLettered != 0 {
		t.Errorf("stats %+v, want %d retries and no dead letters", stats, failures)
	}
	if n := logs.count("handler failed; retrying"); n != failures {
		t.Errorf("%d retry log lines, want %d", n, failures)
	}
	if n := logs.count("database is down"); n != failures {
		t.Errorf("the cause appears %d times in the log, want %d", n, failures)
	}
}

func testDeadLetters(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	sent := numbered("img", 10)
	sent[3].Value = []byte("not json")
	sent[7].Value = []byte("{truncated")
	sent[7].Headers = []Header{{Key: "trace", Value: []byte("t-7")}}
	publish(t, w, topic, sent...)

	var (
		mu      sync.Mutex
		applied = map[string]bool{}
		failed  = map[string]Message{}
	)
	c := startConsumer(t, testConsumerConfig(brokers, topic, group), func(_ context.Context, msgs []Message) ([]DeadLetter, error) {
		mu.Lock()
		defer mu.Unlock()
		var dead []DeadLetter
		for _, msg := range msgs {
			if msg.Value[0] != '{' || msg.Value[len(msg.Value)-1] != '}' {
				dead = append(dead, DeadLetter{Message: msg, Err: fmt.Errorf("decode image request: invalid JSON at offset %d", msg.Offset)})
				failed[msg.Key] = msg
				continue
			}
			applied[msg.Key] = true
		}
		return dead, nil
	})
	dlq := newCollector()
	startConsumer(t, testConsumerConfig(brokers, DeadLetterTopic(topic), newGroup(t)), dlq.handle("dlq"))
	letters := dlq.waitKeys(t, []string{"img-3", "img-7"})
	waitFullyCommitted(t, brokers, group, topic)
	c.stop(t)

	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 8 {
		t.Errorf("applied %d messages, want the 8 valid ones", len(applied))
	}
	if got := c.consumer.Stats(); got.DeadLettered != 2 || got.Messages != 10 {
		t.Errorf("stats %+v, want 2 dead-lettered of 10", got)
	}
	if len(letters) != 2 {
		t.Fatalf("dead-letter topic holds %d messages, want 2", len(letters))
	}
	for _, letter := range letters {
		orig := failed[letter.Key]
		if string(letter.Value) != string(orig.Value) {
			t.Errorf("%s: value %q, want the original %q", letter.Key, letter.Value, orig.Value)
		}
		wantHeaders := map[string]string{
			HeaderError:           fmt.Sprintf("decode image request: invalid JSON at offset %d", orig.Offset),
			HeaderSourceTopic:     topic,
			HeaderSourcePartition: strconv.Itoa(orig.Partition),
			HeaderSourceOffset:    strconv.FormatInt(orig.Offset, 10),
			HeaderContentType:     "application/json", // the original's
		}
		if letter.Key == "img-7" {
			wantHeaders["trace"] = "t-7"
		}
		for name, want := range wantHeaders {
			if got, _ := letter.Header(name); got != want {
				t.Errorf("%s: header %s = %q, want %q", letter.Key, name, got, want)
			}
		}
		failedAt, _ := letter.Header(HeaderFailedAt)
		if at, err := time.Parse(time.RFC3339, failedAt); err != nil || time.Since(at) > time.Minute {
			t.Errorf("%s: failed-at %q is not a recent RFC 3339 time: %v", letter.Key, failedAt, err)
		}
	}
}

func testStuckHandlerRedelivers(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	sent := numbered("stuck", 20)
	publish(t, w, topic, sent...)

	entered := make(chan struct{}, 1)
	cfg := testConsumerConfig(brokers, topic, group)
	cfg.ShutdownGrace = 100 * time.Millisecond
	first := startConsumer(t, cfg, func(ctx context.Context, _ []Message) ([]DeadLetter, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done() // a handler that never finishes, like a hung database call
		return nil, ctx.Err()
	})
	waitSignal(t, entered, "the first consumer's handler never ran")
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	assertNothingCommitted(t, brokers, group, topic)

	got := newCollector()
	startConsumer(t, testConsumerConfig(brokers, topic, group), got.handle("second"))
	got.waitKeys(t, keysOf(sent))
	waitFullyCommitted(t, brokers, group, topic)
}

func testGracefulShutdownCommits(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	sent := numbered("grace", 20)
	publish(t, w, topic, sent...)

	entered, release := make(chan struct{}, 1), make(chan struct{})
	var handled atomic.Int64
	var ctxErrAtEnd atomic.Value
	cfg := testConsumerConfig(brokers, topic, group)
	cfg.MaxBatch = 1000
	cfg.MaxWait = 300 * time.Millisecond
	c := startConsumer(t, cfg, func(ctx context.Context, msgs []Message) ([]DeadLetter, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		ctxErrAtEnd.Store(fmt.Sprint(ctx.Err()))
		handled.Add(int64(len(msgs)))
		return nil, nil
	})
	waitSignal(t, entered, "handler never ran")
	stopped := make(chan error, 1)
	go func() { stopped <- c.stop(t) }()
	time.Sleep(200 * time.Millisecond) // shutdown has begun while the handler works
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := ctxErrAtEnd.Load(); got != "<nil>" {
		t.Errorf("handler ctx during the grace period: %v, want not cancelled", got)
	}
	if handled.Load() == 0 {
		t.Fatal("no message handled")
	}
	// Everything the handler finished is committed: the final commit happened before Run returned.
	committed := committedOffsets(t, brokers, group, topic)
	var total int64
	for _, offset := range committed {
		total += max(offset, 0)
	}
	if total != handled.Load() {
		t.Errorf("committed %d messages (%v), handled %d", total, committed, handled.Load())
	}
}

func testGroupSplitsPartitions(t *testing.T, brokers []string) {
	const partitions = 6
	topic := newTopic(t, brokers, partitions)
	group := newGroup(t)
	got := newCollector()
	startConsumer(t, testConsumerConfig(brokers, topic, group), got.handle("a"))
	startConsumer(t, testConsumerConfig(brokers, topic, group), got.handle("b"))
	waitStableMembers(t, brokers, group, 2)

	w := newTestWriter(t, brokers)
	sent := numbered("split", 600)
	publish(t, w, topic, sent...)
	got.waitKeys(t, keysOf(sent))
	waitFullyCommitted(t, brokers, group, topic)
	msgs := got.snapshot()

	if len(msgs) != len(sent) {
		t.Errorf("handled %d messages, want each of %d exactly once", len(msgs), len(sent))
	}
	owner := map[int]string{}
	perConsumer := map[string]int{}
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, msg := range msgs {
		name := got.handler[position(msg)]
		perConsumer[name]++
		if prev, ok := owner[msg.Partition]; ok && prev != name {
			t.Errorf("partition %d handled by both %s and %s", msg.Partition, prev, name)
		}
		owner[msg.Partition] = name
	}
	if perConsumer["a"] == 0 || perConsumer["b"] == 0 {
		t.Errorf("messages per consumer %v, want both to work", perConsumer)
	}
}

func testRebalanceLosesNothing(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 6)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	got := newCollector()
	slow := func(name string) Handler {
		h := got.handle(name)
		return func(ctx context.Context, msgs []Message) ([]DeadLetter, error) {
			time.Sleep(20 * time.Millisecond) // batches in flight while the group changes
			return h(ctx, msgs)
		}
	}
	cfg := testConsumerConfig(brokers, topic, group)
	cfg.MaxBatch = 20
	a := startConsumer(t, cfg, slow("a"))
	before := numbered("before", 300)
	publish(t, w, topic, before...)
	waitFor(t, func() bool { return len(got.snapshot()) > 0 })

	b := startConsumer(t, cfg, slow("b")) // joins mid-stream
	during := numbered("during", 300)
	for i := 0; i < len(during); i += 50 {
		publish(t, w, topic, during[i:i+50]...)
		time.Sleep(20 * time.Millisecond)
	}
	a.stop(t) // leaves mid-stream: b takes over a's partitions
	after := numbered("after", 300)
	publish(t, w, topic, after...)

	all := slices.Concat(keysOf(before), keysOf(during), keysOf(after))
	got.waitKeys(t, all)
	waitFullyCommitted(t, brokers, group, topic)
	b.stop(t)
	if n := len(got.snapshot()); n < len(all) {
		t.Errorf("handled %d messages, fewer than the %d published", n, len(all))
	}
}

// waitStableMembers waits until group is stable with n members that all have partitions.
func waitStableMembers(t *testing.T, brokers []string, group string, n int) {
	t.Helper()
	waitFor(t, func() bool {
		resp, err := adminClient(brokers).DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(resp.Groups) != 1 {
			return false
		}
		g := resp.Groups[0]
		if g.Error != nil || g.GroupState != "Stable" || len(g.Members) != n {
			return false
		}
		for _, m := range g.Members {
			if len(m.MemberAssignments.Topics) == 0 {
				return false
			}
		}
		return true
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", testTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitSignal(t *testing.T, ch <-chan struct{}, failure string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatal(failure)
	}
}
