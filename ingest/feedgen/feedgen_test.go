package feedgen_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"marquee/db"
	"marquee/ingest"
	"marquee/ingest/feedgen"
)

func generate(t testing.TB, o feedgen.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := feedgen.Write(&buf, o); err != nil {
		t.Fatalf("Write(%+v): %v", o, err)
	}
	return buf.Bytes()
}

// parsed is a generated feed as ParseFeed reads it.
type parsed struct {
	header   ingest.FeedHeader
	profiles []db.Profile
	byID     map[int64]db.Profile
	rejects  []ingest.Reject
}

func parse(t testing.TB, data []byte) parsed {
	t.Helper()
	res := parsed{byID: map[int64]db.Profile{}}
	var err error
	res.header, err = ingest.ParseFeed(bytes.NewReader(data), func(_ int, p db.Profile) error {
		res.profiles = append(res.profiles, p)
		res.byID[p.FeedID] = p
		return nil
	}, func(r ingest.Reject) error {
		res.rejects = append(res.rejects, r)
		return nil
	})
	if err != nil {
		t.Fatalf("ParseFeed: %v", err)
	}
	return res
}

func TestWriteIsDeterministic(t *testing.T) {
	base := feedgen.Options{Items: 2000, Seed: 7, Generation: 2, ChangeRatio: 0.1}
	digest := func(o feedgen.Options) [32]byte { return sha256.Sum256(generate(t, o)) }
	want := digest(base)
	if digest(base) != want {
		t.Fatal("the same options gave different bytes")
	}
	tests := []struct {
		name   string
		change func(o *feedgen.Options)
	}{
		{"another seed", func(o *feedgen.Options) { o.Seed = 8 }},
		{"another generation", func(o *feedgen.Options) { o.Generation = 3 }},
		{"another ratio", func(o *feedgen.Options) { o.ChangeRatio = 0.2 }},
		{"another image base", func(o *feedgen.Options) { o.ImageBase = "http://127.0.0.1:9/pics" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.change(&o)
			if digest(o) == want {
				t.Errorf("%+v gave the same bytes as %+v", o, base)
			}
		})
	}
}

// TestWriteLayout checks the real layout byte for byte where the real feed fixes it.
func TestWriteLayout(t *testing.T) {
	data := string(generate(t, feedgen.Options{Items: 3, Seed: 1}))
	lines := strings.Split(data, "\n")
	want := []string{
		"{",
		"\t\"site\": \"https://www.pornhub.com\",",
		"\t\"generationDate\": \"2023-10-29T04:15:03Z\",",
		"\t\"items\": [",
	}
	for i, line := range want {
		if lines[i] != line {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], line)
		}
	}
	for i := 4; i < 7; i++ {
		if !strings.HasPrefix(lines[i], "\t\t{\"attributes\":{") || strings.Contains(lines[i], "://") || !strings.Contains(lines[i], `https:\/\/`) {
			t.Errorf("item line %d = %.80q..., want one compact item with escaped slashes", i+1, lines[i])
		}
	}
	if tail := strings.Join(lines[7:], "\n"); tail != "\t\t],\n\t\"itemsCount\": 3\n}\n" {
		t.Errorf("tail = %q", tail)
	}
	empty := string(generate(t, feedgen.Options{Items: 0, Seed: 1}))
	if !strings.HasSuffix(empty, "\t\"items\": [\n\t\t],\n\t\"itemsCount\": 0\n}\n") {
		t.Errorf("empty feed = %q", empty)
	}
}

func TestWriteParsesWithoutRejects(t *testing.T) {
	tests := []feedgen.Options{
		{Items: 0, Seed: 1},
		{Items: 1, Seed: 1},
		{Items: 19, Seed: 2},
		{Items: 20, Seed: 3},
		{Items: 3000, Seed: 4},
		{Items: 3000, Seed: 4, Generation: 5, ChangeRatio: 0.5},
		{Items: 500, Seed: -9, Generation: 1, ChangeRatio: 1, ImageBase: "http://localhost:8099/img/"},
	}
	for _, o := range tests {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			feed := parse(t, generate(t, o))
			want, err := feedgen.Describe(o)
			if err != nil {
				t.Fatal(err)
			}
			if len(feed.rejects) != 0 {
				t.Fatalf("%d rejects, first %+v", len(feed.rejects), feed.rejects[0])
			}
			h := feed.header
			if h.Items != want.Items || len(feed.profiles) != want.Items || *h.ItemsCount != int64(want.Items) || h.BareArray {
				t.Fatalf("header %+v, %d profiles; Describe says %d items", h, len(feed.profiles), want.Items)
			}
			links := map[string]bool{}
			var previous int64
			for _, p := range feed.profiles {
				if p.FeedID <= previous {
					t.Fatalf("id %d after %d: ids must grow", p.FeedID, previous)
				}
				previous = p.FeedID
				if links[*p.Link] {
					t.Fatalf("link %s twice", *p.Link)
				}
				links[*p.Link] = true
				for _, th := range p.Thumbnails {
					base := o.ImageBase
					if base == "" {
						base = feedgen.DefaultImageBase
					}
					if !strings.HasPrefix(th.URL, strings.TrimSuffix(base, "/")+"/") && !strings.Contains(th.URL, "://di.") &&
						!strings.HasPrefix(th.URL, "http://127.0.0.1:8099/img/") {
						t.Fatalf("thumbnail URL %s is not under the image base", th.URL)
					}
				}
			}
		})
	}
}

