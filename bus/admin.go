package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Lag returns how many messages of topic the consumer group has not yet
// committed, summed over partitions. A partition the group never committed
// counts from its first offset. It is how `marquee ingest --once` knows
// that everything it published has been loaded.
func Lag(ctx context.Context, cluster Cluster, group, topic string) (int64, error) {
	lags, err := PartitionLags(ctx, cluster, group, topic)
	var lag int64
	for _, l := range lags {
		lag += l
	}
	return lag, err
}

// PartitionLags returns Lag per partition of topic, for the lag metric.
func PartitionLags(ctx context.Context, cluster Cluster, group, topic string) (map[int]int64, error) {
	client := newAdminClient(cluster)
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("bus: lag of %s on %s: metadata: %w", group, topic, classifyConnectError(cluster, err))
	}
	var partitions []int
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("bus: lag of %s on %s: %w", group, topic, t.Error)
		}
		for _, p := range t.Partitions {
			partitions = append(partitions, p.ID)
		}
	}
	if len(partitions) == 0 {
		return nil, fmt.Errorf("bus: lag of %s on %s: the topic has no partitions", group, topic)
	}
	requests := make([]kafka.OffsetRequest, 0, 2*len(partitions))
	for _, p := range partitions {
		requests = append(requests, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	offsets, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: requests}})
	if err != nil {
		return nil, fmt.Errorf("bus: lag of %s on %s: list offsets: %w", group, topic, err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: partitions}})
	if err != nil {
		return nil, fmt.Errorf("bus: lag of %s on %s: offset fetch: %w", group, topic, err)
	}
	// kfake answers GROUP_ID_NOT_FOUND for a group that never joined or committed, where
	// Kafka answers offset -1 for every partition; both mean nothing is committed.
	if committed.Error != nil && !errors.Is(committed.Error, kafka.GroupIdNotFound) {
		return nil, fmt.Errorf("bus: lag of %s on %s: offset fetch: %w", group, topic, committed.Error)
	}
	done := make(map[int]int64, len(partitions))
	for _, p := range committed.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("bus: lag of %s on %s partition %d: %w", group, topic, p.Partition, p.Error)
		}
		done[p.Partition] = p.CommittedOffset
	}
	lags := make(map[int]int64, len(partitions))
	for _, p := range offsets.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("bus: lag of %s on %s partition %d: %w", group, topic, p.Partition, p.Error)
		}
		from, ok := done[p.Partition]
		if !ok || from < p.FirstOffset { // never committed (-1) or compacted away
			from = p.FirstOffset
		}
		lags[p.Partition] = max(0, p.LastOffset-from)
	}
	return lags, nil
}
