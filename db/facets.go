package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/uptrace/bun"
)

// FacetKind is how a facet counts the performers.
type FacetKind int

const (
	// FacetValues counts the performers per value of the field, in the
	// spelling its list filter takes; performers without a value are
	// counted under the unknown value.
	FacetValues FacetKind = iota + 1
	// FacetHistogram counts the performers per bucket of fixed edges, and
	// gives the least and the greatest value.
	FacetHistogram
)

// FacetField is one facet of Store.Facets: FacetFields is the one table of
// them, from which the REST parameter, the OpenAPI document and the
// GraphQL enum PornstarFacet are read.
//
// A facet is joined to the filter of its own name in FilterFields, when
// there is one: that filter is the one its counts leave out (the
// disjunctive rule). A facet without a filter of its name counts under
// every filter.
type FacetField struct {
	// Name is the facet's snake_case name (the GraphQL enum value in upper
	// case).
	Name string
	Kind FacetKind
	// Description says what the facet counts, for API documents.
	Description string
	// Edges are a FacetHistogram's bucket edges, ascending: bucket i holds
	// the values from Edges[i] to Edges[i+1]-1, the last bucket every value
	// from its edge up. The first edge is the least value the field's rule
	// allows, so every value has its bucket.
	Edges []int64

	// column is the pornstars column a facet reads; tag instead names the
	// pornstar_tags attribute of a multi-valued one. boolean marks a
	// BOOLEAN column, whose values are spelt true and false.
	column, tag string
	boolean     bool
	// index is the facet's row in FacetFields; slot its index among the
	// values of its kind in a facetRow.
	index, slot int
}

// FacetFields are the facets of Store.Facets, in the order the APIs list
// them. Adding a facet is adding its row here and its value to the GraphQL
// enum PornstarFacet (tests fail until it has one).
var FacetFields = withFacetSlots([]FacetField{
	{Name: "hair_color", Kind: FacetValues, tag: tagHairColor, Description: "Hair colours, lower-cased; a performer with several counts under each."},
	{Name: "ethnicity", Kind: FacetValues, tag: tagEthnicity, Description: "Ethnicities, lower-cased; a performer with several counts under each."},
	{Name: "gender", Kind: FacetValues, column: "gender", Description: "Gender."},
	{Name: "orientation", Kind: FacetValues, column: "orientation", Description: "Orientation."},
	{Name: "license", Kind: FacetValues, column: "license", Description: "License."},
	{Name: "breast_type", Kind: FacetValues, column: "breast_type", Description: "Breast type."},
	{Name: "tattoos", Kind: FacetValues, column: "tattoos", boolean: true, Description: "Has tattoos: true or false."},
	{Name: "piercings", Kind: FacetValues, column: "piercings", boolean: true, Description: "Has piercings: true or false."},
	{Name: "wl_status", Kind: FacetValues, column: "wl_status", boolean: true, Description: "White-label status: true or false."},
	histogramFacet("age", 0, 18, 21, 25, 30, 35, 40, 45, 50, 60),
	histogramFacet("breast_size", 0, 30, 32, 34, 36, 38, 40),
	histogramFacet("subscriptions", 0, 100, 1_000, 10_000, 100_000, 1_000_000),
	histogramFacet("monthly_searches", 0, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000),
	histogramFacet("views", 0, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000),
	histogramFacet("videos_count", 0, 1, 10, 50, 100, 200, 500, 1_000),
	histogramFacet("premium_videos_count", 0, 1, 10, 50, 100, 200, 500, 1_000),
	histogramFacet("white_label_video_count", 0, 1, 10, 50, 100, 200, 500, 1_000),
	histogramFacet("rank", 0, 101, 1_001, 5_001, 10_001, 20_001),
	histogramFacet("rank_premium", 0, 101, 1_001, 5_001, 10_001, 20_001),
	histogramFacet("rank_wl", 0, 101, 1_001, 5_001, 10_001, 20_001),
})

func histogramFacet(column string, edges ...int64) FacetField {
	return FacetField{Name: column, Kind: FacetHistogram, column: column, Edges: edges,
		Description: "Histogram of " + strings.ReplaceAll(column, "_", " ") + "."}
}

// facetSlots counts the values of each kind a facetRow holds.
var facetSlots struct{ labels, tags, numbers int }

func withFacetSlots(fields []FacetField) []FacetField {
	for i := range fields {
		ff := &fields[i]
		ff.index = i
		switch {
		case ff.tag != "":
			ff.slot, facetSlots.tags = facetSlots.tags, facetSlots.tags+1
		case ff.Kind == FacetValues:
			ff.slot, facetSlots.labels = facetSlots.labels, facetSlots.labels+1
		default:
			ff.slot, facetSlots.numbers = facetSlots.numbers, facetSlots.numbers+1
		}
	}
	return fields
}

