package db

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Removed selects performers by whether they left the feed.
type Removed string

const (
	RemovedExclude Removed = "false" // only performers in the feed (the default)
	RemovedOnly    Removed = "true"  // only performers that left it
	RemovedAny     Removed = "any"   // both
)

// Removals are the values of Removed, the default first.
var Removals = []Removed{RemovedExclude, RemovedOnly, RemovedAny}

// Range is an inclusive range; a nil bound is open.
type Range struct {
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
}

// Filter selects performers. Zero fields do not filter. Lists match any of
// their values; strings of Genders, Orientations and Licenses match exactly,
// hair colours and ethnicities case-insensitively. FilterFields describes
// each member.
type Filter struct {
	// Q is words, each of which starts a word of the name or of one alias
	// (the same one for all), ignoring case and accents (whereSearch).
	Q            string           `json:"q,omitempty"`
	HairColors   []string         `json:"hair_colors,omitempty"`
	Ethnicities  []string         `json:"ethnicities,omitempty"`
	Genders      []string         `json:"genders,omitempty"`
	Orientations []string         `json:"orientations,omitempty"`
	Licenses     []string         `json:"licenses,omitempty"`
	BreastTypes  []string         `json:"breast_types,omitempty"`
	WLStatus     *bool            `json:"wl_status,omitempty"`
	Tattoos      *bool            `json:"tattoos,omitempty"`
	Piercings    *bool            `json:"piercings,omitempty"`
	Ranges       map[string]Range `json:"ranges,omitempty"`
	// HasImage: true keeps performers with at least one cached image, false
	// those with none.
	HasImage *bool   `json:"has_image,omitempty"`
	Removed  Removed `json:"removed,omitempty"`
	FeedIDs  []int64 `json:"feed_ids,omitempty"`
	// Slugs match exactly: a slug is lower-case (docs/api.md, "Slugs").
	Slugs []string `json:"slugs,omitempty"`
	// UpdatedSince keeps performers written (changed, removed or restored)
	// at or after it, to the microsecond: with RemovedAny and the
	// updated_at order, the walk of a client that mirrors the performers
	// (docs/api.md, "Sync").
	UpdatedSince *time.Time `json:"updated_since,omitempty"`
	// CreatedSince keeps performers created at or after it, to the
	// microsecond.
	CreatedSince *time.Time `json:"created_since,omitempty"`
}

// FilterKind is what values a filter takes.
type FilterKind int

const (
	// FilterText is one text value.
	FilterText FilterKind = iota + 1
	// FilterTextList is any of several text values.
	FilterTextList
	// FilterIDList is any of several positive integers.
	FilterIDList
	// FilterBool is true or false.
	FilterBool
	// FilterIntRange is an inclusive range of integers, given by its two
	// bounds (ParamNames), either of which may be left open.
	FilterIntRange
	// FilterRemoved is one of Removals.
	FilterRemoved
	// FilterTime is a point in time (RFC 3339 in the APIs): the rows whose
	// column is at or after it.
	FilterTime
)

// MaxFilterValues bounds the values of one list filter: each is a bound
// parameter of one query, and no real question needs more.
const MaxFilterValues = 100

// FilterField is one filter of List as the APIs offer it: FilterFields is
// the one table of them, from which the REST parameters, the OpenAPI
// document and the GraphQL filter input are read.
type FilterField struct {
	// Name is the filter's snake_case name: the REST query parameter and,
	// camel-cased, the GraphQL input field. A FilterIntRange has two
	// parameters (ParamNames) and is named after its column.
	Name string
	// Member is the JSON name of the Filter member it sets, as the store's
	// errors name it ("hair_colors/1").
	Member string
	Kind   FilterKind
	// Description says what the filter selects, for API documents; a
	// range's says nothing its name does not.
	Description string
	// MaxLength bounds each value in characters (FilterText, and the
	// lists, whose values a REST query carries as text).
	MaxLength int
	// MaxValues bounds the values of a FilterTextList or FilterIDList.
	MaxValues int

	// The Filter member, by Kind; a FilterIntRange is Ranges[Name] and
	// FilterRemoved is Removed.
	text  func(*Filter) *string
	texts func(*Filter) *[]string
	ids   func(*Filter) *[]int64
	flag  func(*Filter) **bool
	when  func(*Filter) **time.Time
	// column is what a list, flag or range compares; tag instead names
	// the pornstar_tags attribute a list matches.
	column, tag string
	// where narrows a query by the filter's value, when comparing column
	// or tag does not.
	where func(q *bun.SelectQuery, f *Filter)
}

