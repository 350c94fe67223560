package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/ingest"
)

// postGraphQL runs a GraphQL query and returns its decoded answer.
func postGraphQL(t *testing.T, base, query string) (data map[string]any, codes []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	for _, e := range out.Errors {
		code, _ := e.Extensions["code"].(string)
		codes = append(codes, code)
	}
	return out.Data, codes
}

// TestTakedownEndToEnd takes performers down from a database a generated
// feed filled, with images from a local server that counts requests: the
// performers leave every read path, their files go (bytes another performer
// still uses stay), their images answer 451, two more feed runs neither
// bring them back nor request their URLs, and lifting a takedown lets the
// next run restore its performer and fetch its image again.
func TestTakedownEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*waitLimit)
	defer cancel()
	images := imagingtest.NewServer(t)
	allowImages := func(cfg *imaging.Config) { cfg.AllowAddrs = append(cfg.AllowAddrs, images.AddrPort()) }
	dataDir := t.TempDir()
	feed := filepath.Join(t.TempDir(), "feed.json")
	if code, _, stderr := runCLI(ctx, nil, "dev", "gen-feed", "--items", "12", "--seed", "16",
		"--image-base", images.URL+"/pics", "--out", feed); code != exitOK {
		t.Fatalf("dev gen-feed: exit %d\n%s", code, stderr)
	}
	profiles := readProfiles(t, feed)
	// taken is taken down with bytes of its own; sharing with keeper the
	// same bytes, shared is taken down too, but its bytes stay for keeper.
	taken, shared, keeper := profiles[0], profiles[1], profiles[2]
	pathOf := func(p db.Profile) string {
		u, err := url.Parse(p.Thumbnails[0].URL)
		if err != nil {
			t.Fatal(err)
		}
		return u.Path
	}
	same := imagingtest.Image("/the same bytes")
	images.Handle(pathOf(shared), imagingtest.Bytes("image/png", same))
	images.Handle(pathOf(keeper), imagingtest.Bytes("image/png", same))

	feedRun := func(when string) string {
		t.Helper()
		code, stdout, stderr := runPipeline(ctx, allowImages, "ingest", "--once", "--force", "--feed", feed, "--data-dir", dataDir)
		if code != exitOK {
			t.Fatalf("%s: ingest --once exit %d\n%s\n%s", when, code, stdout, tail(stderr))
		}
		return stdout
	}
	feedRun("the first run")
	filesBefore := countStoredImages(t, dataDir)
	if filesBefore != len(profiles)-1 { // shared and keeper: one file
		t.Fatalf("%d files after the first run, want %d", filesBefore, len(profiles)-1)
	}
	base := startAPI(t, "--data-dir", dataDir)
	lookup := func(p db.Profile) (id int64, slug string) {
		t.Helper()
		_, _, body := get(t, fmt.Sprintf("%s/api/v1/pornstars?feed_id=%d", base, p.FeedID))
		var page struct {
			Data []struct {
				ID   int64  `json:"id"`
				Slug string `json:"slug"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Data) != 1 {
			t.Fatalf("performer %d: %s", p.FeedID, body)
		}
		return page.Data[0].ID, page.Data[0].Slug
	}
	takenID, takenSlug := lookup(taken)
	since := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)

	takedowns := []struct {
		name, args, want string
	}{
		{"by id, bytes of its own", fmt.Sprintf("--id %d", takenID), "files deleted 1, kept 0"},
		{"by feed id, bytes another performer uses", fmt.Sprintf("--feed-id %d", shared.FeedID), "files deleted 0, kept 1"},
	}
	for _, tt := range takedowns {
		args := append([]string{"takedown", "performer", "--reason", "DMCA notice", "--data-dir", dataDir}, strings.Fields(tt.args)...)
		code, stdout, stderr := runCLI(ctx, nil, args...)
		if code != exitOK || !strings.Contains(stdout, tt.want) {
			t.Fatalf("takedown %s: exit %d\n%s\n%s", tt.name, code, stdout, stderr)
		}
	}
	if code, stdout, _ := runCLI(ctx, nil, "takedown", "performer", "--id", fmt.Sprint(takenID), "--reason", "x", "--data-dir", dataDir); code != exitFailure ||
		!strings.Contains(stdout, "taken down already") {
		t.Errorf("a second takedown: exit %d %s", code, stdout)
	}
	if n := countStoredImages(t, dataDir); n != filesBefore-1 {
		t.Errorf("%d files after the takedowns, want %d (its own deleted, the shared one kept)", n, filesBefore-1)
	}

	checkGone := func(when string) {
		t.Helper()
		for _, path := range []string{fmt.Sprintf("/api/v1/pornstars/%d", takenID), "/api/v1/pornstars/by-slug/" + takenSlug} {
			if code, ctype, _ := get(t, base+path); code != http.StatusGone || ctype != "application/problem+json" {
				t.Errorf("%s: GET %s = %d %s, want 410", when, path, code, ctype)
			}
		}
		for _, p := range []db.Profile{taken, shared} {
			if code, _, _ := get(t, base+"/images/"+p.Thumbnails[0].URLHash); code != http.StatusUnavailableForLegalReasons {
				t.Errorf("%s: its image is %d, want 451", when, code)
			}
			if code, _, _ := get(t, base+"/api/v1/images/"+p.Thumbnails[0].URLHash); code != http.StatusUnavailableForLegalReasons {
				t.Errorf("%s: its image state is %d, want 451", when, code)
			}
		}
		if code, _, _ := get(t, base+"/images/"+keeper.Thumbnails[0].URLHash); code != http.StatusOK {
			t.Errorf("%s: the image with the shared bytes is %d, want 200", when, code)
		}
		reads := []struct{ name, path, absent string }{
			{"list by feed id", fmt.Sprintf("/api/v1/pornstars?feed_id=%d,%d&limit=100", taken.FeedID, shared.FeedID), `"id"`},
			{"list", "/api/v1/pornstars?limit=100", fmt.Sprintf(`"feed_id":%d,`, taken.FeedID)},
			{"search", "/api/v1/pornstars?q=" + url.QueryEscape(taken.Name), fmt.Sprintf(`"feed_id":%d,`, taken.FeedID)},
			{"export", "/api/v1/pornstars/export", fmt.Sprintf(`"feed_id":%d,`, taken.FeedID)},
			{"removed=any", "/api/v1/pornstars?removed=any&limit=100", fmt.Sprintf(`"feed_id":%d,`, shared.FeedID)},
		}
		for _, r := range reads {
			code, _, body := get(t, base+r.path)
			if code != http.StatusOK || strings.Contains(body, r.absent) {
				t.Errorf("%s: %s = %d, shows %s:\n%s", when, r.name, code, r.absent, body)
			}
		}
		_, _, facets := get(t, base+"/api/v1/pornstars/facets?facet=gender")
		if !strings.Contains(facets, fmt.Sprintf(`"total":%d`, len(profiles)-2)) {
			t.Errorf("%s: facets %s, want a total of %d", when, facets, len(profiles)-2)
		}
		// A mirror's sync walk sees it removed, so it drops it.
		_, _, walk := get(t, base+"/api/v1/pornstars?removed=any&sort=updated_at&limit=100&updated_since="+url.QueryEscape(since))
		if !strings.Contains(walk, fmt.Sprintf(`"id":%d,`, takenID)) || !strings.Contains(walk, `"removed_at":"`) {
			t.Errorf("%s: the sync walk does not show it removed:\n%s", when, walk)
		}
		data, codes := postGraphQL(t, base, fmt.Sprintf(`{ pornstarByFeedId(feedId: %d) { name } }`, taken.FeedID))
		if data["pornstarByFeedId"] != nil || len(codes) != 1 || codes[0] != "TAKEN_DOWN" {
			t.Errorf("%s: GraphQL %v %v, want null and TAKEN_DOWN", when, data, codes)
		}
	}
	checkGone("taken down")

	// Two more runs of the feed that still carries them.
	before := images.Counts()
	for _, when := range []string{"the second run", "the third run"} {
		feedRun(when)
		checkGone(when)
		for _, p := range []db.Profile{taken, shared} {
			if n := images.Requests(pathOf(p)); n != before[pathOf(p)] {
				t.Errorf("%s: %d requests for %s, want no more than the %d before the takedown", when, n, pathOf(p), before[pathOf(p)])
			}
		}
		_, _, runs := get(t, base+"/api/v1/feed-runs?limit=1")
		if !strings.Contains(runs, `"items_taken_down":2`) {
			t.Errorf("%s: the run does not count the performers taken down: %s", when, runs)
		}
	}

	// Lifted, the next run restores the performer and fetches its image.
	_, list, _ := runCLI(ctx, nil, "takedown", "list", "--data-dir", dataDir)
	if !strings.Contains(list, `"DMCA notice"`) || !strings.Contains(list, "cli") {
		t.Errorf("takedown list:\n%s", list)
	}
	if code, stdout, stderr := runCLI(ctx, nil, "takedown", "lift", "1", "--data-dir", dataDir); code != exitOK {
		t.Fatalf("takedown lift: exit %d\n%s\n%s", code, stdout, stderr)
	}
	feedRun("the run after the lift")
	if code, _, body := get(t, fmt.Sprintf("%s/api/v1/pornstars/%d", base, takenID)); code != http.StatusOK || !strings.Contains(body, `"status":"cached"`) {
		t.Errorf("after the lift: GET = %d\n%s", code, body)
	}
	if n := images.Requests(pathOf(taken)); n != before[pathOf(taken)]+1 {
		t.Errorf("after the lift: %d requests for its image, want one more than %d", n, before[pathOf(taken)])
	}
	if code, _, _ := get(t, base+"/images/"+taken.Thumbnails[0].URLHash); code != http.StatusOK {
		t.Errorf("after the lift: its image is %d, want 200", code)
	}
	if code, _, _ := get(t, base+"/images/"+shared.Thumbnails[0].URLHash); code != http.StatusUnavailableForLegalReasons {
		t.Errorf("after the lift of the other takedown: %d, want 451", code)
	}
}

