package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// ErrTakenDown: the performer or image was taken down by an operator
// (docs/operations.md, "Takedowns"). REST answers it 410 for a performer
// and 451 for an image; GraphQL with the code TAKEN_DOWN.
var ErrTakenDown = errors.New("taken down")

// takenDownError is the error the image outcome of a taken-down URL hash
// carries when a compactor is asked for it.
const takenDownError = "taken down"

// Takedown is one row of takedowns. Exactly one of PornstarID/FeedID (a
// performer takedown; either or both set) and URLHash (an image takedown) is
// meaningful.
type Takedown struct {
	bun.BaseModel `bun:"table:takedowns,alias:td"`

	ID         int64   `bun:"id,pk,autoincrement"`
	PornstarID *int64  `bun:"pornstar_id"`
	FeedID     *int64  `bun:"feed_id"`
	URLHash    *string `bun:"url_hash"`
	Reason     string  `bun:"reason"`
	// TakenBy names who took it down: an API token's name, or "cli".
	TakenBy   string    `bun:"taken_by"`
	CreatedAt time.Time `bun:"created_at"`
	// DeletedFiles are the content hashes of the image files the takedown
	// deleted; KeptFiles those it left because their bytes still serve a URL
	// hash that is not taken down.
	DeletedFiles StringList `bun:"deleted_files"`
	KeptFiles    StringList `bun:"kept_files"`
	LiftedAt     *time.Time `bun:"lifted_at"`
	LiftedBy     *string    `bun:"lifted_by"`
	// URLHashes are the URL hashes the takedown covers (takedown_hashes).
	URLHashes []string `bun:"-"`
	// FilesNotDeleted are the DeletedFiles whose deletion failed, as the
	// one who carried the takedown out reports them; never stored.
	FilesNotDeleted []string `bun:"-"`

	urls map[string]string // URL of each hash, as the thumbnails taken down had it
}

// takedownHash is one row of takedown_hashes.
type takedownHash struct {
	bun.BaseModel `bun:"table:takedown_hashes,alias:th"`

	URLHash    string `bun:"url_hash,pk"`
	TakedownID int64  `bun:"takedown_id,pk"`
}

// TakedownInput is what to take down: a performer by PornstarID or FeedID,
// or an image by URLHash (exactly one of the three), and why.
type TakedownInput struct {
	PornstarID *int64
	FeedID     *int64
	URLHash    *string
	Reason     string
	TakenBy    string
}

// maxReasonLen bounds a takedown's reason.
const maxReasonLen = 4000

func (in *TakedownInput) validate() error {
	set := 0
	for _, given := range []bool{in.PornstarID != nil, in.FeedID != nil, in.URLHash != nil} {
		if given {
			set++
		}
	}
	switch {
	case set != 1:
		return fieldError("", "name exactly one of performer_id, feed_id and url_hash")
	case in.PornstarID != nil && *in.PornstarID <= 0:
		return fieldError("performer_id", "must be a positive integer")
	case in.FeedID != nil && *in.FeedID <= 0:
		return fieldError("feed_id", "must be a positive integer")
	case in.URLHash != nil && !IsSHA256Hex(*in.URLHash):
		return fieldError("url_hash", "must be 64 lowercase hex digits")
	case strings.TrimSpace(in.Reason) == "":
		return fieldError("reason", "must not be empty")
	}
	if err := checkText("reason", in.Reason, maxReasonLen); err != nil {
		return err
	}
	if in.TakenBy == "" {
		return fieldError("taken_by", "must not be empty")
	}
	return checkText("taken_by", in.TakenBy, 255)
}