// The bounds of a FilterIntRange, as its parameter names end.
const (
	RangeMin = "min"
	RangeMax = "max"
)

// FilterFields are the filters of List, in the order the APIs list them.
// Adding a filter is adding its row here and its Filter member; the
// GraphQL input field of each parameter is declared in the schema, and
// tests fail until every row has one.
var FilterFields = []FilterField{
	{Name: "q", Member: "q", Kind: FilterText, MaxLength: maxNameLen,
		Description: "Words, in any order, each the start of a word of the name or of one alias (the same one for all), " +
			"ignoring case and accents; punctuation only separates words. Without sort, results come by relevance.",
		text: func(f *Filter) *string { return &f.Q }, where: whereSearch},
	textListFilter("hair_color", "hair_colors", "Hair colour, case-insensitive.", func(f *Filter) *[]string { return &f.HairColors }, "", tagHairColor),
	textListFilter("ethnicity", "ethnicities", "Ethnicity, case-insensitive.", func(f *Filter) *[]string { return &f.Ethnicities }, "", tagEthnicity),
	textListFilter("gender", "genders", "Gender, exact.", func(f *Filter) *[]string { return &f.Genders }, "gender", ""),
	textListFilter("orientation", "orientations", "Orientation, exact.", func(f *Filter) *[]string { return &f.Orientations }, "orientation", ""),
	textListFilter("license", "licenses", "License (REGULAR, PREMIUM), exact.", func(f *Filter) *[]string { return &f.Licenses }, "license", ""),
	textListFilter("breast_type", "breast_types", "Breast type (cup size, such as C or DD), exact.", func(f *Filter) *[]string { return &f.BreastTypes }, "breast_type", ""),
	boolFilter("wl_status", "White-label status.", func(f *Filter) **bool { return &f.WLStatus }),
	boolFilter("tattoos", "Has tattoos.", func(f *Filter) **bool { return &f.Tattoos }),
	boolFilter("piercings", "Has piercings.", func(f *Filter) **bool { return &f.Piercings }),
	rangeFilter("age"), rangeFilter("breast_size"), rangeFilter("subscriptions"), rangeFilter("monthly_searches"),
	rangeFilter("views"), rangeFilter("videos_count"), rangeFilter("premium_videos_count"),
	rangeFilter("white_label_video_count"), rangeFilter("rank"), rangeFilter("rank_premium"), rangeFilter("rank_wl"),
	{Name: "has_image", Member: "has_image", Kind: FilterBool, Description: "true: at least one cached image; false: none.",
		flag: func(f *Filter) **bool { return &f.HasImage }, where: whereHasImage},
	{Name: "removed", Member: "removed", Kind: FilterRemoved,
		Description: "Performers that left the feed: false (the default: only those in it), true (only those that left), any.",
		where:       whereRemoved},
	// Its values are text before they are ids: bounded as a list's are.
	{Name: "feed_id", Member: "feed_ids", Kind: FilterIDList, MaxLength: maxTagLen, MaxValues: MaxFilterValues, column: "external_id",
		Description: "Feed id (the lookup by feed id).",
		ids:         func(f *Filter) *[]int64 { return &f.FeedIDs }},
	{Name: "slug", Member: "slugs", Kind: FilterTextList, MaxLength: MaxSlugLen, MaxValues: MaxFilterValues, column: "slug",
		Description: "Slug, exact (the lookup by slug).",
		texts:       func(f *Filter) *[]string { return &f.Slugs }},
	{Name: "updated_since", Member: "updated_since", Kind: FilterTime, column: "updated_at",
		Description: "Performers written at or after this time (RFC 3339, fractional seconds to the microsecond): " +
			"changed, removed, restored, deleted (shown with removed_at and deleted_at set) or with an image that changed state. " +
			"With removed=any and sort=updated_at, the walk of a client that mirrors the performers.",
		when: func(f *Filter) **time.Time { return &f.UpdatedSince }},
	{Name: "created_since", Member: "created_since", Kind: FilterTime, column: "created_at",
		Description: "Performers created at or after this time (RFC 3339, fractional seconds to the microsecond).",
		when:        func(f *Filter) **time.Time { return &f.CreatedSince }},
}

func textListFilter(name, member, description string, field func(*Filter) *[]string, column, tag string) FilterField {
	return FilterField{Name: name, Member: member, Kind: FilterTextList, Description: description,
		MaxLength: maxTagLen, MaxValues: MaxFilterValues, texts: field, column: column, tag: tag}
}

