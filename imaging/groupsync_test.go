package imaging

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupSync: no caller returns before a sync that started after its
// call has finished, and callers that arrive together share rounds.
func TestGroupSync(t *testing.T) {
	var started, finished atomic.Int64
	g := newGroupSync(func() error {
		started.Add(1)
		time.Sleep(time.Millisecond) // a journal commit takes about that long
		finished.Add(1)
		return nil
	})
	const callers = 200
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Syncs run one at a time, so the first to start after this
			// call is number before+1 at the latest.
			before := started.Load()
			if err := g.wait(context.Background()); err != nil {
				t.Errorf("wait: %v", err)
			}
			if got := finished.Load(); got < before+1 {
				t.Errorf("returned after %d syncs had finished; %d had started when it was called", got, before)
			}
		}()
	}
	wg.Wait()
	if n := started.Load(); n >= callers {
		t.Errorf("%d syncs for %d concurrent callers: none shared", n, callers)
	} else {
		t.Logf("%d syncs for %d concurrent callers", n, callers)
	}
}

// TestGroupSyncError: the callers of a round get its error; a later round
// starts afresh.
func TestGroupSyncError(t *testing.T) {
	fail := errors.New("disk gone")
	var calls atomic.Int64
	g := newGroupSync(func() error {
		if calls.Add(1) == 1 {
			return fail
		}
		return nil
	})
	if err := g.wait(context.Background()); !errors.Is(err, fail) {
		t.Fatalf("first round: %v, want %v", err, fail)
	}
	if err := g.wait(context.Background()); err != nil {
		t.Fatalf("second round: %v", err)
	}
}

// TestGroupSyncContext: a caller whose context ends stops waiting; the
// round it joined still runs for the others.
func TestGroupSyncContext(t *testing.T) {
	release := make(chan struct{})
	g := newGroupSync(func() error { <-release; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- g.wait(context.Background()) }()
	cancel()
	if err := g.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled caller: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("other caller: %v", err)
	}
}