// TakeDown takes a performer or an image down, at once and in one
// transaction: a performer becomes a tombstone (no aliases, thumbnails or
// tags; removed and deleted, so every list and lookup leaves it out and a
// sync walk sees it removed), feed runs keep its feed id out until the
// takedown is lifted, and every URL hash it covers (the performer's
// thumbnails, or the one named) loses its image outcome and its compactor
// record and is never claimed for a fetch again. The returned takedown's
// DeletedFiles are the content hashes whose files the caller must delete:
// bytes that no URL hash outside a takedown still serves.
//
// A performer already taken down is ErrConflict; an unknown performer id is
// ErrNotFound. A feed id with no performer yet is taken down all the same:
// the feed never brings it in.
func (s *Store) TakeDown(ctx context.Context, in TakedownInput) (*Takedown, error) {
	const op = "take down"
	if err := in.validate(); err != nil {
		return nil, s.fail(op, err)
	}
	var td *Takedown
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		td = &Takedown{PornstarID: in.PornstarID, FeedID: in.FeedID, URLHash: in.URLHash,
			Reason: in.Reason, TakenBy: in.TakenBy, CreatedAt: s.now()}
		if in.URLHash != nil {
			active, err := activeTakenDownHashes(ctx, tx, []string{*in.URLHash})
			if err != nil {
				return err
			}
			if active[*in.URLHash] {
				return ErrConflict
			}
			td.URLHashes = []string{*in.URLHash}
		} else if err := s.takeDownPerformer(ctx, tx, td); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(td).ExcludeColumn("id").Returning("id").Exec(ctx); err != nil {
			return err
		}
		if td.ID == 0 {
			return errors.New("insert takedown: no id")
		}
		if err := s.forgetImages(ctx, tx, td); err != nil {
			return err
		}
		_, err := tx.NewUpdate().Model(td).Column("deleted_files", "kept_files").WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return td, nil
}

// takeDownPerformer resolves the performer of td (filling in both its ids),
// collects its thumbnails' URL hashes and turns it into a tombstone.
func (s *Store) takeDownPerformer(ctx context.Context, tx bun.Tx, td *Takedown) error {
	row := new(Pornstar)
	q := tx.NewSelect().Model(row).Column("id", "external_id", "removed_at", "deleted_at")
	if td.PornstarID != nil {
		q.Where("p.id = ?", *td.PornstarID)
	} else {
		q.Where("p.external_id = ?", *td.FeedID)
	}
	err := s.forUpdate(q).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows) && td.FeedID != nil:
		row = nil // a feed id not loaded (yet): kept out all the same
	case err != nil:
		return err
	}
	if row != nil {
		td.PornstarID, td.FeedID = &row.ID, row.ExternalID
	}
	var active int64
	q2 := tx.NewSelect().Model((*Takedown)(nil)).Where("td.lifted_at IS NULL")
	switch {
	case td.PornstarID != nil && td.FeedID != nil:
		q2.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("td.pornstar_id = ?", *td.PornstarID).WhereOr("td.feed_id = ?", *td.FeedID)
		})
	case td.PornstarID != nil:
		q2.Where("td.pornstar_id = ?", *td.PornstarID)
	default:
		q2.Where("td.feed_id = ?", *td.FeedID)
	}
	if active, err = q2.Count(ctx); err != nil {
		return err
	}
	if active > 0 {
		return ErrConflict
	}
	if row == nil {
		return nil
	}
	if row.DeletedAt != nil {
		return ErrNotFound // deleted through the API: nothing left to take down
	}
	thumbs, _, err := s.loadThumbnails(ctx, tx, []int64{row.ID})
	if err != nil {
		return err
	}
	td.urls = make(map[string]string)
	for _, t := range thumbs[row.ID] {
		td.urls[t.URLHash] = t.URL
		if !slices.Contains(td.URLHashes, t.URLHash) {
			td.URLHashes = append(td.URLHashes, t.URLHash)
		}
	}
	if err := s.syncChildren(ctx, tx, map[int64]*pornstarChildren{row.ID: {}}, []int64{row.ID}); err != nil {
		return err
	}
	now := s.now()
	if _, err := tx.NewUpdate().Model((*Pornstar)(nil)).
		Set("deleted_at = ?", now).
		Set("removed_at = COALESCE(removed_at, ?)", now).
		Set("updated_at = ?", now).
		Set("version = version + 1").
		Where("id = ?", row.ID).
		Exec(ctx); err != nil {
		return err
	}
	if row.RemovedAt == nil {
		addInFeed(ctx, -1)
	}
	if row.ExternalID != nil {
		return forgetPublished(ctx, tx, *row.ExternalID)
	}
	return nil
}

