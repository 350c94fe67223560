package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/ingest"
	"marquee/server"
)

const ingestAbout = `Ingests the feed. With --once it carries out one feed run and exits: with the
embedded broker (no --kafka-brokers) it runs the whole pipeline in this
process (ingest, loader, image compactor) and exits once the run is loaded
into the database and every image request has settled, cached or failed; with
external Kafka it publishes and exits, and the loader and imaging services do
the rest. Without --once it runs the feed schedule (and claims runs queued
through the APIs) until SIGINT or SIGTERM, with the loader and the compactor
in the process when the broker is embedded. --once --images=false leaves the
image requests queued in the embedded broker for the next 'marquee run'.

--once prints one summary line on stdout:
  status=completed seen=100 valid=100 rejected=0 changed=100 removed=0 images_requested=96
and a progress bar on stderr when it is a terminal, on the bottom row, below
the log lines. When the run withheld its removals (see --feed-max-shrink and
--feed-max-rejected), a line on stderr says why. Exit status: 0 when the run
completed or the feed was not modified, 1 when it failed, 2 for usage.`

func ingestCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee ingest [--once] [--feed SRC] [--force] [flags]", ingestAbout)
	var once, force bool
	images := true
	var source string
	f.set.BoolVar(&once, "once", false, "carry out one feed run and exit")
	f.set.StringVar(&source, "feed", "", "feed `source` for this run only (default --feed-url)")
	f.set.BoolVar(&force, "force", false, "fetch the feed even when it is not modified (no conditional GET)")
	f.set.BoolVar(&images, "images", true, "with --once and the embedded broker: run the image compactor and wait for every image request to settle; false leaves them queued for the next marquee run or marquee imaging")
	cfg.declareDatabase(f)
	cfg.declareImagesStore(f)
	cfg.declareKafka(f)
	cfg.declareFeed(f)
	cfg.declareImaging(f)
	cfg.declareHTTP(f)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	if err := errors.Join(cfg.checkFeed(), cfg.checkImaging()); err != nil {
		return f.usageExit(err, env)
	}
	if source == "" {
		source = cfg.FeedURL
	}
	cfg.resolve()
	if once && isTerminal(env.stderr) {
		// The progress bar stays below the log lines.
		env.stderr = newStatusLine(env.stderr)
	}
	logger := newLogger(env.stderr, cfg)
	if !once {
		if err := serveIngest(ctx, cfg, logger, env); err != nil {
			return failed(logger, "marquee ingest", err, f, env)
		}
		return exitOK
	}
	summary, err := ingestOnce(ctx, cfg, source, force, images, logger, env)
	if err != nil {
		return failed(logger, "marquee ingest", err, f, env)
	}
	fmt.Fprintln(env.stdout, summary.String())
	if summary.RemovalsSuppressed != "" {
		fmt.Fprintln(env.stderr, "removals suppressed: "+summary.RemovalsSuppressed)
	}
	if summary.Status == db.RunFailed {
		return exitFailure
	}
	return exitOK
}

// failed reports err: a usage error exits 2 with the usage, anything else 1.
func failed(logger *slog.Logger, what string, err error, f *flags, env environment) int {
	var usage *usageError
	if errors.As(err, &usage) {
		return f.usageExit(usage, env)
	}
	logger.Error(what+" failed", "err", err)
	return exitFailure
}

