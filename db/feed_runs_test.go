package db_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"marquee/db"
	"marquee/internal/testkit"
)

// runResult has every FeedRunResult field set, none to its zero value.
func runResult() db.FeedRunResult {
	generated := time.Date(2023, 10, 29, 4, 15, 3, 0, time.UTC)
	finished := time.Date(2025, 6, 7, 8, 9, 10, 654321000, time.UTC)
	return db.FeedRunResult{
		Source:                   ptr("https://ph-c3fuhehkfqh6huc0.z01.azurefd.net/feed_pornstars.json"),
		HTTPStatus:               ptr(int32(200)),
		ETag:                     ptr(`W/"0x8DBD8A3C5E2B1F4"`),
		LastModified:             ptr("Sun, 29 Oct 2023 04:15:03 GMT"),
		GenerationDate:           &generated,
		Bytes:                    21_000_000_000,
		ItemsSeen:                21_003,
		ItemsValid:               21_000,
		ItemsRejected:            3,
		ItemsChanged:             20_140,
		ItemsRemoved:             12,
		ImagesRequested:          14_998,
		RemovalsSuppressed:       true,
		RemovalsSuppressedReason: ptr("feed shrank by 35% (65 distinct valid ids, 100 published before; limit 20%)"),
		Error:                    ptr("2 images failed: é"),
		FinishedAt:               &finished,
	}
}

