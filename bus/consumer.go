package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

// Handler applies a batch of messages, all from one topic, in offset order per partition.
//
// It returns err when the batch could not be applied as a whole for a reason that may pass (a
// database outage): the Consumer then retries the same batch, with back-off, until it
// succeeds or the Consumer stops; nothing is skipped. It returns in dead the messages that can
// never be applied (undecodable, invalid): they go to the topic's dead-letter topic and the
// rest of the batch counts as applied. Effects must be idempotent: a batch can be delivered
// again after a crash, a rebalance or a failed commit.
//
// ctx is not cancelled when the Consumer is asked to stop, only when ShutdownGrace has passed
// after that, so a handler can finish and commit its batch.
type Handler func(ctx context.Context, msgs []Message) (dead []DeadLetter, err error)

// DeadLetter is a message a Handler gives up on, with the reason.
type DeadLetter struct {
	Message Message
	Err     error
}

// DeadLetterPublisher publishes a Consumer's dead letters to the dead-letter topic, each with
// exactly the headers it carries (the original's and where and why it failed), and returns once
// all are acknowledged. *Writer is one.
type DeadLetterPublisher interface {
	PublishDeadLetters(ctx context.Context, topic string, letters ...Message) error
}

// ConsumerConfig configures a Consumer. Zero values take the defaults named on each field.
type ConsumerConfig struct {
	// Cluster is where to consume from, and how connections are secured.
	Cluster Cluster
	// GroupID names the consumer group; members of one group share the topic's partitions.
	GroupID string
	// Topic is the one topic consumed.
	Topic string
	// MaxBatch caps the messages per Handler call. Default 500: one multi-row statement's worth.
	MaxBatch int
	// MaxInFlight bounds the messages RunFlow has handed to its handler and that have not
	// settled yet, each a goroutine holding its message. Default 1000: far more than the
	// fetches a worker pool keeps busy, and a few megabytes at most.
	MaxInFlight int
	// MaxUncommitted bounds the messages RunFlow has fetched and not yet committed, settled
	// ones waiting behind an unsettled one included: how far a slow message lets its partition
	// run ahead. Default 100,000: minutes of work past one message in back-off, for a few
	// megabytes of offsets.
	MaxUncommitted int
	// MaxWait is how long a batch gathers after its first message before it is handled even
	// if not full. Default 200ms: a small latency for a large saving in statements.
	MaxWait time.Duration
	// FetchWait is how long the broker may hold a fetch that finds no new messages. It also
	// bounds how long a rebalance or Close waits for the partition readers (plus up to a
	// second when the broker answers late). Default 500ms.
	FetchWait time.Duration
	// SessionTimeout is how long the group coordinator waits for a heartbeat before it gives
	// a member's partitions to others (after a crash). Default 30s (kafka-go's); the broker
	// accepts 6s to 5m.
	SessionTimeout time.Duration
	// HeartbeatInterval is how often the member heartbeats, which is also how soon it notices
	// a rebalance. Default SessionTimeout/10.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits for every member to rejoin during a
	// rebalance. Default SessionTimeout.
	RebalanceTimeout time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the capped exponential back-off (with jitter)
	// between attempts at a failed batch or dead-letter publish. Defaults 500ms and 30s.
	RetryBackoffMin time.Duration
	RetryBackoffMax time.Duration
	// ShutdownGrace is how long an in-flight Handler may go on after Run's ctx is cancelled
	// before its ctx is cancelled too. Default 15s: inside the usual 30s stop timeout.
	ShutdownGrace time.Duration
	// CommitTimeout bounds one offset commit (including waiting out a rebalance). Default 30s.
	CommitTimeout time.Duration
	// DeadLetters publishes dead letters. Default: a Writer of the Consumer's own, on Cluster.
	DeadLetters DeadLetterPublisher
	// Logger receives retries, dead letters, commit failures and kafka-go's error log.
	// Default slog.Default().
	Logger *slog.Logger
}

