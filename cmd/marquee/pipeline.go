package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"marquee/bus"
	"marquee/db"
	"marquee/imaging"
	"marquee/imaging/variant"
	"marquee/ingest"
)

// loaderGroup is the consumer group of the loaders of topic: one group per
// topic, so that a loader's two readers never rebalance each other.
func loaderGroup(topic string) string {
	return "marquee-loader-" + strings.TrimPrefix(topic, "marquee.")
}

// kafkaSide is the Kafka half of a process: the embedded broker (when no
// external brokers are configured), the topics, and a writer.
type kafkaSide struct {
	broker *bus.Broker // nil with external brokers
	// cluster is how every client of this process reaches the brokers.
	cluster bus.Cluster
	writer  *bus.Writer
}

// startKafka starts the embedded broker (persisted under the data dir) unless
// cfg names external brokers, makes sure the topics exist, and opens a writer.
// Credentials or a certificate the brokers refuse fail it at once, with the
// reason: retrying would not mend them.
func startKafka(ctx context.Context, cfg Config, logger *slog.Logger) (*kafkaSide, error) {
	k := &kafkaSide{}
	if brokers := cfg.brokers(); len(brokers) > 0 {
		cluster, err := cfg.kafkaCluster(brokers, logger)
		if err != nil {
			return nil, err
		}
		k.cluster = cluster
	} else {
		serverTLS, users, err := cfg.embeddedBrokerSecurity()
		if err != nil {
			return nil, err
		}
		broker, err := bus.StartBroker(ctx, bus.BrokerConfig{
			Addr:       cfg.KafkaAddr,
			DataDir:    filepath.Join(cfg.DataDir, "kafka"),
			Partitions: cfg.KafkaPartitions,
			Logger:     logger,
			TLS:        serverTLS,
			Users:      users,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		k.broker = broker
		if k.cluster, err = embeddedCluster(broker, serverTLS, users); err != nil {
			k.Close()
			return nil, err
		}
		logger.Info("embedded Kafka broker listening", "addr", broker.Addr())
	}
	if err := bus.EnsureTopics(ctx, k.cluster, cfg.KafkaPartitions); err != nil {
		k.Close()
		if errors.Is(err, bus.ErrAuthentication) {
			return nil, fmt.Errorf("%w (check --kafka-tls-ca-file, --kafka-tls-server-name and the --kafka-sasl-* settings)", err)
		}
		return nil, err
	}
	writer, err := bus.NewWriter(bus.WriterConfig{Cluster: k.cluster, Logger: logger})
	if err != nil {
		k.Close()
		return nil, err
	}
	k.writer = writer
	return k, nil
}

// Close flushes the writer, then stops the embedded broker.
func (k *kafkaSide) Close() error {
	var err error
	if k.writer != nil {
		err = k.writer.Close()
	}
	if k.broker != nil {
		err = errors.Join(err, k.broker.Close())
	}
	return err
}

// loader runs the consumers that write marquee.pornstars and marquee.images
// into the database.
type loader struct {
	consumers []*bus.Consumer
	wg        sync.WaitGroup
	errs      chan error
}

// loaderBatch is how many messages the loader applies per transaction, and
// ingestBatch how many profiles a feed run publishes per Kafka write and
// records as published per transaction. With SQLite's single writer the
// run's and the loader's transactions take turns, so fewer, larger ones
// matter, up to the size where a larger batch only holds more memory (the
// README's "Speed layer" has the measurements).
const (
	loaderBatch = 1000
	ingestBatch = 1000
)

// servingLoaderBatch is loaderBatch in `run`, where the APIs read while the
// loader writes: each transaction of the loader is a step the discovery
// index catches up with before a filtered list or search can answer, so
// smaller ones keep those requests short, at some cost to the load's speed
// (the README's "Speed layer" has the measurements).
const servingLoaderBatch = 500

// onceFetchWait is how long the broker holds an idle fetch of the loader
// that `ingest --once` runs, instead of the consumers' 500ms: stopping a
// consumer waits for its fetches in flight, so this is most of the time an
// unchanged re-run takes. The few more idle fetches last only as long as
// the run.
const onceFetchWait = 100 * time.Millisecond

// startLoader starts one consumer per topic the loader reads; Wait returns
// once ctx ends and they made their final commit. batch is how many
// messages a transaction applies at most; fetchWait is the consumers'
// FetchWait; 0 keeps bus's default.
func startLoader(ctx context.Context, cluster bus.Cluster, store *db.Store, logger *slog.Logger, batch int, fetchWait time.Duration) (*loader, error) {
	l := &loader{errs: make(chan error, 2)}
	handler := &ingest.Loader{Store: store, Logger: logger}
	for _, t := range []struct {
		topic  string
		handle bus.Handler
	}{
		{bus.TopicPornstars, handler.HandleProfiles},
		{bus.TopicImages, handler.HandleImages},
	} {
		c, err := bus.NewConsumer(bus.ConsumerConfig{Cluster: cluster, GroupID: loaderGroup(t.topic), Topic: t.topic,
			MaxBatch: batch, FetchWait: fetchWait, Logger: logger})
		if err != nil {
			return nil, err
		}
		l.consumers = append(l.consumers, c)
		l.wg.Add(1)
		go func(handle bus.Handler) {
			defer l.wg.Done()
			if err := c.Run(ctx, handle); err != nil {
				l.errs <- fmt.Errorf("loader %s: %w", t.topic, err)
			}
		}(t.handle)
	}
	return l, nil
}

// Wait waits for the consumers to stop and returns their errors.
func (l *loader) Wait() error {
	l.wg.Wait()
	close(l.errs)
	var err error
	for e := range l.errs {
		err = errors.Join(err, e)
	}
	return err
}

// newScheduler builds the feed-run machinery of cfg.
func newScheduler(cfg Config, store *db.Store, writer *bus.Writer, logger *slog.Logger, source string) (*ingest.Scheduler, error) {
	schedule, err := ingest.ParseSchedule(cfg.FeedSchedule)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	if cfg.FeedAbandonAfter < time.Second {
		return nil, &usageError{fmt.Sprintf("--feed-abandon-after %s: want at least 1s", cfg.FeedAbandonAfter)}
	}
	fetcher := ingest.NewFetcher("Marquee/"+readBuildInfo().Version, logger)
	fetcher.MaxBytes = int64(cfg.FeedMaxBytes)
	return &ingest.Scheduler{
		Store: store,
		Runner: &ingest.Runner{
			Store:              store,
			Fetcher:            fetcher,
			Publisher:          writer,
			Logger:             logger,
			Source:             source,
			MaxShrink:          cfg.FeedMaxShrink,
			MaxRejected:        cfg.FeedMaxRejected,
			ImageRetryCooldown: cfg.ImagesRetryCooldown,
			BatchSize:          ingestBatch,
		},
		Schedule:     schedule,
		Logger:       logger,
		AbandonAfter: cfg.FeedAbandonAfter,
		Heartbeat:    cfg.FeedAbandonAfter / 10,
		KeepRuns:     cfg.FeedRunsKeep,
	}, nil
}

// waitLoaded waits until the loader group has committed everything published
// on topic, polling the lag.
func waitLoaded(ctx context.Context, cluster bus.Cluster, topic string) error {
	return waitCommitted(ctx, cluster, loaderGroup(topic), topic)
}

// waitCommitted waits until group has committed everything published on
// topic, polling the lag.
func waitCommitted(ctx context.Context, cluster bus.Cluster, group, topic string) error {
	for {
		lag, err := bus.Lag(ctx, cluster, group, topic)
		if err == nil && lag == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// imagingWorker is the image compactor running in the background.
type imagingWorker struct {
	files     imaging.ObjectStore
	compactor *imaging.Compactor
	done      chan error
}

// startImaging opens the image store in the data dir and runs the image
// compactor on marquee.image-requests until ctx ends; Wait returns once it
// stopped. Its metrics go to reg when it is not nil. fetchWait is the
// consumer's FetchWait; 0 keeps bus's default.
func startImaging(ctx context.Context, cfg Config, store *db.Store, k *kafkaSide, logger *slog.Logger, env environment,
	reg prometheus.Registerer, fetchWait time.Duration) (*imagingWorker, error) {
	if err := cfg.checkImaging(); err != nil {
		return nil, err
	}
	files, err := openImagesStore(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	var tempDir string
	if _, isDir := files.(*imaging.FileStore); !isDir {
		tempDir = cfg.imagesTempDir()
	}
	icfg := imaging.Config{
		TempDir:   tempDir,
		Store:     store,
		Publisher: k.writer,
		Files:     files,
		Kafka:     k.cluster,
		Logger:    logger,
		UserAgent: "Marquee/" + readBuildInfo().Version,
		Workers:   cfg.ImagesWorkers,
		PerHost:   cfg.ImagesPerHost,
		MaxBytes:  int64(cfg.ImagesMaxBytes),
		MaxPixels: int64(cfg.ImagesMaxPixels),
		Placeholder: func(original []byte) (string, error) {
			return variant.Placeholder(original, int64(cfg.ImagesMaxPixels))
		},
		RetryCooldown:        cfg.ImagesRetryCooldown,
		AllowNetworks:        cfg.ImagesAllowNetworks.prefixes(),
		AllowPrivateNetworks: cfg.ImagesAllowPrivateNetworks,
		FetchWait:            fetchWait,
	}
	if env.configureImaging != nil {
		env.configureImaging(&icfg)
	}
	compactor, err := imaging.New(icfg)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		metrics := imaging.NewMetrics()
		metrics.Add(compactor)
		if err := reg.Register(metrics); err != nil {
			return nil, fmt.Errorf("imaging metrics: %w", err)
		}
	}
	logAllowedNetworks(logger, cfg)
	w := &imagingWorker{files: files, compactor: compactor, done: make(chan error, 1)}
	go func() { w.done <- compactor.Run(ctx) }()
	return w, nil
}

// Wait waits for the compactor to stop and returns its error.
func (w *imagingWorker) Wait() error { return <-w.done }

// logAllowedNetworks warns that the compactor may fetch from non-public
// networks, and what the deprecated switch now means.
func logAllowedNetworks(logger *slog.Logger, cfg Config) {
	networks := cfg.ImagesAllowNetworks.prefixes()
	if cfg.ImagesAllowPrivateNetworks {
		private := imaging.PrivateNetworks()
		names := make([]string, len(private))
		for i, network := range private {
			names[i] = network.String()
		}
		logger.Warn("--images-allow-private-networks (MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS) is deprecated: it allows loopback, " +
			"RFC 1918 and IPv6 unique local networks only, as --images-allow-networks " + strings.Join(names, ",") +
			" does; link-local and cloud metadata addresses stay refused")
		networks = append(networks, private...)
	}
	if len(networks) > 0 {
		logger.Warn("the image compactor may fetch from these networks although they are not public (local testing only)",
			"networks", fmt.Sprint(networks))
	}
}

// waitImagesSettled waits until the compactors have settled every image
// request published so far (each is cached or failed, and its outcome
// published), and the loader has written the outcomes.
func waitImagesSettled(ctx context.Context, cluster bus.Cluster) error {
	if err := waitCommitted(ctx, cluster, imaging.GroupID, bus.TopicImageRequests); err != nil {
		return err
	}
	return waitLoaded(ctx, cluster, bus.TopicImages)
}
