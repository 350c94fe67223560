package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"marquee/db"
	"marquee/ingest"
	"marquee/ingest/feedgen"
	"marquee/ingest/ingesttest"
)

// integerRules are the rules of every integer member a client writes, with
// the member's JSON pointer in a body.
func integerRules() []struct {
	pointer string
	rule    db.FieldRule
} {
	var out []struct {
		pointer string
		rule    db.FieldRule
	}
	for _, r := range db.ProfileRules {
		if r.Kind == db.KindInteger {
			out = append(out, struct {
				pointer string
				rule    db.FieldRule
			}{"/" + r.Name, r})
		}
	}
	for _, r := range db.ThumbnailRules {
		if r.Kind == db.KindInteger {
			out = append(out, struct {
				pointer string
				rule    db.FieldRule
			}{"/thumbnails/0/" + r.Name, r})
		}
	}
	return out
}

// bodyWith is a performer body with the integer at pointer set to value.
func bodyWith(pointer string, value int64) string {
	if field, ok := strings.CutPrefix(pointer, "/thumbnails/0/"); ok {
		return fmt.Sprintf(`{"name": "N", "thumbnails": [{"type": "pc", "url": "https://x.test/a.jpg", %q: %d}]}`, field, value)
	}
	return fmt.Sprintf(`{"name": "N", %q: %d}`, pointer[1:], value)
}

// TestNegativeValuesRefused: every integer member refuses a negative value
// the same way on POST, PUT and PATCH: 422 naming the member, with the
// rule's reason (the one GraphQL and the store give).
func TestNegativeValuesRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		p := api.create(`{"name": "Target", "age": 30}`)
		path := fmt.Sprintf("/api/v1/pornstars/%d", p.ID)
		for _, f := range integerRules() {
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch} {
				t.Run(f.pointer+" "+method, func(t *testing.T) {
					rq := req{method: method, path: path, token: "write", body: bodyWith(f.pointer, -1)}
					if method == http.MethodPost {
						rq.path = "/api/v1/pornstars"
					}
					r := api.do(rq)
					r.wantPointer(t, f.pointer)
					want := fmt.Sprintf("must be an integer from 0 to %d, not -1", f.rule.Max)
					if d := r.problem(t).Errors[0].Detail; d != want {
						t.Errorf("detail %q, want %q", d, want)
					}
					// The bounds themselves are accepted.
					ok := http.StatusOK
					if method == http.MethodPost {
						ok = http.StatusCreated
					}
					for _, bound := range []int64{f.rule.Min, f.rule.Max} {
						rq.body = bodyWith(f.pointer, bound)
						api.do(rq).wantStatus(t, ok)
					}
				})
			}
		}
		var after pornstarDoc
		api.get(path).json(t, &after)
		if after.Name != "N" {
			t.Errorf("the accepted writes did not apply: %+v", after)
		}
	})
}

