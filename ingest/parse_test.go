package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"marquee/db"
	"marquee/ingest/feedgen"
	"marquee/internal/samples"
)

// parseResult is everything one ParseFeed call reported.
type parseResult struct {
	header   FeedHeader
	indexes  []int
	profiles []db.Profile
	rejects  []Reject
	warnings []Warning
	err      error
}

func parseAll(r io.Reader) parseResult {
	var res parseResult
	res.header, res.err = ParseFeedWithWarnings(r, func(index int, p db.Profile) error {
		res.indexes = append(res.indexes, index)
		res.profiles = append(res.profiles, p)
		return nil
	}, func(rej Reject) error {
		res.rejects = append(res.rejects, rej)
		return nil
	}, func(w Warning) error {
		res.warnings = append(res.warnings, w)
		return nil
	})
	return res
}

// readerShapes are the ways a source may hand out the same bytes; ParseFeed
// must report the same thing whatever the read boundaries.
var readerShapes = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"one read", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"one byte per read", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"half reads", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"EOF with the last data", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	{"7-byte reads", func(b []byte) io.Reader { return &chunkReader{data: b, size: 7} }},
}

// chunkReader returns at most size bytes per Read.
type chunkReader struct {
	data []byte
	size int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// parseEveryWay parses data through every reader shape, fails the test when
// any two disagree, and returns the result.
func parseEveryWay(t testing.TB, data []byte) parseResult {
	t.Helper()
	want := parseAll(bytes.NewReader(data))
	for _, shape := range readerShapes[1:] {
		got := parseAll(shape.wrap(data))
		if diff := compareResults(got, want); diff != "" {
			t.Fatalf("%s: result differs from a single read: %s", shape.name, diff)
		}
	}
	return want
}

func compareResults(got, want parseResult) string {
	switch {
	case fmt.Sprint(got.err) != fmt.Sprint(want.err):
		return fmt.Sprintf("error %v, want %v", got.err, want.err)
	case !reflect.DeepEqual(got.header, want.header):
		return fmt.Sprintf("header %+v, want %+v", got.header, want.header)
	case !reflect.DeepEqual(got.indexes, want.indexes):
		return fmt.Sprintf("indexes %v, want %v", got.indexes, want.indexes)
	case !reflect.DeepEqual(got.profiles, want.profiles):
		return "profiles differ"
	case !reflect.DeepEqual(got.rejects, want.rejects):
		return fmt.Sprintf("rejects %v, want %v", got.rejects, want.rejects)
	case !reflect.DeepEqual(got.warnings, want.warnings):
		return fmt.Sprintf("warnings %v, want %v", got.warnings, want.warnings)
	}
	return ""
}

// sampleCounts is what parsing one sample gives.
type sampleCounts struct {
	profiles, rejects    int
	aliases, thumbnails  int
	distinctURLHashes    int
	bareArray            bool
	site                 string
	generationDate       string
	itemsCount           int64
	wantFirstID          int64
	wantFirstAliasesSeen []string
}

// TestParseFeedSamples parses the fixtures, and the real samples when
// MARQUEE_TEST_SAMPLES names them: counts, header and the first profile.
func TestParseFeedSamples(t *testing.T) {
	fixtureFirstAliases := []string{"Katie Brighthill"}
	realFirstAliases := []string{"Aliyah Julie", "Aliyah Jolie", "Aaliyah", "Macy"}
	want := map[string]sampleCounts{
		samples.Head.Name: {profiles: 100, aliases: 274, thumbnails: 291, distinctURLHashes: 96,
			site: "https://www.pornhub.com", generationDate: "2023-10-30T04:15:03Z", itemsCount: 100,
			wantFirstID: 1, wantFirstAliasesSeen: fixtureFirstAliases},
		samples.Older.Name: {profiles: 8, aliases: 33, thumbnails: 24, distinctURLHashes: 8,
			site: "https://www.pornhub.com", generationDate: "2023-10-29T04:15:03Z", itemsCount: 8,
			wantFirstID: 1, wantFirstAliasesSeen: fixtureFirstAliases},
		samples.BareArray.Name: {profiles: 1, aliases: 1, thumbnails: 3, distinctURLHashes: 1,
			bareArray: true, wantFirstID: 1, wantFirstAliasesSeen: fixtureFirstAliases},
		samples.Quirks.Name: {profiles: 6, rejects: 6, aliases: 8, thumbnails: 15, distinctURLHashes: 7,
			site: "https://www.pornhub.com", generationDate: "2024-02-01T04:15:03Z", itemsCount: 12,
			wantFirstID: 101, wantFirstAliasesSeen: []string{"Quinn N."}},
		samples.RealHead.Name: {profiles: 100, aliases: 305, thumbnails: 288, distinctURLHashes: 96,
			site: "https://www.pornhub.com", generationDate: "2023-10-29T04:15:03Z", itemsCount: 100,
			wantFirstID: 2, wantFirstAliasesSeen: realFirstAliases},
		samples.RealOlder.Name: {profiles: 8, aliases: 29, thumbnails: 24, distinctURLHashes: 8,
			site: "https://www.pornhub.com", generationDate: "2023-05-15T00:00:00Z", itemsCount: 8,
			wantFirstID: 2, wantFirstAliasesSeen: realFirstAliases},
		samples.RealBareArray.Name: {profiles: 1, aliases: 4, thumbnails: 3, distinctURLHashes: 1,
			bareArray: true, wantFirstID: 2, wantFirstAliasesSeen: realFirstAliases},
	}
	var all []samples.Sample
	for _, s := range []samples.Sample{samples.Head, samples.Older, samples.BareArray, samples.Quirks} {
		all = append(all, s.WithReal()...)
	}
	for _, sample := range all {
		t.Run(sample.Name, func(t *testing.T) {
			tt, ok := want[sample.Name]
			if !ok {
				t.Fatalf("no expectations for %s", sample.Name)
			}
			res := parseEveryWay(t, sample.Read(t))
			if res.err != nil {
				t.Fatalf("ParseFeed: %v", res.err)
			}
			aliases, thumbnails := 0, 0
			hashes := map[string]bool{}
			for _, p := range res.profiles {
				aliases += len(p.Aliases)
				thumbnails += len(p.Thumbnails)
				for _, th := range p.Thumbnails {
					hashes[th.URLHash] = true
				}
			}
			got := fmt.Sprintf("profiles=%d rejects=%d aliases=%d thumbnails=%d url_hashes=%d",
				len(res.profiles), len(res.rejects), aliases, thumbnails, len(hashes))
			want := fmt.Sprintf("profiles=%d rejects=%d aliases=%d thumbnails=%d url_hashes=%d",
				tt.profiles, tt.rejects, tt.aliases, tt.thumbnails, tt.distinctURLHashes)
			if got != want {
				t.Errorf("got %s\nwant %s", got, want)
			}
			h := res.header
			if h.Items != tt.profiles+tt.rejects || h.Rejected != tt.rejects || h.BareArray != tt.bareArray || h.Site != tt.site {
				t.Errorf("header = %+v", h)
			}
			if tt.generationDate == "" {
				if h.GenerationDate != nil || h.ItemsCount != nil {
					t.Errorf("bare array: generation date %v, items count %v, want none", h.GenerationDate, h.ItemsCount)
				}
			} else {
				if h.GenerationDate == nil || h.GenerationDate.Format(time.RFC3339) != tt.generationDate {
					t.Errorf("generation date = %v, want %s", h.GenerationDate, tt.generationDate)
				}
				if h.ItemsCount == nil || *h.ItemsCount != tt.itemsCount {
					t.Errorf("items count = %v, want %d", h.ItemsCount, tt.itemsCount)
				}
			}
			first := res.profiles[0]
			if first.FeedID != tt.wantFirstID || !reflect.DeepEqual(first.Aliases, tt.wantFirstAliasesSeen) {
				t.Errorf("first profile: id %d aliases %q", first.FeedID, first.Aliases)
			}
			for i, p := range res.profiles {
				if i > 0 && res.indexes[i] <= res.indexes[i-1] {
					t.Fatalf("profile %d delivered with index %d after %d", i, res.indexes[i], res.indexes[i-1])
				}
				if tt.rejects == 0 && res.indexes[i] != i {
					t.Fatalf("profile %d delivered with index %d", i, res.indexes[i])
				}
				checkDelivered(t, p)
			}
		})
	}
}

// checkDelivered asserts what every delivered profile promises.
func checkDelivered(t testing.TB, p db.Profile) {
	t.Helper()
	if err := db.ValidateProfile(&p); err != nil {
		t.Fatalf("profile %d fails db.ValidateProfile: %v", p.FeedID, err)
	}
	if p.SchemaVersion != db.ProfileSchemaVersion {
		t.Fatalf("profile %d: schema version %d", p.FeedID, p.SchemaVersion)
	}
	if hash := p.ComputeContentHash(); hash != p.ContentHash || len(hash) != 64 {
		t.Fatalf("profile %d: content hash %q, recomputed %q", p.FeedID, p.ContentHash, hash)
	}
	for _, th := range p.Thumbnails {
		if th.URL == "" || th.URLHash != db.URLHash(th.URL) {
			t.Fatalf("profile %d: thumbnail %+v", p.FeedID, th)
		}
	}
}

// headDetail is one value of a head sample that the normalisation rules
// decide.
type headDetail struct {
	name  string
	id    int64
	check func(p db.Profile) bool
}

// TestParseFeedHeadDetails pins values of the head fixture (and of the real
// head, when MARQUEE_TEST_SAMPLES names it) that the normalisation rules
// decide.
func TestParseFeedHeadDetails(t *testing.T) {
	threeRowsOneURL := func(url string) func(p db.Profile) bool {
		return func(p db.Profile) bool {
			th := p.Thumbnails
			return len(th) == 3 && th[0].Type == "pc" && th[1].Type == "mobile" && th[2].Type == "tablet" &&
				th[0].URLHash == th[1].URLHash && th[0].URLHash == th[2].URLHash && *th[0].Width == 234 && *th[0].Height == 344 &&
				th[0].URL == url && th[0].URLHash == db.URLHash(url)
		}
	}
	details := map[string]func(profiles []db.Profile) []headDetail{
		samples.Head.Name: func([]db.Profile) []headDetail {
			return []headDetail{
				{"absent age stays nil", 3, func(p db.Profile) bool { return p.Age == nil && p.BreastSize != nil }},
				{"absent breast size and type stay nil", 55, func(p db.Profile) bool { return p.BreastSize == nil && p.BreastType == nil && p.Age == nil }},
				{"absent ethnicity stays nil", 16, func(p db.Profile) bool { return p.Ethnicities == nil && p.HairColors != nil }},
				{"empty thumbnails are an empty list", 48, func(p db.Profile) bool { return p.Thumbnails != nil && len(p.Thumbnails) == 0 }},
				{"own name kept among aliases", 50, func(p db.Profile) bool { return containsString(p.Aliases, "Kendra Silvermore") }},
				{"exact duplicates removed, first kept", 143, func(p db.Profile) bool {
					return reflect.DeepEqual(p.Aliases, []string{"Alilson Millby", "Claire Miura", "Allisson Millby", "Vera Gold", "Allison"})
				}},
				{"empty alias dropped", 89, func(p db.Profile) bool { return len(p.Aliases) == 9 && !containsString(p.Aliases, "") }},
				{"trailing U+00A0 trimmed", 54, func(p db.Profile) bool { return reflect.DeepEqual(p.Aliases, []string{"Cadence", "Crysatl Foxmore"}) }},
				{"\\x escapes of an emoji decoded", 72, func(p db.Profile) bool { return containsString(p.Aliases, "abby 😍") }},
				{"\\x escape of a byte that is not UTF-8 replaced", 74, func(p db.Profile) bool { return containsString(p.Aliases, "Ellathornhill\uFFFD") }},
				{"glued note kept", 90, func(p db.Profile) bool { return containsString(p.Aliases, "lena(als)") }},
				{"mixed-case gender lower-cased", 67, func(p db.Profile) bool { return *p.Gender == "couple" }},
				{"wlStatus string is a bool", 1, func(p db.Profile) bool { return p.WLStatus != nil && *p.WLStatus }},
				{"pipe-joined hair colour is a list", 36, func(p db.Profile) bool {
					return reflect.DeepEqual([]string(p.HairColors), []string{"Blonde", "Red", "Brunette", "Black"})
				}},
				{"searches near 4.2e8", 95, func(p db.Profile) bool { return *p.MonthlySearches == 419559056 }},
				{"three thumbnail rows share one URL", 1, threeRowsOneURL("https://ei.phncdn.com/pics/pornstars/000/000/001/(m=lciuhScOb_c)(mh=cYkGra4ZCV8khARK)thumb_1268311.jpg")},
				{"image moved to the di. host", 122, func(p db.Profile) bool {
					return strings.HasPrefix(p.Thumbnails[0].URL, "https://di.phncdn.com/pics/pornstars/000/000/122/")
				}},
				{"link decoded", 1, func(p db.Profile) bool { return *p.Link == "https://www.pornhub.com/pornstar/harley-hartwell" }},
			}
		},
		samples.RealHead.Name: func(profiles []db.Profile) []headDetail {
			return []headDetail{
				{"absent age stays nil", 8, func(p db.Profile) bool { return p.Age == nil && p.BreastSize != nil }},
				{"absent breast size and type stay nil", 33, func(p db.Profile) bool { return p.BreastSize == nil && p.BreastType == nil && p.Age == nil }},
				{"absent ethnicity stays nil", 59, func(p db.Profile) bool { return p.Ethnicities == nil && p.HairColors != nil }},
				{"empty thumbnails are an empty list", 52, func(p db.Profile) bool { return p.Thumbnails != nil && len(p.Thumbnails) == 0 }},
				{"own name kept among aliases", 151, func(p db.Profile) bool { return containsString(p.Aliases, "Allison Wyte") }},
				{"exact duplicates removed, first kept", 23, func(p db.Profile) bool {
					return reflect.DeepEqual(p.Aliases, []string{"Alana Moreno", "Adrianna Sage", "Adrian Sage", "Gina", "Adriana", "Rosa", "Alana", "Adrianna", "Lana"})
				}},
				{"empty alias dropped", 31, func(p db.Profile) bool { return !containsString(p.Aliases, "") }},
				{"wlStatus string is a bool", 2, func(p db.Profile) bool { return p.WLStatus != nil && *p.WLStatus }},
				{"pipe-joined hair colour is a list", firstWith(profiles, func(p db.Profile) bool { return len(p.HairColors) == 4 }), func(p db.Profile) bool {
					return reflect.DeepEqual([]string(p.HairColors), []string{"Blonde", "Red", "Brunette", "Black"})
				}},
				{"64-bit stats", 2, func(p db.Profile) bool { return *p.MonthlySearches == 1298200 && *p.RankWL == 3287 }},
				{"three thumbnail rows share one URL", 2, threeRowsOneURL("https://ei.phncdn.com/pics/pornstars/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg")},
				{"link decoded", 2, func(p db.Profile) bool { return *p.Link == "https://www.pornhub.com/pornstar/aaliyah-jolie" }},
			}
		},
	}
	for _, sample := range samples.Head.WithReal() {
		t.Run(sample.Name, func(t *testing.T) {
			res := parseAll(bytes.NewReader(sample.Read(t)))
			if res.err != nil {
				t.Fatal(res.err)
			}
			byID := map[int64]db.Profile{}
			for _, p := range res.profiles {
				byID[p.FeedID] = p
			}
			for _, tt := range details[sample.Name](res.profiles) {
				t.Run(tt.name, func(t *testing.T) {
					p, ok := byID[tt.id]
					if !ok {
						t.Fatalf("no profile %d", tt.id)
					}
					if !tt.check(p) {
						t.Errorf("profile %d: %+v aliases %q thumbnails %+v", tt.id, p.PornstarFields, p.Aliases, p.Thumbnails)
					}
				})
			}
		})
	}
}

// TestParseFeedQuirks parses the hand-written quirks fixture: every form a
// reader must accept becomes the value below, each refused value a warning,
// each broken item a reject, and the rest of the feed stays.
func TestParseFeedQuirks(t *testing.T) {
	res := parseEveryWay(t, samples.Quirks.Read(t))
	if res.err != nil {
		t.Fatal(res.err)
	}
	byID := map[int64]db.Profile{}
	for _, p := range res.profiles {
		byID[p.FeedID] = p
		checkDelivered(t, p)
	}
	quirkURL := func(name string) string { return "https://ei.phncdn.com/pics/pornstars/quirks/" + name + ".jpg" }
	profiles := []struct {
		name  string
		id    int64
		check func(p db.Profile) bool
	}{
		{"wlStatus true and numeric strings", 101, func(p db.Profile) bool {
			return *p.WLStatus && *p.BreastSize == 34 && *p.Age == 41 && *p.Views == 1234567 && *p.MonthlySearches == 812300 && *p.RankWL == 502
		}},
		{"id as a numeric string, wlStatus 0, tattoos \"1\", piercings 0, \\x-escaped emoji", 102, func(p db.Profile) bool {
			return !*p.WLStatus && *p.Tattoos && !*p.Piercings && p.Name == "Lexi 😍" && reflect.DeepEqual(p.Aliases, []string{"Lexi", "Lexi 😍"}) &&
				p.BreastSize == nil && p.Age == nil
		}},
		{"wlStatus false, aliases and pipe-joined values cleaned", 103, func(p db.Profile) bool {
			return !*p.WLStatus && p.Name == "Mia Zoë" &&
				reflect.DeepEqual(p.Aliases, []string{"Mia", "Mia Z", "Mia Zoë", "Zo\uFFFD"}) &&
				reflect.DeepEqual([]string(p.HairColors), []string{"Blonde", "Red"}) &&
				reflect.DeepEqual([]string(p.Ethnicities), []string{"Middle Eastern", "White"})
		}},
		{"wlStatus 1, several URLs per thumbnail, exact fractions and exponents, gender lower-cased", 104, func(p db.Profile) bool {
			th := p.Thumbnails
			return *p.WLStatus && *p.BreastSize == 34 && *p.MonthlySearches == 420_000_000 && *p.Gender == "couple" &&
				p.Aliases != nil && len(p.Aliases) == 0 && len(th) == 3 &&
				th[0].Type == "pc" && th[0].URL == quirkURL("104a") &&
				th[1].Type == "pc" && th[1].URL == "https://di.phncdn.com/pics/pornstars/quirks/104a.jpg" &&
				th[2].Type == "tablet" && th[2].URL == quirkURL("104b")
		}},
		{"null and blank are unknown", 105, func(p db.Profile) bool {
			return p.WLStatus == nil && p.HairColors == nil && p.Ethnicities == nil && p.BreastSize == nil && p.BreastType == nil &&
				p.Age == nil && p.Aliases == nil && p.Thumbnails != nil && len(p.Thumbnails) == 0 && *p.Gender == "male"
		}},
		{"refused values are unknown", 106, func(p db.Profile) bool {
			return p.BreastSize == nil && p.Age == nil && *p.BreastType == "A" && len(p.Thumbnails) == 3
		}},
	}
	for _, tt := range profiles {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := byID[tt.id]
			if !ok {
				t.Fatalf("no profile %d", tt.id)
			}
			if !tt.check(p) {
				t.Errorf("profile %d: %+v aliases %q thumbnails %+v", tt.id, p.PornstarFields, p.Aliases, p.Thumbnails)
			}
		})
	}
	if len(res.profiles) != len(profiles) {
		t.Errorf("%d profiles, want %d", len(res.profiles), len(profiles))
	}

	var rejects []string
	for _, r := range res.rejects {
		rejects = append(rejects, fmt.Sprintf("%d/%d: %s", r.Index, feedIDOf(r), r.Reason))
	}
	wantRejects := []string{
		"6/0: id: missing",
		`7/0: id: want a positive integer, got "abc"`,
		"8/0: item: want an object, got 42",
		"9/101: duplicate id 101, first at item 0",
		"10/107: aliases: want an array of strings, got 5",
		"11/108: name: missing",
	}
	if !reflect.DeepEqual(rejects, wantRejects) {
		t.Errorf("rejects\n%s\nwant\n%s", strings.Join(rejects, "\n"), strings.Join(wantRejects, "\n"))
	}
	var warnings []string
	for _, w := range res.warnings {
		warnings = append(warnings, fmt.Sprintf("%d/%d %s=%s: %s", w.Index, w.FeedID, w.Field, w.Value, w.Reason))
	}
	wantWarnings := []string{
		"5/106 age=99999999999999999999: must be an integer from 0 to 2147483647, not 99999999999999999999",
		"5/106 breast_size=-1: must be an integer from 0 to 2147483647, not -1",
	}
	if !reflect.DeepEqual(warnings, wantWarnings) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(wantWarnings, "\n"))
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func firstWith(profiles []db.Profile, match func(db.Profile) bool) int64 {
	for _, p := range profiles {
		if match(p) {
			return p.FeedID
		}
	}
	return -1
}

