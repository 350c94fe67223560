package ingest

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"marquee/db"
	"marquee/ingest/feedgen"
)

// farSchedule never fires during a test.
type farSchedule struct{}

func (farSchedule) Next(t time.Time) time.Time { return t.AddDate(100, 0, 0) }

// onceSchedule fires once, at a time, then never again.
type onceSchedule struct {
	at    time.Time
	fired atomic.Bool
}

func (s *onceSchedule) Next(t time.Time) time.Time {
	if t.Before(s.at) && !s.fired.Load() {
		return s.at
	}
	s.fired.Store(true)
	return t.AddDate(100, 0, 0)
}

// pollCounter is the store as the scheduler sees it, counting its calls of
// FailAbandonedRuns (see waitPolls).
type pollCounter struct {
	*db.Store
	polls atomic.Int64
}

func (c *pollCounter) FailAbandonedRuns(ctx context.Context, before time.Time) (int64, error) {
	defer c.polls.Add(1)
	return c.Store.FailAbandonedRuns(ctx, before)
}

// schedulerHarness is a Scheduler over a fresh store and a local feed file,
// running in the background until the test ends.
type schedulerHarness struct {
	store    *db.Store
	polls    *pollCounter
	sched    *Scheduler
	finished chan Summary
	cancel   context.CancelFunc
	done     chan error
}

func newSchedulerHarness(t *testing.T, source string) *schedulerHarness {
	t.Helper()
	store := sqliteStore(t)
	if source == "" {
		source = writeTemp(t, "feed.json", genFeed(t, feedgen.Options{Items: 25, Seed: 81}))
	}
	h := &schedulerHarness{store: store, polls: &pollCounter{Store: store}, finished: make(chan Summary, 10)}
	h.sched = &Scheduler{
		Store:        h.polls,
		Runner:       newTestRunner(store, &memPublisher{}, source),
		Schedule:     farSchedule{},
		Logger:       quietLogger(),
		PollInterval: 10 * time.Millisecond,
		Heartbeat:    10 * time.Millisecond,
		OnFinish:     func(s Summary) { h.finished <- s },
	}
	return h
}

// start runs the scheduler until stop or the end of the test.
func (h *schedulerHarness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.sched.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
}

// stop cancels Run and waits for it to return.
func (h *schedulerHarness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Scheduler.Run: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("Scheduler.Run did not return after its context was cancelled")
	}
}

// waitRun waits for the scheduler to finish a run and returns its row.
func (h *schedulerHarness) waitRun(t *testing.T) *db.FeedRun {
	t.Helper()
	select {
	case s := <-h.finished:
		run, err := h.store.GetRun(context.Background(), s.RunID)
		if err != nil {
			t.Fatal(err)
		}
		return run
	case <-time.After(testTimeout):
		t.Fatalf("no feed run finished within %s", testTimeout)
		return nil
	}
}

