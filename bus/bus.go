// Package bus is Marquee's Kafka plumbing: topic names and policies, message types, a publisher,
// consumer-group readers that commit only after the effect is durable, dead-lettering, and the
// embedded broker.
//
// Delivery is at least once: a Consumer commits a batch's offsets only after its Handler returned
// without error and the batch's dead letters were acknowledged, so every effect must be
// idempotent. Profiles and image outcomes travel as JSON that their owners (db, ingest, imaging)
// marshal; this package never imports them.
package bus

import (
	"time"
)

// Topic names are part of the operator contract (docs/topics.md): keep them exactly.
const (
	// TopicPornstars carries one profile per feed id (key: decimal feed id); a tombstone (nil
	// value) when the performer left the feed. Compacted.
	TopicPornstars = "marquee.pornstars"
	// TopicImageRequests carries one ImageRequest per URL hash. Compacted.
	TopicImageRequests = "marquee.image-requests"
	// TopicImages carries one image outcome per URL hash. Compacted.
	TopicImages = "marquee.images"

	// DeadLetterSuffix turns a topic name into the name of its dead-letter topic.
	DeadLetterSuffix = ".dlq"
)

// DataTopics returns the compacted data topics, in data-flow order. Each has a dead-letter
// topic named by DeadLetterTopic.
func DataTopics() []string { return []string{TopicPornstars, TopicImageRequests, TopicImages} }

// DeadLetterTopic names the topic that receives the messages of topic that a consumer could
// not decode or apply.
func DeadLetterTopic(topic string) string { return topic + DeadLetterSuffix }

// Header names. The dead-letter headers are part of the operator contract.
const (
	HeaderContentType     = "content-type"
	HeaderError           = "error"
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
	HeaderFailedAt        = "failed-at"

	// ContentTypeJSON is the content type of every non-null value the Writer publishes.
	ContentTypeJSON = "application/json"
)

// Message is one Kafka record. Publishers fill Key, Value and optionally Headers; consumers
// also see where the record came from (Topic, Partition, Offset) and its timestamp (Time).
// A nil Value is a tombstone: on a compacted topic it deletes the key.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	// Key is the partitioning and compaction key: a decimal feed id or a URL hash.
	Key     string
	Value   []byte
	Headers []Header
	Time    time.Time
}

// Header is one record header. Values are bytes on the wire; bus writes UTF-8 text.
type Header struct {
	Key   string
	Value []byte
}

// Header returns the value of the first header named key and whether there was one.
func (m Message) Header(key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// ImageRequest asks the image compactor to cache one thumbnail URL. Published on
// TopicImageRequests with the URL hash as key.
type ImageRequest struct {
	URLHash     string    `json:"url_hash"`
	URL         string    `json:"url"`
	RequestedAt time.Time `json:"requested_at"`
}
