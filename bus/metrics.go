package bus

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exposes the Kafka side of a process to Prometheus: the counters of
// its consumers, and the lag of consumer groups per partition, read from the
// brokers at each scrape (so a group's lag is visible from any process that
// watches it, also while its own consumers are down). Register it once; add
// consumers and watched groups as they start.
type Metrics struct {
	cluster Cluster
	logger  *slog.Logger
	timeout time.Duration

	mu        sync.Mutex
	consumers []*Consumer
	watched   []groupTopic
}

type groupTopic struct{ group, topic string }

// NewMetrics returns the collector for cluster.
func NewMetrics(cluster Cluster, logger *slog.Logger) *Metrics {
	return &Metrics{cluster: cluster, logger: logger, timeout: 2 * time.Second}
}

// AddConsumer exports c's counters, and watches the lag of its group.
func (m *Metrics) AddConsumer(c *Consumer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consumers = append(m.consumers, c)
	m.watched = append(m.watched, groupTopic{c.cfg.GroupID, c.cfg.Topic})
}

// WatchLag exports the lag of group on topic without a consumer in this
// process.
func (m *Metrics) WatchLag(group, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watched = append(m.watched, groupTopic{group, topic})
}

var (
	groupLabels       = []string{"group", "topic"}
	lagDesc           = prometheus.NewDesc("marquee_kafka_consumer_lag", "Messages of a topic partition that a consumer group has not committed yet.", []string{"group", "topic", "partition"}, nil)
	lagErrorDesc      = prometheus.NewDesc("marquee_kafka_consumer_lag_up", "1 when the lag of a group could be read from the brokers at this scrape, else 0.", groupLabels, nil)
	batchesDesc       = prometheus.NewDesc("marquee_kafka_consumer_batches_total", "Batches a consumer applied and committed.", groupLabels, nil)
	messagesDesc      = prometheus.NewDesc("marquee_kafka_consumer_messages_total", "Messages a consumer applied and committed, dead letters included.", groupLabels, nil)
	deadLetteredDesc  = prometheus.NewDesc("marquee_kafka_consumer_dead_lettered_total", "Messages a consumer could not decode or apply and published to the dead-letter topic.", groupLabels, nil)
	retriesDesc       = prometheus.NewDesc("marquee_kafka_consumer_retries_total", "Failed batch applications (a database outage, say) that were retried.", groupLabels, nil)
	commitErrorsDesc  = prometheus.NewDesc("marquee_kafka_consumer_commit_errors_total", "Offset commits that failed; their messages are delivered again.", groupLabels, nil)
	fetchErrorsDesc   = prometheus.NewDesc("marquee_kafka_consumer_fetch_errors_total", "Errors reading from the consumer group.", groupLabels, nil)
	consumerCounterOf = []struct {
		desc *prometheus.Desc
		get  func(ConsumerStats) int64
	}{
		{batchesDesc, func(s ConsumerStats) int64 { return s.Batches }},
		{messagesDesc, func(s ConsumerStats) int64 { return s.Messages }},
		{deadLetteredDesc, func(s ConsumerStats) int64 { return s.DeadLettered }},
		{retriesDesc, func(s ConsumerStats) int64 { return s.Retries }},
		{commitErrorsDesc, func(s ConsumerStats) int64 { return s.CommitErrors }},
		{fetchErrorsDesc, func(s ConsumerStats) int64 { return s.FetchErrors }},
	}
)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- lagErrorDesc
	for _, c := range consumerCounterOf {
		ch <- c.desc
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	consumers := append([]*Consumer(nil), m.consumers...)
	watched := append([]groupTopic(nil), m.watched...)
	m.mu.Unlock()

	for _, c := range consumers {
		stats := c.Stats()
		for _, counter := range consumerCounterOf {
			ch <- prometheus.MustNewConstMetric(counter.desc, prometheus.CounterValue, float64(counter.get(stats)),
				c.cfg.GroupID, c.cfg.Topic)
		}
	}
	seen := map[groupTopic]bool{}
	for _, w := range watched {
		if seen[w] {
			continue
		}
		seen[w] = true
		ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
		lags, err := PartitionLags(ctx, m.cluster, w.group, w.topic)
		cancel()
		up := 1.0
		if err != nil {
			up = 0
			m.logger.Debug("reading consumer lag for metrics", "group", w.group, "topic", w.topic, "err", err)
		}
		ch <- prometheus.MustNewConstMetric(lagErrorDesc, prometheus.GaugeValue, up, w.group, w.topic)
		for partition, lag := range lags {
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag), w.group, w.topic,
				strconv.Itoa(partition))
		}
	}
}
