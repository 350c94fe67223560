package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"marquee/db"
)

// The parameters of the lists that are not filters. The filters of GET
// /pornstars are db.FilterFields, by their ParamNames; a list filter takes
// several values, repeated (hair_color=a&hair_color=b) or comma-separated
// (hair_color=a,b).
const (
	paramLimit  = "limit"
	paramCursor = "cursor"
	paramSort   = "sort"
)

// maxSortKeys bounds sort: one key per ordering field.
var maxSortKeys = len(db.OrderFields)

// filterParam is one query parameter of a filter: the filter and, for a
// range, which bound the parameter sets.
type filterParam struct {
	field *db.FilterField
	bound string
}

// filterParams are the filters' parameters by name.
var filterParams = func() map[string]filterParam {
	params := map[string]filterParam{}
	for i := range db.FilterFields {
		field := &db.FilterFields[i]
		names := field.ParamNames()
		if field.Kind == db.FilterIntRange {
			params[names[0]] = filterParam{field, db.RangeMin}
			params[names[1]] = filterParam{field, db.RangeMax}
			continue
		}
		params[names[0]] = filterParam{field: field}
	}
	return params
}()

// pornstarQuery is a parsed GET /pornstars query.
type pornstarQuery struct {
	filter db.Filter
	order  []db.OrderKey
	limit  int
	cursor string
}

// paramErrors collects what is wrong with the parameters of one request.
type paramErrors []problemError

func (e *paramErrors) add(name, format string, args ...any) {
	*e = append(*e, parameterError(name, fmt.Sprintf(format, args...)))
}

// parsePornstarQuery reads the query of GET /pornstars. Unknown parameters,
// repeated single-valued ones and bad values are errors naming the parameter.
func parsePornstarQuery(values url.Values) (pornstarQuery, paramErrors) {
	q := pornstarQuery{limit: db.DefaultPageSize}
	var errs paramErrors
	q.filter = parseFilterQuery(&errs, values, func(name string, vals []string) bool {
		if name == paramSort {
			if v, ok := single(&errs, name, vals); ok {
				q.order = parseSort(&errs, v)
			}
			return true
		}
		return parsePageParam(&errs, name, vals, &q.limit, &q.cursor)
	})
	return q, errs
}

// parseExportQuery reads the query of GET /pornstars/export: the filters of
// GET /pornstars, and nothing else. The export is neither paged nor sorted,
// so limit, cursor and sort are refused rather than ignored: a client that
// sends them expects something the export does not do.
func parseExportQuery(values url.Values) (db.Filter, paramErrors) {
	var errs paramErrors
	f := parseFilterQuery(&errs, values, func(name string, _ []string) bool {
		switch name {
		case paramLimit, paramCursor, paramSort:
			errs.add(name, "is not a parameter of the export: it streams every match, in id order, in one answer")
			return true
		}
		return false
	})
	return f, errs
}

// parseFilterQuery reads the filter parameters of a performer list into a
// filter, in name order. Each parameter goes to other first, which reports
// whether it took it; a parameter neither other nor a filter takes is an
// error.
func parseFilterQuery(errs *paramErrors, values url.Values, other func(name string, vals []string) bool) db.Filter {
	var f db.Filter
	for _, name := range sortedKeys(values) {
		vals := values[name]
		if other(name, vals) {
			continue
		}
		param, ok := filterParams[name]
		if !ok {
			errs.add(truncate(name, 64), "is not a parameter of this route")
			continue
		}
		param.parse(errs, name, vals, &f)
	}
	for _, name := range db.RangeFields {
		if r := f.Ranges[name]; r.Min != nil && r.Max != nil && *r.Min > *r.Max {
			errs.add(name+"_"+db.RangeMin, "must not exceed %s_%s", name, db.RangeMax)
		}
	}
	// A lookup by feed id finds the performer whether or not it left the
	// feed, as GraphQL's pornstarByFeedId does, unless removed says otherwise.
	if len(f.FeedIDs) > 0 && f.Removed == "" {
		f.Removed = db.RemovedAny
	}
	return f
}

// parse reads the values of the parameter name into f.
func (p filterParam) parse(errs *paramErrors, name string, vals []string, f *db.Filter) {
	field := p.field
	switch field.Kind {
	case db.FilterTextList:
		if list, ok := splitList(errs, name, vals, field); ok {
			field.SetTexts(f, list)
		}
		return
	case db.FilterIDList:
		if list, ok := splitList(errs, name, vals, field); ok {
			if ids, ok := parseIDs(errs, name, list); ok {
				field.SetIDs(f, ids)
			}
		}
		return
	}
	v, ok := single(errs, name, vals)
	if !ok {
		return
	}
	switch field.Kind {
	case db.FilterText:
		if msg := checkParamText(v, field.MaxLength); msg != "" {
			errs.add(name, "%s", msg)
			return
		}
		field.SetText(f, v)
	case db.FilterBool:
		if v != "true" && v != "false" {
			errs.add(name, "must be true or false")
			return
		}
		field.SetBool(f, v == "true")
	case db.FilterIntRange:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs.add(name, "must be an integer")
			return
		}
		r := f.Ranges[field.Name]
		if p.bound == db.RangeMin {
			r.Min = &n
		} else {
			r.Max = &n
		}
		field.SetRange(f, r)
	case db.FilterTime:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs.add(name, "must be an RFC 3339 time such as 2024-05-01T12:00:00.123456Z (a + in the offset is %%2B in a URL)")
			return
		}
		field.SetTime(f, t)
	case db.FilterRemoved:
		removed := db.Removed(v)
		if !slices.Contains(db.Removals, removed) {
			errs.add(name, "must be %s", orList(db.Removals))
			return
		}
		field.SetRemoved(f, removed)
	}
}