func (c *ConsumerConfig) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 500
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1000
	}
	if c.MaxUncommitted <= 0 {
		c.MaxUncommitted = 100_000
	}
	if c.MaxUncommitted < c.MaxInFlight {
		c.MaxUncommitted = c.MaxInFlight
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 200 * time.Millisecond
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 500 * time.Millisecond
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 30 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = c.SessionTimeout / 10
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = c.SessionTimeout
	}
	if c.RetryBackoffMin <= 0 {
		c.RetryBackoffMin = 500 * time.Millisecond
	}
	if c.RetryBackoffMax <= 0 {
		c.RetryBackoffMax = 30 * time.Second
	}
	if c.RetryBackoffMax < c.RetryBackoffMin {
		c.RetryBackoffMax = c.RetryBackoffMin
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 15 * time.Second
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// fetchMaxBytes caps the records in one fetch response of a partition reader. A reader keeps a
// fetch in flight per partition and the broker builds each response in memory, so this bounds
// what reading a backlog costs; a larger cap bought no throughput (the README's "Speed layer"
// has the measurements). It is Kafka's default max.message.bytes, so every record batch a
// default broker accepts fits in one response (the Writer's stay under 1,000,000 bytes).
const fetchMaxBytes = 1_048_588

// fetchDeadlineMargin is how late the broker's answer to a fetch may be. kafka-go's reader waits
// for a fetch for its MaxWait and asks the broker to hold the fetch for MaxWait minus an assumed
// round trip of 1s, or of a quarter of MaxWait when MaxWait is under 1s. Giving it
// FetchWait+1s makes the broker hold fetches for FetchWait and leaves a second for the answer.
// Giving it FetchWait (500ms) left 125ms, which a busy or briefly descheduled process misses:
// kafka-go then drops the connection with "i/o timeout", backs off and dials again (the README's
// "Speed layer" says how often, with and without the margin).
const fetchDeadlineMargin = time.Second

// ConsumerStats are a Consumer's counters since it was made, for metrics.
type ConsumerStats struct {
	// Batches and Messages count what was applied and committed (or attempted to commit),
	// dead letters included. Under RunFlow, Batches counts the commits made.
	Batches  int64
	Messages int64
	// DeadLettered counts messages published to the dead-letter topic.
	DeadLettered int64
	// Retries counts failed Handler calls and failed dead-letter publishes that were retried.
	Retries int64
	// CommitErrors counts commits that failed after kafka-go's own retries; their messages are
	// delivered again after the next rebalance or restart.
	CommitErrors int64
	// FetchErrors counts errors reading from the group (broker unreachable, rebalance failing).
	FetchErrors int64
}

// Consumer reads one topic as a member of a consumer group and hands batches to a Handler,
// committing offsets only after the Handler succeeded and the batch's dead letters were
// acknowledged, or (RunFlow) hands it message by message. Make it with NewConsumer; call Run or
// RunFlow once.
type Consumer struct {
	cfg     ConsumerConfig
	started atomic.Bool

	batches, messages, deadLettered, retries, commitErrors, fetchErrors atomic.Int64
}

// NewConsumer checks cfg and returns a Consumer. It does not connect: Run does.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	switch {
	case len(cfg.Cluster.Brokers) == 0:
		return nil, errors.New("bus: new consumer: no brokers")
	case cfg.GroupID == "":
		return nil, errors.New("bus: new consumer: no group id")
	case cfg.Topic == "":
		return nil, errors.New("bus: new consumer: no topic")
	}
	cfg.setDefaults()
	return &Consumer{cfg: cfg}, nil
}

// Stats returns the counters. Safe to call concurrently with Run.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{
		Batches:      c.batches.Load(),
		Messages:     c.messages.Load(),
		DeadLettered: c.deadLettered.Load(),
		Retries:      c.retries.Load(),
		CommitErrors: c.commitErrors.Load(),
		FetchErrors:  c.fetchErrors.Load(),
	}
}

