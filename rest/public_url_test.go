package rest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// TestPublicURLs reads the links the API hands out (Location, Link, image
// URLs in a performer, its thumbnails and an image's state) without public
// URLs, with the API's public URL, and with a CDN for the images.
func TestPublicURLs(t *testing.T) {
	const thumbURL = "https://ei.example.test/pics/public-url.jpg"
	hash := db.URLHash(thumbURL)
	tests := []struct {
		name                 string
		publicURL, imagesURL string
		wantBase, wantImages string // what the links start with
	}{
		{"unset: paths", "", "", "", "/images/"},
		{"public URL", "https://api.example.test", "", "https://api.example.test", "https://api.example.test/images/"},
		{"public URL with a path", "https://example.test/marquee/", "", "https://example.test/marquee", "https://example.test/marquee/images/"},
		{"a CDN for the images", "https://api.example.test", "https://cdn.example.test/img", "https://api.example.test", "https://cdn.example.test/img/"},
		{"a CDN alone", "", "https://cdn.example.test/img/", "", "https://cdn.example.test/img/"},
	}
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					api := newTestAPI(t, testkit.OpenStore(t, b.URL(t)), apiOptions{publicURL: tt.publicURL, imagesURL: tt.imagesURL})
					created := api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", token: "write",
						body: `{"name": "Public URL", "thumbnails": [{"type": "pc", "url": "` + thumbURL + `"}]}`}).
						wantStatus(t, http.StatusCreated)
					var p pornstarDoc
					created.json(t, &p)
					if got, want := created.header.Get("Location"), fmt.Sprintf("%s/api/v1/pornstars/%d", tt.wantBase, p.ID); got != want {
						t.Errorf("Location = %q, want %q", got, want)
					}
					api.create(`{"name": "Another"}`)
					api.setImage(thumbURL, db.ImageCached)
					wantImage := tt.wantImages + hash

					var again pornstarDoc
					api.get(fmt.Sprintf("/api/v1/pornstars/%d", p.ID)).wantStatus(t, http.StatusOK).json(t, &again)
					if len(again.Thumbnails) != 1 || again.Thumbnails[0].Image.URL == nil || *again.Thumbnails[0].Image.URL != wantImage {
						t.Errorf("performer's image: %+v, want url %q", again.Thumbnails, wantImage)
					}
					// The 234-pixel-wide image: the allowed widths below it, then itself.
					wantSrcset := wantImage + "?w=64 64w, " + wantImage + "?w=128 128w, " + wantImage + " 234w"
					if got := again.Thumbnails[0].Image.Srcset; got == nil || *got != wantSrcset {
						t.Errorf("srcset = %v, want %q", got, wantSrcset)
					}
					if got := again.Thumbnails[0].Image.Placeholder; got == nil || *got != testPlaceholder {
						t.Errorf("placeholder = %v, want %q", got, testPlaceholder)
					}
					for _, path := range []string{fmt.Sprintf("/api/v1/pornstars/%d/thumbnails", p.ID), "/api/v1/images/" + hash, "/api/v1/pornstars/export"} {
						body := string(api.get(path).wantStatus(t, http.StatusOK).body)
						if !strings.Contains(body, `"url":"`+wantImage+`"`) {
							t.Errorf("GET %s = %s, want the image at %q", path, body, wantImage)
						}
					}

					link := api.get("/api/v1/pornstars?limit=1").wantStatus(t, http.StatusOK).header.Get("Link")
					if want := "<" + tt.wantBase + "/api/v1/pornstars?"; !strings.HasPrefix(link, want) {
						t.Errorf("Link = %q, want it to start with %q", link, want)
					}
					run := api.do(req{method: http.MethodPost, path: "/api/v1/feed-runs", token: "write"}).wantStatus(t, http.StatusAccepted)
					if got, want := run.header.Get("Location"), tt.wantBase+"/api/v1/feed-runs/"; !strings.HasPrefix(got, want) {
						t.Errorf("feed run Location = %q, want it to start with %q", got, want)
					}
				})
			}
		})
	}
}
