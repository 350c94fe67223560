package graph

// The facets of pornstarFacets: a PornstarFacet value is the db.FacetNames
// name of the same name, upper-cased (tests check both ways).

import (
	"errors"
	"strings"

	"marquee/db"
	"marquee/graph/model"
)

// toFacetNames translates the facets argument; the store checks the names.
func toFacetNames(facets []model.PornstarFacet) []string {
	names := make([]string, len(facets))
	for i, f := range facets {
		names[i] = strings.ToLower(string(f))
	}
	return names
}

// facetsError names the argument behind a store error: facets.N for a
// facet, the filter's input field for a filter.
func facetsError(err error) error {
	var fe *db.FieldError
	if errors.As(err, &fe) && (fe.Field == "facets" || strings.HasPrefix(fe.Field, "facets/")) {
		return inputError("", err)
	}
	return filterError(err)
}

func toFacets(res *db.FacetResult) *model.PornstarFacets {
	out := &model.PornstarFacets{TotalCount: int(res.Total), Values: []*model.ValueFacet{}, Histograms: []*model.HistogramFacet{}}
	for _, c := range res.Facets {
		facet := model.PornstarFacet(strings.ToUpper(c.Field.Name))
		if c.Field.Kind == db.FacetValues {
			v := &model.ValueFacet{Facet: facet, Values: make([]*model.FacetValue, len(c.Values))}
			for i, fv := range c.Values {
				v.Values[i] = &model.FacetValue{Value: fv.Value, Count: int(fv.Count)}
			}
			out.Values = append(out.Values, v)
			continue
		}
		h := &model.HistogramFacet{Facet: facet, Min: c.Min, Max: c.Max, UnknownCount: int(c.Unknown),
			Buckets: make([]*model.HistogramBucket, len(c.Buckets))}
		for i, b := range c.Buckets {
			h.Buckets[i] = &model.HistogramBucket{Min: b.Min, Max: b.Max, Count: int(b.Count)}
		}
		out.Histograms = append(out.Histograms, h)
	}
	return out
}