// waitPolls waits until the scheduler has called FailAbandonedRuns n times
// in all: once at start-up, before queueing a startup run, then at the start
// of every poll. After the second call start-up is over.
func (h *schedulerHarness) waitPolls(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for h.polls.polls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler polled %d times in %s, want %d", h.polls.polls.Load(), testTimeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// addRun records a run that finished (or, for running, was last touched) at.
func addRun(t *testing.T, store *db.Store, status string, at time.Time) *db.FeedRun {
	t.Helper()
	ctx := context.Background()
	if _, err := store.QueueRun(ctx, db.RequestedByCLI, false); err != nil {
		t.Fatal(err)
	}
	run, err := store.ClaimRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status == db.RunRunning {
		_, err := store.DB().W.NewUpdate().Model((*db.FeedRun)(nil)).
			Set("updated_at = ?", at).Set("started_at = ?", at).Where("id = ?", run.ID).Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	finished, err := store.FinishRun(ctx, run.ID, status, db.FeedRunResult{FinishedAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	return finished
}

// runsBy counts the runs requested by who.
func runsBy(t *testing.T, store *db.Store, who string) int {
	t.Helper()
	list, err := store.ListRuns(context.Background(), 100, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range list.Runs {
		if r.RequestedBy == who {
			n++
		}
	}
	return n
}

// TestSchedulerStartupRun: at start-up the scheduler queues and carries out
// a run when no run succeeded within StaleAfter, and only then.
func TestSchedulerStartupRun(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	type priorRun struct {
		status string
		at     time.Time // finished
	}
	tests := []struct {
		name        string
		prior       []priorRun
		wantStartup bool
	}{
		{"no run ever", nil, true},
		{"last success 25 hours ago", []priorRun{{db.RunCompleted, now.Add(-25 * time.Hour)}}, true},
		{"a failure since an old success",
			[]priorRun{{db.RunCompleted, now.Add(-48 * time.Hour)}, {db.RunFailed, now.Add(-time.Hour)}}, true},
		{"last success an hour ago", []priorRun{{db.RunCompleted, now.Add(-time.Hour)}}, false},
		{"not modified an hour ago counts as success",
			[]priorRun{{db.RunCompleted, now.Add(-48 * time.Hour)}, {db.RunNotModified, now.Add(-time.Hour)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newSchedulerHarness(t, "")
			for _, p := range tt.prior {
				addRun(t, h.store, p.status, p.at)
			}
			h.start(t)
			if tt.wantStartup {
				run := h.waitRun(t)
				if run.RequestedBy != db.RequestedByStartup || run.Status != db.RunCompleted || run.ItemsChanged != 25 {
					t.Errorf("run %d: requested by %s, %s, changed %d; want a completed startup run of the feed",
						run.ID, run.RequestedBy, run.Status, run.ItemsChanged)
				}
			} else {
				// Start-up is over once the scheduler polls; an API run
				// then proves it alive.
				h.waitPolls(t, 2)
				if _, err := h.store.QueueRun(context.Background(), db.RequestedByAPI, false); err != nil {
					t.Fatalf("queue an API run: %v", err)
				}
				if run := h.waitRun(t); run.RequestedBy != db.RequestedByAPI {
					t.Errorf("the scheduler carried out a run requested by %s, want the API's", run.RequestedBy)
				}
			}
			want := 0
			if tt.wantStartup {
				want = 1
			}
			if got := runsBy(t, h.store, db.RequestedByStartup); got != want {
				t.Errorf("%d startup runs, want %d", got, want)
			}
		})
	}
}

// TestSchedulerRunsQueuedRuns: runs the APIs queue while the scheduler runs
// are claimed and carried out, one at a time, with their force flag.
func TestSchedulerRunsQueuedRuns(t *testing.T) {
	t.Parallel()
	h := newSchedulerHarness(t, "")
	addRun(t, h.store, db.RunCompleted, time.Now().UTC().Add(-time.Minute))
	h.start(t)
	ctx := context.Background()
	for i, force := range []bool{false, true} {
		queued, err := h.store.QueueRun(ctx, db.RequestedByAPI, force)
		if err != nil {
			t.Fatalf("queue run %d: %v (the previous run should be finished)", i, err)
		}
		run := h.waitRun(t)
		if run.ID != queued.ID || run.Status != db.RunCompleted || run.Force != force {
			t.Errorf("run %d: finished run %d (%s, force %v), want run %d completed with force %v",
				i, run.ID, run.Status, run.Force, queued.ID, force)
		}
	}
}

// TestSchedulerAbandonedRuns: a running run that nobody touched for
// AbandonAfter is failed, so that a new run can take the slot; a run that
// is still touched is left alone.
func TestSchedulerAbandonedRuns(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	tests := []struct {
		name          string
		lastSuccess   *time.Time
		touched       time.Time // updated_at of the running run
		wantAbandoned bool
		next          string // who requests the run carried out next; "" for none
	}{
		{"abandoned at start-up: failed, and the startup run goes ahead", nil, now.Add(-10 * time.Minute), true, db.RequestedByStartup},
		{"abandoned while idle: failed, and an API run can be queued", ptr(now.Add(-time.Hour)), now.Add(-10 * time.Minute), true, db.RequestedByAPI},
		{"touched a minute ago: left running", ptr(now.Add(-time.Hour)), now.Add(-time.Minute), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newSchedulerHarness(t, "")
			ctx := context.Background()
			if tt.lastSuccess != nil {
				addRun(t, h.store, db.RunCompleted, *tt.lastSuccess)
			}
			stuck := addRun(t, h.store, db.RunRunning, tt.touched)
			h.start(t)
			h.waitPolls(t, 3)

			got, err := h.store.GetRun(ctx, stuck.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantAbandoned {
				if got.Status != db.RunRunning {
					t.Errorf("a run touched a minute ago is %s, want running", got.Status)
				}
				var active *db.ActiveRunError
				if _, err := h.store.QueueRun(ctx, db.RequestedByAPI, false); !errors.As(err, &active) || active.RunID != stuck.ID {
					t.Errorf("queueing beside a live run: %v, want an ActiveRunError naming run %d", err, stuck.ID)
				}
				return
			}
			if got.Status != db.RunFailed || got.FinishedAt == nil || got.Error == nil {
				t.Fatalf("abandoned run is %s (finished %v, error %v), want failed", got.Status, got.FinishedAt, got.Error)
			}
			if tt.next == db.RequestedByAPI {
				if _, err := h.store.QueueRun(ctx, db.RequestedByAPI, false); err != nil {
					t.Fatalf("queue an API run after the abandoned one: %v", err)
				}
			}
			run := h.waitRun(t)
			if run.RequestedBy != tt.next || run.Status != db.RunCompleted {
				t.Errorf("next run: requested by %s, %s; want a completed run requested by %s", run.RequestedBy, run.Status, tt.next)
			}
		})
	}
}

// TestSchedulerScheduleFires: when the schedule comes due, a run is queued
// and carried out.
func TestSchedulerScheduleFires(t *testing.T) {
	t.Parallel()
	h := newSchedulerHarness(t, "")
	addRun(t, h.store, db.RunCompleted, time.Now().UTC().Add(-time.Hour))
	h.sched.Schedule = &onceSchedule{at: time.Now().Add(100 * time.Millisecond)}
	h.start(t)
	run := h.waitRun(t)
	if run.RequestedBy != db.RequestedBySchedule || run.Status != db.RunCompleted {
		t.Errorf("run requested by %s, %s; want a completed scheduled run", run.RequestedBy, run.Status)
	}
}

// TestSchedulerStop: cancelling Run's context stops it; a run in progress
// is cut short and recorded as failed, not left running.
func TestSchedulerStop(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		h := newSchedulerHarness(t, "")
		addRun(t, h.store, db.RunCompleted, time.Now().UTC().Add(-time.Hour))
		h.start(t)
		h.waitPolls(t, 1)
		h.stop(t)
	})
	t.Run("during a run", func(t *testing.T) {
		t.Parallel()
		feed := genFeed(t, feedgen.Options{Items: 25, Seed: 82})
		streaming := make(chan struct{})
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			w.Header().Set("Content-Length", "1000000")
			w.Write(feed[:len(feed)/2])
			w.(http.Flusher).Flush()
			close(streaming)
			waitForClient(r)
		})
		h := newSchedulerHarness(t, srv.URL+"/feed.json")
		h.sched.Runner.Fetcher.IdleTimeout = testTimeout // the stall must outlast the test's steps
		addRun(t, h.store, db.RunCompleted, time.Now().UTC().Add(-time.Hour))
		h.start(t)
		queued, err := h.store.QueueRun(context.Background(), db.RequestedByAPI, false)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-streaming:
		case <-time.After(testTimeout):
			t.Fatal("the run never fetched the feed")
		}
		// The heartbeat keeps the run from looking abandoned.
		deadline := time.Now().Add(testTimeout)
		for {
			run, err := h.store.GetRun(context.Background(), queued.ID)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != db.RunRunning {
				t.Fatalf("run %d is %s before it was cut short (error %q)", run.ID, run.Status, derefOr(run.Error, ""))
			}
			if run.StartedAt != nil && run.UpdatedAt.After(*run.StartedAt) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d was never touched while it ran (started %v, updated %v)", run.ID, run.StartedAt, run.UpdatedAt)
			}
			time.Sleep(5 * time.Millisecond)
		}
		h.stop(t)
		run, err := h.store.GetRun(context.Background(), queued.ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != db.RunFailed || run.Error == nil || run.FinishedAt == nil {
			t.Errorf("run cut short is %s (error %v, finished %v), want failed", run.Status, run.Error, run.FinishedAt)
		}
		if _, err := h.store.ActiveRun(context.Background()); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("after stopping, an active run remains: %v", err)
		}
	})
}

