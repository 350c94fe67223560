package db

import (
	"context"
	"sync"
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

// dataVersionState shares the Store's reads of the version: next collects
// the callers that arrive while another read is in flight, and is read once
// that one ends.
type dataVersionState struct {
	readMu sync.Mutex
	next   *versionRead
	last   *versionRead // the read started last; nil or done when next starts
}

// versionRead is one read of the version row, shared by every caller that
// arrived before it started.
type versionRead struct {
	done  chan struct{}
	value int64
	err   error
}

// versionReadTimeout bounds one shared read, whatever its callers' contexts.
const versionReadTimeout = 30 * time.Second

// DataVersion returns the version of the data behind the read handle: it
// changes with every committed write of any Store on the database (see
// above), and reads made after it returned see at least that version's
// data. It is cheap: one read of one row by primary key, shared with
// concurrent callers: many callers (every request of a busy API asks) cost
// one read at a time instead of one each. A shared read starts after every
// caller that shares it arrived, so it returns what a read of the caller's
// own would: never a version older than one committed before the call.
func (s *Store) DataVersion(ctx context.Context) (int64, error) {
	v := &s.version
	v.readMu.Lock()
	r := v.next
	if r == nil {
		r = &versionRead{done: make(chan struct{})}
		v.next = r
		previous := v.last
		v.last = r
		go s.runVersionRead(r, previous)
	}
	v.readMu.Unlock()
	select {
	case <-r.done:
		return r.value, r.err
	case <-ctx.Done():
		return 0, s.fail("read data version", ctx.Err())
	}
}

// runVersionRead waits for the read before r to end, closes r to new
// callers and reads.
func (s *Store) runVersionRead(r, previous *versionRead) {
	if previous != nil {
		<-previous.done
	}
	v := &s.version
	v.readMu.Lock()
	v.next = nil
	v.readMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), versionReadTimeout)
	defer cancel()
	err := s.db.R.NewSelect().Table("data_version").Column("version").Where("id = 1").Scan(ctx, &r.value)
	r.err = s.fail("read data version", err)
	close(r.done)
}

// bumpDataVersion increments the data version inside tx: the last statement
// of every bumping transaction, so that the row lock it takes on MySQL is
// held only until the commit.
func bumpDataVersion(ctx context.Context, tx bun.Tx) error {
	_, err := tx.NewUpdate().Table("data_version").Set("version = version + 1").Where("id = 1").Exec(ctx)
	return err
}
