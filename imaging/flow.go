package imaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"marquee/bus"
	"marquee/db"
)

// flow settles image requests one by one as they come, many at once: the
// claims of requests waiting for one go into one statement (see claimer),
// outcomes are recorded group-committed, and each URL hash is settled once at a time,
// however many requests for it are in flight. Make it with startFlow and
// stop it once no request is being settled.
type flow struct {
	c       *Compactor
	ctx     context.Context
	cancel  context.CancelFunc
	claims  *claimer
	records *recorder

	mu      sync.Mutex
	flights map[string]*flight
	// failures are examples of failed outcomes since the last log line.
	failures []string
}

// flight is the settling of one URL hash, which later requests for the same
// hash wait for instead of settling it again.
type flight struct {
	done    chan struct{}
	outcome db.ImageState
	err     error
}

// startFlow starts a flow; its claims and records give up when ctx ends or
// the flow is stopped.
func (c *Compactor) startFlow(ctx context.Context) *flow {
	ctx, cancel := context.WithCancel(ctx)
	f := &flow{c: c, ctx: ctx, cancel: cancel, flights: map[string]*flight{}}
	f.claims = c.startClaimer(ctx)
	f.records = c.startRecorder(ctx)
	return f
}

// stop ends the flow once every request handed to it has returned.
func (f *flow) stop() {
	f.cancel()
	f.claims.stop()
	f.records.stop()
}

// handle settles the request in msg (bus.MessageHandler): nil once its
// outcome is recorded and published; dead when it can never be handled; an
// error when it must be handled again (the database or the file store
// failed, or the compactor is stopping).
func (f *flow) handle(ctx context.Context, msg bus.Message) (dead, err error) {
	req, err := decodeRequest(msg)
	if err != nil {
		f.c.log.Warn("imaging: dead-lettering an image request", "partition", msg.Partition, "offset", msg.Offset, "key", msg.Key, "err", err)
		return err, nil
	}
	f.c.stats.requests.Add(1)
	_, err = f.settle(ctx, req)
	return nil, err
}

// settle returns the outcome of req once it is recorded and published on
// marquee.images. While a request for the same hash is being settled, it
// waits for that one's outcome instead: this compactor fetches a hash it
// holds the claim on once, not once per request.
func (f *flow) settle(ctx context.Context, req request) (db.ImageState, error) {
	f.mu.Lock()
	if running := f.flights[req.urlHash]; running != nil {
		f.mu.Unlock()
		select {
		case <-running.done:
			return running.outcome, running.err
		case <-ctx.Done():
			return db.ImageState{}, ctx.Err()
		}
	}
	own := &flight{done: make(chan struct{})}
	f.flights[req.urlHash] = own
	f.mu.Unlock()

	own.outcome, own.err = f.settleAndPublish(ctx, req)
	f.mu.Lock()
	delete(f.flights, req.urlHash)
	if own.err == nil && own.outcome.Status == db.ImageFailed && own.outcome.Error != nil && len(f.failures) < failureExamples {
		f.failures = append(f.failures, own.outcome.URL+": "+*own.outcome.Error)
	}
	f.mu.Unlock()
	close(own.done)
	return own.outcome, own.err
}

func (f *flow) settleAndPublish(ctx context.Context, req request) (db.ImageState, error) {
	rec, err := f.claims.claim(ctx, req)
	if err != nil {
		return db.ImageState{}, fmt.Errorf("imaging: claim image %s: %w", req.urlHash, err)
	}
	outcome, err := f.c.settle(ctx, f.records, req, rec)
	if err != nil {
		return db.ImageState{}, fmt.Errorf("imaging: %w", err)
	}
	if err := f.c.publishOutcomes(ctx, []db.ImageState{outcome}); err != nil {
		return db.ImageState{}, err
	}
	return outcome, nil
}

// takeFailures returns the failure examples gathered since it was last called.
func (f *flow) takeFailures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	examples := f.failures
	f.failures = nil
	return examples
}

// claimer claims the hashes of the requests waiting for a claim together, in
// one statement: one statement per request would queue them behind each
// other on the database, and cost a transaction each. It claims when the
// claimed fetches on their way to the store run short (fewer than twice the
// workers: theirs and as many waiting), so that requests arriving one by one
// as others settle gather meanwhile, while the workers always find a claimed
// fetch waiting and the downloads waiting for the disk stay few; or after
// claimWait, so that fetches held up (a slow host, back-offs) delay the
// requests that need no fetch (cached hashes) only that long.
type claimer struct {
	c    *Compactor
	ctx  context.Context
	in   chan claimCall
	done chan struct{}
}

// claimCall is one request waiting for its claim, and where to answer.
type claimCall struct {
	req    request
	result chan claimResult
}

type claimResult struct {
	rec db.ImageFetch
	err error
}

// claimWait is how long claims wait at most for the fetches on their way to
// the store to run short: far longer than a claim statement, far shorter
// than anything a reader of marquee.images would notice.
const claimWait = 100 * time.Millisecond

// maxClaimBatch bounds the hashes of one claim statement.
const maxClaimBatch = 500

func (c *Compactor) startClaimer(ctx context.Context) *claimer {
	cl := &claimer{c: c, ctx: ctx, in: make(chan claimCall, maxClaimBatch), done: make(chan struct{})}
	go cl.run()
	return cl
}

// stop ends the claimer; no claim may be asked for after.
func (cl *claimer) stop() {
	close(cl.in)
	<-cl.done
}

// claim claims req's hash and returns its record as it stands afterwards
// (see Compactor.claim), unless ctx or the claimer's context ends first.
func (cl *claimer) claim(ctx context.Context, req request) (db.ImageFetch, error) {
	result := make(chan claimResult, 1)
	select {
	case cl.in <- claimCall{req: req, result: result}:
	case <-ctx.Done():
		return db.ImageFetch{}, ctx.Err()
	}
	select {
	case r := <-result:
		return r.rec, r.err
	case <-ctx.Done():
		return db.ImageFetch{}, ctx.Err()
	}
}

func (cl *claimer) run() {
	defer close(cl.done)
	for first := range cl.in {
		waitCtx, cancel := context.WithTimeout(cl.ctx, cl.c.claimWait)
		cl.c.queue.waitBelow(waitCtx, 2*cl.c.cfg.Workers)
		cancel()
		pending := []claimCall{first}
	gather:
		for len(pending) < maxClaimBatch {
			select {
			case next, ok := <-cl.in:
				if !ok {
					break gather
				}
				pending = append(pending, next)
			default:
				break gather
			}
		}
		requests := make([]request, len(pending))
		for i, p := range pending {
			requests[i] = p.req
		}
		records, err := cl.c.claim(cl.ctx, requests...)
		for _, p := range pending {
			rec, ok := records[p.req.urlHash]
			result := claimResult{rec: rec, err: err}
			if err == nil && !ok {
				result.err = errors.New("the store returned no record for a claimed hash")
			}
			p.result <- result
		}
	}
}

// logSettled logs, every interval until ctx ends and once more then, what
// this compactor settled meanwhile, in one line: a feed whose thousands of
// images fail must not flood the log, and each failure is in its record,
// on marquee.images and in the metrics anyway.
func (f *flow) logSettled(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	before := f.c.stats.snapshot()
	for {
		stopping := false
		select {
		case <-t.C:
		case <-ctx.Done():
			stopping = true
		}
		before = f.c.logProgress(before, f.takeFailures())
		if stopping {
			return
		}
	}
}
