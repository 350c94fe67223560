package ingest

// Shared helpers of the feed-run, loader, scheduler and verify tests: a
// migrated Store per test (SQLite, or MySQL through dbtest.Backends), an
// in-process Kafka broker with Marquee's topics, a reader of what was
// published on a topic, and synthetic feeds from feedgen that tests cut,
// corrupt and serve.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/ingest/feedgen"
	"marquee/internal/testkit"
)

func TestMain(m *testing.M) {
	// bus.EnsureTopics logs through the default logger.
	slog.SetDefault(quietLogger())
	dbtest.Main(m)
}

// testTimeout bounds every wait of these tests: generous, so a slow machine
// never fails them, and finite, so a hang fails instead of stalling CI.
const testTimeout = 30 * time.Second

// testPartitions is the partition count of the test topics: more than one,
// so ordering and counting are checked across partitions.
const testPartitions = 3

// quietLogger is the logger of code under test: discarded unless
// INGEST_TEST_LOG is set, so goroutines outliving a test never write to a
// finished testing.T.
func quietLogger() *slog.Logger {
	if os.Getenv("INGEST_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// sqliteStore is a fresh SQLite store of the test's own.
func sqliteStore(t testing.TB) *db.Store {
	t.Helper()
	return testkit.OpenStore(t, dbtest.SQLiteURL(t))
}

// kafkaEnv is an in-process broker on 127.0.0.1 with every Marquee topic,
// and a writer to it. Each test that counts messages has one of its own.
type kafkaEnv struct {
	brokers []string
	writer  *bus.Writer
}

func startKafka(t testing.TB) *kafkaEnv {
	t.Helper()
	k := testkit.StartKafka(t, testPartitions, quietLogger())
	return &kafkaEnv{brokers: k.Brokers, writer: k.Writer}
}

func (k *kafkaEnv) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(k.brokers...), Timeout: testTimeout, Transport: &kafka.Transport{ClientID: "ingest-test"}}
}

// topicMark is the end offset of every partition of a topic at one moment.
type topicMark map[int]int64

// mark returns the end offsets of topic now: what a later since reads from.
func (k *kafkaEnv) mark(t testing.TB, topic string) topicMark {
	t.Helper()
	client := k.client()
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	requests := make([]kafka.OffsetRequest, testPartitions)
	for p := range testPartitions {
		requests[p] = kafka.LastOffsetOf(p)
	}
	resp, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: requests}})
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	mark := topicMark{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets of %s/%d: %v", topic, p.Partition, p.Error)
		}
		mark[p.Partition] = p.LastOffset
	}
	if len(mark) != testPartitions {
		t.Fatalf("%s has %d partitions, want %d", topic, len(mark), testPartitions)
	}
	return mark
}

// since returns every message of topic written after from (nil: from the
// start) up to now, in partition and offset order.
func (k *kafkaEnv) since(t testing.TB, topic string, from topicMark) []bus.Message {
	t.Helper()
	end := k.mark(t, topic)
	client := k.client()
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	var msgs []bus.Message
	for p := range testPartitions {
		offset := from[p] // 0 when from is nil
		for offset < end[p] {
			resp, err := client.Fetch(context.Background(), &kafka.FetchRequest{
				Topic: topic, Partition: p, Offset: offset, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: time.Second,
			})
			if err != nil {
				t.Fatalf("fetch %s/%d at %d: %v", topic, p, offset, err)
			}
			if resp.Error != nil {
				t.Fatalf("fetch %s/%d at %d: %v", topic, p, offset, resp.Error)
			}
			for {
				rec, err := resp.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read %s/%d: %v", topic, p, err)
				}
				if rec.Offset < offset || rec.Offset >= end[p] {
					continue
				}
				msg := bus.Message{Topic: topic, Partition: p, Offset: rec.Offset, Time: rec.Time}
				key, err := readBytes(rec.Key)
				if err != nil {
					t.Fatal(err)
				}
				msg.Key = string(key)
				if msg.Value, err = readBytes(rec.Value); err != nil {
					t.Fatal(err)
				}
				for _, h := range rec.Headers {
					msg.Headers = append(msg.Headers, bus.Header{Key: h.Key, Value: slices.Clone(h.Value)})
				}
				msgs = append(msgs, msg)
				offset = rec.Offset + 1
			}
		}
	}
	return msgs
}

