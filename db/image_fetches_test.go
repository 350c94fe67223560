package db_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/db"
)

// claimAt is the instant the claim tests run at; leases are relative to it.
var claimAt = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const testLease = 5 * time.Minute

func imageClaims(urls ...string) []db.ImageClaim {
	out := make([]db.ImageClaim, len(urls))
	for i, u := range urls {
		out[i] = db.ImageClaim{URLHash: db.URLHash(u), URL: u}
	}
	return out
}

// mustClaim claims for owner at now with testLease and returns the hashes
// owner now holds and every record.
func mustClaim(t *testing.T, s *db.Store, owner string, now time.Time, claims []db.ImageClaim) (held map[string]bool, records map[string]db.ImageFetch) {
	t.Helper()
	records, err := s.ClaimImageFetches(context.Background(), owner, now, now.Add(testLease), claims)
	if err != nil {
		t.Fatalf("ClaimImageFetches(%s): %v", owner, err)
	}
	held = map[string]bool{}
	for hash, r := range records {
		if r.HeldBy(owner) {
			held[hash] = true
		}
	}
	return held, records
}

// mustFinish records outcomes for owner and returns the hashes it lost.
func mustFinish(t *testing.T, s *db.Store, owner string, outcomes ...db.ImageState) []string {
	t.Helper()
	lost, err := s.FinishImageFetches(context.Background(), owner, outcomes)
	if err != nil {
		t.Fatalf("FinishImageFetches(%s): %v", owner, err)
	}
	return lost
}

// outcomeFor is a cached or failed outcome of url fetched at.
func outcomeFor(url, status string, at time.Time) db.ImageState {
	if status == db.ImageCached {
		return cachedImage(url, at)
	}
	return failedImage(url, at)
}

