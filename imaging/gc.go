package imaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"marquee/db"
)

// GCStore is what the garbage collector needs of the database.
type GCStore interface {
	ContentUses(ctx context.Context, contents []string) (map[string]db.ContentUse, error)
	NoteContentUse(ctx context.Context, at time.Time, active, unknown []string) error
	OpenImageClaims(ctx context.Context, now time.Time) (map[string]bool, error)
	ForgetContent(ctx context.Context, contentSHA256 string, unusedBefore time.Time) (bool, error)
}

// GC finds, and with Apply deletes, the stored files whose bytes no
// performer in the feed has used for longer than Grace: bytes whose records
// (images, image_fetches) belong only to removed performers or to none, last
// used before the grace began, and files with no record at all (a fetch cut
// off by a crash) written before it. Bytes that a thumbnail of a performer in
// the feed shows are never deleted.
//
// A compactor may store the same bytes while the collector runs: the
// collector moves each file out of service (to the gc/ namespace), waits until
// every fetch that was open at that moment has been recorded, then decides
// again in the database, under the records' locks, and deletes the file only
// when nothing has used its bytes since; otherwise it puts the file back. A
// compactor that finds no file stores its own, so a fetch never ends with its
// bytes missing.
type GC struct {
	Store GCStore
	Files ObjectStore
	// Variants, when set, forgets the variants rendered from deleted
	// files (their bookkeeping; their objects go with the original's
	// variants prefix).
	Variants VariantRecords
	// Grace is how long unused bytes are kept.
	Grace time.Duration
	// Apply deletes; without it the collector only reports (it still notes
	// what it saw in the database, which starts the clock of unused bytes).
	Apply bool
	// ClaimWait bounds the wait for open fetches; past it the files are
	// kept for the next collection.
	ClaimWait time.Duration
	// Poll is how often open fetches are looked at while waiting.
	Poll   time.Duration
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// GCFile is one stored file found to be garbage.
type GCFile struct {
	ContentSHA256 string
	Bytes         int64
	// Orphan: no record names the bytes; Since is then when it was written.
	Orphan bool
	// Since is when the bytes were last used.
	Since time.Time
	// Deleted is whether Apply deleted it; Kept says why it did not.
	Deleted bool
	Kept    string
}

// GCReport is the outcome of one collection.
type GCReport struct {
	// Garbage lists the files found, sorted by content hash.
	Garbage []GCFile
	// Scanned counts the stored files looked at.
	Scanned int
}

// Freed returns how many files were deleted and their bytes.
func (r GCReport) Freed() (files int, bytes int64) {
	for _, f := range r.Garbage {
		if f.Deleted {
			files++
			bytes += f.Bytes
		}
	}
	return files, bytes
}

// Total returns how many files were found to be garbage and their bytes.
func (r GCReport) Total() (files int, bytes int64) {
	for _, f := range r.Garbage {
		files++
		bytes += f.Bytes
	}
	return files, bytes
}

func (g *GC) now() time.Time {
	if g.Now != nil {
		return g.Now().UTC()
	}
	return time.Now().UTC()
}

// storedFile is a file of the store.
type storedFile struct {
	size    int64
	modTime time.Time
}

// Run collects once.
func (g *GC) Run(ctx context.Context) (GCReport, error) {
	var report GCReport
	if g.Grace <= 0 {
		return report, errors.New("imaging gc: the grace period must be positive")
	}
	if err := g.restoreLeftovers(ctx); err != nil {
		return report, err
	}
	files, err := g.scan(ctx)
	if err != nil {
		return report, err
	}
	report.Scanned = len(files)
	contents := slices.Sorted(func(yield func(string) bool) {
		for c := range files {
			if !yield(c) {
				return
			}
		}
	})
	start := g.now()
	cutoff := start.Add(-g.Grace)
	uses, err := g.Store.ContentUses(ctx, contents)
	if err != nil {
		return report, fmt.Errorf("imaging gc: %w", err)
	}
	var active, unknown []string
	for _, c := range contents {
		use, recorded := uses[c]
		file := files[c]
		switch {
		case !recorded:
			if file.modTime.Before(cutoff) {
				report.Garbage = append(report.Garbage, GCFile{ContentSHA256: c, Bytes: file.size, Orphan: true, Since: file.modTime})
			}
		case use.Active:
			active = append(active, c)
		case !use.Referenced && !use.Marked:
			// Unused, but since when is unknown (a thumbnail that changed
			// its URL leaves no trace): the clock starts now.
			unknown = append(unknown, c)
		case use.LastUsed.Before(cutoff):
			report.Garbage = append(report.Garbage, GCFile{ContentSHA256: c, Bytes: file.size, Since: use.LastUsed})
		}
	}
	if err := g.Store.NoteContentUse(ctx, start, active, unknown); err != nil {
		return report, fmt.Errorf("imaging gc: %w", err)
	}
	if !g.Apply || len(report.Garbage) == 0 {
		return report, nil
	}
	return report, g.delete(ctx, &report, cutoff)
}

// delete takes the garbage of report out of service, waits for the fetches
// open at that moment, and deletes each original (and its variants) the
// database still lets go.
func (g *GC) delete(ctx context.Context, report *GCReport, cutoff time.Time) error {
	var moved []*GCFile
	for i := range report.Garbage {
		f := &report.Garbage[i]
		key, _ := ContentKey(f.ContentSHA256)
		if err := g.Files.Move(ctx, key, gcNamespace+f.ContentSHA256); err != nil {
			f.Kept = "could not be moved: " + err.Error()
			continue
		}
		moved = append(moved, f)
	}
	open, err := g.awaitOpenFetches(ctx)
	for _, f := range moved {
		switch {
		case err != nil:
			f.Kept = "not decided: " + err.Error()
		case open > 0:
			f.Kept = fmt.Sprintf("fetches still open after %s", g.ClaimWait)
		default:
			var forgotten bool
			if f.Orphan {
				// An orphan is let go only while it has no record at all.
				forgotten, err = g.Store.ForgetContent(ctx, f.ContentSHA256, time.Time{})
			} else {
				forgotten, err = g.Store.ForgetContent(ctx, f.ContentSHA256, cutoff)
			}
			switch {
			case err != nil:
				f.Kept = "not decided: " + err.Error()
			case !forgotten:
				f.Kept = "in use again"
			}
		}
		if f.Kept == "" {
			if rmErr := g.Files.Remove(ctx, gcNamespace+f.ContentSHA256); rmErr != nil {
				f.Kept = "could not be deleted: " + rmErr.Error()
				continue
			}
			f.Deleted = true
			variants, _ := VariantPrefix(f.ContentSHA256)
			if rmErr := removePrefix(ctx, g.Files, variants); rmErr != nil {
				g.Logger.Error("imaging gc: could not delete the variants of deleted bytes", "content_sha256", f.ContentSHA256, "err", rmErr)
			}
			if g.Variants != nil {
				if rmErr := g.Variants.ForgetVariants(ctx, f.ContentSHA256); rmErr != nil {
					g.Logger.Error("imaging gc: could not forget the variants of deleted bytes", "content_sha256", f.ContentSHA256, "err", rmErr)
				}
			}
			continue
		}
		if putErr := g.putBack(ctx, f.ContentSHA256); putErr != nil {
			return putErr
		}
	}
	return nil
}

// awaitOpenFetches waits until every fetch open now has been recorded (or
// its claim ended), for at most ClaimWait, and returns how many are still
// open.
func (g *GC) awaitOpenFetches(ctx context.Context) (int, error) {
	waiting, err := g.Store.OpenImageClaims(ctx, g.now())
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(g.ClaimWait)
	for len(waiting) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return len(waiting), ctx.Err()
		case <-time.After(g.Poll):
		}
		open, err := g.Store.OpenImageClaims(ctx, g.now())
		if err != nil {
			return 0, err
		}
		for h := range waiting {
			if !open[h] {
				delete(waiting, h)
			}
		}
	}
	return len(waiting), nil
}

