package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicDeadLetterReplays records which dead letters were replayed: one message per replayed dead letter,
// keyed by its DeadLetterID, so that a replay publishes each dead letter once however often it runs. It
// lives beside the dead letters, in Kafka, so the dead-letter tools need only the cluster, on the
// embedded broker and a cluster alike; it is kept for twice as long as a dead letter, so the record of a
// replay outlives the letter it names.
const TopicDeadLetterReplays = "marquee.dlq-replays"

// deadLetterReplaysRetention keeps a replay record longer than the dead letter it names.
const deadLetterReplaysRetention = 2 * deadLetterRetention

// HeaderReplayedFrom marks a message republished by a replay with the DeadLetterID it came from.
const HeaderReplayedFrom = "replayed-from"

// DeadLetterTopics returns the dead-letter topics of the data topics, in data-flow order.
func DeadLetterTopics() []string {
	topics := DataTopics()
	for i, topic := range topics {
		topics[i] = DeadLetterTopic(topic)
	}
	return topics
}

// DeadLetterID names one record of a dead-letter topic: "topic:partition:offset".
type DeadLetterID struct {
	Topic     string
	Partition int
	Offset    int64
}

func (id DeadLetterID) String() string {
	return fmt.Sprintf("%s:%d:%d", id.Topic, id.Partition, id.Offset)
}

// ParseDeadLetterID parses "topic:partition:offset".
func ParseDeadLetterID(s string) (DeadLetterID, error) {
	topic, rest, ok := strings.Cut(s, ":")
	partition, offset, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || topic == "" {
		return DeadLetterID{}, fmt.Errorf("%q is not TOPIC:PARTITION:OFFSET", s)
	}
	p, err := strconv.Atoi(partition)
	o, err2 := strconv.ParseInt(offset, 10, 64)
	if err != nil || err2 != nil || p < 0 || o < 0 {
		return DeadLetterID{}, fmt.Errorf("%q is not TOPIC:PARTITION:OFFSET (partition and offset are whole numbers)", s)
	}
	return DeadLetterID{Topic: topic, Partition: p, Offset: o}, nil
}

// DeadLetterRecord is one message of a dead-letter topic with what its headers say about it. Fields a
// header does not give (a message not written by a Consumer) are zero.
type DeadLetterRecord struct {
	Message
	SourceTopic     string
	SourcePartition int
	SourceOffset    int64
	Error           string
	FailedAt        time.Time
}

