package async_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"marquee/internal/async"
)

func TestValue(t *testing.T) {
	release := make(chan struct{})
	v := async.Go(context.Background(), func(context.Context) (int, error) {
		<-release // runs beside the caller, which goes on
		return 42, nil
	})
	close(release)
	if n, err := v.Wait(); n != 42 || err != nil {
		t.Fatalf("Wait() = %d, %v; want 42, nil", n, err)
	}
	if n, err := v.Wait(); n != 42 || err != nil {
		t.Fatalf("second Wait() = %d, %v; want the same", n, err)
	}
}

func TestValueError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	v := async.Go(ctx, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	cancel()
	if _, err := v.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait() error = %v; want the cancellation fn saw", err)
	}
}

func TestValuePanicReachesTheWaiter(t *testing.T) {
	v := async.Go(context.Background(), func(context.Context) (int, error) {
		panic("count failed")
	})
	defer func() {
		p, ok := recover().(*async.Panic)
		if !ok || p.Value != "count failed" || !strings.Contains(p.Error(), "async_test.go") {
			t.Fatalf("Wait panicked with %v; want fn's panic and the stack where fn panicked", p)
		}
	}()
	v.Wait()
	t.Fatal("Wait returned after fn panicked")
}