// runDiff describes how got's result differs from want; "" when equal. Times
// compare as instants and must be in UTC.
func runDiff(want, got db.FeedRunResult) string {
	var diffs []string
	timeDiff := func(name string, w, g *time.Time) {
		if (w == nil) != (g == nil) || (w != nil && !w.Equal(*g)) {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
		if g != nil && g.Location() != time.UTC {
			diffs = append(diffs, fmt.Sprintf("%s is in %q, want UTC", name, g.Location()))
		}
	}
	timeDiff("GenerationDate", want.GenerationDate, got.GenerationDate)
	timeDiff("FinishedAt", want.FinishedAt, got.FinishedAt)
	if g, w := showRun(got), showRun(want); g != w {
		diffs = append(diffs, fmt.Sprintf("got %s\nwant %s", g, w))
	}
	return strings.Join(diffs, "; ")
}

func showRun(r db.FeedRunResult) string {
	deref := func(p any) string {
		switch p := p.(type) {
		case *string:
			if p != nil && len(*p) > 80 {
				return fmt.Sprintf("%.40q... (%d bytes, sha256 %.12s)", *p, len(*p), sha256Hex(*p))
			}
			if p != nil {
				return fmt.Sprintf("%q", *p)
			}
		case *int32:
			if p != nil {
				return fmt.Sprint(*p)
			}
		}
		return "nil"
	}
	return fmt.Sprintf("source=%s status=%s etag=%s last_modified=%s bytes=%d seen=%d valid=%d rejected=%d changed=%d removed=%d images=%d suppressed=%v reason=%s error=%s",
		deref(r.Source), deref(r.HTTPStatus), deref(r.ETag), deref(r.LastModified), r.Bytes, r.ItemsSeen, r.ItemsValid,
		r.ItemsRejected, r.ItemsChanged, r.ItemsRemoved, r.ImagesRequested, r.RemovalsSuppressed, deref(r.RemovalsSuppressedReason), deref(r.Error))
}

// checkActiveRunError checks that err names the active run id in status.
func checkActiveRunError(t *testing.T, err error, id int64, status string) {
	t.Helper()
	var active *db.ActiveRunError
	if !errors.As(err, &active) {
		t.Fatalf("error %v is not an *db.ActiveRunError", err)
	}
	if active.RunID != id || active.Status != status {
		t.Errorf("ActiveRunError names run %d (%s), want %d (%s)", active.RunID, active.Status, id, status)
	}
	if !errors.Is(err, db.ErrConflict) {
		t.Errorf("error %v is not ErrConflict", err)
	}
}

func TestFeedRunLifecycle(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		if _, err := s.LastCompletedRun(ctx); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("LastCompletedRun with no runs = %v, want ErrNotFound", err)
		}
		if _, err := s.ActiveRun(ctx); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("ActiveRun with no runs = %v, want ErrNotFound", err)
		}
		if _, err := s.ClaimRun(ctx); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("ClaimRun with none queued = %v, want ErrNotFound", err)
		}

		queued, err := s.QueueRun(ctx, db.RequestedByAPI, true)
		if err != nil {
			t.Fatalf("QueueRun: %v", err)
		}
		if queued.ID <= 0 || queued.Status != db.RunQueued || !queued.Force || queued.RequestedBy != db.RequestedByAPI || queued.StartedAt != nil {
			t.Errorf("QueueRun = %+v", queued)
		}
		checkUTC(t, "QueuedAt", queued.QueuedAt)
		stored, err := s.GetRun(ctx, queued.ID)
		if err != nil || stored.Status != db.RunQueued || !stored.Force || stored.RequestedBy != db.RequestedByAPI || !stored.QueuedAt.Equal(queued.QueuedAt) {
			t.Errorf("GetRun after QueueRun = %+v, %v", stored, err)
		}

		_, err = s.QueueRun(ctx, db.RequestedBySchedule, false)
		checkActiveRunError(t, err, queued.ID, db.RunQueued)
		if active, err := s.ActiveRun(ctx); err != nil || active.ID != queued.ID {
			t.Errorf("ActiveRun = %+v, %v; want run %d", active, err, queued.ID)
		}

		if _, err := s.FinishRun(ctx, queued.ID, db.RunCompleted, runResult()); !errors.Is(err, db.ErrConflict) {
			t.Errorf("FinishRun of a queued run = %v, want ErrConflict", err)
		}

		running, err := s.ClaimRun(ctx)
		if err != nil {
			t.Fatalf("ClaimRun: %v", err)
		}
		if running.ID != queued.ID || running.Status != db.RunRunning || running.StartedAt == nil || running.Version != queued.Version+1 {
			t.Errorf("ClaimRun = %+v, want run %d running, started, version %d", running, queued.ID, queued.Version+1)
		}
		if got, err := s.GetRun(ctx, queued.ID); err != nil || got.Status != db.RunRunning || got.StartedAt == nil || !got.StartedAt.Equal(*running.StartedAt) {
			t.Errorf("GetRun after ClaimRun = %+v, %v", got, err)
		} else {
			checkUTC(t, "StartedAt", *got.StartedAt)
		}
		if _, err := s.ClaimRun(ctx); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("ClaimRun while running = %v, want ErrNotFound", err)
		}
		_, err = s.QueueRun(ctx, db.RequestedByCLI, false)
		checkActiveRunError(t, err, queued.ID, db.RunRunning)

		if _, err := s.FinishRun(ctx, running.ID, db.RunQueued, db.FeedRunResult{}); !errors.Is(err, db.ErrInvalid) {
			t.Errorf("FinishRun with status queued = %v, want ErrInvalid", err)
		}
		if _, err := s.FinishRun(ctx, 999_999, db.RunCompleted, db.FeedRunResult{}); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("FinishRun of an unknown run = %v, want ErrNotFound", err)
		}

		want := runResult()
		finished, err := s.FinishRun(ctx, running.ID, db.RunCompleted, want)
		if err != nil {
			t.Fatalf("FinishRun: %v", err)
		}
		if finished.Status != db.RunCompleted || finished.ActiveSlot != nil {
			t.Errorf("FinishRun = status %s, active slot %v", finished.Status, finished.ActiveSlot)
		}
		got, err := s.GetRun(ctx, running.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := runDiff(want, got.FeedRunResult); diff != "" {
			t.Errorf("stored result differs: %s", diff)
		}
		if got.Status != db.RunCompleted || got.Version != running.Version+1 || !got.Force || got.RequestedBy != db.RequestedByAPI {
			t.Errorf("stored run = %+v", got)
		}
		if _, err := s.ActiveRun(ctx); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("ActiveRun after finishing = %v, want ErrNotFound", err)
		}

		if _, err := s.FinishRun(ctx, running.ID, db.RunFailed, db.FeedRunResult{}); !errors.Is(err, db.ErrConflict) {
			t.Errorf("FinishRun of a completed run = %v, want ErrConflict", err)
		}
		if last, err := s.LastCompletedRun(ctx); err != nil || last.ID != running.ID {
			t.Errorf("LastCompletedRun = %+v, %v; want run %d", last, err, running.ID)
		}

		// After finishing, a new run can be queued; a failed run is not the
		// last completed one.
		next, err := s.QueueRun(ctx, db.RequestedBySchedule, false)
		if err != nil {
			t.Fatalf("QueueRun after finishing: %v", err)
		}
		if next.ID == running.ID {
			t.Errorf("the new run reuses id %d", next.ID)
		}
		if _, err := s.ClaimRun(ctx); err != nil {
			t.Fatal(err)
		}
		before := time.Now().UTC().Truncate(time.Microsecond)
		failed, err := s.FinishRun(ctx, next.ID, db.RunFailed, db.FeedRunResult{Error: ptr("feed: HTTP 502")})
		if err != nil {
			t.Fatal(err)
		}
		if failed.FinishedAt == nil || failed.FinishedAt.Before(before) {
			t.Errorf("FinishRun without FinishedAt recorded %v, want now", failed.FinishedAt)
		}
		if last, err := s.LastCompletedRun(ctx); err != nil || last.ID != running.ID {
			t.Errorf("LastCompletedRun after a failed run = %+v, %v; want run %d", last, err, running.ID)
		}
	})
}

func TestFinishRunStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status string
		result db.FeedRunResult
		// lastCompleted says whether the run becomes LastCompletedRun.
		lastCompleted bool
	}{
		{db.RunCompleted, runResult(), true},
		{db.RunNotModified, db.FeedRunResult{Source: ptr("file:///feed.json"), HTTPStatus: ptr(int32(304))}, false},
		{db.RunFailed, db.FeedRunResult{Error: ptr(strings.Repeat("e", 20_000))}, false},
		{db.RunCompleted, db.FeedRunResult{RemovalsSuppressed: true, RemovalsSuppressedReason: ptr(strings.Repeat("ü", 20_000))}, true},
		{db.RunCompleted, db.FeedRunResult{}, true},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		var lastCompleted int64
		for i, tt := range tests {
			t.Run(fmt.Sprintf("%d %s", i, tt.status), func(t *testing.T) {
				if _, err := s.QueueRun(ctx, db.RequestedByStartup, false); err != nil {
					t.Fatalf("QueueRun: %v", err)
				}
				run, err := s.ClaimRun(ctx)
				if err != nil {
					t.Fatalf("ClaimRun: %v", err)
				}
				if _, err := s.FinishRun(ctx, run.ID, tt.status, tt.result); err != nil {
					t.Fatalf("FinishRun: %v", err)
				}
				got, err := s.GetRun(ctx, run.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.result
				// Errors and reasons are kept to 16,000 characters.
				if want.Error != nil && len(*want.Error) > 16_000 {
					want.Error = ptr((*want.Error)[:16_000])
				}
				if reason := want.RemovalsSuppressedReason; reason != nil && utf8.RuneCountInString(*reason) > 16_000 {
					want.RemovalsSuppressedReason = ptr(string([]rune(*reason)[:16_000]))
				}
				want.FinishedAt = got.FinishedAt
				if got.Status != tt.status || got.FinishedAt == nil {
					t.Errorf("status %s, finished at %v; want %s and a time", got.Status, got.FinishedAt, tt.status)
				}
				if diff := runDiff(want, got.FeedRunResult); diff != "" {
					t.Errorf("stored result differs: %s", diff)
				}
				if tt.lastCompleted {
					lastCompleted = run.ID
				}
				last, err := s.LastCompletedRun(ctx)
				if lastCompleted == 0 {
					if !errors.Is(err, db.ErrNotFound) {
						t.Errorf("LastCompletedRun = %+v, %v; want ErrNotFound", last, err)
					}
				} else if err != nil || last.ID != lastCompleted {
					t.Errorf("LastCompletedRun = %+v, %v; want run %d", last, err, lastCompleted)
				}
			})
		}
	})
}

