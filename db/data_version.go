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

// The same row holds in_feed, how many performers are in the feed
// (removed_at IS NULL): the total of every list at its default filter,
// which counting would cost a walk of an index per data version (MySQL
// has no cheaper count). A write transaction that brings performers into
// the feed or takes them out says so (addInFeed), and the statement that
// increments the version adds it, so every version this binary writes
// carries its count. A count that drifted anyway (a binary older than the
// column writing during an upgrade, a change made by hand) is found when
// the discovery index next catches up, which counts the performers of the
// snapshot it read at the same version, and is counted again (mendInFeed).

// txEffects is what a write transaction changed that bumpDataVersion
// records beside the version.
type txEffects struct {
	inFeed int64
}

type txEffectsKey struct{}

// addInFeed records, in the write transaction (inTx) of ctx, that n
// performers joined the feed (n < 0: left it). It panics outside one: a
// change it could not record would leave in_feed wrong.
func addInFeed(ctx context.Context, n int64) {
	e, ok := ctx.Value(txEffectsKey{}).(*txEffects)
	if !ok {
		panic("db: addInFeed outside a write transaction")
	}
	e.inFeed += n
}

// bumpDataVersion increments the data version inside tx and adds what the
// transaction changed: the last statement of every bumping transaction, so
// that the row lock it takes on MySQL is held only until the commit.
func bumpDataVersion(ctx context.Context, tx bun.Tx, e *txEffects) error {
	q := tx.NewUpdate().Table("data_version").Set("version = version + 1").Where("id = 1")
	if e.inFeed != 0 {
		q.Set("in_feed = in_feed + ?", e.inFeed)
	}
	_, err := q.Exec(ctx)
	return err
}

// countInFeed reads in_feed from the read handle.
func (s *Store) countInFeed(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.R.NewSelect().Table("data_version").Column("in_feed").Where("id = 1").Scan(ctx, &n)
	return n, err
}

// mendInFeed counts in_feed again on the primary after a read at data
// version version found recorded where its snapshot counted counted, and
// reports whether it did: only while the version is still the one read,
// so that the count is never replaced by one of another state, and two
// processes that found the same drift count once.
func (s *Store) mendInFeed(ctx context.Context, version, recorded, counted int64) bool {
	res, err := recountInFeed(s.db).Where("version = ?", version).Exec(ctx)
	if err != nil {
		s.db.logger.Warn("the count of performers in the feed is wrong and could not be counted again",
			"recorded", recorded, "counted", counted, "data_version", version, "err", err)
		return false
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false // written since: the next catch-up looks again
	}
	s.db.logger.Warn("the count of performers in the feed was wrong: counted again",
		"recorded", recorded, "counted", counted, "data_version", version)
	return true
}

// recountInFeed is the statement that sets in_feed to a count of the
// performers in the feed and increments the version: after Copy, which
// writes rows without a Store's transactions, and in mendInFeed.
func recountInFeed(d *DB) *bun.UpdateQuery {
	return d.W.NewUpdate().Table("data_version").
		Set("in_feed = (SELECT COUNT(*) FROM pornstars WHERE removed_at IS NULL)").
		Set("version = version + 1").
		Where("id = 1")
}