// forgetPublished drops what ingest last published for a feed id, so that
// the next feed run that carries it publishes it again.
func forgetPublished(ctx context.Context, tx bun.Tx, feedID int64) error {
	_, err := tx.NewDelete().Model((*publishedProfile)(nil)).Where("feed_id = ?", feedID).Exec(ctx)
	return err
}

// forgetImages records the URL hashes td covers, deletes their image
// outcomes and compactor records, and sets td's DeletedFiles and KeptFiles.
func (s *Store) forgetImages(ctx context.Context, tx bun.Tx, td *Takedown) error {
	td.DeletedFiles, td.KeptFiles = StringList{}, StringList{}
	if len(td.URLHashes) == 0 {
		return nil
	}
	rows := make([]takedownHash, len(td.URLHashes))
	for i, h := range td.URLHashes {
		rows[i] = takedownHash{URLHash: h, TakedownID: td.ID}
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return err
	}
	var contents []string
	if err := tx.NewSelect().Model((*Image)(nil)).Column("content_sha256").
		Where("url_hash IN (?)", bun.List(td.URLHashes)).Where("content_sha256 IS NOT NULL").
		Scan(ctx, &contents); err != nil {
		return err
	}
	var fetched []string
	if err := tx.NewSelect().Model((*ImageFetch)(nil)).Column("content_sha256").
		Where("url_hash IN (?)", bun.List(td.URLHashes)).Where("content_sha256 IS NOT NULL").
		Scan(ctx, &fetched); err != nil {
		return err
	}
	contents = append(contents, fetched...)
	slices.Sort(contents)
	contents = slices.Compact(contents)
	if _, err := tx.NewDelete().Model((*Image)(nil)).Where("url_hash IN (?)", bun.List(td.URLHashes)).Exec(ctx); err != nil {
		return err
	}
	if err := s.markFetchesTakenDown(ctx, tx, td.URLHashes, td.urls); err != nil {
		return err
	}
	for _, content := range contents {
		// Bytes still serving a URL hash that no takedown covers stay.
		live, err := tx.NewSelect().Model((*Image)(nil)).
			Where("i.content_sha256 = ?", content).
			Where("NOT EXISTS (SELECT 1 FROM takedown_hashes AS th JOIN takedowns AS td ON td.id = th.takedown_id WHERE th.url_hash = i.url_hash AND td.lifted_at IS NULL)").
			Exists(ctx)
		if err != nil {
			return err
		}
		if live {
			td.KeptFiles = append(td.KeptFiles, content)
		} else {
			td.DeletedFiles = append(td.DeletedFiles, content)
		}
	}
	return nil
}

// markFetchesTakenDown makes the compactor's record of each hash a
// FetchTakenDown one, which no compactor claims. A compactor fetching one
// of them right now loses its claim: its outcome is not recorded.
func (s *Store) markFetchesTakenDown(ctx context.Context, tx bun.Tx, urlHashes []string, known map[string]string) error {
	urls := make(map[string]string, len(urlHashes))
	for h, u := range known {
		urls[h] = u
	}
	var thumbs []Thumbnail
	if err := tx.NewSelect().Model(&thumbs).Column("url_hash", "url").Where("url_hash IN (?)", bun.List(urlHashes)).Scan(ctx); err != nil {
		return err
	}
	for _, t := range thumbs {
		urls[t.URLHash] = t.URL
	}
	var fetches []ImageFetch
	if err := tx.NewSelect().Model(&fetches).Column("url_hash", "url").Where("url_hash IN (?)", bun.List(urlHashes)).Scan(ctx); err != nil {
		return err
	}
	for _, f := range fetches {
		urls[f.URLHash] = f.URL
	}
	if _, err := tx.NewDelete().Model((*ImageFetch)(nil)).Where("url_hash IN (?)", bun.List(urlHashes)).Exec(ctx); err != nil {
		return err
	}
	now, msg := s.now(), takenDownError
	rows := make([]ImageFetch, len(urlHashes))
	for i, h := range urlHashes {
		rows[i] = ImageFetch{
			ImageState: ImageState{URLHash: h, URL: urls[h], Status: FetchTakenDown, Error: &msg},
			Owner:      "takedown", ClaimedAt: now, Claims: 0, Version: 1, CreatedAt: now, UpdatedAt: now,
		}
	}
	_, err := tx.NewInsert().Model(&rows).Exec(ctx)
	return err
}

