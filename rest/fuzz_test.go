package rest

// Fuzz targets: no query string and no body may make the API answer 500, an
// error is always a valid problem document, every answer is one the OpenAPI
// document describes, and a request the server accepts is one the document
// accepts. Their seeds run in every plain `go test`; explore further with
//
//	go test -run '^$' -fuzz FuzzListQuery -fuzzminimizetime 5s ./rest/
//
// (a new interesting input is minimised for up to -fuzzminimizetime, 60 s by
// default, during which the progress line shows no executions)
// (they use SQLite, so they need no MySQL server).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// fuzzAPI is a SQLite-backed API with the head fixture, shared by one
// target's iterations.
func fuzzAPI(f *testing.F) (*testAPI, int64) {
	api := newTestAPI(f, testkit.OpenStore(f, dbtest.SQLiteURL(f)), apiOptions{})
	api.seedHead()
	p := api.create(fullBody)
	return api, p.ID
}

// fuzzExchange sends r and checks the answer as the fuzz targets promise.
func fuzzExchange(t *testing.T, api *testAPI, r *http.Request, body []byte) {
	rec := httptest.NewRecorder()
	api.handler.ServeHTTP(rec, r)
	out := &resp{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if out.status >= 500 {
		t.Fatalf("%s %s answered %d: %s\nlog: %s", r.Method, r.URL, out.status, out.body, api.logs.String())
	}
	rq := req{method: r.Method, path: r.URL.Path}
	if out.status >= 400 {
		checkProblem(t, rq, out)
	}
	c := contract()
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		t.Fatalf("%s %s: no documented route", r.Method, r.URL)
	}
	validationReq := r.Clone(context.Background())
	validationReq.Body = io.NopCloser(bytes.NewReader(body))
	input := &openapi3filter.RequestValidationInput{Request: validationReq, PathParams: params, Route: route, Options: validationOptions}
	if out.status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
			t.Errorf("the server accepted (%d) a request the document refuses: %v", out.status, err)
		}
		input.Request.Body = io.NopCloser(bytes.NewReader(body))
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input, Status: out.status, Header: out.header,
		Body: io.NopCloser(bytes.NewReader(out.body)), Options: validationOptions,
	})
	if err != nil {
		t.Errorf("answer %d is not in the document: %v\nbody: %s", out.status, err, out.body)
	}
}

func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		"", "limit=5", "limit=0", "limit=-1", "limit=1e2", "limit=100&limit=1", "sort=-views,name", "sort=,", "sort=-",
		"sort=rank,-rank", "q=a", "q=%25", "q=_", "q=!", "q=%FF%FE", "q=%00", "hair_color=blonde,red", "hair_color=,",
		"ethnicity=White&ethnicity=asian", "gender=female", "license=PREMIUM", "wl_status=true", "tattoos=TRUE",
		"age_min=18&age_max=17", "age_min=-9223372036854775808", "views_max=9223372036854775808", "rank_min=1&rank_max=10",
		"has_image=false", "removed=any", "removed=", "feed_id=2,3", "feed_id=0", "feed_id=-1", "feed_id=2&removed=true",
		"cursor=eyJzIjoicG9ybnN0YXJzOjAwMDAwMDAwMDAwMDAwMDAiLCJ2IjpbMV0sImlkIjoxfQ", "cursor=%%%", "cursor=" + strings.Repeat("A", 5000),
		"a;b", "=", "&&&", "limit", "x=1", "%zz", "sort=updated_at&cursor=eyJ2IjpbIm5vdCBhIHRpbWUiXSwiaWQiOjF9",
	} {
		f.Add(seed)
	}
	api, _ := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/pornstars", nil)
		r.URL.RawQuery = rawQuery
		fuzzExchange(t, api, r, nil)
	})
}

// bodySeeds are JSON bodies, valid and not, for the body targets.
var bodySeeds = []string{
	fullBody, `{"name":"x"}`, `{}`, `[]`, `null`, `""`, `{"name":null}`, `{"name":"x","age":1.0}`, `{"name":"x","age":1e999}`,
	`{"name":"x","age":-0}`, `{"name":"x","age":0.0000001e7}`, `{"name":"x","views":9223372036854775807}`,
	`{"name":"x","aliases":[""," ","A","a"]}`, `{"name":"x","aliases":null,"thumbnails":null,"hair_colors":null}`,
	`{"name":"x","thumbnails":[{"type":"pc","url":"https://a.test/(m=1).jpg","width":1,"height":2}]}`,
	`{"name":"x","thumbnails":[{"type":"pc","url":"u","url_hash":"ec5c6429c95bd7c798e15a479bb9a5a4c75ab2023981d9c6bf69eba9460a8294"}]}`,
	`{"name":"\u0000"}`, `{"name":"\ud800"}`, `{"name":"a","name":"b"}`, `{"id":1}`, `{"name":"x"`, `{"name":"x"}x`,
	`{"name":"` + strings.Repeat("é", 255) + `"}`, `{"name":"` + strings.Repeat("é", 256) + `"}`,
	strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"name":"x","hair_colors":["` + strings.Repeat("h", 129) + `"]}`,
	`{"name":"x","license":"` + strings.Repeat("l", 32) + `"}`, `{"force":true}`, "\xef\xbb\xbf{}", "\xff",
}

func FuzzCreateBody(f *testing.F) {
	for _, seed := range bodySeeds {
		f.Add([]byte(seed))
	}
	api, _ := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/pornstars", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+testWriteToken)
		fuzzExchange(t, api, r, body)
	})
}

func FuzzPatchBody(f *testing.F) {
	for _, seed := range bodySeeds {
		f.Add([]byte(seed))
	}
	api, id := fuzzAPI(f)
	path := fmt.Sprintf("/api/v1/pornstars/%d", id)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPatch, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/merge-patch+json")
		r.Header.Set("Authorization", "Bearer "+testWriteToken)
		fuzzExchange(t, api, r, body)
	})
}
