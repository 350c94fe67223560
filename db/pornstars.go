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

// UpsertResult counts what UpsertProfiles did.
type UpsertResult struct {
	Inserted  int // performers new to the database
	Updated   int // performers whose content changed (restored ones included)
	Restored  int // performers that had been removed and came back
	Unchanged int // performers with the same content hash: no write at all
}

// UpsertProfiles writes feed profiles so that, afterwards, each performer,
// its aliases, thumbnails and multi-valued attributes equal the profile
// (rows that disappeared from the profile are deleted). Profiles are keyed by
// feed id; a later profile in the slice wins over an earlier one with the same
// id. A profile whose content hash equals the stored one costs no write,
// unless the performer had been removed, in which case it is restored.
//
// A profile whose feed id a takedown keeps out is not written (counted as
// unchanged). It is idempotent and runs in one transaction: either every profile is
// written or none. An invalid profile fails the call with a *ProfileError
// naming it, before anything is written.
func (s *Store) UpsertProfiles(ctx context.Context, profiles []Profile) (UpsertResult, error) {
	const op = "upsert profiles"
	var res UpsertResult
	byID, order, err := prepareProfiles(profiles)
	if err != nil {
		return res, s.fail(op, err)
	}
	if len(order) == 0 {
		return res, nil
	}

	// Fast path, outside any transaction: when every profile is unchanged
	// there is nothing to lock and nothing to write.
	current, err := s.currentByFeedID(ctx, s.db.W, order, false)
	if err != nil {
		return res, s.fail(op, err)
	}
	if len(pendingProfiles(byID, order, current)) == 0 {
		res.Unchanged = len(order)
		return res, nil
	}

	err = s.inTxClaimingSlugs(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		res = UpsertResult{}
		current, err := s.currentByFeedID(ctx, tx, order, true)
		if err != nil {
			return err
		}
		// Read under the performers' locks, which TakeDown takes too: a
		// takedown is never overwritten by a profile loaded at the same time.
		takenDown, err := activeTakenDownFeedIDs(ctx, tx, order)
		if err != nil {
			return err
		}
		pending := pendingProfiles(byID, order, current)
		pending = slices.DeleteFunc(pending, func(feedID int64) bool { return takenDown[feedID] })
		res.Unchanged = len(order) - len(pending)
		if len(pending) == 0 {
			return nil
		}
		now := s.now()
		var updates, inserts []Pornstar
		var freshBases []string
		children := make(map[int64]*pornstarChildren, len(pending))
		wantByFeedID := make(map[int64]*pornstarChildren, len(pending))
		var existing, fresh []int64
		for _, feedID := range pending {
			p := byID[feedID]
			c := newChildren(0, &p.PornstarFields, p.Aliases, p.Thumbnails)
			wantByFeedID[feedID] = c
			row := profileRow(p, c, now)
			if cur, ok := current[feedID]; ok {
				// Its slug stays: the row carries none, and the update
				// does not write the column.
				updates = append(updates, row)
				existing = append(existing, cur.ID)
				res.Updated++
				if cur.RemovedAt != nil {
					res.Restored++
				}
			} else {
				inserts = append(inserts, row)
				freshBases = append(freshBases, row.slugBase())
				fresh = append(fresh, feedID)
				res.Inserted++
			}
		}
		// New performers claim their slugs in feed order, which is the
		// order their rows (and ids) are created in.
		slugs, err := s.claimSlugs(ctx, tx, freshBases)
		if err != nil {
			return err
		}
		for i := range inserts {
			inserts[i].Slug = slugs[i]
		}
		if err := chunks(updates, func(part []Pornstar) error { return s.upsertPornstarRows(ctx, tx, part) }); err != nil {
			return fmt.Errorf("write pornstars: %w", err)
		}
		// A plain insert: a feed id or slug that another writer claimed
		// since they were read fails it (and the transaction runs again),
		// where an upsert on MySQL would overwrite that writer's row.
		if err := insertRows(ctx, tx, &s.db.inserts, inserts, "id"); err != nil {
			return fmt.Errorf("insert pornstars: %w", err)
		}
		// Every row written is in the feed now: the new ones, and the
		// removed ones that came back (read under their locks).
		addInFeed(ctx, int64(res.Inserted+res.Restored))
		// Ids of new rows are read back by feed id, never guessed from the
		// last insert id of a bulk insert.
		inserted, err := s.currentByFeedID(ctx, tx, fresh, false)
		if err != nil {
			return err
		}
		for _, feedID := range pending {
			row, ok := current[feedID]
			if !ok {
				row, ok = inserted[feedID]
			}
			if !ok {
				return fmt.Errorf("pornstar with feed id %d vanished during the upsert", feedID)
			}
			c := wantByFeedID[feedID]
			c.setOwner(row.ID)
			children[row.ID] = c
		}
		return s.syncChildren(ctx, tx, children, existing)
	})
	if err == nil {
		s.noteWrites(ctx, res.Inserted+res.Updated)
	}
	return res, err
}