func TestParseFeedHeader(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(h FeedHeader) bool
	}{
		{
			"itemsCount after the array, unknown keys skipped",
			`{"site":"https:\/\/example.com","extra":{"a":[1,{"b":"\x41]}"}],"c":null},"items":[{"id":1,"name":"A"}],"more":[[["x"]]],"itemsCount":21000}`,
			func(h FeedHeader) bool {
				return h.Site == "https://example.com" && *h.ItemsCount == 21000 && h.Items == 1
			},
		},
		{
			"keys in another order",
			`{"itemsCount":"1","items":[{"id":1,"name":"A"}],"generationDate":"2023-10-29T06:15:03+02:00","site":"s"}`,
			func(h FeedHeader) bool {
				return *h.ItemsCount == 1 && h.GenerationDate.Equal(time.Date(2023, 10, 29, 4, 15, 3, 0, time.UTC)) &&
					h.GenerationDate.Location() == time.UTC && h.Site == "s"
			},
		},
		{
			"unreadable header values are ignored",
			`{"site":5,"generationDate":"yesterday","itemsCount":"many","items":[]}`,
			func(h FeedHeader) bool {
				return h.Site == "" && h.GenerationDate == nil && h.ItemsCount == nil && h.Items == 0
			},
		},
		{
			"byte order mark and whitespace",
			"\xEF\xBB\xBF \r\n\t[ {\"id\":1,\"name\":\"A\"} \n, {\"id\":2,\"name\":\"B\"}\n]\n\n",
			func(h FeedHeader) bool { return h.BareArray && h.Items == 2 },
		},
		{"empty bare array", `[]`, func(h FeedHeader) bool { return h.BareArray && h.Items == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := parseEveryWay(t, []byte(tt.doc))
			if res.err != nil {
				t.Fatalf("ParseFeed: %v", res.err)
			}
			if !tt.check(res.header) {
				t.Errorf("header = %+v", res.header)
			}
		})
	}
}