// runFeed carries out one feed run of feed through ingest and the loader
// into the API's store, and returns the run's id.
func (api *testAPI) runFeed(feed string) int64 {
	api.t.Helper()
	ctx := context.Background()
	source := filepath.Join(api.t.TempDir(), "feed.json")
	if err := os.WriteFile(source, []byte(feed), 0o600); err != nil {
		api.t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	runner := &ingest.Runner{
		Store: api.store, Fetcher: ingest.NewFetcher("Marquee/test", logger), Logger: logger, Source: source, MaxShrink: 0.2,
		Publisher: ingesttest.LoadingPublisher{Loader: &ingest.Loader{Store: api.store, Logger: logger}},
	}
	if _, err := api.store.QueueRun(ctx, db.RequestedByCLI, true); err != nil {
		api.t.Fatal(err)
	}
	run, err := api.store.ClaimRun(ctx)
	if err != nil {
		api.t.Fatal(err)
	}
	summary, err := runner.Run(ctx, run)
	if err != nil || summary.Status != db.RunCompleted {
		api.t.Fatalf("feed run: %+v, %v", summary, err)
	}
	return run.ID
}

// formerlyNegativeFeed has values no performer has (negative counts and a
// negative thumbnail width), which the feed run stores as unknown; its ids
// are beyond those of small generated feeds.
const formerlyNegativeFeed = `{"items": [
	{"id": 900001, "name": "Negative Age", "attributes": {"age": -30, "gender": "female", "stats": {"views": -5, "rank": 3}}},
	{"id": 900002, "name": "Clean", "attributes": {"age": 30, "stats": {"views": 5, "rank": 4}}},
	{"id": 900003, "name": "Negative Rank", "aliases": ["NR"], "attributes": {"breastSize": "-34", "stats": {"rank": -2}},
	 "thumbnails": [{"type": "pc", "width": -234, "height": 344, "urls": ["https://ei.phncdn.com/pics/3.jpg"]}]}
]}`

// TestFeedWarnings: a feed value its rule refuses is stored as unknown,
// counted on the run and listed, page by page, at /feed-runs/{id}/warnings;
// every answer about those performers holds to the document.
func TestFeedWarnings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		runID := api.runFeed(formerlyNegativeFeed)
		runPath := fmt.Sprintf("/api/v1/feed-runs/%d", runID)

		var run struct {
			Warnings      int64 `json:"warnings"`
			ItemsValid    int64 `json:"items_valid"`
			ItemsRejected int64 `json:"items_rejected"`
		}
		api.get(runPath).wantStatus(t, http.StatusOK).json(t, &run)
		if run.Warnings != 5 || run.ItemsValid != 3 || run.ItemsRejected != 0 {
			t.Errorf("run %+v, want 5 warnings and every item valid", run)
		}
		var runs struct {
			Data []struct {
				Warnings int64 `json:"warnings"`
			} `json:"data"`
		}
		api.get("/api/v1/feed-runs").wantStatus(t, http.StatusOK).json(t, &runs)
		if len(runs.Data) != 1 || runs.Data[0].Warnings != 5 {
			t.Errorf("listed runs %+v", runs.Data)
		}

		type warningDoc struct {
			ItemIndex int64  `json:"item_index"`
			FeedID    *int64 `json:"feed_id"`
			Field     string `json:"field"`
			Value     string `json:"value"`
			Reason    string `json:"reason"`
		}
		var got []warningDoc
		next := runPath + "/warnings?limit=2"
		for pages := 0; next != ""; pages++ {
			r := api.get(next).wantStatus(t, http.StatusOK)
			var page struct {
				Data       []warningDoc `json:"data"`
				NextCursor *string      `json:"next_cursor"`
				Total      int64        `json:"total"`
			}
			r.json(t, &page)
			if page.Total != 5 || len(page.Data) > 2 {
				t.Fatalf("page %d: %d warnings of %d", pages, len(page.Data), page.Total)
			}
			got = append(got, page.Data...)
			next = ""
			if page.NextCursor != nil {
				next = runPath + "/warnings?limit=2&cursor=" + url.QueryEscape(*page.NextCursor)
				if !strings.Contains(r.header.Get("Link"), `rel="next"`) {
					t.Errorf("page %d: no Link", pages)
				}
			}
		}
		want := []warningDoc{
			{0, ptr(int64(900001)), "age", "-30", "must be an integer from 0 to 2147483647, not -30"},
			{0, ptr(int64(900001)), "views", "-5", "must be an integer from 0 to 9223372036854775807, not -5"},
			{2, ptr(int64(900003)), "breast_size", "-34", "must be an integer from 0 to 2147483647, not -34"},
			{2, ptr(int64(900003)), "rank", "-2", "must be an integer from 0 to 9223372036854775807, not -2"},
			{2, ptr(int64(900003)), "thumbnails/0/width", "-234", "must be an integer from 0 to 2147483647, not -234"},
		}
		if fmt.Sprint(derefWarnings(got)) != fmt.Sprint(derefWarnings(want)) {
			t.Errorf("warnings\n got %v\nwant %v", derefWarnings(got), derefWarnings(want))
		}
		first := api.get(runPath+"/warnings").wantStatus(t, http.StatusOK)
		api.do(req{method: http.MethodGet, path: runPath + "/warnings", headers: map[string]string{"If-None-Match": first.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)
		for _, tc := range []struct{ query, parameter string }{
			{"limit=0", "limit"}, {"limit=101", "limit"}, {"cursor=", "cursor"}, {"cursor=bm9wZQ", "cursor"}, {"field=age", "field"},
			{"cursor=" + url.QueryEscape(db.RunCursor(runID)), "cursor"},
		} {
			api.get(runPath+"/warnings?"+tc.query).wantParameter(t, tc.parameter)
		}
		api.get("/api/v1/feed-runs/99999/warnings").wantProblem(t, http.StatusNotFound, "not-found")
		api.get("/api/v1/feed-runs/x/warnings").wantParameter(t, "id")

		// The performers carry unknown where the feed had the refused values.
		var page pornstarPageDoc
		api.get("/api/v1/pornstars?feed_id=900001,900002,900003&sort=name").wantStatus(t, http.StatusOK).json(t, &page)
		if len(page.Data) != 3 {
			t.Fatalf("%d performers", len(page.Data))
		}
		byName := map[string]pornstarDoc{}
		for _, p := range page.Data {
			byName[p.Name] = p
		}
		if p := byName["Negative Age"]; p.Age != nil || p.Views != nil || *p.Rank != 3 || *p.Gender != "female" {
			t.Errorf("Negative Age %+v", p)
		}
		if p := byName["Negative Rank"]; p.Rank != nil || p.BreastSize != nil || p.Thumbnails[0].Width != nil || *p.Thumbnails[0].Height != 344 {
			t.Errorf("Negative Rank %+v", p)
		}
		for _, p := range page.Data {
			api.get(fmt.Sprintf("/api/v1/pornstars/%d", p.ID)).wantStatus(t, http.StatusOK)
			api.get(fmt.Sprintf("/api/v1/pornstars/%d/thumbnails", p.ID)).wantStatus(t, http.StatusOK)
		}
		api.get("/api/v1/pornstars?age_min=0").wantStatus(t, http.StatusOK)
	})
}

