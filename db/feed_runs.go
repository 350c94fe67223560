package db

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// MaxRejectsPerRun caps the rejected items recorded for one run: a broken
// feed with 21,000 bad items needs a sample and a count, not 21,000 rows.
const MaxRejectsPerRun = 1000

// Who asked for a feed run.
const (
	RequestedBySchedule = "schedule"
	RequestedByStartup  = "startup"
	RequestedByAPI      = "api"
	RequestedByCLI      = "cli"
)

// QueueRun inserts a queued feed run for the scheduler to claim. While
// another run is queued or running it fails with an *ActiveRunError naming it
// (errors.Is(err, ErrConflict)).
func (s *Store) QueueRun(ctx context.Context, requestedBy string, force bool) (*FeedRun, error) {
	const op = "queue feed run"
	if err := checkText("requested_by", requestedBy, maxShortLen); err != nil || requestedBy == "" {
		return nil, s.fail(op, fieldError("requested_by", "must be a short non-empty name"))
	}
	now := s.now()
	one := int32(1)
	run := &FeedRun{Status: RunQueued, ActiveSlot: &one, RequestedBy: requestedBy, Force: force, Version: 1, QueuedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewInsert().Model(run).ExcludeColumn("id").Returning("id").Exec(ctx)
		return err
	})
	if err != nil && errors.Is(err, ErrConflict) {
		active, aerr := s.activeRun(ctx)
		if aerr != nil {
			return nil, s.fail(op, aerr)
		}
		return nil, s.fail(op, &ActiveRunError{RunID: active.ID, Status: active.Status})
	}
	if err != nil {
		return nil, err
	}
	return run, nil
}

// ActiveRun returns the queued or running feed run, or ErrNotFound.
func (s *Store) ActiveRun(ctx context.Context) (*FeedRun, error) {
	run, err := s.activeRun(ctx)
	return run, s.fail("get active feed run", err)
}

func (s *Store) activeRun(ctx context.Context) (*FeedRun, error) {
	run := new(FeedRun)
	err := s.db.W.NewSelect().Model(run).Where("fr.active_slot IS NOT NULL").Limit(1).Scan(ctx)
	return run, err
}

// ClaimRun moves the queued run to running and returns it, or ErrNotFound
// when none is queued. Only one caller can claim a given run.
func (s *Store) ClaimRun(ctx context.Context) (*FeedRun, error) {
	const op = "claim feed run"
	var claimed *FeedRun
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		run := new(FeedRun)
		q := tx.NewSelect().Model(run).Where("fr.status = ?", RunQueued).Order("fr.id").Limit(1)
		if err := s.forUpdate(q).Scan(ctx); err != nil {
			return err
		}
		now := s.now()
		res, err := tx.NewUpdate().Model((*FeedRun)(nil)).
			Set("status = ?", RunRunning).Set("started_at = ?", now).Set("updated_at = ?", now).
			Set("version = version + 1").
			Where("id = ?", run.ID).Where("status = ?", RunQueued).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(ErrNotFound, err)
		}
		run.Status, run.StartedAt, run.UpdatedAt = RunRunning, &now, now
		run.Version++
		claimed = run
		return nil
	})
	return claimed, err
}

// FinishRun records the outcome of a running run: status is completed,
// not_modified or failed. Finishing a run that is not running is ErrConflict.
func (s *Store) FinishRun(ctx context.Context, id int64, status string, result FeedRunResult) (*FeedRun, error) {
	const op = "finish feed run"
	switch status {
	case RunCompleted, RunNotModified, RunFailed:
	default:
		return nil, s.fail(op, fieldError("status", "must be completed, not_modified or failed"))
	}
	result.Error = truncateRunText(result.Error)
	result.RemovalsSuppressedReason = truncateRunText(result.RemovalsSuppressedReason)
	for _, f := range []struct {
		name  string
		value *string
		max   int
	}{{"source", result.Source, maxURLLen}, {"etag", result.ETag, 1024}, {"last_modified", result.LastModified, 64}} {
		if f.value != nil {
			if err := checkText(f.name, *f.value, f.max); err != nil {
				return nil, s.fail(op, err)
			}
		}
	}
	var finished *FeedRun
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		run := new(FeedRun)
		if err := s.forUpdate(tx.NewSelect().Model(run).Where("fr.id = ?", id)).Scan(ctx); err != nil {
			return err
		}
		if run.Status != RunRunning {
			return fmt.Errorf("%w: feed run %d is %s, not running", ErrConflict, id, run.Status)
		}
		now := s.now()
		if result.FinishedAt == nil {
			result.FinishedAt = &now
		}
		run.Status, run.ActiveSlot, run.FeedRunResult, run.UpdatedAt = status, nil, result, now
		run.Version++
		if _, err := tx.NewUpdate().Model(run).WherePK().Exec(ctx); err != nil {
			return err
		}
		finished = run
		return nil
	})
	return finished, err
}