// TestParseFeedOddities runs one item per case through the whole parser (so
// every case is also read one byte at a time) and checks the profile.
func TestParseFeedOddities(t *testing.T) {
	tests := []struct {
		name  string
		item  string
		check func(p db.Profile) bool
	}{
		// The live feed's \xNN escapes and invalid UTF-8.
		{"\\xNN emoji", `{"id":1,"name":"Lexi","aliases":["Lexi \xF0\x9F\x98\x8D","\xf0\x9f\x98\x8d"]}`,
			func(p db.Profile) bool { return reflect.DeepEqual(p.Aliases, []string{"Lexi 😍", "😍"}) }},
		{"\\xNN invalid sequence", `{"id":1,"name":"Ren\xE9e","aliases":["\xC3\x28"]}`,
			func(p db.Profile) bool { return p.Name == "Ren\uFFFDe" && p.Aliases[0] == "\uFFFD(" }},
		{"\\xNN quote, backslash and slash", `{"id":1,"name":"a\x22b\x5Cc\x2Fd"}`,
			func(p db.Profile) bool { return p.Name == `a"b\c/d` }},
		{"\\xNN control byte", `{"id":1,"name":"a\x09b"}`, func(p db.Profile) bool { return p.Name == "a\tb" }},
		{"\\xNN next to valid escapes", `{"id":1,"name":"\u00e9\xC3\xA9\n\/"}`, func(p db.Profile) bool { return p.Name == "éé\n/" }},
		{"raw invalid UTF-8", "{\"id\":1,\"name\":\"Zo\xEBe\",\"aliases\":[\"\xFF\xFE\"]}",
			func(p db.Profile) bool { return p.Name == "Zo\uFFFDe" && p.Aliases[0] == "\uFFFD\uFFFD" }},
		{"raw control byte", "{\"id\":1,\"name\":\"a\tb\x01c\"}", func(p db.Profile) bool { return p.Name == "a\tb\x01c" }},
		{"other invalid escapes keep their backslash", `{"id":1,"name":"a\qb","aliases":["\x4","\xZZ","\u12G4","\'"]}`,
			func(p db.Profile) bool {
				return p.Name == `a\qb` && reflect.DeepEqual(p.Aliases, []string{`\x4`, `\xZZ`, `\u12G4`, `\'`})
			}},
		{"surrogate pair", `{"id":1,"name":"\ud83d\ude0d"}`, func(p db.Profile) bool { return p.Name == "😍" }},
		{"lone surrogate", `{"id":1,"name":"a\ud83d"}`, func(p db.Profile) bool { return p.Name == "a\uFFFD" }},

		// Aliases.
		{"trailing U+00A0 and other spaces trimmed", "{\"id\":1,\"name\":\"A\",\"aliases\":[\"Alana\u00a0\",\"Alana\",\" Alana \",\"\u2003Bea\u200b\",\"Cy\\u00a0\"]}",
			func(p db.Profile) bool { return reflect.DeepEqual(p.Aliases, []string{"Alana", "Bea", "Cy"}) }},
		{"empty entries dropped", `{"id":1,"name":"A","aliases":["","  ","X",null]}`,
			func(p db.Profile) bool { return reflect.DeepEqual(p.Aliases, []string{"X"}) }},
		{"only empty entries: an empty list", `{"id":1,"name":"A","aliases":[""]}`,
			func(p db.Profile) bool { return p.Aliases != nil && len(p.Aliases) == 0 }},
		{"empty list stays empty", `{"id":1,"name":"A","aliases":[]}`,
			func(p db.Profile) bool { return p.Aliases != nil && len(p.Aliases) == 0 }},
		{"absent aliases are unknown", `{"id":1,"name":"A"}`, func(p db.Profile) bool { return p.Aliases == nil }},
		{"null aliases are unknown", `{"id":1,"name":"A","aliases":null}`, func(p db.Profile) bool { return p.Aliases == nil }},
		{"duplicates removed case-insensitively, first spelling kept", `{"id":1,"name":"A","aliases":["Gina","gina","GINA","Rosa","Gina","Ärzte","ÄRZTE"]}`,
			func(p db.Profile) bool { return reflect.DeepEqual(p.Aliases, []string{"Gina", "Rosa", "Ärzte"}) }},
		{"own name and glued notes kept", `{"id":1,"name":"Allison Wyte","aliases":["Allison Wyte","Alana(als)","allison wyte"]}`,
			func(p db.Profile) bool { return reflect.DeepEqual(p.Aliases, []string{"Allison Wyte", "Alana(als)"}) }},

		// Attributes.
		{"pipe-joined values", `{"id":1,"name":"A","attributes":{"hairColor":"Blonde|Brunette","ethnicity":"Middle Eastern|White"}}`,
			func(p db.Profile) bool {
				return reflect.DeepEqual([]string(p.HairColors), []string{"Blonde", "Brunette"}) &&
					reflect.DeepEqual([]string(p.Ethnicities), []string{"Middle Eastern", "White"})
			}},
		{"pipe parts trimmed, empties and duplicates dropped", `{"id":1,"name":"A","attributes":{"hairColor":" Blonde | |blonde|Red "}}`,
			func(p db.Profile) bool { return reflect.DeepEqual([]string(p.HairColors), []string{"Blonde", "Red"}) }},
		{"empty attribute string is unknown", `{"id":1,"name":"A","attributes":{"hairColor":"","ethnicity":"|"}}`,
			func(p db.Profile) bool { return p.HairColors == nil && p.Ethnicities == nil }},
		{"attribute list tolerated", `{"id":1,"name":"A","attributes":{"hairColor":["Blonde","Red|Black"]}}`,
			func(p db.Profile) bool {
				return reflect.DeepEqual([]string(p.HairColors), []string{"Blonde", "Red", "Black"})
			}},
		{"absent attributes stay nil", `{"id":1,"name":"A","attributes":{"tattoos":false,"piercings":true,"gender":"female","orientation":"straight","stats":{"views":5}}}`,
			func(p db.Profile) bool {
				return p.HairColors == nil && p.Ethnicities == nil && p.BreastSize == nil && p.BreastType == nil &&
					p.Age == nil && p.Rank == nil && p.Subscriptions == nil && *p.Views == 5 && !*p.Tattoos && *p.Piercings
			}},
		{"no attributes at all", `{"id":1,"name":"A"}`,
			func(p db.Profile) bool {
				return p.Tattoos == nil && p.Piercings == nil && p.Gender == nil && p.Views == nil && p.License == nil &&
					p.WLStatus == nil && p.Link == nil && p.Thumbnails == nil
			}},
		{"null is absent", `{"id":1,"name":"A","license":null,"wlStatus":null,"link":null,"thumbnails":null,"attributes":{"age":null,"hairColor":null,"tattoos":null,"stats":null}}`,
			func(p db.Profile) bool {
				return p.License == nil && p.WLStatus == nil && p.Link == nil && p.Thumbnails == nil && p.Age == nil &&
					p.HairColors == nil && p.Tattoos == nil && p.Views == nil
			}},
		{"null attributes", `{"id":1,"name":"A","attributes":null}`, func(p db.Profile) bool { return p.Gender == nil }},
		{"gender and orientation lower-cased", `{"id":1,"name":"A","attributes":{"gender":"Couple","orientation":" Straight "}}`,
			func(p db.Profile) bool { return *p.Gender == "couple" && *p.Orientation == "straight" }},
		{"breast type kept, trimmed", `{"id":1,"name":"A","attributes":{"breastType":" DDD "}}`,
			func(p db.Profile) bool { return *p.BreastType == "DDD" }},
		{"numeric strings; a negative one is unknown", `{"id":"42","name":"A","attributes":{"breastSize":"34","age":" 42 ","stats":{"views":"449745","monthlySearches":"420000000","rank":"-3"}}}`,
			func(p db.Profile) bool {
				return p.FeedID == 42 && *p.BreastSize == 34 && *p.Age == 42 && *p.Views == 449745 && *p.MonthlySearches == 420000000 && p.Rank == nil // -3 breaks the rule: unknown
			}},
		{"exact numbers in other notations", `{"id":4.2e1,"name":"A","attributes":{"age":42.0,"stats":{"monthlySearches":4.2e8}}}`,
			func(p db.Profile) bool { return p.FeedID == 42 && *p.Age == 42 && *p.MonthlySearches == 420000000 }},
		{"64-bit stats", `{"id":1,"name":"A","attributes":{"stats":{"views":9223372036854775807}}}`,
			func(p db.Profile) bool { return *p.Views == 9223372036854775807 }},
		{"blank number string is unknown", `{"id":1,"name":"A","attributes":{"age":"","stats":{"views":" "}}}`,
			func(p db.Profile) bool { return p.Age == nil && p.Views == nil }},

		// Name, license, link.
		{"name trimmed of U+00A0", "{\"id\":1,\"name\":\"\u00a0Ava Jolie\u00a0 \"}", func(p db.Profile) bool { return p.Name == "Ava Jolie" }},
		{"license as is", `{"id":1,"name":"A","license":"PREMIUM"}`, func(p db.Profile) bool { return *p.License == "PREMIUM" }},
		{"empty license is unknown", `{"id":1,"name":"A","license":""}`, func(p db.Profile) bool { return p.License == nil }},
		{"link byte for byte", `{"id":1,"name":"A","link":"https:\/\/www.pornhub.com\/pornstar\/a-b "}`,
			func(p db.Profile) bool { return *p.Link == "https://www.pornhub.com/pornstar/a-b " }},
		{"unknown keys ignored", `{"id":1,"name":"A","newField":{"x":[1,2,{"y":null}]},"attributes":{"newAttr":1,"stats":{"newStat":"x"}}}`,
			func(p db.Profile) bool { return p.Name == "A" }},

		// Thumbnails.
		{"several URLs per thumbnail", `{"id":1,"name":"A","thumbnails":[{"type":"pc","width":234,"height":344,"urls":["https:\/\/x\/1.jpg","https:\/\/X\/2.jpg"]},{"type":"mobile","urls":["https:\/\/x\/1.jpg"]}]}`,
			func(p db.Profile) bool {
				th := p.Thumbnails
				return len(th) == 3 && th[0].URL == "https://x/1.jpg" && th[1].URL == "https://X/2.jpg" &&
					th[1].Type == "pc" && *th[1].Width == 234 && *th[1].Height == 344 &&
					th[2].Type == "mobile" && th[2].Width == nil && th[2].Height == nil &&
					th[1].URLHash == db.URLHash("https://x/2.jpg") && th[0].URLHash == th[2].URLHash
			}},
		{"thumbnails without URLs dropped", `{"id":1,"name":"A","thumbnails":[{"type":"pc","urls":[]},{"type":"pc","urls":[""," "]},{"type":"pc"},null,{"type":"tablet","urls":["u"]}]}`,
			func(p db.Profile) bool { return len(p.Thumbnails) == 1 && p.Thumbnails[0].Type == "tablet" }},
		{"empty thumbnails", `{"id":1,"name":"A","thumbnails":[]}`,
			func(p db.Profile) bool { return p.Thumbnails != nil && len(p.Thumbnails) == 0 }},
		{"thumbnail sizes as strings", `{"id":1,"name":"A","thumbnails":[{"type":"pc","width":"234","height":"344","urls":["u"]}]}`,
			func(p db.Profile) bool { return *p.Thumbnails[0].Width == 234 && *p.Thumbnails[0].Height == 344 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := parseEveryWay(t, []byte("["+tt.item+"]"))
			if res.err != nil {
				t.Fatalf("ParseFeed: %v", res.err)
			}
			if len(res.rejects) > 0 {
				t.Fatalf("rejected: %s", res.rejects[0].Reason)
			}
			p := res.profiles[0]
			checkDelivered(t, p)
			if !tt.check(p) {
				t.Errorf("profile: name %q aliases %q thumbnails %+v fields %+v", p.Name, p.Aliases, p.Thumbnails, p.PornstarFields)
			}
		})
	}
}

