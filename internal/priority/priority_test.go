package priority

import (
	"context"
	"testing"
	"time"
)

// forever is a pause no test waits out: a Yield under it returns only
// because the foreground ended or its context did.
const forever = time.Hour

// returns runs Yield(ctx) in the background and returns a channel closed
// when it returns.
func returns(ctx context.Context, g *Gate) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Yield(ctx)
	}()
	return done
}

// blocked checks that done stays open while the test gives it every chance
// to close (it can only close through what the test does next).
func blocked(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
		t.Fatalf("%s returned while foreground work was in flight", what)
	case <-time.After(50 * time.Millisecond):
	}
}

func waitClosed(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s never returned", what)
	}
}

func TestYield(t *testing.T) {
	t.Run("no foreground: at once, not counted", func(t *testing.T) {
		g := NewGate(forever)
		waitClosed(t, returns(t.Context(), g), "Yield")
		if yields, _ := g.Stats(); yields != 0 {
			t.Fatalf("Stats yields = %d, want 0", yields)
		}
	})
	t.Run("waits for the last foreground work to end", func(t *testing.T) {
		g := NewGate(forever)
		endA, endB := g.Begin(), g.Begin()
		done := returns(t.Context(), g)
		blocked(t, done, "Yield")
		endA()
		endA() // a second call changes nothing
		blocked(t, done, "Yield with one of two requests still in flight")
		endB()
		waitClosed(t, done, "Yield after the foreground ended")
		if yields, waited := g.Stats(); yields != 1 || waited <= 0 {
			t.Fatalf("Stats = %d, %v; want 1 wait of some time", yields, waited)
		}
		waitClosed(t, returns(t.Context(), g), "Yield once idle again")
	})
	t.Run("gives up after the pause", func(t *testing.T) {
		g := NewGate(time.Millisecond)
		defer g.Begin()()
		for range 3 {
			waitClosed(t, returns(t.Context(), g), "Yield past its pause")
		}
		if yields, _ := g.Stats(); yields != 3 {
			t.Fatalf("Stats yields = %d, want 3", yields)
		}
	})
	t.Run("ends with its context", func(t *testing.T) {
		g := NewGate(forever)
		defer g.Begin()()
		ctx, cancel := context.WithCancel(t.Context())
		done := returns(ctx, g)
		blocked(t, done, "Yield")
		cancel()
		waitClosed(t, done, "Yield after its context ended")
	})
}

func TestBackground(t *testing.T) {
	g := NewGate(forever)
	end := g.Begin()
	defer end()

	// Another context, not marked: no waiting.
	plain := make(chan struct{})
	go func() { defer close(plain); Yield(t.Context()) }()
	waitClosed(t, plain, "Yield of an unmarked context")

	marked := make(chan struct{})
	go func() { defer close(marked); Yield(Background(t.Context(), g)) }()
	blocked(t, marked, "Yield of background work")
	end()
	waitClosed(t, marked, "Yield of background work after the foreground ended")
}
