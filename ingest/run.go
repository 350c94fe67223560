package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/internal/priority"
)

// ErrFeedIdentifiesNobody fails a run whose feed has items but none with a
// readable id: nothing can be removed, or published, on its word.
var ErrFeedIdentifiesNobody = errors.New("feed identifies nobody")

// runnerStore is what a feed run needs of db.Store.
type runnerStore interface {
	LastCompletedRun(ctx context.Context) (*db.FeedRun, error)
	FinishRun(ctx context.Context, id int64, status string, result db.FeedRunResult) (*db.FeedRun, error)
	AddRejects(ctx context.Context, runID int64, rejects []db.FeedRunReject) (int, error)
	AddWarnings(ctx context.Context, runID int64, warnings []db.FeedRunWarning) (int, error)
	PublishedHashes(ctx context.Context) (map[int64]string, error)
	ActiveTakedowns(ctx context.Context) (db.TakedownSet, error)
	RecordPublished(ctx context.Context, published []db.Published) error
	Images(ctx context.Context, urlHashes []string) (map[string]db.Image, error)
}

// publisher is what a feed run needs of bus.Writer.
type publisher interface {
	Publish(ctx context.Context, topic string, msgs ...bus.Message) error
}

// Runner carries out feed runs: fetch, parse, compare with what was last
// published, publish changes, tombstones and image requests, record the run.
// Where a field names a default, zero means that default. Run only reads the
// fields, bar Progress, so a Runner may be shared.
type Runner struct {
	Store     runnerStore
	Fetcher   *Fetcher
	Publisher publisher
	// Logger receives the runs whose removals were suppressed. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Source is the feed: an http(s) URL, a file:// URL or a path.
	Source string
	// MaxShrink suppresses removals when the feed holds fewer distinct
	// valid ids than this share below the performers published last (a
	// truncated or broken upstream feed must not empty the database).
	// Default 0.20 (MARQUEE_FEED_MAX_SHRINK).
	MaxShrink float64
	// MaxRejected suppresses removals when more than this share of the
	// feed's items was rejected: absences in a feed whose items cannot be
	// read say nothing about who left it. Default 0.05 (MARQUEE_FEED_MAX_REJECTED).
	MaxRejected float64
	// ImageRetryCooldown is how long a failed image waits before a feed run
	// requests it again.
	ImageRetryCooldown time.Duration
	// BatchSize is how many profiles are published per Kafka write
	// (default 500).
	BatchSize int

	// Progress is updated during a run, for a progress bar.
	Progress Progress
	// now is the clock of image requests; nil means time.Now in UTC.
	now func() time.Time
}

// runConfig is what one run reads of its Runner: the Runner's settings, the
// zero ones replaced by their defaults (Runner.withDefaults).
type runConfig struct {
	Store              runnerStore
	Fetcher            *Fetcher
	Publisher          publisher
	Logger             *slog.Logger
	Source             string
	MaxShrink          float64
	MaxRejected        float64
	ImageRetryCooldown time.Duration
	BatchSize          int
	now                func() time.Time
}

