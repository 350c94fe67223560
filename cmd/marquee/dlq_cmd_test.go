package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/ingest"
	"marquee/internal/testkit"
)

// refusingStore is the store as a loader with a since-fixed bug saw it: it
// refuses the profile of one feed id, as the store refuses an invalid one,
// so the loader dead-letters that message and loads the others.
type refusingStore struct {
	*db.Store
	feedID int64
}

func (s refusingStore) UpsertProfiles(ctx context.Context, profiles []db.Profile) (db.UpsertResult, error) {
	for i, p := range profiles {
		if p.FeedID == s.feedID {
			return db.UpsertResult{}, &db.ProfileError{Index: i, FeedID: p.FeedID, Err: &db.FieldError{Field: "name", Reason: "is refused by this loader"}}
		}
	}
	return s.Store.UpsertProfiles(ctx, profiles)
}

// runLoader consumes marquee.pornstars as the loader group with handle until
// the returned stop is called.
func runLoader(t *testing.T, cluster bus.Cluster, handle bus.Handler) (stop func()) {
	t.Helper()
	consumer, err := bus.NewConsumer(bus.ConsumerConfig{
		Cluster: cluster, GroupID: loaderGroup(bus.TopicPornstars), Topic: bus.TopicPornstars,
		MaxWait: 20 * time.Millisecond, FetchWait: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RetryBackoffMin: 50 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx, handle) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loader: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls check until it returns nil or the time is up.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// topicRecords counts the records of topic, by the lag of a group that never
// committed.
func topicRecords(t *testing.T, cluster bus.Cluster, topic string) int64 {
	t.Helper()
	n, err := bus.Lag(context.Background(), cluster, "test-never-commits", topic)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeadLetterReplay: a profile the loader refused lands on
// marquee.pornstars.dlq; `dlq list` and `dlq show` show it; after the fix
// `dlq replay` republishes it and the loader loads it; a second replay
// publishes nothing; `dlq purge` deletes it.
func TestDeadLetterReplay(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			testDeadLetterReplay(t, testkit.OpenStore(t, backend.URL(t)))
		})
	}
}

