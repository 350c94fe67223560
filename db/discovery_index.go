package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// The discovery index is each Store's in-process copy of what search (q)
// and facets read of every performer: the folded name and aliases
// (search_text), the facet values (which are also the values of every
// categorical, boolean and range filter and of every numeric sort key), and
// whether the performer left the feed or was deleted. A search ranks and
// counts its matches in memory and reads only its page's rows from the
// database, by id; a facet request counts in memory.
//
// Staleness: the index is used only at a data version (data_version.go)
// at least as new as the one the request read, so an answer is never older
// than a read on the same handle made when the request started. When the
// version moved, the index is brought up to date in one read transaction
// that sees one state of the database: it reads which rows were written
// since the newest updated_at it holds (less indexRereadWindow), reloads
// those whose version changed, and checks the result against the count and
// the sum of versions of every row. Every write of a performer bumps its
// version and rows are never deleted (a deletion leaves a tombstone), so an
// equal count and sum mean no row differs; a write whose updated_at was
// taken before the window but committed later (overlapping MySQL writers,
// clock skew between hosts) fails the check, and the index then compares
// the version of every row. Its memory is linear in the performers.

// indexRereadWindow is how far before the newest updated_at the index holds
// a refresh looks for changed rows. Writes that commit later than that
// behind a newer one are still found (by the check above), at the cost of
// reading every row's version once; the window only makes that rare.
const indexRereadWindow = 2 * time.Second

// indexedPerformer is one performer as the discovery index holds it; never
// changed once in a snapshot.
type indexedPerformer struct {
	id, version int64
	updatedAt   time.Time
	removed     bool // removed_at is set
	deleted     bool // deleted_at is set (a tombstone)
	// name and aliases are the lines of search_text: the folded name and
	// each folded alias that has a word.
	name    string
	aliases []string
	// words is search_text with a newline before every word, as
	// discoverySnapshot.words holds it.
	words  string
	facets facetRow
	// codes[i] is, for FacetFields[i], the code of its value (a FacetValues
	// facet of one value) or its bucket (a FacetHistogram), -1 when
	// unknown; tagCodes holds the codes of the multi-valued facets by
	// slot.
	codes    []int32
	tagCodes [][]int32
}

// facetDictionary numbers the values of each FacetValues facet, so that
// counting is adding to an array. Codes are never reused: a snapshot keeps
// the prefix of values it may meet.
type facetDictionary struct {
	codes  []map[string]int32 // by FacetFields index; used under the refresh lock
	values [][]string         // by FacetFields index: the value of each code
}

// code returns the code of value for FacetFields[facet].
func (d *facetDictionary) code(facet int, value string) int32 {
	if d.codes == nil {
		d.codes, d.values = make([]map[string]int32, len(FacetFields)), make([][]string, len(FacetFields))
		for i := range d.codes {
			d.codes[i] = map[string]int32{}
		}
	}
	c, ok := d.codes[facet][value]
	if !ok {
		c = int32(len(d.values[facet]))
		d.codes[facet][value] = c
		d.values[facet] = append(d.values[facet], value)
	}
	return c
}

// encode sets p's codes from its facet values.
func (d *facetDictionary) encode(p *indexedPerformer) {
	p.codes = make([]int32, len(FacetFields))
	p.tagCodes = make([][]int32, facetSlots.tags)
	for i := range FacetFields {
		ff := &FacetFields[i]
		p.codes[i] = -1
		if p.facets.known&(1<<i) == 0 {
			continue
		}
		switch {
		case ff.tag != "":
			for _, v := range p.facets.tags[ff.slot] {
				p.tagCodes[ff.slot] = append(p.tagCodes[ff.slot], d.code(i, v))
			}
		case ff.Kind == FacetValues:
			p.codes[i] = d.code(i, p.facets.labels[ff.slot])
		default:
			p.codes[i] = int32(bucketOf(ff, p.facets.numbers[ff.slot]))
		}
	}
}

