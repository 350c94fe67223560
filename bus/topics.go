package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// deadLetterRetention is how long a dead letter stays readable: long enough to notice, fix and
// replay over a holiday, short enough that a poison stream cannot fill the disk.
const deadLetterRetention = 14 * 24 * time.Hour

// adminTimeout bounds each admin request at start-up.
const adminTimeout = 15 * time.Second

// TopicPolicy is the configuration EnsureTopics gives one topic.
type TopicPolicy struct {
	Topic   string
	Configs map[string]string
}

// TopicPolicies returns every topic Marquee uses with the configuration it must have: the data
// topics compacted, their dead-letter topics deleted after 14 days, the record of replayed dead
// letters after 28.
//
// The compacted topics also carry retention.ms=-1. Kafka ignores retention.ms on a topic whose
// cleanup.policy is only "compact", but kfake (the embedded broker) applies time retention to
// every topic, compacted or not, and its default of 7 days would silently drop the current
// profile of every performer that did not change for a week.
func TopicPolicies() []TopicPolicy {
	topics := DataTopics()
	policies := make([]TopicPolicy, 0, 2*len(topics)+1)
	for _, topic := range topics {
		policies = append(policies, TopicPolicy{Topic: topic, Configs: map[string]string{
			"cleanup.policy": "compact",
			"retention.ms":   "-1",
		}})
	}
	for _, topic := range topics {
		policies = append(policies, TopicPolicy{Topic: DeadLetterTopic(topic), Configs: map[string]string{
			"cleanup.policy": "delete",
			"retention.ms":   strconv.FormatInt(deadLetterRetention.Milliseconds(), 10),
		}})
	}
	// Each dead letter is recorded once, so there is nothing to compact.
	policies = append(policies, TopicPolicy{Topic: TopicDeadLetterReplays, Configs: map[string]string{
		"cleanup.policy": "delete",
		"retention.ms":   strconv.FormatInt(deadLetterReplaysRetention.Milliseconds(), 10),
	}})
	return policies
}

// EnsureTopics creates every topic of TopicPolicies with the given number of partitions, or
// brings the policy configs of topics that already exist back to TopicPolicies. It is
// idempotent and safe to run from several processes at start-up. The replication factor is
// min(3, brokers in the cluster). It never changes the partition count of an existing topic:
// that would move keys to other partitions; a mismatch is only logged. Refused credentials or
// certificates are reported as ErrAuthentication.
func EnsureTopics(ctx context.Context, cluster Cluster, partitions int) error {
	return ensureTopics(ctx, cluster, partitions, TopicPolicies(), slog.Default())
}

// ensureTopics creates or reconciles the topics of policies.
func ensureTopics(ctx context.Context, cluster Cluster, partitions int, policies []TopicPolicy, logger *slog.Logger) error {
	if len(cluster.Brokers) == 0 {
		return errors.New("bus: ensure topics: no brokers")
	}
	if partitions < 1 {
		return fmt.Errorf("bus: ensure topics: partitions must be at least 1, got %d", partitions)
	}
	client := newAdminClient(cluster)
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	names := make([]string, len(policies))
	for i, policy := range policies {
		names[i] = policy.Topic
	}

	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("bus: ensure topics: metadata from %v: %w", cluster.Brokers, classifyConnectError(cluster, err))
	}
	replication := min(3, len(meta.Brokers))
	if replication < 1 {
		replication = 1
	}

	create := &kafka.CreateTopicsRequest{}
	for _, policy := range policies {
		entries := make([]kafka.ConfigEntry, 0, len(policy.Configs))
		for name, value := range policy.Configs {
			entries = append(entries, kafka.ConfigEntry{ConfigName: name, ConfigValue: value})
		}
		create.Topics = append(create.Topics, kafka.TopicConfig{
			Topic:             policy.Topic,
			NumPartitions:     partitions,
			ReplicationFactor: replication,
			ConfigEntries:     entries,
		})
	}
	created, err := client.CreateTopics(ctx, create)
	if err != nil {
		return fmt.Errorf("bus: ensure topics: create: %w", err)
	}
	var existing []TopicPolicy
	for _, policy := range policies {
		switch topicErr := created.Errors[policy.Topic]; {
		case topicErr == nil:
			logger.Info("bus: created topic", "topic", policy.Topic, "partitions", partitions, "replication", replication)
		case errors.Is(topicErr, kafka.TopicAlreadyExists):
			existing = append(existing, policy)
		default:
			return fmt.Errorf("bus: ensure topics: create %s: %w", policy.Topic, topicErr)
		}
	}
	for _, topic := range meta.Topics {
		if topic.Error == nil && len(topic.Partitions) != partitions {
			logger.Warn("bus: topic exists with another partition count; leaving it",
				"topic", topic.Name, "partitions", len(topic.Partitions), "configured", partitions)
		}
	}
	if len(existing) == 0 {
		return nil
	}
	return reconcileConfigs(ctx, client, existing, logger)
}

