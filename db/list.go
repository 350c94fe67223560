package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"marquee/internal/async"
)

// Page sizes of every list.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Ordering fields of List.
const (
	OrderRank                 = "rank"
	OrderName                 = "name"
	OrderViews                = "views"
	OrderSubscriptions        = "subscriptions"
	OrderAge                  = "age"
	OrderUpdatedAt            = "updated_at"
	OrderMonthlySearches      = "monthly_searches"
	OrderVideosCount          = "videos_count"
	OrderPremiumVideosCount   = "premium_videos_count"
	OrderWhiteLabelVideoCount = "white_label_video_count"
	OrderRankPremium          = "rank_premium"
	OrderRankWL               = "rank_wl"
	OrderBreastSize           = "breast_size"
	OrderCreatedAt            = "created_at"
	// OrderRelevance orders by how well a performer matches the filter's q
	// (exact name, exact alias, name prefix, alias prefix, other words); it
	// needs a q, and rank breaks its ties when no key follows it. It is the
	// default order of a list with a q.
	OrderRelevance = "relevance"
)

// OrderKey is one key of an ordering.
type OrderKey struct {
	Field string `json:"f"`
	Desc  bool   `json:"d,omitempty"`
}

// Page selects a page: First rows after the cursor After, or Last rows
// before the cursor Before. The zero Page is the first DefaultPageSize rows.
type Page struct {
	First     int
	After     string
	Last      int
	Before    string
	WithTotal bool // also count every row the filter matches
}

// PornstarPage is one page of List, in the requested order.
type PornstarPage struct {
	Items []Pornstar
	// Cursors[i] is the opaque cursor of Items[i].
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
	// Total is the number of rows the filter matches, or -1 when not asked.
	Total int64
}

// sortKey is one ordering field of List: its column, the column's type
// and size as the migrations create them, and the row's value of it.
type sortKey struct {
	field    string
	column   string
	nullable bool
	kind     valueKind
	// The values the column holds, which bound a cursor's value: the range
	// of a kindInt, the length in characters of a kindString.
	minInt, maxInt int64
	maxChars       int
	// value is the row's value of the column: nil, int64, string or
	// time.Time, as kind says.
	value func(p *Pornstar) any
	// expr, when set, is what the key orders by instead of a column: a
	// value derived from the row and the filter, which the list selects as
	// the column (a scan-only member of Pornstar) for value to read.
	expr func(f *Filter) schema.QueryAppender
}

type valueKind int

const (
	kindInt valueKind = iota
	kindString
	kindTime
)

// sortKeyTable is the one table of ordering fields, in the order the APIs
// list them: adding a sort key is adding its row (and its value to the
// GraphQL enum PornstarOrderField, which tests check against OrderFields).
var sortKeyTable = []sortKey{
	int64SortKey(OrderRank, "rank", func(p *Pornstar) *int64 { return p.Rank }),
	{field: OrderName, column: "name_key", kind: kindString, maxChars: maxNameLen, value: func(p *Pornstar) any { return p.NameKey }},
	int64SortKey(OrderViews, "views", func(p *Pornstar) *int64 { return p.Views }),
	int64SortKey(OrderSubscriptions, "subscriptions", func(p *Pornstar) *int64 { return p.Subscriptions }),
	int32SortKey(OrderAge, "age", func(p *Pornstar) *int32 { return p.Age }),
	{field: OrderUpdatedAt, column: "updated_at", kind: kindTime, value: func(p *Pornstar) any { return p.UpdatedAt.UTC() }},
	int64SortKey(OrderMonthlySearches, "monthly_searches", func(p *Pornstar) *int64 { return p.MonthlySearches }),
	int64SortKey(OrderVideosCount, "videos_count", func(p *Pornstar) *int64 { return p.VideosCount }),
	int64SortKey(OrderPremiumVideosCount, "premium_videos_count", func(p *Pornstar) *int64 { return p.PremiumVideosCount }),
	int64SortKey(OrderWhiteLabelVideoCount, "white_label_video_count", func(p *Pornstar) *int64 { return p.WhiteLabelVideoCount }),
	int64SortKey(OrderRankPremium, "rank_premium", func(p *Pornstar) *int64 { return p.RankPremium }),
	int64SortKey(OrderRankWL, "rank_wl", func(p *Pornstar) *int64 { return p.RankWL }),
	int32SortKey(OrderBreastSize, "breast_size", func(p *Pornstar) *int32 { return p.BreastSize }),
	{field: OrderCreatedAt, column: "created_at", kind: kindTime, value: func(p *Pornstar) any { return p.CreatedAt.UTC() }},
	{field: OrderRelevance, column: "relevance", kind: kindInt, minInt: tierExactName, maxInt: tierOther,
		value: func(p *Pornstar) any { return p.Relevance }, expr: relevanceExpr},
}