// truncateRunText cuts a run's free text (an error, a reason) to what its
// TEXT column holds on both dialects.
func truncateRunText(text *string) *string {
	if text == nil {
		return nil
	}
	cut := truncateRunes(*text, 16000)
	return &cut
}

// AddRejects records rejected feed items of a run, up to MaxRejectsPerRun in
// all; the rest are only counted by the caller. It returns how many it kept.
func (s *Store) AddRejects(ctx context.Context, runID int64, rejects []FeedRunReject) (int, error) {
	return addCapped(ctx, s, "add feed run rejects", runID, MaxRejectsPerRun, rejects, func(r *FeedRunReject) {
		r.ID, r.FeedRunID = 0, runID
		r.Reason = truncateRunes(strings.ToValidUTF8(r.Reason, "\uFFFD"), 1024)
	})
}

// MaxWarningsPerRun caps the field warnings recorded for one run; the run's
// Warnings counts them all.
const MaxWarningsPerRun = 1000

// AddWarnings records field warnings of a run, up to MaxWarningsPerRun in
// all; the rest are only counted by the caller. It returns how many it kept.
func (s *Store) AddWarnings(ctx context.Context, runID int64, warnings []FeedRunWarning) (int, error) {
	return addCapped(ctx, s, "add feed run warnings", runID, MaxWarningsPerRun, warnings, func(w *FeedRunWarning) {
		w.ID, w.FeedRunID = 0, runID
		w.Field = truncateRunes(strings.ToValidUTF8(w.Field, "\uFFFD"), 255)
		w.Value = truncateRunes(strings.ToValidUTF8(w.Value, "\uFFFD"), 255)
		w.Reason = truncateRunes(strings.ToValidUTF8(w.Reason, "\uFFFD"), 1024)
	})
}

// addCapped inserts rows of one of a run's capped tables (rejects,
// warnings), up to max rows per run in all, each made storable by prepare.
// It returns how many it kept; an unknown run is ErrNotFound.
func addCapped[T any](ctx context.Context, s *Store, op string, runID int64, max int, rows []T, prepare func(*T)) (int, error) {
	kept := 0
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		kept = 0
		// Locking the run serialises writers of its rows, so concurrent
		// calls cannot both see room under the cap.
		run := new(FeedRun)
		if err := s.forUpdate(tx.NewSelect().Model(run).Column("id").Where("fr.id = ?", runID)).Scan(ctx); err != nil {
			return err
		}
		have, err := tx.NewSelect().Model((*T)(nil)).Where("feed_run_id = ?", runID).Count(ctx)
		if err != nil {
			return err
		}
		room := max - int(have)
		if room <= 0 {
			return nil
		}
		batch := make([]T, 0, min(room, len(rows)))
		for _, r := range rows[:min(room, len(rows))] {
			prepare(&r)
			batch = append(batch, r)
		}
		if err := insertRows(ctx, tx, &s.db.inserts, batch, "id"); err != nil {
			return err
		}
		kept = len(batch)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return kept, nil
}

// Rejects returns the recorded rejects of a run in item order, at most limit.
func (s *Store) Rejects(ctx context.Context, runID int64, limit int) ([]FeedRunReject, error) {
	var rows []FeedRunReject
	err := s.db.R.NewSelect().Model(&rows).Where("frr.feed_run_id = ?", runID).Order("frr.item_index", "frr.id").Limit(int64(limit)).Scan(ctx)
	return rows, s.fail("list feed run rejects", err)
}

