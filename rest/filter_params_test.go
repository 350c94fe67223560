package rest

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"marquee/db"
)

// sampleParamValues are valid values of a parameter of each kind of filter.
var sampleParamValues = map[db.FilterKind]string{
	db.FilterText:     "a",
	db.FilterTextList: "a,b",
	db.FilterIDList:   "1,2",
	db.FilterBool:     "true",
	db.FilterIntRange: "1",
	db.FilterRemoved:  string(db.RemovedAny),
	db.FilterTime:     "2024-05-01T12:00:00.5+02:00",
}

// TestFilterParametersMatchTable checks both ways that the query parameters
// GET /pornstars documents are its page parameters and the parameters of
// db.FilterFields, and that each filter parameter sets its filter.
func TestFilterParametersMatchTable(t *testing.T) {
	want := map[string]bool{paramLimit: true, paramCursor: true, paramSort: true}
	for _, field := range db.FilterFields {
		for _, name := range field.ParamNames() {
			want[name] = true
		}
	}
	route, _, err := contract().router.FindRoute(httptest.NewRequest(http.MethodGet, BasePath+"/pornstars", nil))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, p := range route.Operation.Parameters {
		if p.Value.In == "query" {
			documented[p.Value.Name] = true
		}
	}
	if got, want := slices.Sorted(maps.Keys(documented)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, want) {
		t.Errorf("GET /pornstars documents the query parameters\n  %v\nthe handler reads\n  %v", got, want)
	}

	for i := range db.FilterFields {
		field := &db.FilterFields[i]
		sample, ok := sampleParamValues[field.Kind]
		if !ok {
			t.Fatalf("no sample value of filter kind %d (%s)", field.Kind, field.Name)
		}
		for _, name := range field.ParamNames() {
			q, errs := parsePornstarQuery(url.Values{name: {sample}})
			if len(errs) > 0 {
				t.Errorf("%s=%s: %v", name, sample, errs)
				continue
			}
			raw, _ := json.Marshal(q.filter)
			var set map[string]json.RawMessage
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			if _, ok := set[field.Member]; !ok {
				t.Errorf("%s=%s set %s, not %s", name, sample, raw, field.Member)
			}
		}
	}
}

// TestEveryFilterParameter sends each filter parameter with a valid value:
// the API answers it (and the contract check finds the request valid by the
// document).
func TestEveryFilterParameter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		api.create(`{"name": "Filtered"}`)
		for _, field := range db.FilterFields {
			for _, name := range field.ParamNames() {
				query := url.Values{name: {sampleParamValues[field.Kind]}}
				api.get("/api/v1/pornstars?"+query.Encode()).wantStatus(t, http.StatusOK)
			}
		}
	})
}