// prepareProfiles validates profiles, fills in derived fields and keeps the
// last profile of each feed id.
func prepareProfiles(profiles []Profile) (map[int64]*Profile, []int64, error) {
	byID := make(map[int64]*Profile, len(profiles))
	order := make([]int64, 0, len(profiles))
	for i := range profiles {
		p := profiles[i] // a copy: the caller's slice is not modified
		if err := prepareProfile(&p); err != nil {
			return nil, nil, &ProfileError{Index: i, FeedID: p.FeedID, Err: err}
		}
		if _, dup := byID[p.FeedID]; !dup {
			order = append(order, p.FeedID)
		}
		byID[p.FeedID] = &p
	}
	return byID, order, nil
}

// ValidateProfile reports what UpsertProfiles would refuse in p (a missing
// feed id, a value a FieldRule refuses), as a *FieldError; ingest uses it
// to reject an item whose name or id is invalid, after ReplaceInvalid.
func ValidateProfile(p *Profile) error {
	if p.FeedID <= 0 {
		return fieldError("feed_id", "must be a positive integer")
	}
	if err := validateFields(&p.PornstarFields); err != nil {
		return err
	}
	if err := validateAliases(p.Aliases); err != nil {
		return err
	}
	return validateThumbnails(p.Thumbnails)
}

func prepareProfile(p *Profile) error {
	if err := ValidateProfile(p); err != nil {
		return err
	}
	if p.ContentHash == "" {
		p.ContentHash = p.ComputeContentHash()
	} else if len(p.ContentHash) != urlHashHexChars {
		return fieldError("content_hash", "must be 64 hex digits")
	}
	return nil
}

// pendingProfiles lists the feed ids whose profile must be written: new
// ones, changed ones and removed ones that came back.
func pendingProfiles(byID map[int64]*Profile, order []int64, current map[int64]Pornstar) []int64 {
	var pending []int64
	for _, feedID := range order {
		cur, ok := current[feedID]
		if ok && cur.RemovedAt == nil && cur.ContentHash != nil && *cur.ContentHash == byID[feedID].ContentHash {
			continue
		}
		pending = append(pending, feedID)
	}
	return pending
}

// currentByFeedID loads id, hash and removal of the performers with these
// feed ids, locking the rows when lock is set (inside a transaction).
func (s *Store) currentByFeedID(ctx context.Context, idb bun.IDB, feedIDs []int64, lock bool) (map[int64]Pornstar, error) {
	out := make(map[int64]Pornstar, len(feedIDs))
	err := chunks(feedIDs, func(part []int64) error {
		var rows []Pornstar
		q := idb.NewSelect().Model(&rows).
			Column("id", "external_id", "content_hash", "removed_at").
			Where("external_id IN (?)", bun.List(part))
		if lock {
			q = s.forUpdate(q)
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("load pornstars by feed id: %w", err)
		}
		for _, r := range rows {
			out[*r.ExternalID] = r
		}
		return nil
	})
	return out, err
}