// discoverySnapshot is the index at one data version; never changed once
// published.
type discoverySnapshot struct {
	// version is the data version the snapshot shows (or a newer one).
	version int64
	// newest is the greatest updated_at of the performers it shows.
	newest time.Time
	// performers in id order, and the sum of their versions.
	performers []*indexedPerformer
	versionSum int64
	// values[i][c] is the value of code c of FacetFields[i].
	values [][]string
	// chunks hold every performer's search_text, in the order of
	// performers, each word after a newline, so that the words a prefix
	// starts are found by scanning contiguous memory; a refresh rebuilds
	// only the chunks whose performers changed.
	chunks []wordChunk
}

// wordChunkSize is the performers of one wordChunk.
const wordChunkSize = 512

// wordChunk holds the words of performers[first:first+len(members)].
type wordChunk struct {
	first   int
	members []*indexedPerformer
	words   string
	starts  []int // starts[i] is where members[i]'s words begin
}

// indexWords builds a snapshot's chunks, reusing those of old whose
// performers are the same.
func (snap *discoverySnapshot) indexWords(old *discoverySnapshot) {
	for first := 0; first < len(snap.performers); first += wordChunkSize {
		members := snap.performers[first:min(first+wordChunkSize, len(snap.performers))]
		if k := first / wordChunkSize; k < len(old.chunks) && slices.Equal(old.chunks[k].members, members) {
			snap.chunks = append(snap.chunks, old.chunks[k])
			continue
		}
		c := wordChunk{first: first, members: members, starts: make([]int, len(members))}
		size := 0
		for _, p := range members {
			size += len(p.words)
		}
		var b strings.Builder
		b.Grow(size)
		for i, p := range members {
			c.starts[i] = b.Len()
			b.WriteString(p.words)
		}
		c.words = b.String()
		snap.chunks = append(snap.chunks, c)
	}
}

// discoveryIndex holds a Store's current snapshot.
type discoveryIndex struct {
	off     atomic.Bool
	refresh sync.Mutex // one refresh at a time
	current atomic.Pointer[discoverySnapshot]
	// dictionary is written under refresh only.
	dictionary facetDictionary
}

// SetDiscoveryIndex turns the in-process discovery index on (the default)
// or off. Off, every search and facet request is answered by the database
// alone, with the same results.
func (s *Store) SetDiscoveryIndex(on bool) {
	s.discovery.off.Store(!on)
	if !on {
		s.discovery.current.Store(nil)
	}
}

// discoveryAt returns the index at data version version or newer.
func (s *Store) discoveryAt(ctx context.Context, version int64) (*discoverySnapshot, error) {
	d := &s.discovery
	if snap := d.current.Load(); snap != nil && snap.version >= version {
		return snap, nil
	}
	d.refresh.Lock()
	defer d.refresh.Unlock()
	old := d.current.Load()
	if old != nil && old.version >= version {
		return old, nil
	}
	snap, recorded, err := s.refreshDiscovery(ctx, old)
	if err != nil {
		return nil, fmt.Errorf("refresh discovery index: %w", err)
	}
	if snap != old {
		if counted := snap.inFeed(); counted != recorded && s.mendInFeed(ctx, snap.version, recorded, counted) {
			// The count was the only write since: the snapshot shows
			// the version the mend made as well.
			snap.version++
		}
	}
	d.current.Store(snap)
	return snap, nil
}

// discoveryNow returns the index at the data version a read made now
// would see.
func (s *Store) discoveryNow(ctx context.Context) (*discoverySnapshot, error) {
	version, err := s.DataVersion(ctx)
	if err != nil {
		return nil, err
	}
	return s.discoveryAt(ctx, version)
}

// WarmDiscovery builds the discovery index now, so that the first search,
// facet request or filtered list after a start does not wait for it. The
// APIs call it in the background when they start.
func (s *Store) WarmDiscovery(ctx context.Context) error {
	_, err := s.discoveryNow(ctx)
	return err
}