func TestQueueRunInvalid(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		for _, requestedBy := range []string{"", strings.Repeat("x", 33), "bad\xff"} {
			if run, err := s.QueueRun(ctx, requestedBy, false); !errors.Is(err, db.ErrInvalid) || run != nil {
				t.Errorf("QueueRun(%q) = %+v, %v; want ErrInvalid", requestedBy, run, err)
			}
		}
		if _, err := s.ActiveRun(ctx); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("a refused QueueRun left an active run: %v", err)
		}
	})
}

// TestFeedRunConcurrency: of several processes queueing or claiming at once,
// exactly one wins.
func TestFeedRunConcurrency(t *testing.T) {
	t.Parallel()
	const callers = 6
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			queued  []int64
			refused []error
		)
		for range callers {
			wg.Go(func() {
				run, err := s.QueueRun(ctx, db.RequestedBySchedule, false)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					refused = append(refused, err)
					return
				}
				queued = append(queued, run.ID)
			})
		}
		wg.Wait()
		if len(queued) != 1 {
			t.Fatalf("%d concurrent QueueRun calls succeeded, want 1 (errors: %v)", len(queued), refused)
		}
		for _, err := range refused {
			checkActiveRunError(t, err, queued[0], db.RunQueued)
		}

		var claimed []int64
		var claimErrs []error
		for range callers {
			wg.Go(func() {
				run, err := s.ClaimRun(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					claimErrs = append(claimErrs, err)
					return
				}
				claimed = append(claimed, run.ID)
			})
		}
		wg.Wait()
		if !slices.Equal(claimed, queued) {
			t.Errorf("concurrent ClaimRun claimed %v, want exactly run %v", claimed, queued)
		}
		for _, err := range claimErrs {
			if !errors.Is(err, db.ErrNotFound) {
				t.Errorf("a losing ClaimRun = %v, want ErrNotFound", err)
			}
		}
	})
}

// finishedRun queues, claims and finishes one run.
func finishedRun(t *testing.T, s *db.Store, status string) *db.FeedRun {
	t.Helper()
	ctx := context.Background()
	if _, err := s.QueueRun(ctx, db.RequestedBySchedule, false); err != nil {
		t.Fatalf("QueueRun: %v", err)
	}
	run, err := s.ClaimRun(ctx)
	if err != nil {
		t.Fatalf("ClaimRun: %v", err)
	}
	run, err = s.FinishRun(ctx, run.ID, status, db.FeedRunResult{})
	if err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	return run
}

