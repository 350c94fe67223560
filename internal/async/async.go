// Package async runs a function beside its caller, for a result the caller
// waits for later: a list's total counted while its page is read.
package async

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Value is the result of a function started by Go.
type Value[T any] struct {
	done     chan struct{}
	v        T
	err      error
	panicked *Panic
}

// Go runs fn(ctx) in a goroutine of its own. fn ends its work when ctx
// ends: the request's, or one the caller cancels when it no longer wants
// the result.
func Go[T any](ctx context.Context, fn func(context.Context) (T, error)) *Value[T] {
	v := &Value[T]{done: make(chan struct{})}
	go func() {
		defer close(v.done)
		defer func() {
			// A panic is the waiter's, where the request's recovery
			// turns it into an error answer; here it would end the process.
			if p := recover(); p != nil {
				v.panicked = &Panic{Value: p, Stack: debug.Stack()}
			}
		}()
		v.v, v.err = fn(ctx)
	}()
	return v
}

// Panic is what Wait panics with when fn panicked: fn's panic value and
// the stack of fn's goroutine where it panicked.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string {
	return fmt.Sprintf("%v\n\ngoroutine that panicked:\n%s", p.Value, p.Stack)
}

// Wait returns fn's result once fn has returned, and panics with a *Panic
// if fn panicked.
func (v *Value[T]) Wait() (T, error) {
	<-v.done
	if v.panicked != nil {
		panic(v.panicked)
	}
	return v.v, v.err
}