// WarningList is one page of a run's field warnings, in feed order.
type WarningList struct {
	Warnings   []FeedRunWarning
	NextCursor string // empty on the last page
	Total      int64  // the warnings kept for the run, on every page
}

// Warnings returns the recorded field warnings of a run in feed order, first
// at a time (1..MaxWarningsPerRun), after the opaque cursor of a previous
// page (a cursor of another run is ErrInvalid). An unknown run is
// ErrNotFound.
func (s *Store) Warnings(ctx context.Context, runID int64, first int, after string) (*WarningList, error) {
	const op = "list feed run warnings"
	if first < 1 || first > MaxWarningsPerRun {
		return nil, s.fail(op, fieldError("first", fmt.Sprintf("must be between 1 and %d", MaxWarningsPerRun)))
	}
	scope := warningsCursorScope(runID)
	var afterID int64
	if after != "" {
		id, err := decodeIDCursor(after, scope)
		if err != nil {
			return nil, s.fail(op, err)
		}
		afterID = id
	}
	if _, err := s.GetRun(ctx, runID); err != nil {
		return nil, err
	}
	total, err := s.db.R.NewSelect().Model((*FeedRunWarning)(nil)).Where("feed_run_id = ?", runID).Count(ctx)
	if err != nil {
		return nil, s.fail(op, err)
	}
	var rows []FeedRunWarning
	err = s.db.R.NewSelect().Model(&rows).Where("frw.feed_run_id = ?", runID).Where("frw.id > ?", afterID).
		Order("frw.id").Limit(int64(first) + 1).Scan(ctx)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := &WarningList{Warnings: rows, Total: int64(total)}
	if len(rows) > first {
		out.Warnings = rows[:first]
		out.NextCursor = encodeCursor(cursor{Scope: scope, ID: rows[first-1].ID})
	}
	return out, nil
}

// warningsCursorScope binds a cursor of warnings to its run.
func warningsCursorScope(runID int64) string {
	return "feed_run_warnings/" + strconv.FormatInt(runID, 10)
}

// GetRun returns one feed run.
func (s *Store) GetRun(ctx context.Context, id int64) (*FeedRun, error) {
	run := new(FeedRun)
	if err := s.db.R.NewSelect().Model(run).Where("fr.id = ?", id).Limit(1).Scan(ctx); err != nil {
		return nil, s.fail("get feed run", err)
	}
	return run, nil
}

// LastCompletedRun returns the newest completed run (the one whose ETag and
// Last-Modified a conditional GET sends), from the primary.
func (s *Store) LastCompletedRun(ctx context.Context) (*FeedRun, error) {
	return s.LastRun(ctx, RunCompleted)
}

// LastRun returns the newest run with one of these statuses, from the
// primary, or ErrNotFound.
func (s *Store) LastRun(ctx context.Context, statuses ...string) (*FeedRun, error) {
	run := new(FeedRun)
	err := s.db.W.NewSelect().Model(run).Where("fr.status IN (?)", bun.List(statuses)).Order("fr.id DESC").Limit(1).Scan(ctx)
	if err != nil {
		return nil, s.fail("get last feed run", err)
	}
	return run, nil
}

// TouchRun records that the process running run id is alive; a running run
// that is not touched for a while is abandoned (see FailAbandonedRuns).
func (s *Store) TouchRun(ctx context.Context, id int64) error {
	return s.inTx(ctx, "touch feed run", func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewUpdate().Model((*FeedRun)(nil)).Set("updated_at = ?", s.now()).
			Where("id = ?", id).Where("status = ?", RunRunning).Exec(ctx)
		return err
	})
}

// FailAbandonedRuns marks failed every running run not touched since before,
// whose process died without finishing it, so that the active slot frees up.
// It returns how many it failed.
func (s *Store) FailAbandonedRuns(ctx context.Context, before time.Time) (int64, error) {
	now := s.now()
	msg := "abandoned: the process running it stopped without finishing it"
	var failed int64
	err := s.inTx(ctx, "fail abandoned feed runs", func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*FeedRun)(nil)).
			Set("status = ?", RunFailed).Set("active_slot = NULL").Set("error = ?", msg).
			Set("finished_at = ?", now).Set("updated_at = ?", now).Set("version = version + 1").
			Where("status = ?", RunRunning).Where("updated_at < ?", before.UTC()).Exec(ctx)
		if err != nil {
			return err
		}
		failed, err = res.RowsAffected()
		return err
	})
	return failed, err
}

