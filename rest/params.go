package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"marquee/db"
)

// Query parameters of GET /pornstars. The list filters take several values,
// repeated (hair_color=a&hair_color=b) or comma-separated (hair_color=a,b).
const (
	paramLimit     = "limit"
	paramCursor    = "cursor"
	paramSort      = "sort"
	paramQ         = "q"
	paramHairColor = "hair_color"
	paramEthnicity = "ethnicity"
	paramGender    = "gender"
	paramOrient    = "orientation"
	paramLicense   = "license"
	paramWLStatus  = "wl_status"
	paramTattoos   = "tattoos"
	paramPiercings = "piercings"
	paramHasImage  = "has_image"
	paramRemoved   = "removed"
	paramFeedID    = "feed_id"
)

// listParams are the list filters that take several values.
var listParams = []string{paramHairColor, paramEthnicity, paramGender, paramOrient, paramLicense, paramFeedID}

// boolParams are the filters that take true or false.
var boolParams = []string{paramWLStatus, paramTattoos, paramPiercings, paramHasImage}

// maxSortKeys bounds sort: one key per ordering field.
var maxSortKeys = len(db.OrderFields)

// Bounds of filter values, as the store's columns have them.
const (
	maxListValues = 100 // values of one list filter
	maxQLen       = 255 // characters of q: a name or alias is never longer
	maxValueLen   = 128 // characters of one list filter value
)

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
	ranges := map[string]db.Range{}
	for _, name := range sortedKeys(values) {
		vals := values[name]
		if field, bound, ok := rangeParam(name); ok {
			v, ok := single(&errs, name, vals)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs.add(name, "must be an integer")
				continue
			}
			r := ranges[field]
			if bound == "min" {
				r.Min = &n
			} else {
				r.Max = &n
			}
			ranges[field] = r
			continue
		}
		switch {
		case name == paramLimit:
			if v, ok := single(&errs, name, vals); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > db.MaxPageSize {
					errs.add(name, "must be an integer between 1 and %d", db.MaxPageSize)
					continue
				}
				q.limit = n
			}
		case name == paramCursor:
			if v, ok := single(&errs, name, vals); ok {
				if v == "" {
					errs.add(name, "must not be empty")
					continue
				}
				q.cursor = v
			}
		case name == paramSort:
			if v, ok := single(&errs, name, vals); ok {
				q.order = parseSort(&errs, v)
			}
		case name == paramQ:
			if v, ok := single(&errs, name, vals); ok {
				if msg := checkParamText(v, maxQLen); msg != "" {
					errs.add(name, "%s", msg)
					continue
				}
				q.filter.Q = v
			}
		case name == paramRemoved:
			if v, ok := single(&errs, name, vals); ok {
				switch removed := db.Removed(v); removed {
				case db.RemovedExclude, db.RemovedOnly, db.RemovedAny:
					q.filter.Removed = removed
				default:
					errs.add(name, "must be false, true or any")
				}
			}
		case slices.Contains(boolParams, name):
			if v, ok := single(&errs, name, vals); ok {
				b, err := strconv.ParseBool(v)
				if err != nil || (v != "true" && v != "false") {
					errs.add(name, "must be true or false")
					continue
				}
				switch name {
				case paramWLStatus:
					q.filter.WLStatus = &b
				case paramTattoos:
					q.filter.Tattoos = &b
				case paramPiercings:
					q.filter.Piercings = &b
				case paramHasImage:
					q.filter.HasImage = &b
				}
			}
		case slices.Contains(listParams, name):
			list, ok := splitList(&errs, name, vals)
			if !ok {
				continue
			}
			switch name {
			case paramHairColor:
				q.filter.HairColors = list
			case paramEthnicity:
				q.filter.Ethnicities = list
			case paramGender:
				q.filter.Genders = list
			case paramOrient:
				q.filter.Orientations = list
			case paramLicense:
				q.filter.Licenses = list
			case paramFeedID:
				for _, v := range list {
					id, err := strconv.ParseInt(v, 10, 64)
					if err != nil || id <= 0 {
						errs.add(name, "must be positive integers; %q is not one", truncate(v, 40))
						break
					}
					q.filter.FeedIDs = append(q.filter.FeedIDs, id)
				}
			}
		default:
			errs.add(truncate(name, 64), "is not a parameter of this route")
		}
	}
	for _, field := range db.RangeFields {
		r, ok := ranges[field]
		if !ok {
			continue
		}
		if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
			errs.add(field+"_min", "must not exceed %s_max", field)
		}
		if q.filter.Ranges == nil {
			q.filter.Ranges = map[string]db.Range{}
		}
		q.filter.Ranges[field] = r
	}
	// A lookup by feed id finds the performer whether or not it left the
	// feed, as GraphQL's pornstarByFeedId does, unless removed says otherwise.
	if len(q.filter.FeedIDs) > 0 && q.filter.Removed == "" {
		q.filter.Removed = db.RemovedAny
	}
	return q, errs
}

// rangeParam splits "<field>_min" / "<field>_max" for the range fields.
func rangeParam(name string) (field, bound string, ok bool) {
	for _, bound := range []string{"min", "max"} {
		if field, found := strings.CutSuffix(name, "_"+bound); found && slices.Contains(db.RangeFields, field) {
			return field, bound, true
		}
	}
	return "", "", false
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

// splitList reads a list filter given repeated and/or comma-separated.
func splitList(errs *paramErrors, name string, vals []string) ([]string, bool) {
	var out []string
	for _, v := range vals {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				errs.add(name, "has an empty value")
				return nil, false
			}
			if msg := checkParamText(item, maxValueLen); msg != "" {
				errs.add(name, "%s", msg)
				return nil, false
			}
			out = append(out, item)
		}
	}
	if len(out) > maxListValues {
		errs.add(name, "has %d values, at most %d allowed", len(out), maxListValues)
		return nil, false
	}
	return out, true
}

// parsePage reads the limit and cursor of a list that has no other
// parameters (GET /feed-runs).
func parsePage(values url.Values) (limit int, cursor string, errs paramErrors) {
	limit = db.DefaultPageSize
	for _, name := range sortedKeys(values) {
		vals := values[name]
		switch name {
		case paramLimit:
			if v, ok := single(&errs, name, vals); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > db.MaxPageSize {
					errs.add(name, "must be an integer between 1 and %d", db.MaxPageSize)
					continue
				}
				limit = n
			}
		case paramCursor:
			if v, ok := single(&errs, name, vals); ok {
				if v == "" {
					errs.add(name, "must not be empty")
					continue
				}
				cursor = v
			}
		default:
			errs.add(truncate(name, 64), "is not a parameter of this route")
		}
	}
	return limit, cursor, errs
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
