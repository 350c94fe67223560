package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"marquee/internal/testport"
)

// TestNoAckedMessageLostAcrossRestarts publishes without pause to a
// compacted Marquee topic while a consumer group reads and commits it, and
// restarts the embedded broker (its data dir kept) three times in the middle:
// every message whose Publish returned nil must reach the consumer.
func TestNoAckedMessageLostAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the broker under load")
	}
	dataDir, addr := t.TempDir(), testport.Addr(t)
	brokers := []string{addr}
	broker := startTestBroker(t, addr, dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	if err := EnsureTopics(ctx, Cluster{Brokers: brokers}, 3); err != nil {
		t.Fatal(err)
	}
	cancel()
	w := newTestWriter(t, brokers)
	got := newCollector()
	startConsumer(t, testConsumerConfig(brokers, TopicImages, newGroup(t)), got.handle("a"))

	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			batch := numbered(fmt.Sprintf("m%d", i), 20)
			pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := w.Publish(pctx, TopicImages, batch...)
			pcancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, keysOf(batch)...)
				mu.Unlock()
			}
		}
	}()
	for range 3 {
		time.Sleep(700 * time.Millisecond)
		broker.Close()
		broker = startTestBroker(t, addr, dataDir)
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	<-done
	mu.Lock()
	keys := append([]string(nil), acked...)
	mu.Unlock()
	if len(keys) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	got.waitKeys(t, keys)
	t.Logf("%d acknowledged messages, all delivered across 3 restarts", len(keys))
}
