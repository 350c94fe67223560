package imaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"marquee/db"
)

// claim claims the URL hashes of requests for this compactor, in one
// statement, and returns the record of each as it stands afterwards: this
// compactor may fetch a hash's URL exactly when its record is HeldBy it
// (db.Store.ClaimImageFetches).
func (c *Compactor) claim(ctx context.Context, requests ...request) (map[string]db.ImageFetch, error) {
	now := c.now()
	claims := make([]db.ImageClaim, len(requests))
	for i, req := range requests {
		claims[i] = c.claimFor(req, now)
	}
	return c.cfg.Store.ClaimImageFetches(ctx, c.owner, now, now.Add(c.cfg.ClaimLease), claims)
}

// claimFor is the claim of req at now: a failure is fetched again only for
// a request made after it and after the cool-down, so a redelivered request
// of the run that failed it (or an older duplicate) gets the failure.
func (c *Compactor) claimFor(req request, now time.Time) db.ImageClaim {
	retryBefore := now.Add(-c.cfg.RetryCooldown)
	if req.requestedAt.Before(retryBefore) {
		retryBefore = req.requestedAt
	}
	return db.ImageClaim{URLHash: req.urlHash, URL: req.url, RetryFailedBefore: retryBefore}
}

// errClaimLost: another compactor took the claim over (this one's lease had
// ended); the hash is now theirs to settle.
var errClaimLost = errors.New("the claim was taken over by another compactor")

// heartbeat extends every claim this compactor holds each third of the
// lease until ctx ends, so that a claim outlives a long queue or a slow
// host while the compactor lives, and ends one lease after it died.
func (c *Compactor) heartbeat(ctx context.Context) {
	t := time.NewTicker(c.cfg.ClaimLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.cfg.Store.ExtendImageClaims(ctx, c.owner, c.now().Add(c.cfg.ClaimLease)); err != nil && ctx.Err() == nil {
			c.log.Warn("imaging: extending this compactor's claims failed; they end with their leases unless the next heartbeat succeeds", "err", err)
		}
	}
}

// claimKeeper keeps this compactor's claim on one hash through the attempts
// of its fetch, which may outlast the lease the claim was made with.
type claimKeeper struct {
	c          *Compactor
	urlHash    string
	leaseUntil time.Time
}

// keepClaim returns the keeper of the claim on urlHash whose record is rec.
func (c *Compactor) keepClaim(urlHash string, rec db.ImageFetch) *claimKeeper {
	leaseUntil := c.now().Add(c.cfg.ClaimLease)
	if rec.LeaseUntil != nil {
		leaseUntil = *rec.LeaseUntil
	}
	return &claimKeeper{c: c, urlHash: urlHash, leaseUntil: leaseUntil}
}

// beforeAttempt extends the claim when less than an attempt and a fifth of
// the lease is left of it, so that no attempt runs past the lease. It
// returns errClaimLost when another compactor took the claim over.
func (k *claimKeeper) beforeAttempt(ctx context.Context) error {
	c := k.c
	now := c.now()
	if k.leaseUntil.Sub(now) >= c.cfg.AttemptTimeout+c.cfg.ClaimLease/5 {
		return nil
	}
	until := now.Add(c.cfg.ClaimLease)
	if err := c.cfg.Store.ExtendImageClaim(ctx, k.urlHash, c.owner, until); err != nil {
		if errors.Is(err, db.ErrConflict) {
			return errClaimLost
		}
		return fmt.Errorf("extend the claim: %w", err)
	}
	k.leaseUntil = until
	return nil
}

// giveUp ends this compactor's claim on urlHash now, so that whoever handles
// the request next can take it over without waiting out the lease.
func (c *Compactor) giveUp(urlHash string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.cfg.Store.ExtendImageClaim(ctx, urlHash, c.owner, c.now()); err != nil && !errors.Is(err, db.ErrConflict) {
		c.log.Warn("imaging: giving up a claim failed; it ends with its lease", "url_hash", urlHash, "err", err)
	}
}
