package rest

import (
	"net/http"
	"net/url"
	"strings"

	"marquee/db"
)

// paramFacet names the facets of GET /pornstars/facets, repeated
// (facet=a&facet=b) or comma-separated (facet=a,b).
const paramFacet = "facet"

// facetsJSON is the answer of GET /pornstars/facets.
type facetsJSON struct {
	Total int64 `json:"total"`
	// Facets holds, by name, a values facet as a list of facetValueJSON and
	// a histogram as a histogramJSON.
	Facets map[string]any `json:"facets"`
}

type facetValueJSON struct {
	Value *string `json:"value"`
	Count int64   `json:"count"`
}

type histogramJSON struct {
	Min     *int64       `json:"min"`
	Max     *int64       `json:"max"`
	Unknown int64        `json:"unknown"`
	Buckets []bucketJSON `json:"buckets"`
}

type bucketJSON struct {
	Min   int64  `json:"min"`
	Max   *int64 `json:"max"`
	Count int64  `json:"count"`
}

// listFacets answers GET /pornstars/facets: the counts per value of each
// facet asked for, under the filters of GET /pornstars (each facet leaves
// out the filter of its own name), and the total under all of them.
func (a *api) listFacets(w http.ResponseWriter, r *http.Request) {
	values, ok := parseQuery(w, r)
	if !ok {
		return
	}
	filter, names, errs := parseFacetsQuery(values)
	if len(errs) > 0 {
		failParameters(w, r, errs)
		return
	}
	result, err := a.store.Facets(r.Context(), filter, names)
	if err != nil {
		a.failListError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, newFacetsJSON(result), "")
}

// parseFacetsQuery reads the query of GET /pornstars/facets: facet and the
// filters of GET /pornstars. The store checks the facet names.
func parseFacetsQuery(values url.Values) (db.Filter, []string, paramErrors) {
	var errs paramErrors
	var names []string
	f := parseFilterQuery(&errs, values, func(name string, vals []string) bool {
		switch name {
		case paramFacet:
			for _, v := range vals {
				for _, item := range strings.Split(v, ",") {
					names = append(names, strings.TrimSpace(item))
				}
			}
			return true
		case paramLimit, paramCursor, paramSort:
			errs.add(name, "is not a parameter of the facets: they count every match")
			return true
		}
		return false
	})
	return f, names, errs
}

func newFacetsJSON(result *db.FacetResult) facetsJSON {
	out := facetsJSON{Total: result.Total, Facets: make(map[string]any, len(result.Facets))}
	for _, c := range result.Facets {
		if c.Field.Kind == db.FacetValues {
			list := make([]facetValueJSON, len(c.Values))
			for i, v := range c.Values {
				list[i] = facetValueJSON{Value: v.Value, Count: v.Count}
			}
			out.Facets[c.Field.Name] = list
			continue
		}
		h := histogramJSON{Min: c.Min, Max: c.Max, Unknown: c.Unknown, Buckets: make([]bucketJSON, len(c.Buckets))}
		for i, b := range c.Buckets {
			h.Buckets[i] = bucketJSON{Min: b.Min, Max: b.Max, Count: b.Count}
		}
		out.Facets[c.Field.Name] = h
	}
	return out
}