// withDefaults returns the settings of one run: r's, the zero ones replaced
// by their defaults, in a runConfig rather than a copy of r because r's
// Progress, a live counter, cannot be copied.
func (r *Runner) withDefaults() runConfig {
	cfg := runConfig{
		Store: r.Store, Fetcher: r.Fetcher, Publisher: r.Publisher, Logger: r.Logger, Source: r.Source,
		MaxShrink: r.MaxShrink, MaxRejected: r.MaxRejected, ImageRetryCooldown: r.ImageRetryCooldown,
		BatchSize: r.BatchSize, now: r.now,
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.now == nil {
		cfg.now = func() time.Time { return time.Now().UTC() }
	}
	return cfg
}

// Progress counts a run's work so far; safe to read while the run goes on.
type Progress struct {
	Items atomic.Int64
	bytes atomic.Pointer[func() int64]
}

// Bytes is the number of feed bytes read so far.
func (p *Progress) Bytes() int64 {
	if fn := p.bytes.Load(); fn != nil {
		return (*fn)()
	}
	return 0
}

// Summary is the outcome of one run, as `marquee ingest --once` prints it.
type Summary struct {
	RunID           int64
	Status          string
	Seen            int64
	Valid           int64
	Rejected        int64
	Changed         int64
	Removed         int64
	ImagesRequested int64
	// RemovalsSuppressed says why the run removed nobody although
	// performers published before were missing from it; empty otherwise.
	RemovalsSuppressed string
	Err                error
}

// String is the summary line of `ingest --once` (docs/feed.md).
func (s Summary) String() string {
	return fmt.Sprintf("status=%s seen=%d valid=%d rejected=%d changed=%d removed=%d images_requested=%d",
		s.Status, s.Seen, s.Valid, s.Rejected, s.Changed, s.Removed, s.ImagesRequested)
}

// Run carries out the claimed feed run and records its outcome. It returns
// an error only when the outcome could not be recorded; a failed run is a
// Summary with Status failed and Err set.
func (r *Runner) Run(ctx context.Context, run *db.FeedRun) (Summary, error) {
	st := &runState{runConfig: r.withDefaults(), progress: &r.Progress, run: run, requested: map[urlHashKey]struct{}{}}
	result, status, runErr := st.execute(ctx)
	if runErr != nil {
		msg := runErr.Error()
		result.Error = &msg
		status = db.RunFailed
	}
	// Record the outcome even when ctx was cancelled mid-run.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := st.Store.FinishRun(recordCtx, run.ID, status, result); err != nil {
		return Summary{}, fmt.Errorf("ingest: record feed run %d: %w", run.ID, err)
	}
	return Summary{
		RunID: run.ID, Status: status, Seen: result.ItemsSeen, Valid: result.ItemsValid, Rejected: result.ItemsRejected,
		Changed: result.ItemsChanged, Removed: result.ItemsRemoved, ImagesRequested: result.ImagesRequested,
		RemovalsSuppressed: deref(result.RemovalsSuppressedReason), Err: runErr,
	}, nil
}

// runState is the working memory of one run.
type runState struct {
	runConfig
	progress  *Progress
	run       *db.FeedRun
	result    db.FeedRunResult
	published map[int64]string // feed id -> hash last published (live performers)
	seen      map[int64]bool   // distinct valid ids of this feed, of valid or rejected items
	pending   []db.Profile     // changed profiles not yet published
	hashes    []string         // image URL hashes of the current batch
	urls      map[string]string
	requested map[urlHashKey]struct{} // image URL hashes requested in this run
	takedowns db.TakedownSet          // what operators took down: never published nor requested
	rejects   []db.FeedRunReject
	warnings  []db.FeedRunWarning
}

// urlHashKey is an image URL hash as its 32 bytes rather than its 64 hex
// digits: a run remembers every hash it requested, one per distinct
// thumbnail URL of the feed, and this halves what each costs to remember.
type urlHashKey [sha256.Size]byte

// keyOf returns the bytes of a URL hash (db.URLHash). A string that is not
// 64 lowercase hex digits, which db.URLHash never returns, gets its SHA-256
// as its key instead, so that no two strings share one.
func keyOf(hash string) urlHashKey {
	var k urlHashKey
	if len(hash) != 2*len(k) {
		return sha256.Sum256([]byte(hash))
	}
	for i := range k {
		hi, ok1 := fromHexDigit(hash[2*i])
		lo, ok2 := fromHexDigit(hash[2*i+1])
		if !ok1 || !ok2 {
			return sha256.Sum256([]byte(hash))
		}
		k[i] = hi<<4 | lo
	}
	return k
}

func fromHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (st *runState) execute(ctx context.Context) (db.FeedRunResult, string, error) {
	// Recorded, and shown by the APIs, without credentials (a SAS "sig").
	src := redactSource(st.Source)
	st.result.Source = &src
	cond := Conditional{}
	if !st.run.Force {
		last, err := st.Store.LastCompletedRun(ctx)
		switch {
		case err == nil:
			cond = Conditional{ETag: deref(last.ETag), LastModified: deref(last.LastModified)}
		case !errors.Is(err, db.ErrNotFound):
			return st.result, "", fmt.Errorf("load last completed run: %w", err)
		}
	}
	feed, err := st.Fetcher.Fetch(ctx, st.Source, cond)
	if err != nil {
		var statusErr *StatusError
		if errors.As(err, &statusErr) {
			status := int32(statusErr.StatusCode)
			st.result.HTTPStatus = &status
		}
		return st.result, "", err
	}
	defer feed.Body.Close()
	if feed.StatusCode != 0 { // 0: a local file, which has no HTTP status
		status := int32(feed.StatusCode)
		st.result.HTTPStatus = &status
	}
	st.result.ETag = nonEmpty(feed.ETag)
	st.result.LastModified = nonEmpty(feed.LastModified)
	if feed.NotModified {
		// Keep the validators that the next conditional request will send.
		st.result.ETag, st.result.LastModified = nonEmpty(cond.ETag), nonEmpty(cond.LastModified)
		return st.result, db.RunNotModified, nil
	}
	bytesRead := feed.BytesRead
	st.progress.bytes.Store(&bytesRead)

	if st.published, err = st.Store.PublishedHashes(ctx); err != nil {
		return st.result, "", fmt.Errorf("load published hashes: %w", err)
	}
	if st.takedowns, err = st.Store.ActiveTakedowns(ctx); err != nil {
		return st.result, "", fmt.Errorf("load takedowns: %w", err)
	}
	st.seen = make(map[int64]bool, len(st.published))
	st.urls = make(map[string]string)

	header, parseErr := ParseFeedWithWarnings(feed.Body, func(_ int, p db.Profile) error {
		return st.onProfile(ctx, p)
	}, func(rej Reject) error {
		return st.onReject(ctx, rej)
	}, func(w Warning) error {
		return st.onWarning(ctx, w)
	})
	st.result.Bytes = feed.BytesRead()
	st.result.ItemsSeen = int64(header.Items)
	st.result.GenerationDate = header.GenerationDate
	// What was parsed before a failure is still published: it is valid data.
	if err := st.flush(ctx); err != nil {
		return st.result, "", err
	}
	if err := st.flushRejects(ctx); err != nil {
		return st.result, "", err
	}
	if err := st.flushWarnings(ctx); err != nil {
		return st.result, "", err
	}
	if parseErr != nil {
		// A broken document removes nothing.
		return st.result, "", fmt.Errorf("parse feed: %w", parseErr)
	}
	if err := st.publishRemovals(ctx); err != nil {
		return st.result, "", err
	}
	if st.result.ItemsSeen > 0 && len(st.seen) == 0 {
		// Items that identify nobody are an upstream shape this version
		// cannot read (an id of another type, say), not an empty catalogue.
		return st.result, "", fmt.Errorf("%w: none of its %d items has a readable id; nothing removed",
			ErrFeedIdentifiesNobody, st.result.ItemsSeen)
	}
	return st.result, db.RunCompleted, nil
}

// yieldItems is how many items a feed run parses between two chances for
// foreground work to go first: a small fraction of a request's time.
const yieldItems = 32

func (st *runState) onProfile(ctx context.Context, p db.Profile) error {
	// A feed run is background work where it shares a process with the
	// APIs: every so many items it gives way to their requests.
	if st.result.ItemsValid%yieldItems == 0 {
		priority.Yield(ctx)
	}
	st.progress.Items.Add(1)
	st.result.ItemsValid++
	st.seen[p.FeedID] = true
	if st.takedowns.FeedIDs[p.FeedID] {
		// Taken down: neither the profile nor its images leave this run.
		st.result.ItemsTakenDown++
		return nil
	}
	if st.published[p.FeedID] != p.ContentHash {
		st.pending = append(st.pending, p)
	}
	for _, t := range p.Thumbnails {
		if _, done := st.requested[keyOf(t.URLHash)]; !done && !st.takedowns.URLHashes[t.URLHash] {
			if _, dup := st.urls[t.URLHash]; !dup {
				st.hashes = append(st.hashes, t.URLHash)
				st.urls[t.URLHash] = t.URL
			}
		}
	}
	if len(st.pending) >= st.BatchSize || len(st.hashes) >= st.BatchSize {
		return st.flush(ctx)
	}
	return nil
}

