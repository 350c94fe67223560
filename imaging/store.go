package imaging

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"marquee/db"
)

// A directory store bounds the downloads being made durable at once
// (written, made durable, renamed, the name made durable). Where the files
// stored at the same moment share each sync (FileStore on Linux), more of
// them at once means more files per sync for the same number of syncs
// (README, "Speed layer", has BenchmarkCompactor's figures for both
// numbers). Where each file pays its own fsyncs, many at once slow each
// other and every other file operation down. Uploads to a bucket wait on
// the network instead: as many run at once as there are fetch workers.
const (
	groupSyncedStores = 32
	fsyncedStores     = 8
)

// extraProcsForFileStore is how many more Ps (GOMAXPROCS) than CPUs a
// process whose work is a compactor storing into a directory should run
// with. Go hands the P of a goroutine blocked in a system call to another
// thread only once its monitor notices, up to milliseconds later, and the
// directory store's syncs, creates and renames block: on two CPUs the
// fetches then wait for a P while a CPU is idle. Two more Ps let the
// fetches run meanwhile. Processes that also serve the APIs keep
// GOMAXPROCS at the CPUs, as extra Ps slow the requests down (README,
// "Speed layer", has both measurements).
const extraProcsForFileStore = 2

// RaiseProcs raises GOMAXPROCS for a process whose work is a compactor
// storing into files: by extraProcsForFileStore for a directory, not for a
// bucket, whose calls wait on the network without holding a P, and not
// when lookupEnv finds GOMAXPROCS set, the operator's choice. It returns
// the Ps before, and whether it raised them.
func RaiseProcs(files ObjectStore, lookupEnv func(string) (string, bool)) (before int, raised bool) {
	before = runtime.GOMAXPROCS(0)
	if _, isDir := files.(*FileStore); !isDir {
		return before, false
	}
	if _, set := lookupEnv("GOMAXPROCS"); set {
		return before, false
	}
	runtime.GOMAXPROCS(before + extraProcsForFileStore)
	return before, true
}

// storeSlots is how many downloads cfg's store takes at once.
func storeSlots(cfg Config) int {
	files, isDir := cfg.Files.(*FileStore)
	switch {
	case !isDir:
		return cfg.Workers
	case files.durable != nil:
		return groupSyncedStores
	default:
		return fsyncedStores
	}
}

// storeDownload makes the bytes of got durable under their content key, at
// most storeSlots at once, and makes outcome the cached outcome they
// are. It reports whether identical bytes were stored already. It calls
// started once it has its slot.
func (c *Compactor) storeDownload(ctx context.Context, got download, outcome *db.ImageState, started func()) (duplicate bool, err error) {
	placeholder := c.placeholder(got.file)
	c.storing <- struct{}{}
	started()
	contentSHA256, duplicate, err := got.file.commit(ctx, c.cfg.Files, got.contentType)
	<-c.storing
	if err != nil {
		return false, err
	}
	outcome.Status = db.ImageCached
	outcome.ContentSHA256 = &contentSHA256
	outcome.ContentType = &got.contentType
	outcome.Bytes = &got.bytes
	width, height := int32(got.width), int32(got.height)
	outcome.Width, outcome.Height = &width, &height
	outcome.Placeholder = placeholder
	return duplicate, nil
}

// placeholder is the placeholder of the downloaded bytes, read from their
// download before it is stored (the same bytes the store keeps), or
// nil when there is no Config.Placeholder or it fails on them (a page then
// paints its fallback, docs/images.md).
func (c *Compactor) placeholder(file *pendingFile) *string {
	if c.cfg.Placeholder == nil {
		return nil
	}
	contentSHA256 := file.contentHash()
	data, err := file.contents(c.cfg.MaxBytes)
	if err != nil {
		c.cfg.Logger.Warn("imaging: read downloaded bytes for a placeholder", "content_sha256", contentSHA256, "err", err)
		return nil
	}
	placeholder, err := c.cfg.Placeholder(data)
	if err != nil {
		c.cfg.Logger.Info("imaging: no placeholder for an image", "content_sha256", contentSHA256, "err", err)
		return nil
	}
	return &placeholder
}

