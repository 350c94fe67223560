package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

type facetValueDoc struct {
	Value *string `json:"value"`
	Count int64   `json:"count"`
}

type histogramDoc struct {
	Min     *int64 `json:"min"`
	Max     *int64 `json:"max"`
	Unknown int64  `json:"unknown"`
	Buckets []struct {
		Min   int64  `json:"min"`
		Max   *int64 `json:"max"`
		Count int64  `json:"count"`
	} `json:"buckets"`
}

// listTotal is the total of GET /pornstars with query.
func listTotal(t *testing.T, api *testAPI, query url.Values) int64 {
	t.Helper()
	var page pornstarPageDoc
	api.get("/api/v1/pornstars?limit=1&"+query.Encode()).wantStatus(t, http.StatusOK).json(t, &page)
	return page.Total
}

// TestFacetsMatchListTotals checks the facets against the list: under the
// same filters, total is the list's total, and each known value or bucket
// of a facet counts what the list counts with the facet's own filter set to
// that value or bucket instead (the disjunctive rule).
func TestFacetsMatchListTotals(t *testing.T) {
	filters := []url.Values{
		{},
		{"hair_color": {"blonde"}},
		{"hair_color": {"brunette,black"}, "gender": {"female"}, "age_min": {"25"}, "age_max": {"45"}},
		{"tattoos": {"true"}, "license": {"REGULAR"}, "views_min": {"100000"}},
	}
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		api.seedHead()
		for _, filter := range filters {
			query := url.Values{"facet": {"hair_color,ethnicity,gender,license,tattoos", "age", "views"}}
			for k, v := range filter {
				query[k] = v
			}
			r := api.get("/api/v1/pornstars/facets?"+query.Encode()).wantStatus(t, http.StatusOK)
			var raw struct {
				Total  int64                  `json:"total"`
				Facets map[string]rawFacetDoc `json:"facets"`
			}
			r.json(t, &raw)
			if want := listTotal(t, api, filter); raw.Total != want {
				t.Errorf("%v: total %d, the list's %d", filter, raw.Total, want)
			}
			if len(raw.Facets) != 7 {
				t.Errorf("%v: %d facets, want 7", filter, len(raw.Facets))
			}
			// The list with this facet's filter replaced by one value or bucket.
			instead := func(name string, set url.Values) url.Values {
				q := url.Values{}
				for k, v := range filter {
					if k != name && k != name+"_min" && k != name+"_max" {
						q[k] = v
					}
				}
				for k, v := range set {
					q[k] = v
				}
				return q
			}
			for _, name := range []string{"hair_color", "ethnicity", "gender", "license", "tattoos"} {
				var values []facetValueDoc
				raw.Facets[name].decode(t, &values)
				if len(values) == 0 {
					t.Errorf("%v: facet %s is empty", filter, name)
				}
				for _, v := range values {
					if v.Value == nil {
						continue // the list cannot select unknown
					}
					if want := listTotal(t, api, instead(name, url.Values{name: {*v.Value}})); v.Count != want {
						t.Errorf("%v: %s=%s counts %d, the list %d", filter, name, *v.Value, v.Count, want)
					}
				}
			}
			for _, name := range []string{"age", "views"} {
				var h histogramDoc
				raw.Facets[name].decode(t, &h)
				for _, b := range h.Buckets {
					set := url.Values{name + "_min": {fmt.Sprint(b.Min)}}
					if b.Max != nil {
						set[name+"_max"] = []string{fmt.Sprint(*b.Max)}
					}
					if want := listTotal(t, api, instead(name, set)); b.Count != want {
						t.Errorf("%v: %s bucket %d..%v counts %d, the list %d", filter, name, b.Min, b.Max, b.Count, want)
					}
				}
			}
		}
		// Revalidation, as every GET.
		path := "/api/v1/pornstars/facets?facet=gender"
		r := api.get(path).wantStatus(t, http.StatusOK)
		api.do(req{method: http.MethodGet, path: path, headers: map[string]string{"If-None-Match": r.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)
	})
}

type rawFacetDoc []byte

func (d *rawFacetDoc) UnmarshalJSON(b []byte) error { *d = append((*d)[:0], b...); return nil }

func (d rawFacetDoc) decode(t *testing.T, v any) {
	t.Helper()
	(&resp{body: d}).json(t, v)
}

// TestFacetsRefuseBadInput: what the list refuses, and facet names that are
// unknown, missing or repeated, are 400 naming the parameter.
func TestFacetsRefuseBadInput(t *testing.T) {
	api := newTestAPI(t, testkit.OpenStore(t, dbtest.SQLiteURL(t)), apiOptions{})
	for _, tt := range []struct {
		name, query, parameter string
	}{
		{"no facet", "hair_color=blonde", "facet"},
		{"unknown facet", "facet=gender,shoe_size", "facet"},
		{"repeated facet", "facet=age&facet=age", "facet"},
		{"too many facets", "facet=" + strings.Repeat("age,", 30) + "age", "facet"},
		{"bad filter", "facet=age&age_min=young", "age_min"},
		{"unknown parameter", "facet=age&colour=red", "colour"},
		{"not paged", "facet=age&limit=5", "limit"},
		{"not sorted", "facet=age&sort=rank", "sort"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api.get("/api/v1/pornstars/facets?"+tt.query).wantParameter(t, tt.parameter)
		})
	}
}
