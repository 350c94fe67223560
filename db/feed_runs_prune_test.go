package db_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"marquee/db"
)

func TestPruneRuns(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	type run struct {
		name   string
		status string        // "running": claimed, not finished
		age    time.Duration // how long ago it finished
	}
	tests := []struct {
		name       string
		runs       []run
		wantPruned []string
	}{
		{
			name: "runs finished before the cut-off go, with their rejects and warnings",
			runs: []run{
				{"completed 200d", db.RunCompleted, 200 * day},
				{"failed 120d", db.RunFailed, 120 * day},
				{"not modified 91d", db.RunNotModified, 91 * day},
				{"completed 89d", db.RunCompleted, 89 * day},
				{"failed 1d", db.RunFailed, day},
			},
			wantPruned: []string{"completed 200d", "failed 120d", "not modified 91d"},
		},
		{
			name: "the last completed run stays however old",
			runs: []run{
				{"completed 300d", db.RunCompleted, 300 * day},
				{"completed 200d", db.RunCompleted, 200 * day},
				{"failed 150d", db.RunFailed, 150 * day},
				{"not modified 100d", db.RunNotModified, 100 * day},
				{"failed 2d", db.RunFailed, 2 * day},
			},
			wantPruned: []string{"completed 300d", "failed 150d", "not modified 100d"},
		},
		{
			name: "a running run is never pruned",
			runs: []run{
				{"failed 100d", db.RunFailed, 100 * day},
				{"running", "running", 0},
			},
			wantPruned: []string{"failed 100d"},
		},
		{
			name:       "nothing old: nothing pruned",
			runs:       []run{{"completed 3d", db.RunCompleted, 3 * day}, {"failed 1d", db.RunFailed, day}},
			wantPruned: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, s *db.Store) {
				ctx := context.Background()
				now := time.Now().UTC()
				ids := map[string]int64{}
				for _, r := range tt.runs {
					if _, err := s.QueueRun(ctx, db.RequestedBySchedule, false); err != nil {
						t.Fatalf("QueueRun %s: %v", r.name, err)
					}
					claimed, err := s.ClaimRun(ctx)
					if err != nil {
						t.Fatalf("ClaimRun %s: %v", r.name, err)
					}
					ids[r.name] = claimed.ID
					if _, err := s.AddRejects(ctx, claimed.ID, rejects(0, 3, r.name)); err != nil {
						t.Fatal(err)
					}
					if _, err := s.AddWarnings(ctx, claimed.ID, []db.FeedRunWarning{{ItemIndex: 1, Field: "age", Value: "-1", Reason: "must be at least 0"}}); err != nil {
						t.Fatal(err)
					}
					if r.status == "running" {
						continue
					}
					finished := now.Add(-r.age)
					if _, err := s.FinishRun(ctx, claimed.ID, r.status, db.FeedRunResult{FinishedAt: &finished}); err != nil {
						t.Fatalf("FinishRun %s: %v", r.name, err)
					}
				}

				got, err := s.PruneRuns(ctx, now.Add(-90*day))
				if err != nil {
					t.Fatalf("PruneRuns: %v", err)
				}
				n := int64(len(tt.wantPruned))
				if want := (db.PrunedRuns{Runs: n, Rejects: 3 * n, Warnings: n}); got != want {
					t.Errorf("PruneRuns = %+v, want %+v", got, want)
				}
				for _, r := range tt.runs {
					pruned := slices.Contains(tt.wantPruned, r.name)
					_, err := s.GetRun(ctx, ids[r.name])
					switch {
					case pruned && !errors.Is(err, db.ErrNotFound):
						t.Errorf("run %q: GetRun = %v, want it pruned (ErrNotFound)", r.name, err)
					case !pruned && err != nil:
						t.Errorf("run %q: GetRun = %v, want it kept", r.name, err)
					case !pruned:
						if rej, err := s.Rejects(ctx, ids[r.name], 10); err != nil || len(rej) != 3 {
							t.Errorf("run %q kept with %d rejects (%v), want 3", r.name, len(rej), err)
						}
					}
				}
				if again, err := s.PruneRuns(ctx, now.Add(-90*day)); err != nil || again != (db.PrunedRuns{}) {
					t.Errorf("second PruneRuns = %+v, %v; want nothing pruned", again, err)
				}
			})
		})
	}
}
