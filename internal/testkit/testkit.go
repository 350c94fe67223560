// Package testkit holds what the test suites of several packages share: a
// migrated store per test, an in-process Kafka, a log of the SQL a store
// sends, a buffer that a test reads while handlers or subprocesses write
// it, and forged page cursors. For tests only.
package testkit

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"marquee/bus"
	"marquee/db"
)

// OpenStore opens and migrates the database at url (a dbtest URL) and
// closes it when the test ends.
func OpenStore(tb testing.TB, url string) *db.Store {
	tb.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{URL: url})
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("close database: %v", err)
		}
	})
	if _, err := d.Migrate(ctx, time.Minute); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db.NewStore(d)
}

// SyncBuffer is a bytes.Buffer safe for one writer and readers at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Kafka is an in-process broker on 127.0.0.1 with every Marquee topic, and a
// writer to it with a short batch timeout; both close when the test ends.
type Kafka struct {
	Brokers []string
	Writer  *bus.Writer
}

// StartKafka starts a Kafka of the test's own with partitions per topic;
// logger receives the broker's and the writer's lines.
func StartKafka(tb testing.TB, partitions int, logger *slog.Logger) *Kafka {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	broker, err := bus.StartBroker(ctx, bus.BrokerConfig{Addr: "127.0.0.1:0", Partitions: partitions, Logger: logger})
	if err != nil {
		tb.Fatalf("start broker: %v", err)
	}
	tb.Cleanup(func() { broker.Close() })
	if err := bus.EnsureTopics(ctx, bus.Cluster{Brokers: broker.Brokers()}, partitions); err != nil {
		tb.Fatalf("ensure topics: %v", err)
	}
	writer, err := bus.NewWriter(bus.WriterConfig{Cluster: bus.Cluster{Brokers: broker.Brokers()}, BatchTimeout: 2 * time.Millisecond, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { writer.Close() }) // registered last, so it runs before the broker closes
	return &Kafka{Brokers: broker.Brokers(), Writer: writer}
}

// StatementLog records every statement a store's handles run through bun
// while it is attached (BEGIN, COMMIT and ROLLBACK included: bun reports
// them too); the store's prepared bulk inserts bypass bun and are not seen.
type StatementLog struct {
	mu      sync.Mutex
	queries []string
}

// LogStatements attaches a StatementLog to the write and the read handle of
// s. Call it before any goroutine uses s.
func LogStatements(s *db.Store) *StatementLog {
	l := &StatementLog{}
	d := s.DB()
	d.W.AddQueryHook(l)
	if d.R != d.W {
		d.R.AddQueryHook(l)
	}
	return l
}

// BeforeQuery implements bun.QueryHook.
func (l *StatementLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

// AfterQuery implements bun.QueryHook.
func (l *StatementLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, e.Query)
}

// All returns the statements recorded since the last Reset or Take.
func (l *StatementLog) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.queries)
}

// Reset forgets the statements recorded so far.
func (l *StatementLog) Reset() { l.Take() }

// Take returns the statements recorded so far and forgets them.
func (l *StatementLog) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}
