package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"marquee/bus"
	"marquee/db"
	"marquee/imaging"
	"marquee/internal/priority"
)

// registerDatabaseMetrics exports the connection pools of database (as
// go_sql_* with db_name "primary" and "read") and, with a replica, whether
// reads go to it and its lag.
func registerDatabaseMetrics(reg prometheus.Registerer, database *db.DB) {
	reg.MustRegister(collectors.NewDBStatsCollector(database.W.DB, "primary"))
	if database.R == database.W {
		return
	}
	reg.MustRegister(collectors.NewDBStatsCollector(database.R.DB, "read"))
	if !database.ReplicaStatus().Configured {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "marquee_db_replica_in_use",
			Help: "1 while new reads go to the read replica, 0 while they go to the primary (replica down or lagging).",
		}, func() float64 {
			if database.ReplicaStatus().InUse {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "marquee_db_replica_lag_seconds",
			Help: "The read replica's lag behind the primary at its last check; -1 when unknown.",
		}, func() float64 {
			if lag := database.ReplicaStatus().Lag; lag >= 0 {
				return lag.Seconds()
			}
			return -1
		}),
	)
}

// marqueeGroups are the consumer groups of Marquee's workers and their
// topics: every process with Kafka exports their lag, so one scrape target
// shows the whole pipeline's backlog.
var marqueeGroups = []struct{ group, topic string }{
	{loaderGroup(bus.TopicPornstars), bus.TopicPornstars},
	{loaderGroup(bus.TopicImages), bus.TopicImages},
	{imaging.GroupID, bus.TopicImageRequests},
}

// registerKafkaMetrics exports the lag of Marquee's consumer groups on
// cluster; add the process's own consumers to the returned collector.
func registerKafkaMetrics(reg prometheus.Registerer, cluster bus.Cluster, logger *slog.Logger) *bus.Metrics {
	m := bus.NewMetrics(cluster, logger)
	for _, g := range marqueeGroups {
		m.WatchLag(g.group, g.topic)
	}
	reg.MustRegister(m)
	return m
}

// export adds the loader's consumers to m.
func (l *loader) export(m *bus.Metrics) {
	for _, c := range l.consumers {
		m.AddConsumer(c)
	}
}

// apiGCPercent is the garbage collector's target in the processes that
// serve the APIs (api, run), unless GOGC is set. Serving pages allocates
// much short-lived memory, and at the default GOGC=100 collecting it took a
// large share of the CPU (the README's "Speed layer" has the measurements;
// BenchmarkGraphQLPage runs at this setting too). The heap may grow to five
// times the live data; GOMEMLIMIT bounds it where needed.
const apiGCPercent = 400

// tuneGCForAPI applies apiGCPercent unless the environment sets GOGC.
func tuneGCForAPI(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(apiGCPercent)
	}
}

// registerForegroundMetrics exports how often and how long the process's
// background work gave way to its API requests.
func registerForegroundMetrics(reg prometheus.Registerer, gate *priority.Gate) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "marquee_background_yields_total",
			Help: "Times background work (feed run, loader, compactor) waited for API requests in flight before going on.",
		}, func() float64 {
			yields, _ := gate.Stats()
			return float64(yields)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "marquee_background_yield_seconds_total",
			Help: "Time background work spent waiting for API requests in flight.",
		}, func() float64 {
			_, waited := gate.Stats()
			return waited.Seconds()
		}),
	)
}