// LiftTakedown lifts a takedown: the next feed run that carries its
// performer loads it again and requests its images, and its URL hashes may
// be fetched again. A takedown lifted already is ErrConflict.
func (s *Store) LiftTakedown(ctx context.Context, id int64, liftedBy string) (*Takedown, error) {
	const op = "lift takedown"
	var td *Takedown
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		td = new(Takedown)
		if err := s.forUpdate(tx.NewSelect().Model(td).Where("td.id = ?", id)).Scan(ctx); err != nil {
			return err
		}
		if td.LiftedAt != nil {
			return ErrConflict
		}
		now := s.now()
		td.LiftedAt, td.LiftedBy = &now, &liftedBy
		if _, err := tx.NewUpdate().Model(td).Column("lifted_at", "lifted_by").WherePK().Exec(ctx); err != nil {
			return err
		}
		if err := s.loadTakedownHashes(ctx, tx, []*Takedown{td}); err != nil {
			return err
		}
		// Hashes another takedown still covers stay marked.
		stillCovered, err := activeTakenDownHashes(ctx, tx, td.URLHashes)
		if err != nil {
			return err
		}
		free := slices.DeleteFunc(slices.Clone(td.URLHashes), func(h string) bool { return stillCovered[h] })
		if len(free) > 0 {
			if _, err := tx.NewDelete().Model((*ImageFetch)(nil)).
				Where("url_hash IN (?)", bun.List(free)).Where("status = ?", FetchTakenDown).
				Exec(ctx); err != nil {
				return err
			}
		}
		if td.FeedID != nil {
			// A feed run that published the profile while it was taken
			// down must not keep the next one from publishing it again.
			return forgetPublished(ctx, tx, *td.FeedID)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	return td, nil
}

// Takedowns lists every takedown, newest first, from the primary.
func (s *Store) Takedowns(ctx context.Context) ([]Takedown, error) {
	var rows []Takedown
	if err := s.db.W.NewSelect().Model(&rows).OrderExpr("td.id DESC").Scan(ctx); err != nil {
		return nil, s.fail("list takedowns", err)
	}
	ptrs := make([]*Takedown, len(rows))
	for i := range rows {
		ptrs[i] = &rows[i]
	}
	return rows, s.fail("list takedowns", s.loadTakedownHashes(ctx, s.db.W, ptrs))
}

// GetTakedown returns one takedown, from the primary.
func (s *Store) GetTakedown(ctx context.Context, id int64) (*Takedown, error) {
	td := new(Takedown)
	if err := s.db.W.NewSelect().Model(td).Where("td.id = ?", id).Scan(ctx); err != nil {
		return nil, s.fail("get takedown", err)
	}
	return td, s.fail("get takedown", s.loadTakedownHashes(ctx, s.db.W, []*Takedown{td}))
}

func (s *Store) loadTakedownHashes(ctx context.Context, idb bun.IDB, tds []*Takedown) error {
	if len(tds) == 0 {
		return nil
	}
	byID := make(map[int64]*Takedown, len(tds))
	ids := make([]int64, 0, len(tds))
	for _, td := range tds {
		byID[td.ID] = td
		ids = append(ids, td.ID)
	}
	return chunks(ids, func(part []int64) error {
		var rows []takedownHash
		if err := idb.NewSelect().Model(&rows).Where("th.takedown_id IN (?)", bun.List(part)).OrderExpr("th.url_hash").Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			byID[r.TakedownID].URLHashes = append(byID[r.TakedownID].URLHashes, r.URLHash)
		}
		return nil
	})
}