func (st *runState) onReject(ctx context.Context, rej Reject) error {
	st.progress.Items.Add(1)
	st.result.ItemsRejected++
	if rej.FeedID != nil {
		st.seen[*rej.FeedID] = true // a rejected item is present: never removed
	}
	st.rejects = append(st.rejects, db.FeedRunReject{ItemIndex: int64(rej.Index), FeedID: rej.FeedID, Reason: rej.Reason})
	if len(st.rejects) >= st.BatchSize {
		return st.flushRejects(ctx)
	}
	return nil
}

// onWarning counts a value stored as unknown; the first MaxWarningsPerRun
// are recorded.
func (st *runState) onWarning(ctx context.Context, w Warning) error {
	st.result.Warnings++
	if st.result.Warnings > db.MaxWarningsPerRun {
		return nil // counted, not recorded: the store keeps no more
	}
	feedID := w.FeedID
	st.warnings = append(st.warnings, db.FeedRunWarning{ItemIndex: int64(w.Index), FeedID: &feedID, Field: w.Field, Value: w.Value, Reason: w.Reason})
	if len(st.warnings) >= st.BatchSize {
		return st.flushWarnings(ctx)
	}
	return nil
}

// flush publishes the pending profiles and image requests, then records
// what was published: only after Kafka acknowledged it.
func (st *runState) flush(ctx context.Context) error {
	if len(st.pending) > 0 {
		msgs := make([]bus.Message, len(st.pending))
		done := make([]db.Published, len(st.pending))
		for i, p := range st.pending {
			value, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encode profile %d: %w", p.FeedID, err)
			}
			msgs[i] = bus.Message{Key: strconv.FormatInt(p.FeedID, 10), Value: value}
			done[i] = db.Published{FeedID: p.FeedID, ContentHash: p.ContentHash}
		}
		if err := st.Publisher.Publish(ctx, bus.TopicPornstars, msgs...); err != nil {
			return fmt.Errorf("publish profiles: %w", err)
		}
		if err := st.Store.RecordPublished(ctx, done); err != nil {
			return fmt.Errorf("record published profiles: %w", err)
		}
		st.result.ItemsChanged += int64(len(st.pending))
		st.pending = st.pending[:0]
	}
	if len(st.hashes) > 0 {
		if err := st.requestImages(ctx); err != nil {
			return err
		}
	}
	return nil
}

// requestImages publishes one request per URL hash of the batch whose image
// is neither cached nor failed within the cool-down.
func (st *runState) requestImages(ctx context.Context) error {
	images, err := st.Store.Images(ctx, st.hashes)
	if err != nil {
		return fmt.Errorf("load image states: %w", err)
	}
	now := st.now()
	var msgs []bus.Message
	for _, hash := range st.hashes {
		img, known := images[hash]
		switch {
		case known && img.Status == db.ImageCached:
		case known && img.Status == db.ImageFailed && img.FetchedAt != nil && now.Sub(*img.FetchedAt) < st.ImageRetryCooldown:
		default:
			value, err := json.Marshal(bus.ImageRequest{URLHash: hash, URL: st.urls[hash], RequestedAt: now})
			if err != nil {
				return fmt.Errorf("encode image request: %w", err)
			}
			msgs = append(msgs, bus.Message{Key: hash, Value: value})
		}
		st.requested[keyOf(hash)] = struct{}{}
		delete(st.urls, hash)
	}
	if len(msgs) > 0 {
		if err := st.Publisher.Publish(ctx, bus.TopicImageRequests, msgs...); err != nil {
			return fmt.Errorf("publish image requests: %w", err)
		}
	}
	st.result.ImagesRequested += int64(len(msgs))
	st.hashes = st.hashes[:0]
	return nil
}

