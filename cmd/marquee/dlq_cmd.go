package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"marquee/bus"
)

const dlqAbout = `Reads, replays and purges the dead-letter topics (<topic>.dlq): the messages a
consumer could not decode or apply, with the headers that say where and why.

  marquee dlq list [--topic T] [--limit N]      one line per dead letter
  marquee dlq show TOPIC:PARTITION:OFFSET        one dead letter's headers and value
  marquee dlq replay [--topic T] [--since TIME] [--dry-run]
                                                 republish to the source topic, once each
  marquee dlq purge --before TIME [--topic T]    delete older dead letters

Every subcommand needs --kafka-brokers (MARQUEE_KAFKA_BROKERS); with marquee run,
its embedded broker is 127.0.0.1:9092. A topic is named as the data topic
(marquee.pornstars) or its dead-letter topic (marquee.pornstars.dlq); without
--topic every dead-letter topic is read. TIME is RFC 3339 (2026-11-26T02:00:00Z),
a date (2026-11-26, midnight UTC) or a Go duration meaning that long ago (36h).`

// dlqCommand is `marquee dlq list|show|replay|purge`.
func dlqCommand(ctx context.Context, args []string, env environment) int {
	return dispatchSubcommand(ctx, args, env, "dlq", dlqAbout, []subcommand{
		{"list", dlqListCommand}, {"show", dlqShowCommand}, {"replay", dlqReplayCommand}, {"purge", dlqPurgeCommand},
	})
}

// dlqFlags declares what every dlq subcommand takes.
func dlqFlags(synopsis, about string, cfg *Config) *flags {
	f := newFlags(synopsis, about)
	f.String(&cfg.KafkaBrokers, "kafka-brokers", "comma-separated Kafka `brokers` (the embedded broker of marquee run: 127.0.0.1:9092)")
	cfg.declareKafkaSecurity(f)
	cfg.declareLogging(f)
	return f
}

// needBrokers is the usage error of a dlq subcommand without brokers.
func needBrokers(cfg Config) error {
	if len(cfg.brokers()) == 0 {
		return &usageError{"marquee dlq needs --kafka-brokers (MARQUEE_KAFKA_BROKERS); the embedded broker of marquee run is 127.0.0.1:9092"}
	}
	return nil
}

// deadLetterTopics returns the dead-letter topics that --topic names: all
// when empty.
func deadLetterTopics(topic string) ([]string, error) {
	if topic == "" {
		return bus.DeadLetterTopics(), nil
	}
	for _, dlq := range bus.DeadLetterTopics() {
		if topic == dlq || bus.DeadLetterTopic(topic) == dlq {
			return []string{dlq}, nil
		}
	}
	return nil, &usageError{fmt.Sprintf("--topic %q: want one of %s or its .dlq", topic, strings.Join(bus.DataTopics(), ", "))}
}

// parseTimeArg parses a TIME argument (see dlqAbout) relative to now.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-11-26T02:00:00Z), a date (2026-11-26) or a duration ago (36h)", s)
}

const dlqListAbout = `Lists dead letters in topic, partition and offset order: where each is, its key,
where it came from, when and why it failed, and whether a replay published it.`

func dlqListCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := dlqFlags("marquee dlq list [--topic T] [--limit N] [flags]", dlqListAbout, &cfg)
	var topic string
	limit := 100
	f.set.StringVar(&topic, "topic", "", "only this `topic`'s dead letters")
	f.set.IntVar(&limit, "limit", limit, "list at most `N` dead letters")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	topics, err := deadLetterTopics(topic)
	if err == nil {
		err = needBrokers(cfg)
	}
	if err == nil && limit < 1 {
		err = &usageError{"--limit must be at least 1"}
	}
	if err != nil {
		return f.usageExit(err, env)
	}
	logger := newLogger(env.stderr, cfg)
	cluster, err := cfg.kafkaCluster(cfg.brokers(), logger)
	if err != nil {
		return failed(logger, "marquee dlq list", err, f, env)
	}
	replayed, err := bus.ReplayedDeadLetters(ctx, cluster)
	if err != nil {
		return failed(logger, "marquee dlq list", err, f, env)
	}
	table := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "DEAD LETTER\tKEY\tSOURCE\tFAILED AT\tREPLAYED\tERROR")
	listed, more := 0, false
	errFull := errors.New("limit reached")
	for _, dlq := range topics {
		err := bus.ReadDeadLetters(ctx, cluster, dlq, func(r bus.DeadLetterRecord) error {
			if listed == limit {
				more = true
				return errFull
			}
			listed++
			failedAt := ""
			if !r.FailedAt.IsZero() {
				failedAt = r.FailedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID(), printable(r.Key), r.Source(), failedAt,
				yesNo(replayed[r.ID().String()]), printable(r.Error))
			return nil
		})
		if errors.Is(err, errFull) {
			break
		}
		if err != nil {
			return failed(logger, "marquee dlq list", err, f, env)
		}
	}
	if err := table.Flush(); err != nil {
		return failed(logger, "marquee dlq list", err, f, env)
	}
	if more {
		fmt.Fprintf(env.stdout, "more dead letters than --limit %d\n", limit)
	} else {
		fmt.Fprintf(env.stdout, "%d dead letters\n", listed)
	}
	return exitOK
}

func dlqShowCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := dlqFlags("marquee dlq show TOPIC:PARTITION:OFFSET [flags]", "Prints one dead letter: its key, timestamp, headers and value.", &cfg)
	ids, code, ok := f.parsePositional(args, env)
	if !ok {
		return code
	}
	if len(ids) != 1 {
		return f.usageExit(&usageError{"name one dead letter as TOPIC:PARTITION:OFFSET (see marquee dlq list)"}, env)
	}
	id, err := bus.ParseDeadLetterID(ids[0])
	if err != nil {
		return f.usageExit(&usageError{err.Error()}, env)
	}
	if _, err := deadLetterTopics(id.Topic); err != nil || !strings.HasSuffix(id.Topic, bus.DeadLetterSuffix) {
		return f.usageExit(&usageError{fmt.Sprintf("%s is not a dead-letter topic: want one of %s", id.Topic, strings.Join(bus.DeadLetterTopics(), ", "))}, env)
	}
	if err := needBrokers(cfg); err != nil {
		return f.usageExit(err, env)
	}
	logger := newLogger(env.stderr, cfg)
	cluster, err := cfg.kafkaCluster(cfg.brokers(), logger)
	if err != nil {
		return failed(logger, "marquee dlq show", err, f, env)
	}
	r, err := bus.ReadDeadLetter(ctx, cluster, id)
	if err != nil {
		return failed(logger, "marquee dlq show", err, f, env)
	}
	fmt.Fprintf(env.stdout, "dead letter: %s\nkey: %s\ntimestamp: %s\nheaders:\n", r.ID(), printable(r.Key), r.Time.UTC().Format(time.RFC3339Nano))
	for _, h := range r.Headers {
		fmt.Fprintf(env.stdout, "  %s: %s\n", printable(h.Key), printable(string(h.Value)))
	}
	switch {
	case r.Value == nil:
		fmt.Fprintln(env.stdout, "value: null (a tombstone)")
	case utf8.Valid(r.Value):
		fmt.Fprintf(env.stdout, "value:\n%s\n", r.Value)
	default:
		fmt.Fprintf(env.stdout, "value (not UTF-8, as a Go string):\n%q\n", r.Value)
	}
	return exitOK
}

const dlqReplayAbout = `Republishes dead letters to the topic they came from, with their key, value
and original headers (plus replayed-from), so that the consumer applies them
again: after the cause was fixed (a loader upgraded, a rule relaxed). Each dead
letter is published once: a replay records what it published on
marquee.dlq-replays, and later replays skip it. With --since only dead letters
that failed at or after TIME; with --dry-run nothing is published.`

func dlqReplayCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := dlqFlags("marquee dlq replay [--topic T] [--since TIME] [--dry-run] [flags]", dlqReplayAbout, &cfg)
	var topic, since string
	var dryRun bool
	f.set.StringVar(&topic, "topic", "", "only this `topic`'s dead letters")
	f.set.StringVar(&since, "since", "", "only dead letters that failed at or after `TIME`")
	f.set.BoolVar(&dryRun, "dry-run", false, "print what would be replayed; publish nothing")
	f.Int(&cfg.KafkaPartitions, "kafka-partitions", "partitions of marquee.dlq-replays when the replay creates it")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	topics, err := deadLetterTopics(topic)
	if err == nil {
		err = needBrokers(cfg)
	}
	var from time.Time
	if err == nil && since != "" {
		if from, err = parseTimeArg(since, time.Now()); err != nil {
			err = &usageError{"--since: " + err.Error()}
		}
	}
	if err != nil {
		return f.usageExit(err, env)
	}
	logger := newLogger(env.stderr, cfg)
	cluster, err := cfg.kafkaCluster(cfg.brokers(), logger)
	if err != nil {
		return failed(logger, "marquee dlq replay", err, f, env)
	}
	replayed, err := bus.ReplayedDeadLetters(ctx, cluster)
	if err != nil {
		return failed(logger, "marquee dlq replay", err, f, env)
	}
	var pending []bus.DeadLetterRecord
	skipped := 0
	for _, dlq := range topics {
		err := bus.ReadDeadLetters(ctx, cluster, dlq, func(r bus.DeadLetterRecord) error {
			failedAt := r.FailedAt
			if failedAt.IsZero() {
				failedAt = r.Time
			}
			switch {
			case replayed[r.ID().String()]:
				skipped++
			case failedAt.Before(from):
			case r.SourceTopic == "":
				logger.Warn("dead letter without a source-topic header left alone", "dead_letter", r.ID().String())
			default:
				pending = append(pending, r)
			}
			return nil
		})
		if err != nil {
			return failed(logger, "marquee dlq replay", err, f, env)
		}
	}
	verb := "replayed"
	if dryRun {
		verb = "would replay"
	} else if len(pending) > 0 {
		// The record of replays is created here when no process of this
		// version has created the topics yet.
		if err := bus.EnsureTopics(ctx, cluster, cfg.KafkaPartitions); err != nil {
			return failed(logger, "marquee dlq replay", err, f, env)
		}
		writer, err := bus.NewWriter(bus.WriterConfig{Cluster: cluster, Logger: logger})
		if err != nil {
			return failed(logger, "marquee dlq replay", err, f, env)
		}
		err = errors.Join(bus.ReplayDeadLetters(ctx, writer, pending, time.Now()), writer.Close())
		if err != nil {
			return failed(logger, "marquee dlq replay", err, f, env)
		}
	}
	for _, r := range pending {
		fmt.Fprintf(env.stdout, "%s %s to %s key %s\n", verb, r.ID(), r.SourceTopic, printable(r.Key))
	}
	fmt.Fprintf(env.stdout, "%s %d dead letters; %d replayed before\n", verb, len(pending), skipped)
	return exitOK
}

const dlqPurgeAbout = `Deletes the dead letters written before TIME from their topics (Kafka's
DeleteRecords, where the broker allows it), every partition up to its first
dead letter at or after TIME. Retention deletes them after 14 days anyway. A
broker that refuses (a policy, missing permissions, no DeleteRecords) is
reported and the exit status is 1.`

func dlqPurgeCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := dlqFlags("marquee dlq purge --before TIME [--topic T] [flags]", dlqPurgeAbout, &cfg)
	var topic, beforeArg string
	f.set.StringVar(&topic, "topic", "", "only this `topic`'s dead letters")
	f.set.StringVar(&beforeArg, "before", "", "delete dead letters written before `TIME`")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	topics, err := deadLetterTopics(topic)
	if err == nil {
		err = needBrokers(cfg)
	}
	var before time.Time
	if err == nil {
		if beforeArg == "" {
			err = &usageError{"name the cut-off with --before TIME"}
		} else if before, err = parseTimeArg(beforeArg, time.Now()); err != nil {
			err = &usageError{"--before: " + err.Error()}
		}
	}
	if err != nil {
		return f.usageExit(err, env)
	}
	logger := newLogger(env.stderr, cfg)
	cluster, err := cfg.kafkaCluster(cfg.brokers(), logger)
	if err != nil {
		return failed(logger, "marquee dlq purge", err, f, env)
	}
	code := exitOK
	for _, dlq := range topics {
		results, err := bus.PurgeDeadLetters(ctx, cluster, dlq, before)
		var deleted int64
		for _, r := range results {
			deleted += r.Deleted
		}
		fmt.Fprintf(env.stdout, "%s: purged %d dead letters\n", dlq, deleted)
		if err != nil {
			if errors.Is(err, bus.ErrDeleteRefused) {
				fmt.Fprintf(env.stdout, "%s: the broker refused to delete records: %v\n", dlq, err)
			}
			logger.Error("marquee dlq purge failed", "topic", dlq, "err", err)
			code = exitFailure
		}
	}
	return code
}

// printable makes text from a message safe for one line of a terminal.
func printable(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return strconv.Quote(s)
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
