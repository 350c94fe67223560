package db_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"marquee/db"
)

// designVectorURL and designVectorHash are the URL hash test vector of
// (docs/topics.md).
const (
	designVectorURL  = "https://ei.phncdn.com/pics/pornstars/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg"
	designVectorHash = "ec5c6429c95bd7c798e15a479bb9a5a4c75ab2023981d9c6bf69eba9460a8294"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestURLHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		// hashed is the text whose SHA-256 the hash must be: the URL with
		// only its scheme and host lower-cased.
		hashed string
	}{
		{"design test vector", designVectorURL, designVectorURL},
		{"scheme and host lower-cased, path case kept",
			"HTTPS://EI.PhnCDN.com/pics/pornstars/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg",
			designVectorURL},
		{"upper-case path is another URL",
			"https://ei.phncdn.com/PICS/pornstars/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.JPG",
			"https://ei.phncdn.com/PICS/pornstars/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.JPG"},
		{"port kept", "https://Img.Example.COM:8443/A/B.jpg", "https://img.example.com:8443/A/B.jpg"},
		{"query and fragment kept", "HTTP://Host.Example?Q=A#Frag", "http://host.example?Q=A#Frag"},
		{"user info kept", "https://User:PW@Host.Example/P", "https://User:PW@host.example/P"},
		{"no path", "HTTPS://HOST.EXAMPLE", "https://host.example"},
		{"percent escapes not rewritten", "https://h.example/a%2Fb%2f(%3D)", "https://h.example/a%2Fb%2f(%3D)"},
		{"dot segments not resolved", "https://h.example/a/../B/./c", "https://h.example/a/../B/./c"},
		{"not a URL is hashed as it is", "Relative/Path.JPG", "Relative/Path.JPG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := db.URLHash(tt.url), sha256Hex(tt.hashed); got != want {
				t.Errorf("URLHash(%q) = %s, want sha256(%q) = %s", tt.url, got, tt.hashed, want)
			}
		})
	}
	if got := db.URLHash(designVectorURL); got != designVectorHash {
		t.Errorf("URLHash(design vector) = %s, want %s", got, designVectorHash)
	}
	if db.URLHash(tests[2].url) == designVectorHash {
		t.Error("a URL differing only in path case has the same hash")
	}
}

var lowerHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func mustContentHash(t *testing.T, p db.Profile) string {
	t.Helper()
	h := p.ComputeContentHash()
	if !lowerHex64.MatchString(h) {
		t.Fatalf("ComputeContentHash = %q, want 64 lowercase hex digits", h)
	}
	return h
}

// TestContentHashCanonicalJSON pins the hash to its definition in docs/topics.md: the
// SHA-256 of the canonical JSON (sorted keys at every level, no spaces, no
// HTML escaping, 64-bit numbers exact, unknown as null) without content_hash.
func TestContentHashCanonicalJSON(t *testing.T) {
	t.Parallel()
	p := db.Profile{
		SchemaVersion: 1,
		FeedID:        2,
		PornstarFields: db.PornstarFields{
			Name:            "A&B <Zoë>",
			MonthlySearches: ptr(int64(1<<62 + 1)),
			Tattoos:         ptr(false),
		},
		Aliases: []string{"x"},
		Thumbnails: []db.ProfileThumbnail{
			{Type: "pc", Width: ptr(int32(234)), URL: designVectorURL, URLHash: designVectorHash},
		},
		ContentHash: "ignored",
	}
	canonical := `{"age":null,"aliases":["x"],"breast_size":null,"breast_type":null,"ethnicities":null,` +
		`"feed_id":2,"gender":null,"hair_colors":null,"license":null,"link":null,` +
		`"monthly_searches":4611686018427387905,"name":"A&B <Zoë>","orientation":null,"piercings":null,` +
		`"premium_videos_count":null,"rank":null,"rank_premium":null,"rank_wl":null,"schema_version":1,` +
		`"subscriptions":null,"tattoos":false,"thumbnails":[{"height":null,"type":"pc","url":"` + designVectorURL +
		`","url_hash":"` + designVectorHash + `","width":234}],"videos_count":null,"views":null,` +
		`"white_label_video_count":null,"wl_status":null}`
	if got, want := mustContentHash(t, p), sha256Hex(canonical); got != want {
		t.Errorf("ComputeContentHash = %s, want sha256 of\n%s\n= %s", got, canonical, want)
	}
}

