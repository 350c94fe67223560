package db

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/uptrace/bun"
)

// Searches, counts and facet requests answered from the discovery index
// (discovery_index.go) apply a filter as the SQL of filter.go does, value
// for value: the tests run every case both ways.

// indexTest reports whether a performer passes one filter.
type indexTest func(p *indexedPerformer) bool

// indexQuery is a filter as the index applies it.
type indexQuery struct {
	// search is the parsed q; nil without one.
	search *indexSearch
	// tests[i] is FilterFields[i]'s test, nil where it does not narrow;
	// narrowing lists the i of those that do.
	tests     []indexTest
	narrowing []int
	// filtered is whether a filter other than removed narrows.
	filtered bool
	// tagValues are the tag filters' values, compared by code: each holds
	// the codes of its values in the snapshot each reads.
	tagValues []*tagValues
}

// tagValues are the values of one tag filter.
type tagValues struct {
	facet  int // FacetFields index
	values []string
	codes  []int32
}

// bind sets the codes of the tag filters' values in snap. Codes are never
// reused, so a value without one in snap is held by none of its performers.
func (iq *indexQuery) bind(snap *discoverySnapshot) {
	for _, tv := range iq.tagValues {
		tv.codes = tv.codes[:0]
		for code, value := range snap.valuesOf(tv.facet) {
			if slices.Contains(tv.values, value) {
				tv.codes = append(tv.codes, int32(code))
			}
		}
	}
}

// waitsForIndex reports whether the query is worth bringing the index up
// to date for. A list without q or another filter than removed is walked
// in order on an index of the database, which answers it about as fast as
// the discovery index does: such a list uses the discovery index only when
// it is current, so that it never waits for the index to catch up with a
// feed run's writes.
func (iq *indexQuery) waitsForIndex() bool {
	return iq.search != nil || iq.filtered
}

// snapshotFor returns the index to answer iq from, nil when the database
// answers it.
func (s *Store) snapshotFor(ctx context.Context, iq *indexQuery) (*discoverySnapshot, error) {
	if iq.waitsForIndex() {
		return s.discoveryNow(ctx)
	}
	return s.discoveryIfCurrent(ctx)
}

// indexSearch is a q as the index compares it with search_text's lines.
type indexSearch struct {
	searchQuery
	// wordStarts[i] is prefixes[i] after a space: a match inside a line.
	wordStarts []string
}

// filterFacets[i] is the facet that holds the values FilterFields[i]
// compares, nil when the index holds none.
var filterFacets = func() []*FacetField {
	out := make([]*FacetField, len(FilterFields))
	for i := range FilterFields {
		ff := &FilterFields[i]
		for j := range FacetFields {
			facet := &FacetFields[j]
			switch {
			case ff.tag != "" && facet.tag == ff.tag,
				ff.Kind == FilterTextList && ff.tag == "" && facet.column == ff.column && facet.Kind == FacetValues && !facet.boolean,
				ff.Kind == FilterBool && ff.where == nil && facet.column == ff.column && facet.boolean,
				ff.Kind == FilterIntRange && facet.column == ff.column && facet.Kind == FacetHistogram:
				out[i] = facet
			}
		}
	}
	return out
}()

// sortKeyFacets are the histogram facets that hold the values of a sort
// key, by field.
var sortKeyFacets = func() map[string]*FacetField {
	out := map[string]*FacetField{}
	for _, k := range sortKeyTable {
		for j := range FacetFields {
			if facet := &FacetFields[j]; facet.Kind == FacetHistogram && facet.column == k.column {
				out[k.field] = facet
			}
		}
	}
	return out
}()

// indexQueryOf returns f (validated) as the index applies it; ok is false
// when the index is off or f has a filter whose values it does not hold.
func (s *Store) indexQueryOf(f *Filter) (*indexQuery, bool) {
	if s.discovery.off.Load() {
		return nil, false
	}
	iq := &indexQuery{tests: make([]indexTest, len(FilterFields))}
	for i := range FilterFields {
		ff := &FilterFields[i]
		switch {
		case ff.Kind == FilterRemoved:
			iq.tests[i] = removedTest(f)
			continue
		case !ff.isSet(f):
			continue
		case ff.Kind == FilterText && ff.Name == "q":
			sq, ok := parseSearch(f.Q)
			if !ok {
				continue
			}
			iq.search = &indexSearch{searchQuery: sq}
			for _, prefix := range sq.prefixes {
				iq.search.wordStarts = append(iq.search.wordStarts, " "+prefix)
			}
			continue // each finds the performers q matches
		}
		facet := filterFacets[i]
		if facet == nil {
			return nil, false
		}
		iq.tests[i] = iq.facetTest(ff, facet, f)
	}
	for i, test := range iq.tests {
		if test != nil {
			iq.narrowing = append(iq.narrowing, i)
			iq.filtered = iq.filtered || FilterFields[i].Kind != FilterRemoved
		}
	}
	return iq, true
}