// int64SortKey is a sort key over a nullable BIGINT column.
func int64SortKey(field, column string, member func(*Pornstar) *int64) sortKey {
	return sortKey{field: field, column: column, nullable: true, kind: kindInt, minInt: math.MinInt64, maxInt: math.MaxInt64,
		value: func(p *Pornstar) any { return derefInt(member(p)) }}
}

// int32SortKey is a sort key over a nullable INT column.
func int32SortKey(field, column string, member func(*Pornstar) *int32) sortKey {
	return sortKey{field: field, column: column, nullable: true, kind: kindInt, minInt: math.MinInt32, maxInt: math.MaxInt32,
		value: func(p *Pornstar) any {
			if v := member(p); v != nil {
				return int64(*v)
			}
			return nil
		}}
}

// sortKeys are the rows of sortKeyTable by field.
var sortKeys = func() map[string]sortKey {
	keys := make(map[string]sortKey, len(sortKeyTable))
	for _, k := range sortKeyTable {
		keys[k.field] = k
	}
	return keys
}()

// OrderFields lists the fields List can order by.
var OrderFields = func() []string {
	fields := make([]string, len(sortKeyTable))
	for i, k := range sortKeyTable {
		fields[i] = k.field
	}
	return fields
}()

func (k sortKey) ident() bun.Ident { return bun.Ident("p." + k.column) }

// orderExpr is what the plan orders by for k.
func (p *listPlan) orderExpr(k sortKey) schema.QueryAppender {
	if k.expr != nil {
		return k.expr(&p.filter)
	}
	return k.ident()
}