func TestClaimImageFetchesLifecycle(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		urls := []string{imageURL("ei.phncdn.com", 1), imageURL("ei.phncdn.com", 2), imageURL("di.phncdn.com", 1)}
		claims := imageClaims(urls...)
		hashA, hashB, hashC := claims[0].URLHash, claims[1].URLHash, claims[2].URLHash

		// New hashes are claimed by the first owner.
		held, records := mustClaim(t, s, "compactor-a", claimAt, claims)
		if len(held) != 3 || len(records) != 3 {
			t.Fatalf("first claim: held %v of %d records, want all 3", held, len(records))
		}
		for _, r := range records {
			if r.Claims != 1 || r.URL == "" || r.LeaseUntil == nil || !r.LeaseUntil.Equal(claimAt.Add(testLease)) || !r.ClaimedAt.Equal(claimAt) {
				t.Errorf("fresh claim %+v: want 1 claim, the URL, claimed at %v until %v", r, claimAt, claimAt.Add(testLease))
			}
			checkUTC(t, "ClaimedAt", r.ClaimedAt)
		}

		// A second owner gets nothing while the lease runs.
		if held, records := mustClaim(t, s, "compactor-b", claimAt.Add(time.Minute), claims); len(held) != 0 || records[hashA].Owner != "compactor-a" {
			t.Fatalf("second owner during the lease: held %v, owner %q; want nothing", held, records[hashA].Owner)
		}

		// The holder may claim again: its claim is extended, not counted twice.
		held, records = mustClaim(t, s, "compactor-a", claimAt.Add(2*time.Minute), claims[:1])
		if !held[hashA] || records[hashA].Claims != 1 || !records[hashA].LeaseUntil.Equal(claimAt.Add(2*time.Minute+testLease)) {
			t.Errorf("re-claim by the holder: %+v, want held, 1 claim, the lease moved", records[hashA])
		}

		// A finishes A (cached) and B (failed) in one call.
		failedAt := claimAt.Add(3 * time.Minute)
		if lost := mustFinish(t, s, "compactor-a", outcomeFor(urls[0], db.ImageCached, claimAt.Add(3*time.Minute)),
			outcomeFor(urls[1], db.ImageFailed, failedAt)); len(lost) != 0 {
			t.Fatalf("finishing held claims lost %v", lost)
		}
		// C's holder dies: after its lease, B takes C over.
		late := claimAt.Add(2*time.Minute + testLease)
		held, records = mustClaim(t, s, "compactor-b", late, claims)
		if len(held) != 1 || !held[hashC] || records[hashC].Claims != 2 {
			t.Fatalf("after the lease: held %v, C %+v; want only C, claimed twice", held, records[hashC])
		}
		if records[hashA].Status != db.ImageCached || records[hashA].LeaseUntil != nil || records[hashA].Owner != "compactor-a" {
			t.Errorf("cached record %+v: want cached by compactor-a, no lease", records[hashA])
		}
		if diff := imageStateDiff(cachedImage(urls[0], claimAt.Add(3*time.Minute)), records[hashA].ImageState); diff != "" {
			t.Errorf("cached outcome differs: %s", diff)
		}
		// The dead holder can neither extend nor finish what it lost.
		if err := s.ExtendImageClaim(ctx, hashC, "compactor-a", late.Add(time.Hour)); !errors.Is(err, db.ErrConflict) {
			t.Errorf("ExtendImageClaim by the former holder = %v, want ErrConflict", err)
		}
		if lost := mustFinish(t, s, "compactor-a", outcomeFor(urls[2], db.ImageCached, late)); len(lost) != 1 || lost[0] != hashC {
			t.Errorf("FinishImageFetches by the former holder lost %v, want C", lost)
		}
		if r, _ := s.ImageFetches(ctx, []string{hashC}); !r[hashC].HeldBy("compactor-b") {
			t.Errorf("the former holder's outcome was recorded: %+v", r[hashC])
		}
		if err := s.ExtendImageClaim(ctx, hashA, "compactor-a", late); !errors.Is(err, db.ErrConflict) {
			t.Errorf("ExtendImageClaim of a finished fetch = %v, want ErrConflict", err)
		}

		// A failure is claimed again only by a request made after it.
		retry := []db.ImageClaim{{URLHash: hashB, URL: urls[1], RetryFailedBefore: failedAt}}
		if held, _ := mustClaim(t, s, "compactor-c", late, retry); held[hashB] {
			t.Errorf("a failure claimed again by a request as old as the failure")
		}
		if held, _ := mustClaim(t, s, "compactor-c", late, claims[1:2]); held[hashB] {
			t.Errorf("a failure claimed again without RetryFailedBefore")
		}
		retry[0].RetryFailedBefore = failedAt.Add(time.Microsecond)
		held, records = mustClaim(t, s, "compactor-c", late, retry)
		if !held[hashB] || records[hashB].Claims != 2 {
			t.Errorf("retry after the failure: %+v, want held by compactor-c, claimed twice", records[hashB])
		}

		// A cached hash is never claimed again, whatever the request says.
		cachedRetry := []db.ImageClaim{{URLHash: hashA, URL: urls[0], RetryFailedBefore: late.Add(time.Hour)}}
		if held, _ := mustClaim(t, s, "compactor-c", late.Add(time.Hour), cachedRetry); held[hashA] {
			t.Errorf("a cached hash was claimed again")
		}

		// Giving a claim up lets the next owner take it at once.
		if err := s.ExtendImageClaim(ctx, hashC, "compactor-b", late); err != nil {
			t.Fatalf("release: %v", err)
		}
		if held, _ := mustClaim(t, s, "compactor-d", late, claims[2:]); !held[hashC] {
			t.Errorf("a released claim was not taken over")
		}
	})
}

