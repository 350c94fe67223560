package graph

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBatchLoadsPrimedKeysInOneFetch(t *testing.T) {
	var fetches atomic.Int32
	b := newBatch(func(_ context.Context, keys []int) (map[int]string, error) {
		fetches.Add(1)
		out := map[int]string{}
		for _, k := range keys {
			if k%2 == 0 {
				out[k] = "even"
			}
		}
		return out, nil
	})
	keys := make([]int, 100)
	for i := range keys {
		keys[i] = i
	}
	b.prime(keys...)
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.load(t.Context(), k)
			if err != nil || (k%2 == 0) != (v == "even") {
				t.Errorf("key %d: %q, %v", k, v, err)
			}
		}()
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 100 primed keys, want 1", n)
	}
	// A new key costs a fetch of its own; a loaded one costs nothing.
	b.load(t.Context(), 1000)
	b.load(t.Context(), 5)
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestBatchSharesErrorsAndSurvivesPanics(t *testing.T) {
	boom := errors.New("boom")
	b := newBatch(func(_ context.Context, keys []int) (map[int]int, error) { return nil, boom })
	b.prime(1, 2)
	if _, err := b.load(t.Context(), 1); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := b.load(t.Context(), 2); !errors.Is(err, boom) {
		t.Fatalf("the batch's other key: %v", err)
	}

	release := make(chan struct{})
	p := newBatch(func(_ context.Context, keys []int) (map[int]int, error) {
		<-release
		panic("fetch failed")
	})
	p.prime(1, 2)
	waiter := make(chan error)
	go func() {
		defer func() { recover() }()
		p.load(context.Background(), 1)
	}()
	for {
		p.mu.Lock()
		started := p.entries[2].started
		p.mu.Unlock()
		if started {
			break
		}
	}
	go func() {
		_, err := p.load(context.Background(), 2)
		waiter <- err
	}()
	close(release)
	if err := <-waiter; !errors.Is(err, errLoaderPanicked) {
		t.Fatalf("a waiter of a panicked fetch got %v", err)
	}
}