// FacetNames are the names of FacetFields, in order.
var FacetNames = func() []string {
	names := make([]string, len(FacetFields))
	for i, ff := range FacetFields {
		names[i] = ff.Name
	}
	return names
}()

// filter returns the filter of the facet's name, nil when there is none.
func (ff *FacetField) filter() *FilterField {
	for i := range FilterFields {
		if FilterFields[i].Name == ff.Name {
			return &FilterFields[i]
		}
	}
	return nil
}

// FacetResult is the answer of Store.Facets.
type FacetResult struct {
	// Total is the number of performers the whole filter selects.
	Total int64
	// Facets are the facets asked for, in the order asked.
	Facets []FacetCounts
}

// FacetCounts are the counts of one facet.
type FacetCounts struct {
	Field *FacetField
	// Values are a FacetValues facet's values with their counts: count
	// descending, then value ascending, the unknown value after the known
	// ones of the same count. Only values counted at least once appear.
	Values []FacetValue
	// Buckets are a FacetHistogram facet's buckets, every one of its
	// Edges in order, empty ones included.
	Buckets []FacetBucket
	// Unknown counts a FacetHistogram facet's performers without a value.
	Unknown int64
	// Min and Max are the least and greatest value a FacetHistogram facet
	// counted; nil when it counted none.
	Min, Max *int64
}

// FacetValue is one value of a FacetValues facet; Value nil is unknown.
type FacetValue struct {
	Value *string
	Count int64
}

// FacetBucket is one bucket of a histogram: the values from Min to Max,
// inclusive (the bounds of the field's range filter); Max nil is unbounded.
type FacetBucket struct {
	Min   int64
	Max   *int64
	Count int64
}

// facetRow is what the facets read of one performer: per FacetFields slot,
// the label of a single-valued facet, the values of a multi-valued one, the
// number of a histogram; known has bit i set when FacetFields[i] has a
// value.
type facetRow struct {
	known   uint64
	labels  []string
	tags    [][]string
	numbers []int64
}

// Facets counts the performers f selects by the values of each facet named
// (FacetNames, each at most once, at least one). A facet's counts apply
// every filter of f but the one of its own name, so that a menu with one
// value ticked still counts the others (the disjunctive rule); Total
// applies them all.
//
// A request repeated while no performer was written is answered from the
// facet answer cache (facet_answers.go); the answer is shared, and callers
// must not change it. Otherwise the facet values of each performer are
// kept by id and version in the same way as the children cache
// (AliasesOf), so a request reads only which performers match, never stale
// values.
func (s *Store) Facets(ctx context.Context, f Filter, names []string) (*FacetResult, error) {
	const op = "count facets"
	facets, err := facetsNamed(names)
	if err != nil {
		return nil, s.fail(op, err)
	}
	if err := validateFilter(&f); err != nil {
		return nil, s.fail(op, err)
	}
	answers := s.facetAnswers
	key := ""
	if answers.entries > 0 {
		key = facetAnswerKey(&f, names)
	}
	if key == "" {
		out, err := s.countFacets(ctx, f, facets, -1)
		if err != nil {
			return nil, s.fail(op, err)
		}
		return out, nil
	}
	version, err := s.DataVersion(ctx)
	if err != nil {
		return nil, s.fail(op, err)
	}
	if out := answers.get(key, version); out != nil {
		return out, nil
	}
	// Counted after the version was read, the answer is at least as new
	// as the version it is kept under.
	out, err := s.countFacets(ctx, f, facets, version)
	if err != nil {
		return nil, s.fail(op, err)
	}
	answers.put(key, version, out)
	return out, nil
}

