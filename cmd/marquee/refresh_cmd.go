package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"marquee/bus"
	"marquee/db"
)

const refreshAbout = `Fetches the given images again: the one exception to "every image URL is
fetched once". It forgets the compactor's record of each URL hash (cached or
failed) and publishes a new request for it on marquee.image-requests; a
compactor then fetches it once more, and the new outcome replaces the old one
when it is loaded. A hash that is being fetched, or was never requested, is
left alone and reported, and the exit status is then 1. With 'marquee run',
point --kafka-brokers at its embedded broker (127.0.0.1:9092) and --data-dir
(or --db) at its data.`

// imagingRefreshCommand is `marquee imaging refresh URL_HASH...`.
func imagingRefreshCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee imaging refresh [flags] URL_HASH...", refreshAbout)
	cfg.declareDatabase(f)
	f.String(&cfg.KafkaBrokers, "kafka-brokers", "comma-separated Kafka `brokers` (the embedded broker of marquee run: 127.0.0.1:9092)")
	cfg.declareKafkaSecurity(f)
	cfg.declareLogging(f)
	if code, ok := f.parseOrExit(args, env); !ok {
		return code
	}
	hashes := f.set.Args()
	switch {
	case len(hashes) == 0:
		return f.usageExit(&usageError{"name at least one URL hash"}, env)
	case len(cfg.brokers()) == 0:
		return f.usageExit(&usageError{"marquee imaging refresh needs --kafka-brokers (MARQUEE_KAFKA_BROKERS)"}, env)
	}
	for _, h := range hashes {
		if !db.IsSHA256Hex(h) {
			return f.usageExit(&usageError{fmt.Sprintf("%q is not a URL hash (64 lowercase hex digits)", h)}, env)
		}
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)

	cluster, err := cfg.kafkaCluster(cfg.brokers(), logger)
	if err != nil {
		return failed(logger, "marquee imaging refresh", err, f, env)
	}
	if err := bus.Ping(ctx, cluster); err != nil {
		return failed(logger, "marquee imaging refresh", err, f, env)
	}
	database, err := openDatabase(ctx, cfg)
	if err != nil {
		return failed(logger, "marquee imaging refresh", err, f, env)
	}
	defer database.Close()
	writer, err := bus.NewWriter(bus.WriterConfig{Cluster: cluster, Logger: logger})
	if err != nil {
		return failed(logger, "marquee imaging refresh", err, f, env)
	}
	defer writer.Close()

	released, err := db.NewStore(database).ReleaseImageFetches(ctx, hashes)
	if err != nil {
		return failed(logger, "marquee imaging refresh", err, f, env)
	}
	now := time.Now().UTC()
	var msgs []bus.Message
	for hash, url := range released {
		value, err := json.Marshal(bus.ImageRequest{URLHash: hash, URL: url, RequestedAt: now})
		if err != nil {
			return failed(logger, "marquee imaging refresh", err, f, env)
		}
		msgs = append(msgs, bus.Message{Key: hash, Value: value})
	}
	// A failure here leaves the records released but no request sent: the
	// next feed run requests them (they are not cached in the compactor's
	// record any more), or run the refresh again.
	if err := writer.Publish(ctx, bus.TopicImageRequests, msgs...); err != nil {
		return failed(logger, "marquee imaging refresh", err, f, env)
	}
	for _, h := range hashes {
		if _, ok := released[h]; ok {
			fmt.Fprintf(env.stdout, "%s refresh requested\n", h)
		} else {
			fmt.Fprintf(env.stdout, "%s left alone: not settled (never requested, or being fetched)\n", h)
		}
	}
	if len(released) < len(slices.Compact(slices.Sorted(slices.Values(hashes)))) {
		return exitFailure
	}
	return exitOK
}