// TestSchedulerStartupRunAfterCrash: a process restarted right after a
// crash finds its crashed run still holding the slot, not yet abandoned.
// The start-up run is only delayed: once the crashed run is failed as
// abandoned, the scheduler queues it.
func TestSchedulerStartupRunAfterCrash(t *testing.T) {
	t.Parallel()
	h := newSchedulerHarness(t, "")
	crashed := addRun(t, h.store, db.RunRunning, time.Now().UTC().Add(-time.Minute))
	var elapsed atomic.Int64 // how far the scheduler's clock is ahead
	h.sched.now = func() time.Time { return time.Now().UTC().Add(time.Duration(elapsed.Load())) }
	h.start(t)
	h.waitPolls(t, 3)
	if run, err := h.store.GetRun(context.Background(), crashed.ID); err != nil {
		t.Fatal(err)
	} else if run.Status != db.RunRunning {
		t.Fatalf("the crashed run is %s before AbandonAfter passed, want running", run.Status)
	}

	elapsed.Store(int64(10 * time.Minute)) // AbandonAfter (5m) passes
	run := h.waitRun(t)
	if run.RequestedBy != db.RequestedByStartup || run.Status != db.RunCompleted {
		t.Errorf("next run: requested by %s, %s; want the completed startup run", run.RequestedBy, run.Status)
	}
	if got, err := h.store.GetRun(context.Background(), crashed.ID); err != nil {
		t.Fatal(err)
	} else if got.Status != db.RunFailed {
		t.Errorf("the crashed run is %s, want failed as abandoned", got.Status)
	}
}

