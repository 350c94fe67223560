package graph

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// A GraphQL document is small, but the passes that follow parsing see it
// with every fragment spread replaced by the fragment: a document of 30
// fragments that each spread the next one twice is 1 KB of text and 2^30
// selections. gqlparser's validation walks each operation and each
// fragment definition with the fragments it reaches, its field-merging rule
// compares fields of one name at one place pair by pair, and gqlgen's
// complexity and field collection walk the operation expanded. None of them
// watches the request's context.
//
// documentBudget measures a document before any of those passes run, in
// time linear in the document (fragments are measured once each), and
// refuses one whose expansion would cost them more than its budget:
//
//   - expansion: every operation and every fragment definition counted with
//     its fragments spread out (what validation and complexity walk), each
//     selection weighing 1 plus its argument values and directives, may
//     weigh at most one per byte of the document, at least
//     minExpansionBudget and at most Options.MaxSelections. A document
//     written out without fragments never reaches that; fragments may
//     repeat a selection, not multiply it.
//   - merging: the pairs of same-named fields, and of fragment spreads, that
//     meet at one place of the response (what the field-merging rule
//     compares) count against the same budget. Only measured once the
//     expansion is known to be within budget, so it costs no more than that.
//
// A refused document is answered COMPLEXITY_LIMIT_EXCEEDED (422). The
// measure runs only for documents the query cache does not hold: a cached
// document was measured before it was validated.
type documentBudget struct {
	maxTokens     int
	maxSelections int
	validated     graphql.Cache[*ast.QueryDocument]
	// work, when set, counts the selections visited (tests).
	work *atomic.Int64
}

// minExpansionBudget is the expansion every document may have whatever
// its length: a few hundred selections are what a client's fragments of a
// page and its pieces add up to, and a thousand cost microseconds.
const minExpansionBudget = 1000

// contextCheckEvery is how many selections the measures visit between
// looks at the request's context.
const contextCheckEvery = 256

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentBudget{}

func (documentBudget) ExtensionName() string { return "MarqueeDocumentBudget" }

func (documentBudget) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters runs after the persisted-query extension has
// put the query's text in place and before gqlgen parses and validates it.
func (b documentBudget) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		return nil
	}
	if _, ok := b.validated.Get(ctx, params.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, b.maxTokens)
	if err != nil {
		return nil // gqlgen parses it again and reports the error as usual
	}
	m := newMeasure(ctx, doc, len(params.Query), b.maxSelections)
	defer func() {
		if b.work != nil {
			b.work.Add(m.visits)
		}
	}()
	return m.check()
}

// measure walks one document for documentBudget. Its counts saturate just
// above the budget, so no walk goes further than that.
type measure struct {
	ctx       context.Context
	doc       *ast.QueryDocument
	length    int // of the document's text, in bytes
	budget    int
	fragments map[string]*ast.FragmentDefinition
	// expanded memoizes each fragment's expanded selection count; -1 marks
	// one being counted (a cycle, which validation refuses).
	expanded map[string]int
	// levelSpreads memoizes spreadsWithin, as expanded does selections.
	levelSpreads map[string]int
	cyclic       bool
	visits       int64
	err          *gqlerror.Error
}

func newMeasure(ctx context.Context, doc *ast.QueryDocument, length, maxSelections int) *measure {
	m := &measure{
		ctx:       ctx,
		doc:       doc,
		length:    length,
		budget:    min(maxSelections, max(minExpansionBudget, length)),
		fragments: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		expanded:  make(map[string]int, len(doc.Fragments)),

		levelSpreads: make(map[string]int, len(doc.Fragments)),
	}
	for _, f := range doc.Fragments {
		if _, ok := m.fragments[f.Name]; !ok { // the first of duplicates, as the validator does
			m.fragments[f.Name] = f
		}
	}
	return m
}

func (m *measure) check() *gqlerror.Error {
	total := 0
	for _, op := range m.doc.Operations {
		total = m.add(total, m.selections(op.SelectionSet))
	}
	for _, f := range m.doc.Fragments {
		total = m.add(total, m.fragment(f.Name))
	}
	if m.err != nil {
		return m.err
	}
	if total > m.budget {
		return budgetError("with its fragments spread out, the document weighs more than %d selections and argument values, the budget of a document of %d bytes", m.budget, m.length)
	}
	if m.cyclic {
		return nil // validation refuses fragment cycles; nothing to merge
	}
	pairs := 0
	for _, op := range m.doc.Operations {
		pairs = m.add(pairs, m.mergePairs([]ast.SelectionSet{op.SelectionSet}))
	}
	for _, f := range m.doc.Fragments {
		pairs = m.add(pairs, m.mergePairs([]ast.SelectionSet{f.SelectionSet}))
	}
	if m.err != nil {
		return m.err
	}
	if pairs > m.budget {
		return budgetError("the document selects fields of one name, or spreads fragments, at one place too many times: more than %d pairs to compare, the budget of a document of %d bytes", m.budget, m.length)
	}
	return nil
}

// add is a + b, saturating just above the budget.
func (m *measure) add(a, b int) int { return min(a+b, m.budget+1) }

// visit counts one selection visited and reports whether to go on.
func (m *measure) visit() bool {
	m.visits++
	if m.err == nil && m.visits%contextCheckEvery == 0 && m.ctx.Err() != nil {
		m.err = budgetError("the request ended while its document was measured")
	}
	return m.err == nil
}