func derefWarnings[T any](ws []T) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		b, _ := json.Marshal(w)
		out[i] = string(b)
	}
	return out
}

// TestPutTakesWhatGetGives: the representation GET gives is accepted by
// PUT and PATCH as it is, for every kind of performer; a read-only member
// that differs from the stored one is refused, naming it.
func TestPutTakesWhatGetGives(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		api.runFeed(formerlyNegativeFeed)
		var formerlyNegative pornstarPageDoc
		api.get("/api/v1/pornstars?feed_id=900001").wantStatus(t, http.StatusOK).json(t, &formerlyNegative)
		// A generated feed then replaces it: its performers leave the feed.
		var generated bytes.Buffer
		if err := feedgen.Write(&generated, feedgen.Options{Items: 20, Seed: 12}); err != nil {
			t.Fatal(err)
		}
		api.runFeed(generated.String())
		var generatedPage pornstarPageDoc
		api.get("/api/v1/pornstars?limit=1").wantStatus(t, http.StatusOK).json(t, &generatedPage)
		created := api.create(fullBody)
		api.setImage(fullBodyThumbURL(t, api, created.ID), db.ImageCached)

		performers := []struct {
			name string
			id   int64
		}{
			{"created through the API, with a cached image", created.ID},
			{"from the feed, with values that were negative, since removed", formerlyNegative.Data[0].ID},
			{"from a generated feed", generatedPage.Data[0].ID},
		}
		for _, p := range performers {
			path := fmt.Sprintf("/api/v1/pornstars/%d", p.id)
			for _, method := range []string{http.MethodPut, http.MethodPatch} {
				t.Run(p.name+" "+method, func(t *testing.T) {
					before := api.get(path).wantStatus(t, http.StatusOK)
					r := api.do(req{method: method, path: path, token: "write", body: string(before.body)}).wantStatus(t, http.StatusOK)
					if diff := sameExceptWrite(t, before.body, r.body); diff != "" {
						t.Errorf("the write changed %s", diff)
					}
				})
			}
			t.Run(p.name+" changed read-only members", func(t *testing.T) {
				current := api.get(path).wantStatus(t, http.StatusOK)
				for _, tc := range []struct {
					member string
					value  any
				}{
					{"id", p.id + 1},
					{"version", 1000},
					{"feed_id", 424242},
					{"created_at", "2001-01-01T00:00:00Z"},
					{"updated_at", "2001-01-01T00:00:00Z"},
					{"removed_at", "2001-01-01T00:00:00Z"},
				} {
					var body map[string]any
					if err := json.Unmarshal(current.body, &body); err != nil {
						t.Fatal(err)
					}
					body[tc.member] = tc.value
					raw, _ := json.Marshal(body)
					for _, method := range []string{http.MethodPut, http.MethodPatch} {
						api.do(req{method: method, path: path, token: "write", body: string(raw)}).wantPointer(t, "/"+tc.member)
					}
				}
				if tc := p.name; strings.Contains(tc, "removed") {
					var doc pornstarDoc
					current.json(t, &doc)
					if doc.RemovedAt == nil {
						t.Errorf("%s: removed_at is null", tc)
					}
				}
				// POST still refuses them: there is nothing stored to compare with.
				api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", token: "write", body: string(current.body)}).wantPointer(t, "/id")
				after := api.get(path).wantStatus(t, http.StatusOK)
				if string(after.body) != string(current.body) {
					t.Errorf("a refused write changed the performer")
				}
			})
		}
	})
}

