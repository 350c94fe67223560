package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"marquee/auth"
	"marquee/bus"
	"marquee/db"
	"marquee/internal/priority"
	"marquee/server"
)

// worker is what a long-running worker subcommand works with.
type worker struct {
	store *db.Store
	kafka *kafkaSide
	// registerer is where the worker's parts register their metrics.
	registerer prometheus.Registerer
	// kafkaMetrics exports consumer-group lag; add the worker's consumers.
	kafkaMetrics *bus.Metrics
}

// serveWorker runs body until ctx ends or body fails, with what every worker
// needs: the data dir's lock when the broker is embedded, the migrated
// database, Kafka, and /healthz, /readyz and /metrics on --http-addr. It
// shuts down in reverse order once both the server and body have returned.
func serveWorker(ctx context.Context, cfg Config, logger *slog.Logger, env environment, name string, body func(ctx context.Context, w *worker) error) (err error) {
	if len(cfg.brokers()) == 0 {
		lock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, lock.Release()) }()
	}
	srv, err := listen(cfg, logger, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	logger.Info("marquee "+name+" starting", "addr", srv.Addr().String(), "db", redactURL(cfg.DB), "version", readBuildInfo().Version)

	database, err := openServedDatabase(ctx, cfg, srv, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, database.Close()) }()
	kafka, kafkaMetrics, err := startServedKafka(ctx, cfg, srv, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, kafka.Close()) }()
	logger.Info("marquee " + name + " connected to the database and Kafka")

	// A failing body stops the server too, and the other way round.
	workCtx, stop := context.WithCancel(ctx)
	defer stop()
	bodyDone := make(chan error, 1)
	go func() {
		defer stop()
		bodyDone <- body(workCtx, &worker{store: db.NewStore(database), kafka: kafka, registerer: srv.Registerer(),
			kafkaMetrics: kafkaMetrics})
	}()
	if env.serverStarting != nil {
		env.serverStarting(srv)
	}
	srvErr := srv.Run(workCtx)
	stop()
	err = errors.Join(srvErr, <-bodyDone)
	logger.Info("marquee " + name + " stopped")
	return err
}

// listen makes the HTTP server of a long-running command and binds its
// address before the slow start-up, so that a taken port fails in
// milliseconds. The caller defers Close, which gives the port back when
// start-up fails.
func listen(cfg Config, logger *slog.Logger, foreground *priority.Gate) (*server.Server, error) {
	build := readBuildInfo()
	srv := server.New(server.Options{Addr: cfg.HTTPAddr, PprofAddr: cfg.PprofAddr, Foreground: foreground, Logger: logger, Version: build.Version,
		Revision: build.Revision, ShutdownTimeout: cfg.ShutdownTimeout,
		TrustedProxies:          auth.NewProxies(cfg.TrustedProxies.prefixes()),
		StrictTransportSecurity: cfg.PublicURL.https()})
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	return srv, nil
}

// openServedDatabase opens and migrates the database, and makes srv check
// it in /readyz and export its pools in /metrics.
func openServedDatabase(ctx context.Context, cfg Config, srv *server.Server, logger *slog.Logger) (*db.DB, error) {
	database, err := openAndMigrate(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	srv.AddCheck("database", databaseCheck(database, logger))
	registerDatabaseMetrics(srv.Registerer(), database)
	return database, nil
}

// startServedKafka starts the Kafka side (see startKafka), and makes srv
// check the brokers in /readyz and export consumer-group lag in /metrics;
// add the process's consumers to the returned metrics.
func startServedKafka(ctx context.Context, cfg Config, srv *server.Server, logger *slog.Logger) (*kafkaSide, *bus.Metrics, error) {
	kafka, err := startKafka(ctx, cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	srv.AddCheck("kafka", kafkaCheck(kafka.cluster, logger))
	return kafka, registerKafkaMetrics(srv.Registerer(), kafka.cluster, logger), nil
}