// errAbandoned marks a batch dropped uncommitted at shutdown; the group delivers it again.
var errAbandoned = errors.New("batch abandoned at shutdown")

// begin starts the consumer's only run (Run or RunFlow): its logger, its
// reader and dead-letter writer, and what closes them.
func (c *Consumer) begin() (logger *slog.Logger, reader *kafka.Reader, deadLetters DeadLetterPublisher, closeAll func(), err error) {
	if !c.started.CompareAndSwap(false, true) {
		return nil, nil, nil, nil, errors.New("bus: consumer: Run called twice")
	}
	logger = c.cfg.Logger.With("topic", c.cfg.Topic, "group", c.cfg.GroupID)
	reader, deadLetters, closeAll, err = c.open(logger)
	return logger, reader, deadLetters, closeAll, err
}

// fetchFailed handles a fetch that brought nothing: a closed reader ends
// the run with an error; any other failure is counted, logged and retried
// after a back-off. retry is false when the run ends (fatal says why, nil
// when ctx ended during the back-off).
func (c *Consumer) fetchFailed(ctx context.Context, err error, failures *int, logger *slog.Logger) (retry bool, fatal error) {
	if errors.Is(err, io.EOF) {
		return false, fmt.Errorf("bus: consumer of %s: reader closed", c.cfg.Topic)
	}
	c.fetchErrors.Add(1)
	delay := c.backoff(*failures)
	*failures++
	logger.Warn("bus: fetch failed; retrying", "err", err, "in", delay)
	return sleep(ctx, delay), nil
}

// Run joins the group and handles batches until ctx is cancelled. Then it stops fetching, lets
// the in-flight Handler finish (for up to ShutdownGrace), commits what was applied, leaves the
// group and returns nil. A batch whose Handler has not succeeded by then stays uncommitted and
// is delivered again to the next member. Broker errors are logged, counted and retried, never
// returned; Run returns an error only when called twice or when its reader was closed under it.
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	logger, reader, deadLetters, closeAll, err := c.begin()
	if err != nil {
		return err
	}
	defer closeAll()

	fetchFailures := 0
	for {
		batch, err := c.fetchBatch(ctx, reader)
		if ctx.Err() != nil {
			// A batch still gathering is not in flight: drop it uncommitted.
			logger.Info("bus: consumer stopping")
			return nil
		}
		if len(batch) == 0 {
			retry, fatal := c.fetchFailed(ctx, err, &fetchFailures, logger)
			if !retry {
				return fatal
			}
			continue
		}
		fetchFailures = 0
		if err := c.process(ctx, reader, deadLetters, batch, handle, logger); err != nil {
			logger.Warn("bus: consumer stopped with an unfinished batch; it will be delivered again",
				"messages", len(batch), "err", err)
			return nil
		}
	}
}

// open makes the group reader (offsets committed only through CommitMessages) and the
// dead-letter publisher of a Run, and the func that closes both.
func (c *Consumer) open(logger *slog.Logger) (*kafka.Reader, DeadLetterPublisher, func(), error) {
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           c.cfg.Cluster.Brokers,
		Dialer:            c.cfg.Cluster.dialer(),
		GroupID:           c.cfg.GroupID,
		Topic:             c.cfg.Topic,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // synchronous commits, only through CommitMessages
		QueueCapacity:     c.cfg.MaxBatch,
		MinBytes:          1,
		MaxBytes:          fetchMaxBytes,
		MaxWait:           c.cfg.FetchWait + fetchDeadlineMargin,
		ReadBatchTimeout:  10 * time.Second,
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		RebalanceTimeout:  c.cfg.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    100 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		ErrorLogger:       kafkaLogger(logger, slog.LevelWarn),
	})
	deadLetters := c.cfg.DeadLetters
	var writer *Writer
	if deadLetters == nil {
		w, err := NewWriter(WriterConfig{Cluster: c.cfg.Cluster, Logger: c.cfg.Logger})
		if err != nil {
			reader.Close()
			return nil, nil, nil, fmt.Errorf("bus: consumer: %w", err)
		}
		deadLetters, writer = w, w
	}
	return reader, deadLetters, func() {
		// Close leaves the group, so the partitions move to the other members at once.
		if err := reader.Close(); err != nil {
			logger.Warn("bus: close reader", "err", err)
		}
		if writer != nil {
			writer.Close()
		}
	}, nil
}

