package graph

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vektah/gqlparser/v2/ast"

	"marquee/graph/generated"
	"marquee/graph/model"
)

// FuzzDirectString: the direct writer quotes every string as gqlgen's
// MarshalString does, invalid UTF-8 included.
func FuzzDirectString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\t\r\n\b\f\x00\x1f\x7f", "é 漢字 😀", "\xff\xfe\xc3", "\u2028\u2029", "</script>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		graphql.MarshalString(s).MarshalGQL(&want)
		w := &writer{buf: new(bytes.Buffer)}
		w.string(s)
		if !bytes.Equal(w.buf.Bytes(), want.Bytes()) {
			t.Errorf("%q: direct %s, gqlgen %s", s, w.buf, &want)
		}
	})
}

// TestDirectTime: DateTimes are written as gqlgen's MarshalTime writes them.
func TestDirectTime(t *testing.T) {
	zone := time.FixedZone("", -(3*3600 + 30*60))
	for _, tm := range []time.Time{
		{},
		time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 600, zone),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		var want bytes.Buffer
		graphql.MarshalTime(tm).MarshalGQL(&want)
		w := &writer{buf: new(bytes.Buffer)}
		w.time(tm)
		if !bytes.Equal(w.buf.Bytes(), want.Bytes()) {
			t.Errorf("%v: direct %s, gqlgen %s", tm, w.buf, &want)
		}
	}
}

// TestDirectPanicLeavesFieldToExecutor: a panic while writing (in a
// resolver the writer called) hands the field back to gqlgen, which meets
// the same panic where it would without the writer and reports it there.
func TestDirectPanicLeavesFieldToExecutor(t *testing.T) {
	d := newDirect(generated.NewExecutableSchema(generated.Config{}).Schema(), nil, nil)
	ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{})
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{})
	res := &model.PornstarConnection{}
	out, err := d.answer(ctx, res, func(*writer, ast.SelectionSet) { panic("boom") })
	if out != any(res) || err != nil {
		t.Errorf("answer after a panic: %v, %v; want the resolver's value back", out, err)
	}
	if got := testutil.ToFloat64(d.leftToExecutor); got != 1 {
		t.Errorf("left to the executor: %v, want 1", got)
	}
}