func fullBodyThumbURL(t *testing.T, api *testAPI, id int64) string {
	t.Helper()
	var p pornstarDoc
	api.get(fmt.Sprintf("/api/v1/pornstars/%d", id)).wantStatus(t, http.StatusOK).json(t, &p)
	return p.Thumbnails[0].URL
}

// sameExceptWrite compares two representations of one performer, leaving
// out what every write changes (version, updated_at); "" when the same.
func sameExceptWrite(t *testing.T, before, after []byte) string {
	t.Helper()
	var b, a map[string]any
	if err := json.Unmarshal(before, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		t.Fatal(err)
	}
	if a["version"].(float64) != b["version"].(float64)+1 {
		return fmt.Sprintf("version from %v to %v, want one more", b["version"], a["version"])
	}
	var diffs []string
	for k, v := range b {
		if k == "version" || k == "updated_at" {
			continue
		}
		if fmt.Sprint(v) != fmt.Sprint(a[k]) {
			diffs = append(diffs, fmt.Sprintf("%s: %v -> %v", k, v, a[k]))
		}
	}
	return strings.Join(diffs, "; ")
}

// TestOpenAPIFollowsTheRules: the document's schemas of a performer, as
// written and as read, say what the field rules say (the document is built
// from them; this catches a schema written by hand beside them).
func TestOpenAPIFollowsTheRules(t *testing.T) {
	schemas := contract().doc.Components.Schemas
	check := func(t *testing.T, where string, s *openapi3.Schema, r db.FieldRule) {
		t.Helper()
		if s == nil {
			t.Errorf("%s: no schema for %s", where, r.Name)
			return
		}
		switch r.Kind {
		case db.KindInteger:
			if s.Min == nil || *s.Min != float64(r.Min) || s.Max == nil || *s.Max != float64(r.Max) {
				t.Errorf("%s.%s: minimum %v maximum %v, want %d and %d", where, r.Name, deref(s.Min), deref(s.Max), r.Min, r.Max)
			}
		case db.KindText:
			if s.MaxLength == nil || *s.MaxLength != uint64(r.MaxLength) || r.Required != (s.MinLength == 1) {
				t.Errorf("%s.%s: maxLength %v minLength %d, want %d (required %v)", where, r.Name, deref(s.MaxLength), s.MinLength, r.MaxLength, r.Required)
			}
		case db.KindTextList, db.KindList:
			if s.MaxItems == nil || *s.MaxItems != uint64(r.MaxItems) {
				t.Errorf("%s.%s: maxItems %v, want %d", where, r.Name, deref(s.MaxItems), r.MaxItems)
			}
			if r.Kind == db.KindTextList {
				item := s.Items.Value
				if item.MaxLength == nil || *item.MaxLength != uint64(r.MaxLength) || r.NoBlankItems != (item.MinLength == 1) {
					t.Errorf("%s.%s items: maxLength %v minLength %d, want %d (no blanks %v)", where, r.Name, deref(item.MaxLength), item.MinLength, r.MaxLength, r.NoBlankItems)
				}
			}
		}
	}
	for _, name := range []string{"Pornstar", "PornstarWrite", "PornstarReplace", "PornstarPatch"} {
		t.Run(name, func(t *testing.T) {
			props := schemas[name].Value.Properties
			for _, r := range append(slices.Clone(db.ProfileRules), db.AliasesRule, db.ThumbnailsRule) {
				ref, ok := props[r.Name]
				if !ok {
					t.Errorf("%s has no member %s", name, r.Name)
					continue
				}
				check(t, name, ref.Value, r)
			}
		})
	}
	for _, name := range []string{"Thumbnail", "ThumbnailWrite", "ThumbnailUpdate"} {
		t.Run(name, func(t *testing.T) {
			props := schemas[name].Value.Properties
			for _, r := range db.ThumbnailRules {
				ref, ok := props[r.Name]
				if !ok {
					t.Errorf("%s has no member %s", name, r.Name)
					continue
				}
				check(t, name, ref.Value, r)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