// readBytes reads a record's key or value; nil stays nil (a tombstone).
func readBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return io.ReadAll(b)
}

// published splits profile-topic messages into the feed ids of profiles and
// of tombstones, each sorted; a key appearing twice fails the test.
func published(t testing.TB, msgs []bus.Message) (profiles, tombstones []int64) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.Key] {
			t.Errorf("feed id %s published twice in one run", m.Key)
		}
		seen[m.Key] = true
		id, err := strconv.ParseInt(m.Key, 10, 64)
		if err != nil {
			t.Fatalf("key %q is not a feed id", m.Key)
		}
		if m.Value == nil {
			tombstones = append(tombstones, id)
		} else {
			profiles = append(profiles, id)
		}
	}
	slices.Sort(profiles)
	slices.Sort(tombstones)
	return profiles, tombstones
}

// genFeed returns the feed feedgen writes for o.
func genFeed(t testing.TB, o feedgen.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := feedgen.Write(&buf, o); err != nil {
		t.Fatalf("feedgen: %v", err)
	}
	return buf.Bytes()
}

// writeTemp writes data to a new file in the test's temporary directory and
// returns its path.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// feedDoc is a feed in feedgen's layout (the real one: one item per line),
// split into its items so that tests can drop, corrupt and add items.
type feedDoc struct {
	head  string   // everything up to and including `"items": [` and its newline
	items []string // one compact item each, without separators
}

var itemIDPattern = regexp.MustCompile(`"id":(\d+)[,}]`)

func splitFeed(t testing.TB, data []byte) *feedDoc {
	t.Helper()
	const open = "\"items\": [\n"
	start := bytes.Index(data, []byte(open))
	end := bytes.LastIndex(data, []byte("\n\t\t],"))
	if start < 0 || end < start {
		t.Fatalf("not a feed in feedgen's layout")
	}
	doc := &feedDoc{head: string(data[:start+len(open)])}
	for _, line := range strings.Split(string(data[start+len(open):end]), ",\n") {
		doc.items = append(doc.items, strings.TrimPrefix(line, "\t\t"))
	}
	return doc
}

// id returns the feed id of item i.
func (d *feedDoc) id(t testing.TB, i int) int64 {
	t.Helper()
	m := itemIDPattern.FindStringSubmatch(d.items[i])
	if m == nil {
		t.Fatalf("item %d has no numeric id: %.80s", i, d.items[i])
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// find returns the index of the first item from index from on that contains
// substr; it fails the test when there is none.
func (d *feedDoc) find(t testing.TB, substr string, from int) int {
	t.Helper()
	for i := from; i < len(d.items); i++ {
		if strings.Contains(d.items[i], substr) {
			return i
		}
	}
	t.Fatalf("no item from %d on contains %q", from, substr)
	return -1
}

// with returns a copy of the feed whose items are items.
func (d *feedDoc) with(items []string) *feedDoc {
	return &feedDoc{head: d.head, items: items}
}

// replace returns item i with old replaced by new once; it fails the test
// when item i does not contain old.
func (d *feedDoc) replace(t testing.TB, i int, old, new string) string {
	t.Helper()
	if !strings.Contains(d.items[i], old) {
		t.Fatalf("item %d does not contain %q", i, old)
	}
	return strings.Replace(d.items[i], old, new, 1)
}

func (d *feedDoc) bytes() []byte {
	var b strings.Builder
	b.WriteString(d.head)
	for i, item := range d.items {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("\t\t" + item)
	}
	if len(d.items) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\t\t],\n\t\"itemsCount\": %d\n}\n", len(d.items))
	return []byte(b.String())
}

// parsedFeed is what ParseFeed makes of a feed: the valid profiles by feed
// id and the rejects.
type parsedFeed struct {
	profiles map[int64]db.Profile
	rejects  []Reject
	header   FeedHeader
}

func parseFeedBytes(t testing.TB, data []byte) parsedFeed {
	t.Helper()
	pf := parsedFeed{profiles: map[int64]db.Profile{}}
	var err error
	pf.header, err = ParseFeed(bytes.NewReader(data), func(_ int, p db.Profile) error {
		pf.profiles[p.FeedID] = p
		return nil
	}, func(rej Reject) error {
		pf.rejects = append(pf.rejects, rej)
		return nil
	})
	if err != nil {
		t.Fatalf("parse test feed: %v", err)
	}
	return pf
}