// TestWriteHeadAndBareArray: Head cuts a generation to its first items,
// which are the whole generation's; BareArray writes the same items without
// the wrapper object.
func TestWriteHeadAndBareArray(t *testing.T) {
	whole := feedgen.Options{Items: 100, Seed: 5, Generation: 2, ChangeRatio: 0.5}
	all := parse(t, generate(t, whole))
	tests := []struct {
		name      string
		head      int
		bareArray bool
		want      int
	}{
		{"head of 8", 8, false, 8},
		{"head of 1 as a bare array", 1, true, 1},
		{"whole generation as a bare array", 0, true, 100},
		{"head longer than the feed", 1000, false, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := whole
			o.Head, o.BareArray = tt.head, tt.bareArray
			data := generate(t, o)
			feed := parse(t, data)
			if d, err := feedgen.Describe(o); err != nil || d.Items != tt.want {
				t.Errorf("Describe: %+v, %v; want %d items", d, err, tt.want)
			}
			h := feed.header
			if len(feed.rejects) != 0 || h.Items != tt.want || h.BareArray != tt.bareArray {
				t.Fatalf("header %+v, %d rejects; want %d items, bare array %v", h, len(feed.rejects), tt.want, tt.bareArray)
			}
			if tt.bareArray {
				if h.ItemsCount != nil || h.GenerationDate != nil || h.Site != "" || !bytes.HasPrefix(data, []byte("[\n{\"attributes\":")) {
					t.Errorf("bare array with header values %+v, starting %.20q", h, data)
				}
			} else if h.ItemsCount == nil || *h.ItemsCount != int64(tt.want) || h.GenerationDate == nil || !h.GenerationDate.Equal(*all.header.GenerationDate) {
				t.Errorf("header %+v, want itemsCount %d and the whole generation's date", h, tt.want)
			}
			for i, p := range feed.profiles {
				if p.ContentHash != all.profiles[i].ContentHash || p.FeedID != all.profiles[i].FeedID {
					t.Fatalf("item %d is %d (%s), the whole generation's is %d (%s)", i, p.FeedID, p.ContentHash, all.profiles[i].FeedID, all.profiles[i].ContentHash)
				}
			}
		})
	}
}

// rawItem is an item as written, before normalisation. The \xNN escapes
// are read as \u00NN: enough to count entries and see their shape.
type rawItem struct {
	ID         int64
	Name       string
	Aliases    []string
	Thumbnails []struct {
		Type string
		URLs []string
	}
	Attributes map[string]any
}

func rawItems(t testing.TB, data []byte) []rawItem {
	t.Helper()
	var feed struct{ Items []rawItem }
	if err := json.Unmarshal(bytes.ReplaceAll(data, []byte(`\x`), []byte(`\u00`)), &feed); err != nil {
		t.Fatal(err)
	}
	return feed.Items
}

