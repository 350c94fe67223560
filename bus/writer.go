package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterConfig configures a Writer. Zero values take the defaults named on each field.
type WriterConfig struct {
	// Cluster is where to publish, and how connections are secured.
	Cluster Cluster
	// BatchTimeout is how long a partition's batch waits for more messages before it is sent.
	// Default 5ms: a synchronous Publish pays it once, and bulk publishers fill batches sooner.
	BatchTimeout time.Duration
	// BatchSize caps the messages per partition batch. Default 1000, so that BatchBytes, not
	// the count, closes batches of ~1.5 KB profiles.
	BatchSize int
	// BatchBytes caps a partition batch's size. Default 1,000,000: under Kafka's (and kfake's)
	// default max.message.bytes of 1,048,588 with room for the record-batch framing that
	// kafka-go's estimate leaves out.
	BatchBytes int64
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often a batch is sent before Publish fails on a retriable error.
	// Default 10 (kafka-go's), with back-off from 100ms to 1s.
	MaxAttempts int
	// Compression of record batches. Default none: JSON values, loopback or LAN, and kfake
	// keeps what it is given; set kafka.Snappy (or another codec) to trade CPU for disk and
	// network on a real cluster.
	Compression kafka.Compression
	// Logger receives kafka-go's error log. Default slog.Default().
	Logger *slog.Logger
}

func (c *WriterConfig) setDefaults() {
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1_000_000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Writer publishes messages to any topic, partitioned by key with the Java client's murmur2
// hash and acknowledged by all in-sync replicas. It is safe for concurrent use; concurrent
// Publish calls share batches. Close flushes and must be called once.
type Writer struct {
	writer    *kafka.Writer
	transport *kafka.Transport
}

// NewWriter returns a Writer for cfg.Cluster. It connects lazily, on the first Publish.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	if len(cfg.Cluster.Brokers) == 0 {
		return nil, errors.New("bus: new writer: no brokers")
	}
	cfg.setDefaults()
	transport := cfg.Cluster.transport()
	return &Writer{transport: transport, writer: &kafka.Writer{
		Addr:      kafka.TCP(cfg.Cluster.Brokers...),
		Transport: transport,
		// Murmur2Balancer is the Java client's partitioner: a key lands on the partition any
		// other Kafka client (and kcat with -X partitioner=murmur2_random) would choose.
		Balancer:        &kafka.Murmur2Balancer{},
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    cfg.BatchTimeout,
		BatchSize:       cfg.BatchSize,
		BatchBytes:      cfg.BatchBytes,
		WriteTimeout:    cfg.WriteTimeout,
		ReadTimeout:     cfg.WriteTimeout,
		MaxAttempts:     cfg.MaxAttempts,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		Compression:     cfg.Compression,
		ErrorLogger:     kafkaLogger(cfg.Logger, slog.LevelWarn),
	}}, nil
}

// contentTypeJSON is shared, read-only, by every published message that brings no headers.
var contentTypeJSON = []kafka.Header{{Key: HeaderContentType, Value: []byte(ContentTypeJSON)}}

// Publish writes msgs to topic and returns once every one of them is acknowledged by all
// in-sync replicas, or with an error (then some may have been written: publish again, the
// consumers are idempotent). Each message with a value carries content-type:
// application/json unless it brings its own content-type; a nil Value is a tombstone.
// Messages of one key keep their order. Topic, Partition and Offset of msgs are ignored.
func (w *Writer) Publish(ctx context.Context, topic string, msgs ...Message) error {
	return w.publish(ctx, topic, msgs, true)
}

// PublishDeadLetters writes letters to topic as Publish does, but with only the headers they
// carry: a dead letter keeps the headers its message arrived with, content-type or none, and
// gains only those that say where and why it failed. It makes Writer a DeadLetterPublisher.
func (w *Writer) PublishDeadLetters(ctx context.Context, topic string, letters ...Message) error {
	return w.publish(ctx, topic, letters, false)
}

// publish is Publish with the content-type header optional (see PublishDeadLetters).
func (w *Writer) publish(ctx context.Context, topic string, msgs []Message, addContentType bool) error {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]kafka.Message, len(msgs))
	for i, msg := range msgs {
		out[i] = kafka.Message{
			Topic:   topic,
			Key:     []byte(msg.Key),
			Value:   msg.Value,
			Headers: kafkaHeaders(msg, addContentType),
			Time:    msg.Time,
		}
	}
	if err := w.writer.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("bus: publish %d messages to %s: %w", len(msgs), topic, summarizeWriteError(err))
	}
	return nil
}

func kafkaHeaders(msg Message, addContentType bool) []kafka.Header {
	addContentType = addContentType && msg.Value != nil
	if len(msg.Headers) == 0 {
		if addContentType {
			return contentTypeJSON
		}
		return nil
	}
	headers := make([]kafka.Header, 0, len(msg.Headers)+1)
	for _, h := range msg.Headers {
		if h.Key == HeaderContentType {
			addContentType = false
		}
		headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	if addContentType {
		headers = append(headers, contentTypeJSON[0])
	}
	return headers
}

// summarizeWriteError reduces kafka-go's per-message WriteErrors (one entry per message,
// mostly the same error) to the first error and a count, so a failed bulk publish logs one line.
func summarizeWriteError(err error) error {
	var writeErrs kafka.WriteErrors
	if !errors.As(err, &writeErrs) {
		return err
	}
	var first error
	failed := 0
	for _, e := range writeErrs {
		if e != nil {
			failed++
			if first == nil {
				first = e
			}
		}
	}
	if first == nil {
		return err
	}
	return fmt.Errorf("%d of %d failed, first: %w", failed, len(writeErrs), first)
}

// Close flushes pending batches, waits for their acknowledgements and releases connections.
// Publish after Close fails.
func (w *Writer) Close() error {
	err := w.writer.Close()
	w.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("bus: close writer: %w", err)
	}
	return nil
}

// kafkaLogger adapts slog to kafka-go's Printf-style logger at one level.
func kafkaLogger(logger *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if logger.Enabled(context.Background(), level) {
			logger.Log(context.Background(), level, "kafka-go: "+fmt.Sprintf(format, args...))
		}
	})
}
