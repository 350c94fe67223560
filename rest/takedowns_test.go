package rest

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

type takedownDoc struct {
	ID           int64    `json:"id"`
	PerformerID  *int64   `json:"performer_id"`
	FeedID       *int64   `json:"feed_id"`
	URLHash      *string  `json:"url_hash"`
	Reason       string   `json:"reason"`
	TakenBy      string   `json:"taken_by"`
	URLHashes    []string `json:"url_hashes"`
	DeletedFiles []string `json:"deleted_files"`
	KeptFiles    []string `json:"kept_files"`
	LiftedAt     *string  `json:"lifted_at"`
	LiftedBy     *string  `json:"lifted_by"`
}

// TestTakedowns takes a performer and an image down through the API and
// checks what clients see: 410 on the performer's routes, 451 on its
// images, the files deleted, and every refusal of the takedown routes.
func TestTakedowns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		url := "https://ei.phncdn.com/pics/takedown.png"
		shared := "https://ei.phncdn.com/pics/shared.png"
		body := []byte("\x89PNG\r\n\x1a\n bytes of a performer taken down")
		hash := api.cacheImageBytes(url, "image/png", body)
		sharedHash := api.cacheImageBytes(shared, "image/png", []byte("\x89PNG\r\n\x1a\n shared bytes"))
		otherHash := api.cacheImageBytes("https://ei.phncdn.com/pics/other.png", "image/png", []byte("\x89PNG\r\n\x1a\n shared bytes"))
		thumb := func(u, h string) string {
			return fmt.Sprintf(`{"type": "pc", "width": 1, "height": 1, "url": %q, "url_hash": %q}`, u, h)
		}
		p := api.create(`{"name": "Taken", "thumbnails": [` + thumb(url, hash) + `]}`)
		keep := api.create(`{"name": "Kept", "thumbnails": [` + thumb(shared, sharedHash) + `]}`)
		img, err := api.store.Image(t.Context(), hash)
		if err != nil {
			t.Fatal(err)
		}
		file, _ := api.files.Path(*img.ContentSHA256)

		post := func(body string, token string) *resp {
			return api.do(req{method: http.MethodPost, path: "/api/v1/takedowns", body: body, token: token})
		}
		r := post(fmt.Sprintf(`{"performer_id": %d, "reason": "DMCA notice 17"}`, p.ID), "write").wantStatus(t, http.StatusCreated)
		var td takedownDoc
		r.json(t, &td)
		// An unnamed token is named by its digest (auth.Tokens).
		if !strings.HasPrefix(td.TakenBy, "sha256:") || td.Reason != "DMCA notice 17" || !slices.Equal(td.URLHashes, []string{hash}) ||
			len(td.DeletedFiles) != 1 || len(td.KeptFiles) != 0 || r.header.Get("Location") != fmt.Sprintf("/api/v1/takedowns/%d", td.ID) {
			t.Errorf("takedown: %+v, Location %q", td, r.header.Get("Location"))
		}
		if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the file of its image: %v, want deleted", err)
		}
		pp := fmt.Sprintf("/api/v1/pornstars/%d", p.ID)
		for _, path := range []string{pp, pp + "/aliases", pp + "/thumbnails", "/api/v1/pornstars/by-slug/" + p.Slug} {
			api.get(path).wantProblem(t, http.StatusGone, "taken-down")
		}
		api.get("/api/v1/images/"+hash).wantProblem(t, http.StatusUnavailableForLegalReasons, "unavailable-for-legal-reasons")
		api.get("/images/"+hash).wantProblem(t, http.StatusUnavailableForLegalReasons, "unavailable-for-legal-reasons")
		var page pornstarPageDoc
		api.get("/api/v1/pornstars?q=Taken").wantStatus(t, http.StatusOK).json(t, &page)
		if page.Total != 0 {
			t.Errorf("search still finds it: %+v", page)
		}

		// An image: the bytes another URL hash still serves stay.
		r = post(fmt.Sprintf(`{"url_hash": %q, "reason": "privacy"}`, sharedHash), "write").wantStatus(t, http.StatusCreated)
		var imgTD takedownDoc
		r.json(t, &imgTD)
		if len(imgTD.DeletedFiles) != 0 || len(imgTD.KeptFiles) != 1 {
			t.Errorf("image takedown with shared bytes: %+v", imgTD)
		}
		api.get("/images/"+sharedHash).wantProblem(t, http.StatusUnavailableForLegalReasons, "unavailable-for-legal-reasons")
		api.get("/images/"+otherHash).wantStatus(t, http.StatusOK)
		api.get(fmt.Sprintf("/api/v1/pornstars/%d", keep.ID)).wantStatus(t, http.StatusOK)

		refusals := []struct {
			name    string
			rq      req
			status  int
			problem string
		}{
			{"again", req{method: http.MethodPost, path: "/api/v1/takedowns", body: fmt.Sprintf(`{"performer_id": %d, "reason": "x"}`, p.ID)}, 409, "conflict"},
			{"an unknown performer", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"performer_id": 99999, "reason": "x"}`}, 404, "not-found"},
			{"two things named", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"feed_id": 5, "url_hash": "` + otherHash + `", "reason": "x"}`}, 422, "validation-failed"},
			{"no reason", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"feed_id": 5}`}, 422, "validation-failed"},
			{"an empty reason", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"feed_id": 5, "reason": ""}`}, 422, "validation-failed"},
			{"a bad hash", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"url_hash": "ABC", "reason": "x"}`}, 422, "validation-failed"},
			{"an unknown member", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"feed_id": 5, "reason": "x", "who": "me"}`}, 422, "validation-failed"},
			{"not JSON", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"feed_id": `}, 400, "malformed-body"},
			{"another media type", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `feed_id=5`, ctype: "application/x-www-form-urlencoded"}, 415, "unsupported-media-type"},
			{"too large", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"reason": "` + strings.Repeat("x", testMaxBody) + `"}`}, 413, "body-too-large"},
			{"a read token", req{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"feed_id": 5, "reason": "x"}`, token: "read"}, 403, "forbidden"},
			{"a list with a query", req{method: http.MethodGet, path: "/api/v1/takedowns?limit=5"}, 400, "invalid-parameter"},
			{"lift a bad id", req{method: http.MethodDelete, path: "/api/v1/takedowns/x"}, 400, "invalid-parameter"},
			{"lift an unknown one", req{method: http.MethodDelete, path: "/api/v1/takedowns/99999"}, 404, "not-found"},
		}
		for _, tt := range refusals {
			if tt.rq.token == "" {
				tt.rq.token = "write"
			}
			t.Run(tt.name, func(t *testing.T) { api.do(tt.rq).wantProblem(t, tt.status, tt.problem) })
		}

		var list struct {
			Data []takedownDoc `json:"data"`
		}
		api.do(req{method: http.MethodGet, path: "/api/v1/takedowns", token: "write"}).wantStatus(t, http.StatusOK).json(t, &list)
		if len(list.Data) != 2 || list.Data[0].ID != imgTD.ID || list.Data[1].ID != td.ID {
			t.Errorf("list: %+v", list.Data)
		}
		api.do(req{method: http.MethodGet, path: "/api/v1/takedowns", token: "read"}).wantProblem(t, http.StatusForbidden, "forbidden")

		var lifted takedownDoc
		api.do(req{method: http.MethodDelete, path: fmt.Sprintf("/api/v1/takedowns/%d", imgTD.ID), token: "write"}).wantStatus(t, http.StatusOK).json(t, &lifted)
		if lifted.LiftedAt == nil || lifted.LiftedBy == nil || *lifted.LiftedBy != td.TakenBy {
			t.Errorf("lifted: %+v", lifted)
		}
		api.do(req{method: http.MethodDelete, path: fmt.Sprintf("/api/v1/takedowns/%d", imgTD.ID), token: "write"}).wantProblem(t, http.StatusConflict, "conflict")
		// Lifted, the image is pending until the compactor fetches it again.
		api.get("/images/"+sharedHash).wantProblem(t, http.StatusNotFound, "not-found")
	})
}