// TestClaimImageFetchesConcurrently lets owners race for the same hashes:
// every hash ends up claimed by exactly one of them.
func TestClaimImageFetchesConcurrently(t *testing.T) {
	t.Parallel()
	const owners, images = 6, 120
	var urls []string
	for i := range images {
		urls = append(urls, imageURL("ei.phncdn.com", int64(1000+i)))
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		claims := imageClaims(urls...)
		heldBy := make([]map[string]bool, owners)
		errs := make([]error, owners)
		var wg sync.WaitGroup
		for o := range owners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each owner asks in its own order, several times.
				mine := append([]db.ImageClaim(nil), claims[o*images/owners:]...)
				mine = append(mine, claims[:o*images/owners]...)
				owner := fmt.Sprintf("owner-%d", o)
				heldBy[o] = map[string]bool{}
				for round := range 3 {
					records, err := s.ClaimImageFetches(context.Background(), owner, claimAt, claimAt.Add(testLease), mine[round*10:])
					if err != nil {
						errs[o] = err
						return
					}
					for hash, r := range records {
						if r.HeldBy(owner) {
							heldBy[o][hash] = true
						}
					}
				}
			}()
		}
		wg.Wait()
		for o, err := range errs {
			if err != nil {
				t.Fatalf("owner %d: %v", o, err)
			}
		}
		records, err := s.ImageFetches(context.Background(), hashesOf(claims))
		if err != nil {
			t.Fatal(err)
		}
		if len(records) != images {
			t.Fatalf("%d records, want %d", len(records), images)
		}
		for _, c := range claims {
			var holders []int
			for o := range owners {
				if heldBy[o][c.URLHash] {
					holders = append(holders, o)
				}
			}
			r := records[c.URLHash]
			if len(holders) != 1 || r.Owner != fmt.Sprintf("owner-%d", holders[0]) || r.Claims != 1 {
				t.Errorf("hash %s: held by owners %v, record owner %q with %d claims; want exactly one", c.URLHash[:8], holders, r.Owner, r.Claims)
			}
		}
	})
}

func hashesOf(claims []db.ImageClaim) []string {
	out := make([]string, len(claims))
	for i, c := range claims {
		out[i] = c.URLHash
	}
	return out
}

// TestClaimSettledImagesWritesNothing: a re-run's requests for cached images
// cost one SELECT and no write.
func TestClaimSettledImagesWritesNothing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		urls := []string{imageURL("ei.phncdn.com", 31), imageURL("ei.phncdn.com", 32)}
		mustClaim(t, s, "a", claimAt, imageClaims(urls...))
		for i, u := range urls {
			status := []string{db.ImageCached, db.ImageFailed}[i]
			mustFinish(t, s, "a", outcomeFor(u, status, claimAt))
		}
		log := logStatements(t, s)
		held, records := mustClaim(t, s, "b", claimAt.Add(time.Hour), imageClaims(urls...))
		if len(held) != 0 || len(records) != 2 {
			t.Fatalf("held %v of %d records, want none of 2", held, len(records))
		}
		if all := log.All(); len(all) != 1 || !isSelect(all[0]) {
			t.Errorf("claiming settled hashes ran %q, want one SELECT", shorten(all))
		}
	})
}

func TestClaimImageFetchesInvalid(t *testing.T) {
	t.Parallel()
	url := imageURL("ei.phncdn.com", 41)
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		claimTests := []struct {
			name   string
			owner  string
			lease  time.Duration
			claims []db.ImageClaim
			field  string
		}{
			{"empty owner", "", testLease, imageClaims(url), "owner"},
			{"owner too long", strings.Repeat("o", 129), testLease, imageClaims(url), "owner"},
			{"lease not after now", "a", 0, imageClaims(url), "lease_until"},
			{"upper-case hash", "a", testLease, []db.ImageClaim{{URLHash: strings.ToUpper(db.URLHash(url)), URL: url}}, "claims/0/url_hash"},
			{"URL not UTF-8", "a", testLease, []db.ImageClaim{{URLHash: db.URLHash(url), URL: "https://x/\xff"}}, "claims/0/url"},
		}
		for _, tt := range claimTests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.ClaimImageFetches(ctx, tt.owner, claimAt, claimAt.Add(tt.lease), tt.claims)
				if !errors.Is(err, db.ErrInvalid) {
					t.Fatalf("ClaimImageFetches = %v, want ErrInvalid", err)
				}
				checkFieldError(t, err, tt.field)
			})
		}
		url2 := imageURL("ei.phncdn.com", 42)
		mustClaim(t, s, "a", claimAt, imageClaims(url, url2))
		finishTests := []struct {
			name   string
			change func(st *db.ImageState)
			field  string
		}{
			{"status pending", func(st *db.ImageState) { st.Status = db.ImagePending }, "status"},
			{"status claimed", func(st *db.ImageState) { st.Status = db.FetchClaimed }, "status"},
			{"no fetched_at", func(st *db.ImageState) { st.FetchedAt = nil }, "fetched_at"},
			{"content hash not hex", func(st *db.ImageState) { st.ContentSHA256 = ptr("nope") }, "content_sha256"},
		}
		for _, tt := range finishTests {
			t.Run(tt.name, func(t *testing.T) {
				st := cachedImage(url, claimAt)
				tt.change(&st)
				// With a valid outcome beside it: nothing is recorded.
				_, err := s.FinishImageFetches(ctx, "a", []db.ImageState{cachedImage(url2, claimAt), st})
				if !errors.Is(err, db.ErrInvalid) {
					t.Fatalf("FinishImageFetches = %v, want ErrInvalid", err)
				}
				checkFieldError(t, err, tt.field)
			})
		}
		if records, err := s.ImageFetches(ctx, []string{db.URLHash(url), db.URLHash(url2)}); err != nil ||
			!records[db.URLHash(url)].HeldBy("a") || !records[db.URLHash(url2)].HeldBy("a") {
			t.Errorf("after refused outcomes the claims are %+v (%v), want still held by a", records, err)
		}
		if records, err := s.ClaimImageFetches(ctx, "a", claimAt, claimAt.Add(time.Minute), nil); err != nil || len(records) != 0 {
			t.Errorf("claiming nothing = %v, %v; want an empty map", records, err)
		}
	})
}

