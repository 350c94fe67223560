package bus

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testMetrics(t *testing.T, brokers []string) {
	topic := newTopic(t, brokers, 3)
	group := newGroup(t)
	m := NewMetrics(Cluster{Brokers: brokers}, testLogger())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	m.WatchLag(group, topic)

	sent := numbered("metrics", 12)
	publish(t, newTestWriter(t, brokers), topic, sent...)
	if n := testutil.CollectAndCount(m, "marquee_kafka_consumer_lag"); n != 3 {
		t.Fatalf("%d lag series, want one per partition (3)", n)
	}
	if lag := sumGathered(t, reg, "marquee_kafka_consumer_lag"); lag != 12 {
		t.Errorf("lag before consuming = %v, want 12", lag)
	}

	got := newCollector()
	r := startConsumer(t, testConsumerConfig(brokers, topic, group), got.handle("a"))
	m.AddConsumer(r.consumer)
	got.waitKeys(t, keysOf(sent))
	waitFullyCommitted(t, brokers, group, topic)
	if lag := sumGathered(t, reg, "marquee_kafka_consumer_lag"); lag != 0 {
		t.Errorf("lag after consuming = %v, want 0", lag)
	}
	if n := sumGathered(t, reg, "marquee_kafka_consumer_messages_total"); n != 12 {
		t.Errorf("messages_total = %v, want 12", n)
	}
	if up := sumGathered(t, reg, "marquee_kafka_consumer_lag_up"); up != 1 {
		t.Errorf("lag_up = %v, want 1 (the group is watched once, however often it is added)", up)
	}

	// Brokers that do not answer: the scrape still succeeds, and says so.
	dead := NewMetrics(Cluster{Brokers: []string{"127.0.0.1:1"}}, testLogger())
	dead.WatchLag(group, topic)
	expected := `
# HELP marquee_kafka_consumer_lag_up 1 when the lag of a group could be read from the brokers at this scrape, else 0.
# TYPE marquee_kafka_consumer_lag_up gauge
marquee_kafka_consumer_lag_up{group="` + group + `",topic="` + topic + `"} 0
`
	if err := testutil.CollectAndCompare(dead, strings.NewReader(expected), "marquee_kafka_consumer_lag_up"); err != nil {
		t.Error(err)
	}
}

func sumGathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
