package rest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"marquee/db"
)

const thumbURL = "https://ei.phncdn.com/pics/pornstars/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg"

// fullBody is a valid performer with every writable member.
var fullBody = `{
	"name": "Test Performer", "license": "REGULAR", "wl_status": true, "link": "https://example.test/p/1",
	"hair_colors": ["Blonde", "Red"], "ethnicities": ["White"], "tattoos": false, "piercings": true,
	"breast_size": 34, "breast_type": "C", "gender": "female", "orientation": "straight", "age": 30,
	"subscriptions": 10, "monthly_searches": 4200000000, "views": 1000, "videos_count": 5,
	"premium_videos_count": 1, "white_label_video_count": 2, "rank": 7, "rank_premium": 8, "rank_wl": 9,
	"aliases": ["TP", "tp", "Tester", " "],
	"thumbnails": [{"type": "pc", "width": 234, "height": 344, "url": "` + thumbURL + `"},
		{"type": "mobile", "width": null, "height": null, "url": "` + thumbURL + `", "url_hash": "ec5c6429c95bd7c798e15a479bb9a5a4c75ab2023981d9c6bf69eba9460a8294"}]
}`

// TestCreatePornstar checks POST /pornstars and every way it refuses.
func TestCreatePornstar(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		r := api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: fullBody, token: "write"}).wantStatus(t, http.StatusCreated)
		var p pornstarDoc
		r.json(t, &p)
		if r.header.Get("Location") != fmt.Sprintf("/api/v1/pornstars/%d", p.ID) || r.header.Get("ETag") == "" {
			t.Errorf("Location %q, ETag %q", r.header.Get("Location"), r.header.Get("ETag"))
		}
		if p.FeedID != nil || p.Name != "Test Performer" || p.Version != 1 || *p.Age != 30 || len(p.Thumbnails) != 2 ||
			strings.Join(p.Aliases, "|") != "TP|Tester" || strings.Join(p.HairColors, "|") != "Blonde|Red" {
			t.Errorf("created %+v", p)
		}
		if p.Thumbnails[0].URLHash != "ec5c6429c95bd7c798e15a479bb9a5a4c75ab2023981d9c6bf69eba9460a8294" || p.Thumbnails[0].Image.Status != db.ImagePending {
			t.Errorf("thumbnail %+v", p.Thumbnails[0])
		}
		var again pornstarDoc
		api.get(r.header.Get("Location")).wantStatus(t, http.StatusOK).json(t, &again)
		if again.Name != p.Name || again.Version != p.Version || !again.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("GET Location: %+v", again)
		}

		// Only the name is required; the rest is unknown (null).
		minimal := api.create(`{"name": "Minimal", "age": 2.5e1, "views": 1.0}`)
		if minimal.Age == nil || *minimal.Age != 25 || *minimal.Views != 1 || minimal.License != nil || minimal.HairColors != nil ||
			len(minimal.Aliases) != 0 || len(minimal.Thumbnails) != 0 {
			t.Errorf("minimal %+v", minimal)
		}
		// Charset utf-8 is fine.
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: `{"name":"Ünïcode 🌟"}`, token: "write", ctype: "application/json; charset=UTF-8"}).
			wantStatus(t, http.StatusCreated)

		post := func(body string) *resp {
			return api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: body, token: "write"})
		}
		for _, tc := range []struct{ body, pointer string }{
			{`{}`, "/name"},
			{`{"name": null}`, "/name"},
			{`{"name": ""}`, "/name"},
			{`{"name": "   "}`, "/name"},
			{`{"name": 5}`, "/name"},
			{`{"name": "` + strings.Repeat("n", 256) + `"}`, "/name"},
			{`{"name": "x\u0000y"}`, "/name"},
			{`{"name": "ok", "nickname": "x"}`, "/nickname"},
			{`{"name": "ok", "a/b~c": 1}`, "/a~1b~0c"},
			{`{"name": "ok", "id": 5}`, "/id"},
			{`{"name": "ok", "feed_id": 5}`, "/feed_id"},
			{`{"name": "ok", "version": 1}`, "/version"},
			{`{"name": "ok", "created_at": "2024-01-01T00:00:00Z"}`, "/created_at"},
			{`{"name": "ok", "removed_at": null}`, "/removed_at"},
			{`{"name": "ok", "age": "30"}`, "/age"},
			{`{"name": "ok", "age": -1}`, "/age"},
			{`{"name": "ok", "age": 30.5}`, "/age"},
			{`{"name": "ok", "age": 1e400}`, "/age"},
			{`{"name": "ok", "breast_size": 2147483648}`, "/breast_size"},
			{`{"name": "ok", "views": 9223372036854775808}`, "/views"},
			{`{"name": "ok", "wl_status": "1"}`, "/wl_status"},
			{`{"name": "ok", "tattoos": 1}`, "/tattoos"},
			{`{"name": "ok", "license": ["REGULAR"]}`, "/license"},
			{`{"name": "ok", "license": "` + strings.Repeat("L", 33) + `"}`, "/license"},
			{`{"name": "ok", "hair_colors": "Blonde"}`, "/hair_colors"},
			{`{"name": "ok", "hair_colors": ["Blonde", 1]}`, "/hair_colors/1"},
			{`{"name": "ok", "hair_colors": ["Blonde", " "]}`, "/hair_colors/1"},
			{`{"name": "ok", "ethnicities": [null]}`, "/ethnicities/0"},
			{`{"name": "ok", "aliases": "TP"}`, "/aliases"},
			{`{"name": "ok", "aliases": [{"alias": "TP"}]}`, "/aliases/0"},
			{`{"name": "ok", "thumbnails": {}}`, "/thumbnails"},
			{`{"name": "ok", "thumbnails": ["x"]}`, "/thumbnails/0"},
			{`{"name": "ok", "thumbnails": [{"type": "pc"}]}`, "/thumbnails/0/url"},
			{`{"name": "ok", "thumbnails": [{"url": "https://x.test/a.jpg"}]}`, "/thumbnails/0/type"},
			{`{"name": "ok", "thumbnails": [{"type": "pc", "url": ""}]}`, "/thumbnails/0/url"},
			{`{"name": "ok", "thumbnails": [{"type": "pc", "url": "https://x.test/a.jpg", "width": "234"}]}`, "/thumbnails/0/width"},
			{`{"name": "ok", "thumbnails": [{"type": "pc", "url": "https://x.test/a.jpg", "image": {}}]}`, "/thumbnails/0/image"},
			{`{"name": "ok", "thumbnails": [{"type": "pc", "url": "https://x.test/a.jpg", "url_hash": "` + strings.Repeat("0", 64) + `"}]}`, "/thumbnails/0/url_hash"},
			{`{"name": "ok", "name": "twice"}`, "/name"},
			{`{"name": "ok", "thumbnails": [{"type": "pc", "type": "mobile", "url": "u"}]}`, "/thumbnails/0/type"},
			{`[{"name": "ok"}]`, ""},
			{`"ok"`, ""},
			{`null`, ""},
		} {
			t.Run(tc.body, func(t *testing.T) { post(tc.body).wantPointer(t, tc.pointer) })
		}
		for _, body := range []string{`{"name": "ok"`, `{"name": "ok"} {}`, `{"name": "ok"}}`, "{'name': 'ok'}", " ", "{\"name\": \"\xff\"}", strings.Repeat("[", 100)} {
			t.Run("malformed "+body, func(t *testing.T) {
				post(body).wantProblem(t, http.StatusBadRequest, "malformed-body")
			})
		}
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", token: "write", ctype: "application/json"}).
			wantProblem(t, http.StatusBadRequest, "malformed-body")
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars?dry_run=1", body: `{"name":"x"}`, token: "write"}).wantParameter(t, "dry_run")

		for _, ctype := range []string{"text/plain", "-", "application/json; charset=latin1", "application/merge-patch+json", "application/json;;"} {
			t.Run("content type "+ctype, func(t *testing.T) {
				api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: `{"name":"x"}`, token: "write", ctype: ctype}).
					wantProblem(t, http.StatusUnsupportedMediaType, "unsupported-media-type")
			})
		}
		big := `{"name": "big", "aliases": ["` + strings.Repeat("a", testMaxBody) + `"]}`
		post(big).wantProblem(t, http.StatusRequestEntityTooLarge, "body-too-large")
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: big, token: "write", chunked: true}).
			wantProblem(t, http.StatusRequestEntityTooLarge, "body-too-large")

		// Authentication comes first.
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: `{"name":"x"}`}).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: `{"name":"x"}`, token: "bad"}).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: `{"name":"x"}`, token: "read"}).wantProblem(t, http.StatusForbidden, "forbidden")
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: `not json`, token: "read", ctype: "text/plain"}).wantProblem(t, http.StatusForbidden, "forbidden")
	})
}