// ID is where the record is.
func (r DeadLetterRecord) ID() DeadLetterID {
	return DeadLetterID{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

// Source is where the message came from: "topic:partition:offset", or "" when the headers do not say.
func (r DeadLetterRecord) Source() string {
	if r.SourceTopic == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", r.SourceTopic, r.SourcePartition, r.SourceOffset)
}

// deadLetterHeaders are the headers a Consumer adds to a dead letter; a replay drops them.
var deadLetterHeaders = map[string]bool{
	HeaderError: true, HeaderSourceTopic: true, HeaderSourcePartition: true, HeaderSourceOffset: true, HeaderFailedAt: true,
}

func deadLetterRecord(m Message) DeadLetterRecord {
	r := DeadLetterRecord{Message: m}
	r.Error, _ = m.Header(HeaderError)
	r.SourceTopic, _ = m.Header(HeaderSourceTopic)
	if s, ok := m.Header(HeaderSourcePartition); ok {
		r.SourcePartition, _ = strconv.Atoi(s)
	}
	if s, ok := m.Header(HeaderSourceOffset); ok {
		r.SourceOffset, _ = strconv.ParseInt(s, 10, 64)
	}
	if s, ok := m.Header(HeaderFailedAt); ok {
		r.FailedAt, _ = time.Parse(time.RFC3339, s)
	}
	return r
}

// ReadDeadLetters calls fn with every record of the dead-letter topic, partition by partition in offset
// order, from the first record the broker keeps to the last one written when it was called. fn's error
// stops the reading and is returned.
func ReadDeadLetters(ctx context.Context, cluster Cluster, topic string, fn func(DeadLetterRecord) error) error {
	return readTopic(ctx, cluster, topic, func(m Message) error { return fn(deadLetterRecord(m)) })
}

// ReadDeadLetter returns the one record id names, or an error wrapping ErrNoRecord.
func ReadDeadLetter(ctx context.Context, cluster Cluster, id DeadLetterID) (DeadLetterRecord, error) {
	ranges, err := partitionRanges(ctx, cluster, id.Topic)
	if err != nil {
		return DeadLetterRecord{}, err
	}
	r, ok := ranges[id.Partition]
	if !ok || id.Offset < r.first || id.Offset >= r.end {
		return DeadLetterRecord{}, fmt.Errorf("bus: %s: %w", id, ErrNoRecord)
	}
	var found *DeadLetterRecord
	err = readPartition(ctx, cluster, id.Topic, id.Partition, id.Offset, id.Offset+1, func(m Message) error {
		if m.Offset == id.Offset {
			rec := deadLetterRecord(m)
			found = &rec
		}
		return nil
	})
	if err != nil {
		return DeadLetterRecord{}, err
	}
	if found == nil { // compacted or a transaction marker
		return DeadLetterRecord{}, fmt.Errorf("bus: %s: %w", id, ErrNoRecord)
	}
	return *found, nil
}

// ErrNoRecord is returned for an offset that holds no record.
var ErrNoRecord = errors.New("no record at this offset (deleted by retention or purge, or not written yet)")

// deadLetterReplay is the value of a message on TopicDeadLetterReplays.
type deadLetterReplay struct {
	DeadLetter string    `json:"dead_letter"`
	Topic      string    `json:"topic"`
	Key        string    `json:"key"`
	ReplayedAt time.Time `json:"replayed_at"`
}

// ReplayedDeadLetters returns the DeadLetterIDs (as strings) recorded on TopicDeadLetterReplays; none
// when the topic does not exist yet.
func ReplayedDeadLetters(ctx context.Context, cluster Cluster) (map[string]bool, error) {
	replayed := map[string]bool{}
	err := readTopic(ctx, cluster, TopicDeadLetterReplays, func(m Message) error {
		replayed[m.Key] = true
		return nil
	})
	if errors.Is(err, kafka.UnknownTopicOrPartition) { // made by EnsureTopics of this version: none yet
		return replayed, nil
	}
	return replayed, err
}

// ReplayDeadLetters republishes each record to its source topic with its key, value and original
// headers (without the dead-letter headers, with HeaderReplayedFrom), then records it on
// TopicDeadLetterReplays. Records without a source topic are an error: nothing is published then.
// A crash between the two publishes leaves a record unrecorded, to be replayed again by the next
// replay: the consumers are idempotent.
func ReplayDeadLetters(ctx context.Context, w *Writer, records []DeadLetterRecord, now time.Time) error {
	bySource := map[string][]Message{}
	var order []string
	replays := make([]Message, 0, len(records))
	for _, r := range records {
		if r.SourceTopic == "" {
			return fmt.Errorf("bus: replay %s: it has no %s header", r.ID(), HeaderSourceTopic)
		}
		headers := []Header{{Key: HeaderReplayedFrom, Value: []byte(r.ID().String())}}
		for _, h := range r.Headers {
			if !deadLetterHeaders[h.Key] && h.Key != HeaderReplayedFrom {
				headers = append(headers, h)
			}
		}
		if _, ok := bySource[r.SourceTopic]; !ok {
			order = append(order, r.SourceTopic)
		}
		bySource[r.SourceTopic] = append(bySource[r.SourceTopic], Message{Key: r.Key, Value: r.Value, Headers: headers})
		value, err := json.Marshal(deadLetterReplay{DeadLetter: r.ID().String(), Topic: r.SourceTopic, Key: r.Key, ReplayedAt: now.UTC()})
		if err != nil {
			return err
		}
		replays = append(replays, Message{Key: r.ID().String(), Value: value})
	}
	for _, topic := range order {
		if err := w.PublishDeadLetters(ctx, topic, bySource[topic]...); err != nil {
			return fmt.Errorf("bus: replay to %s: %w", topic, err)
		}
	}
	if err := w.Publish(ctx, TopicDeadLetterReplays, replays...); err != nil {
		return fmt.Errorf("bus: record replays: %w", err)
	}
	return nil
}

// PurgeResult is what PurgeDeadLetters deleted from one partition.
type PurgeResult struct {
	Partition int
	// Deleted counts the offsets deleted: from the partition's first offset before the purge up to
	// Before.
	Deleted int64
	// Before is the partition's first offset after the purge.
	Before int64
}

// ErrDeleteRefused wraps the broker's refusal to delete records (a policy, an ACL, a broker that does
// not implement DeleteRecords).
var ErrDeleteRefused = errors.New("the broker refused to delete records")

// PurgeDeadLetters deletes the records of the dead-letter topic written before the time before, in
// every partition (Kafka's DeleteRecords: the partition's log start moves to the first record at or
// after before).
func PurgeDeadLetters(ctx context.Context, cluster Cluster, topic string, before time.Time) ([]PurgeResult, error) {
	ranges, err := partitionRanges(ctx, cluster, topic)
	if err != nil {
		return nil, err
	}
	// The first record at or after before, per partition: dead letters are few, so reading them is
	// cheap, and a record's own timestamp decides, the same on every broker.
	at := map[int]int64{}
	err = readTopic(ctx, cluster, topic, func(m Message) error {
		if _, found := at[m.Partition]; !found && !m.Time.Before(before) {
			at[m.Partition] = m.Offset
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bus: purge %s: %w", topic, err)
	}
	cut := map[int]int64{}
	for p, r := range ranges {
		offset, found := at[p]
		if !found {
			offset = r.end // every record is older
		}
		if offset > r.first {
			cut[p] = offset
		}
	}
	var results []PurgeResult
	if len(cut) == 0 {
		return results, nil
	}

	kc, err := kgo.NewClient(cluster.kgoOptions()...)
	if err != nil {
		return nil, fmt.Errorf("bus: purge %s: %w", topic, err)
	}
	defer kc.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = int32(adminTimeout.Milliseconds())
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p, offset := range cut {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = int32(p), offset
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, kc)
	if err != nil {
		return nil, fmt.Errorf("bus: purge %s: %w: %w", topic, ErrDeleteRefused, err)
	}
	var refused error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerrError(p.ErrorCode); err != nil {
				refused = errors.Join(refused, fmt.Errorf("partition %d: %w", p.Partition, err))
				continue
			}
			first := ranges[int(p.Partition)].first
			results = append(results, PurgeResult{Partition: int(p.Partition), Deleted: p.LowWatermark - first, Before: p.LowWatermark})
		}
	}
	if refused != nil {
		return results, fmt.Errorf("bus: purge %s: %w: %w", topic, ErrDeleteRefused, refused)
	}
	return results, nil
}

// kerrError is the error of a Kafka error code, nil for none.
func kerrError(code int16) error {
	if code == 0 {
		return nil
	}
	return kafka.Error(code)
}

// offsetRange is a partition's first offset and the offset after its last record.
type offsetRange struct{ first, end int64 }

// partitionRanges returns each partition's offsetRange of topic.
func partitionRanges(ctx context.Context, cluster Cluster, topic string) (map[int]offsetRange, error) {
	client := newAdminClient(cluster)
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("bus: read %s: metadata: %w", topic, err)
	}
	var requests []kafka.OffsetRequest
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("bus: read %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			requests = append(requests, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	if len(requests) == 0 {
		return nil, fmt.Errorf("bus: read %s: %w", topic, kafka.UnknownTopicOrPartition)
	}
	offsets, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: requests}})
	if err != nil {
		return nil, fmt.Errorf("bus: read %s: list offsets: %w", topic, err)
	}
	ranges := map[int]offsetRange{}
	for _, p := range offsets.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("bus: read %s partition %d: %w", topic, p.Partition, p.Error)
		}
		ranges[p.Partition] = offsetRange{first: p.FirstOffset, end: p.LastOffset}
	}
	return ranges, nil
}