func (pf parsedFeed) ids() []int64 { return slices.Sorted(maps.Keys(pf.profiles)) }

func (pf parsedFeed) hashes() map[int64]string {
	out := make(map[int64]string, len(pf.profiles))
	for id, p := range pf.profiles {
		out[id] = p.ContentHash
	}
	return out
}

// urlHashes returns the distinct thumbnail URL hashes of the feed.
func (pf parsedFeed) urlHashes() map[string]string {
	out := map[string]string{}
	for _, p := range pf.profiles {
		for _, th := range p.Thumbnails {
			out[th.URLHash] = th.URL
		}
	}
	return out
}

// feedDiff is how feed next differs from feed prev, by feed id.
type feedDiff struct {
	changed, added, removed []int64
}

func diffFeeds(prev, next parsedFeed) feedDiff {
	var d feedDiff
	for id, p := range next.profiles {
		old, ok := prev.profiles[id]
		switch {
		case !ok:
			d.added = append(d.added, id)
		case old.ContentHash != p.ContentHash:
			d.changed = append(d.changed, id)
		}
	}
	for id := range prev.profiles {
		if _, ok := next.profiles[id]; !ok {
			d.removed = append(d.removed, id)
		}
	}
	slices.Sort(d.changed)
	slices.Sort(d.added)
	slices.Sort(d.removed)
	return d
}

// newTestRunner returns a Runner for source with the documented defaults for the
// removal valve and image cool-down and a small batch size, so that every run
// of a test feed publishes in several batches.
func newTestRunner(store runnerStore, pub publisher, source string) *Runner {
	fetcher, _ := newTestFetcher()
	return &Runner{
		Store:              store,
		Fetcher:            fetcher,
		Publisher:          pub,
		Logger:             quietLogger(),
		Source:             source,
		MaxShrink:          0.20,
		MaxRejected:        0.05,
		ImageRetryCooldown: 24 * time.Hour,
		BatchSize:          7,
	}
}

// runFeed queues, claims and carries out one feed run, as the scheduler
// does, and returns its summary and the recorded row.
func runFeed(t testing.TB, store *db.Store, runner *Runner, force bool) (Summary, *db.FeedRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := store.QueueRun(ctx, db.RequestedByCLI, force); err != nil {
		t.Fatalf("queue run: %v", err)
	}
	run, err := store.ClaimRun(ctx)
	if err != nil {
		t.Fatalf("claim run: %v", err)
	}
	summary, err := runner.Run(ctx, run)
	if err != nil {
		t.Fatalf("run %d not recorded: %v", run.ID, err)
	}
	row, err := store.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return summary, row
}

// publishedHashes is store.PublishedHashes or a failed test.
func publishedHashes(t testing.TB, store *db.Store) map[int64]string {
	t.Helper()
	hashes, err := store.PublishedHashes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return hashes
}

// memPublisher keeps what it is asked to publish, or fails with err when set.
type memPublisher struct {
	mu   sync.Mutex
	msgs map[string][]bus.Message
	err  error
}

func (p *memPublisher) Publish(_ context.Context, topic string, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.msgs == nil {
		p.msgs = map[string][]bus.Message{}
	}
	p.msgs[topic] = append(p.msgs[topic], msgs...)
	return nil
}

func (p *memPublisher) count(topic string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs[topic])
}

func ptr[T any](v T) *T { return &v }

// show prints an optional value for a test message: "none" for nil.
func show[T any](p *T) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

func derefOr[T any](p *T, fallback T) T {
	if p == nil {
		return fallback
	}
	return *p
}

// renameWithNewMtime moves the file at from to to, first giving it a
// modification time one second after that of the file it replaces (or now),
// so that a local feed's pseudo-ETag always changes with a rewrite.
func renameWithNewMtime(from, to string) error {
	mtime := time.Now()
	if info, err := os.Stat(to); err == nil && !info.ModTime().Before(mtime) {
		mtime = info.ModTime().Add(time.Second)
	}
	if err := os.Chtimes(from, mtime, mtime); err != nil {
		return err
	}
	return os.Rename(from, to)
}
