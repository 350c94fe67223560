package imaging_test

// Shared helpers of the compactor tests: a migrated store per test, a file
// store, a publisher that keeps what it is given, an in-process broker, and
// image requests.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

func TestMain(m *testing.M) {
	// bus.EnsureTopics logs through the default logger.
	slog.SetDefault(quietLogger())
	dbtest.Main(m)
}

// waitLimit bounds every wait of these tests: generous, never asserted on.
const waitLimit = 60 * time.Second

// quietLogger discards the log of code under test unless IMAGING_TEST_LOG
// is set.
func quietLogger() *slog.Logger {
	if os.Getenv("IMAGING_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openFiles(t testing.TB) *imaging.FileStore {
	t.Helper()
	files, err := imaging.OpenFileStore(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// recordingPublisher keeps the outcomes and dead letters published, and
// passes them on to next when set.
type recordingPublisher struct {
	next imaging.Publisher
	mu   sync.Mutex
	msgs []bus.Message
	dead []bus.Message
}

func (p *recordingPublisher) Publish(ctx context.Context, topic string, msgs ...bus.Message) error {
	if p.next != nil {
		if err := p.next.Publish(ctx, topic, msgs...); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		m.Topic = topic
		p.msgs = append(p.msgs, m)
	}
	return nil
}

func (p *recordingPublisher) PublishDeadLetters(ctx context.Context, topic string, letters ...bus.Message) error {
	if p.next != nil {
		if err := p.next.PublishDeadLetters(ctx, topic, letters...); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range letters {
		m.Topic = topic
		p.dead = append(p.dead, m)
	}
	return nil
}

// deadLetters returns the dead letters published so far, in order.
func (p *recordingPublisher) deadLetters() []bus.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.dead)
}

// outcomes decodes everything published so far, in order.
func (p *recordingPublisher) outcomes(t testing.TB) []db.ImageState {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]db.ImageState, len(p.msgs))
	for i, m := range p.msgs {
		if m.Topic != bus.TopicImages {
			t.Fatalf("published on %s, want %s", m.Topic, bus.TopicImages)
		}
		if err := json.Unmarshal(m.Value, &out[i]); err != nil {
			t.Fatalf("published value %q: %v", m.Value, err)
		}
		if out[i].URLHash != m.Key {
			t.Fatalf("published key %q for url_hash %q", m.Key, out[i].URLHash)
		}
	}
	return out
}

// fastConfig is a compactor configuration for tests: quick back-off and
// timeouts, fetching only from server (its exact address).
func fastConfig(store imaging.Store, files imaging.ObjectStore, pub imaging.Publisher, server *imagingtest.Server) imaging.Config {
	return imaging.Config{
		Store:      store,
		Publisher:  pub,
		Files:      files,
		Logger:     quietLogger(),
		UserAgent:  "Marquee/test",
		AllowAddrs: []netip.AddrPort{server.AddrPort()},
		// Long enough that a loaded machine never times out a healthy
		// fetch; the timeout cases pay it five times.
		AttemptTimeout: time.Second,
		BackoffBase:    time.Millisecond,
		BackoffMax:     20 * time.Millisecond,
		RetryCooldown:  time.Hour,
		ClaimLease:     10 * time.Second,
		SettlePoll:     10 * time.Millisecond,
	}
}

func newCompactor(t testing.TB, cfg imaging.Config) *imaging.Compactor {
	t.Helper()
	c, err := imaging.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requestMessage is the marquee.image-requests message for url.
func requestMessage(t testing.TB, url string, at time.Time) bus.Message {
	t.Helper()
	hash := db.URLHash(url)
	value, err := json.Marshal(bus.ImageRequest{URLHash: hash, URL: url, RequestedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicImageRequests, Key: hash, Value: value}
}

// kafkaEnv is an in-process broker with Marquee's topics and a writer.
type kafkaEnv struct {
	brokers []string
	writer  *bus.Writer
}

const testPartitions = 3

func startKafka(t testing.TB) *kafkaEnv {
	t.Helper()
	k := testkit.StartKafka(t, testPartitions, quietLogger())
	return &kafkaEnv{brokers: k.Brokers, writer: k.Writer}
}

// request publishes one image request per URL, in order (duplicates too).
func (k *kafkaEnv) request(t testing.TB, urls []string) {
	t.Helper()
	now := time.Now().UTC()
	msgs := make([]bus.Message, len(urls))
	for i, u := range urls {
		msgs[i] = requestMessage(t, u, now)
	}
	if err := k.writer.Publish(context.Background(), bus.TopicImageRequests, msgs...); err != nil {
		t.Fatal(err)
	}
}

// waitSettled waits until group has committed every image request.
func (k *kafkaEnv) waitSettled(t testing.TB, group string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		lag, err := bus.Lag(context.Background(), bus.Cluster{Brokers: k.brokers}, group, bus.TopicImageRequests)
		if err == nil && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not settle the image requests: lag %d, %v", group, lag, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running is a compactor's Run in the background.
type running struct {
	compactor *imaging.Compactor
	cancel    context.CancelFunc
	done      chan error
	stopped   sync.Once
}

// runCompactor starts c.Run; stop it with stop (the test's cleanup does too).
func runCompactor(t testing.TB, c *imaging.Compactor) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{compactor: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return; it may be called again.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.stopped.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("the compactor did not stop")
		}
	})
}
