package ingest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"marquee/db"
	"marquee/ingest/feedgen"
)

// TestRunLeavesItsRunnerAsSet: a run only reads its Runner and the Runner's
// Fetcher, so one Runner can be shared. While a run goes on, another
// goroutine reads every field, as a second run would (go test -race reports
// any write); afterwards every field is as it was set, the zero ones too,
// although the run used their defaults.
func TestRunLeavesItsRunnerAsSet(t *testing.T) {
	const items = 40
	tests := []struct {
		name   string
		runner func(store *db.Store, source string) *Runner
	}{
		{"zero settings, run with their defaults", func(store *db.Store, source string) *Runner {
			return &Runner{Store: store, Fetcher: &Fetcher{}, Publisher: &memPublisher{}, Source: source}
		}},
		{"every setting given", func(store *db.Store, source string) *Runner {
			r := newTestRunner(store, &memPublisher{}, source)
			r.now = func() time.Time { return time.Now().UTC() }
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := sqliteStore(t)
			source := writeTemp(t, "feed.json", genFeed(t, feedgen.Options{Items: items, Seed: 17}))
			runner := tt.runner(store, source)
			before := fieldsOf(runner)

			stop, watched := make(chan struct{}), make(chan []any, 1)
			go func() {
				defer close(watched)
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					if seen := fieldsOf(runner); !slices.Equal(seen, before) {
						watched <- seen
						return
					}
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			summary, _ := runFeed(t, store, runner, false)
			close(stop)

			if summary.Status != db.RunCompleted || summary.Changed != items {
				t.Errorf("summary %v, want completed with %d changed", summary, items)
			}
			if seen, changed := <-watched; changed {
				t.Errorf("while the run went on, the Runner's fields became %v; were %v", seen, before)
			}
			if after := fieldsOf(runner); !slices.Equal(after, before) {
				t.Errorf("after the run, the Runner's fields are %v; were %v", after, before)
			}
		})
	}
}

// fieldsOf lists the settings of r, in field order, followed by those of its
// Fetcher, each after its name and comparable with ==: a pointer as its
// address, a func as its code pointer (0 when nil). Progress, which a run
// updates, is left out.
func fieldsOf(r *Runner) []any {
	fields := structFields(reflect.ValueOf(r).Elem(), "Progress")
	if r.Fetcher != nil {
		fields = append(fields, structFields(reflect.ValueOf(r.Fetcher).Elem())...)
	}
	return fields
}

// structFields lists the fields of the struct v but skip as fieldsOf does.
// The unexported fields of Runner and Fetcher are funcs, the only kind read
// here without Interface.
func structFields(v reflect.Value, skip ...string) []any {
	var fields []any
	for i := range v.NumField() {
		name, field := v.Type().Field(i).Name, v.Field(i)
		switch {
		case slices.Contains(skip, name):
		case field.Kind() == reflect.Func:
			fields = append(fields, name, field.Pointer())
		default:
			fields = append(fields, name, field.Interface())
		}
	}
	return fields
}