// TestUpdatePornstar checks PUT and PATCH /pornstars/{id}: replace and
// merge-patch semantics, If-Match, and the refusals.
func TestUpdatePornstar(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		created := api.create(fullBody)
		path := fmt.Sprintf("/api/v1/pornstars/%d", created.ID)
		get := func() (pornstarDoc, string) {
			r := api.get(path).wantStatus(t, http.StatusOK)
			var p pornstarDoc
			r.json(t, &p)
			return p, r.header.Get("ETag")
		}
		_, etag := get()

		// PATCH: present members change, null clears, absent ones stay.
		r := api.do(req{method: http.MethodPatch, path: path, token: "write", ctype: "application/merge-patch+json",
			body: `{"age": 31, "license": null, "aliases": null, "hair_colors": ["Black"]}`, headers: map[string]string{"If-Match": etag}}).
			wantStatus(t, http.StatusOK)
		var p pornstarDoc
		r.json(t, &p)
		if *p.Age != 31 || p.License != nil || len(p.Aliases) != 0 || strings.Join(p.HairColors, ",") != "Black" ||
			p.Name != "Test Performer" || *p.Rank != 7 || len(p.Thumbnails) != 2 || p.Version != 2 {
			t.Errorf("patched %+v", p)
		}
		if !strings.HasPrefix(r.header.Get("ETag"), `"2-`) {
			t.Errorf("ETag after PATCH %q", r.header.Get("ETag"))
		}
		// The stale ETag no longer matches.
		api.do(req{method: http.MethodPatch, path: path, token: "write", body: `{"age": 40}`, headers: map[string]string{"If-Match": etag}}).
			wantProblem(t, http.StatusPreconditionFailed, "precondition-failed")
		// application/json is accepted for PATCH too; an empty patch is fine.
		api.do(req{method: http.MethodPatch, path: path, token: "write", body: `{}`}).wantStatus(t, http.StatusOK)

		// PUT: absent members become unknown.
		r = api.do(req{method: http.MethodPut, path: path, token: "write", body: `{"name": "Replaced", "aliases": ["R"]}`,
			headers: map[string]string{"If-Match": `"1-x", "3"`}}).wantStatus(t, http.StatusOK)
		r.json(t, &p)
		if p.Name != "Replaced" || p.Age != nil || p.Rank != nil || p.HairColors != nil || len(p.Thumbnails) != 0 ||
			strings.Join(p.Aliases, ",") != "R" || p.Version != 4 {
			t.Errorf("replaced %+v", p)
		}
		_, etag = get()
		for _, tc := range []struct {
			ifMatch string
			want    int
		}{
			{etag, http.StatusOK},
			{"*", http.StatusOK},
			{`"6"`, http.StatusOK},
			{`"1", "2"`, http.StatusPreconditionFailed},
			{"W/" + etag, http.StatusPreconditionFailed},
			{"garbage", http.StatusPreconditionFailed},
			{`""`, http.StatusPreconditionFailed},
		} {
			got := api.do(req{method: http.MethodPut, path: path, token: "write", body: `{"name": "Again"}`, headers: map[string]string{"If-Match": tc.ifMatch}})
			got.wantStatus(t, tc.want)
		}

		// A feed performer may be edited.
		api.seedHead()
		var page pornstarPageDoc
		api.get("/api/v1/pornstars?limit=1").wantStatus(t, http.StatusOK).json(t, &page)
		feedPath := fmt.Sprintf("/api/v1/pornstars/%d", page.Data[0].ID)
		api.do(req{method: http.MethodPatch, path: feedPath, token: "write", body: `{"age": 99}`}).wantStatus(t, http.StatusOK)

		for _, method := range []string{http.MethodPut, http.MethodPatch} {
			t.Run(method, func(t *testing.T) {
				send := func(rq req) *resp {
					rq.method = method
					if rq.path == "" {
						rq.path = path
					}
					return rq.send(api)
				}
				send(req{token: "write", body: `{"name": null}`}).wantPointer(t, "/name")
				send(req{token: "write", body: `{"name": "x", "version": 3}`}).wantPointer(t, "/version")
				send(req{token: "write", body: `{"name": "x", "age": true}`}).wantPointer(t, "/age")
				send(req{token: "write", body: `{"name": "x", "thumbnails": [{"type":"pc","url":"u","url_hash":"` + strings.Repeat("a", 64) + `"}]}`}).
					wantPointer(t, "/thumbnails/0/url_hash")
				send(req{token: "write", body: `[]`}).wantPointer(t, "")
				send(req{token: "write", body: `{"name":`}).wantProblem(t, http.StatusBadRequest, "malformed-body")
				send(req{token: "write", ctype: "application/json"}).wantProblem(t, http.StatusBadRequest, "malformed-body")
				send(req{token: "write", body: `{"name":"x"}`, path: "/api/v1/pornstars/x"}).wantParameter(t, "id")
				send(req{token: "write", body: `{"name":"x"}`, path: path + "?force=1"}).wantParameter(t, "force")
				send(req{token: "write", body: `{"name":"x"}`, path: "/api/v1/pornstars/999999"}).wantProblem(t, http.StatusNotFound, "not-found")
				send(req{token: "write", body: `{"name":"x"}`, ctype: "text/plain"}).wantProblem(t, http.StatusUnsupportedMediaType, "unsupported-media-type")
				send(req{token: "write", body: `{"name": "` + strings.Repeat("a", testMaxBody) + `"}`}).wantProblem(t, http.StatusRequestEntityTooLarge, "body-too-large")
				send(req{body: `{"name":"x"}`}).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
				send(req{token: "read", body: `{"name":"x"}`}).wantProblem(t, http.StatusForbidden, "forbidden")
			})
		}
		// PUT takes application/json only; a 415 on PATCH says what it accepts.
		api.do(req{method: http.MethodPut, path: path, token: "write", body: `{"name":"x"}`, ctype: "application/merge-patch+json"}).
			wantProblem(t, http.StatusUnsupportedMediaType, "unsupported-media-type")
		r = api.do(req{method: http.MethodPatch, path: path, token: "write", body: `{"name":"x"}`, ctype: "application/xml"})
		r.wantProblem(t, http.StatusUnsupportedMediaType, "unsupported-media-type")
		if r.header.Get("Accept-Patch") != "application/merge-patch+json, application/json" {
			t.Errorf("Accept-Patch %q", r.header.Get("Accept-Patch"))
		}
	})
}