// TakedownSet is what the active takedowns keep out of feed runs.
type TakedownSet struct {
	FeedIDs   map[int64]bool
	URLHashes map[string]bool
}

// ActiveTakedowns returns the feed ids and URL hashes of every takedown not
// lifted, from the primary.
func (s *Store) ActiveTakedowns(ctx context.Context) (TakedownSet, error) {
	set := TakedownSet{FeedIDs: map[int64]bool{}, URLHashes: map[string]bool{}}
	var feedIDs []int64
	if err := s.db.W.NewSelect().Model((*Takedown)(nil)).Column("feed_id").
		Where("td.lifted_at IS NULL").Where("td.feed_id IS NOT NULL").Scan(ctx, &feedIDs); err != nil {
		return set, s.fail("load takedowns", err)
	}
	for _, id := range feedIDs {
		set.FeedIDs[id] = true
	}
	var hashes []string
	if err := s.db.W.NewSelect().Model((*takedownHash)(nil)).Column("th.url_hash").
		Join("JOIN takedowns AS td ON td.id = th.takedown_id").
		Where("td.lifted_at IS NULL").Scan(ctx, &hashes); err != nil {
		return set, s.fail("load takedowns", err)
	}
	for _, h := range hashes {
		set.URLHashes[h] = true
	}
	return set, nil
}

// activeTakenDownHashes reports which of these URL hashes a takedown not
// lifted covers.
func activeTakenDownHashes(ctx context.Context, idb bun.IDB, urlHashes []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := chunks(urlHashes, func(part []string) error {
		var hashes []string
		if err := idb.NewSelect().Model((*takedownHash)(nil)).Column("th.url_hash").
			Join("JOIN takedowns AS td ON td.id = th.takedown_id").
			Where("td.lifted_at IS NULL").Where("th.url_hash IN (?)", bun.List(part)).
			Scan(ctx, &hashes); err != nil {
			return fmt.Errorf("load taken-down hashes: %w", err)
		}
		for _, h := range hashes {
			out[h] = true
		}
		return nil
	})
	return out, err
}

// activeTakenDownFeedIDs reports which of these feed ids a takedown not
// lifted keeps out.
func activeTakenDownFeedIDs(ctx context.Context, idb bun.IDB, feedIDs []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	err := chunks(feedIDs, func(part []int64) error {
		var ids []int64
		if err := idb.NewSelect().Model((*Takedown)(nil)).Column("feed_id").
			Where("td.lifted_at IS NULL").Where("td.feed_id IN (?)", bun.List(part)).
			Scan(ctx, &ids); err != nil {
			return fmt.Errorf("load taken-down feed ids: %w", err)
		}
		for _, id := range ids {
			out[id] = true
		}
		return nil
	})
	return out, err
}

// takenDownLookup tells ErrTakenDown from ErrNotFound for a lookup that
// found no live performer: the row matching where is a tombstone that an
// active takedown made.
func (s *Store) takenDownLookup(ctx context.Context, idb bun.IDB, where string, arg any) error {
	taken, err := idb.NewSelect().Model((*Pornstar)(nil)).Where(where, arg).Where("p.deleted_at IS NOT NULL").
		Where("EXISTS (SELECT 1 FROM takedowns AS td WHERE td.pornstar_id = p.id AND td.lifted_at IS NULL)").
		Exists(ctx)
	switch {
	case err != nil:
		return err
	case taken:
		return ErrTakenDown
	}
	return ErrNotFound
}