func TestParseFeedWLStatus(t *testing.T) {
	tests := []struct {
		value  string
		want   string // "true", "false", "nil" or a reject reason
		reason string
	}{
		{`"1"`, "true", ""}, {`"0"`, "false", ""}, {`true`, "true", ""}, {`false`, "false", ""},
		{`1`, "true", ""}, {`0`, "false", ""}, {`"true"`, "true", ""}, {`"FALSE"`, "false", ""}, {`" 1 "`, "true", ""},
		{`""`, "nil", ""}, {`null`, "nil", ""},
		{`"yes"`, "", `wlStatus: want a boolean (true, false, "0", "1", 0 or 1), got "yes"`},
		{`2`, "", `wlStatus: want a boolean (true, false, "0", "1", 0 or 1), got 2`},
		{`"2"`, "", `wlStatus: want a boolean (true, false, "0", "1", 0 or 1), got "2"`},
		{`[1]`, "", `wlStatus: want a boolean (true, false, "0", "1", 0 or 1), got [1]`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			res := parseEveryWay(t, []byte(`[{"id":7,"name":"A","wlStatus":`+tt.value+`}]`))
			if res.err != nil {
				t.Fatal(res.err)
			}
			if tt.want == "" {
				if len(res.rejects) != 1 || res.rejects[0].Reason != tt.reason {
					t.Fatalf("rejects = %+v, want reason %q", res.rejects, tt.reason)
				}
				return
			}
			if len(res.profiles) != 1 {
				t.Fatalf("rejected: %+v", res.rejects)
			}
			got := "nil"
			if w := res.profiles[0].WLStatus; w != nil {
				got = fmt.Sprint(*w)
			}
			if got != tt.want {
				t.Errorf("wl_status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseFeedRejects(t *testing.T) {
	long := strings.Repeat("é", 256)
	tests := []struct {
		name   string
		item   string
		feedID int64 // 0: none
		reason string
	}{
		{"missing id", `{"name":"A"}`, 0, "id: missing"},
		{"null id", `{"id":null,"name":"A"}`, 0, "id: missing"},
		{"zero id", `{"id":0,"name":"A"}`, 0, "id: want a positive integer, got 0"},
		{"negative id", `{"id":-5,"name":"A"}`, 0, "id: want a positive integer, got -5"},
		{"text id", `{"id":"abc","name":"A"}`, 0, `id: want a positive integer, got "abc"`},
		{"fractional id", `{"id":1.5,"name":"A"}`, 0, "id: want a positive integer, got 1.5"},
		{"boolean id", `{"id":true,"name":"A"}`, 0, "id: want a positive integer, got true"},
		{"missing name", `{"id":7}`, 7, "name: missing"},
		{"empty name", `{"id":7,"name":""}`, 7, "name: is empty"},
		{"blank name", "{\"id\":7,\"name\":\" \u00a0 \"}", 7, "name: is empty"},
		{"number name", `{"id":7,"name":42}`, 7, "name: want a string, got 42"},
		{"text age", `{"id":7,"name":"A","attributes":{"age":"abc"}}`, 7, `attributes.age: want an integer, got "abc"`},
		{"fractional breast size", `{"id":7,"name":"A","attributes":{"breastSize":34.5}}`, 7, `attributes.breastSize: want an integer, got 34.5`},
		{"object stat", `{"id":7,"name":"A","attributes":{"stats":{"rankWl":{}}}}`, 7, "attributes.stats.rankWl: want an integer, got {}"},
		{"boolean tattoos as text", `{"id":7,"name":"A","attributes":{"tattoos":"many"}}`, 7, `attributes.tattoos: want a boolean (true, false, "0", "1", 0 or 1), got "many"`},
		{"number gender", `{"id":7,"name":"A","attributes":{"gender":1}}`, 7, "attributes.gender: want a string, got 1"},
		{"number hair colour", `{"id":7,"name":"A","attributes":{"hairColor":1}}`, 7, "attributes.hairColor: want an array of strings, got 1"},
		{"attributes not an object", `{"id":7,"name":"A","attributes":[]}`, 7, "attributes: want an object, got []"},
		{"stats not an object", `{"id":7,"name":"A","attributes":{"stats":5}}`, 7, "attributes.stats: want an object, got 5"},
		{"aliases a string", `{"id":7,"name":"A","aliases":"Ava"}`, 7, `aliases: want an array of strings, got "Ava"`},
		{"alias a number", `{"id":7,"name":"A","aliases":["a",1]}`, 7, "aliases[1]: want a string, got 1"},
		{"thumbnails an object", `{"id":7,"name":"A","thumbnails":{}}`, 7, "thumbnails: want an array, got {}"},
		{"thumbnail a string", `{"id":7,"name":"A","thumbnails":["x"]}`, 7, `thumbnails[0]: want an object, got "x"`},
		{"thumbnail urls a string", `{"id":7,"name":"A","thumbnails":[{"urls":"u"}]}`, 7, `thumbnails[0].urls: want an array of strings, got "u"`},
		{"thumbnail width text", `{"id":7,"name":"A","thumbnails":[{"width":"wide","urls":["u"]}]}`, 7, `thumbnails[0].width: want an integer, got "wide"`},
		{"item a number", `42`, 0, "item: want an object, got 42"},
		{"item null", `null`, 0, "item: want an object, got null"},
		{"item an array", `[{"id":7}]`, 0, `item: want an object, got [{"id":7}]`},
		{"long value cut in the reason", `{"id":7,"name":"A","attributes":{"age":"` + strings.Repeat("x", 100) + `"}}`, 7,
			`attributes.age: want an integer, got "` + strings.Repeat("x", 39) + `... (102 bytes)`},
		{"name too long for the store", `{"id":7,"name":"` + long + `"}`, 7,
			"profile: the store would refuse it: name is 256 characters long, at most 255 allowed"},
		{"NUL in name", `{"id":7,"name":"a\u0000b"}`, 7, "profile: the store would refuse it: name contains a NUL character"},
		{"NUL from \\x00", `{"id":7,"name":"a\x00b"}`, 7, "profile: the store would refuse it: name contains a NUL character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The bad item sits between two good ones: parsing goes on.
			doc := `{"items":[{"id":1000,"name":"Before"},` + tt.item + `,{"id":1001,"name":"After"}]}`
			res := parseEveryWay(t, []byte(doc))
			if res.err != nil {
				t.Fatalf("ParseFeed: %v", res.err)
			}
			if len(res.profiles) != 2 || res.profiles[1].Name != "After" || !reflect.DeepEqual(res.indexes, []int{0, 2}) {
				t.Fatalf("delivered %d profiles at %v, want Before and After", len(res.profiles), res.indexes)
			}
			if len(res.rejects) != 1 {
				t.Fatalf("rejects = %+v", res.rejects)
			}
			rej := res.rejects[0]
			if rej.Index != 1 || rej.Reason != tt.reason || feedIDOf(rej) != tt.feedID {
				t.Errorf("reject = {index %d, id %d, %q}\nwant   {index 1, id %d, %q}", rej.Index, feedIDOf(rej), rej.Reason, tt.feedID, tt.reason)
			}
			if h := res.header; h.Items != 3 || h.Rejected != 1 {
				t.Errorf("header = %+v", h)
			}
		})
	}
}

// TestParseFeedWarnings: a value its field's rule refuses does not lose the
// item: it is delivered with that value unknown, one warning per value, and
// its content hash is that of the item without the value.
func TestParseFeedWarnings(t *testing.T) {
	long := strings.Repeat("é", 256)
	type warned struct{ field, value, reason string }
	tests := []struct {
		name     string
		item     string
		same     string // an item with the same profile, the refused values left out
		warnings []warned
	}{
		{"negative age", `{"id":7,"name":"A","attributes":{"age":-1,"gender":"f"}}`, `{"id":7,"name":"A","attributes":{"gender":"f"}}`,
			[]warned{{"age", "-1", "must be an integer from 0 to 2147483647, not -1"}}},
		{"negative numeric string", `{"id":7,"name":"A","attributes":{"breastSize":"-34"}}`, `{"id":7,"name":"A"}`,
			[]warned{{"breast_size", "-34", "must be an integer from 0 to 2147483647, not -34"}}},
		{"negative stats, in field order", `{"id":7,"name":"A","attributes":{"stats":{"rankWl":-9,"views":-1,"rank":5}}}`,
			`{"id":7,"name":"A","attributes":{"stats":{"rank":5}}}`,
			[]warned{
				{"views", "-1", "must be an integer from 0 to 9223372036854775807, not -1"},
				{"rank_wl", "-9", "must be an integer from 0 to 9223372036854775807, not -9"},
			}},
		{"license too long", `{"id":7,"name":"A","license":"` + strings.Repeat("R", 33) + `"}`, `{"id":7,"name":"A"}`,
			[]warned{{"license", `"` + strings.Repeat("R", 33) + `"`, "is 33 characters long, at most 32 allowed"}}},
		{"too many hair colours", `{"id":7,"name":"A","attributes":{"hairColor":"` + numberedValues(51) + `"}}`, `{"id":7,"name":"A"}`,
			[]warned{{"hair_colors", `"51 values"`, "has 51 values, at most 50 allowed"}}},
		{"one alias too long", `{"id":7,"name":"A","aliases":["Ava","` + long + `","Eve"]}`, `{"id":7,"name":"A","aliases":["Ava","Eve"]}`,
			[]warned{{"aliases/1", `"` + strings.Repeat("é", 19) + `... (514 bytes)`, "is 256 characters long, at most 255 allowed"}}},
		{"negative thumbnail width", `{"id":7,"name":"A","thumbnails":[{"type":"pc","width":-1,"height":2,"urls":["https://x.test/a.jpg"]}]}`,
			`{"id":7,"name":"A","thumbnails":[{"type":"pc","height":2,"urls":["https://x.test/a.jpg"]}]}`,
			[]warned{{"thumbnails/0/width", "-1", "must be an integer from 0 to 2147483647, not -1"}}},
		// A number too large for its column breaks the rule as a negative does.
		{"breast size beyond 32 bits", `{"id":7,"name":"A","attributes":{"breastSize":3000000000,"age":30}}`, `{"id":7,"name":"A","attributes":{"age":30}}`,
			[]warned{{"breast_size", "3000000000", "must be an integer from 0 to 2147483647, not 3000000000"}}},
		{"stat beyond 64 bits, also as a string", `{"id":7,"name":"A","attributes":{"stats":{"views":99999999999999999999,"rankWl":"-99999999999999999999","rank":3}}}`,
			`{"id":7,"name":"A","attributes":{"stats":{"rank":3}}}`,
			[]warned{
				{"views", "99999999999999999999", "must be an integer from 0 to 9223372036854775807, not 99999999999999999999"},
				{"rank_wl", `"-99999999999999999999"`, "must be an integer from 0 to 9223372036854775807, not -99999999999999999999"},
			}},
		{"thumbnail height beyond 32 bits", `{"id":7,"name":"A","thumbnails":[{"type":"pc","width":3,"height":4294967296,"urls":["https://x.test/a.jpg"]}]}`,
			`{"id":7,"name":"A","thumbnails":[{"type":"pc","width":3,"urls":["https://x.test/a.jpg"]}]}`,
			[]warned{{"thumbnails/0/height", "4294967296", "must be an integer from 0 to 2147483647, not 4294967296"}}},
		{"thumbnail URL too long", `{"id":7,"name":"A","thumbnails":[{"type":"pc","urls":["https://x.test/` + strings.Repeat("a", 2040) + `","https://x.test/b.jpg"]}]}`,
			`{"id":7,"name":"A","thumbnails":[{"type":"pc","urls":["https://x.test/b.jpg"]}]}`,
			[]warned{{"thumbnails/0/url", `"https://x.test/` + strings.Repeat("a", 24) + `... (2057 bytes)`, "is 2055 characters long, at most 2048 allowed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"items":[{"id":1000,"name":"Before"},` + tt.item + `,{"id":1001,"name":"After"}]}`
			res := parseEveryWay(t, []byte(doc))
			if res.err != nil || len(res.rejects) != 0 {
				t.Fatalf("ParseFeed: %v, rejects %+v", res.err, res.rejects)
			}
			if len(res.profiles) != 3 {
				t.Fatalf("delivered %d profiles, want all 3", len(res.profiles))
			}
			var got []warned
			for _, w := range res.warnings {
				if w.Index != 1 || w.FeedID != 7 {
					t.Errorf("warning of item %d (id %d), want item 1 (id 7)", w.Index, w.FeedID)
				}
				got = append(got, warned{w.Field, w.Value, w.Reason})
			}
			if !reflect.DeepEqual(got, tt.warnings) {
				t.Errorf("warnings\n got %q\nwant %q", got, tt.warnings)
			}
			if res.header.Warnings != len(tt.warnings) || res.header.Rejected != 0 || res.header.Items != 3 {
				t.Errorf("header = %+v", res.header)
			}
			same := parseEveryWay(t, []byte(`{"items":[`+tt.same+`]}`))
			if len(same.profiles) != 1 || len(same.warnings) != 0 {
				t.Fatalf("the item without the values: %+v", same)
			}
			if !reflect.DeepEqual(res.profiles[1], same.profiles[0]) {
				t.Errorf("profile\n got %+v\nwant %+v (the item without the refused values)", res.profiles[1], same.profiles[0])
			}
		})
	}
}

func numberedValues(n int) string {
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("c%d", i)
	}
	return strings.Join(values, "|")
}

func feedIDOf(rej Reject) int64 {
	if rej.FeedID == nil {
		return 0
	}
	return *rej.FeedID
}

func TestParseFeedDuplicateIDs(t *testing.T) {
	tests := []struct {
		name        string
		items       string
		wantIndexes []int
		wantRejects []string
	}{
		{
			"later duplicate rejected",
			`{"id":42,"name":"A"},{"id":7,"name":"B"},{"id":42,"name":"C"},{"id":"42","name":"D"}`,
			[]int{0, 1},
			[]string{"2 42 duplicate id 42, first at item 0", "3 42 duplicate id 42, first at item 0"},
		},
		{
			"a rejected item claims its id first",
			`{"id":42,"name":"A","attributes":{"age":"x"}},{"id":42,"name":"B"}`,
			nil,
			[]string{`0 42 attributes.age: want an integer, got "x"`, "1 42 duplicate id 42, first at item 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := parseEveryWay(t, []byte("["+tt.items+"]"))
			if res.err != nil {
				t.Fatal(res.err)
			}
			var rejects []string
			for _, r := range res.rejects {
				rejects = append(rejects, fmt.Sprintf("%d %d %s", r.Index, feedIDOf(r), r.Reason))
			}
			if !reflect.DeepEqual(res.indexes, tt.wantIndexes) || !reflect.DeepEqual(rejects, tt.wantRejects) {
				t.Errorf("delivered %v, rejected %q\nwant %v, %q", res.indexes, rejects, tt.wantIndexes, tt.wantRejects)
			}
		})
	}
}

func TestParseFeedBroken(t *testing.T) {
	deep := "[" + strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1) + "]"
	tests := []struct {
		name       string
		doc        string
		offset     int64
		reason     string
		deliversOK int // items delivered before the break
	}{
		{"empty", "", 0, "the document is empty", 0},
		{"only whitespace", " \n\t", 3, "the document is empty", 0},
		{"top-level number", "42", 0, "the document is a number, want an object or an array", 0},
		{"top-level string", `"feed"`, 0, "the document is a string, want an object or an array", 0},
		{"top-level null", ` null`, 1, "the document is null, want an object or an array", 0},
		{"top-level garbage", `<html>`, 0, `the document is '<', want an object or an array`, 0},
		{"items an object", `{"items": {}}`, 10, "items is an object, want an array", 0},
		{"items null", `{"site":"x","items":null}`, 20, "items is null, want an array", 0},
		{"items a string", `{"items":"[]"}`, 9, "items is a string, want an array", 0},
		{"no items", `{"site":"x","itemsCount":0}`, 27, "the top-level object has no items array", 0},
		{"empty object", `{}`, 2, "the top-level object has no items array", 0},
		{"items twice", `{"items":[],"items":[]}`, 20, `the top-level key "items" appears twice`, 0},
		{"garbage after the document", `[{"id":1,"name":"A"}] x`, 22, "found 'x' after the end of the document", 1},
		{"second document", `{"items":[]} {"items":[]}`, 13, "found an object after the end of the document", 0},
		{"extra closing brace", `{"items":[]}}`, 12, "found '}' after the end of the document", 0},
		{"trailing comma in items", `[{"id":1,"name":"A"},]`, 21, "found ']', want a value", 1},
		{"missing comma between items", `[{"id":1,"name":"A"} {"id":2,"name":"B"}]`, 21, "found an object after item 0, want ',' or ']'", 1},
		{"missing colon", `{"items" []}`, 9, `found an array after the key "items", want ':'`, 0},
		{"unquoted key", `{items:[]}`, 1, "found 'i', want a key of the top-level object", 0},
		{"trailing comma in object", `{"items":[],}`, 12, "found '}', want a key of the top-level object", 0},
		{"missing comma in object", `{"items":[] "site":"x"}`, 12, `found a string after the value of "items", want ',' or '}'`, 0},
		{"mismatched bracket", `[{"id":1,"name":"A"},{"id":2]`, 28, "found ']', want '}'", 1},
		{"invalid JSON inside an item", `[{"id":1,"name":"A"},{"id":2,}]`, 29,
			"item 1 is not valid JSON: invalid character '}' looking for beginning of object key string", 1},
		{"bare word item", `[{"id":1,"name":"A"},tru]`, 23, "item 1 is not valid JSON: invalid character ' ' in literal true (expecting 'e')", 1},
		{"truncated in a string", `[{"id":1,"name":"A"},{"id":2,"name":"B`, 38, "unexpected end of the document inside a string", 1},
		{"truncated between items", `{"site":"x","items":[{"id":1,"name":"A"},`, 41, "unexpected end of the document in the items array", 1},
		{"truncated after items", `{"items":[{"id":1,"name":"A"}]`, 30, "unexpected end of the document in the top-level object", 1},
		{"truncated in a header value", `{"items":[],"extra":{"a":[1,`, 28, "unexpected end of the document inside a value", 0},
		{"too deep", deep, maxNesting + 1, fmt.Sprintf("values nest deeper than %d levels", maxNesting), 0},
		{"broken header value", `{"items":[],"extra":tru}`, 22, `the value of "extra" is not valid JSON: invalid character ' ' in literal true (expecting 'e')`, 0},
		{"half a byte order mark", "\xEF\xBB[]", 2, "found an array at the start of the document", 0},
		{"control byte outside strings", "[\x01]", 1, "found byte 0x01, want a value", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := parseEveryWay(t, []byte(tt.doc))
			var syntaxErr *FeedSyntaxError
			if !errors.As(res.err, &syntaxErr) || !errors.Is(res.err, ErrBrokenFeed) {
				t.Fatalf("error = %v, want a *FeedSyntaxError", res.err)
			}
			if syntaxErr.Offset != tt.offset || syntaxErr.Reason != tt.reason {
				t.Errorf("error at byte %d: %q\nwant at byte %d: %q", syntaxErr.Offset, syntaxErr.Reason, tt.offset, tt.reason)
			}
			if len(res.profiles) != tt.deliversOK {
				t.Errorf("delivered %d profiles before the error, want %d", len(res.profiles), tt.deliversOK)
			}
		})
	}
}

// TestParseFeedTruncated cuts the head (the fixture, and the real one when
// MARQUEE_TEST_SAMPLES names it) at many offsets: every cut is an error
// naming the cut, never a panic or a silently shorter feed.
func TestParseFeedTruncated(t *testing.T) {
	for _, sample := range samples.Head.WithReal() {
		t.Run(sample.Name, func(t *testing.T) { testParseFeedTruncated(t, sample.Read(t)) })
	}
}

func testParseFeedTruncated(t *testing.T, data []byte) {
	var cuts []int
	for n := 0; n < len(data); n++ {
		if n < 300 || n > len(data)-100 || n%211 == 0 {
			cuts = append(cuts, n)
		}
	}
	for _, n := range cuts {
		prefix := data[:n]
		if n == 0 || len(bytes.TrimSpace(data[n:])) == 0 {
			continue // only the final newline is missing: still the whole document
		}
		res := parseAll(bytes.NewReader(prefix))
		var syntaxErr *FeedSyntaxError
		if !errors.As(res.err, &syntaxErr) {
			t.Fatalf("cut at %d: error %v, want a *FeedSyntaxError", n, res.err)
		}
		if syntaxErr.Offset != int64(n) || !strings.HasPrefix(syntaxErr.Reason, "unexpected end of the document") {
			t.Fatalf("cut at %d: %v", n, res.err)
		}
		if len(res.profiles) > 100 || len(res.rejects) > 0 {
			t.Fatalf("cut at %d: %d profiles, %d rejects", n, len(res.profiles), len(res.rejects))
		}
	}
	if half := parseEveryWay(t, data[:len(data)/2]); half.err == nil {
		t.Fatal("half the document parsed without error")
	}
}

var errSource = errors.New("connection reset")

func TestParseFeedReadError(t *testing.T) {
	for _, sample := range samples.Older.WithReal() {
		t.Run(sample.Name, func(t *testing.T) {
			data := sample.Read(t)
			r := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(errSource))
			res := parseAll(r)
			var syntaxErr *FeedSyntaxError
			if !errors.Is(res.err, errSource) || errors.As(res.err, &syntaxErr) {
				t.Fatalf("error = %v, want the read error, not a syntax error", res.err)
			}
			if len(res.profiles) == 0 || len(res.profiles) >= 8 {
				t.Errorf("delivered %d profiles before the read error", len(res.profiles))
			}
		})
	}
}

