package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"marquee/bus"
	"marquee/db"
	"marquee/ingest"
	"marquee/internal/priority"
)

const runAbout = `Runs Marquee in one process: it takes the data dir's lock, opens the database
(embedded SQLite in the data dir unless --db says otherwise), applies pending
migrations, starts the embedded Kafka broker (unless --kafka-brokers names
external ones), the loader, the image compactor (images stored in
DATA_DIR/images) and the feed schedule, and serves HTTP on --http-addr: the
GraphQL API at /graphql with its playground at /playground, the REST API at
/api/v1, the image bytes at /images/{url_hash}, and /healthz, /readyz and
/metrics. Without --api-tokens it makes one write token on first start,
prints it once and keeps only its hash in DATA_DIR/api-token.
With --demo it serves a generated feed of demo performers and their
thumbnails from this process, on 127.0.0.1, and fetches from nowhere else:
the APIs answer with performers and cached images within seconds, with no
network. The demo keeps its data in ./data-demo unless --data-dir says
otherwise; the environment variables of the data dir, the database, the
brokers, the feed and the compactor's networks do not apply to it.
SIGINT or SIGTERM stops it gracefully: in-flight requests finish, the loader
and the compactor make their final commits, exit status 0.`

func runCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := runFlags(&cfg)
	var demoMode bool
	f.set.BoolVar(&demoMode, "demo", false, "serve a generated feed of demo performers and their images from this process, on 127.0.0.1 only (data in ./data-demo)")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	var ignored []string
	if demoMode {
		var err error
		if ignored, err = cfg.useDemo(f); err != nil {
			return f.usageExit(err, env)
		}
	}
	if err := cfg.checkFeed(); err != nil {
		return f.usageExit(err, env)
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	if len(ignored) > 0 {
		logger.Warn("demo: these environment variables do not apply, the demo keeps to its own data dir and feed", "ignored", ignored)
	}
	tuneGCForAPI(env.lookupEnv)
	if err := runEmbedded(ctx, cfg, demoMode, logger, env); err != nil {
		logger.Error("marquee run failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// runFlags declares the settings of `marquee run` on cfg.
func runFlags(cfg *Config) *flags {
	f := newFlags("marquee run [flags]", runAbout)
	cfg.declareDatabase(f)
	cfg.declareImagesStore(f)
	cfg.declareReplica(f)
	cfg.declareKafka(f)
	cfg.declareFeed(f)
	cfg.declareImaging(f)
	cfg.declareImagesGC(f, true)
	cfg.declareAPI(f)
	cfg.declareVariants(f, false)
	cfg.declareHTTP(f)
	cfg.declareLogging(f)
	return f
}

// runEmbedded runs everything of `marquee run` (with the demo source when
// demoMode) until ctx ends, then shuts down in reverse order: HTTP server,
// workers, demo source, Kafka, database, data dir lock.
func runEmbedded(ctx context.Context, cfg Config, demoMode bool, logger *slog.Logger, env environment) (err error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, lock.Release()) }()

	// The APIs' requests are the foreground of this process: the feed run,
	// the loader and the compactor give way to them (package priority).
	foreground := priority.NewGate(0)
	srv, err := listen(cfg, logger, foreground)
	if err != nil {
		return err
	}
	defer srv.Close()
	dataDir, _ := filepath.Abs(cfg.DataDir)
	startAttrs := []any{
		"addr", srv.Addr().String(),
		"data_dir", dataDir,
		"db", redactURL(cfg.DB),
		"version", readBuildInfo().Version,
		"pid", os.Getpid(),
	}
	if cfg.DBReplica != "" {
		startAttrs = append(startAttrs, "db_replica", redactURL(cfg.DBReplica))
	}
	logger.Info("marquee run starting", startAttrs...)

	database, err := openServedDatabase(ctx, cfg, srv, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, database.Close()) }()
	store := db.NewStore(database)

	kafka, kafkaMetrics, err := startServedKafka(ctx, cfg, srv, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, kafka.Close()) }()

	if demoMode {
		source, startErr := startDemo(&cfg, &env, logger)
		if startErr != nil {
			return startErr
		}
		defer func() { err = errors.Join(err, source.Close()) }()
	}
	sched, err := newScheduler(cfg, store, kafka.writer, logger, cfg.FeedURL)
	if err != nil {
		return err
	}
	sched.OnFinish = ingest.NewMetrics(srv.Registerer()).Observe
	// The workers stop when ctx ends or when the server fails: stopWork runs
	// first among the deferred calls, then they are waited for.
	workCtx, stopWork := context.WithCancel(ctx)
	defer warmDiscovery(workCtx, store, logger)()
	registerForegroundMetrics(srv.Registerer(), foreground)
	workCtx = priority.Background(workCtx, foreground)
	loader, err := startLoader(workCtx, kafka.cluster, store, logger, servingLoaderBatch, 0)
	if err != nil {
		stopWork()
		return err
	}
	loader.export(kafkaMetrics)
	defer func() { err = errors.Join(err, loader.Wait()) }()
	compactor, err := startImaging(workCtx, cfg, store, kafka, logger, env, srv.Registerer(), 0)
	if err != nil {
		stopWork()
		return err
	}
	defer func() { err = errors.Join(err, compactor.Wait()) }()
	defer startImageGC(workCtx, cfg, store, compactor.files, logger)()
	if err := mountAPI(srv, cfg, store, compactor.files, logger, env, true); err != nil {
		stopWork()
		return err
	}
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(workCtx) }()
	defer func() { err = errors.Join(err, <-schedDone) }()
	defer stopWork()

	if env.serverStarting != nil {
		env.serverStarting(srv)
	}
	logger.Info("marquee run serving", "addr", srv.Addr().String())
	if err := srv.Run(ctx); err != nil {
		return err
	}
	logger.Info("marquee run stopped")
	return nil
}

// kafkaCheck is the readiness check of Kafka: the brokers answer.
func kafkaCheck(cluster bus.Cluster, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		err := bus.Ping(ctx, cluster)
		if err == nil || ctx.Err() != nil {
			return err
		}
		logger.Warn("kafka ping failed", "err", err)
		return errors.New("ping failed (details in the log)")
	}
}

// openAndMigrate opens the database of cfg and applies pending migrations.
func openAndMigrate(ctx context.Context, cfg Config, logger *slog.Logger) (*db.DB, error) {
	database, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	applied, err := database.Migrate(ctx, cfg.MigrateLockWait)
	if err != nil {
		database.Close()
		return nil, err
	}
	if len(applied) > 0 {
		logger.Info("database migrated", "applied", applied)
	}
	return database, nil
}

// databaseCheck is the readiness check of the database: it answers a ping.
// The reason it gives /readyz is generic, because the body is public; the
// driver's error (hosts, user names) goes to the log.
func databaseCheck(database *db.DB, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		err := database.Ping(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		logger.Warn("database ping failed", "err", err)
		return errors.New("ping failed (details in the log)")
	}
}
