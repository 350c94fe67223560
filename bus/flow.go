package bus

import (
	"context"
	"log/slog"
	"sync"

	"github.com/segmentio/kafka-go"
)

// MessageHandler applies one message. RunFlow calls it for many messages at once, each in its
// own goroutine, with no order between them: two messages of one partition, even of one key,
// may be applied concurrently or in either order, so a handler that needs one effect per key
// at a time arranges it itself.
//
// It returns err when the message could not be applied for a reason that may pass: RunFlow
// retries that message, with back-off, while the others go on. It returns dead when the
// message can never be applied: it goes to the topic's dead-letter topic and counts as
// applied. Effects must be idempotent: a message can be delivered again after a crash, a
// rebalance or a failed commit.
//
// ctx is not cancelled when the Consumer is asked to stop, only ShutdownGrace after that.
type MessageHandler func(ctx context.Context, msg Message) (dead error, err error)

// RunFlow joins the group and hands every message to handle as it is fetched, without
// waiting for the messages before it, up to MaxInFlight unsettled messages and
// MaxUncommitted messages fetched but not yet committed. A message settles when handle
// applied it (and its dead letter, if any, was acknowledged). Offsets are committed in order:
// a partition's offset moves past a message only once it and every message fetched before it
// in that partition have settled, so whatever is committed has taken effect.
//
// When ctx is cancelled RunFlow stops fetching, lets the handlers in flight finish (for up to
// ShutdownGrace; retries stop at once), commits the settled prefix of each partition, leaves
// the group and returns nil. Everything after a message that did not settle is delivered
// again to the next member. Broker errors are logged, counted and retried, never returned;
// RunFlow returns an error only when called twice (or after Run) or when its reader was
// closed under it.
func (c *Consumer) RunFlow(ctx context.Context, handle MessageHandler) error {
	logger, reader, deadLetters, closeAll, err := c.begin()
	if err != nil {
		return err
	}
	defer closeAll()

	handlerCtx, release := graceContext(ctx, c.cfg.ShutdownGrace)
	defer release()
	tracker := newOffsetTracker(c.cfg.MaxUncommitted)
	inFlight := make(chan struct{}, c.cfg.MaxInFlight)
	committerDone := make(chan struct{})
	stopCommitter := make(chan struct{})
	go func() {
		defer close(committerDone)
		c.commitSettled(reader, tracker, stopCommitter, logger)
	}()

	var handlers sync.WaitGroup
	runErr := c.dispatch(ctx, reader, tracker, inFlight, logger, func(msg Message, settled *pendingOffset) {
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer func() { <-inFlight }()
			if c.applyOne(ctx, handlerCtx, deadLetters, msg, handle, logger) {
				tracker.settle(settled)
			}
		}()
	})
	handlers.Wait()
	close(stopCommitter)
	<-committerDone
	if runErr != nil {
		return runErr
	}
	logger.Info("bus: consumer stopping")
	return nil
}