// readProfiles parses a feed file.
func readProfiles(t *testing.T, path string) []db.Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []db.Profile
	if _, err := ingest.ParseFeed(f, func(_ int, p db.Profile) error {
		out = append(out, p)
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTakedownUsage: a takedown command line that names nothing, or too
// much, is a usage error (exit 2) that says what is wrong; --help exits 0.
func TestTakedownUsage(t *testing.T) {
	dataDir := t.TempDir()
	hash := strings.Repeat("a", 64)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", []string{"takedown"}, exitUsage, "name a subcommand"},
		{"an unknown subcommand", []string{"takedown", "tag"}, exitUsage, `unknown subcommand "tag"`},
		{"help", []string{"takedown", "--help"}, exitOK, "marquee takedown performer --id N | --feed-id N --reason TEXT"},
		{"performer help", []string{"takedown", "performer", "--help"}, exitOK, "--feed-id"},
		{"no performer", []string{"takedown", "performer", "--reason", "x"}, exitUsage, "--id or with --feed-id"},
		{"both ids", []string{"takedown", "performer", "--id", "1", "--feed-id", "2", "--reason", "x"}, exitUsage, "--id or with --feed-id"},
		{"no reason", []string{"takedown", "performer", "--id", "1"}, exitUsage, "--reason"},
		{"a negative id", []string{"takedown", "performer", "--id", "-1", "--reason", "x"}, exitUsage, "positive integer"},
		{"no hash", []string{"takedown", "image", "--reason", "x"}, exitUsage, "at least one URL hash"},
		{"a bad hash", []string{"takedown", "image", "ABC", "--reason", "x"}, exitUsage, `"ABC" is not a URL hash`},
		{"an image without a reason", []string{"takedown", "image", hash}, exitUsage, "--reason"},
		{"lift without an id", []string{"takedown", "lift"}, exitUsage, "name one takedown id"},
		{"lift a bad id", []string{"takedown", "lift", "x"}, exitUsage, `"x" is not a takedown id`},
		{"list with an argument", []string{"takedown", "list", "all"}, exitUsage, `unexpected argument "all"`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if len(args) > 2 { // a subcommand's: never the data of another test
				args = append(args, "--data-dir", dataDir)
			}
			code, stdout, stderr := runCLI(t.Context(), nil, args...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tt.code, tt.want, stdout, stderr)
			}
		})
	}
}