// fetchBatch blocks for a first message, then gathers more for up to MaxWait or MaxBatch. It
// returns what it gathered and the error that ended the gathering early, if any.
func (c *Consumer) fetchBatch(ctx context.Context, reader *kafka.Reader) ([]Message, error) {
	first, err := reader.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	batch := make([]Message, 0, c.cfg.MaxBatch)
	batch = append(batch, fromKafka(first))
	gather, cancel := context.WithTimeout(ctx, c.cfg.MaxWait)
	defer cancel()
	for len(batch) < c.cfg.MaxBatch {
		msg, err := reader.FetchMessage(gather)
		if err != nil {
			if gather.Err() != nil && ctx.Err() == nil {
				return batch, nil // the window closed
			}
			return batch, err
		}
		batch = append(batch, fromKafka(msg))
	}
	return batch, nil
}

// process applies one batch until it succeeds, dead-letters what the Handler gave up on, and
// commits. It returns errAbandoned (wrapped) when shutdown came first: nothing is committed.
func (c *Consumer) process(ctx context.Context, reader *kafka.Reader, deadLetters DeadLetterPublisher, batch []Message, handle Handler, logger *slog.Logger) error {
	handlerCtx, release := graceContext(ctx, c.cfg.ShutdownGrace)
	defer release()
	first, last := batch[0], batch[len(batch)-1]

	var dead []DeadLetter
	for attempt := 0; ; attempt++ {
		var err error
		dead, err = handle(handlerCtx, batch)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: handler: %w", errAbandoned, err)
		}
		c.retries.Add(1)
		delay := c.backoff(attempt)
		logger.Warn("bus: handler failed; retrying the batch",
			"attempt", attempt+1, "in", delay, "messages", len(batch),
			"first_partition", first.Partition, "first_offset", first.Offset, "err", err)
		if !sleep(ctx, delay) {
			return fmt.Errorf("%w: handler: %w", errAbandoned, err)
		}
	}

	if len(dead) > 0 {
		if err := c.publishDeadLetters(ctx, handlerCtx, deadLetters, dead, logger); err != nil {
			return fmt.Errorf("%w: dead letters: %w", errAbandoned, err)
		}
	}

	c.batches.Add(1)
	c.messages.Add(int64(len(batch)))
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
	defer cancel()
	if err := reader.CommitMessages(commitCtx, commitPoints(batch)...); err != nil {
		// kafka-go retried already. Not fatal: the messages are applied, and the next commit of
		// their partitions (or a redelivery after a rebalance or restart) covers them.
		c.commitErrors.Add(1)
		logger.Error("bus: commit failed; the batch will be delivered again after a rebalance or restart",
			"messages", len(batch), "first_offset", first.Offset, "last_offset", last.Offset, "err", err)
	}
	return nil
}