// ingestOnce carries out one feed run. With the embedded broker it also runs
// the loader and the image compactor, and returns once the run is loaded and
// its image requests have settled.
func ingestOnce(ctx context.Context, cfg Config, source string, force, images bool, logger *slog.Logger, env environment) (summary ingest.Summary, err error) {
	embedded := len(cfg.brokers()) == 0
	if cfg.PprofAddr != "" {
		// No HTTP server runs for one feed run, but its profiles may.
		_, stopPprof, err := server.StartPprof(cfg.PprofAddr, logger)
		if err != nil {
			return summary, err
		}
		defer stopPprof()
	}
	if embedded {
		// The embedded broker keeps its log in the data dir.
		lock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return summary, err
		}
		defer func() { err = errors.Join(err, lock.Release()) }()
	}
	database, err := openAndMigrate(ctx, cfg, logger)
	if err != nil {
		return summary, err
	}
	defer func() { err = errors.Join(err, database.Close()) }()
	store := db.NewStore(database)
	kafka, err := startKafka(ctx, cfg, logger)
	if err != nil {
		return summary, err
	}
	defer func() { err = errors.Join(err, kafka.Close()) }()
	sched, err := newScheduler(cfg, store, kafka.writer, logger, source)
	if err != nil {
		return summary, err
	}

	if embedded {
		loadCtx, stopLoading := context.WithCancel(ctx)
		loader, err := startLoader(loadCtx, kafka.cluster, store, logger, loaderBatch, onceFetchWait)
		if err != nil {
			stopLoading()
			return summary, err
		}
		defer func() { err = errors.Join(err, loader.Wait()) }()
		if images {
			compactor, err := startImaging(loadCtx, cfg, store, kafka, logger, env, nil, onceFetchWait)
			if err != nil {
				stopLoading()
				return summary, err
			}
			defer func() { err = errors.Join(err, compactor.Wait()) }()
		}
		defer stopLoading()
	}

	// A run left running by a process that died long enough ago no longer
	// blocks this one.
	if n, err := store.FailAbandonedRuns(ctx, time.Now().Add(-cfg.FeedAbandonAfter)); err != nil {
		return summary, err
	} else if n > 0 {
		logger.Warn("failed abandoned feed runs", "count", n, "abandon_after", cfg.FeedAbandonAfter)
	}
	if _, err := store.QueueRun(ctx, db.RequestedByCLI, force); err != nil {
		return summary, err
	}
	run, err := store.ClaimRun(ctx)
	if err != nil {
		return summary, err
	}
	stopProgress := startProgress(env.stderr, &sched.Runner.Progress, progressInterval)
	summary, err = sched.RunClaimed(ctx, run)
	stopProgress()
	if err != nil || !embedded || summary.Status != db.RunCompleted {
		return summary, err
	}
	if err := waitLoaded(ctx, kafka.cluster, bus.TopicPornstars); err != nil {
		return summary, fmt.Errorf("waiting for the loader: %w", err)
	}
	if !images {
		if summary.ImagesRequested > 0 {
			logger.Info("image requests left queued for the next marquee run or marquee imaging (--images=false)",
				"images_requested", summary.ImagesRequested)
		}
		return summary, waitLoaded(ctx, kafka.cluster, bus.TopicImages)
	}
	if err := waitImagesSettled(ctx, kafka.cluster); err != nil {
		return summary, fmt.Errorf("waiting for the image requests to settle: %w", err)
	}
	return summary, nil
}

// serveIngest runs the feed schedule until ctx ends, serving health on
// --http-addr. With the embedded broker it runs the loader and the image
// compactor too.
func serveIngest(ctx context.Context, cfg Config, logger *slog.Logger, env environment) error {
	return serveWorker(ctx, cfg, logger, env, "ingest", func(ctx context.Context, w *worker) (err error) {
		sched, err := newScheduler(cfg, w.store, w.kafka.writer, logger, cfg.FeedURL)
		if err != nil {
			return err
		}
		sched.OnFinish = ingest.NewMetrics(w.registerer).Observe
		if w.kafka.broker == nil {
			return sched.Run(ctx)
		}
		// The workers stop when ctx ends or the schedule fails: stopWork runs
		// first among the deferred calls, then they are waited for.
		workCtx, stopWork := context.WithCancel(ctx)
		loader, err := startLoader(workCtx, w.kafka.cluster, w.store, logger, loaderBatch, 0)
		if err != nil {
			stopWork()
			return err
		}
		loader.export(w.kafkaMetrics)
		defer func() { err = errors.Join(err, loader.Wait()) }()
		compactor, err := startImaging(workCtx, cfg, w.store, w.kafka, logger, env, w.registerer, 0)
		if err != nil {
			stopWork()
			return err
		}
		defer func() { err = errors.Join(err, compactor.Wait()) }()
		defer stopWork()
		return sched.Run(workCtx)
	})
}