// discoveryIfCurrent returns the index when it is at the data version a
// read made now would see, nil when it would have to catch up first.
func (s *Store) discoveryIfCurrent(ctx context.Context) (*discoverySnapshot, error) {
	snap := s.discovery.current.Load()
	if snap == nil {
		return nil, nil
	}
	version, err := s.DataVersion(ctx)
	if err != nil || snap.version < version {
		return nil, err
	}
	return snap, nil
}

// refreshDiscovery reads the index at the data version of one read
// transaction, starting from old (nil: from nothing), and the count of
// performers in the feed that version records.
func (s *Store) refreshDiscovery(ctx context.Context, old *discoverySnapshot) (*discoverySnapshot, int64, error) {
	opts := &sql.TxOptions{}
	if s.db.Dialect == dialect.MySQL {
		// Consistent reads of one REPEATABLE READ transaction see one snapshot.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.db.R.BeginTx(ctx, opts)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback() // read-only: ending it keeps and loses nothing
	var version, inFeed int64
	if err := tx.NewSelect().Table("data_version").Column("version", "in_feed").Where("id = 1").Scan(ctx, &version, &inFeed); err != nil {
		return nil, 0, fmt.Errorf("read data version: %w", err)
	}
	if old != nil && old.version == version {
		return old, inFeed, nil
	}
	var changed []versionedID
	if old == nil {
		old = &discoverySnapshot{}
		if changed, err = readVersions(ctx, tx, nil); err != nil {
			return nil, 0, err
		}
	} else {
		since := old.newest.Add(-indexRereadWindow)
		if changed, err = readVersions(ctx, tx, &since); err != nil {
			return nil, 0, err
		}
	}
	snap, err := s.applyChanges(ctx, tx, old, changed)
	if err != nil {
		return nil, 0, err
	}
	var total struct {
		Count int64 `bun:"n"`
		Sum   int64 `bun:"versions"`
	}
	if err := tx.NewSelect().Table("pornstars").ColumnExpr("COUNT(*) AS n, COALESCE(SUM(version), 0) AS versions").
		Scan(ctx, &total); err != nil {
		return nil, 0, fmt.Errorf("count versions: %w", err)
	}
	if total.Count != int64(len(snap.performers)) || total.Sum != snap.versionSum {
		// A write committed behind the window: compare every row.
		all, err := readVersions(ctx, tx, nil)
		if err != nil {
			return nil, 0, err
		}
		if snap, err = s.applyChanges(ctx, tx, snap, all); err != nil {
			return nil, 0, err
		}
	}
	// The newest updated_at, one step of its index: the rows of the window
	// are read without theirs.
	var newest []time.Time
	if err := tx.NewSelect().Table("pornstars").Column("updated_at").OrderExpr("updated_at DESC").Limit(1).
		Scan(ctx, &newest); err != nil {
		return nil, 0, fmt.Errorf("read newest write: %w", err)
	}
	if len(newest) > 0 && newest[0].After(snap.newest) {
		snap.newest = newest[0]
	}
	snap.version = version
	snap.values = slices.Clone(s.discovery.dictionary.values)
	return snap, inFeed, nil
}

// inFeed counts the performers of snap that are in the feed.
func (snap *discoverySnapshot) inFeed() int64 {
	var n int64
	for _, p := range snap.performers {
		if !p.removed {
			n++
		}
	}
	return n
}

// valuesOf returns the values numbered for FacetFields[facet] (value i has
// code i); none before the index met a value of any facet.
func (snap *discoverySnapshot) valuesOf(facet int) []string {
	if facet >= len(snap.values) {
		return nil
	}
	return snap.values[facet]
}

// versionedID is a row's id and version.
type versionedID struct {
	ID, Version int64
}

// readVersions reads the version of every performer, or of those written
// at or after since.
func readVersions(ctx context.Context, idb bun.IDB, since *time.Time) ([]versionedID, error) {
	q := idb.NewSelect().Table("pornstars").Column("id", "version")
	if since != nil {
		q.Where("updated_at >= ?", *since)
	}
	rows, err := q.Rows(ctx)
	if err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	defer rows.Close()
	var out []versionedID
	for rows.Next() {
		var r versionedID
		if err := rows.Scan(&r.ID, &r.Version); err != nil {
			return nil, fmt.Errorf("read versions: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	return out, nil
}

// applyChanges returns old with the performers of rows whose version it
// does not hold reloaded from idb.
func (s *Store) applyChanges(ctx context.Context, idb bun.IDB, old *discoverySnapshot, rows []versionedID) (*discoverySnapshot, error) {
	var reload []int64
	for _, r := range rows {
		if p := old.find(r.ID); p == nil || p.version != r.Version {
			reload = append(reload, r.ID)
		}
	}
	snap := &discoverySnapshot{version: old.version, newest: old.newest}
	if len(reload) == 0 {
		snap.performers, snap.versionSum, snap.chunks = old.performers, old.versionSum, old.chunks
		return snap, nil
	}
	loaded, err := s.loadIndexed(ctx, idb, reload)
	if err != nil {
		return nil, err
	}
	performers := make([]*indexedPerformer, 0, len(old.performers)+len(loaded))
	for _, p := range old.performers {
		if fresh, ok := loaded[p.id]; ok {
			p = fresh
			delete(loaded, p.id)
		}
		performers = append(performers, p)
	}
	added := len(loaded) > 0
	for _, p := range loaded {
		performers = append(performers, p)
	}
	if added {
		slices.SortFunc(performers, func(a, b *indexedPerformer) int { return cmp.Compare(a.id, b.id) })
	}
	snap.performers = performers
	snap.indexWords(old)
	for _, p := range performers {
		snap.versionSum += p.version
	}
	return snap, nil
}

// find returns the performer with this id, nil when the snapshot has none.
func (snap *discoverySnapshot) find(id int64) *indexedPerformer {
	at, ok := slices.BinarySearchFunc(snap.performers, id, func(p *indexedPerformer, id int64) int { return cmp.Compare(p.id, id) })
	if !ok {
		return nil
	}
	return snap.performers[at]
}

// indexedRow is what the index reads of a pornstars row besides its facet
// values.
type indexedRow struct {
	bun.BaseModel `bun:"table:pornstars,alias:p"`

	ID         int64      `bun:"id"`
	Version    int64      `bun:"version"`
	UpdatedAt  time.Time  `bun:"updated_at"`
	RemovedAt  *time.Time `bun:"removed_at"`
	DeletedAt  *time.Time `bun:"deleted_at"`
	SearchText string     `bun:"search_text"`
}

// loadIndexed reads the performers with these ids as the index holds them.
// Rows whose two reads disagree on the version (written in between, which
// a read transaction never sees) are left out; a found one is whole.
func (s *Store) loadIndexed(ctx context.Context, idb bun.IDB, ids []int64) (map[int64]*indexedPerformer, error) {
	facets, versions, err := s.loadFacetRows(ctx, idb, ids)
	if err != nil {
		return nil, fmt.Errorf("load facet values: %w", err)
	}
	out := make(map[int64]*indexedPerformer, len(ids))
	err = chunks(ids, func(part []int64) error {
		var rows []indexedRow
		if err := idb.NewSelect().Model(&rows).Column("id", "version", "updated_at", "removed_at", "deleted_at", "search_text").
			Where("id IN (?)", bun.List(part)).Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			if versions[r.ID] != r.Version || len(facets[r.ID]) == 0 {
				continue
			}
			lines := strings.Split(r.SearchText, "\n")
			out[r.ID] = &indexedPerformer{
				id: r.ID, version: r.Version, updatedAt: r.UpdatedAt,
				removed: r.RemovedAt != nil, deleted: r.DeletedAt != nil,
				name: lines[0], aliases: lines[1:], facets: facets[r.ID][0],
				words: "\n" + strings.ReplaceAll(r.SearchText, " ", "\n"),
			}
			s.discovery.dictionary.encode(out[r.ID])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load performers: %w", err)
	}
	return out, nil
}