// TestFeedProperties measures a feed of the real size against the real feed's measured properties.
func TestFeedProperties(t *testing.T) {
	const items = 21000
	data := generate(t, feedgen.Options{Items: items, Seed: 42})
	raw := rawItems(t, data)
	feed := parse(t, data)
	if len(raw) != items || len(feed.profiles) != items {
		t.Fatalf("%d raw items, %d profiles", len(raw), len(feed.profiles))
	}

	share := func(count int) float64 { return float64(count) / items }
	var noAliases, emptyThumbs, noHair, noEthnicity, noBreastSize, noBreastType, noAge, lowerNames, couples int
	var maxAliases, emptyAliasEntries, nbspAliases, duplicateLists, ownNameLists, gluedNotes, nonASCIIAliases, nonASCIINames int
	var pipeHair, pipeEthnicity, gaps int
	var maxSearches int64
	urlOwners := map[string]map[int64]bool{}
	for i, it := range raw {
		if len(it.Aliases) == 0 {
			noAliases++
		}
		maxAliases = max(maxAliases, len(it.Aliases))
		seen := map[string]bool{}
		duplicate, own := false, false
		for _, a := range it.Aliases {
			switch {
			case a == "":
				emptyAliasEntries++
			case strings.HasSuffix(a, "\u00a0"):
				nbspAliases++
			case strings.HasSuffix(a, ")") && strings.Contains(a, "("):
				gluedNotes++
			}
			if seen[a] {
				duplicate = true
			}
			seen[a] = true
			if a == it.Name {
				own = true
			}
			if !isASCII(a) && !strings.Contains(a, "\u00c3") && !strings.Contains(a, "\u00f0") && !strings.Contains(a, "\u00e9") {
				nonASCIIAliases++
			}
		}
		if duplicate {
			duplicateLists++
		}
		if own {
			ownNameLists++
		}
		if !isASCII(it.Name) {
			nonASCIINames++
		}
		if it.Name == strings.ToLower(it.Name) {
			lowerNames++
		}
		switch len(it.Thumbnails) {
		case 0:
			emptyThumbs++
		case 3:
			if it.Thumbnails[0].Type != "pc" || it.Thumbnails[1].Type != "mobile" || it.Thumbnails[2].Type != "tablet" ||
				it.Thumbnails[0].URLs[0] != it.Thumbnails[2].URLs[0] || len(it.Thumbnails[1].URLs) != 1 {
				t.Fatalf("item %d: thumbnails %+v", it.ID, it.Thumbnails)
			}
			u := it.Thumbnails[0].URLs[0]
			if !strings.Contains(u, "/(m=") || !strings.Contains(u, ")(mh=") || !strings.HasSuffix(u, ".jpg") {
				t.Fatalf("item %d: URL %s", it.ID, u)
			}
			if urlOwners[u] == nil {
				urlOwners[u] = map[int64]bool{}
			}
			urlOwners[u][it.ID] = true
		default:
			t.Fatalf("item %d has %d thumbnails", it.ID, len(it.Thumbnails))
		}
		a := it.Attributes
		if _, ok := a["hairColor"]; !ok {
			noHair++
		} else if strings.Contains(a["hairColor"].(string), "|") {
			pipeHair++
		}
		if _, ok := a["ethnicity"]; !ok {
			noEthnicity++
		} else if strings.Contains(a["ethnicity"].(string), "|") {
			pipeEthnicity++
		}
		if _, ok := a["breastSize"]; !ok {
			noBreastSize++
		}
		if _, ok := a["breastType"]; !ok {
			noBreastType++
		}
		if _, ok := a["age"]; !ok {
			noAge++
		}
		if a["gender"] == "Couple" {
			couples++
		}
		searches := int64(a["stats"].(map[string]any)["monthlySearches"].(float64))
		maxSearches = max(maxSearches, searches)
		if i > 0 && it.ID > raw[i-1].ID+1 {
			gaps++
		}
	}
	sharedURLs := 0
	for _, owners := range urlOwners {
		if len(owners) == 2 {
			sharedURLs++
		} else if len(owners) > 2 {
			t.Errorf("a URL has %d owners", len(owners))
		}
	}

	rates := []struct {
		name      string
		got, want float64
		tolerance float64
	}{
		{"items without aliases", share(noAliases), 0.27, 0.02},
		{"items without thumbnails", share(emptyThumbs), 0.056, 0.01},
		{"absent hairColor", share(noHair), 0.05, 0.01},
		{"absent ethnicity", share(noEthnicity), 0.04, 0.01},
		{"absent breastSize", share(noBreastSize), 0.21, 0.02},
		{"absent breastType", share(noBreastType), 0.22, 0.02},
		{"absent age", share(noAge), 0.16, 0.02},
		{"all lower-case names", share(lowerNames), 0.43, 0.03},
	}
	for _, r := range rates {
		t.Logf("%s: %.3f", r.name, r.got)
		if math.Abs(r.got-r.want) > r.tolerance {
			t.Errorf("%s: %.3f, want %.3f ± %.3f", r.name, r.got, r.want, r.tolerance)
		}
	}
	counts := []struct {
		name     string
		got      int
		min, max int
	}{
		{"URLs shared by two performers (14 in the real feed)", sharedURLs, 5, 30},
		{"distinct URLs (5.6% of items have none, 14 are shared)", len(urlOwners), 19000, 20000},
		{"Couple genders", couples, 1, 1},
		{"most aliases", maxAliases, 23, 23},
		{"empty alias entries", emptyAliasEntries, 100, 1000},
		{"aliases with a trailing U+00A0", nbspAliases, 20, 300},
		{"lists with exact duplicates", duplicateLists, 200, 1000},
		{"lists with the own name", ownNameLists, 400, 1500},
		{"glued notes", gluedNotes, 50, 400},
		{"non-ASCII aliases", nonASCIIAliases, 200, 3000},
		{"non-ASCII names", nonASCIINames, 100, 3000},
		{"pipe-joined hair colours (9 in the real head's 95)", pipeHair, 1500, 2300},
		{"pipe-joined ethnicities", pipeEthnicity, 50, 500},
		{"id gaps", gaps, items / 3, items * 2 / 3},
		{"\\x escapes", bytes.Count(data, []byte(`\x`)), 20, 1000},
	}
	for _, c := range counts {
		t.Logf("%s: %d", c.name, c.got)
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s: %d, want %d..%d", c.name, c.got, c.min, c.max)
		}
	}
	if maxSearches < 400_000_000 || maxSearches > 420_000_000 {
		t.Errorf("most monthly searches = %d, want up to 4.2e8", maxSearches)
	}

	// After normalisation: the escapes decode to an emoji and to U+FFFD.
	var emoji, replacement bool
	for _, p := range feed.profiles {
		for _, a := range p.Aliases {
			emoji = emoji || strings.Contains(a, "😍")
			replacement = replacement || strings.ContainsRune(a, utf8.RuneError)
		}
	}
	if !emoji || !replacement {
		t.Errorf("decoded aliases: emoji %v, U+FFFD %v; want both", emoji, replacement)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// TestSmallFeedShowsEveryOddity: from 20 items on, each rare property is
// forced onto one performer.
func TestSmallFeedShowsEveryOddity(t *testing.T) {
	for seed := int64(0); seed < 5; seed++ {
		data := generate(t, feedgen.Options{Items: 20, Seed: seed})
		checks := []struct {
			name string
			ok   bool
		}{
			{"\\x emoji escape", bytes.Contains(data, []byte(`\xF0\x9F\x98\x8D`))},
			{"\\x invalid byte", bytes.Contains(data, []byte(`\xE9`))},
			{"trailing U+00A0", bytes.Contains(data, []byte("\u00a0\""))},
			{"empty alias", bytes.Contains(data, []byte(`,""`)) || bytes.Contains(data, []byte(`[""`))},
			{"Couple", bytes.Contains(data, []byte(`"gender":"Couple"`))},
			{"pipe-joined hair", bytes.Contains(data, []byte(`"hairColor":"Blonde|Brunette"`))},
			{"empty thumbnails", bytes.Contains(data, []byte(`"thumbnails":[]`))},
			{"glued note", bytes.Contains(data, []byte(`(`)) && bytes.Contains(data, []byte(`)"`))},
			{"monthly searches near 4.2e8", bytes.Contains(data, []byte(`"monthlySearches":41`))},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("seed %d: no %s", seed, c.name)
			}
		}
		feed := parse(t, data)
		urls := map[string]map[int64]bool{}
		for _, p := range feed.profiles {
			for _, th := range p.Thumbnails {
				if urls[th.URL] == nil {
					urls[th.URL] = map[int64]bool{}
				}
				urls[th.URL][p.FeedID] = true
			}
		}
		shared := 0
		for _, owners := range urls {
			if len(owners) > 1 {
				shared++
			}
		}
		if shared == 0 {
			t.Errorf("seed %d: no URL shared by two performers", seed)
		}
	}
}

