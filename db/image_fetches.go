package db

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// FetchClaimed is the status of an image_fetches row while a compactor
// fetches its URL. The other statuses are ImageCached, ImageFailed and
// FetchTakenDown.
const FetchClaimed = "claimed"

// FetchTakenDown is the status of the image_fetches row of a URL hash that a
// takedown covers (TakeDown writes it, LiftTakedown deletes it): it is never
// claimed, so no compactor fetches the URL.
const FetchTakenDown = "taken_down"

// maxOwnerLen bounds a claim owner's name (image_fetches.owner).
const maxOwnerLen = 128

// ImageFetch is one row of image_fetches: the image compactor's durable
// record of one URL hash. While Status is FetchClaimed, Owner is fetching the
// URL and holds the claim until LeaseUntil; once the fetch has finished, the
// embedded ImageState is its outcome, exactly as published on marquee.images.
type ImageFetch struct {
	bun.BaseModel `bun:"table:image_fetches,alias:imf"`

	ImageState
	// Owner names the compactor that claimed the hash last.
	Owner     string    `bun:"owner"`
	ClaimedAt time.Time `bun:"claimed_at"`
	// LeaseUntil is when an unfinished claim may be taken over; nil once
	// the fetch has finished.
	LeaseUntil *time.Time `bun:"lease_until"`
	// Claims counts how often the hash was claimed.
	Claims    int32     `bun:"claims"`
	Version   int64     `bun:"version"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// Settled reports whether the fetch has an outcome (cached or failed).
func (f ImageFetch) Settled() bool {
	return f.Status == ImageCached || f.Status == ImageFailed
}

// HeldBy reports whether owner holds an unfinished claim on the hash.
func (f ImageFetch) HeldBy(owner string) bool {
	return f.Status == FetchClaimed && f.Owner == owner
}

// LeaseExpired reports whether an unfinished claim's lease has ended at now:
// its holder died or gave it up, and another compactor may take it over.
func (f ImageFetch) LeaseExpired(now time.Time) bool {
	return f.Status == FetchClaimed && (f.LeaseUntil == nil || !f.LeaseUntil.After(now))
}

// ImageClaim asks ClaimImageFetches for one URL hash.
type ImageClaim struct {
	URLHash string
	URL     string
	// RetryFailedBefore lets a failed record be claimed again when its fetch
	// finished before this instant (a request made after the failure and
	// after the retry cool-down). The zero time never retries a failure.
	RetryFailedBefore time.Time
}

// ImageFetches returns the records of the given URL hashes that exist, keyed
// by hash, from the primary (claims must never be judged on a lagging
// replica).
func (s *Store) ImageFetches(ctx context.Context, urlHashes []string) (map[string]ImageFetch, error) {
	out, err := s.loadImageFetches(ctx, urlHashes)
	return out, s.fail("load image fetches", err)
}

func (s *Store) loadImageFetches(ctx context.Context, urlHashes []string) (map[string]ImageFetch, error) {
	out := make(map[string]ImageFetch, len(urlHashes))
	err := chunks(urlHashes, func(part []string) error {
		var rows []ImageFetch
		if err := s.db.W.NewSelect().Model(&rows).Where("imf.url_hash IN (?)", bun.List(part)).Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.URLHash] = r
		}
		return nil
	})
	return out, err
}

// ClaimImageFetches claims URL hashes for owner, atomically per hash across
// every process that shares the database, and returns the record of every
// hash asked for as it stands afterwards. owner holds the claim on a hash,
// and may fetch its URL, exactly when the returned record's HeldBy(owner) is
// true; the claim lasts until leaseUntil unless ExtendImageClaim moves it.
//
// A hash that a takedown covers is never claimed: its record is a failure,
// "taken down".
//
// A hash is claimed when it has no record yet, when its claim's lease ended
// at or before now (the holder died), when owner already holds it, or when
// it failed before its claim's RetryFailedBefore. A cached hash, or one that
// another owner holds under a running lease, is left as it is: its record
// says why. now and leaseUntil are the caller's clock, so compactors on
// several machines need clocks that agree to well within the lease.
func (s *Store) ClaimImageFetches(ctx context.Context, owner string, now, leaseUntil time.Time, claims []ImageClaim) (map[string]ImageFetch, error) {
	const op = "claim image fetches"
	now, leaseUntil = now.UTC().Truncate(time.Microsecond), leaseUntil.UTC().Truncate(time.Microsecond)
	wanted, hashes, err := checkImageClaims(owner, now, leaseUntil, claims)
	if err != nil {
		return nil, s.fail(op, err)
	}
	if len(hashes) == 0 {
		return map[string]ImageFetch{}, nil
	}
	records, err := s.claimImageHashes(ctx, op, owner, now, leaseUntil, wanted, hashes)
	for hash, rec := range records {
		if rec.Status == FetchTakenDown {
			records[hash] = takenDownFetch(rec, wanted[hash])
		}
	}
	return records, err
}

// takenDownFetch is the record a compactor gets for a hash a takedown
// covers: settled as failed, so it fetches nothing and publishes a failure
// that the loader does not store (UpsertImages).
func takenDownFetch(rec ImageFetch, claim ImageClaim) ImageFetch {
	msg := takenDownError
	at := rec.UpdatedAt
	rec.ImageState = ImageState{URLHash: claim.URLHash, URL: claim.URL, Status: ImageFailed, Error: &msg, FetchedAt: &at}
	return rec
}

func (s *Store) claimImageHashes(ctx context.Context, op, owner string, now, leaseUntil time.Time, wanted map[string]ImageClaim, hashes []string) (map[string]ImageFetch, error) {
	current, err := s.loadImageFetches(ctx, hashes)
	if err != nil {
		return nil, s.fail(op, err)
	}
	fresh, takeOver := planImageClaims(current, wanted, hashes, owner, now, leaseUntil)
	if len(fresh) == 0 && len(takeOver) == 0 {
		return current, nil
	}
	inserted, err := s.insertImageClaims(ctx, op, fresh)
	if err != nil {
		return nil, err
	}
	if len(takeOver) == 0 && inserted == int64(len(fresh)) {
		// Every new row is ours (both dialects count a skipped conflict as
		// no row affected): no need to read them back.
		for _, row := range fresh {
			current[row.URLHash] = row
		}
		return current, nil
	}
	if err := s.takeOverImageClaims(ctx, takeOver, owner, now, leaseUntil); err != nil {
		return nil, s.fail(op, err)
	}
	after, err := s.loadImageFetches(ctx, hashes)
	return after, s.fail(op, err)
}

// checkImageClaims checks the arguments of ClaimImageFetches and returns the
// claim of each URL hash (of several for one hash, the one retrying the
// latest failures) and the hashes, sorted: concurrent multi-row inserts then
// lock keys in one order and cannot deadlock each other on MySQL.
func checkImageClaims(owner string, now, leaseUntil time.Time, claims []ImageClaim) (map[string]ImageClaim, []string, error) {
	if err := checkText("owner", owner, maxOwnerLen); err != nil || owner == "" {
		return nil, nil, fieldError("owner", fmt.Sprintf("must be a non-empty name of at most %d characters", maxOwnerLen))
	}
	if !leaseUntil.After(now) {
		return nil, nil, fieldError("lease_until", "must be after now")
	}
	wanted := make(map[string]ImageClaim, len(claims))
	for i, c := range claims {
		if !IsSHA256Hex(c.URLHash) {
			return nil, nil, fieldError(fmt.Sprintf("claims/%d/url_hash", i), "must be 64 lowercase hex digits")
		}
		if err := checkText(fmt.Sprintf("claims/%d/url", i), c.URL, maxURLLen); err != nil {
			return nil, nil, err
		}
		if prev, ok := wanted[c.URLHash]; !ok || c.RetryFailedBefore.After(prev.RetryFailedBefore) {
			wanted[c.URLHash] = c
		}
	}
	hashes := make([]string, 0, len(wanted))
	for hash := range wanted {
		hashes = append(hashes, hash)
	}
	slices.Sort(hashes)
	return wanted, hashes, nil
}

// planImageClaims splits the claimable hashes, in the order of hashes, into
// the rows to insert (hashes without a record) and the records to take over
// (claimable ones); the others are left as current says.
func planImageClaims(current map[string]ImageFetch, wanted map[string]ImageClaim, hashes []string, owner string, now, leaseUntil time.Time) (fresh, takeOver []ImageFetch) {
	for _, hash := range hashes {
		row, ok := current[hash]
		switch {
		case !ok:
			fresh = append(fresh, ImageFetch{
				ImageState: ImageState{URLHash: hash, URL: wanted[hash].URL, Status: FetchClaimed},
				Owner:      owner, ClaimedAt: now, LeaseUntil: &leaseUntil, Claims: 1, Version: 1,
				CreatedAt: now, UpdatedAt: now,
			})
		case claimable(row, owner, now, wanted[hash].RetryFailedBefore):
			takeOver = append(takeOver, row)
		}
	}
	return fresh, takeOver
}

// insertImageClaims inserts the claims of hashes without a record, in one
// transaction, and returns how many rows it inserted. Rows another process
// inserted since they were read stay theirs: reading them back shows who won.
func (s *Store) insertImageClaims(ctx context.Context, op string, fresh []ImageFetch) (inserted int64, err error) {
	if len(fresh) == 0 {
		return 0, nil
	}
	err = s.inLedgerTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		inserted = 0
		return chunks(fresh, func(part []ImageFetch) error {
			res, err := s.insertSkippingConflicts(tx.NewInsert().Model(&part), "url_hash").Exec(ctx)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			inserted += n
			return err
		})
	})
	return inserted, err
}

// takeOverImageClaims claims the records of takeOver for owner. A claim
// owner already holds is only extended; any other is a new claim of the hash.
func (s *Store) takeOverImageClaims(ctx context.Context, takeOver []ImageFetch, owner string, now, leaseUntil time.Time) error {
	for _, row := range takeOver {
		newClaims := 1
		if row.HeldBy(owner) {
			newClaims = 0
		}
		// Compare-and-set on the version read: of several processes taking
		// over one hash, exactly one updates a row. The claim is checked
		// again in the statement, so a lease its holder renewed after the
		// read (a heartbeat) is not taken over.
		_, err := s.db.W.NewUpdate().Model((*ImageFetch)(nil)).
			Set("status = ?", FetchClaimed).Set("owner = ?", owner).Set("claimed_at = ?", now).
			Set("lease_until = ?", leaseUntil).Set("claims = claims + ?", newClaims).Set("version = version + 1").
			Set("updated_at = ?", now).
			Where("url_hash = ?", row.URLHash).Where("version = ?", row.Version).
			Where("(status <> ? OR owner = ? OR lease_until IS NULL OR lease_until <= ?)", FetchClaimed, owner, now).Exec(ctx)
		if err != nil {
			return err
		}
	}
	return nil
}

// claimable reports whether owner may claim the hash of row at now.
func claimable(row ImageFetch, owner string, now, retryFailedBefore time.Time) bool {
	switch row.Status {
	case FetchClaimed:
		return row.Owner == owner || row.LeaseExpired(now)
	case ImageFailed:
		return !retryFailedBefore.IsZero() && (row.FetchedAt == nil || row.FetchedAt.Before(retryFailedBefore))
	}
	return false
}

// ExtendImageClaims extends every claim owner holds to leaseUntil, and
// returns how many it holds: a live compactor's heartbeat, so that leases
// can be short and a crashed compactor's claims end soon.
func (s *Store) ExtendImageClaims(ctx context.Context, owner string, leaseUntil time.Time) (int64, error) {
	const op = "extend image claims"
	res, err := s.db.W.NewUpdate().Model((*ImageFetch)(nil)).
		Set("lease_until = ?", leaseUntil.UTC().Truncate(time.Microsecond)).
		Set("updated_at = ?", s.now()).
		Where("status = ?", FetchClaimed).Where("owner = ?", owner).Exec(ctx)
	if err != nil {
		return 0, s.fail(op, err)
	}
	n, err := res.RowsAffected()
	return n, s.fail(op, err)
}

// ExtendImageClaim moves the end of owner's claim on urlHash to leaseUntil:
// later to keep a long fetch's claim, or to now to give it up at once. It
// fails with ErrConflict when owner no longer holds the claim (another
// compactor took it over after the lease ended, or the fetch finished).
func (s *Store) ExtendImageClaim(ctx context.Context, urlHash, owner string, leaseUntil time.Time) error {
	const op = "extend image claim"
	now := s.now()
	res, err := s.db.W.NewUpdate().Model((*ImageFetch)(nil)).
		Set("lease_until = ?", leaseUntil.UTC().Truncate(time.Microsecond)).
		Set("version = version + 1").Set("updated_at = ?", now).
		Where("url_hash = ?", urlHash).Where("owner = ?", owner).Where("status = ?", FetchClaimed).Exec(ctx)
	return s.fail(op, claimHeld(res, err, urlHash, owner))
}

// FinishImageFetches records the outcomes of owner's fetches (status cached
// or failed, fetched_at set) and ends their claims, in one transaction. It
// returns the URL hashes whose claim owner no longer held (another compactor
// took it over, or the fetch was finished already): nothing is recorded for
// those. An outcome marquee.images would refuse fails the whole call with
// ErrInvalid (a *FieldError), recording nothing.
func (s *Store) FinishImageFetches(ctx context.Context, owner string, outcomes []ImageState) (lost []string, err error) {
	const op = "finish image fetches"
	outcomes = slices.Clone(outcomes)
	for i := range outcomes {
		if err := ValidateImageState(&outcomes[i]); err != nil {
			return nil, s.fail(op, err)
		}
		if outcomes[i].FetchedAt == nil {
			return nil, s.fail(op, fieldError("fetched_at", "must be set"))
		}
	}
	if len(outcomes) == 0 {
		return nil, nil
	}
	// Rows are updated in key order, as every other writer of the table
	// does, so concurrent transactions cannot deadlock on each other.
	slices.SortFunc(outcomes, func(a, b ImageState) int { return strings.Compare(a.URLHash, b.URLHash) })
	err = s.inLedgerTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		lost = lost[:0]
		now := s.now()
		for _, o := range outcomes {
			res, err := tx.NewUpdate().Model((*ImageFetch)(nil)).
				Set("status = ?", o.Status).
				Set("content_sha256 = ?", o.ContentSHA256).Set("content_type = ?", o.ContentType).
				Set("bytes = ?", o.Bytes).Set("width = ?", o.Width).Set("height = ?", o.Height).
				Set("attempts = ?", o.Attempts).Set("error = ?", o.Error).Set("placeholder = ?", o.Placeholder).
				Set("fetched_at = ?", *o.FetchedAt).Set("lease_until = NULL").
				Set("version = version + 1").Set("updated_at = ?", now).
				Where("url_hash = ?", o.URLHash).Where("owner = ?", owner).Where("status = ?", FetchClaimed).Exec(ctx)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				lost = append(lost, o.URLHash)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// claimHeld turns an update of one claimed row into ErrConflict when it
// changed nothing.
func claimHeld(res sql.Result, err error, urlHash, owner string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%w: image %s is not claimed by %s", ErrConflict, urlHash, owner)
	}
	return nil
}

// ReleaseImageFetches forgets the settled outcomes (cached or failed) of
// urlHashes in image_fetches, so that the next request of each is fetched
// again: an operator's refresh. A hash being fetched, or one never
// requested, is left alone. It returns the URL of every hash released; the
// images table keeps the old outcome until the new one is loaded.
func (s *Store) ReleaseImageFetches(ctx context.Context, urlHashes []string) (map[string]string, error) {
	const op = "release image fetches"
	for _, h := range urlHashes {
		if !IsSHA256Hex(h) {
			return nil, s.fail(op, fieldError("url_hash", fmt.Sprintf("%q is not 64 lowercase hex digits", h)))
		}
	}
	released := map[string]string{}
	err := s.inLedgerTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		clear(released)
		return chunks(urlHashes, func(part []string) error {
			var rows []ImageFetch
			if err := tx.NewSelect().Model(&rows).Column("url_hash", "url").
				Where("imf.url_hash IN (?)", bun.List(part)).
				Where("imf.status IN (?)", bun.List([]string{ImageCached, ImageFailed})).Scan(ctx); err != nil {
				return err
			}
			if len(rows) == 0 {
				return nil
			}
			hashes := make([]string, len(rows))
			for i, r := range rows {
				hashes[i] = r.URLHash
				released[r.URLHash] = r.URL
			}
			_, err := tx.NewDelete().Model((*ImageFetch)(nil)).
				Where("url_hash IN (?)", bun.List(hashes)).
				Where("status IN (?)", bun.List([]string{ImageCached, ImageFailed})).Exec(ctx)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return released, nil
}