// countFacets answers Facets for valid facets and filter from the
// database and the cache of facet values. version is the data version the
// caller read just before, which the discovery index is brought to; -1
// reads it.
func (s *Store) countFacets(ctx context.Context, f Filter, facets []*FacetField, version int64) (*FacetResult, error) {
	if iq, ok := s.indexQueryOf(&f); ok {
		var snap *discoverySnapshot
		var err error
		if version < 0 {
			snap, err = s.discoveryNow(ctx)
		} else {
			snap, err = s.discoveryAt(ctx, version)
		}
		if err != nil {
			return nil, err
		}
		return countFacetsIndexed(snap, &f, iq, facets), nil
	}
	// own[i] is the filter facets[i] leaves out, as a bit of each row's
	// mask; the rows are read under every other filter.
	base := f
	var left []*FilterField
	own := make([]uint64, len(facets))
	for i, ff := range facets {
		if filter := ff.filter(); filter != nil && filter.isSet(&f) {
			own[i] = 1 << len(left)
			left = append(left, filter)
			base = filter.without(base)
		}
	}
	ids, versions, masks, err := s.facetMatches(ctx, f, base, left)
	if err != nil {
		return nil, err
	}
	rows, err := s.facetRows.readVersions(ctx, s.db.R, ids, versions, s.loadFacetRows)
	if err != nil {
		return nil, err
	}
	all := uint64(1)<<len(left) - 1
	out := &FacetResult{Facets: make([]FacetCounts, len(facets))}
	tallies := make([]*facetTally, len(facets))
	for i, ff := range facets {
		tallies[i] = newFacetTally(ff)
	}
	for r, mask := range masks {
		if mask == all {
			out.Total++
		}
		if len(rows[r]) == 0 {
			continue // the performer is gone since it matched
		}
		row := &rows[r][0]
		for i, t := range tallies {
			if need := all &^ own[i]; mask&need == need {
				t.add(row)
			}
		}
	}
	for i, t := range tallies {
		out.Facets[i] = t.counts()
	}
	return out, nil
}

// facetsNamed returns the facets of names, refusing what FacetNames does
// not hold and a name given twice.
func facetsNamed(names []string) ([]*FacetField, error) {
	switch {
	case len(names) == 0:
		return nil, fieldError("facets", "must name at least one facet")
	case len(names) > len(FacetFields):
		return nil, fieldError("facets", fmt.Sprintf("has %d names; there are %d facets, each may be asked once", len(names), len(FacetFields)))
	}
	facets := make([]*FacetField, len(names))
	for i, name := range names {
		at := slices.Index(FacetNames, name)
		if at < 0 {
			return nil, fieldError(fmt.Sprintf("facets/%d", i), "must be one of "+strings.Join(FacetNames, ", "))
		}
		if slices.Contains(names[:i], name) {
			return nil, fieldError(fmt.Sprintf("facets/%d", i), "is repeated")
		}
		facets[i] = &FacetFields[at]
	}
	return facets, nil
}

// facetMatches reads the performers base selects, with their versions, in
// one statement; masks[i] has bit j set when the performer also passes
// left[j] (as f sets it).
func (s *Store) facetMatches(ctx context.Context, f, base Filter, left []*FilterField) (ids, versions []int64, masks []uint64, err error) {
	q := s.db.R.NewSelect().Model((*Pornstar)(nil)).Column("p.id", "p.version")
	for _, filter := range left {
		sub := s.db.R.NewSelect().Model((*Pornstar)(nil)).Column("p.id")
		filter.narrow(sub, &f)
		q.ColumnExpr("CASE WHEN p.id IN (?) THEN 1 ELSE 0 END", sub)
	}
	applyFilter(q, &base)
	rows, err := q.Rows(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	flags := make([]int64, len(left))
	dest := make([]any, 2+len(left))
	var id, version int64
	dest[0], dest[1] = &id, &version
	for j := range flags {
		dest[2+j] = &flags[j]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, nil, err
		}
		var mask uint64
		for j, v := range flags {
			if v != 0 {
				mask |= 1 << j
			}
		}
		ids, versions, masks = append(ids, id), append(versions, version), append(masks, mask)
	}
	return ids, versions, masks, rows.Err()
}

