// Package priority lets background work give way to foreground work in one
// process. In the embedded mode (`marquee run`) the APIs share two cores with
// a feed run's parse and load and with the image compactor; Go schedules
// every runnable goroutine alike, so a request that wakes behind busy
// background goroutines waits for their time slices at each step. A Gate
// counts the foreground work in flight (API requests), and background work
// calls Yield at its natural steps (each database statement, each feed
// item, each image): while foreground work runs, Yield waits for it to end,
// for at most the gate's pause, so the background always moves on.
package priority

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPause is how long one Yield waits at most for foreground work to
// end: about a request's own time, so that a steady flow of requests slows
// the background without stopping it.
const DefaultPause = 20 * time.Millisecond

// Gate counts foreground work in flight and holds background work back
// while there is some. The zero value is not usable; see NewGate.
type Gate struct {
	pause time.Duration

	mu     sync.Mutex
	active int
	// idle is closed when active falls to zero; nil while there is none.
	idle atomic.Pointer[chan struct{}]

	yields atomic.Int64 // Yields that waited
	waited atomic.Int64 // nanoseconds waited in them
}

// NewGate returns a gate whose Yield waits at most pause (DefaultPause when
// pause is not positive).
func NewGate(pause time.Duration) *Gate {
	if pause <= 0 {
		pause = DefaultPause
	}
	return &Gate{pause: pause}
}

// Begin marks foreground work as started; call the returned end when it
// is done (once).
func (g *Gate) Begin() (end func()) {
	g.mu.Lock()
	if g.active == 0 {
		idle := make(chan struct{})
		g.idle.Store(&idle)
	}
	g.active++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.active--
			if g.active == 0 {
				close(*g.idle.Swap(nil))
			}
			g.mu.Unlock()
		})
	}
}

// Yield waits while foreground work is in flight, at most the gate's
// pause, or until ctx ends. It returns at once when there is none.
func (g *Gate) Yield(ctx context.Context) {
	idle := g.idle.Load()
	if idle == nil {
		return
	}
	start := time.Now()
	timer := time.NewTimer(g.pause)
	select {
	case <-*idle:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	g.yields.Add(1)
	g.waited.Add(int64(time.Since(start)))
}

// Stats reports how many Yields waited and how long they waited in all.
func (g *Gate) Stats() (yields int64, waited time.Duration) {
	return g.yields.Load(), time.Duration(g.waited.Load())
}

type gateKey struct{}

// Background returns ctx marked as background work of g: Yield(ctx) gives
// way to g's foreground work.
func Background(ctx context.Context, g *Gate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

// Yield gives way to the foreground work of the gate ctx is background
// work of (see Background); it returns at once for any other ctx.
func Yield(ctx context.Context) {
	if g, ok := ctx.Value(gateKey{}).(*Gate); ok {
		g.Yield(ctx)
	}
}