// dispatch fetches messages and starts each, within the bounds, until ctx ends (nil) or the
// reader is closed (an error).
func (c *Consumer) dispatch(ctx context.Context, reader *kafka.Reader, tracker *offsetTracker, inFlight chan struct{},
	logger *slog.Logger, start func(Message, *pendingOffset)) error {
	fetchFailures := 0
	for {
		select {
		case inFlight <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if !tracker.reserve(ctx) {
			<-inFlight
			return nil
		}
		kmsg, err := reader.FetchMessage(ctx)
		if err != nil {
			<-inFlight
			tracker.unreserve()
			if ctx.Err() != nil {
				return nil
			}
			retry, fatal := c.fetchFailed(ctx, err, &fetchFailures, logger)
			if !retry {
				return fatal
			}
			continue
		}
		fetchFailures = 0
		msg := fromKafka(kmsg)
		start(msg, tracker.add(msg))
	}
}

// applyOne applies msg until it succeeds and publishes its dead letter, if any. It reports
// false when shutdown came first: the message stays unsettled.
func (c *Consumer) applyOne(ctx, handlerCtx context.Context, deadLetters DeadLetterPublisher, msg Message, handle MessageHandler, logger *slog.Logger) bool {
	var dead error
	for attempt := 0; ; attempt++ {
		var err error
		dead, err = handle(handlerCtx, msg)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		c.retries.Add(1)
		delay := c.backoff(attempt)
		logger.Warn("bus: handler failed; retrying the message", "attempt", attempt+1, "in", delay,
			"partition", msg.Partition, "offset", msg.Offset, "err", err)
		if !sleep(ctx, delay) {
			return false
		}
	}
	if dead != nil {
		if c.publishDeadLetters(ctx, handlerCtx, deadLetters, []DeadLetter{{Message: msg, Err: dead}}, logger) != nil {
			return false
		}
	}
	c.messages.Add(1)
	return true
}

// commitSettled commits each partition's settled prefix whenever it grew, one commit for
// whatever settled meanwhile, until stop is closed; then it commits once more.
func (c *Consumer) commitSettled(reader *kafka.Reader, tracker *offsetTracker, stop <-chan struct{}, logger *slog.Logger) {
	for {
		stopping := false
		select {
		case <-tracker.changed:
		case <-stop:
			stopping = true
		}
		if points := tracker.ready(); len(points) > 0 {
			commitCtx, cancel := context.WithTimeout(context.Background(), c.cfg.CommitTimeout)
			err := reader.CommitMessages(commitCtx, points...)
			cancel()
			if err != nil {
				// Not fatal: the messages took effect, and the next commit of their partitions (or a
				// redelivery after a rebalance or restart) covers them.
				c.commitErrors.Add(1)
				logger.Error("bus: commit failed; the messages will be delivered again after a rebalance or restart",
					"partitions", len(points), "err", err)
			} else {
				c.batches.Add(1)
				tracker.committed(points)
			}
		}
		if stopping {
			return
		}
	}
}

// offsetTracker keeps, per partition, the offsets fetched and not yet committed in fetch
// order, and which of them settled: a partition can be committed up to the last offset of
// its settled prefix. Safe for concurrent use.
type offsetTracker struct {
	mu         sync.Mutex
	partitions map[int]*partitionWindow
	// space holds a token per offset fetched and not yet past a settled prefix.
	space   chan struct{}
	changed chan struct{}
	topic   string
}

// partitionWindow is one partition's offsets since its last settled prefix. A partition
// delivered again from an earlier offset (after a rebalance) gets a new window; the old one
// is detached and whatever settles in it is not committed.
type partitionWindow struct {
	pending  []*pendingOffset
	last     int64 // the last offset fetched
	ready    int64 // the last offset of the settled prefix, -1 for none
	detached bool
}

// pendingOffset is one fetched message's place in its partition's window.
type pendingOffset struct {
	window  *partitionWindow
	offset  int64
	settled bool
}

func newOffsetTracker(maxUncommitted int) *offsetTracker {
	return &offsetTracker{
		partitions: map[int]*partitionWindow{},
		space:      make(chan struct{}, maxUncommitted),
		changed:    make(chan struct{}, 1),
	}
}

// reserve waits for room for one more fetched offset; false when ctx ended first.
func (t *offsetTracker) reserve(ctx context.Context) bool {
	select {
	case t.space <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// unreserve gives back a reservation that fetched nothing.
func (t *offsetTracker) unreserve() { <-t.space }

// add records msg as fetched, on a reservation, and returns its place.
func (t *offsetTracker) add(msg Message) *pendingOffset {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.topic = msg.Topic
	w := t.partitions[msg.Partition]
	if w != nil && msg.Offset <= w.last {
		// Delivered again from an earlier offset: what was fetched before is not ours to
		// commit any more.
		w.detached = true
		for range w.pending {
			<-t.space
		}
		w = nil
	}
	if w == nil {
		w = &partitionWindow{ready: -1}
		t.partitions[msg.Partition] = w
	}
	w.last = msg.Offset
	p := &pendingOffset{window: w, offset: msg.Offset}
	w.pending = append(w.pending, p)
	return p
}

// settle marks p settled and moves its partition's prefix past it and whatever settled after.
func (t *offsetTracker) settle(p *pendingOffset) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.settled = true
	w := p.window
	if w.detached {
		return
	}
	moved := 0
	for moved < len(w.pending) && w.pending[moved].settled {
		w.ready = w.pending[moved].offset
		moved++
	}
	if moved == 0 {
		return
	}
	clear(w.pending[:moved])
	w.pending = w.pending[moved:]
	for range moved {
		<-t.space
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// ready returns a commit point for each partition whose settled prefix grew since its last
// commit.
func (t *offsetTracker) ready() []kafka.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var points []kafka.Message
	for partition, w := range t.partitions {
		if w.ready >= 0 {
			points = append(points, kafka.Message{Topic: t.topic, Partition: partition, Offset: w.ready})
		}
	}
	return points
}

// committed forgets the commit points that were committed, unless more settled meanwhile.
func (t *offsetTracker) committed(points []kafka.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, point := range points {
		if w := t.partitions[point.Partition]; w != nil && w.ready == point.Offset {
			w.ready = -1
		}
	}
}