func profileRow(p *Profile, c *pornstarChildren, now time.Time) Pornstar {
	feedID, hash := p.FeedID, p.ContentHash
	return Pornstar{
		ExternalID:     &feedID,
		PornstarFields: p.PornstarFields,
		NameKey:        strings.ToLower(p.Name),
		SearchText:     searchText(p.Name, c.aliases),
		ContentHash:    &hash,
		Version:        1,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
}

// upsertColumns are the pornstars columns a feed write replaces.
var upsertColumns = []string{
	"name", "name_key", "search_text", "license", "wl_status", "link", "hair_colors", "ethnicities",
	"tattoos", "piercings", "breast_size", "breast_type", "gender", "orientation", "age",
	"subscriptions", "monthly_searches", "views", "videos_count", "premium_videos_count",
	"white_label_video_count", "rank", "rank_premium", "rank_wl", "content_hash", "updated_at",
}

// upsertPornstarRows updates the rows with these external ids (bumping
// version, clearing removed_at, and deleted_at of a takedown lifted), or inserts them where they do not exist.
// Their slugs are left as stored.
func (s *Store) upsertPornstarRows(ctx context.Context, tx bun.Tx, rows []Pornstar) error {
	q := tx.NewInsert().Model(&rows).ExcludeColumn("id")
	_, err := s.upsert(q, "p", "external_id", upsertColumns, true, "removed_at = NULL", "deleted_at = NULL").Exec(ctx)
	return err
}

// MarkRemoved records that the performers with these feed ids left the feed.
// Performers already removed are left alone. It returns how many it marked.
func (s *Store) MarkRemoved(ctx context.Context, feedIDs []int64) (int64, error) {
	var marked int64
	err := s.inTx(ctx, "mark removed", func(ctx context.Context, tx bun.Tx) error {
		marked = 0
		now := s.now()
		return chunks(feedIDs, func(part []int64) error {
			res, err := tx.NewUpdate().Model((*Pornstar)(nil)).
				Set("removed_at = ?", now).
				Set("updated_at = ?", now).
				Set("version = version + 1").
				Where("external_id IN (?)", bun.List(part)).
				Where("removed_at IS NULL").
				Exec(ctx)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			marked += n
			addInFeed(ctx, -n)
			return err
		})
	})
	if err == nil {
		s.noteWrites(ctx, int(marked))
	}
	return marked, err
}

// Get returns the performer with this id, from the read handle. A
// performer taken down is ErrTakenDown (every lookup says so), one deleted
// through an API or never made ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (*Pornstar, error) {
	return s.getWhere(ctx, s.db.R, "get pornstar", "p.id = ?", id)
}

// GetByFeedID returns the performer with this feed id, from the read handle.
func (s *Store) GetByFeedID(ctx context.Context, feedID int64) (*Pornstar, error) {
	return s.getWhere(ctx, s.db.R, "get pornstar by feed id", "p.external_id = ?", feedID)
}

// GetPrimary is Get from the primary, for reading one's own writes.
func (s *Store) GetPrimary(ctx context.Context, id int64) (*Pornstar, error) {
	return s.getWhere(ctx, s.db.W, "get pornstar", "p.id = ?", id)
}

func (s *Store) getWhere(ctx context.Context, idb bun.IDB, op, where string, arg any) (*Pornstar, error) {
	p := new(Pornstar)
	err := idb.NewSelect().Model(p).Where(where, arg).Where("p.deleted_at IS NULL").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.takenDownLookup(ctx, idb, where, arg)
	}
	if err != nil {
		return nil, s.fail(op, err)
	}
	return p, nil
}

// PornstarInput is a performer as an API client writes it.
type PornstarInput struct {
	PornstarFields
	Aliases    []string
	Thumbnails []ProfileThumbnail
}

// Create inserts a performer made through an API: it has no feed id, and the
// feed never touches it. Its slug comes from its name.
func (s *Store) Create(ctx context.Context, in PornstarInput) (*Pornstar, error) {
	const op = "create pornstar"
	if err := validateInput(&in); err != nil {
		return nil, s.fail(op, err)
	}
	var created *Pornstar
	err := s.inTxClaimingSlugs(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		c := newChildren(0, &in.PornstarFields, in.Aliases, in.Thumbnails)
		row := &Pornstar{
			PornstarFields: in.PornstarFields,
			NameKey:        strings.ToLower(in.Name),
			SearchText:     searchText(in.Name, c.aliases),
			Version:        1,
			CreatedAt:      now,
			UpdatedAt:      now,
		}
		slugs, err := s.claimSlugs(ctx, tx, []string{row.slugBase()})
		if err != nil {
			return err
		}
		row.Slug = slugs[0]
		// A single-row insert: the driver's last insert id is exact here.
		if _, err := tx.NewInsert().Model(row).ExcludeColumn("id").Returning("id").Exec(ctx); err != nil {
			return err
		}
		if row.ID == 0 {
			return errors.New("insert returned no id")
		}
		addInFeed(ctx, 1)
		c.setOwner(row.ID)
		if err := s.syncChildren(ctx, tx, map[int64]*pornstarChildren{row.ID: c}, nil); err != nil {
			return err
		}
		created = row
		return nil
	})
	return created, err
}

