// Package testkit holds what the test suites of several packages share: a
// migrated store per test, and a buffer that a test reads while handlers or
// subprocesses write it. For tests only.
package testkit

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

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
