package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"marquee/db"
)

type feedRunDoc struct {
	ID            int64  `json:"id"`
	Status        string `json:"status"`
	RequestedBy   string `json:"requested_by"`
	Force         bool   `json:"force"`
	ItemsRejected int64  `json:"items_rejected"`
	// Whether and why removals were withheld.
	RemovalsSuppressed       bool    `json:"removals_suppressed"`
	RemovalsSuppressedReason *string `json:"removals_suppressed_reason"`
	Rejects                  []struct {
		ItemIndex int64  `json:"item_index"`
		FeedID    *int64 `json:"feed_id"`
		Reason    string `json:"reason"`
	} `json:"rejects"`
}

// TestFeedRuns checks triggering, listing and reading feed runs.
func TestFeedRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		ctx := context.Background()
		post := func(rq req) *resp {
			rq.method, rq.path = http.MethodPost, "/api/v1/feed-runs"
			return api.do(rq)
		}
		empty := api.get("/api/v1/feed-runs").wantStatus(t, http.StatusOK)
		if string(empty.body) != `{"data":[],"next_cursor":null,"total":0}`+"\n" {
			t.Errorf("no runs: %s", empty.body)
		}
		api.do(req{method: http.MethodGet, path: "/api/v1/feed-runs", headers: map[string]string{"If-None-Match": empty.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)

		// No body at all is the usual trigger.
		r := post(req{token: "write"}).wantStatus(t, http.StatusAccepted)
		var run feedRunDoc
		r.json(t, &run)
		if run.Status != db.RunQueued || run.RequestedBy != db.RequestedByAPI || run.Force || r.header.Get("Location") != fmt.Sprintf("/api/v1/feed-runs/%d", run.ID) {
			t.Fatalf("queued run %+v, Location %q", run, r.header.Get("Location"))
		}
		// A second trigger names the active run.
		p := post(req{token: "write", body: `{"force": true}`}).wantProblem(t, http.StatusConflict, "feed-run-active")
		if p.ActiveRunID == nil || *p.ActiveRunID != run.ID || p.ActiveRun != fmt.Sprintf("/api/v1/feed-runs/%d", run.ID) || !strings.Contains(p.Detail, "queued") {
			t.Errorf("409 %+v", p)
		}

		// The scheduler runs it; it rejects two items.
		claimed, err := api.store.ClaimRun(ctx)
		if err != nil || claimed.ID != run.ID {
			t.Fatalf("claim: %v", err)
		}
		feedID := int64(42)
		if _, err := api.store.AddRejects(ctx, run.ID, []db.FeedRunReject{{ItemIndex: 3, FeedID: &feedID, Reason: "name is required"}, {ItemIndex: 9, Reason: "not an object"}}); err != nil {
			t.Fatal(err)
		}
		post(req{token: "write"}).wantProblem(t, http.StatusConflict, "feed-run-active")
		const reason = "20% of items rejected (2 of 10; limit 5%)"
		if _, err := api.store.FinishRun(ctx, run.ID, db.RunCompleted, db.FeedRunResult{ItemsSeen: 10, ItemsValid: 8, ItemsRejected: 2,
			RemovalsSuppressed: true, RemovalsSuppressedReason: ptr(reason)}); err != nil {
			t.Fatal(err)
		}
		r = api.get(fmt.Sprintf("/api/v1/feed-runs/%d", run.ID)).wantStatus(t, http.StatusOK)
		r.json(t, &run)
		if run.Status != db.RunCompleted || run.ItemsRejected != 2 || len(run.Rejects) != 2 || *run.Rejects[0].FeedID != 42 || run.Rejects[1].FeedID != nil {
			t.Errorf("finished run %+v", run)
		}
		if !run.RemovalsSuppressed || run.RemovalsSuppressedReason == nil || *run.RemovalsSuppressedReason != reason {
			t.Errorf("finished run: removals_suppressed %v, reason %v; want true, %q", run.RemovalsSuppressed, run.RemovalsSuppressedReason, reason)
		}
		api.do(req{method: http.MethodGet, path: fmt.Sprintf("/api/v1/feed-runs/%d", run.ID), headers: map[string]string{"If-None-Match": r.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)

		// The body takes force at most, as JSON.
		r = post(req{token: "write", body: `{"force": true}`}).wantStatus(t, http.StatusAccepted)
		var forced feedRunDoc
		r.json(t, &forced)
		if !forced.Force {
			t.Errorf("forced run %+v", forced)
		}
		for _, tc := range []struct{ body, pointer string }{
			{`{"force": "yes"}`, "/force"},
			{`{"force": null}`, "/force"},
			{`{"url": "http://evil.test/feed.json"}`, "/url"},
			{`[]`, ""},
		} {
			post(req{token: "write", body: tc.body}).wantPointer(t, tc.pointer)
		}
		post(req{token: "write", body: `{"force":`}).wantProblem(t, http.StatusBadRequest, "malformed-body")
		post(req{token: "write", body: `{"force": true}`, ctype: "text/plain"}).wantProblem(t, http.StatusUnsupportedMediaType, "unsupported-media-type")
		post(req{token: "write", body: `{"force": true}`, ctype: "-"}).wantProblem(t, http.StatusUnsupportedMediaType, "unsupported-media-type")
		post(req{token: "write", body: `{"force": true, "pad": "` + strings.Repeat("x", testMaxBody) + `"}`}).wantProblem(t, http.StatusRequestEntityTooLarge, "body-too-large")
		api.do(req{method: http.MethodPost, path: "/api/v1/feed-runs?url=x", token: "write"}).wantParameter(t, "url")
		post(req{}).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		post(req{token: "read"}).wantProblem(t, http.StatusForbidden, "forbidden")

		// More runs, for the list's pages: finish the forced one, add three.
		finish := func() {
			c, err := api.store.ClaimRun(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := api.store.FinishRun(ctx, c.ID, db.RunNotModified, db.FeedRunResult{}); err != nil {
				t.Fatal(err)
			}
		}
		finish()
		for i := 0; i < 3; i++ {
			post(req{token: "write"}).wantStatus(t, http.StatusAccepted)
			finish()
		}
		var ids []int64
		path := "/api/v1/feed-runs?limit=2"
		for path != "" {
			r := api.get(path).wantStatus(t, http.StatusOK)
			var page struct {
				Data       []feedRunDoc
				NextCursor *string `json:"next_cursor"`
				Total      int64
			}
			r.json(t, &page)
			if page.Total != 5 {
				t.Fatalf("total %d, want 5", page.Total)
			}
			for _, listed := range page.Data {
				ids = append(ids, listed.ID)
				if listed.Rejects != nil {
					t.Errorf("list item has rejects")
				}
				if suppressed := listed.ID == run.ID; listed.RemovalsSuppressed != suppressed || (listed.RemovalsSuppressedReason != nil) != suppressed {
					t.Errorf("run %d listed with removals_suppressed %v, reason %v; want them only on run %d", listed.ID, listed.RemovalsSuppressed, listed.RemovalsSuppressedReason, run.ID)
				}
			}
			path = ""
			if page.NextCursor != nil {
				path = "/api/v1/feed-runs?limit=2&cursor=" + url.QueryEscape(*page.NextCursor)
				if !strings.Contains(r.header.Get("Link"), `rel="next"`) {
					t.Errorf("no Link")
				}
			}
		}
		if len(ids) != 5 || ids[0] < ids[4] {
			t.Errorf("run ids %v, want 5 newest first", ids)
		}

		for _, tc := range []struct{ query, parameter string }{
			{"limit=0", "limit"}, {"limit=x", "limit"}, {"limit=1&limit=2", "limit"}, {"cursor=", "cursor"},
			{"cursor=bm9wZQ", "cursor"}, {"status=failed", "status"},
		} {
			api.get("/api/v1/feed-runs?"+tc.query).wantParameter(t, tc.parameter)
		}
		api.get("/api/v1/feed-runs/99999").wantProblem(t, http.StatusNotFound, "not-found")
		api.get("/api/v1/feed-runs/first").wantParameter(t, "id")
		api.get(fmt.Sprintf("/api/v1/feed-runs/%d?verbose=1", run.ID)).wantParameter(t, "verbose")
	})
}