// parseIDs reads a list of positive integers.
func parseIDs(errs *paramErrors, name string, list []string) ([]int64, bool) {
	ids := make([]int64, len(list))
	for i, v := range list {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			errs.add(name, "must be positive integers; %q is not one", truncate(v, 40))
			return nil, false
		}
		ids[i] = id
	}
	return ids, true
}

// orList joins values as "a, b or c".
func orList[S ~string](values []S) string {
	var b strings.Builder
	for i, v := range values {
		switch {
		case i == 0:
		case i == len(values)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(v))
	}
	return b.String()
}

// parseSort reads "rank,-views": keys in order, "-" for descending.
func parseSort(errs *paramErrors, v string) []db.OrderKey {
	if v == "" {
		errs.add(paramSort, "must not be empty")
		return nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > maxSortKeys {
		errs.add(paramSort, "has %d keys, at most %d allowed", len(parts), maxSortKeys)
		return nil
	}
	order := make([]db.OrderKey, 0, len(parts))
	seen := map[string]bool{}
	for _, part := range parts {
		key := db.OrderKey{Field: part}
		if rest, ok := strings.CutPrefix(part, "-"); ok {
			key = db.OrderKey{Field: rest, Desc: true}
		}
		if !slices.Contains(db.OrderFields, key.Field) {
			errs.add(paramSort, "%q is not a sort key; use %s, each optionally prefixed with -", truncate(part, 40), strings.Join(db.OrderFields, ", "))
			return nil
		}
		if seen[key.Field] {
			errs.add(paramSort, "%s is repeated", key.Field)
			return nil
		}
		seen[key.Field] = true
		order = append(order, key)
	}
	return order
}

// checkParamText says what is wrong with a text value, or "".
func checkParamText(v string, max int) string {
	switch {
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	case strings.IndexByte(v, 0) >= 0:
		return "contains a NUL character"
	case utf8.RuneCountInString(v) > max:
		return fmt.Sprintf("is longer than %d characters", max)
	}
	return ""
}

// single returns the one value of a single-valued parameter.
func single(errs *paramErrors, name string, vals []string) (string, bool) {
	if len(vals) != 1 {
		errs.add(name, "must be given once")
		return "", false
	}
	return vals[0], true
}

// splitList reads a list filter given repeated and/or comma-separated,
// each value and their number bounded as field says.
func splitList(errs *paramErrors, name string, vals []string, field *db.FilterField) ([]string, bool) {
	var out []string
	for _, v := range vals {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				errs.add(name, "has an empty value")
				return nil, false
			}
			if msg := checkParamText(item, field.MaxLength); msg != "" {
				errs.add(name, "%s", msg)
				return nil, false
			}
			out = append(out, item)
		}
	}
	if len(out) > field.MaxValues {
		errs.add(name, "has %d values, at most %d allowed", len(out), field.MaxValues)
		return nil, false
	}
	return out, true
}

// parsePage reads the limit and cursor of a list that has no other
// parameters (GET /feed-runs).
func parsePage(values url.Values) (limit int, cursor string, errs paramErrors) {
	limit = db.DefaultPageSize
	for _, name := range sortedKeys(values) {
		if !parsePageParam(&errs, name, values[name], &limit, &cursor) {
			errs.add(truncate(name, 64), "is not a parameter of this route")
		}
	}
	return limit, cursor, errs
}

// parsePageParam reads name into limit or cursor when it is one of them,
// and reports whether it was.
func parsePageParam(errs *paramErrors, name string, vals []string, limit *int, cursor *string) bool {
	switch name {
	case paramLimit:
		if v, ok := single(errs, name, vals); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > db.MaxPageSize {
				errs.add(name, "must be an integer between 1 and %d", db.MaxPageSize)
				return true
			}
			*limit = n
		}
	case paramCursor:
		if v, ok := single(errs, name, vals); ok {
			if v == "" {
				errs.add(name, "must not be empty")
				return true
			}
			*cursor = v
		}
	default:
		return false
	}
	return true
}

// noParams checks that a route without query parameters got none.
func noParams(values url.Values) paramErrors {
	var errs paramErrors
	for _, name := range sortedKeys(values) {
		errs.add(truncate(name, 64), "is not a parameter of this route")
	}
	return errs
}

// pathID reads a positive integer path parameter.
func pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	raw := r.PathValue(name)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		failParameters(w, r, []problemError{parameterError(name, "must be a positive integer")})
		return 0, false
	}
	return id, true
}

// sortedKeys returns the keys of m in order, so that errors come out in a
// stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// truncate shortens a client's value before quoting it in an error.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}
