package imaging

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// TestClaimsWaitForTheWorkers: while twice as many claimed fetches are on
// their way to the store as there are workers, requests wait for their
// claims, and once one fetch is stored they are all claimed in one
// statement.
func TestClaimsWaitForTheWorkers(t *testing.T) {
	const requests = 5
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			store := &statementCountingStore{Store: testkit.OpenStore(t, backend.URL(t))}
			c := &Compactor{
				cfg:   Config{Store: store, Workers: 1, ClaimLease: time.Minute},
				owner: "test/claims",
				queue: newFetchQueue(),
				// Longer than the test: claims wait for the queue alone.
				claimWait: time.Hour,
				now:       func() time.Time { return time.Now().UTC() },
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			claims := c.startClaimer(ctx)
			defer claims.stop()

			c.queue.enter() // the one worker fetches,
			c.queue.enter() // and another claimed fetch waits for it
			results := make(chan error, requests)
			for i := range requests {
				url := fmt.Sprintf("http://127.0.0.1/pics/waiting-%d.jpg", i)
				req := request{urlHash: db.URLHash(url), url: url, requestedAt: time.Now().UTC()}
				go func() {
					rec, err := claims.claim(ctx, req)
					if err == nil && !rec.HeldBy(c.owner) {
						err = fmt.Errorf("%s is not claimed by this compactor: %+v", url, rec)
					}
					results <- err
				}()
			}
			// The claimer holds the first request; the others queue behind it.
			for len(claims.in) < requests-1 && store.count() == 0 {
				time.Sleep(time.Millisecond)
			}
			if n := store.count(); n != 0 {
				t.Errorf("%d claim statements while the worker was busy, want none", n)
			}
			c.queue.leave() // the first fetch is stored
			for range requests {
				if err := <-results; err != nil {
					t.Error(err)
				}
			}
			if got := store.sizes(); len(got) != 1 || got[0] != requests {
				t.Errorf("claim statements of %v hashes, want one of all %d", got, requests)
			}
		})
	}
}

// statementCountingStore is a real store that remembers how many hashes
// each ClaimImageFetches call claimed.
type statementCountingStore struct {
	Store
	mu         sync.Mutex
	statements []int
}

func (s *statementCountingStore) ClaimImageFetches(ctx context.Context, owner string, now, leaseUntil time.Time, claims []db.ImageClaim) (map[string]db.ImageFetch, error) {
	s.mu.Lock()
	s.statements = append(s.statements, len(claims))
	s.mu.Unlock()
	return s.Store.ClaimImageFetches(ctx, owner, now, leaseUntil, claims)
}

func (s *statementCountingStore) count() int { return len(s.sizes()) }

func (s *statementCountingStore) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.statements...)
}
