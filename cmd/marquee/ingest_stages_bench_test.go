package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/ingest"
)

// stageSpeeds are the standalone speeds, in items/s, of the stages an
// ingest run chains, each measured alone in the benchmark's process on the
// benchmark's feed with the batch sizes of `ingest --once`, so that the end
// to end figure can be read as a share of its slowest stage.
type stageSpeeds struct {
	parse   float64 // the feed file parsed and normalised, hash included
	hash    float64 // content hashes alone
	publish float64 // profiles encoded and published to an embedded broker
	consume float64 // the same messages consumed by a loader group, undecoded
	upsert  float64 // profiles written into a fresh database by UpsertProfiles
}

// slowest is the speed of the slowest stage: the bound of the whole run.
func (s stageSpeeds) slowest() float64 {
	return min(s.parse, s.hash, s.publish, s.consume, s.upsert)
}

// parseStage parses the feed file of feed as a feed run does and returns
// its profiles and the parse speed.
func parseStage(b *testing.B, feed *feedServer) ([]db.Profile, float64) {
	file, err := os.Open(feed.path)
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	profiles := make([]db.Profile, 0, feed.items)
	start := time.Now()
	h, err := ingest.ParseFeed(file, func(_ int, p db.Profile) error {
		profiles = append(profiles, p)
		return nil
	}, func(ingest.Reject) error { return nil })
	elapsed := time.Since(start)
	if err != nil || h.Items != feed.items || len(profiles) != feed.items {
		b.Fatalf("parse: header %+v, error %v", h, err)
	}
	return profiles, float64(h.Items) / elapsed.Seconds()
}

// hashStage recomputes every profile's content hash.
func hashStage(b *testing.B, profiles []db.Profile) float64 {
	start := time.Now()
	for i := range profiles {
		if hash := profiles[i].ComputeContentHash(); hash != profiles[i].ContentHash {
			b.Fatalf("hash of feed id %d: %q; the parse gave %q", profiles[i].FeedID, hash, profiles[i].ContentHash)
		}
	}
	return float64(len(profiles)) / time.Since(start).Seconds()
}

// kafkaStages publishes the profiles to a fresh embedded broker as a feed
// run does, then consumes them in the loader's group settings, and returns
// both speeds.
func kafkaStages(b *testing.B, profiles []db.Profile) (publish, consume float64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	broker, err := bus.StartBroker(ctx, bus.BrokerConfig{Addr: "127.0.0.1:0", DataDir: b.TempDir(),
		Partitions: defaultConfig().KafkaPartitions, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	cluster := bus.Cluster{Brokers: broker.Brokers()}
	if err := bus.EnsureTopics(ctx, cluster, defaultConfig().KafkaPartitions); err != nil {
		b.Fatal(err)
	}
	writer, err := bus.NewWriter(bus.WriterConfig{Cluster: cluster, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for from := 0; from < len(profiles); from += ingestBatch {
		part := profiles[from:min(from+ingestBatch, len(profiles))]
		msgs := make([]bus.Message, len(part))
		for i := range part {
			value, err := json.Marshal(&part[i])
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = bus.Message{Key: strconv.FormatInt(part[i].FeedID, 10), Value: value}
		}
		if err := writer.Publish(ctx, bus.TopicPornstars, msgs...); err != nil {
			b.Fatal(err)
		}
	}
	publish = float64(len(profiles)) / time.Since(start).Seconds()
	if err := writer.Close(); err != nil {
		b.Fatal(err)
	}

	consumer, err := bus.NewConsumer(bus.ConsumerConfig{Cluster: cluster, GroupID: loaderGroup(bus.TopicPornstars),
		Topic: bus.TopicPornstars, MaxBatch: loaderBatch, FetchWait: onceFetchWait, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	consumeCtx, stop := context.WithCancel(ctx)
	var handled, elapsed atomic.Int64
	start = time.Now()
	err = consumer.Run(consumeCtx, func(_ context.Context, batch []bus.Message) ([]bus.DeadLetter, error) {
		if handled.Add(int64(len(batch))) >= int64(len(profiles)) {
			elapsed.CompareAndSwap(0, int64(time.Since(start)))
			stop()
		}
		return nil, nil
	})
	stop()
	if err != nil || handled.Load() < int64(len(profiles)) {
		b.Fatalf("consume: %d of %d messages, %v", handled.Load(), len(profiles), err)
	}
	return publish, float64(len(profiles)) / time.Duration(elapsed.Load()).Seconds()
}

// upsertStage writes the profiles into a fresh database at dbURL in the
// loader's batches.
func upsertStage(b *testing.B, dbURL string, profiles []db.Profile) float64 {
	ctx := context.Background()
	database, err := db.Open(ctx, db.Options{URL: dbURL})
	if err != nil {
		b.Fatal(err)
	}
	defer database.Close()
	if _, err := database.Migrate(ctx, time.Minute); err != nil {
		b.Fatal(err)
	}
	store := db.NewStore(database)
	start := time.Now()
	for from := 0; from < len(profiles); from += loaderBatch {
		res, err := store.UpsertProfiles(ctx, profiles[from:min(from+loaderBatch, len(profiles))])
		if err != nil || res.Inserted != min(loaderBatch, len(profiles)-from) {
			b.Fatalf("upsert: %+v, %v", res, err)
		}
	}
	return float64(len(profiles)) / time.Since(start).Seconds()
}

// measureStages measures every stage on the feed served by feed, the
// upsert into dbURL.
func measureStages(b *testing.B, feed *feedServer, dbURL string) stageSpeeds {
	var s stageSpeeds
	profiles, parse := parseStage(b, feed)
	s.parse = parse
	s.hash = hashStage(b, profiles)
	s.publish, s.consume = kafkaStages(b, profiles)
	s.upsert = upsertStage(b, dbURL, profiles)
	b.Logf("standalone stages on %s: parse %.0f items/s, hash %.0f/s, publish %.0f/s, consume %.0f/s, upsert %.0f/s",
		redactURL(dbURL), s.parse, s.hash, s.publish, s.consume, s.upsert)
	return s
}