func TestParseFeedCallbackError(t *testing.T) {
	errStop := errors.New("stop")
	data := samples.Head.Read(t)
	delivered := 0
	h, err := ParseFeed(bytes.NewReader(data), func(int, db.Profile) error {
		if delivered++; delivered == 3 {
			return errStop
		}
		return nil
	}, func(Reject) error { return nil })
	if !errors.Is(err, errStop) || delivered != 3 || h.Items != 3 {
		t.Fatalf("error %v after %d profiles (header %+v), want errStop after 3", err, delivered, h)
	}

	_, err = ParseFeed(strings.NewReader(`[{"id":1}]`), func(int, db.Profile) error { return nil },
		func(Reject) error { return errStop })
	if !errors.Is(err, errStop) {
		t.Fatalf("onReject error: %v", err)
	}
}

// repeatReader yields n copies of one byte without holding them.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.n))
	for i := range p[:n] {
		p[i] = r.b
	}
	r.n -= int64(n)
	return n, nil
}

// TestParseFeedOversizedItem streams a 10 MB name: the item is rejected and
// the parser's allocations stay near MaxItemBytes, not the item's size.
func TestParseFeedOversizedItem(t *testing.T) {
	const nameBytes = 10 << 20
	tests := []struct {
		name          string
		before, after string // the item is before[1:] + name + after up to its '}'
		wantID        int64
	}{
		{"id before the name", `[{"id":42,"name":"`, `"},{"id":43,"name":"B"},{"id":42,"name":"C"}]`, 42},
		{"id after the name", `[{"name":"`, `","id":42},{"id":43,"name":"B"}]`, 0},
		{"escapes in the prefix", `[{"aliases":["\xF0\x9F\x98\x8D"],"id":"42","name":"`, `"},{"id":43,"name":"B"}]`, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := io.MultiReader(strings.NewReader(tt.before), &repeatReader{b: 'a', n: nameBytes}, strings.NewReader(tt.after))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res := parseAll(src)
			runtime.ReadMemStats(&after)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if len(res.profiles) != 1 || res.profiles[0].FeedID != 43 {
				t.Fatalf("rejects %+v, profiles %d", res.rejects, len(res.profiles))
			}
			if tt.wantID != 0 && strings.Contains(tt.after, `"id":42,"name":"C"`) {
				// The oversized item claimed its id: a later one is a duplicate.
				if len(res.rejects) != 2 || res.rejects[1].Reason != "duplicate id 42, first at item 0" {
					t.Fatalf("rejects %+v, want the later id 42 rejected as a duplicate", res.rejects)
				}
			} else if len(res.rejects) != 1 {
				t.Fatalf("rejects %+v", res.rejects)
			}
			rej := res.rejects[0]
			itemLength := len(tt.before) - 1 + nameBytes + strings.Index(tt.after, "}") + 1
			wantReason := fmt.Sprintf("item: %d bytes, more than the limit of %d", itemLength, MaxItemBytes)
			if rej.Index != 0 || feedIDOf(rej) != tt.wantID || rej.Reason != wantReason {
				t.Errorf("reject = {%d %d %q}, want {0 %d %q}", rej.Index, feedIDOf(rej), rej.Reason, tt.wantID, wantReason)
			}
			// Generous: the item buffer, its repaired copy and the read buffer.
			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 6*MaxItemBytes {
				t.Errorf("allocated %d bytes for a %d-byte item, want at most %d", allocated, nameBytes, 6*MaxItemBytes)
			}
		})
	}
}