// TestExtendImageClaims is the compactor's heartbeat: it extends every
// claim its owner holds, and nothing else, so a live owner keeps its claims
// past the first lease while a dead one's end.
func TestExtendImageClaims(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		claims := imageClaims("https://ei.example.com/a.jpg", "https://ei.example.com/b.jpg", "https://ei.example.com/c.jpg")
		mustClaim(t, s, "live", claimAt, claims[:2])
		mustClaim(t, s, "dead", claimAt, claims[2:])
		mustFinish(t, s, "live", outcomeFor("https://ei.example.com/b.jpg", db.ImageCached, claimAt))

		n, err := s.ExtendImageClaims(ctx, "live", claimAt.Add(10*testLease))
		if err != nil || n != 1 {
			t.Fatalf("ExtendImageClaims = %d, %v; want the 1 claim still held", n, err)
		}
		// After the first lease, the live owner's claim holds and the dead
		// owner's is taken over.
		later := claimAt.Add(2 * testLease)
		held, _ := mustClaim(t, s, "newcomer", later, claims)
		if held[claims[0].URLHash] || !held[claims[2].URLHash] || held[claims[1].URLHash] {
			t.Fatalf("newcomer holds %v: want only the dead owner's claim", held)
		}
		if n, err := s.ExtendImageClaims(ctx, "dead", later.Add(testLease)); err != nil || n != 0 {
			t.Fatalf("the dead owner extended %d claims (%v) after losing them", n, err)
		}
	})
}

// TestReleaseImageFetches is an operator's refresh: settled outcomes are
// forgotten, so the next request claims and fetches again; a hash being
// fetched or never requested is left alone.
func TestReleaseImageFetches(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		urls := []string{"https://ei.example.com/cached.jpg", "https://ei.example.com/failed.jpg",
			"https://ei.example.com/busy.jpg", "https://ei.example.com/never.jpg"}
		claims := imageClaims(urls...)
		mustClaim(t, s, "a", claimAt, claims[:3])
		mustFinish(t, s, "a", outcomeFor(urls[0], db.ImageCached, claimAt), outcomeFor(urls[1], db.ImageFailed, claimAt))

		hashes := []string{claims[0].URLHash, claims[1].URLHash, claims[2].URLHash, claims[3].URLHash}
		released, err := s.ReleaseImageFetches(ctx, hashes)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{claims[0].URLHash: urls[0], claims[1].URLHash: urls[1]}
		if !maps.Equal(released, want) {
			t.Fatalf("released %v, want the cached and the failed one", released)
		}
		// Within the same lease, a newcomer may now claim the released
		// hashes, but still not the one being fetched.
		held, _ := mustClaim(t, s, "b", claimAt.Add(time.Second), claims[:3])
		if !held[claims[0].URLHash] || !held[claims[1].URLHash] || held[claims[2].URLHash] {
			t.Fatalf("after the release b holds %v", held)
		}
		if _, err := s.ReleaseImageFetches(ctx, []string{"not-a-hash"}); !errors.Is(err, db.ErrInvalid) {
			t.Fatalf("a malformed hash: %v, want ErrInvalid", err)
		}
	})
}