func testDeadLetterReplay(t *testing.T, store *db.Store) {
	ctx := t.Context()
	broker, err := bus.StartBroker(ctx, bus.BrokerConfig{Addr: "127.0.0.1:0", Partitions: 2, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	cluster := bus.Cluster{Brokers: broker.Brokers()}
	if err := bus.EnsureTopics(ctx, cluster, 2); err != nil {
		t.Fatal(err)
	}
	dlq := func(args ...string) (int, string, string) {
		return runCLI(ctx, nil, append(append([]string{"dlq"}, args...), "--kafka-brokers", broker.Addr())...)
	}

	// The test's own producer: two profiles; the loader before the fix
	// refuses feed id 7.
	writer, err := bus.NewWriter(bus.WriterConfig{Cluster: cluster, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	var msgs []bus.Message
	for _, p := range []struct {
		id   int64
		name string
	}{{7, "Seven Refused"}, {8, "Eight Loaded"}} {
		value, err := json.Marshal(db.Profile{SchemaVersion: db.ProfileSchemaVersion, FeedID: p.id, PornstarFields: db.PornstarFields{Name: p.name}})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Key: fmt.Sprint(p.id), Value: value})
	}
	if err := writer.Publish(ctx, bus.TopicPornstars, msgs...); err != nil {
		t.Fatal(err)
	}
	before := &ingest.Loader{Store: refusingStore{Store: store, feedID: 7}, Logger: quietLogger()}
	stopBefore := runLoader(t, cluster, before.HandleProfiles)
	hasFeedID := func(id int64) func() error {
		return func() error {
			_, err := store.GetByFeedID(ctx, id)
			return err
		}
	}
	eventually(t, "feed id 8 loaded", hasFeedID(8))
	listed := regexp.MustCompile(`(?m)^marquee\.pornstars\.dlq:\d+:0\s+7\s+marquee\.pornstars:\d+:0\s+\d{4}-\d\d-\d\dT\S+Z\s+no\s+poison message: profile 0 \(feed id 7\): name is refused by this loader$`)
	var list string
	eventually(t, "dlq list shows the dead letter", func() error {
		code, stdout, stderr := dlq("list")
		if code != exitOK || !listed.MatchString(stdout) || !strings.HasSuffix(stdout, "\n1 dead letters\n") {
			return fmt.Errorf("exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
		}
		list = stdout
		return nil
	})
	stopBefore()
	if _, err := store.GetByFeedID(ctx, 7); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("feed id 7 before the replay: %v, want not found", err)
	}
	id := strings.Fields(listed.FindString(list))[0]

	code, stdout, stderr := dlq("show", id)
	for _, want := range []string{"dead letter: " + id + "\n", "key: 7\n", "  content-type: application/json\n",
		"  error: poison message: profile 0 (feed id 7): name is refused by this loader\n",
		"  source-topic: marquee.pornstars\n", `"name":"Seven Refused"`} {
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("dlq show: exit %d, want %q in stdout:\n%s%s", code, want, stdout, stderr)
		}
	}

	// The fix: the loader as it is.
	fixed := &ingest.Loader{Store: store, Logger: quietLogger()}
	runLoader(t, cluster, fixed.HandleProfiles)
	published := topicRecords(t, cluster, bus.TopicPornstars)
	steps := []struct {
		name       string
		args       []string
		wantStdout string
		wantNew    int64 // records published on marquee.pornstars
	}{
		{"dry run", []string{"replay", "--dry-run"}, "would replay " + id + " to marquee.pornstars key 7\nwould replay 1 dead letters; 0 replayed before\n", 0},
		{"since after the failure", []string{"replay", "--since", "2999-01-01"}, "replayed 0 dead letters; 0 replayed before\n", 0},
		{"replay", []string{"replay", "--topic", "marquee.pornstars"}, "replayed " + id + " to marquee.pornstars key 7\nreplayed 1 dead letters; 0 replayed before\n", 1},
		{"second replay", []string{"replay"}, "replayed 0 dead letters; 1 replayed before\n", 0},
	}
	for _, step := range steps {
		code, stdout, stderr := dlq(step.args...)
		if code != exitOK || stdout != step.wantStdout {
			t.Errorf("%s: exit %d, stdout %q, want %q\n%s", step.name, code, stdout, step.wantStdout, stderr)
		}
		now := topicRecords(t, cluster, bus.TopicPornstars)
		if now-published != step.wantNew {
			t.Errorf("%s: %d records published on marquee.pornstars, want %d", step.name, now-published, step.wantNew)
		}
		published = now
	}
	eventually(t, "feed id 7 loaded after the replay", hasFeedID(7))
	if code, stdout, _ := dlq("list", "--topic", "marquee.pornstars.dlq"); code != exitOK || !strings.Contains(stdout, "  yes  ") {
		t.Errorf("dlq list after the replay: exit %d, want it marked replayed:\n%s", code, stdout)
	}

	code, stdout, stderr = dlq("purge", "--before", "2999-01-01", "--topic", "marquee.pornstars")
	if code != exitOK || stdout != "marquee.pornstars.dlq: purged 1 dead letters\n" {
		t.Errorf("dlq purge: exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	if code, stdout, _ := dlq("list"); code != exitOK || stdout != "DEAD LETTER  KEY  SOURCE  FAILED AT  REPLAYED  ERROR\n0 dead letters\n" {
		t.Errorf("dlq list after the purge: exit %d, stdout %q", code, stdout)
	}
	if code, _, stderr := dlq("show", id); code != exitFailure || !strings.Contains(stderr, "no record at this offset") {
		t.Errorf("dlq show of a purged dead letter: exit %d, stderr %q", code, stderr)
	}
}

// TestDLQUsage: what the dlq commands refuse before they reach a broker.
func TestDLQUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"dlq", "--help"}, exitOK, "marquee dlq replay [--topic T]", ""},
		{"replay help", []string{"dlq", "replay", "--help"}, exitOK, "--dry-run", ""},
		{"no subcommand", []string{"dlq"}, exitUsage, "", "name a subcommand"},
		{"unknown subcommand", []string{"dlq", "drop"}, exitUsage, "", `unknown subcommand "drop"`},
		{"no brokers", []string{"dlq", "list"}, exitUsage, "", "needs --kafka-brokers"},
		{"unknown topic", []string{"dlq", "list", "--topic", "orders", "--kafka-brokers", "127.0.0.1:1"}, exitUsage, "", `--topic "orders"`},
		{"limit zero", []string{"dlq", "list", "--limit", "0", "--kafka-brokers", "127.0.0.1:1"}, exitUsage, "", "--limit must be at least 1"},
		{"show without an id", []string{"dlq", "show", "--kafka-brokers", "127.0.0.1:1"}, exitUsage, "", "name one dead letter"},
		{"show a bad id", []string{"dlq", "show", "marquee.pornstars.dlq:x:1", "--kafka-brokers", "127.0.0.1:1"}, exitUsage, "", "is not TOPIC:PARTITION:OFFSET"},
		{"show a data topic", []string{"dlq", "show", "marquee.pornstars:0:1", "--kafka-brokers", "127.0.0.1:1"}, exitUsage, "", "is not a dead-letter topic"},
		{"replay since nonsense", []string{"dlq", "replay", "--since", "yesterday", "--kafka-brokers", "127.0.0.1:1"}, exitUsage, "", `--since: "yesterday" is not a time`},
		{"purge without --before", []string{"dlq", "purge", "--kafka-brokers", "127.0.0.1:1"}, exitUsage, "", "--before TIME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), nil, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, %q, %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