// Ping reports whether the cluster answers a metadata request: the readiness check of a
// process that needs Kafka. Refused credentials or certificates are reported as
// ErrAuthentication.
func Ping(ctx context.Context, cluster Cluster) error {
	brokers := cluster.Brokers
	if len(brokers) == 0 {
		return errors.New("bus: ping: no brokers")
	}
	client := newAdminClient(cluster)
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return fmt.Errorf("bus: ping %v: %w", brokers, classifyConnectError(cluster, err))
	}
	if len(meta.Brokers) == 0 {
		return fmt.Errorf("bus: ping %v: the cluster lists no brokers", brokers)
	}
	return nil
}

// newAdminClient returns a client with a transport of its own (see Cluster.transport), whose
// idle connections the caller closes.
func newAdminClient(cluster Cluster) *kafka.Client {
	return &kafka.Client{
		Addr:      kafka.TCP(cluster.Brokers...),
		Timeout:   adminTimeout,
		Transport: cluster.transport(),
	}
}

// reconcileConfigs sets the policy configs of existing topics where they differ.
func reconcileConfigs(ctx context.Context, client *kafka.Client, policies []TopicPolicy, logger *slog.Logger) error {
	actual, err := describeTopicConfigs(ctx, client, policies)
	if err != nil {
		return err
	}
	alter := &kafka.IncrementalAlterConfigsRequest{}
	for _, policy := range policies {
		var changes []kafka.IncrementalAlterConfigsRequestConfig
		for name, want := range policy.Configs {
			if got := actual[policy.Topic][name]; got != want {
				logger.Warn("bus: correcting topic config", "topic", policy.Topic, "config", name, "was", got, "now", want)
				changes = append(changes, kafka.IncrementalAlterConfigsRequestConfig{
					Name: name, Value: want, ConfigOperation: kafka.ConfigOperationSet,
				})
			}
		}
		if len(changes) > 0 {
			alter.Resources = append(alter.Resources, kafka.IncrementalAlterConfigsRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: policy.Topic, Configs: changes,
			})
		}
	}
	if len(alter.Resources) == 0 {
		return nil
	}
	resp, err := client.IncrementalAlterConfigs(ctx, alter)
	if err != nil {
		return fmt.Errorf("bus: ensure topics: alter configs: %w", err)
	}
	for _, resource := range resp.Resources {
		if resource.Error != nil {
			return fmt.Errorf("bus: ensure topics: alter configs of %s: %w", resource.ResourceName, resource.Error)
		}
	}
	return nil
}

// describeTopicConfigs returns topic -> config name -> value for the configs the policies name.
func describeTopicConfigs(ctx context.Context, client *kafka.Client, policies []TopicPolicy) (map[string]map[string]string, error) {
	describe := &kafka.DescribeConfigsRequest{}
	for _, policy := range policies {
		names := make([]string, 0, len(policy.Configs))
		for name := range policy.Configs {
			names = append(names, name)
		}
		describe.Resources = append(describe.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: policy.Topic, ConfigNames: names,
		})
	}
	resp, err := client.DescribeConfigs(ctx, describe)
	if err != nil {
		return nil, fmt.Errorf("bus: describe topic configs: %w", err)
	}
	configs := make(map[string]map[string]string, len(resp.Resources))
	for _, resource := range resp.Resources {
		if resource.Error != nil {
			return nil, fmt.Errorf("bus: describe configs of %s: %w", resource.ResourceName, resource.Error)
		}
		values := make(map[string]string, len(resource.ConfigEntries))
		for _, entry := range resource.ConfigEntries {
			values[entry.ConfigName] = entry.ConfigValue
		}
		configs[resource.ResourceName] = values
	}
	return configs, nil
}
