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

// TestImageVariantURLs reads Image.url(width:, format:) and srcset(format:)
// of the fixture's cached 234-pixel-wide image, through the direct writer
// and the executor, and refuses widths outside the allowed list.
func TestImageVariantURLs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadFixture(t, s)
		base := "https://cdn.example.test/images/" + hashAlpha
		tests := []struct {
			name      string
			field     string
			variables map[string]any
			want      string // the JSON of the field's value
			wantCode  string
		}{
			{"the original", `url`, nil, `"` + base + `"`, ""},
			{"a width", `url(width: 64)`, nil, `"` + base + `?w=64"`, ""},
			{"a width and a format", `url(width: 128, format: WEBP)`, nil, `"` + base + `?w=128&format=webp"`, ""},
			{"from variables", `url(width: $w, format: $f)`, map[string]any{"w": 256, "f": "AVIF"}, `"` + base + `?w=256&format=avif"`, ""},
			{"srcset: the widths below the original's, then the original", `srcset`, nil,
				`"` + base + `?w=64 64w, ` + base + `?w=128 128w, ` + base + ` 234w"`, ""},
			{"srcset in a format: the original's size as a variant", `srcset(format: JPEG)`, nil,
				`"` + base + `?w=64&format=jpeg 64w, ` + base + `?w=128&format=jpeg 128w, ` + base + `?w=256&format=jpeg 234w"`, ""},
			{"the placeholder", `placeholder`, nil, `"` + fixturePlaceholder + `"`, ""},
			{"a width not allowed", `url(width: 100)`, nil, "", "BAD_USER_INPUT"},
			{"a format without a width", `url(format: PNG)`, nil, "", "BAD_USER_INPUT"},
			{"an unknown format", `url(width: 64, format: TIFF)`, nil, "", "GRAPHQL_VALIDATION_FAILED"},
		}
		for _, mode := range []struct {
			name string
			opts graph.Options
		}{
			{"direct", graph.Options{ImagesURL: "https://cdn.example.test/images", ImageWidths: []int{256, 64, 128, 512, 1024}}},
			{"executor", graph.ExecutorOnly(graph.Options{ImagesURL: "https://cdn.example.test/images", ImageWidths: []int{64, 128, 256, 512, 1024}})},
		} {
			e := newEnv(t, s, mode.opts)
			for _, tt := range tests {
				t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
					declared := ""
					if tt.variables != nil {
						declared = "($w: Int, $f: ImageFormat)"
					}
					query := `query` + declared + ` { pornstarByFeedId(feedId: 1) { thumbnails { urlHash image { v: ` + tt.field + ` } } } }`
					res := e.do(t, request{query: query, variables: tt.variables})
					if tt.wantCode != "" {
						if len(res.Errors) == 0 || res.Errors[0].code() != tt.wantCode {
							t.Fatalf("want %s, got %s", tt.wantCode, res.Raw)
						}
						return
					}
					if len(res.Errors) > 0 {
						t.Fatalf("errors: %s", res.Raw)
					}
					if !strings.Contains(res.Raw, `"urlHash":"`+hashAlpha+`","image":{"v":`+tt.want+`}`) {
						t.Fatalf("got %s, want the image of %s with %s", res.Raw, hashAlpha, tt.want)
					}
				})
			}
		}
	})
}