func (rq req) send(api *testAPI) *resp {
	api.t.Helper()
	return api.do(rq)
}

// TestDeletePornstar checks DELETE /pornstars/{id}.
func TestDeletePornstar(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		p := api.create(`{"name": "Short-lived", "aliases": ["a"], "thumbnails": [{"type": "pc", "url": "` + thumbURL + `"}]}`)
		path := fmt.Sprintf("/api/v1/pornstars/%d", p.ID)
		del := func(rq req) *resp {
			rq.method = http.MethodDelete
			if rq.path == "" {
				rq.path = path
			}
			return api.do(rq)
		}
		del(req{}).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		del(req{token: "read"}).wantProblem(t, http.StatusForbidden, "forbidden")
		del(req{token: "write", headers: map[string]string{"If-Match": `"7"`}}).wantProblem(t, http.StatusPreconditionFailed, "precondition-failed")
		del(req{token: "write", path: "/api/v1/pornstars/zero"}).wantParameter(t, "id")
		del(req{token: "write", path: path + "?cascade=true"}).wantParameter(t, "cascade")
		r := del(req{token: "write", headers: map[string]string{"If-Match": `"1"`}}).wantStatus(t, http.StatusNoContent)
		if len(r.body) != 0 {
			t.Errorf("204 with body %q", r.body)
		}
		api.get(path).wantProblem(t, http.StatusNotFound, "not-found")
		del(req{token: "write"}).wantProblem(t, http.StatusNotFound, "not-found")

		// A feed performer is refused: the feed owns it.
		profiles := api.seedHead()
		var page pornstarPageDoc
		api.get(fmt.Sprintf("/api/v1/pornstars?feed_id=%d", profiles[0].FeedID)).wantStatus(t, http.StatusOK).json(t, &page)
		feedPath := fmt.Sprintf("/api/v1/pornstars/%d", page.Data[0].ID)
		del(req{token: "write", path: feedPath}).wantProblem(t, http.StatusConflict, "feed-managed")
		api.get(feedPath).wantStatus(t, http.StatusOK)
	})
}
