package imaging

import (
	"context"
	"sync"
)

// groupSync makes writes to one file system durable in shared rounds: a
// caller of wait returns once a sync of the whole file system that started
// after its call has finished. While one round runs, the callers that
// arrive join the next, so a store writing many files at once pays one sync
// per round instead of one per file and directory (a journal commit each).
type groupSync struct {
	sync func() error // syncs the whole file system

	mu      sync.Mutex
	next    *syncRound // the round that has not started; nil: none yet
	running bool       // a goroutine runs rounds
}

// syncRound is one sync and the callers waiting for it.
type syncRound struct {
	done chan struct{}
	err  error
}

func newGroupSync(sync func() error) *groupSync { return &groupSync{sync: sync} }

// wait returns once a sync that started after the call has finished, with
// its error, or ctx's error if ctx ends first (the round still runs).
func (g *groupSync) wait(ctx context.Context) error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &syncRound{done: make(chan struct{})}
	}
	round := g.next
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	select {
	case <-round.done:
		return round.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run runs rounds until none is waiting.
func (g *groupSync) run() {
	for {
		g.mu.Lock()
		round := g.next
		g.next = nil
		if round == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		round.err = g.sync()
		close(round.done)
	}
}
