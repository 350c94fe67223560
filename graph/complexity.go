package graph

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityLimit refuses an operation whose cost passes limit, priced as
// gqlgen's complexity package prices it (setComplexity in limits.go, else 1
// per field plus its children), but with each fragment priced once: a
// fragment's cost depends only on its selections and the operation's
// variables, so spreading it again costs a lookup, and pricing is linear in
// the document however often its fragments spread one another. It looks at
// the request's context as it goes.
type complexityLimit struct {
	schema graphql.ExecutableSchema
	limit  int
	// work, when set, counts the selections visited (tests).
	work *atomic.Int64
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = complexityLimit{}

func (complexityLimit) ExtensionName() string { return "MarqueeComplexityLimit" }

func (complexityLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (c complexityLimit) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	p := pricer{ctx: ctx, es: c.schema, schema: c.schema.Schema(), vars: opCtx.Variables, fragments: map[string]int{}}
	cost := p.selectionSet(opCtx.Operation.SelectionSet)
	if c.work != nil {
		c.work.Add(p.visits)
	}
	if ctx.Err() != nil {
		return budgetError("the request ended while its operation was priced")
	}
	if cost > c.limit {
		return budgetError("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
	}
	return nil
}

type pricer struct {
	ctx    context.Context
	es     graphql.ExecutableSchema
	schema *ast.Schema
	vars   map[string]any
	// fragments memoizes each fragment's cost; -1 marks one being priced.
	fragments map[string]int
	visits    int64
}

func (p *pricer) selectionSet(set ast.SelectionSet) int {
	cost := 0
	for _, sel := range set {
		p.visits++
		if p.visits%contextCheckEvery == 0 && p.ctx.Err() != nil {
			return cost
		}
		switch sel := sel.(type) {
		case *ast.Field:
			cost = addCost(cost, p.field(sel))
		case *ast.InlineFragment:
			cost = addCost(cost, p.selectionSet(sel.SelectionSet))
		case *ast.FragmentSpread:
			cost = addCost(cost, p.fragment(sel))
		}
	}
	return cost
}

func (p *pricer) fragment(spread *ast.FragmentSpread) int {
	if cost, ok := p.fragments[spread.Name]; ok {
		return max(cost, 0)
	}
	if spread.Definition == nil {
		return 0
	}
	p.fragments[spread.Name] = -1
	cost := p.selectionSet(spread.Definition.SelectionSet)
	p.fragments[spread.Name] = cost
	return cost
}

// field prices one field: its resolver's complexity function when it has
// one, else 1 plus its children. A field of an interface costs what its
// dearest implementation costs.
func (p *pricer) field(f *ast.Field) int {
	if f.Definition == nil || f.ObjectDefinition == nil {
		return 1
	}
	typ := p.schema.Types[f.Definition.Type.Name()]
	if typ == nil || typ.Name == "__Schema" {
		return 0 // introspection of the schema is priced by its own switch
	}
	children := 0
	switch typ.Kind {
	case ast.Object, ast.Interface, ast.Union:
		children = p.selectionSet(f.SelectionSet)
	}
	args := f.ArgumentMap(p.vars)
	owners := []*ast.Definition{f.ObjectDefinition}
	if f.ObjectDefinition.Kind == ast.Interface {
		owners = p.schema.GetPossibleTypes(f.ObjectDefinition)
	}
	cost := 0
	for _, owner := range owners {
		own, ok := p.es.Complexity(p.ctx, owner.Name, f.Name, children, args)
		if !ok || own < 1 {
			own = addCost(1, children)
		}
		cost = max(cost, own)
	}
	return cost
}

// addCost adds two costs without overflowing; a negative one (a pricing
// function's mistake) counts as nothing.
func addCost(a, b int) int {
	a, b = max(a, 0), max(b, 0)
	if a > maxCost-b {
		return maxCost
	}
	return a + b
}

const maxCost = int(^uint(0) >> 1)