// putBack returns an original taken out of service to its place. A
// compactor may have stored the same bytes there meanwhile: they are
// identical.
func (g *GC) putBack(ctx context.Context, contentSHA256 string) error {
	key, _ := ContentKey(contentSHA256)
	if err := g.Files.Move(ctx, gcNamespace+contentSHA256, key); err != nil {
		return fmt.Errorf("imaging gc: put %s back: %w", contentSHA256, err)
	}
	return nil
}

// restoreLeftovers puts back the originals a collection that died left out
// of service; this collection decides on them afresh.
func (g *GC) restoreLeftovers(ctx context.Context) error {
	var parked []string
	err := g.Files.List(ctx, gcNamespace, func(info ObjectInfo) error {
		if content := strings.TrimPrefix(info.Key, gcNamespace); db.IsSHA256Hex(content) {
			parked = append(parked, content)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("imaging gc: %w", err)
	}
	for _, content := range parked {
		if err := g.putBack(ctx, content); err != nil {
			return err
		}
	}
	return nil
}

// scan lists the stored originals by content hash, nothing else of the
// store.
func (g *GC) scan(ctx context.Context) (map[string]storedFile, error) {
	out := map[string]storedFile{}
	err := g.Files.List(ctx, "", func(info ObjectInfo) error {
		if content, ok := contentOfKey(info.Key); ok {
			out[content] = storedFile{size: info.Size, modTime: info.ModTime}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("imaging gc: scan: %w", err)
	}
	return out, nil
}

// RunEvery collects with Apply at once and then every interval until ctx
// ends. A failed collection is logged; the next one tries again.
func (g *GC) RunEvery(ctx context.Context, interval time.Duration) {
	for {
		report, err := g.Run(ctx)
		files, bytes := report.Freed()
		switch {
		case err != nil && ctx.Err() == nil:
			g.Logger.Error("image garbage collection failed", "err", err)
		case err == nil:
			g.Logger.Info("image garbage collection", "scanned", report.Scanned, "deleted_files", files, "freed_bytes", bytes,
				"kept", len(report.Garbage)-files, "grace", g.Grace.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
