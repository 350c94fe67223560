package db

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// The data version is a counter in the data_version table that every write
// transaction of a Store increments, in the transaction, except those that
// touch only the workers' own ledgers (image claims, published hashes,
// collection marks), which no API answer shows. Writers in other processes
// (the loader of `marquee load`, other API instances) increment the same
// row, so equal versions read from one handle mean equal data behind it: a
// cache of answers keyed by the version is never older than what a read on
// that handle would return.

// dataVersionState is the Store's last read of the version.
type dataVersionState struct {
	// maxAge is how long a read of the version is reused; 0 reads it on
	// every call.
	maxAge time.Duration
	// writes counts the bumping transactions this Store committed: a read
	// taken before the last of them is never reused.
	writes atomic.Int64

	mu      sync.Mutex
	value   int64
	readAt  time.Time
	atWrite int64 // writes when value was read
	valid   bool
}

// SetDataVersionMaxAge lets DataVersion reuse a read of the version for up
// to maxAge (default 0: every call reads it). This Store's own writes end
// the reuse at once; other processes' writes show after at most maxAge.
// Call it before the Store is used.
func (s *Store) SetDataVersionMaxAge(maxAge time.Duration) {
	s.version.maxAge = maxAge
}

// DataVersion returns the version of the data behind the read handle: it
// changes with every committed write of any Store on the database (see
// above), and reads made after it returned see at least that version's
// data. It is cheap: one read of one row by primary key.
func (s *Store) DataVersion(ctx context.Context) (int64, error) {
	v := &s.version
	writes := v.writes.Load()
	if v.maxAge > 0 {
		v.mu.Lock()
		if v.valid && v.atWrite == writes && time.Since(v.readAt) < v.maxAge {
			value := v.value
			v.mu.Unlock()
			return value, nil
		}
		v.mu.Unlock()
	}
	readAt := time.Now()
	var value int64
	err := s.db.R.NewSelect().Table("data_version").Column("version").Where("id = 1").Scan(ctx, &value)
	if err != nil {
		return 0, s.fail("read data version", err)
	}
	if v.maxAge > 0 {
		v.mu.Lock()
		if !v.valid || v.readAt.Before(readAt) {
			v.value, v.readAt, v.atWrite, v.valid = value, readAt, writes, true
		}
		v.mu.Unlock()
	}
	return value, nil
}

// bumpDataVersion increments the data version inside tx: the last statement
// of every bumping transaction, so that the row lock it takes on MySQL is
// held only until the commit.
func bumpDataVersion(ctx context.Context, tx bun.Tx) error {
	_, err := tx.NewUpdate().Table("data_version").Set("version = version + 1").Where("id = 1").Exec(ctx)
	return err
}