func boolFilter(name, description string, field func(*Filter) **bool) FilterField {
	return FilterField{Name: name, Member: name, Kind: FilterBool, Description: description, flag: field, column: name}
}

func rangeFilter(column string) FilterField {
	return FilterField{Name: column, Member: "ranges", Kind: FilterIntRange, column: column}
}

// RangeFields are the names of the FilterIntRange filters: the keys
// Filter.Ranges accepts.
var RangeFields = func() []string {
	var names []string
	for _, ff := range FilterFields {
		if ff.Kind == FilterIntRange {
			names = append(names, ff.Name)
		}
	}
	return names
}()

// ParamNames are the names of the filter's parameters: Name, or for a
// FilterIntRange Name_min and Name_max.
func (ff *FilterField) ParamNames() []string {
	if ff.Kind == FilterIntRange {
		return []string{ff.Name + "_" + RangeMin, ff.Name + "_" + RangeMax}
	}
	return []string{ff.Name}
}

// FilterFieldOf returns the filter a store error names by its field
// ("hair_colors/1", "ranges/age", "q").
func FilterFieldOf(errorField string) (*FilterField, bool) {
	member, rest, _ := strings.Cut(errorField, "/")
	name, _, _ := strings.Cut(rest, "/")
	for i := range FilterFields {
		ff := &FilterFields[i]
		if ff.Member == member && (ff.Kind != FilterIntRange || ff.Name == name) {
			return ff, true
		}
	}
	return nil, false
}

// mustBe panics when a setter does not match the filter's kind: a
// transport's programming error, never a client's.
func (ff *FilterField) mustBe(kind FilterKind) {
	if ff.Kind != kind {
		panic(fmt.Sprintf("db: filter %s is of kind %d, not %d", ff.Name, ff.Kind, kind))
	}
}

// SetText sets a FilterText filter in f.
func (ff *FilterField) SetText(f *Filter, v string) { ff.mustBe(FilterText); *ff.text(f) = v }

// SetTexts sets a FilterTextList filter in f.
func (ff *FilterField) SetTexts(f *Filter, v []string) { ff.mustBe(FilterTextList); *ff.texts(f) = v }

// SetIDs sets a FilterIDList filter in f.
func (ff *FilterField) SetIDs(f *Filter, v []int64) { ff.mustBe(FilterIDList); *ff.ids(f) = v }

// SetBool sets a FilterBool filter in f.
func (ff *FilterField) SetBool(f *Filter, v bool) { ff.mustBe(FilterBool); *ff.flag(f) = &v }

// SetRange sets a FilterIntRange filter in f.
func (ff *FilterField) SetRange(f *Filter, r Range) {
	ff.mustBe(FilterIntRange)
	if f.Ranges == nil {
		f.Ranges = map[string]Range{}
	}
	f.Ranges[ff.Name] = r
}

// SetTime sets a FilterTime filter in f, in UTC to the microsecond (what a
// row holds): a finer time selects the rows of its microsecond too.
func (ff *FilterField) SetTime(f *Filter, v time.Time) {
	ff.mustBe(FilterTime)
	t := v.UTC().Truncate(time.Microsecond)
	*ff.when(f) = &t
}

// SetRemoved sets the FilterRemoved filter in f.
func (ff *FilterField) SetRemoved(f *Filter, v Removed) { ff.mustBe(FilterRemoved); f.Removed = v }

