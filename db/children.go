package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/uptrace/bun"
)

// pornstarChildren are the rows a performer owns besides its own.
type pornstarChildren struct {
	aliases []Alias
	thumbs  []Thumbnail
	tags    []pornstarTag
	// tokens are the search words of the name and the aliases.
	tokens []searchToken
}

// newChildren builds the child rows of one performer from API or feed input.
// Aliases are de-duplicated case-insensitively (the first spelling wins) and
// empty ones dropped, because the database holds each alias once.
func newChildren(id int64, f *PornstarFields, aliases []string, thumbs []ProfileThumbnail) *pornstarChildren {
	c := &pornstarChildren{}
	seen := make(map[string]bool, len(aliases))
	for _, a := range aliases {
		key := aliasKey(a)
		if strings.TrimSpace(a) == "" || seen[key] {
			continue
		}
		seen[key] = true
		c.aliases = append(c.aliases, Alias{PornstarID: id, Position: int32(len(c.aliases)), Alias: a, AliasKey: key})
	}
	for i, t := range thumbs {
		hash := t.URLHash
		if hash == "" {
			hash = URLHash(t.URL)
		}
		c.thumbs = append(c.thumbs, Thumbnail{
			PornstarID: id, Position: int32(i), Type: t.Type, Width: t.Width, Height: t.Height, URL: t.URL, URLHash: hash,
		})
	}
	c.tags = appendTags(c.tags, id, tagHairColor, f.HairColors)
	c.tags = appendTags(c.tags, id, tagEthnicity, f.Ethnicities)
	c.tokens = searchTokens(id, f.Name, c.aliases)
	return c
}

func appendTags(tags []pornstarTag, id int64, attribute string, values []string) []pornstarTag {
	seen := map[string]bool{}
	for _, v := range values {
		key := tagValue(v)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		tags = append(tags, pornstarTag{Attribute: attribute, Value: key, PornstarID: id})
	}
	return tags
}

// aliasKey is what makes two aliases the same: case is ignored, and so are
// trailing spaces, which MySQL's PAD SPACE collations ignore in the unique
// index on (pornstar_id, alias_key).
func aliasKey(alias string) string { return strings.ToLower(strings.TrimRight(alias, " ")) }