func validateInput(in *PornstarInput) error {
	if err := validateFields(&in.PornstarFields); err != nil {
		return err
	}
	if err := validateAliases(in.Aliases); err != nil {
		return err
	}
	return validateThumbnails(in.Thumbnails)
}

// Optional is a field of a partial update: Set says whether the caller gave
// it. For nullable fields Value is a pointer and nil clears the field.
type Optional[T any] struct {
	Set   bool
	Value T
}

// Some returns a set Optional.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// PornstarPatch is a partial update: fields that are not Set stay as they are.
type PornstarPatch struct {
	Name                 Optional[string]
	License              Optional[*string]
	WLStatus             Optional[*bool]
	Link                 Optional[*string]
	HairColors           Optional[StringList]
	Ethnicities          Optional[StringList]
	Tattoos              Optional[*bool]
	Piercings            Optional[*bool]
	BreastSize           Optional[*int32]
	BreastType           Optional[*string]
	Gender               Optional[*string]
	Orientation          Optional[*string]
	Age                  Optional[*int32]
	Subscriptions        Optional[*int64]
	MonthlySearches      Optional[*int64]
	Views                Optional[*int64]
	VideosCount          Optional[*int64]
	PremiumVideosCount   Optional[*int64]
	WhiteLabelVideoCount Optional[*int64]
	Rank                 Optional[*int64]
	RankPremium          Optional[*int64]
	RankWL               Optional[*int64]
	Aliases              Optional[[]string]
	Thumbnails           Optional[[]ProfileThumbnail]
}

// ReplaceAll returns the patch that sets every field to in (a full replace).
func ReplaceAll(in PornstarInput) PornstarPatch {
	f := in.PornstarFields
	return PornstarPatch{
		Name: Some(f.Name), License: Some(f.License), WLStatus: Some(f.WLStatus), Link: Some(f.Link),
		HairColors: Some(f.HairColors), Ethnicities: Some(f.Ethnicities), Tattoos: Some(f.Tattoos),
		Piercings: Some(f.Piercings), BreastSize: Some(f.BreastSize), BreastType: Some(f.BreastType),
		Gender: Some(f.Gender), Orientation: Some(f.Orientation), Age: Some(f.Age),
		Subscriptions: Some(f.Subscriptions), MonthlySearches: Some(f.MonthlySearches), Views: Some(f.Views),
		VideosCount: Some(f.VideosCount), PremiumVideosCount: Some(f.PremiumVideosCount),
		WhiteLabelVideoCount: Some(f.WhiteLabelVideoCount), Rank: Some(f.Rank), RankPremium: Some(f.RankPremium),
		RankWL: Some(f.RankWL), Aliases: Some(in.Aliases), Thumbnails: Some(in.Thumbnails),
	}
}

func apply[T any](dst *T, o Optional[T]) {
	if o.Set {
		*dst = o.Value
	}
}

func (p *PornstarPatch) applyTo(f *PornstarFields) {
	apply(&f.Name, p.Name)
	apply(&f.License, p.License)
	apply(&f.WLStatus, p.WLStatus)
	apply(&f.Link, p.Link)
	apply(&f.HairColors, p.HairColors)
	apply(&f.Ethnicities, p.Ethnicities)
	apply(&f.Tattoos, p.Tattoos)
	apply(&f.Piercings, p.Piercings)
	apply(&f.BreastSize, p.BreastSize)
	apply(&f.BreastType, p.BreastType)
	apply(&f.Gender, p.Gender)
	apply(&f.Orientation, p.Orientation)
	apply(&f.Age, p.Age)
	apply(&f.Subscriptions, p.Subscriptions)
	apply(&f.MonthlySearches, p.MonthlySearches)
	apply(&f.Views, p.Views)
	apply(&f.VideosCount, p.VideosCount)
	apply(&f.PremiumVideosCount, p.PremiumVideosCount)
	apply(&f.WhiteLabelVideoCount, p.WhiteLabelVideoCount)
	apply(&f.Rank, p.Rank)
	apply(&f.RankPremium, p.RankPremium)
	apply(&f.RankWL, p.RankWL)
}

