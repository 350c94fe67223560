// Package async runs a function beside its caller, for a result the caller
// waits for later: a list's total counted while its page is read.
package async

import "context"

// Value is the result of a function started by Go.
type Value[T any] struct {
	done     chan struct{}
	v        T
	err      error
	panicked any
}

// Go runs fn(ctx) in a goroutine of its own. ctx is fn's to watch: a
// caller that gives up on the result cancels ctx, and fn returns when it
// sees that.
func Go[T any](ctx context.Context, fn func(context.Context) (T, error)) *Value[T] {
	v := &Value[T]{done: make(chan struct{})}
	go func() {
		defer close(v.done)
		defer func() {
			// A panic is the waiter's, where the request's recovery
			// turns it into an error answer; here it would end the process.
			v.panicked = recover()
		}()
		v.v, v.err = fn(ctx)
	}()
	return v
}

// Wait returns fn's result once fn has returned, and panics with fn's
// panic if it panicked.
func (v *Value[T]) Wait() (T, error) {
	<-v.done
	if v.panicked != nil {
		panic(v.panicked)
	}
	return v.v, v.err
}