func TestContentHashStable(t *testing.T) {
	t.Parallel()
	base := fullProfile(7)
	want := mustContentHash(t, base)

	tests := []struct {
		name    string
		profile func(t *testing.T) db.Profile
	}{
		{"same profile again", func(*testing.T) db.Profile { return fullProfile(7) }},
		{"content_hash itself is ignored", func(*testing.T) db.Profile {
			p := fullProfile(7)
			p.ContentHash = strings.Repeat("f", 64)
			return p
		}},
		{"decoded from JSON with the keys in reverse order", func(t *testing.T) db.Profile {
			raw, err := json.Marshal(fullProfile(7))
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			slices.Reverse(keys)
			var b strings.Builder
			b.WriteString("{\n")
			for i, k := range keys {
				if i > 0 {
					b.WriteString(",\n")
				}
				name, _ := json.Marshal(k)
				b.WriteString("  " + string(name) + " : " + string(fields[k]))
			}
			b.WriteString("\n}")
			var p db.Profile
			if err := json.Unmarshal([]byte(b.String()), &p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustContentHash(t, tt.profile(t)); got != want {
				t.Errorf("hash = %s, want %s", got, want)
			}
		})
	}
}

// TestContentHashChangesWithEveryField changes one field at a time: each
// change must give a hash of its own. Case names are the JSON field names,
// and every field of the profile must have a case.
func TestContentHashChangesWithEveryField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(p *db.Profile)
	}{
		{"schema_version", func(p *db.Profile) { p.SchemaVersion++ }},
		{"feed_id", func(p *db.Profile) { p.FeedID++ }},
		{"name", func(p *db.Profile) { p.Name = "Aaliyah Jolie " }},
		{"license", func(p *db.Profile) { p.License = ptr("REGULAR") }},
		{"wl_status", func(p *db.Profile) { p.WLStatus = ptr(false) }},
		{"wl_status unknown", func(p *db.Profile) { p.WLStatus = nil }},
		{"link", func(p *db.Profile) { p.Link = ptr(*p.Link + "-2") }},
		{"hair_colors", func(p *db.Profile) { p.HairColors = db.StringList{"Blonde"} }},
		{"hair_colors order", func(p *db.Profile) { p.HairColors = db.StringList{"Brunette", "Blonde"} }},
		{"hair_colors unknown", func(p *db.Profile) { p.HairColors = nil }},
		{"ethnicities", func(p *db.Profile) { p.Ethnicities = db.StringList{"White"} }},
		{"tattoos", func(p *db.Profile) { p.Tattoos = ptr(false) }},
		{"piercings", func(p *db.Profile) { p.Piercings = ptr(true) }},
		{"piercings unknown", func(p *db.Profile) { p.Piercings = nil }},
		{"breast_size", func(p *db.Profile) { p.BreastSize = ptr(*p.BreastSize + 1) }},
		{"breast_type", func(p *db.Profile) { p.BreastType = ptr("D") }},
		{"gender", func(p *db.Profile) { p.Gender = ptr("Couple") }},
		{"orientation", func(p *db.Profile) { p.Orientation = ptr("gay") }},
		{"age", func(p *db.Profile) { p.Age = ptr(*p.Age + 1) }},
		{"age zero", func(p *db.Profile) { p.Age = ptr(int32(0)) }},
		{"age unknown", func(p *db.Profile) { p.Age = nil }},
		{"subscriptions", func(p *db.Profile) { p.Subscriptions = ptr(*p.Subscriptions + 1) }},
		{"monthly_searches", func(p *db.Profile) { p.MonthlySearches = ptr(*p.MonthlySearches + 1) }},
		// 2^62+1 and 2^62+2 are the same float64: a hash through float64 merges them.
		{"views", func(p *db.Profile) { p.Views = ptr(*p.Views + 1) }},
		{"videos_count", func(p *db.Profile) { p.VideosCount = ptr(*p.VideosCount + 1) }},
		{"premium_videos_count", func(p *db.Profile) { p.PremiumVideosCount = ptr(*p.PremiumVideosCount + 1) }},
		{"white_label_video_count", func(p *db.Profile) { p.WhiteLabelVideoCount = ptr(*p.WhiteLabelVideoCount + 1) }},
		{"rank", func(p *db.Profile) { p.Rank = ptr(*p.Rank + 1) }},
		{"rank_premium", func(p *db.Profile) { p.RankPremium = ptr(*p.RankPremium + 1) }},
		{"rank_wl", func(p *db.Profile) { p.RankWL = ptr(*p.RankWL + 1) }},
		{"aliases", func(p *db.Profile) { p.Aliases = append(p.Aliases, "New Alias") }},
		{"aliases order", func(p *db.Profile) { slices.Reverse(p.Aliases) }},
		{"aliases removed", func(p *db.Profile) { p.Aliases = p.Aliases[:1] }},
		{"thumbnails", func(p *db.Profile) { p.Thumbnails = p.Thumbnails[:2] }},
		{"thumbnails url", func(p *db.Profile) {
			p.Thumbnails[0].URL = strings.Replace(p.Thumbnails[0].URL, "ei.phncdn", "di.phncdn", 1)
		}},
		{"thumbnails url_hash", func(p *db.Profile) { p.Thumbnails[1].URLHash = db.URLHash(p.Thumbnails[1].URL) }},
		{"thumbnails type", func(p *db.Profile) { p.Thumbnails[2].Type = "tv" }},
		{"thumbnails width", func(p *db.Profile) { p.Thumbnails[0].Width = ptr(int32(235)) }},
		{"thumbnails height", func(p *db.Profile) { p.Thumbnails[0].Height = nil }},
	}

	// Every JSON field of a profile (but content_hash) has a case.
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[strings.Fields(tt.name)[0]] = true
	}
	for _, field := range jsonFieldNames(reflect.TypeFor[db.Profile]()) {
		if field != "content_hash" && !covered[field] {
			t.Errorf("no case changes profile field %q", field)
		}
	}

	base := mustContentHash(t, fullProfile(7))
	seen := map[string]string{base: "the unchanged profile"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fullProfile(7)
			tt.change(&p)
			got := mustContentHash(t, p)
			if other, dup := seen[got]; dup {
				t.Errorf("hash %s equals the hash of %s", got, other)
			}
			seen[got] = tt.name
		})
	}
}

// jsonFieldNames lists the JSON names of a struct's fields, embedded structs
// flattened.
func jsonFieldNames(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous {
			out = append(out, jsonFieldNames(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