func derefInt(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// List returns one page of performers matching f in the given order (default
// relevance with a q, else rank ascending). Ties are broken by id, in the direction of the first key;
// unknown values sort last in both directions. Cursors are opaque and bound
// to the filter and order they came from: a cursor used with another filter
// or order is ErrInvalid. Pages neither skip nor repeat rows when rows are
// inserted between them.
func (s *Store) List(ctx context.Context, f Filter, order []OrderKey, page Page) (*PornstarPage, error) {
	const op = "list pornstars"
	plan, err := newListPlan(f, order, page)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := &PornstarPage{Total: -1}
	rows, total, err := s.fetchFromIndex(ctx, plan)
	switch {
	case err != nil:
		return nil, s.fail(op, err)
	case total >= 0:
		if page.WithTotal {
			out.Total = total
		}
	default:
		// The total is counted beside the page, not before it: after a
		// write a filtered count can take as long as the page.
		var counted *async.Value[int64]
		if page.WithTotal {
			countCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			counted = async.Go(countCtx, func(ctx context.Context) (int64, error) { return s.Count(ctx, f) })
		}
		if rows, err = plan.fetch(ctx, s.db.R); err != nil {
			return nil, s.fail(op, err)
		}
		if counted != nil {
			if out.Total, err = counted.Wait(); err != nil {
				return nil, err
			}
		}
	}
	more := len(rows) > plan.size
	if more {
		rows = rows[:plan.size]
	}
	if plan.backward {
		slices.Reverse(rows)
		out.HasPreviousPage, out.HasNextPage = more, page.Before != ""
	} else {
		out.HasNextPage, out.HasPreviousPage = more, page.After != ""
	}
	out.Items = rows
	out.Cursors = make([]string, len(rows))
	for i := range rows {
		out.Cursors[i] = plan.cursorOf(&rows[i])
	}
	return out, nil
}

// Count returns how many performers match f.
func (s *Store) Count(ctx context.Context, f Filter) (int64, error) {
	if err := validateFilter(&f); err != nil {
		return 0, s.fail("count pornstars", err)
	}
	if inFeedOnly(&f) {
		// Kept beside the data version by every writer (data_version.go).
		n, err := s.countInFeed(ctx)
		return n, s.fail("count pornstars", err)
	}
	if iq, ok := s.indexQueryOf(&f); ok {
		snap, err := s.snapshotFor(ctx, iq)
		if err != nil {
			return 0, s.fail("count pornstars", err)
		}
		if snap != nil {
			return iq.count(snap), nil
		}
	}
	q := s.db.R.NewSelect().Model((*Pornstar)(nil))
	applyFilter(q, &f)
	n, err := q.Count(ctx)
	return n, s.fail("count pornstars", err)
}

// inFeedOnly reports whether f (validated) selects exactly the performers
// that have not left the feed: no filter but removed, at its default.
func inFeedOnly(f *Filter) bool {
	if f.Removed != RemovedExclude {
		return false
	}
	for i := range FilterFields {
		if ff := &FilterFields[i]; ff.Kind != FilterRemoved && ff.isSet(f) {
			return false
		}
	}
	return true
}

// fetchFromIndex answers a list from the discovery index: the page's rows,
// as fetch reads them, and how many rows match. total is -1 when the index
// cannot answer the plan (a filter or sort key whose values it does not
// hold, or an unfiltered list while the index is behind; see
// indexQuery.waitsForIndex): the database answers it.
func (s *Store) fetchFromIndex(ctx context.Context, plan *listPlan) (rows []Pornstar, total int64, err error) {
	iq, ok := s.indexQueryOf(&plan.filter)
	if !ok {
		return nil, -1, nil
	}
	getters, ok := plan.indexedKeys()
	if !ok {
		return nil, -1, nil
	}
	snap, err := s.snapshotFor(ctx, iq)
	if snap == nil || err != nil {
		return nil, -1, err
	}
	return plan.fetchIndexed(ctx, s.db.R, snap, iq, getters)
}

type listPlan struct {
	filter   Filter
	keys     []sortKey
	descs    []bool // per key, as requested
	size     int
	backward bool
	scope    string
	cursor   *cursor // decoded After or Before
}

func newListPlan(f Filter, order []OrderKey, page Page) (*listPlan, error) {
	if err := validateFilter(&f); err != nil {
		return nil, err
	}
	_, searching := parseSearch(f.Q)
	if len(order) == 0 {
		order = []OrderKey{{Field: OrderRank}}
		if searching {
			order = []OrderKey{{Field: OrderRelevance}}
		}
	}
	p := &listPlan{filter: f}
	seen := map[string]bool{}
	for i, o := range order {
		k, ok := sortKeys[o.Field]
		if !ok {
			return nil, fieldError(fmt.Sprintf("order/%d/field", i), fmt.Sprintf("must be one of %s", strings.Join(OrderFields, ", ")))
		}
		if seen[o.Field] {
			return nil, fieldError(fmt.Sprintf("order/%d/field", i), "is repeated")
		}
		if o.Field == OrderRelevance && !searching {
			return nil, fieldError(fmt.Sprintf("order/%d/field", i), "relevance needs a q to be relevant to")
		}
		seen[o.Field] = true
		p.keys = append(p.keys, k)
		p.descs = append(p.descs, o.Desc)
	}
	if last := order[len(order)-1]; last.Field == OrderRelevance && !seen[OrderRank] {
		p.keys = append(p.keys, sortKeys[OrderRank])
		p.descs = append(p.descs, false)
	}
	switch {
	case page.First < 0 || page.Last < 0:
		return nil, fieldError("first", "must not be negative")
	case page.First > 0 && page.Last > 0:
		return nil, fieldError("last", "cannot be combined with first")
	case page.After != "" && page.Before != "":
		return nil, fieldError("before", "cannot be combined with after")
	case page.Last > 0 && page.After != "", page.First > 0 && page.Before != "":
		return nil, fieldError("after", "first goes with after, last with before")
	}
	p.size = page.First
	if page.Last > 0 || page.Before != "" {
		p.backward = true
		p.size = page.Last
	}
	if p.size == 0 {
		p.size = DefaultPageSize
	}
	if p.size > MaxPageSize {
		return nil, fieldError("first", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	sig, _ := json.Marshal(struct {
		F Filter
		O []OrderKey
	}{f, order})
	sum := sha256.Sum256(sig)
	p.scope = "pornstars:" + hex.EncodeToString(sum[:8])
	raw := page.After
	if p.backward {
		raw = page.Before
	}
	if raw != "" {
		c, err := decodeCursor(raw, p.scope)
		if err != nil {
			return nil, err
		}
		if err := p.checkCursorValues(c); err != nil {
			return nil, err
		}
		p.cursor = c
	}
	return p, nil
}

// checkCursorValues converts the cursor's JSON values to the keys' types.
func (p *listPlan) checkCursorValues(c *cursor) error {
	if len(c.Values) != len(p.keys) {
		return fieldError("cursor", "does not belong to this ordering")
	}
	c.decoded = make([]any, len(p.keys))
	for i, k := range p.keys {
		v, ok := k.cursorValue(c.Values[i])
		if !ok {
			return malformedCursor()
		}
		c.decoded[i] = v
	}
	return nil
}

// cursorValue converts a cursor's JSON value to this key's type: nil, int64,
// string or time.Time. A cursor is client input like any other, so a value
// that the key's column could not hold (of another type, out of range, too
// long, with a NUL) is refused: List never made such a cursor, and the
// database must not be the one to refuse it.
func (k sortKey) cursorValue(raw json.RawMessage) (any, bool) {
	switch k.kind {
	case kindInt:
		v, ok := decodeCursorValue[int64](raw)
		if !ok || v == nil {
			return nil, ok && k.nullable
		}
		return *v, *v >= k.minInt && *v <= k.maxInt
	case kindString:
		v, ok := decodeCursorValue[string](raw)
		if !ok || v == nil {
			return nil, ok && k.nullable
		}
		return *v, checkText("cursor", *v, k.maxChars) == nil
	case kindTime:
		v, ok := decodeCursorValue[time.Time](raw)
		if !ok || v == nil {
			return nil, ok && k.nullable
		}
		t := v.UTC()
		return t, !t.Before(minStoredTime) && !t.After(maxStoredTime)
	}
	return nil, false
}

// decodeCursorValue decodes one JSON value of a cursor; nil is JSON null.
func decodeCursorValue[T any](raw json.RawMessage) (*T, bool) {
	var v *T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	return v, true
}

// The times both SQLite and MySQL's DATETIME(6) store; every time a row
// holds is inside them.
var (
	minStoredTime = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStoredTime = time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)
)

func (p *listPlan) cursorOf(row *Pornstar) string {
	c := cursor{Scope: p.scope, ID: row.ID, Values: make([]json.RawMessage, len(p.keys))}
	for i, k := range p.keys {
		c.Values[i], _ = json.Marshal(k.value(row))
	}
	return encodeCursor(c)
}

// A segment is a run of rows in which the first key is either all known or
// all unknown. Splitting the first key's NULLs into their own segment keeps
// "unknown last" while letting each query walk an index on that key.
type segment struct {
	firstKeyNull bool
}

// fetch reads up to size+1 rows in the plan's direction, segment by segment.
func (p *listPlan) fetch(ctx context.Context, idb bun.IDB) ([]Pornstar, error) {
	segments := []segment{{firstKeyNull: false}}
	if p.keys[0].nullable {
		segments = append(segments, segment{firstKeyNull: true})
	}
	if p.backward {
		slices.Reverse(segments)
	}
	start := 0
	if p.cursor != nil && p.keys[0].nullable {
		cursorNull := p.cursor.decoded[0] == nil
		for i, seg := range segments {
			if seg.firstKeyNull == cursorNull {
				start = i
			}
		}
	}
	want := p.size + 1
	var rows []Pornstar
	for i := start; i < len(segments) && len(rows) < want; i++ {
		var part []Pornstar
		q := idb.NewSelect().Model(&part)
		for _, k := range p.keys {
			if k.expr != nil {
				q.ColumnExpr("?TableColumns").ColumnExpr("? AS ?", p.orderExpr(k), bun.Ident(k.column))
			}
		}
		applyFilter(q, &p.filter)
		p.applySegment(q, segments[i], i == start && p.cursor != nil)
		q.Limit(int64(want - len(rows)))
		if err := q.Scan(ctx); err != nil {
			return nil, err
		}
		rows = append(rows, part...)
	}
	return rows, nil
}

// component is one term of the lexicographic order inside a segment.
type component struct {
	expr  string // SQL with one ? for ident
	ident schema.QueryAppender
	desc  bool // in the direction of travel
	value any  // the cursor's value, for the keyset predicate
}

func (p *listPlan) applySegment(q *bun.SelectQuery, seg segment, afterCursor bool) {
	first := p.keys[0]
	if first.nullable {
		if seg.firstKeyNull {
			q.Where("? IS NULL", first.ident())
		} else {
			q.Where("? IS NOT NULL", first.ident())
		}
	}
	var comps []component
	for i, k := range p.keys {
		desc := p.descs[i] != p.backward
		var cv any
		if p.cursor != nil {
			cv = p.cursor.decoded[i]
		}
		if i == 0 && seg.firstKeyNull {
			continue // every row of this segment ties on it
		}
		if i > 0 && k.nullable {
			// Unknown last when moving forward, so first when moving back.
			isNull := int64(0)
			if cv == nil {
				isNull = 1
			}
			q.OrderExpr("(? IS NULL) "+dirSQL(p.backward), p.orderExpr(k))
			q.OrderExpr("? "+dirSQL(desc), p.orderExpr(k))
			comps = append(comps, component{"(? IS NULL)", p.orderExpr(k), p.backward, isNull})
			if cv != nil {
				// Inside the cursor's NULL group every row ties on this key,
				// so it is compared only when the cursor's value is known.
				comps = append(comps, component{"?", p.orderExpr(k), desc, cv})
			}
			continue
		}
		q.OrderExpr("? "+dirSQL(desc), p.orderExpr(k))
		comps = append(comps, component{"?", p.orderExpr(k), desc, cv})
	}
	idDesc := p.descs[0] != p.backward
	var cursorID any
	if p.cursor != nil {
		cursorID = p.cursor.ID
	}
	comps = append(comps, component{"?", bun.Ident("p.id"), idDesc, cursorID})
	q.OrderExpr("? "+dirSQL(idDesc), bun.Ident("p.id"))
	if afterCursor {
		where, args := keysetPredicate(comps)
		q.Where(where, args...)
	}
}

func dirSQL(desc bool) string {
	if desc {
		return "DESC"
	}
	return "ASC"
}

// keysetPredicate is "the row comes after the cursor" for a lexicographic
// order: c1 > v1 OR (c1 = v1 AND c2 > v2) OR ..., led by the bound it
// implies, c1 >= v1, which lets a planner read one range of c1's index in
// order instead of merging the disjuncts and sorting them.
func keysetPredicate(comps []component) (string, []any) {
	var b strings.Builder
	var args []any
	if lead := comps[0]; lead.expr == "?" {
		op := " >= ? AND "
		if lead.desc {
			op = " <= ? AND "
		}
		b.WriteString(lead.expr + op)
		args = append(args, lead.ident, lead.value)
	}
	b.WriteByte('(')
	for i, c := range comps {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('(')
		for _, eq := range comps[:i] {
			b.WriteString(eq.expr + " = ? AND ")
			args = append(args, eq.ident, eq.value)
		}
		op := " > ?"
		if c.desc {
			op = " < ?"
		}
		b.WriteString(c.expr + op)
		args = append(args, c.ident, c.value)
		b.WriteByte(')')
	}
	b.WriteByte(')')
	return b.String(), args
}

// cursor is the decoded form of an opaque page cursor.
type cursor struct {
	Scope  string            `json:"s"`
	Values []json.RawMessage `json:"v,omitempty"`
	ID     int64             `json:"id"`

	decoded []any
}

// maxCursorLen bounds an encoded cursor. The longest that List makes holds a
// name key of maxNameLen characters, each escaped as \uXXXX in the worst
// case, next to every other key; this leaves room above it and stays far
// below what a URL may carry.
const maxCursorLen = 4096

// malformedCursor is the error of a cursor that List or ListRuns never made.
// decodeIDCursor decodes a cursor made for scope that holds a row's id
// alone, as the feed-run lists make them.
func decodeIDCursor(raw, scope string) (int64, error) {
	c, err := decodeCursor(raw, scope)
	if err != nil {
		return 0, err
	}
	if len(c.Values) > 0 {
		return 0, malformedCursor()
	}
	return c.ID, nil
}

func malformedCursor() error { return fieldError("cursor", "is malformed") }

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor decodes a cursor made for scope. Its values stay raw: the
// list that reads them checks each against its key (checkCursorValues).
// What encodeCursor never writes (invalid UTF-8, a member of its own,
// anything after the object, an id that is not positive) is refused.
func decodeCursor(raw, scope string) (*cursor, error) {
	if len(raw) > maxCursorLen {
		return nil, malformedCursor()
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || !utf8.Valid(b) {
		return nil, malformedCursor()
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c cursor
	if err := dec.Decode(&c); err != nil || c.ID <= 0 {
		return nil, malformedCursor()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformedCursor() // something after the object
	}
	if c.Scope != scope {
		return nil, fieldError("cursor", "belongs to another filter or order")
	}
	return &c, nil
}