// TestParseFeedBoundedMemory streams a generated feed five times the real
// one through a pipe: the live heap stays small, whatever the feed's size.
func TestParseFeedBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("parses 100,000 items")
	}
	const items = 100_000
	r, w := io.Pipe()
	go func() { w.CloseWithError(feedgen.Write(w, feedgen.Options{Items: items, Seed: 3})) }()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	baseline, peak := m.HeapAlloc, uint64(0)
	delivered := 0
	h, err := ParseFeed(r, func(int, db.Profile) error {
		if delivered++; delivered%10_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc-min(baseline, m.HeapAlloc))
		}
		return nil
	}, func(rej Reject) error { return fmt.Errorf("unexpected reject %+v", rej) })
	if err != nil || h.Items != items {
		t.Fatalf("header %+v, error %v", h, err)
	}
	// The ids seen so far (for duplicates) are the only state that grows:
	// a few MiB for 100,000 items.
	if peak > 16<<20 {
		t.Errorf("live heap grew by %d bytes while parsing, want under 16 MiB", peak)
	}
}

func TestRepairStrings(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"nothing to do", `{"a":"b\n\"\\\/"}`, `{"a":"b\n\"\\\/"}`},
		{"hex escapes become bytes", `"\xF0\x9F\x98\x8D"`, "\"\xF0\x9F\x98\x8D\""},
		{"lower-case hex", `"\xc3\xa9"`, "\"\xc3\xa9\""},
		{"JSON-special bytes stay escaped", `"\x22\x5C\x00\x1F"`, `"\"\\\u0000\u001f"`},
		{"raw control bytes escaped", "\"a\x01\tb\"", `"a\u0001\u0009b"`},
		{"outside strings untouched", "[1,\t2]", "[1,\t2]"},
		{"bad escapes keep the backslash", `"\q\x4\xG0\u12"`, `"\\q\\x4\\xG0\\u12"`},
		{"valid \\u kept", `"\u00e9"`, `"\u00e9"`},
		{"escaped quote does not end the string", `"a\"\x41"`, `"a\"A"`},
		{"backslash at the very end", `"abc\`, `"abc\\`},
		{"ends inside an escape", `"\xF`, `"\\xF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(repairStrings(nil, []byte(tt.in))); got != tt.want {
				t.Errorf("repairStrings(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseFeed: whatever the bytes, ParseFeed does not panic, accounts for
// every item it reports (each delivered or rejected, once, in order), only
// delivers profiles the store accepts, and reads the same whatever the read
// boundaries.
// needsTolerance reports whether data uses what ParseFeed tolerates and
// encoding/json refuses: a byte order mark, invalid UTF-8, a backslash
// (\xNN and other invalid escapes), a control byte inside a string.
func needsTolerance(data []byte) bool {
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) || !utf8.Valid(data) || bytes.IndexByte(data, '\\') >= 0 {
		return true
	}
	inString := false
	for _, c := range data {
		switch {
		case c == '"':
			inString = !inString
		case inString && c < 0x20:
			return true
		}
	}
	return false
}

// deeperThan reports whether data's brackets nest deeper than limit.
func deeperThan(data []byte, limit int) bool {
	depth, inString := 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > limit {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

func FuzzParseFeed(f *testing.F) {
	for _, sample := range []samples.Sample{samples.Older, samples.BareArray, samples.Quirks} {
		f.Add(sample.Read(f))
	}
	f.Add(samples.Head.Read(f)[:2048]) // small seeds keep minimisation quick
	for _, doc := range []string{
		`{"items":[{"id":1,"name":"Lexi","aliases":["Lexi \xF0\x9F\x98\x8D","\xC3\x28","\q"]}],"itemsCount":1}`,
		"[{\"id\":\"2\",\"name\":\"Zo\xEBe\u00a0\",\"wlStatus\":0,\"attributes\":{\"hairColor\":\"Blonde|Red\",\"age\":\"40\"}}]",
		`[{"id":3,"name":"A","thumbnails":[{"type":"pc","urls":["a","b",""]},{"urls":[]}]},{"id":3,"name":"B"}]`,
		`[{"id":4,"name":"A","attributes":{"age":"abc"}},42,null,{"name":"x"}]`,
		`{"items":{}}`, `{"items":[{"id":1,}]}`, `[{"id":1,"name":"A"}] x`, `[[[[`, `{"a":"\x`, "",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res := parseAll(bytes.NewReader(data))
		if res.err != nil {
			var syntaxErr *FeedSyntaxError
			if !errors.As(res.err, &syntaxErr) {
				t.Fatalf("error %v is not a *FeedSyntaxError", res.err)
			}
			if syntaxErr.Offset < 0 || syntaxErr.Offset > int64(len(data)) {
				t.Fatalf("error offset %d outside the input (%d bytes)", syntaxErr.Offset, len(data))
			}
		}
		h := res.header
		if h.Items != len(res.profiles)+len(res.rejects) || h.Rejected != len(res.rejects) {
			t.Fatalf("header %+v, delivered %d, rejected %d", h, len(res.profiles), len(res.rejects))
		}
		seen := make([]bool, h.Items)
		for _, i := range res.indexes {
			seen[i] = true
		}
		for _, r := range res.rejects {
			if seen[r.Index] {
				t.Fatalf("item %d both delivered and rejected", r.Index)
			}
			seen[r.Index] = true
			if r.Reason == "" {
				t.Fatalf("reject %d without a reason", r.Index)
			}
		}
		ids := map[int64]bool{}
		for i, p := range res.profiles {
			if i > 0 && res.indexes[i] <= res.indexes[i-1] {
				t.Fatalf("indexes out of order: %v", res.indexes)
			}
			if ids[p.FeedID] {
				t.Fatalf("id %d delivered twice", p.FeedID)
			}
			ids[p.FeedID] = true
			checkDelivered(t, p)
		}
		if diff := compareResults(parseAll(iotest.OneByteReader(bytes.NewReader(data))), res); diff != "" {
			t.Fatalf("one byte per read: %s", diff)
		}

		// Against encoding/json: a JSON array is always read to its end, item
		// by item; and what ParseFeed reads without error is JSON, where
		// none of its tolerances (escapes, control bytes, bad UTF-8, BOM)
		// were needed.
		if json.Valid(data) {
			var items []json.RawMessage
			if json.Unmarshal(data, &items) == nil && !deeperThan(data, maxNesting) {
				if res.err != nil || h.Items != len(items) || !h.BareArray {
					t.Fatalf("valid array of %d items: header %+v, error %v", len(items), h, res.err)
				}
			}
		} else if res.err == nil && !needsTolerance(data) {
			t.Fatalf("accepted a document that is not JSON: %q", data)
		}
	})
}
