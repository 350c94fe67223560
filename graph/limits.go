package graph

import (
	"sync/atomic"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"

	"marquee/db"
	"marquee/graph/generated"
	"marquee/graph/model"
)

// assumedThumbnails is what the complexity of a performer's thumbnails
// counts per performer: the feed gives three (pc, mobile, tablet).
const assumedThumbnails = 3

// lookupCost is the complexity of a root field that looks one object up:
// each costs a query of its own, so one operation may hold about a hundred
// (aliased) lookups, not the thousands the token limit would let through.
const lookupCost = 100

// facetsCost is the complexity of pornstarFacets: it reads every performer
// the filter selects, as ten lookups would cost.
const facetsCost = 10 * lookupCost

// setComplexity prices the fields whose cost grows with a list: a list
// field costs its own 1 plus its size times the cost of one element.
func setComplexity(c *generated.ComplexityRoot) {
	pageSize := func(first, last *int) int {
		switch {
		case first != nil && *first > 0:
			return *first
		case last != nil && *last > 0:
			return *last
		}
		return db.DefaultPageSize
	}
	c.Query.Pornstars = func(child int, first *int, _ *string, last *int, _ *string, _ *model.PornstarFilter, _ []*model.PornstarOrder) int {
		return 1 + pageSize(first, last)*child
	}
	c.Query.FeedRuns = func(child int, first *int, _ *string) int {
		return 1 + pageSize(first, nil)*child
	}
	c.FeedRun.Rejects = func(child int, first *int) int {
		n := 100
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
	c.Query.PornstarFacets = func(child int, _ *model.PornstarFilter, _ []model.PornstarFacet) int { return facetsCost + child }
	c.Pornstar.Thumbnails = func(child int) int { return 1 + assumedThumbnails*child }
	lookup := func(child int) int { return lookupCost + child }
	c.Query.Node = func(child int, _ string) int { return lookup(child) }
	c.Query.Pornstar = func(child int, _ string) int { return lookup(child) }
	c.Query.PornstarByFeedID = func(child int, _ int) int { return lookup(child) }
	c.Query.PornstarBySlug = func(child int, _ string) int { return lookup(child) }
	c.Query.FeedRun = func(child int, _ string) int { return lookup(child) }
	c.Query.Image = func(child int, _ string) int { return lookup(child) }
}

// maxDepthRule refuses an operation whose selections nest deeper than
// limit (fragments count where they are spread). Introspection fields
// count too: __Type.ofType nests without end.
func maxDepthRule(limit int) core.Rule {
	return core.Rule{
		Name: "MarqueeMaxDepth",
		RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
			observers.OnOperation(func(walker *core.Walker, op *ast.OperationDefinition) {
				d := depthWalker{doc: walker.Document, limit: limit, fragments: map[string]int{}}
				if depth := d.selectionSet(op.SelectionSet, 0); depth > limit {
					addError(core.Message("the operation nests %d fields deep, more than the limit of %d", depth, limit), core.At(op.Position))
				}
			})
		},
	}
}

type depthWalker struct {
	doc   *ast.QueryDocument
	limit int
	// fragments memoizes the depth of each fragment's own selections; -1
	// marks one being walked (a cycle, refused by another rule).
	fragments map[string]int
}

// selectionSet returns the depth of set below a field at depth, stopping
// once the limit is passed.
func (d *depthWalker) selectionSet(set ast.SelectionSet, depth int) int {
	deepest := depth
	for _, sel := range set {
		var got int
		switch sel := sel.(type) {
		case *ast.Field:
			got = depth + 1
			if got <= d.limit {
				got = d.selectionSet(sel.SelectionSet, depth+1)
			}
		case *ast.InlineFragment:
			got = d.selectionSet(sel.SelectionSet, depth)
		case *ast.FragmentSpread:
			got = depth + d.fragment(sel.Name)
		}
		deepest = max(deepest, got)
		if deepest > d.limit {
			break
		}
	}
	return deepest
}

func (d *depthWalker) fragment(name string) int {
	if depth, ok := d.fragments[name]; ok {
		return max(depth, 0)
	}
	def := d.doc.Fragments.ForName(name)
	if def == nil {
		return 0 // unknown fragments are another rule's error
	}
	d.fragments[name] = -1
	depth := d.selectionSet(def.SelectionSet, 0)
	d.fragments[name] = depth
	return depth
}

// noIntrospectionRule refuses __schema and __type when introspection is
// off; __typename stays allowed.
var noIntrospectionRule = core.Rule{
	Name: "MarqueeNoIntrospection",
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnField(func(_ *core.Walker, field *ast.Field) {
			if field.Name == "__schema" || field.Name == "__type" {
				addError(core.Message("introspection is disabled on this server"), core.At(field.Position))
			}
		})
	},
}

// countingRule counts every node the validator's walk visits into work: a
// test's measure of what validating a document costs.
func countingRule(work *atomic.Int64) core.Rule {
	return core.Rule{
		Name: "MarqueeCountValidation",
		RuleFunc: func(observers *core.Events, _ core.AddErrFunc) {
			observers.OnField(func(*core.Walker, *ast.Field) { work.Add(1) })
			observers.OnFragmentSpread(func(*core.Walker, *ast.FragmentSpread) { work.Add(1) })
			observers.OnInlineFragment(func(*core.Walker, *ast.InlineFragment) { work.Add(1) })
			observers.OnDirective(func(*core.Walker, *ast.Directive) { work.Add(1) })
			observers.OnValue(func(*core.Walker, *ast.Value) { work.Add(1) })
		},
	}
}