// readTopic calls fn with every record of topic up to the end offsets at the time of the call.
func readTopic(ctx context.Context, cluster Cluster, topic string, fn func(Message) error) error {
	ranges, err := partitionRanges(ctx, cluster, topic)
	if err != nil {
		return err
	}
	for p := 0; p < len(ranges); p++ {
		r, ok := ranges[p]
		if !ok || r.first >= r.end {
			continue
		}
		if err := readPartition(ctx, cluster, topic, p, r.first, r.end, fn); err != nil {
			return err
		}
	}
	return nil
}

// readTimeout bounds the wait for a record that the offsets promise.
const readTimeout = 30 * time.Second

// readPartition calls fn with the records of one partition from offset from up to, not including, end.
func readPartition(ctx context.Context, cluster Cluster, topic string, partition int, from, end int64, fn func(Message) error) error {
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   cluster.Brokers,
		Dialer:    cluster.dialer(),
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  fetchMaxBytes,
		MaxWait:   500*time.Millisecond + fetchDeadlineMargin,
	})
	defer reader.Close()
	if err := reader.SetOffset(from); err != nil {
		return fmt.Errorf("bus: read %s partition %d: %w", topic, partition, err)
	}
	for {
		readCtx, cancel := context.WithTimeout(ctx, readTimeout)
		msg, err := reader.ReadMessage(readCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("bus: read %s partition %d at offset %d: %w", topic, partition, from, err)
		}
		if msg.Offset >= end {
			return nil
		}
		if err := fn(fromKafka(msg)); err != nil {
			return err
		}
		if msg.Offset+1 >= end {
			return nil
		}
		from = msg.Offset + 1
	}
}