// removedTest is whereRemoved for a filter without updated_since (which
// the index does not hold).
func removedTest(f *Filter) indexTest {
	switch f.Removed {
	case RemovedOnly:
		return func(p *indexedPerformer) bool { return p.removed && !p.deleted }
	case RemovedAny:
		return func(p *indexedPerformer) bool { return !p.deleted }
	default:
		return func(p *indexedPerformer) bool { return !p.removed }
	}
}

// facetTest is the filter ff of f over the values of its facet.
func (iq *indexQuery) facetTest(ff *FilterField, facet *FacetField, f *Filter) indexTest {
	bit, slot := uint64(1)<<facet.index, facet.slot
	switch ff.Kind {
	case FilterTextList:
		if facet.tag != "" {
			var keys []string
			for _, v := range *ff.texts(f) {
				if k := tagValue(v); k != "" {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				return nil // tagFilter does not narrow either
			}
			tv := &tagValues{facet: facet.index, values: keys}
			iq.tagValues = append(iq.tagValues, tv)
			return func(p *indexedPerformer) bool {
				for _, code := range p.tagCodes[slot] {
					if slices.Contains(tv.codes, code) {
						return true
					}
				}
				return false
			}
		}
		values := *ff.texts(f)
		return func(p *indexedPerformer) bool {
			return p.facets.known&bit != 0 && slices.Contains(values, p.facets.labels[slot])
		}
	case FilterBool:
		want := fmt.Sprint(**ff.flag(f))
		return func(p *indexedPerformer) bool { return p.facets.known&bit != 0 && p.facets.labels[slot] == want }
	case FilterIntRange:
		r := f.Ranges[ff.Name]
		return func(p *indexedPerformer) bool {
			if p.facets.known&bit == 0 {
				return false
			}
			v := p.facets.numbers[slot]
			return (r.Min == nil || v >= *r.Min) && (r.Max == nil || v <= *r.Max)
		}
	}
	panic(fmt.Sprintf("db: filter %s has no index test", ff.Name))
}

// each calls fn with every performer of snap that q (when there is one)
// matches: those are found by scanning the words of snap's chunks for the
// words q's longest prefix starts, then checked by matches.
func (iq *indexQuery) each(snap *discoverySnapshot, fn func(p *indexedPerformer)) {
	iq.bind(snap)
	if iq.search == nil {
		for _, p := range snap.performers {
			fn(p)
		}
		return
	}
	if len(iq.search.prefixes) == 0 {
		return
	}
	pattern := "\n" + iq.search.prefixes[0]
	for _, c := range snap.chunks {
		for at := 0; at < len(c.words); {
			hit := strings.Index(c.words[at:], pattern)
			if hit < 0 {
				break
			}
			// The performer whose words hold the hit: the last to start
			// at or before it.
			k, found := slices.BinarySearch(c.starts, at+hit)
			if !found {
				k--
			}
			if p := c.members[k]; iq.search.matches(p) {
				fn(p)
			}
			if k+1 == len(c.starts) {
				break
			}
			at = c.starts[k+1]
		}
	}
}

// passes reports whether p passes every filter but q.
func (iq *indexQuery) passes(p *indexedPerformer) bool {
	for _, i := range iq.narrowing {
		if !iq.tests[i](p) {
			return false
		}
	}
	return true
}

// matches is whereSearch: every prefix starts a word of the name, or of
// one alias.
func (q *indexSearch) matches(p *indexedPerformer) bool {
	if len(q.prefixes) == 0 {
		return false
	}
	if q.lineMatches(p.name) {
		return true
	}
	return slices.ContainsFunc(p.aliases, q.lineMatches)
}

func (q *indexSearch) lineMatches(line string) bool {
	for i, prefix := range q.prefixes {
		if !strings.HasPrefix(line, prefix) && !strings.Contains(line, q.wordStarts[i]) {
			return false
		}
	}
	return true
}

// tier is relevanceExpr: p's relevance tier for q.
func (q *indexSearch) tier(p *indexedPerformer) int64 {
	switch {
	case p.name == q.phrase:
		return tierExactName
	case slices.Contains(p.aliases, q.phrase):
		return tierExactAlias
	case strings.HasPrefix(p.name, q.phrase):
		return tierNamePrefix
	case slices.ContainsFunc(p.aliases, func(a string) bool { return strings.HasPrefix(a, q.phrase) }):
		return tierAliasPrefix
	}
	return tierOther
}

// count is how many performers of snap pass iq.
func (iq *indexQuery) count(snap *discoverySnapshot) int64 {
	var n int64
	iq.each(snap, func(p *indexedPerformer) {
		if iq.passes(p) {
			n++
		}
	})
	return n
}

// indexValue is a sort key's value of a performer; known false is unknown.
type indexValue struct {
	known bool
	v     int64
}

// indexedKeys returns, per key of the plan, how the index reads its value;
// ok is false when the index does not hold one of them.
func (p *listPlan) indexedKeys() (getters []func(*indexedPerformer, int64) indexValue, ok bool) {
	for _, k := range p.keys {
		if k.field == OrderRelevance {
			getters = append(getters, func(_ *indexedPerformer, tier int64) indexValue { return indexValue{true, tier} })
			continue
		}
		facet := sortKeyFacets[k.field]
		if facet == nil {
			return nil, false
		}
		bit, slot := uint64(1)<<facet.index, facet.slot
		getters = append(getters, func(p *indexedPerformer, _ int64) indexValue {
			return indexValue{p.facets.known&bit != 0, p.facets.numbers[slot]}
		})
	}
	return getters, true
}

// indexCandidate is a performer that passes the filter, with its key values.
type indexCandidate struct {
	performer *indexedPerformer
	tier      int64
	values    []indexValue
}

// compare orders a before b (negative) as List's forward order does: each
// key in its direction, unknown last, then id in the direction of the
// first key.
func (p *listPlan) compare(a, b []indexValue, aID, bID int64) int {
	for i := range a {
		av, bv := a[i], b[i]
		switch {
		case !av.known && !bv.known:
			continue
		case !av.known:
			return 1
		case !bv.known:
			return -1
		}
		c := cmp.Compare(av.v, bv.v)
		if p.descs[i] {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	c := cmp.Compare(aID, bID)
	if p.descs[0] {
		c = -c
	}
	return c
}

// fetchIndexed is fetch answered from the index: it ranks the performers
// of snap that pass iq, cuts the page (size+1 rows in the direction of
// travel) and reads those rows from idb by id. total is how many pass.
func (p *listPlan) fetchIndexed(ctx context.Context, idb bun.IDB, snap *discoverySnapshot, iq *indexQuery,
	getters []func(*indexedPerformer, int64) indexValue) (rows []Pornstar, total int64, err error) {
	var cursorValues []indexValue
	if p.cursor != nil {
		cursorValues = make([]indexValue, len(p.keys))
		for i, v := range p.cursor.decoded {
			if n, ok := v.(int64); ok {
				cursorValues[i] = indexValue{true, n}
			}
		}
	}
	// The page is the want first candidates in the direction of travel,
	// kept in a heap whose root is the last of them: a match costs one
	// comparison with the root unless it enters the page.
	want := p.size + 1
	travel := func(a, b *indexCandidate) int {
		c := p.compare(a.values, b.values, a.performer.id, b.performer.id)
		if p.backward {
			c = -c
		}
		return c
	}
	candidates := make([]indexCandidate, 0, want)
	next := indexCandidate{values: make([]indexValue, len(getters))}
	iq.each(snap, func(performer *indexedPerformer) {
		if !iq.passes(performer) {
			return
		}
		total++
		next.performer, next.tier = performer, 0
		if iq.search != nil {
			next.tier = iq.search.tier(performer)
		}
		for i, get := range getters {
			next.values[i] = get(performer, next.tier)
		}
		if cursorValues != nil {
			c := p.compare(next.values, cursorValues, performer.id, p.cursor.ID)
			if (!p.backward && c <= 0) || (p.backward && c >= 0) {
				return
			}
		}
		switch {
		case len(candidates) < want:
			candidates = append(candidates, next)
			next = indexCandidate{values: make([]indexValue, len(getters))}
			siftUp(candidates, len(candidates)-1, travel)
		case travel(&next, &candidates[0]) < 0:
			candidates[0], next = next, candidates[0]
			siftDown(candidates, 0, travel)
		}
	})
	slices.SortFunc(candidates, func(a, b indexCandidate) int { return travel(&a, &b) })
	if len(candidates) == 0 {
		return nil, total, nil
	}
	ids := make([]int64, len(candidates))
	for i, c := range candidates {
		ids[i] = c.performer.id
	}
	var found []Pornstar
	if err := idb.NewSelect().Model(&found).Where("p.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, 0, err
	}
	byID := make(map[int64]*Pornstar, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	// Relevance is read only where the order has it, as fetch selects it.
	relevant := slices.ContainsFunc(p.keys, func(k sortKey) bool { return k.field == OrderRelevance })
	rows = make([]Pornstar, 0, len(candidates))
	for _, c := range candidates {
		if row, ok := byID[c.performer.id]; ok { // rows are never deleted
			if relevant {
				row.Relevance = c.tier
			}
			rows = append(rows, *row)
		}
	}
	return rows, total, nil
}

// countFacetsIndexed is countFacets answered from the index.
func countFacetsIndexed(snap *discoverySnapshot, f *Filter, iq *indexQuery, facets []*FacetField) *FacetResult {
	// leftBit[i] is the bit of FilterFields[i] in a performer's mask when
	// a facet leaves it out (the disjunctive rule), 0 when none does.
	leftBit := make([]uint64, len(FilterFields))
	own := make([]uint64, len(facets))
	left := 0
	for i, ff := range facets {
		filter := ff.filter()
		if filter == nil || !filter.isSet(f) {
			continue
		}
		at := slices.IndexFunc(FilterFields, func(other FilterField) bool { return other.Name == filter.Name })
		leftBit[at] = 1 << left
		own[i] = leftBit[at]
		left++
	}
	all := uint64(1)<<left - 1
	out := &FacetResult{Facets: make([]FacetCounts, len(facets))}
	tallies := make([]*indexTally, len(facets))
	for i, ff := range facets {
		tallies[i] = newIndexTally(snap, ff)
	}
	iq.each(snap, func(p *indexedPerformer) {
		mask := all
		for _, i := range iq.narrowing {
			if iq.tests[i](p) {
				continue
			}
			if leftBit[i] == 0 {
				return
			}
			mask &^= leftBit[i]
		}
		if mask == all {
			out.Total++
		}
		for i, t := range tallies {
			if need := all &^ own[i]; mask&need == need {
				t.add(p)
			}
		}
	})
	for i, t := range tallies {
		out.Facets[i] = t.result(snap)
	}
	return out
}

// siftUp and siftDown keep h a heap whose root is the greatest element by
// cmp.
func siftUp[T any](h []T, i int, cmp func(a, b *T) int) {
	for i > 0 {
		parent := (i - 1) / 2
		if cmp(&h[i], &h[parent]) <= 0 {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func siftDown[T any](h []T, i int, cmp func(a, b *T) int) {
	for {
		largest := i
		for _, child := range []int{2*i + 1, 2*i + 2} {
			if child < len(h) && cmp(&h[child], &h[largest]) > 0 {
				largest = child
			}
		}
		if largest == i {
			return
		}
		h[i], h[largest] = h[largest], h[i]
		i = largest
	}
}

// indexTally counts one facet over indexed performers by code.
type indexTally struct {
	field   *FacetField
	bit     uint64
	counts  []int64 // by value code, or by bucket
	unknown int64
	min     int64
	max     int64
	counted bool
}

func newIndexTally(snap *discoverySnapshot, ff *FacetField) *indexTally {
	t := &indexTally{field: ff, bit: 1 << ff.index, min: math.MaxInt64, max: math.MinInt64}
	if ff.Kind == FacetValues {
		t.counts = make([]int64, len(snap.valuesOf(ff.index)))
	} else {
		t.counts = make([]int64, len(ff.Edges))
	}
	return t
}

func (t *indexTally) add(p *indexedPerformer) {
	ff := t.field
	if p.facets.known&t.bit == 0 {
		t.unknown++
		return
	}
	switch {
	case ff.tag != "":
		for _, c := range p.tagCodes[ff.slot] {
			t.counts[c]++
		}
	case ff.Kind == FacetValues:
		t.counts[p.codes[ff.index]]++
	default:
		t.counts[p.codes[ff.index]]++
		v := p.facets.numbers[ff.slot]
		t.min, t.max, t.counted = min(t.min, v), max(t.max, v), true
	}
}

// result is the facet's counts, as facetTally.counts gives them.
func (t *indexTally) result(snap *discoverySnapshot) FacetCounts {
	ft := newFacetTally(t.field)
	ft.unknown, ft.min, ft.max, ft.counted = t.unknown, t.min, t.max, t.counted
	if t.field.Kind == FacetValues {
		for c, n := range t.counts {
			if n > 0 {
				ft.values[snap.values[t.field.index][c]] = n
			}
		}
	} else {
		copy(ft.buckets, t.counts)
	}
	return ft.counts()
}
