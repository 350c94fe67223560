package rest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/ingest/ingesttest"
	"marquee/internal/samples"
)

// encodingJSON is what encoding/json makes of v (HTML escaping off, as
// writeJSON does).
func encodingJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEncodeMatchesEncodingJSON holds the hand-written encoder to
// encoding/json's output, for the head fixture's performers, every member
// null, and strings with every escaping rule.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	tricky := []string{"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x08\x0c\n\r\t\x1f\x7f", "<html> & stuff",
		"emoji 😍 é", "bad \xff\xfe utf8 \xe2\x82", "seps \u2028\u2029", strings.Repeat("é", 300)}
	now := time.Date(2026, 11, 26, 8, 0, 0, 123456000, time.UTC)
	whole := now.Truncate(time.Second)

	var pages []pageJSON[pornstarJSON]
	// The head fixture's performers, with one cached image.
	var real pageJSON[pornstarJSON]
	for i, p := range ingesttest.ReadFeed(t, samples.Head.Path(t))[:20] {
		row := db.Pornstar{ID: int64(i + 1), ExternalID: &p.FeedID, PornstarFields: p.PornstarFields, Version: 3, CreatedAt: now, UpdatedAt: whole}
		c := &pornstarChildren{aliases: map[int64][]db.Alias{}, thumbs: map[int64][]db.Thumbnail{}, images: map[string]db.Image{}}
		for _, a := range p.Aliases {
			c.aliases[row.ID] = append(c.aliases[row.ID], db.Alias{Alias: a})
		}
		for _, th := range p.Thumbnails {
			c.thumbs[row.ID] = append(c.thumbs[row.ID], db.Thumbnail{Type: th.Type, Width: th.Width, Height: th.Height, URL: th.URL, URLHash: th.URLHash})
		}
		if i == 0 && len(p.Thumbnails) > 0 {
			ct, n, w, h, e := "image/jpeg", int64(9), int32(1), int32(2), "x"
			c.images[p.Thumbnails[0].URLHash] = db.Image{ImageState: db.ImageState{URLHash: p.Thumbnails[0].URLHash, Status: db.ImageCached,
				ContentType: &ct, Bytes: &n, Width: &w, Height: &h, Error: &e, Attempts: 2, FetchedAt: &now}}
		}
		real.Data = append(real.Data, newPornstarJSON(&row, c))
	}
	cursor := "abc"
	real.NextCursor, real.Total = &cursor, 12345
	pages = append(pages, real, pageJSON[pornstarJSON]{Data: []pornstarJSON{}})
	// Every member null or empty, and nil slices.
	pages = append(pages, pageJSON[pornstarJSON]{Data: []pornstarJSON{{ID: 1, CreatedAt: whole, UpdatedAt: now}}})
	// Random strings with every escaping rule, in every string member.
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return tricky[rng.IntN(len(tricky))] + tricky[rng.IntN(len(tricky))] }
	optPick := func() *string { s := pick(); return &s }
	var random pageJSON[pornstarJSON]
	for i := 0; i < 50; i++ {
		wl, age, views := rng.IntN(2) == 0, int32(rng.IntN(100)), rng.Int64()
		p := pornstarJSON{ID: rng.Int64(), PornstarFields: db.PornstarFields{Name: pick(), License: optPick(), Link: optPick(),
			BreastType: optPick(), Gender: optPick(), Orientation: optPick(), WLStatus: &wl, Age: &age, Views: &views,
			HairColors: db.StringList{pick(), pick()}, Ethnicities: db.StringList{}},
			Aliases: []string{pick()}, Version: rng.Int64(), RemovedAt: &now, CreatedAt: now, UpdatedAt: now}
		p.Thumbnails = []thumbnailJSON{{Type: pick(), URL: pick(), URLHash: pick(), Image: imageJSON{Status: pick(), URL: optPick(), SourceURL: pick(), Error: optPick()}}}
		random.Data = append(random.Data, p)
	}
	pages = append(pages, random)

	for i, page := range pages {
		want := encodingJSON(t, page)
		if got := appendPornstarPage(nil, &page); !bytes.Equal(got, want) {
			t.Errorf("page %d:\n got %s\nwant %s", i, got, want)
		}
		for j := range page.Data {
			want := encodingJSON(t, page.Data[j])
			if got := append(appendPornstar(nil, &page.Data[j]), '\n'); !bytes.Equal(got, want) {
				t.Errorf("page %d performer %d:\n got %s\nwant %s", i, j, got, want)
			}
		}
	}
}