// Update applies a partial update to any performer, feed-managed or not, and
// bumps its version. With ifVersion set, the update is refused with
// ErrVersionMismatch unless the stored version equals it. A later feed change
// to a feed-managed performer overwrites the edit.
func (s *Store) Update(ctx context.Context, id int64, patch PornstarPatch, ifVersion *int64) (*Pornstar, error) {
	const op = "update pornstar"
	var updated *Pornstar
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		row := new(Pornstar)
		if err := s.forUpdate(tx.NewSelect().Model(row).Where("p.id = ?", id).Where("p.deleted_at IS NULL")).Scan(ctx); err != nil {
			return err
		}
		if ifVersion != nil && *ifVersion != row.Version {
			return ErrVersionMismatch
		}
		patch.applyTo(&row.PornstarFields)
		if err := validateFields(&row.PornstarFields); err != nil {
			return err
		}
		if patch.Aliases.Set {
			if err := validateAliases(patch.Aliases.Value); err != nil {
				return err
			}
		}
		if patch.Thumbnails.Set {
			if err := validateThumbnails(patch.Thumbnails.Value); err != nil {
				return err
			}
		}
		// Children are rebuilt from the stored ones where the patch leaves them.
		aliases := patch.Aliases.Value
		if !patch.Aliases.Set {
			stored, _, err := s.loadAliases(ctx, tx, []int64{id})
			if err != nil {
				return err
			}
			aliases = aliasStrings(stored[id])
		}
		thumbs := patch.Thumbnails.Value
		if !patch.Thumbnails.Set {
			stored, _, err := s.loadThumbnails(ctx, tx, []int64{id})
			if err != nil {
				return err
			}
			thumbs = profileThumbnails(stored[id])
		}
		c := newChildren(id, &row.PornstarFields, aliases, thumbs)
		row.NameKey = strings.ToLower(row.Name)
		row.SearchText = searchText(row.Name, c.aliases)
		row.UpdatedAt = s.now()
		row.Version++
		if _, err := tx.NewUpdate().Model(row).WherePK().ExcludeColumn("id", "external_id", "slug", "created_at", "content_hash", "removed_at").Exec(ctx); err != nil {
			return err
		}
		if err := s.syncChildren(ctx, tx, map[int64]*pornstarChildren{id: c}, []int64{id}); err != nil {
			return err
		}
		updated = row
		return nil
	})
	return updated, err
}

// Delete removes a performer made through an API, with its aliases and
// thumbnails: every lookup and list answers as if it never was, but a sync
// walk (updated_since) sees it removed and deleted, so a mirror drops it.
// Its slug stays taken, so that no URL of it ever names another performer.
// A feed-managed performer is refused with ErrFeedManaged.
func (s *Store) Delete(ctx context.Context, id int64, ifVersion *int64) error {
	const op = "delete pornstar"
	return s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		row := new(Pornstar)
		q := tx.NewSelect().Model(row).Column("id", "external_id", "version", "removed_at").Where("p.id = ?", id).Where("p.deleted_at IS NULL")
		if err := s.forUpdate(q).Scan(ctx); err != nil {
			return err
		}
		if row.ExternalID != nil {
			return ErrFeedManaged
		}
		if ifVersion != nil && *ifVersion != row.Version {
			return ErrVersionMismatch
		}
		if err := s.syncChildren(ctx, tx, map[int64]*pornstarChildren{id: {}}, []int64{id}); err != nil {
			return err
		}
		now := s.now()
		_, err := tx.NewUpdate().Model((*Pornstar)(nil)).
			Set("deleted_at = ?", now).
			Set("removed_at = COALESCE(removed_at, ?)", now).
			Set("updated_at = ?", now).
			Set("version = version + 1").
			Where("id = ?", id).
			Exec(ctx)
		if err == nil && row.RemovedAt == nil {
			addInFeed(ctx, -1)
		}
		return err
	})
}

func aliasStrings(rows []Alias) []string {
	out := make([]string, len(rows))
	for i, a := range rows {
		out[i] = a.Alias
	}
	return out
}

func profileThumbnails(rows []Thumbnail) []ProfileThumbnail {
	out := make([]ProfileThumbnail, len(rows))
	for i, t := range rows {
		out[i] = ProfileThumbnail{Type: t.Type, Width: t.Width, Height: t.Height, URL: t.URL, URLHash: t.URLHash}
	}
	return out
}
