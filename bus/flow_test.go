package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// testFlow runs RunFlow on one partition where one message is slow, failing or dead, and
// checks that the others are applied meanwhile, that the committed offset never passes a
// message that has not settled, and that everything ends applied (or dead-lettered) and
// committed.
func testFlow(t *testing.T, brokers []string) {
	const n = 10
	tests := []struct {
		name string
		// held is applied only after every other message was.
		held int
		// failing fails until every other message was applied.
		failing int
		dead    []int
	}{
		{name: "a slow message holds only its own offset", held: 4, failing: -1},
		{name: "a message in back-off does not hold the others", held: -1, failing: 3},
		{name: "dead letters are acknowledged before their offsets are committed", held: -1, failing: -1, dead: []int{2, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic := newTopic(t, brokers, 1)
			group := newGroup(t)
			w := newTestWriter(t, brokers)
			sent := numbered("flow", n)
			publish(t, w, topic, sent...)

			var (
				mu       sync.Mutex
				applied  = map[string]int{}
				attempts = map[string]int{}
			)
			othersDone, release := make(chan struct{}), make(chan struct{})
			var closeOnce sync.Once
			key := func(i int) string { return fmt.Sprintf("flow-%d", i) }
			special := func(k string) bool { return k == key(tc.held) || k == key(tc.failing) }
			cfg := testConsumerConfig(brokers, topic, group)
			c := startFlow(t, cfg, func(ctx context.Context, msg Message) (error, error) {
				mu.Lock()
				attempts[msg.Key]++
				mu.Unlock()
				switch {
				case msg.Key == key(tc.held):
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				case msg.Key == key(tc.failing):
					select {
					case <-othersDone:
					default:
						return nil, errors.New("database is down")
					}
				case slices.ContainsFunc(tc.dead, func(i int) bool { return msg.Key == key(i) }):
					return fmt.Errorf("undecodable at offset %d", msg.Offset), nil
				}
				mu.Lock()
				defer mu.Unlock()
				applied[msg.Key]++
				if others := len(applied) + len(tc.dead); !special(msg.Key) && others == n-1 && (tc.held >= 0 || tc.failing >= 0) {
					closeOnce.Do(func() { close(othersDone) })
				}
				return nil, nil
			})
			if tc.held >= 0 {
				waitSignal(t, othersDone, "the other messages were not applied while one was held")
				// The offsets before the held message are committed, none after it.
				waitFor(t, func() bool { return committedOffsets(t, brokers, group, topic)[0] == int64(tc.held) })
			}
			close(release)
			var dlq *collector
			if len(tc.dead) > 0 {
				dlq = newCollector()
				startConsumer(t, testConsumerConfig(brokers, DeadLetterTopic(topic), newGroup(t)), dlq.handle("dlq"))
				var keys []string
				for _, i := range tc.dead {
					keys = append(keys, key(i))
				}
				dlq.waitKeys(t, keys)
			}
			waitFullyCommitted(t, brokers, group, topic)
			c.stop(t)

			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				want := 1
				if slices.Contains(tc.dead, i) {
					want = 0
				}
				if applied[key(i)] != want {
					t.Errorf("%s applied %d times, want %d", key(i), applied[key(i)], want)
				}
			}
			stats := c.consumer.Stats()
			wantRetries := int64(0)
			if tc.failing >= 0 {
				wantRetries = int64(attempts[key(tc.failing)] - 1)
				if wantRetries < 1 {
					t.Errorf("the failing message was attempted %d times, want more than once", attempts[key(tc.failing)])
				}
			}
			if stats.Messages != n || stats.DeadLettered != int64(len(tc.dead)) || stats.Retries != wantRetries {
				t.Errorf("stats %+v, want %d messages, %d dead-lettered, %d retries", stats, n, len(tc.dead), wantRetries)
			}
		})
	}
}

// testFlowShutdown stops RunFlow while one message never settles: the offsets before it are
// committed, and it and everything after it are delivered again to the next member.
func testFlowShutdown(t *testing.T, brokers []string) {
	const n, stuck = 10, 4
	topic := newTopic(t, brokers, 1)
	group := newGroup(t)
	w := newTestWriter(t, brokers)
	sent := numbered("flow", n)
	publish(t, w, topic, sent...)

	var handled sync.Map
	othersDone := make(chan struct{})
	var others sync.WaitGroup
	others.Add(n - 1)
	go func() { others.Wait(); close(othersDone) }()
	cfg := testConsumerConfig(brokers, topic, group)
	cfg.ShutdownGrace = 100 * time.Millisecond
	first := startFlow(t, cfg, func(ctx context.Context, msg Message) (error, error) {
		if msg.Key == fmt.Sprintf("flow-%d", stuck) {
			<-ctx.Done() // a call that never returns, like a hung fetch
			return nil, ctx.Err()
		}
		if _, again := handled.LoadOrStore(msg.Key, true); !again {
			others.Done()
		}
		return nil, nil
	})
	waitSignal(t, othersDone, "the other messages were not applied while one hung")
	waitFor(t, func() bool { return committedOffsets(t, brokers, group, topic)[0] == stuck })
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := committedOffsets(t, brokers, group, topic)[0]; got != stuck {
		t.Errorf("committed offset %d after shutdown, want %d (the hung message's)", got, stuck)
	}

	again := newCollector()
	startConsumer(t, testConsumerConfig(brokers, topic, group), again.handle("second"))
	msgs := again.waitKeys(t, keysOf(sent[stuck:]))
	waitFullyCommitted(t, brokers, group, topic)
	for _, msg := range msgs {
		if msg.Offset < stuck {
			t.Errorf("%s (offset %d) delivered again although committed", msg.Key, msg.Offset)
		}
	}
}
