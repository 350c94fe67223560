package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// A client that leaves stops the measure: it looks at the request's
// context as it goes.
func TestMeasureStopsWhenTheRequestEnds(t *testing.T) {
	query := "{ " + strings.Repeat("a: __typename ", 1000) + "}"
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m := newMeasure(ctx, doc, len(query), DefaultMaxSelections)
	err2 := m.check()
	if err2 == nil || !strings.Contains(err2.Message, "request ended") {
		t.Fatalf("check with the request gone = %v, want the request's end reported", err2)
	}
	if m.visits > contextCheckEvery {
		t.Errorf("visited %d selections after the request ended, want at most %d", m.visits, contextCheckEvery)
	}
}