func validateFilter(f *Filter) error {
	switch f.Removed {
	case "":
		f.Removed = RemovedExclude
	case RemovedExclude, RemovedOnly, RemovedAny:
	default:
		return fieldError("removed", "must be false, true or any")
	}
	for name := range f.Ranges {
		if !slices.Contains(RangeFields, name) {
			return fieldError("ranges/"+name, "is not a range field")
		}
	}
	for i := range FilterFields {
		ff := &FilterFields[i]
		switch ff.Kind {
		case FilterText:
			if err := checkText(ff.Member, *ff.text(f), ff.MaxLength); err != nil {
				return err
			}
		case FilterTextList:
			for j, v := range *ff.texts(f) {
				if err := checkText(fmt.Sprintf("%s/%d", ff.Member, j), v, ff.MaxLength); err != nil {
					return err
				}
			}
		case FilterTime:
			if err := checkFilterTime(ff, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyFilter narrows q to the rows f selects, filter by filter in the
// table's order, which keeps the SQL of a filter stable.
func applyFilter(q *bun.SelectQuery, f *Filter) {
	for i := range FilterFields {
		FilterFields[i].narrow(q, f)
	}
}

func (ff *FilterField) narrow(q *bun.SelectQuery, f *Filter) {
	if ff.where != nil {
		ff.where(q, f)
		return
	}
	column := bun.Ident("p." + ff.column)
	switch ff.Kind {
	case FilterTextList:
		values := *ff.texts(f)
		switch {
		case ff.tag != "":
			tagFilter(q, ff.tag, values)
		case len(values) > 0:
			q.Where("? IN (?)", column, bun.List(values))
		}
	case FilterIDList:
		if ids := *ff.ids(f); len(ids) > 0 {
			q.Where("? IN (?)", column, bun.List(ids))
		}
	case FilterBool:
		if v := *ff.flag(f); v != nil {
			q.Where("? = ?", column, *v)
		}
	case FilterTime:
		if v := *ff.when(f); v != nil {
			q.Where("? >= ?", column, *v)
		}
	case FilterIntRange:
		r := f.Ranges[ff.Name]
		if r.Min != nil {
			q.Where("? >= ?", column, *r.Min)
		}
		if r.Max != nil {
			q.Where("? <= ?", column, *r.Max)
		}
	}
}

// isSet reports whether the filter narrows f's rows: whether a facet of
// its name applies the disjunctive rule (Store.Facets).
func (ff *FilterField) isSet(f *Filter) bool {
	switch ff.Kind {
	case FilterText:
		return *ff.text(f) != ""
	case FilterTextList:
		return len(*ff.texts(f)) > 0
	case FilterIDList:
		return len(*ff.ids(f)) > 0
	case FilterBool:
		return *ff.flag(f) != nil
	case FilterIntRange:
		r := f.Ranges[ff.Name]
		return r.Min != nil || r.Max != nil
	case FilterRemoved:
		return f.Removed != RemovedAny
	case FilterTime:
		return *ff.when(f) != nil
	}
	panic(fmt.Sprintf("db: filter %s has no kind", ff.Name))
}

// without returns f with the filter left out (f itself is not changed).
func (ff *FilterField) without(f Filter) Filter {
	switch ff.Kind {
	case FilterText:
		*ff.text(&f) = ""
	case FilterTextList:
		*ff.texts(&f) = nil
	case FilterIDList:
		*ff.ids(&f) = nil
	case FilterBool:
		*ff.flag(&f) = nil
	case FilterIntRange:
		ranges := maps.Clone(f.Ranges)
		delete(ranges, ff.Name)
		f.Ranges = ranges
	case FilterRemoved:
		f.Removed = RemovedAny
	case FilterTime:
		*ff.when(&f) = nil
	}
	return f
}

// checkFilterTime refuses a time no row can hold, and keeps one that a row
// can in UTC to the microsecond, as the rows hold it.
func checkFilterTime(ff *FilterField, f *Filter) error {
	v := *ff.when(f)
	if v == nil {
		return nil
	}
	t := v.UTC().Truncate(time.Microsecond)
	if t.Before(minStoredTime) || t.After(maxStoredTime) {
		return fieldError(ff.Member, fmt.Sprintf("must be between %s and %s",
			minStoredTime.Format(time.RFC3339), maxStoredTime.Format(time.RFC3339Nano)))
	}
	*ff.when(f) = &t
	return nil
}

func whereHasImage(q *bun.SelectQuery, f *Filter) {
	if f.HasImage == nil {
		return
	}
	exists := "EXISTS"
	if !*f.HasImage {
		exists = "NOT EXISTS"
	}
	q.Where(exists+" (SELECT 1 FROM thumbnails AS t JOIN images AS i ON i.url_hash = t.url_hash WHERE t.pornstar_id = p.id AND i.status = ?)", ImageCached)
}

// whereRemoved also keeps the tombstones of deleted performers out of every
// list but a sync walk (updated_since), where they are removed performers:
// the deletion a mirror must apply.
func whereRemoved(q *bun.SelectQuery, f *Filter) {
	switch f.Removed {
	case RemovedOnly:
		q.Where("p.removed_at IS NOT NULL")
	case RemovedAny:
	default:
		q.Where("p.removed_at IS NULL")
		return // tombstones are removed
	}
	if f.UpdatedSince == nil {
		q.Where("p.deleted_at IS NULL")
	}
}

func tagFilter(q *bun.SelectQuery, attribute string, values []string) {
	var keys []string
	for _, v := range values {
		if k := tagValue(v); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	q.Where("p.id IN (SELECT pt.pornstar_id FROM pornstar_tags AS pt WHERE pt.attribute = ? AND pt.value IN (?))", attribute, bun.List(keys))
}

func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
