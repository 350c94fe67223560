package imaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"marquee/db"
)

// settle returns the outcome of req: from rec when it is settled, by
// fetching when this compactor holds the claim, or, while another compactor
// holds it, by waiting until that one settles it or its lease ends.
func (c *Compactor) settle(ctx context.Context, records *recorder, req request, rec db.ImageFetch) (db.ImageState, error) {
	for {
		switch {
		case rec.HeldBy(c.owner):
			outcome, err := c.fetchAndRecord(ctx, records, req, rec)
			if !errors.Is(err, errClaimLost) {
				return outcome, err
			}
			c.log.Warn("imaging: lost the claim on an image; waiting for its new holder", "url_hash", req.urlHash, "url", req.url)
		case rec.Settled():
			c.stats.cacheHits.Add(1)
			return rec.ImageState, nil
		default:
			if err := sleep(ctx, c.stop, c.cfg.SettlePoll); err != nil {
				return db.ImageState{}, err
			}
		}
		claimed, err := c.claim(ctx, req)
		if err != nil {
			return db.ImageState{}, fmt.Errorf("claim image %s: %w", req.urlHash, err)
		}
		rec = claimed[req.urlHash]
	}
}

// fetchAndRecord fetches the URL of a hash this compactor holds the claim
// on, stores the bytes and records the outcome. It returns errClaimLost when
// the claim was taken over meanwhile; on any other error it gives the claim
// up, so the next handler of the request can take it at once.
func (c *Compactor) fetchAndRecord(ctx context.Context, records *recorder, req request, rec db.ImageFetch) (db.ImageState, error) {
	queued := c.queue.join()
	defer queued()
	got, attempts, err := c.fetchClaimed(ctx, req, rec)
	outcome := db.ImageState{URLHash: req.urlHash, URL: req.url, Attempts: int32(attempts)}
	var fetchErr *FetchError
	var duplicate bool
	switch {
	case err == nil:
		if duplicate, err = c.storeDownload(ctx, got, &outcome, queued); err != nil {
			c.giveUp(req.urlHash)
			return db.ImageState{}, fmt.Errorf("store %s: %w", req.url, err)
		}
	case errors.As(err, &fetchErr):
		outcome.Status = db.ImageFailed
		msg := errorText(fetchErr)
		outcome.Error = &msg
	case errors.Is(err, errClaimLost):
		return db.ImageState{}, err
	default:
		c.giveUp(req.urlHash)
		return db.ImageState{}, fmt.Errorf("fetch %s: %w", req.url, err)
	}
	fetchedAt := c.now().Truncate(time.Microsecond)
	outcome.FetchedAt = &fetchedAt
	if err := records.record(ctx, outcome); err != nil {
		if !errors.Is(err, errClaimLost) {
			c.giveUp(req.urlHash)
		}
		return db.ImageState{}, err
	}
	c.count(outcome, fetchErr, duplicate)
	return outcome, nil
}

// count counts a recorded outcome in the stats and logs it (debug level):
// cached, and whether its bytes were stored already, or failed and why.
func (c *Compactor) count(outcome db.ImageState, fetchErr *FetchError, duplicate bool) {
	if outcome.Status == db.ImageCached {
		c.stats.cached.Add(1)
		if duplicate {
			c.stats.duplicates.Add(1)
		}
		c.log.Debug("imaging: image cached", "url_hash", outcome.URLHash, "content_sha256", *outcome.ContentSHA256,
			"bytes", *outcome.Bytes, "attempts", outcome.Attempts, "duplicate_content", duplicate)
		return
	}
	c.stats.fail(fetchErr.Reason)
	c.log.Debug("imaging: image failed", "url_hash", outcome.URLHash, "url", outcome.URL, "reason", fetchErr.Reason,
		"attempts", outcome.Attempts, "err", fetchErr)
}