// TestSchedulerPrunesRuns: the scheduler deletes the runs that finished more
// than KeepRuns ago when it starts, keeping the last completed one; with
// KeepRuns zero it keeps every run.
func TestSchedulerPrunesRuns(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		name       string
		keep       time.Duration
		wantPruned map[string]bool
	}{
		{"keep 90 days", 90 * day, map[string]bool{"completed 200d": true, "failed 100d": true}},
		{"keep 150 days", 150 * day, map[string]bool{"completed 200d": true}},
		{"keep zero: pruning off", 0, map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newSchedulerHarness(t, "")
			h.sched.KeepRuns = tt.keep
			now := time.Now().UTC()
			runs := map[string]*db.FeedRun{}
			for _, r := range []struct {
				name, status string
				age          time.Duration
			}{
				{"completed 200d", db.RunCompleted, 200 * day},
				{"failed 100d", db.RunFailed, 100 * day},
				{"completed 1h", db.RunCompleted, time.Hour}, // fresh: no start-up run
			} {
				runs[r.name] = addRun(t, h.store, r.status, now.Add(-r.age))
			}
			h.start(t)
			h.waitPolls(t, 2)
			h.stop(t)
			for name, run := range runs {
				_, err := h.store.GetRun(context.Background(), run.ID)
				if pruned := tt.wantPruned[name]; pruned != errors.Is(err, db.ErrNotFound) {
					t.Errorf("run %q: GetRun = %v; want pruned %v", name, err, pruned)
				}
			}
		})
	}
}
