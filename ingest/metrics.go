package ingest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the feed runs of a process and their items by outcome.
// Observe every finished run's Summary (Scheduler.OnFinish).
type Metrics struct {
	runs           *prometheus.CounterVec
	items          *prometheus.CounterVec
	imagesReq      prometheus.Counter
	lastFinished   *prometheus.GaugeVec
	lastSuccessful prometheus.Gauge
	now            func() time.Time
}

// NewMetrics registers the feed-run metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marquee_feed_runs_total",
			Help: "Feed runs finished, by status: completed, not_modified or failed.",
		}, []string{"status"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "marquee_feed_items_total",
			Help: "Feed items by outcome: seen, valid, rejected, changed (published), removed (tombstoned).",
		}, []string{"outcome"}),
		imagesReq: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "marquee_feed_images_requested_total",
			Help: "Image requests feed runs published to marquee.image-requests.",
		}),
		lastFinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "marquee_feed_last_run_finished_timestamp_seconds",
			Help: "When the last feed run of each status finished, as a Unix time.",
		}, []string{"status"}),
		lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "marquee_feed_last_success_timestamp_seconds",
			Help: "When the last completed or not_modified feed run finished, as a Unix time: alert when it is over a day old.",
		}),
		now: time.Now,
	}
	for _, status := range []string{"completed", "not_modified", "failed"} {
		m.runs.WithLabelValues(status)
	}
	for _, outcome := range []string{"seen", "valid", "rejected", "changed", "removed"} {
		m.items.WithLabelValues(outcome)
	}
	reg.MustRegister(m.runs, m.items, m.imagesReq, m.lastFinished, m.lastSuccessful)
	return m
}

// Observe counts one finished run.
func (m *Metrics) Observe(s Summary) {
	now := float64(m.now().UnixNano()) / 1e9
	m.runs.WithLabelValues(s.Status).Inc()
	m.lastFinished.WithLabelValues(s.Status).Set(now)
	if s.Status == "completed" || s.Status == "not_modified" {
		m.lastSuccessful.Set(now)
	}
	for outcome, n := range map[string]int64{"seen": s.Seen, "valid": s.Valid, "rejected": s.Rejected,
		"changed": s.Changed, "removed": s.Removed} {
		m.items.WithLabelValues(outcome).Add(float64(n))
	}
	m.imagesReq.Add(float64(s.ImagesRequested))
}
