package imaging_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

// TestRunDeadLettersThroughItsPublisher: the requests a running compactor can
// never handle reach marquee.image-requests.dlq through its Publisher, which
// wraps the broker's writer here, with their value and where and why they
// failed; the good request of the same batch is cached.
func TestRunDeadLettersThroughItsPublisher(t *testing.T) {
	k := startKafka(t)
	server := imagingtest.NewServer(t)
	pub := &recordingPublisher{next: k.writer}
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	group := "imaging-dead-letters"
	c := newCompactor(t, kafkaConfig(k, store, openFiles(t), pub, server, group))

	good := requestMessage(t, server.URL+"/pics/good.jpg", time.Now())
	notJSON := bus.Message{Key: good.Key, Value: []byte("{not json")}
	wrongKey := requestMessage(t, server.URL+"/pics/other.jpg", time.Now())
	wrongKey.Key = strings.Repeat("0", 64)
	if err := k.writer.Publish(context.Background(), bus.TopicImageRequests, good, notJSON, wrongKey); err != nil {
		t.Fatal(err)
	}
	runCompactor(t, c)
	k.waitSettled(t, group)

	dlq := bus.DeadLetterTopic(bus.TopicImageRequests)
	want := map[string]string{notJSON.Key: string(notJSON.Value), wrongKey.Key: string(wrongKey.Value)}
	tests := []struct {
		name    string
		letters []bus.Message
	}{
		{"handed to the publisher", pub.deadLetters()},
		{"on the dead-letter topic", readTopic(t, k.brokers, dlq, len(want))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.letters) != len(want) {
				t.Fatalf("%d dead letters, want %d: %v", len(tt.letters), len(want), tt.letters)
			}
			for _, letter := range tt.letters {
				if letter.Topic != dlq {
					t.Errorf("%s: on topic %s, want %s", letter.Key, letter.Topic, dlq)
				}
				if value, ok := want[letter.Key]; !ok || string(letter.Value) != value {
					t.Errorf("dead letter %s: %q, want one of the undecodable requests as sent", letter.Key, letter.Value)
				}
				if source, _ := letter.Header(bus.HeaderSourceTopic); source != bus.TopicImageRequests {
					t.Errorf("%s: source topic %q, want %s", letter.Key, source, bus.TopicImageRequests)
				}
				if reason, _ := letter.Header(bus.HeaderError); !strings.Contains(reason, "undecodable image request") {
					t.Errorf("%s: error header %q does not say why", letter.Key, reason)
				}
			}
		})
	}
	if outcomes := pub.outcomes(t); len(outcomes) != 1 || outcomes[0].URLHash != good.Key || outcomes[0].Status != db.ImageCached {
		t.Errorf("outcomes %v, want the good request cached", outcomes)
	}
}

// readTopic reads topic from its start in a consumer group of its own until
// it has n messages, and returns them.
func readTopic(t *testing.T, brokers []string, topic string, n int) []bus.Message {
	t.Helper()
	consumer, err := bus.NewConsumer(bus.ConsumerConfig{Cluster: bus.Cluster{Brokers: brokers}, GroupID: "read-" + topic, Topic: topic,
		FetchWait: 100 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var (
		mu   sync.Mutex
		read []bus.Message
	)
	done := make(chan error, 1)
	go func() {
		done <- consumer.Run(ctx, func(_ context.Context, msgs []bus.Message) ([]bus.DeadLetter, error) {
			mu.Lock()
			defer mu.Unlock()
			if read = append(read, msgs...); len(read) >= n {
				cancel()
			}
			return nil, nil
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(read) < n {
		t.Fatalf("read %d messages of %s within %v, want %d", len(read), topic, waitLimit, n)
	}
	return read
}
