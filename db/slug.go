package db

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// A slug is a performer's name in URLs (docs/api.md, "Slugs"): lower-case
// ASCII letters, digits and single hyphens, unique among performers, and
// never changed while its performer exists.
const (
	// MaxSlugLen bounds a slug in characters: the column's size.
	MaxSlugLen = 128
	// maxSlugBaseLen bounds the part before a clash suffix, so that any
	// suffix fits in MaxSlugLen.
	maxSlugBaseLen = 100
	// fallbackSlug is the base of a performer whose link and name fold to
	// nothing (a name in a script without an ASCII folding).
	fallbackSlug = "performer"
)

// slugBase is the slug a performer asks for before clashes are resolved:
// the last path segment of link when it has one (feed records), else the
// name, folded by foldSlug; fallbackSlug when both fold to nothing.
func slugBase(link *string, name string) string {
	if link != nil {
		if base := foldSlug(lastPathSegment(*link)); base != "" {
			return base
		}
	}
	if base := foldSlug(name); base != "" {
		return base
	}
	return fallbackSlug
}

// lastPathSegment is the last non-empty segment of the URL's path,
// percent-decoded where that is valid.
func lastPathSegment(link string) string {
	path := link
	if u, err := url.Parse(link); err == nil {
		path = u.EscapedPath()
	}
	path = strings.TrimRight(path, "/")
	segment := path[strings.LastIndexByte(path, '/')+1:]
	if decoded, err := url.PathUnescape(segment); err == nil {
		return decoded
	}
	return segment
}

// foldSlug folds s to slug characters: the ASCII letters and digits of
// folded(s), as search folds names (é -> e, ß -> ss, lower case), every run
// of other characters one hyphen, none at either end, cut to
// maxSlugBaseLen. It is empty when s has no letter or digit with an ASCII
// folding.
func foldSlug(s string) string {
	var b strings.Builder
	hyphen := false
	for r := range folded(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		} else {
			hyphen = true
		}
	}
	out := b.String()
	if len(out) > maxSlugBaseLen {
		out = strings.TrimRight(out[:maxSlugBaseLen], "-")
	}
	return out
}

