package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"marquee/db"
)

// schedulerStore is what the Scheduler needs of db.Store.
type schedulerStore interface {
	QueueRun(ctx context.Context, requestedBy string, force bool) (*db.FeedRun, error)
	ClaimRun(ctx context.Context) (*db.FeedRun, error)
	LastRun(ctx context.Context, statuses ...string) (*db.FeedRun, error)
	TouchRun(ctx context.Context, id int64) error
	FailAbandonedRuns(ctx context.Context, before time.Time) (int64, error)
	PruneRuns(ctx context.Context, before time.Time) (db.PrunedRuns, error)
}

// ParseSchedule parses a standard five-field cron expression, evaluated in UTC.
func ParseSchedule(expr string) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("feed schedule %q: %w", expr, err)
	}
	return sched, nil
}

// Scheduler queues feed runs on the schedule (and at start-up when the last
// successful run is older than StaleAfter), claims queued runs, including the
// ones the APIs insert, and carries them out one at a time. Where a field
// names a default, zero means that default; Run and RunClaimed only read the
// fields.
type Scheduler struct {
	Store    schedulerStore
	Runner   *Runner
	Schedule cron.Schedule
	// Logger receives the runs queued, started and finished. Nil means
	// slog.Default().
	Logger *slog.Logger
	// PollInterval is how often queued runs are looked for (5s: an API
	// trigger starts within seconds without busy polling).
	PollInterval time.Duration
	// StaleAfter: at start-up, a run is queued when the last successful one
	// is older than this (24h).
	StaleAfter time.Duration
	// Heartbeat is how often a running run is touched (30s); a run not
	// touched for AbandonAfter (5m) is failed as abandoned.
	Heartbeat    time.Duration
	AbandonAfter time.Duration
	// KeepRuns is how long finished runs are kept, with their rejects and
	// warnings: when Run starts and every PruneEvery (24h) after, older ones
	// are deleted, except the last completed run. Zero keeps every run.
	KeepRuns   time.Duration
	PruneEvery time.Duration
	// OnFinish, when set, sees every finished run.
	OnFinish func(Summary)
	now      func() time.Time
}

// withDefaults returns what Run and RunClaimed use: a copy of s with the
// default of every zero or negative field.
func (s *Scheduler) withDefaults() *Scheduler {
	c := *s
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 24 * time.Hour
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 30 * time.Second
	}
	if c.AbandonAfter <= 0 {
		c.AbandonAfter = 5 * time.Minute
	}
	if c.PruneEvery <= 0 {
		c.PruneEvery = 24 * time.Hour
	}
	if c.now == nil {
		c.now = func() time.Time { return time.Now().UTC() }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &c
}

// Run schedules and carries out runs until ctx is cancelled. A run in
// progress when ctx is cancelled is cut short and recorded as failed.
func (s *Scheduler) Run(ctx context.Context) error {
	return s.withDefaults().run(ctx)
}

// run is Run on a Scheduler with its defaults set.
func (s *Scheduler) run(ctx context.Context) error {
	// A run abandoned by a crashed process holds the active slot: free it
	// first, or the start-up run could not be queued.
	// Stopped while starting is stopped, not a failure to start.
	if err := s.failAbandonedRuns(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("scheduler: %w", err)
	}
	startupPending, err := s.queueIfStale(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	next := s.Schedule.Next(s.now())
	var nextPrune time.Time // the zero time: prune at start
	poll := time.NewTicker(s.PollInterval)
	defer poll.Stop()
	for {
		if s.KeepRuns > 0 && !s.now().Before(nextPrune) {
			nextPrune = s.now().Add(s.PruneEvery)
			s.pruneRuns(ctx)
		}
		if startupPending {
			// The start-up run could not be queued (the slot was held, say by
			// a run a crash left behind that is not yet abandoned): try again
			// until it is queued or no longer due.
			if pending, err := s.queueIfStale(ctx); err != nil {
				if ctx.Err() == nil {
					s.Logger.Error("feed run", "error", err)
				}
			} else {
				startupPending = pending
			}
		}
		if err := s.claimAndRun(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("feed run", "error", err)
		}
		wait := time.NewTimer(max(0, next.Sub(s.now())))
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil
		case <-wait.C:
			next = s.Schedule.Next(s.now())
			s.queue(ctx, db.RequestedBySchedule)
		case <-poll.C:
			wait.Stop()
		}
	}
}