func (st *runState) flushRejects(ctx context.Context) error {
	if len(st.rejects) == 0 {
		return nil
	}
	if _, err := st.Store.AddRejects(ctx, st.run.ID, st.rejects); err != nil {
		return fmt.Errorf("record rejected items: %w", err)
	}
	st.rejects = st.rejects[:0]
	return nil
}

func (st *runState) flushWarnings(ctx context.Context) error {
	if len(st.warnings) == 0 {
		return nil
	}
	if _, err := st.Store.AddWarnings(ctx, st.run.ID, st.warnings); err != nil {
		return fmt.Errorf("record field warnings: %w", err)
	}
	st.warnings = st.warnings[:0]
	return nil
}

// publishRemovals tombstones the performers published before that this
// complete feed no longer has, unless removalVeto withholds the removals:
// then it records the run's removals as suppressed, with the reason.
func (st *runState) publishRemovals(ctx context.Context) error {
	var gone []int64
	for feedID := range st.published {
		if !st.seen[feedID] {
			gone = append(gone, feedID)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if reason := st.removalVeto(); reason != "" {
		st.result.RemovalsSuppressed = true
		st.result.RemovalsSuppressedReason = &reason
		st.Logger.Warn("feed run removals suppressed", "run", st.run.ID, "reason", reason, "would_remove", len(gone))
		return nil
	}
	for start := 0; start < len(gone); start += st.BatchSize {
		part := gone[start:min(start+st.BatchSize, len(gone))]
		msgs := make([]bus.Message, len(part))
		done := make([]db.Published, len(part))
		for i, feedID := range part {
			msgs[i] = bus.Message{Key: strconv.FormatInt(feedID, 10)} // nil value: a tombstone
			done[i] = db.Published{FeedID: feedID}
		}
		if err := st.Publisher.Publish(ctx, bus.TopicPornstars, msgs...); err != nil {
			return fmt.Errorf("publish removals: %w", err)
		}
		if err := st.Store.RecordPublished(ctx, done); err != nil {
			return fmt.Errorf("record removals: %w", err)
		}
		st.result.ItemsRemoved += int64(len(part))
	}
	return nil
}

// removalVeto says why this run must remove nobody, naming every rule that
// holds with its numbers; "" when it may remove. Removals come only from a
// run that identified its performers: one whose items have readable ids
// (ErrFeedIdentifiesNobody), of which at most MaxRejected were rejected,
// and whose distinct valid ids (a repeated id counts once; a rejected item
// with a readable id counts) fell at most MaxShrink below the performers
// published before.
func (st *runState) removalVeto() string {
	seen, rejected := st.result.ItemsSeen, st.result.ItemsRejected
	distinct, before := int64(len(st.seen)), int64(len(st.published))
	var reasons []string
	if seen > 0 && distinct == 0 {
		reasons = append(reasons, fmt.Sprintf("no item has a readable id (%s seen)", counted(seen, "item")))
	}
	if seen > 0 && float64(rejected) > float64(seen)*st.MaxRejected {
		reasons = append(reasons, fmt.Sprintf("%s of items rejected (%d of %d; limit %s)",
			percent(float64(rejected)/float64(seen)), rejected, seen, percent(st.MaxRejected)))
	}
	if float64(distinct) < float64(before)*(1-st.MaxShrink) {
		reasons = append(reasons, fmt.Sprintf("feed shrank by %s (%s, %d published before; limit %s)",
			percent(1-float64(distinct)/float64(before)), counted(distinct, "distinct valid id"), before, percent(st.MaxShrink)))
	}
	return strings.Join(reasons, "; ")
}

// percent shows a share as a percentage to one decimal place, "35%" or
// "12.5%".
func percent(share float64) string {
	return strconv.FormatFloat(math.Round(share*1000)/10, 'f', -1, 64) + "%"
}

// counted is n with its noun, in the plural unless n is 1.
func counted(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