// IsSlug reports whether s has the shape of a slug. No performer has a
// slug of another shape, so a lookup by one needs no query.
func IsSlug(s string) bool {
	if s == "" || len(s) > MaxSlugLen || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// claimSlugs returns a unique slug for each base, in order: the base
// itself when no performer has it and no earlier base of the call took it,
// else the base with the smallest free suffix from -2 up. Earlier bases go
// first, so among performers created together, and between one call and
// the next, the first created keeps the plain base. The slugs are free in
// tx's view, and on MySQL the reads lock the index ranges they cover, so a
// concurrent writer asking for the same slugs waits for this one's commit
// and then sees its slugs; where it claimed one first all the same, the
// unique index refuses it (see inTxClaimingSlugs).
func (s *Store) claimSlugs(ctx context.Context, tx bun.Tx, bases []string) ([]string, error) {
	taken := make(map[string]bool, len(bases))
	count := make(map[string]int, len(bases))
	var distinct []string
	for _, base := range bases {
		if count[base] == 0 {
			distinct = append(distinct, base)
		}
		count[base]++
	}
	err := chunks(distinct, func(part []string) error {
		var stored []string
		q := tx.NewSelect().Model((*Pornstar)(nil)).Column("slug").Where("slug IN (?)", bun.List(part))
		if err := s.forUpdate(q).Scan(ctx, &stored); err != nil {
			return err
		}
		for _, slug := range stored {
			taken[slug] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read slugs: %w", err)
	}
	// A base that clashes needs the suffixed slugs of its family too. They
	// sort between "base-" and "base." ('.' follows '-' in ASCII), a range
	// of the unique index on both dialects, read in one order by every
	// writer.
	for _, base := range slices.Sorted(slices.Values(distinct)) {
		if !taken[base] && count[base] == 1 {
			continue
		}
		var stored []string
		q := tx.NewSelect().Model((*Pornstar)(nil)).Column("slug").Where("slug > ? AND slug < ?", base+"-", base+".")
		if err := s.forUpdate(q).Scan(ctx, &stored); err != nil {
			return nil, fmt.Errorf("read slugs: %w", err)
		}
		for _, slug := range stored {
			taken[slug] = true
		}
	}
	next := make(map[string]int, len(bases))
	out := make([]string, len(bases))
	for i, base := range bases {
		slug := base
		if taken[slug] {
			n := max(next[base], 2)
			for taken[base+"-"+strconv.Itoa(n)] {
				n++
			}
			next[base] = n + 1
			slug = base + "-" + strconv.Itoa(n)
		}
		taken[slug] = true
		out[i] = slug
	}
	return out, nil
}

// maxClaimAttempts bounds the runs of a write whose claims other writers
// keep taking first: each lost run lets at least one other writer commit.
const maxClaimAttempts = 10

// inTxClaimingSlugs is inTx for a write that claims slugs or inserts feed
// ids: a unique violation means that another writer claimed one of them
// after fn read them, and fn runs again, after a random pause, in a new
// transaction, which sees that writer's rows. It gives up with ErrConflict
// after maxClaimAttempts.
func (s *Store) inTxClaimingSlugs(ctx context.Context, op string, fn func(ctx context.Context, tx bun.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxClaimAttempts; attempt++ {
		err = s.inTx(ctx, op, fn)
		if !errors.Is(err, ErrConflict) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
			return s.fail(op, ctx.Err())
		case <-time.After(time.Duration(rand.Int64N(int64(5*time.Millisecond) << min(attempt, 6)))):
		}
	}
	return err
}

// GetBySlug returns the performer with this slug, from the read handle.
func (s *Store) GetBySlug(ctx context.Context, slug string) (*Pornstar, error) {
	if !IsSlug(slug) {
		return nil, s.fail("get pornstar by slug", ErrNotFound)
	}
	return s.getWhere(ctx, s.db.R, "get pornstar by slug", "p.slug = ?", slug)
}

// backfillSlugs gives a slug to every performer without one (those that
// existed before slugs did), in creation order, a batch per transaction.
func (s *Store) backfillSlugs(ctx context.Context) error {
	const op = "backfill slugs"
	for {
		done := false
		err := s.inTxClaimingSlugs(ctx, op, func(ctx context.Context, tx bun.Tx) error {
			var rows []Pornstar
			if err := s.forUpdate(tx.NewSelect().Model(&rows).Column("id", "external_id", "name", "link").
				Where("p.slug IS NULL").OrderExpr("p.id ASC").Limit(batchRows)).Scan(ctx); err != nil {
				return err
			}
			if len(rows) == 0 {
				done = true
				return nil
			}
			bases := make([]string, len(rows))
			for i := range rows {
				bases[i] = rows[i].slugBase()
			}
			slugs, err := s.claimSlugs(ctx, tx, bases)
			if err != nil {
				return err
			}
			cases := make([]string, len(rows))
			args := make([]any, 0, 2*len(rows))
			ids := make([]int64, len(rows))
			for i := range rows {
				cases[i] = "WHEN ? THEN ?"
				args = append(args, rows[i].ID, slugs[i])
				ids[i] = rows[i].ID
			}
			_, err = tx.NewUpdate().Model((*Pornstar)(nil)).
				Set("slug = CASE id "+strings.Join(cases, " ")+" END", args...).
				Where("id IN (?)", bun.List(ids)).Where("slug IS NULL").Exec(ctx)
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

// slugBase is the base of the performer's slug: feed records are named by
// their link, records made through an API by their name.
func (p *Pornstar) slugBase() string {
	if p.ExternalID == nil {
		return slugBase(nil, p.Name)
	}
	return slugBase(p.Link, p.Name)
}
