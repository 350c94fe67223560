package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	m.Observe(Summary{Status: "completed", Seen: 100, Valid: 98, Rejected: 2, Changed: 98, ImagesRequested: 96})
	m.Observe(Summary{Status: "not_modified"})
	m.Observe(Summary{Status: "completed", Seen: 100, Valid: 99, Rejected: 1, Changed: 1, Removed: 1})

	want := `
# HELP marquee_feed_items_total Feed items by outcome: seen, valid, rejected, changed (published), removed (tombstoned).
# TYPE marquee_feed_items_total counter
marquee_feed_items_total{outcome="changed"} 99
marquee_feed_items_total{outcome="rejected"} 3
marquee_feed_items_total{outcome="removed"} 1
marquee_feed_items_total{outcome="seen"} 200
marquee_feed_items_total{outcome="valid"} 197
# HELP marquee_feed_runs_total Feed runs finished, by status: completed, not_modified or failed.
# TYPE marquee_feed_runs_total counter
marquee_feed_runs_total{status="completed"} 2
marquee_feed_runs_total{status="failed"} 0
marquee_feed_runs_total{status="not_modified"} 1
# HELP marquee_feed_images_requested_total Image requests feed runs published to marquee.image-requests.
# TYPE marquee_feed_images_requested_total counter
marquee_feed_images_requested_total 96
# HELP marquee_feed_last_success_timestamp_seconds When the last completed or not_modified feed run finished, as a Unix time: alert when it is over a day old.
# TYPE marquee_feed_last_success_timestamp_seconds gauge
marquee_feed_last_success_timestamp_seconds 1.8e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "marquee_feed_items_total",
		"marquee_feed_runs_total", "marquee_feed_images_requested_total", "marquee_feed_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}