// loadFacetRows reads the facet values of performers in one query per 500,
// keyed by id, with each performer's version read in the same statement
// (what the cache keeps them under).
func (s *Store) loadFacetRows(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]facetRow, map[int64]int64, error) {
	var columns []any
	var columnFacets []*FacetField
	var tags []string
	tagSlots := map[string]int{}
	for i := range FacetFields {
		ff := &FacetFields[i]
		if ff.tag != "" {
			tags, tagSlots[ff.tag] = append(tags, ff.tag), i
			continue
		}
		columns = append(columns, bun.Ident("p."+ff.column))
		columnFacets = append(columnFacets, ff)
	}
	out, versions := make(map[int64][]facetRow, len(ids)), make(map[int64]int64, len(ids))
	err := chunks(ids, func(part []int64) error {
		args := append(slices.Clone(columns), bun.List(tags), bun.List(part))
		rows, err := idb.QueryContext(ctx, `SELECT p.id, p.version, `+strings.Repeat("?, ", len(columns))+`pt.attribute, pt.value
			FROM pornstars AS p LEFT JOIN pornstar_tags AS pt ON pt.pornstar_id = p.id AND pt.attribute IN (?)
			WHERE p.id IN (?)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var id, version int64
		values := make([]any, len(columnFacets))
		for i, ff := range columnFacets {
			switch {
			case ff.boolean:
				values[i] = new(sql.NullBool)
			case ff.Kind == FacetValues:
				values[i] = new(sql.NullString)
			default:
				values[i] = new(sql.NullInt64)
			}
		}
		var attribute, value sql.NullString
		dest := append(append([]any{&id, &version}, values...), &attribute, &value)
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			if _, seen := versions[id]; !seen {
				versions[id] = version
				out[id] = []facetRow{newFacetRow(columnFacets, values)}
			}
			if attribute.Valid {
				at := tagSlots[attribute.String]
				row := &out[id][0]
				row.known |= 1 << at
				row.tags[FacetFields[at].slot] = append(row.tags[FacetFields[at].slot], value.String)
			}
		}
		return rows.Err()
	})
	return out, versions, err
}

// newFacetRow builds a row from the scanned values of the column facets.
func newFacetRow(columnFacets []*FacetField, values []any) facetRow {
	row := facetRow{labels: make([]string, facetSlots.labels), tags: make([][]string, facetSlots.tags),
		numbers: make([]int64, facetSlots.numbers)}
	for i, ff := range columnFacets {
		bit := uint64(1) << ff.index
		switch v := values[i].(type) {
		case *sql.NullBool:
			if v.Valid {
				row.known |= bit
				row.labels[ff.slot] = fmt.Sprint(v.Bool)
			}
		case *sql.NullString:
			if v.Valid {
				row.known |= bit
				row.labels[ff.slot] = v.String
			}
		case *sql.NullInt64:
			if v.Valid {
				row.known |= bit
				row.numbers[ff.slot] = v.Int64
			}
		}
	}
	return row
}

// facetTally counts one facet over the rows it applies to.
type facetTally struct {
	field   *FacetField
	bit     uint64
	values  map[string]int64
	unknown int64
	buckets []int64
	min     int64
	max     int64
	counted bool
}

func newFacetTally(ff *FacetField) *facetTally {
	t := &facetTally{field: ff, bit: 1 << ff.index, min: math.MaxInt64, max: math.MinInt64}
	if ff.Kind == FacetValues {
		t.values = map[string]int64{}
	} else {
		t.buckets = make([]int64, len(ff.Edges))
	}
	return t
}

func (t *facetTally) add(row *facetRow) {
	ff := t.field
	if row.known&t.bit == 0 {
		t.unknown++
		return
	}
	switch {
	case ff.tag != "":
		for _, v := range row.tags[ff.slot] {
			t.values[v]++
		}
	case ff.Kind == FacetValues:
		t.values[row.labels[ff.slot]]++
	default:
		v := row.numbers[ff.slot]
		t.buckets[bucketOf(ff, v)]++
		t.min, t.max, t.counted = min(t.min, v), max(t.max, v), true
	}
}

// bucketOf is the bucket of a histogram facet that holds v: the last whose
// edge is at most v.
func bucketOf(ff *FacetField, v int64) int {
	return max(sort.Search(len(ff.Edges), func(i int) bool { return ff.Edges[i] > v })-1, 0)
}

func (t *facetTally) counts() FacetCounts {
	ff := t.field
	out := FacetCounts{Field: ff}
	if ff.Kind == FacetValues {
		out.Values = make([]FacetValue, 0, len(t.values)+1)
		for v, n := range t.values {
			out.Values = append(out.Values, FacetValue{Value: &v, Count: n})
		}
		if t.unknown > 0 {
			out.Values = append(out.Values, FacetValue{Count: t.unknown})
		}
		slices.SortFunc(out.Values, func(a, b FacetValue) int {
			if c := cmp.Compare(b.Count, a.Count); c != 0 {
				return c
			}
			switch {
			case a.Value == nil:
				return 1
			case b.Value == nil:
				return -1
			}
			return strings.Compare(*a.Value, *b.Value)
		})
		return out
	}
	out.Unknown = t.unknown
	out.Buckets = make([]FacetBucket, len(ff.Edges))
	for i, edge := range ff.Edges {
		out.Buckets[i] = FacetBucket{Min: edge, Count: t.buckets[i]}
		if i+1 < len(ff.Edges) {
			upper := ff.Edges[i+1] - 1
			out.Buckets[i].Max = &upper
		}
	}
	if t.counted {
		out.Min, out.Max = &t.min, &t.max
	}
	return out
}
