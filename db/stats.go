package db

import (
	"context"
	"sync"

	"github.com/uptrace/bun/dialect"
)

// SQLite plans a query by the statistics ANALYZE gathers, and without them
// it guesses. For the lists' usual shape (removed_at IS NULL, ordered by
// rank, views or name) it guesses wrong: it reads every performer through
// the removed_at index and sorts them all, where the order's index answers
// at once (README, "Speed layer"). (MySQL's InnoDB keeps its statistics up
// to date itself.)
//
// So on SQLite the Store runs ANALYZE on pornstars whenever the performers
// written since the last one reach the number there were then (at least
// minRowsBetweenAnalyze): a few times during a first load (at about 1,000,
// 2,000, 4,000 ... performers), then rarely. A process that finds
// performers without statistics (a database from before this) analyzes at
// its first write. Only pornstars: statistics on every table made a feed
// run with its images slower.
type sqliteStats struct {
	mu          sync.Mutex
	initialized bool
	written     int64 // performers written since the last ANALYZE
	next        int64 // ANALYZE once written reaches it
}

const minRowsBetweenAnalyze = 1000

// noteWrites counts n written performers, and on SQLite runs ANALYZE when
// they are due. A failed ANALYZE is tried again at the next write: the
// writes themselves are done, and plans without fresh statistics are only
// slower.
func (s *Store) noteWrites(ctx context.Context, n int) {
	if s.db.Dialect != dialect.SQLite || n <= 0 {
		return
	}
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.initialized {
		var analyzed bool
		// sqlite_stat1 exists once any ANALYZE ran.
		err := s.db.W.NewRaw("SELECT EXISTS (SELECT 1 FROM sqlite_stat1 WHERE tbl = 'pornstars')").Scan(ctx, &analyzed)
		st.initialized = true
		st.next = minRowsBetweenAnalyze
		if err != nil || !analyzed {
			st.written = st.next // never analyzed: at once
		}
	}
	st.written += int64(n)
	if st.written < st.next {
		return
	}
	if _, err := s.db.W.ExecContext(ctx, "ANALYZE pornstars"); err != nil {
		return
	}
	var performers int64
	if err := s.db.W.NewRaw("SELECT count(*) FROM pornstars").Scan(ctx, &performers); err != nil {
		performers = 0
	}
	st.written, st.next = 0, max(minRowsBetweenAnalyze, performers)
}