// TestGenerations parses consecutive generations and counts what changed:
// exactly what Describe promises, with identities kept.
func TestGenerations(t *testing.T) {
	tests := []struct {
		name      string
		items     int
		ratio     float64
		imageBase string
	}{
		{"a tenth of 3000", 3000, 0.1, ""},
		{"rounding: 0.1234 of 999", 999, 0.1234, ""},
		{"nothing changes", 500, 0, ""},
		{"everything changes", 500, 1, ""},
		{"local image server", 400, 0.05, "http://127.0.0.1:8099/pics"},
		{"a host without a sibling", 400, 0.05, "https://images.example.com/p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := feedgen.Options{Items: tt.items, Seed: 11, ChangeRatio: tt.ratio, ImageBase: tt.imageBase}
			previous := parse(t, generate(t, o))
			for g := 1; g <= 3; g++ {
				o.Generation = g
				current := parse(t, generate(t, o))
				want, err := feedgen.Describe(o)
				if err != nil {
					t.Fatal(err)
				}
				var got feedgen.Generation
				got.Items = len(current.profiles)
				for id, p := range current.byID {
					before, ok := previous.byID[id]
					if !ok {
						got.Added++
						continue
					}
					if before.Name != p.Name || *before.Link != *p.Link || strings.Join(before.Aliases, "|") != strings.Join(p.Aliases, "|") {
						t.Fatalf("generation %d: id %d changed identity: %q -> %q", g, id, before.Name, p.Name)
					}
					if before.ContentHash != p.ContentHash {
						got.Changed++
						if len(p.Thumbnails) > 0 && p.Thumbnails[0].URL != before.Thumbnails[0].URL {
							if hostless(p.Thumbnails[0].URL) != hostless(before.Thumbnails[0].URL) {
								t.Fatalf("id %d: image path changed: %s -> %s", id, before.Thumbnails[0].URL, p.Thumbnails[0].URL)
							}
							got.Rehosted++
						}
					}
				}
				for id := range previous.byID {
					if _, ok := current.byID[id]; !ok {
						got.Removed++
					}
				}
				if wantChanged := min(int(math.Round(tt.ratio*float64(tt.items))), got.Items-got.Added); want.Changed != wantChanged {
					t.Errorf("generation %d: Describe says %d changed, want round(ratio*items) = %d", g, want.Changed, wantChanged)
				}
				// Shared URLs may move host with the other performer only;
				// every re-hosted performer moved, so at least Rehosted did.
				if got.Changed != want.Changed || got.Removed != want.Removed || got.Added != want.Added || got.Items != want.Items ||
					got.Rehosted < want.Rehosted || got.Rehosted > want.Rehosted+2 {
					t.Errorf("generation %d: got %+v, Describe says %+v", g, got, want)
				}
				if tt.imageBase == "https://images.example.com/p" && want.Rehosted != 0 {
					t.Errorf("re-hosted %d under a host without a sibling", want.Rehosted)
				}
				previous = current
			}
		})
	}
}