// recorder writes the outcomes of fetches, group-committed:
// whatever outcomes are ready when it comes round go into one transaction
// (each still conditional on this compactor's claim). One writer
// transaction per image would make a batch of fast failures queue for
// SQLite's single writer behind the loader, one by one.
type recorder struct {
	c    *Compactor
	ctx  context.Context
	in   chan recording
	done chan struct{}
}

// recording is one outcome waiting to be recorded, for as long as ctx
// lasts, and where to say how it went.
type recording struct {
	ctx     context.Context
	outcome db.ImageState
	result  chan error
}

// recordLinger is how long the recorder waits for more outcomes while
// fetches are in flight before it writes what it has: a stream of fetches
// then commits in groups instead of a transaction each, for a delay that
// holds no worker (only the request's offset, a little longer).
const recordLinger = 5 * time.Millisecond

// maxRecordBatch bounds the outcomes of one transaction.
const maxRecordBatch = 500

// startRecorder starts a recorder that gives up when ctx ends; stop it once
// every fetch handing it outcomes has returned.
func (c *Compactor) startRecorder(ctx context.Context) *recorder {
	r := &recorder{c: c, ctx: ctx, in: make(chan recording), done: make(chan struct{})}
	go r.run()
	return r
}

// stop ends the recorder after the outcomes handed to it.
func (r *recorder) stop() {
	close(r.in)
	<-r.done
}

// record writes outcome and returns once it is durable: nil, errClaimLost
// when the claim was taken over (nothing was recorded), or the error that
// made it give up (ctx or the recorder's context ended during a database
// outage; the outcome may still be recorded).
func (r *recorder) record(ctx context.Context, outcome db.ImageState) error {
	result := make(chan error, 1)
	select {
	case r.in <- recording{ctx: ctx, outcome: outcome, result: result}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *recorder) run() {
	defer close(r.done)
	for first := range r.in {
		pending := []recording{first}
		var linger <-chan time.Time
		if r.c.stats.inFlight.Load() > 0 {
			linger = time.After(recordLinger)
		}
	gather:
		for len(pending) < maxRecordBatch {
			select {
			case next, ok := <-r.in:
				if !ok {
					break gather
				}
				pending = append(pending, next)
				continue
			default:
			}
			if linger == nil {
				break
			}
			select {
			case next, ok := <-r.in:
				if !ok {
					break gather
				}
				pending = append(pending, next)
			case <-linger:
				break gather
			}
		}
		r.write(pending)
	}
}

// write records pending in one transaction, retrying a database failure
// while the recorder's context and any of pending's last: the bytes are in
// hand, and giving up would mean fetching them again.
func (r *recorder) write(pending []recording) {
	for attempt := 0; ; attempt++ {
		pending = slices.DeleteFunc(pending, func(p recording) bool { return p.ctx.Err() != nil })
		if len(pending) == 0 {
			return
		}
		outcomes := make([]db.ImageState, len(pending))
		for i, p := range pending {
			outcomes[i] = p.outcome
		}
		lost, err := r.c.cfg.Store.FinishImageFetches(r.ctx, r.c.owner, outcomes)
		if err == nil {
			lostSet := make(map[string]bool, len(lost))
			for _, hash := range lost {
				lostSet[hash] = true
			}
			for _, p := range pending {
				if lostSet[p.outcome.URLHash] {
					p.result <- errClaimLost
				} else {
					p.result <- nil
				}
			}
			return
		}
		if errors.Is(err, db.ErrInvalid) && len(pending) > 1 {
			// One refused outcome (a bug) must not hold back the others.
			for _, p := range pending {
				r.write([]recording{p})
			}
			return
		}
		if !errors.Is(err, db.ErrInvalid) && r.ctx.Err() == nil {
			delay := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
			r.c.log.Warn("imaging: recording image outcomes failed; retrying", "outcomes", len(outcomes), "in", delay, "err", err)
			if sleep(r.ctx, nil, delay) == nil {
				continue
			}
		}
		for _, p := range pending {
			p.result <- fmt.Errorf("record image %s: %w", p.outcome.URLHash, err)
		}
		return
	}
}