func TestListRuns(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		empty, err := s.ListRuns(ctx, 10, "")
		if err != nil || len(empty.Runs) != 0 || empty.NextCursor != "" || empty.Total != 0 {
			t.Errorf("ListRuns with no runs = %+v, %v", empty, err)
		}
		var ids []int64
		for i := range 7 {
			ids = append(ids, finishedRun(t, s, []string{db.RunCompleted, db.RunNotModified, db.RunFailed}[i%3]).ID)
		}
		queued, err := s.QueueRun(ctx, db.RequestedByAPI, false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, queued.ID)
		slices.Reverse(ids) // newest first

		for _, first := range []int{1, 3, 8, 100} {
			t.Run(fmt.Sprintf("first=%d", first), func(t *testing.T) {
				var got []int64
				after := ""
				for pageNo := 1; ; pageNo++ {
					page, err := s.ListRuns(ctx, first, after)
					if err != nil {
						t.Fatalf("page %d: %v", pageNo, err)
					}
					if page.Total != int64(len(ids)) {
						t.Errorf("Total = %d, want %d", page.Total, len(ids))
					}
					if len(page.Runs) > first || (page.NextCursor != "" && len(page.Runs) != first) {
						t.Fatalf("page %d has %d runs, first=%d, next cursor %q", pageNo, len(page.Runs), first, page.NextCursor)
					}
					for _, r := range page.Runs {
						got = append(got, r.ID)
					}
					if page.NextCursor == "" || pageNo > 20 {
						break
					}
					after = page.NextCursor
				}
				if !slices.Equal(got, ids) {
					t.Errorf("runs %v, want %v (newest first)", got, ids)
				}
			})
		}

		mustUpsert(t, s, generatedProfiles(1, 2)...)
		pornstarPage, err := s.List(ctx, db.Filter{}, nil, db.Page{First: 1})
		if err != nil || len(pornstarPage.Cursors) == 0 {
			t.Fatalf("List: %+v, %v", pornstarPage, err)
		}
		runPage, err := s.ListRuns(ctx, 1, "")
		if err != nil || runPage.NextCursor == "" {
			t.Fatalf("ListRuns: %+v, %v", runPage, err)
		}
		invalid := []struct {
			name  string
			first int
			after string
		}{
			{"first 0", 0, ""},
			{"first over 100", 101, ""},
			{"negative first", -1, ""},
			{"garbage cursor", 10, "garbage!"},
			{"cursor of the performer list", 10, pornstarPage.Cursors[0]},
			{"cursor holding values", 10, testkit.ForgeCursor(t, runPage.NextCursor, `{"s":SCOPE,"v":["a\u0000b"],"id":1}`)},
			{"cursor with an id beyond BIGINT", 10, testkit.ForgeCursor(t, runPage.NextCursor, `{"s":SCOPE,"id":9223372036854775808}`)},
			{"cursor with something after it", 10, testkit.ForgeCursor(t, runPage.NextCursor, `{"s":SCOPE,"id":1},`)},
		}
		for _, tt := range invalid {
			t.Run(tt.name, func(t *testing.T) {
				if page, err := s.ListRuns(ctx, tt.first, tt.after); !errors.Is(err, db.ErrInvalid) {
					t.Errorf("ListRuns = %+v, %v; want ErrInvalid", page, err)
				}
			})
		}
		t.Run("cursor of the run list used for performers", func(t *testing.T) {
			if page, err := s.List(ctx, db.Filter{}, nil, db.Page{First: 1, After: runPage.NextCursor}); !errors.Is(err, db.ErrInvalid) {
				t.Errorf("List = %+v, %v; want ErrInvalid", page, err)
			}
		})
	})
}

func rejects(from, n int, reason string) []db.FeedRunReject {
	out := make([]db.FeedRunReject, n)
	for i := range out {
		out[i] = db.FeedRunReject{ItemIndex: int64(from + i), FeedID: ptr(int64(100_000 + from + i)), Reason: fmt.Sprintf("%s %d", reason, from+i)}
	}
	return out
}

func TestAddRejects(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		run := finishedRun(t, s, db.RunCompleted)
		other := finishedRun(t, s, db.RunCompleted)

		steps := []struct {
			name     string
			rejects  []db.FeedRunReject
			wantKept int
		}{
			{"first batch", rejects(0, 600, "name: is required"), 600},
			{"second batch reaches the cap", rejects(600, 600, "aliases/3: is not valid UTF-8"), db.MaxRejectsPerRun - 600},
			{"at the cap nothing more is kept", rejects(1200, 10, "late"), 0},
			{"an empty batch", nil, 0},
		}
		for _, st := range steps {
			kept, err := s.AddRejects(ctx, run.ID, st.rejects)
			if err != nil || kept != st.wantKept {
				t.Errorf("%s: AddRejects = %d, %v; want %d", st.name, kept, err, st.wantKept)
			}
		}
		got, err := s.Rejects(ctx, run.ID, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != db.MaxRejectsPerRun {
			t.Fatalf("%d rejects stored, want %d", len(got), db.MaxRejectsPerRun)
		}
		for i, r := range got {
			if r.ItemIndex != int64(i) || r.FeedRunID != run.ID || r.FeedID == nil || *r.FeedID != int64(100_000+i) {
				t.Errorf("reject %d = %+v", i, r)
				break
			}
		}
		if first, err := s.Rejects(ctx, run.ID, 10); err != nil || len(first) != 10 || first[9].ItemIndex != 9 {
			t.Errorf("Rejects(limit 10) = %d rows, %v", len(first), err)
		}

		// The cap is per run.
		if kept, err := s.AddRejects(ctx, other.ID, rejects(0, 3, "other")); err != nil || kept != 3 {
			t.Errorf("AddRejects to another run = %d, %v; want 3", kept, err)
		}
		if got, err := s.Rejects(ctx, other.ID, 100); err != nil || len(got) != 3 {
			t.Errorf("Rejects of the other run = %d rows, %v; want 3", len(got), err)
		}
	})
}