// queueIfStale queues a run when no run succeeded within StaleAfter. It
// reports pending when such a run is due but could not be queued.
func (s *Scheduler) queueIfStale(ctx context.Context) (pending bool, err error) {
	last, err := s.Store.LastRun(ctx, db.RunCompleted, db.RunNotModified)
	switch {
	case errors.Is(err, db.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("scheduler: %w", err)
	case last.FinishedAt != nil && s.now().Sub(*last.FinishedAt) < s.StaleAfter:
		return false, nil
	}
	return s.queue(ctx, db.RequestedByStartup) != nil, nil
}

// queue queues a run and logs the outcome; it returns the error of QueueRun.
func (s *Scheduler) queue(ctx context.Context, by string) error {
	run, err := s.Store.QueueRun(ctx, by, false)
	var active *db.ActiveRunError
	switch {
	case errors.As(err, &active):
		s.Logger.Info("feed run not queued: another is active", "requested_by", by, "active_run", active.RunID, "status", active.Status)
	case err != nil:
		s.Logger.Error("queue feed run", "requested_by", by, "error", err)
	default:
		s.Logger.Info("feed run queued", "run", run.ID, "requested_by", by)
	}
	return err
}

// claimAndRun frees the slot of abandoned runs, then carries out the queued
// run, if any.
func (s *Scheduler) claimAndRun(ctx context.Context) error {
	if err := s.failAbandonedRuns(ctx); err != nil {
		return err
	}
	run, err := s.Store.ClaimRun(ctx)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	summary, err := s.runClaimed(ctx, run)
	if err != nil {
		return err
	}
	if s.OnFinish != nil {
		s.OnFinish(summary)
	}
	return nil
}

// pruneRuns deletes the runs that finished more than KeepRuns ago. A failure
// is logged: the next prune tries again.
func (s *Scheduler) pruneRuns(ctx context.Context) {
	pruned, err := s.Store.PruneRuns(ctx, s.now().Add(-s.KeepRuns))
	switch {
	case err != nil && ctx.Err() == nil:
		s.Logger.Error("prune feed runs", "keep", s.KeepRuns.String(), "error", err)
	case pruned.Runs > 0:
		s.Logger.Info("pruned feed runs", "keep", s.KeepRuns.String(), "runs", pruned.Runs,
			"rejects", pruned.Rejects, "warnings", pruned.Warnings)
	}
}

// failAbandonedRuns fails the running runs not touched for AbandonAfter.
func (s *Scheduler) failAbandonedRuns(ctx context.Context) error {
	n, err := s.Store.FailAbandonedRuns(ctx, s.now().Add(-s.AbandonAfter))
	if err != nil {
		return err
	}
	if n > 0 {
		s.Logger.Warn("failed abandoned feed runs", "count", n)
	}
	return nil
}

// RunClaimed carries out a claimed run, touching it while it goes on.
func (s *Scheduler) RunClaimed(ctx context.Context, run *db.FeedRun) (Summary, error) {
	return s.withDefaults().runClaimed(ctx, run)
}

// runClaimed is RunClaimed on a Scheduler with its defaults set.
func (s *Scheduler) runClaimed(ctx context.Context, run *db.FeedRun) (Summary, error) {
	s.Logger.Info("feed run started", "run", run.ID, "requested_by", run.RequestedBy, "force", run.Force)
	heartbeatCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		tick := time.NewTicker(s.Heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-heartbeatCtx.Done():
				return
			case <-tick.C:
				if err := s.Store.TouchRun(heartbeatCtx, run.ID); err != nil && heartbeatCtx.Err() == nil {
					s.Logger.Warn("touch feed run", "run", run.ID, "error", err)
				}
			}
		}
	}()
	summary, err := s.Runner.Run(ctx, run)
	if err != nil {
		return summary, err
	}
	level := slog.LevelInfo
	if summary.Err != nil {
		level = slog.LevelError
	}
	s.Logger.Log(ctx, level, "feed run finished", "run", run.ID, "summary", summary.String(), "error", summary.Err)
	return summary, nil
}
