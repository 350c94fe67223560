package graph_test

import (
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph"
)

// TestImageURLs reads Image.url through a performer's thumbnails (the
// direct writer's path and the executor's) and through image(urlHash): it
// is relative by default and below Options.ImagesURL when set; only a
// cached image has one.
func TestImageURLs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadFixture(t, s)
		tests := []struct {
			name      string
			imagesURL string
			want      string
		}{
			{"default: relative", "", "/images/" + hashAlpha},
			{"a CDN", "https://cdn.example.test/marquee/images", "https://cdn.example.test/marquee/images/" + hashAlpha},
			{"a trailing slash is dropped", "https://api.example.test/images/", "https://api.example.test/images/" + hashAlpha},
		}
		queries := []struct {
			name, query string
			wantURLs    int
		}{
			{"thumbnails", `{ pornstarByFeedId(feedId: 1) { thumbnails { image { status url } } } }`, 3},
			{"image", `{ image(urlHash: "` + hashAlpha + `") { status url } }`, 1},
			{"a failed image has none", `{ image(urlHash: "` + hashBravo + `") { status url } }`, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, mode := range []struct {
					name string
					opts graph.Options
				}{
					{"direct", graph.Options{ImagesURL: tt.imagesURL}},
					{"executor", graph.ExecutorOnly(graph.Options{ImagesURL: tt.imagesURL})},
				} {
					e := newEnv(t, s, mode.opts)
					for _, q := range queries {
						got := string(e.query(t, q.query, nil))
						if n := strings.Count(got, `"url":"`+tt.want+`"`); n != q.wantURLs {
							t.Errorf("%s, %s: %d URLs %q in %s, want %d", mode.name, q.name, n, tt.want, got, q.wantURLs)
						}
						if n := strings.Count(got, `"url":"`); n != q.wantURLs {
							t.Errorf("%s, %s: %d URLs in %s, want only the %d above", mode.name, q.name, n, got, q.wantURLs)
						}
					}
				}
			})
		}
	})
}