// tagValue is how a multi-valued attribute is stored and matched.
func tagValue(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

func (c *pornstarChildren) setOwner(id int64) {
	for i := range c.aliases {
		c.aliases[i].PornstarID = id
	}
	for i := range c.thumbs {
		c.thumbs[i].PornstarID = id
	}
	for i := range c.tags {
		c.tags[i].PornstarID = id
	}
	for i := range c.tokens {
		c.tokens[i].PornstarID = id
	}
}

// syncChildren makes the aliases, thumbnails, tags and search tokens of the performers in
// want equal to want, writing only the rows that differ. existing lists the
// performers that may already have rows; new performers have none.
func (s *Store) syncChildren(ctx context.Context, tx bun.Tx, want map[int64]*pornstarChildren, existing []int64) error {
	var (
		haveAliases []Alias
		haveThumbs  []Thumbnail
		haveTags    []pornstarTag
		haveTokens  []searchToken
	)
	err := chunks(existing, func(ids []int64) error {
		if err := tx.NewSelect().Model(&haveAliases).Where("pornstar_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
			return fmt.Errorf("load aliases: %w", err)
		}
		if err := tx.NewSelect().Model(&haveThumbs).Where("pornstar_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
			return fmt.Errorf("load thumbnails: %w", err)
		}
		if err := tx.NewSelect().Model(&haveTags).Where("pornstar_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
			return fmt.Errorf("load tags: %w", err)
		}
		if err := tx.NewSelect().Model(&haveTokens).Where("pornstar_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
			return fmt.Errorf("load search tokens: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}

	var wantAliases []Alias
	var wantThumbs []Thumbnail
	var wantTags []pornstarTag
	var wantTokens []searchToken
	for _, c := range want {
		wantAliases = append(wantAliases, c.aliases...)
		wantThumbs = append(wantThumbs, c.thumbs...)
		wantTags = append(wantTags, c.tags...)
		wantTokens = append(wantTokens, c.tokens...)
	}
	inWant := func(id int64) bool { return want[id] != nil }

	delAliases, insAliases := diffRows(haveAliases, wantAliases, inWant, func(a Alias) (int64, string) {
		return a.PornstarID, strconv.Itoa(int(a.Position)) + "\x00" + a.Alias
	})
	delThumbs, insThumbs := diffRows(haveThumbs, wantThumbs, inWant, func(t Thumbnail) (int64, string) {
		return t.PornstarID, strconv.Itoa(int(t.Position)) + "\x00" + t.Type + "\x00" + optInt(t.Width) + "\x00" + optInt(t.Height) + "\x00" + t.URL + "\x00" + t.URLHash
	})
	delTags, insTags := diffRows(haveTags, wantTags, inWant, func(t pornstarTag) (int64, string) {
		return t.PornstarID, t.Attribute + "\x00" + t.Value
	})
	delTokens, insTokens := diffRows(haveTokens, wantTokens, inWant, func(t searchToken) (int64, string) {
		return t.PornstarID, strconv.Itoa(int(t.Source)) + "\x00" + t.Token
	})

	// Deletes first: a moved alias must leave before it comes back, or the
	// unique (pornstar_id, alias_key) index would refuse it.
	if err := deleteByID[Alias](ctx, tx, ids(delAliases, func(a Alias) int64 { return a.ID })); err != nil {
		return fmt.Errorf("delete aliases: %w", err)
	}
	if err := deleteByID[Thumbnail](ctx, tx, ids(delThumbs, func(t Thumbnail) int64 { return t.ID })); err != nil {
		return fmt.Errorf("delete thumbnails: %w", err)
	}
	if err := chunks(delTags, func(part []pornstarTag) error {
		_, err := tx.NewDelete().Model(&part).WherePK().Exec(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("delete tags: %w", err)
	}
	if err := chunks(delTokens, func(part []searchToken) error {
		_, err := tx.NewDelete().Model(&part).WherePK().Exec(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("delete search tokens: %w", err)
	}
	// Rows go in in the order of their table's key (want is a map), so
	// that each batch walks every index once from left to right instead
	// of landing on its pages at random.
	slices.SortFunc(insAliases, func(a, b Alias) int {
		return cmp.Or(cmp.Compare(a.PornstarID, b.PornstarID), cmp.Compare(a.Position, b.Position))
	})
	slices.SortFunc(insThumbs, func(a, b Thumbnail) int {
		return cmp.Or(cmp.Compare(a.PornstarID, b.PornstarID), cmp.Compare(a.Position, b.Position))
	})
	slices.SortFunc(insTags, func(a, b pornstarTag) int {
		return cmp.Or(strings.Compare(a.Attribute, b.Attribute), strings.Compare(a.Value, b.Value), cmp.Compare(a.PornstarID, b.PornstarID))
	})
	slices.SortFunc(insTokens, func(a, b searchToken) int {
		return cmp.Or(strings.Compare(a.Token, b.Token), cmp.Compare(a.PornstarID, b.PornstarID), cmp.Compare(a.Source, b.Source))
	})
	if err := insertRows(ctx, tx, &s.db.inserts, insAliases, "id"); err != nil {
		return fmt.Errorf("insert aliases: %w", err)
	}
	if err := insertRows(ctx, tx, &s.db.inserts, insThumbs, "id"); err != nil {
		return fmt.Errorf("insert thumbnails: %w", err)
	}
	if err := insertRows(ctx, tx, &s.db.inserts, insTags); err != nil {
		return fmt.Errorf("insert tags: %w", err)
	}
	if err := insertRows(ctx, tx, &s.db.inserts, insTokens); err != nil {
		return fmt.Errorf("insert search tokens: %w", err)
	}
	return nil
}

// diffRows compares the rows the database has with the rows wanted, for the
// owners in want, by a content key: it returns the rows to delete and the
// rows to insert. Rows that are equal are left alone.
func diffRows[T any](have, want []T, owned func(int64) bool, key func(T) (int64, string)) (del, ins []T) {
	if len(have) == 0 {
		return nil, want // new performers: nothing to compare
	}
	type ownerKey struct {
		owner int64
		key   string
	}
	wanted := make(map[ownerKey]bool, len(want))
	for _, w := range want {
		o, k := key(w)
		wanted[ownerKey{o, k}] = true
	}
	kept := make(map[ownerKey]bool, len(have))
	for _, h := range have {
		o, k := key(h)
		if !owned(o) {
			continue
		}
		ok := ownerKey{o, k}
		if wanted[ok] && !kept[ok] {
			kept[ok] = true
			continue
		}
		del = append(del, h)
	}
	for _, w := range want {
		o, k := key(w)
		if !kept[ownerKey{o, k}] {
			ins = append(ins, w)
		}
	}
	return del, ins
}

func ids[T any](rows []T, id func(T) int64) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func deleteByID[T any](ctx context.Context, tx bun.Tx, ids []int64) error {
	return chunks(ids, func(part []int64) error {
		_, err := tx.NewDelete().Model((*T)(nil)).Where("id IN (?)", bun.List(part)).Exec(ctx)
		return err
	})
}

func optInt(v *int32) string {
	if v == nil {
		return "-"
	}
	return strconv.Itoa(int(*v))
}

// Aliases returns the aliases of many performers in one query (per 500
// performers), in their feed order, keyed by performer id.
func (s *Store) Aliases(ctx context.Context, pornstarIDs []int64) (map[int64][]Alias, error) {
	out, _, err := s.loadAliases(ctx, s.db.R, pornstarIDs)
	return out, s.fail("load aliases", err)
}

// AliasesFromPrimary is Aliases read from the primary, for answering a write
// with what it wrote even where the read replica lags.
func (s *Store) AliasesFromPrimary(ctx context.Context, pornstarIDs []int64) (map[int64][]Alias, error) {
	out, _, err := s.loadAliases(ctx, s.db.W, pornstarIDs)
	return out, s.fail("load aliases", err)
}

// Thumbnails returns the thumbnails of many performers in one query (per 500
// performers), in their feed order, keyed by performer id.
func (s *Store) Thumbnails(ctx context.Context, pornstarIDs []int64) (map[int64][]Thumbnail, error) {
	out, _, err := s.loadThumbnails(ctx, s.db.R, pornstarIDs)
	return out, s.fail("load thumbnails", err)
}

// ThumbnailsFromPrimary is Thumbnails read from the primary, for answering a
// write with what it wrote even where the read replica lags.
func (s *Store) ThumbnailsFromPrimary(ctx context.Context, pornstarIDs []int64) (map[int64][]Thumbnail, error) {
	out, _, err := s.loadThumbnails(ctx, s.db.W, pornstarIDs)
	return out, s.fail("load thumbnails", err)
}

// ThumbnailURL returns the URL of a thumbnail whose URL hash is urlHash, or
// ErrNotFound when no performer has one: it tells a pending image (a
// thumbnail refers to it, Image has no row yet) from an unknown hash.
func (s *Store) ThumbnailURL(ctx context.Context, urlHash string) (string, error) {
	var url string
	err := s.db.R.NewSelect().Model((*Thumbnail)(nil)).Column("url").
		Where("t.url_hash = ?", urlHash).Order("t.id").Limit(1).Scan(ctx, &url)
	if err != nil {
		return "", s.fail("get thumbnail url", err)
	}
	return url, nil
}

// loadAliases reads the aliases of performers in one query per 500, keyed
// by performer id, in feed order, with each performer's version read in the
// same statement (what the children cache keeps them under): a performer
// without aliases is one row with only its id and version. Sorted here rather than in SQL, where ordering
// the join costs MariaDB a temporary table; scanned by hand, as bun's reflection was most of the Go side
// of a page's relations.
func (s *Store) loadAliases(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Alias, map[int64]int64, error) {
	out, versions := make(map[int64][]Alias, len(ids)), make(map[int64]int64, len(ids))
	err := chunks(ids, func(part []int64) error {
		rows, err := idb.QueryContext(ctx, `SELECT p.id, p.version, a.id, a.position, a.alias, a.alias_key
			FROM pornstars AS p LEFT JOIN aliases AS a ON a.pornstar_id = p.id
			WHERE p.id IN (?)`, bun.List(part))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var owner, version int64
			var id sql.NullInt64
			var position sql.NullInt32
			var alias, key sql.NullString
			if err := rows.Scan(&owner, &version, &id, &position, &alias, &key); err != nil {
				return err
			}
			versions[owner] = version
			if id.Valid {
				out[owner] = append(out[owner], Alias{ID: id.Int64, PornstarID: owner, Position: position.Int32,
					Alias: alias.String, AliasKey: key.String})
			}
		}
		return rows.Err()
	})
	for _, aliases := range out {
		slices.SortFunc(aliases, func(a, b Alias) int { return cmp.Compare(a.Position, b.Position) })
	}
	return out, versions, err
}

// loadThumbnails reads the thumbnails of performers like loadAliases.
func (s *Store) loadThumbnails(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Thumbnail, map[int64]int64, error) {
	out, versions := make(map[int64][]Thumbnail, len(ids)), make(map[int64]int64, len(ids))
	err := chunks(ids, func(part []int64) error {
		rows, err := idb.QueryContext(ctx, `SELECT p.id, p.version, t.id, t.position, t.type, t.width, t.height, t.url, t.url_hash
			FROM pornstars AS p LEFT JOIN thumbnails AS t ON t.pornstar_id = p.id
			WHERE p.id IN (?)`, bun.List(part))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var owner, version int64
			var id sql.NullInt64
			var position, width, height sql.NullInt32
			var typ, url, hash sql.NullString
			if err := rows.Scan(&owner, &version, &id, &position, &typ, &width, &height, &url, &hash); err != nil {
				return err
			}
			versions[owner] = version
			if id.Valid {
				t := Thumbnail{ID: id.Int64, PornstarID: owner, Position: position.Int32, Type: typ.String, URL: url.String, URLHash: hash.String}
				if width.Valid {
					t.Width = &width.Int32
				}
				if height.Valid {
					t.Height = &height.Int32
				}
				out[owner] = append(out[owner], t)
			}
		}
		return rows.Err()
	})
	for _, thumbs := range out {
		slices.SortFunc(thumbs, func(a, b Thumbnail) int { return cmp.Compare(a.Position, b.Position) })
	}
	return out, versions, err
}