// RunList is one page of feed runs, newest first.
type RunList struct {
	Runs       []FeedRun
	NextCursor string // empty on the last page
	Total      int64
}

// ListRuns returns feed runs newest first, first at a time (1..100), after
// the opaque cursor of a previous page.
func (s *Store) ListRuns(ctx context.Context, first int, after string) (*RunList, error) {
	const op = "list feed runs"
	if first < 1 || first > MaxPageSize {
		return nil, s.fail(op, fieldError("first", fmt.Sprintf("must be between 1 and %d", MaxPageSize)))
	}
	q := s.db.R.NewSelect().Model((*FeedRun)(nil))
	total, err := q.Count(ctx)
	if err != nil {
		return nil, s.fail(op, err)
	}
	var runs []FeedRun
	q = s.db.R.NewSelect().Model(&runs).Order("fr.id DESC").Limit(int64(first) + 1)
	if after != "" {
		id, err := decodeIDCursor(after, runsCursorScope)
		if err != nil {
			return nil, s.fail(op, err)
		}
		q = q.Where("fr.id < ?", id)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, s.fail(op, err)
	}
	out := &RunList{Runs: runs, Total: total}
	if len(runs) > first {
		out.Runs = runs[:first]
		out.NextCursor = encodeCursor(cursor{Scope: runsCursorScope, ID: runs[first-1].ID})
	}
	return out, nil
}

const runsCursorScope = "feed_runs"

// RunCursor is the opaque cursor of a feed run in ListRuns: passed as after,
// it continues with the runs older than runID. GraphQL gives one to every
// edge of a connection, where ListRuns gives only the page's last.
func RunCursor(runID int64) string {
	return encodeCursor(cursor{Scope: runsCursorScope, ID: runID})
}

func truncateRunes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max])
}

// PrunedRuns counts what PruneRuns deleted.
type PrunedRuns struct {
	Runs, Rejects, Warnings int64
}

// PruneRuns deletes the finished feed runs that finished before before, with
// their rejects and warnings, except the newest completed run: its ETag and
// Last-Modified make the next conditional GET, however old it is. Queued and
// running runs are never deleted. Safe to call from several processes at once.
func (s *Store) PruneRuns(ctx context.Context, before time.Time) (PrunedRuns, error) {
	const op = "prune feed runs"
	var pruned PrunedRuns
	err := s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		pruned = PrunedRuns{}
		var keep []int64
		err := tx.NewSelect().Model((*FeedRun)(nil)).Column("fr.id").
			Where("fr.status = ?", RunCompleted).Order("fr.id DESC").Limit(1).Scan(ctx, &keep)
		if err != nil {
			return err
		}
		keep = append(keep, 0) // no run has id 0: the list is never empty
		old := func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Model((*FeedRun)(nil)).Column("fr.id").
				Where("fr.status IN (?)", bun.List([]string{RunCompleted, RunNotModified, RunFailed})).
				Where("fr.finished_at < ?", before.UTC()).
				Where("fr.id NOT IN (?)", bun.List(keep))
		}
		for _, child := range []struct {
			table string
			count *int64
		}{{"feed_run_rejects", &pruned.Rejects}, {"feed_run_warnings", &pruned.Warnings}} {
			res, err := tx.NewDelete().TableExpr(child.table).
				Where("feed_run_id IN (?)", old(tx.NewSelect())).Exec(ctx)
			if err != nil {
				return err
			}
			if *child.count, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		var ids []int64
		if err := old(tx.NewSelect()).Scan(ctx, &ids); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		res, err := tx.NewDelete().Model((*FeedRun)(nil)).Where("id IN (?)", bun.List(ids)).Exec(ctx)
		if err != nil {
			return err
		}
		pruned.Runs, err = res.RowsAffected()
		return err
	})
	return pruned, err
}