// publishDeadLetters publishes dead until it succeeds and counts them. It returns the last
// publish error when ctx ended first: nothing counts as dead-lettered then.
func (c *Consumer) publishDeadLetters(ctx, handlerCtx context.Context, deadLetters DeadLetterPublisher, dead []DeadLetter, logger *slog.Logger) error {
	letters := deadLetterMessages(dead, time.Now())
	topic := DeadLetterTopic(c.cfg.Topic)
	for attempt := 0; ; attempt++ {
		err := deadLetters.PublishDeadLetters(handlerCtx, topic, letters...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return err
		}
		c.retries.Add(1)
		delay := c.backoff(attempt)
		logger.Warn("bus: dead-letter publish failed; retrying", "attempt", attempt+1, "in", delay, "err", err)
		if !sleep(ctx, delay) {
			return err
		}
	}
	for _, letter := range dead {
		logger.Warn("bus: dead-lettered", "partition", letter.Message.Partition,
			"offset", letter.Message.Offset, "key", letter.Message.Key, "err", letter.Err)
	}
	c.deadLettered.Add(int64(len(dead)))
	return nil
}

// commitPoints returns the last message of each partition in batch: committing it commits
// everything before it in that partition.
func commitPoints(batch []Message) []kafka.Message {
	last := make(map[int]int64)
	for _, msg := range batch {
		if offset, ok := last[msg.Partition]; !ok || msg.Offset > offset {
			last[msg.Partition] = msg.Offset
		}
	}
	points := make([]kafka.Message, 0, len(last))
	for partition, offset := range last {
		points = append(points, kafka.Message{Topic: batch[0].Topic, Partition: partition, Offset: offset})
	}
	return points
}

// deadLetterMessages turns dead letters into the messages published to the dead-letter topic:
// the original key, value and headers, plus where and why it failed.
func deadLetterMessages(dead []DeadLetter, failedAt time.Time) []Message {
	stamp := []byte(failedAt.UTC().Format(time.RFC3339))
	letters := make([]Message, len(dead))
	for i, letter := range dead {
		reason := "unknown"
		if letter.Err != nil {
			reason = truncateUTF8(letter.Err.Error(), maxErrorHeaderBytes)
		}
		orig := letter.Message
		headers := make([]Header, 0, len(orig.Headers)+5)
		headers = append(headers, orig.Headers...)
		headers = append(headers,
			Header{Key: HeaderError, Value: []byte(reason)},
			Header{Key: HeaderSourceTopic, Value: []byte(orig.Topic)},
			Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(orig.Partition))},
			Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(orig.Offset, 10))},
			Header{Key: HeaderFailedAt, Value: stamp},
		)
		letters[i] = Message{Key: orig.Key, Value: orig.Value, Headers: headers}
	}
	return letters
}

// maxErrorHeaderBytes caps the error header of a dead letter: a decode error can quote much of
// the value, which the dead letter carries anyway.
const maxErrorHeaderBytes = 1024

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func fromKafka(msg kafka.Message) Message {
	var headers []Header
	if len(msg.Headers) > 0 {
		headers = make([]Header, len(msg.Headers))
		for i, h := range msg.Headers {
			headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return Message{
		Topic:     msg.Topic,
		Partition: msg.Partition,
		Offset:    msg.Offset,
		Key:       string(msg.Key),
		Value:     msg.Value,
		Headers:   headers,
		Time:      msg.Time,
	}
}

// graceContext returns a context that keeps parent's values but is cancelled only grace after
// parent is, and a func that releases it.
func graceContext(parent context.Context, grace time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	var timer atomic.Pointer[time.Timer]
	stop := context.AfterFunc(parent, func() {
		timer.Store(time.AfterFunc(grace, cancel))
	})
	return ctx, func() {
		stop()
		if t := timer.Load(); t != nil {
			t.Stop()
		}
		cancel()
	}
}

// backoff is the capped exponential delay before retry number attempt (from 0), with jitter
// so that the members of a group do not retry in step.
func (c *Consumer) backoff(attempt int) time.Duration {
	delay := c.cfg.RetryBackoffMax
	if attempt < 30 {
		delay = min(c.cfg.RetryBackoffMin<<attempt, c.cfg.RetryBackoffMax)
	}
	half := delay / 2
	return half + rand.N(half+1)
}

// sleep waits for d or ctx; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