func TestRejectsContent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		run := finishedRun(t, s, db.RunFailed)
		added := []db.FeedRunReject{
			{ItemIndex: 7, FeedID: ptr(int64(7)), Reason: "name: is required"},
			{ItemIndex: 2, FeedID: nil, Reason: "item is not an object"},
		}
		if _, err := s.AddRejects(ctx, run.ID, added); err != nil {
			t.Fatal(err)
		}
		later := []db.FeedRunReject{
			{ItemIndex: 5, FeedID: ptr(int64(5)), Reason: "bad \xff\xfe bytes"},
			{ItemIndex: 9, FeedID: ptr(int64(9)), Reason: strings.Repeat("ü", 2000)},
		}
		if _, err := s.AddRejects(ctx, run.ID, later); err != nil {
			t.Fatal(err)
		}
		got, err := s.Rejects(ctx, run.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			index  int64
			feedID *int64
			reason string
		}{
			{2, nil, "item is not an object"},
			{5, ptr(int64(5)), "bad \ufffd bytes"},
			{7, ptr(int64(7)), "name: is required"},
			{9, ptr(int64(9)), strings.Repeat("ü", 1024)},
		}
		if len(got) != len(want) {
			t.Fatalf("%d rejects, want %d", len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.ItemIndex != w.index || (g.FeedID == nil) != (w.feedID == nil) || (g.FeedID != nil && *g.FeedID != *w.feedID) || g.Reason != w.reason {
				t.Errorf("reject %d = {index %d feed %v reason %.40q}, want {index %d feed %v reason %.40q}",
					i, g.ItemIndex, g.FeedID, g.Reason, w.index, w.feedID, w.reason)
			}
		}
	})
}

// TestAddRejectsConcurrentCap: writers adding rejects to one run at once
// still keep at most MaxRejectsPerRun in all.
func TestAddRejectsConcurrentCap(t *testing.T) {
	t.Parallel()
	const writers, each = 4, 300
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		run := finishedRun(t, s, db.RunCompleted)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			kept int
		)
		for w := range writers {
			wg.Go(func() {
				n, err := s.AddRejects(ctx, run.ID, rejects(w*each, each, "concurrent"))
				if err != nil {
					t.Errorf("AddRejects: %v", err)
				}
				mu.Lock()
				kept += n
				mu.Unlock()
			})
		}
		wg.Wait()
		got, err := s.Rejects(ctx, run.ID, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != db.MaxRejectsPerRun || kept != db.MaxRejectsPerRun {
			t.Errorf("%d rejects stored, %d reported kept; want %d", len(got), kept, db.MaxRejectsPerRun)
		}
	})
}

func TestAddRejectsUnknownRun(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		kept, err := s.AddRejects(context.Background(), 999_999, rejects(0, 2, "x"))
		if !errors.Is(err, db.ErrNotFound) || kept != 0 {
			t.Errorf("AddRejects to an unknown run = %d, %v; want 0, ErrNotFound", kept, err)
		}
	})
}