// hostless is a URL without its scheme and host.
func hostless(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	_, path, _ := strings.Cut(rest, "/")
	return path
}

func TestWriteRejectsBadOptions(t *testing.T) {
	tests := []feedgen.Options{
		{Items: -1},
		{Items: feedgen.MaxItems + 1},
		{Items: 10, Generation: -1},
		{Items: 10, ChangeRatio: 1.5},
		{Items: 10, ChangeRatio: -0.1},
		{Items: 10, ChangeRatio: math.NaN()},
		{Items: 10, ImageBase: "ftp://example.com/x"},
		{Items: 10, ImageBase: "/pics"},
		{Items: 10, Head: -1},
	}
	for _, o := range tests {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			if err := feedgen.Write(io.Discard, o); err == nil {
				t.Errorf("Write(%+v) = nil, want an error", o)
			}
		})
	}
}

// heapWatcher discards what it is given and records the live heap now and
// then.
type heapWatcher struct {
	writes  int
	maxHeap uint64
}

func (w *heapWatcher) Write(p []byte) (int, error) {
	if w.writes++; w.writes%100 == 0 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.maxHeap = max(w.maxHeap, m.HeapAlloc)
	}
	return len(p), nil
}

func TestWriteStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 items")
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	w := &heapWatcher{}
	if err := feedgen.Write(w, feedgen.Options{Items: 100_000, Seed: 1, Generation: 2, ChangeRatio: 0.1}); err != nil {
		t.Fatal(err)
	}
	if w.writes < 100 {
		t.Fatalf("only %d writes: the output is not streamed", w.writes)
	}
	if grown := int64(w.maxHeap) - int64(before.HeapAlloc); grown > 8<<20 {
		t.Errorf("live heap grew by %d bytes while writing 100,000 items, want under 8 MiB", grown)
	}
}

func BenchmarkWrite(b *testing.B) {
	const items = 100_000
	var size int64
	for b.Loop() {
		counter := &countingWriter{}
		if err := feedgen.Write(counter, feedgen.Options{Items: items, Seed: 1, Generation: 1, ChangeRatio: 0.1}); err != nil {
			b.Fatal(err)
		}
		size = counter.n
	}
	b.SetBytes(size)
	b.ReportMetric(float64(items)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
