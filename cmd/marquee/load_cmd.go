package main

import (
	"context"
	"errors"
	"log/slog"

	"marquee/bus"
)

const loadAbout = `Runs the loader: it consumes marquee.pornstars and marquee.images in the
consumer groups marquee-loader-pornstars and marquee-loader-images and writes them into the database, committing
offsets only once the effect is durable. Messages that can never be applied
are dead-lettered to <topic>.dlq and counted. Needs --kafka-brokers (the
embedded broker runs inside 'marquee run' and 'marquee ingest --once').`

func loadCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee load [flags]", loadAbout)
	cfg.declareDatabase(f)
	cfg.declareKafka(f)
	cfg.declareHTTP(f)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	if len(cfg.brokers()) == 0 {
		return f.usageExit(&usageError{"marquee load needs --kafka-brokers (MARQUEE_KAFKA_BROKERS)"}, env)
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)
	err := serveWorker(ctx, cfg, logger, env, "load", func(ctx context.Context, w *worker) error {
		loader, err := startLoader(ctx, w.kafka.cluster, w.store, logger, loaderBatch, 0)
		if err != nil {
			return err
		}
		loader.export(w.kafkaMetrics)
		return loader.Wait()
	})
	if err != nil {
		return failed(logger, "marquee load", err, f, env)
	}
	return exitOK
}

// brokerAbout documents `marquee broker`.
const brokerAbout = `Runs the embedded Kafka broker alone (franz-go's kfake), persisted under
DATA_DIR/kafka, on --addr, until SIGINT or SIGTERM: for running ingest, load
and the other workers as separate processes on one machine.`

func brokerCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee broker [--addr HOST:PORT] [flags]", brokerAbout)
	f.set.StringVar(&cfg.KafkaAddr, "addr", cfg.KafkaAddr, "listen `address` (default $MARQUEE_KAFKA_ADDR or 127.0.0.1:9092)")
	f.String(&cfg.DataDir, "data-dir", "data `directory`; the broker keeps its log in DATA_DIR/kafka")
	f.Int(&cfg.KafkaPartitions, "kafka-partitions", "partitions per topic created")
	cfg.declareKafkaSecurity(f)
	cfg.declareLogging(f)
	if v, ok := env.lookupEnv("MARQUEE_KAFKA_ADDR"); ok && v != "" {
		cfg.KafkaAddr = v
	}
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	logger := newLogger(env.stderr, cfg)
	if err := runBroker(ctx, cfg, logger); err != nil {
		return failed(logger, "marquee broker", err, f, env)
	}
	return exitOK
}

func runBroker(ctx context.Context, cfg Config, logger *slog.Logger) (err error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, lock.Release()) }()
	cfg.KafkaBrokers = ""
	k, err := startKafka(ctx, cfg, logger)
	if err != nil {
		return err
	}
	logger.Info("marquee broker listening", "addr", k.broker.Addr(), "topics", bus.DataTopics())
	<-ctx.Done()
	logger.Info("marquee broker stopping")
	return k.Close()
}