func warnings(from, n int) []db.FeedRunWarning {
	out := make([]db.FeedRunWarning, n)
	for i := range out {
		out[i] = db.FeedRunWarning{ItemIndex: int64(from + i), FeedID: ptr(int64(from + i + 1)), Field: "age", Value: "-1",
			Reason: "must be an integer from 0 to 2147483647, not -1"}
	}
	return out
}

// TestFieldWarnings: a run keeps its first MaxWarningsPerRun warnings (the
// run's Warnings counts them all), listed in feed order page by page, with
// values and reasons made storable.
func TestFieldWarnings(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		run := finishedRun(t, s, db.RunCompleted)
		other := finishedRun(t, s, db.RunCompleted)
		steps := []struct {
			name     string
			warnings []db.FeedRunWarning
			wantKept int
		}{
			{"first batch", warnings(0, 700), 700},
			{"second batch reaches the cap", warnings(700, 700), db.MaxWarningsPerRun - 700},
			{"at the cap nothing more is kept", warnings(1400, 3), 0},
		}
		for _, st := range steps {
			if kept, err := s.AddWarnings(ctx, run.ID, st.warnings); err != nil || kept != st.wantKept {
				t.Errorf("%s: AddWarnings = %d, %v; want %d", st.name, kept, err, st.wantKept)
			}
		}
		odd := []db.FeedRunWarning{{ItemIndex: 4, FeedID: ptr(int64(9)), Field: "license", Value: `"` + strings.Repeat("ü", 300), Reason: "bad \xff bytes"}}
		if _, err := s.AddWarnings(ctx, other.ID, odd); err != nil {
			t.Fatal(err)
		}

		var got []db.FeedRunWarning
		pages, cursor := 0, ""
		for {
			page, err := s.Warnings(ctx, run.ID, 300, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != db.MaxWarningsPerRun {
				t.Errorf("page %d: total %d, want %d", pages, page.Total, db.MaxWarningsPerRun)
			}
			got = append(got, page.Warnings...)
			pages++
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if pages != 4 || len(got) != db.MaxWarningsPerRun {
			t.Fatalf("%d warnings on %d pages, want %d on 4", len(got), pages, db.MaxWarningsPerRun)
		}
		for i, w := range got {
			if w.ItemIndex != int64(i) || *w.FeedID != int64(i+1) || w.FeedRunID != run.ID || w.Field != "age" || w.Value != "-1" {
				t.Fatalf("warning %d = %+v", i, w)
			}
		}
		page, err := s.Warnings(ctx, other.ID, 10, "")
		if err != nil || len(page.Warnings) != 1 {
			t.Fatalf("the other run's warnings: %+v, %v", page, err)
		}
		if w := page.Warnings[0]; w.Value != `"`+strings.Repeat("ü", 254) || w.Reason != "bad \ufffd bytes" {
			t.Errorf("stored %q, %q: want the value cut to 255 characters and the reason as valid UTF-8", w.Value, w.Reason)
		}

		first, err := s.Warnings(ctx, run.ID, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name   string
			runID  int64
			first  int
			after  string
			target error
		}{
			{"page size 0", run.ID, 0, "", db.ErrInvalid},
			{"page size over the cap", run.ID, db.MaxWarningsPerRun + 1, "", db.ErrInvalid},
			{"a cursor of another run", other.ID, 10, first.NextCursor, db.ErrInvalid},
			{"a runs cursor", run.ID, 10, db.RunCursor(run.ID), db.ErrInvalid},
			{"an unknown run", 99999, 10, "", db.ErrNotFound},
		} {
			if _, err := s.Warnings(ctx, tt.runID, tt.first, tt.after); !errors.Is(err, tt.target) {
				t.Errorf("%s: Warnings = %v, want %v", tt.name, err, tt.target)
			}
		}
		if _, err := s.AddWarnings(ctx, 99999, warnings(0, 1)); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("AddWarnings to an unknown run = %v, want ErrNotFound", err)
		}
	})
}