// selections is the number of selections in set with every fragment
// spread replaced by the fragment.
func (m *measure) selections(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		if !m.visit() {
			return n
		}
		switch sel := sel.(type) {
		case *ast.Field:
			n = m.add(n, 1+argumentsWeight(sel.Arguments)+directivesWeight(sel.Directives)+m.selections(sel.SelectionSet))
		case *ast.InlineFragment:
			n = m.add(n, 1+directivesWeight(sel.Directives)+m.selections(sel.SelectionSet))
		case *ast.FragmentSpread:
			n = m.add(n, 1+directivesWeight(sel.Directives)+m.fragment(sel.Name))
		}
	}
	return n
}

func (m *measure) fragment(name string) int {
	if n, ok := m.expanded[name]; ok {
		if n < 0 {
			m.cyclic = true
			return 0
		}
		return n
	}
	def := m.fragments[name]
	if def == nil {
		return 0 // an unknown fragment is validation's error
	}
	m.expanded[name] = -1
	n := m.add(directivesWeight(def.Directives), m.selections(def.SelectionSet))
	m.expanded[name] = n
	return n
}

// mergePairs counts what the field-merging rule compares where the
// selection sets in sets meet in the response, and at every place below:
// each pair of fields of one response name (and their arguments), and
// each pair of distinct fragments spread side by side in one selection set,
// weighed by the fragments each of the two spreads in turn at that place.
func (m *measure) mergePairs(sets []ast.SelectionSet) int {
	type group struct {
		fields int
		// weight is the fields' arguments and directives, which the
		// merging rule compares pair by pair.
		weight int
		sets   []ast.SelectionSet
	}
	var order []string
	groups := map[string]*group{}
	spread := map[string]bool{}
	pairs := 0
	var collect func(set ast.SelectionSet)
	collect = func(set ast.SelectionSet) {
		pairs = m.add(pairs, m.spreadPairs(set))
		for _, sel := range set {
			if !m.visit() {
				return
			}
			switch sel := sel.(type) {
			case *ast.Field:
				name := sel.Alias
				if name == "" {
					name = sel.Name
				}
				g := groups[name]
				if g == nil {
					g = &group{}
					groups[name] = g
					order = append(order, name)
				}
				g.fields++
				g.weight = m.add(g.weight, argumentsWeight(sel.Arguments)+directivesWeight(sel.Directives))
				if len(sel.SelectionSet) > 0 {
					g.sets = append(g.sets, sel.SelectionSet)
				}
			case *ast.InlineFragment:
				collect(sel.SelectionSet)
			case *ast.FragmentSpread:
				if def := m.fragments[sel.Name]; def != nil && !spread[sel.Name] {
					spread[sel.Name] = true
					collect(def.SelectionSet)
				}
			}
		}
	}
	for _, set := range sets {
		collect(set)
	}
	for _, name := range order {
		g := groups[name]
		// Each of the n fields meets the n-1 others: its own arguments are
		// compared n-1 times.
		pairs = m.add(pairs, g.fields*(g.fields-1)/2+min(g.fields-1, m.budget)*g.weight)
		if len(g.sets) > 0 && pairs <= m.budget {
			pairs = m.add(pairs, m.mergePairs(g.sets))
		}
	}
	return pairs
}

// spreadPairs weighs the pairs of distinct fragments spread directly in
// set: two fragments are compared, and so is every fragment either spreads
// at the same place with the other.
func (m *measure) spreadPairs(set ast.SelectionSet) int {
	sum, squares := 0, 0
	seen := map[string]bool{}
	for _, sel := range set {
		if spread, ok := sel.(*ast.FragmentSpread); ok && !seen[spread.Name] {
			seen[spread.Name] = true
			w := 1 + m.spreadsWithin(spread.Name)
			sum = m.add(sum, w)
			squares = m.add(squares, min(w, m.budget)*min(w, m.budget))
		}
	}
	if len(seen) < 2 {
		return 0
	}
	return m.add(0, (min(sum, m.budget)*min(sum, m.budget)-min(squares, sum*sum))/2)
}

// spreadsWithin is how many fragment spreads fragment name holds at its
// own level (directly or in inline fragments), those fragments' own
// counted too.
func (m *measure) spreadsWithin(name string) int {
	if n, ok := m.levelSpreads[name]; ok {
		return max(n, 0)
	}
	def := m.fragments[name]
	if def == nil {
		return 0
	}
	m.levelSpreads[name] = -1
	var count func(set ast.SelectionSet) int
	count = func(set ast.SelectionSet) int {
		n := 0
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.InlineFragment:
				n = m.add(n, count(sel.SelectionSet))
			case *ast.FragmentSpread:
				n = m.add(n, 1+m.spreadsWithin(sel.Name))
			}
		}
		return n
	}
	n := count(def.SelectionSet)
	m.levelSpreads[name] = n
	return n
}

// argumentsWeight is the number of values in args, nested ones included:
// what validation visits of them wherever their field is reached.
func argumentsWeight(args ast.ArgumentList) int {
	n := 0
	for _, arg := range args {
		n += valueWeight(arg.Value)
	}
	return n
}

func directivesWeight(dirs ast.DirectiveList) int {
	n := 0
	for _, dir := range dirs {
		n += 1 + argumentsWeight(dir.Arguments)
	}
	return n
}

func valueWeight(v *ast.Value) int {
	if v == nil {
		return 0
	}
	n := 1
	for _, child := range v.Children {
		n += valueWeight(child.Value)
	}
	return n
}

func budgetError(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": CodeComplexityLimitExceeded}
	return err
}
