package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"marquee/db"
	"marquee/ingest/feedgen"
	"marquee/internal/samples"
)

// definitionContentHash is the content hash as docs/topics.md defines it,
// computed the long way: marshal the profile, decode it into maps (numbers
// kept exact), drop content_hash, marshal again with sorted keys and no
// HTML escaping. db.Profile.ComputeContentHash writes those bytes directly.
func definitionContentHash(t *testing.T, p db.Profile) string {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		t.Fatal(err)
	}
	delete(generic, "content_hash")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

func checkContentHashes(t *testing.T, profiles []db.Profile) {
	t.Helper()
	if len(profiles) == 0 {
		t.Fatal("no profiles")
	}
	for _, p := range profiles {
		got := p.ComputeContentHash()
		if want := definitionContentHash(t, p); got != want {
			t.Fatalf("feed id %d: ComputeContentHash = %s, the definition gives %s", p.FeedID, got, want)
		}
	}
}

// TestContentHashMatchesDefinition checks that every profile of the feed
// samples, of generated feeds and of hand-made edge cases hashes as the
// definition says, so that the hashes published before stay valid.
func TestContentHashMatchesDefinition(t *testing.T) {
	t.Parallel()
	var all []samples.Sample
	for _, s := range []samples.Sample{samples.Head, samples.Older, samples.BareArray, samples.Quirks} {
		all = append(all, s.WithReal()...)
	}
	for _, sample := range all {
		t.Run(sample.Name, func(t *testing.T) {
			res := parseEveryWay(t, sample.Read(t))
			if res.err != nil {
				t.Fatalf("ParseFeed: %v", res.err)
			}
			checkContentHashes(t, res.profiles)
		})
	}
	for _, o := range []feedgen.Options{
		{Items: 1000, Seed: 11},
		{Items: 1000, Seed: 11, Generation: 2, ChangeRatio: 0.3},
	} {
		t.Run("generated", func(t *testing.T) {
			res := parseEveryWay(t, genFeed(t, o))
			if res.err != nil {
				t.Fatalf("ParseFeed: %v", res.err)
			}
			checkContentHashes(t, res.profiles)
		})
	}
	str := func(s string) *string { return &s }
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	no := false
	edges := []struct {
		name string
		p    db.Profile
	}{
		{"zero profile", db.Profile{}},
		{"every field set", db.Profile{SchemaVersion: 1, FeedID: 1 << 62, ContentHash: "ignored",
			PornstarFields: db.PornstarFields{Name: "N", License: str("REGULAR"), WLStatus: &no, Link: str("https://x.example/a?b=1&c=<2>"),
				HairColors: db.StringList{"a", "b"}, Ethnicities: db.StringList{}, Tattoos: &no, Piercings: &no,
				BreastSize: i32(-2147483648), BreastType: str("C"), Gender: str("f"), Orientation: str("o"), Age: i32(99),
				Subscriptions: i64(-9223372036854775808), MonthlySearches: i64(9223372036854775807), Views: i64(0),
				VideosCount: i64(1), PremiumVideosCount: i64(2), WhiteLabelVideoCount: i64(3), Rank: i64(4),
				RankPremium: i64(5), RankWL: i64(6)},
			Aliases:    []string{},
			Thumbnails: []db.ProfileThumbnail{{Type: "pc", Height: i32(1), URL: "u", URLHash: "h"}, {}},
		}},
		{"HTML, quotes and backslashes", db.Profile{PornstarFields: db.PornstarFields{Name: `A&B <i>"q"</i> \ /`}}},
		{"control characters", db.Profile{PornstarFields: db.PornstarFields{Name: "a\x00b\x01\x07\b\f\n\r\t\x1f\x7f"}}},
		{"line and paragraph separators", db.Profile{Aliases: []string{"a\u2028b\u2029c"}}},
		{"invalid UTF-8", db.Profile{Aliases: []string{"a\xffb\xc3", "\xe2\x80", "\xed\xa0\x80"}, PornstarFields: db.PornstarFields{Name: "\xff\xfe"}}},
		{"non-ASCII", db.Profile{PornstarFields: db.PornstarFields{Name: "Zoë 😀 日本 \ufeff \ufffd"}}},
	}
	for _, tt := range edges {
		t.Run(tt.name, func(t *testing.T) { checkContentHashes(t, []db.Profile{tt.p}) })
	}
}
