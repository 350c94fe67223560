package db_test

// The behavioural suite of db.Store. Every test runs once per backend
// (SQLite and MySQL, see dbtest.Backends), each time on a fresh, empty,
// migrated database of its own, so tests run in parallel.
//
// This file holds the shared helpers: opening a store, counting the SQL
// statements a call issues, and building profiles.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// forEachBackend runs fn once per backend, in parallel subtests named after
// the backend, with a Store over a fresh migrated database that is closed
// when the subtest ends.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *db.Store)) {
	t.Helper()
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, testkit.OpenStore(t, b.URL(t)))
		})
	}
}

// statementLog is testkit's log of the store's statements, with the
// filters the store tests need.
type statementLog struct{ *testkit.StatementLog }

// logStatements attaches a statementLog to the write and the read handle of s.
// Call it before any goroutine uses s.
func logStatements(t testing.TB, s *db.Store) statementLog {
	t.Helper()
	return statementLog{testkit.LogStatements(s)}
}

// writes returns the recorded statements that are not a SELECT: every write,
// and the BEGIN / COMMIT around them, but the data version's increment that
// ends every write transaction (TestDataVersionFollowsWrites covers it).
func (l statementLog) writes() []string {
	var out []string
	for _, q := range l.All() {
		if !isSelect(q) && !strings.Contains(q, "data_version") {
			out = append(out, q)
		}
	}
	return out
}

// dml returns the recorded INSERT, UPDATE, DELETE and REPLACE statements,
// but the data version's increment.
func (l statementLog) dml() []string {
	var out []string
	for _, q := range l.All() {
		if strings.Contains(q, "data_version") {
			continue
		}
		switch strings.ToUpper(firstWord(q)) {
		case "INSERT", "UPDATE", "DELETE", "REPLACE":
			out = append(out, q)
		}
	}
	return out
}

func isSelect(q string) bool { return strings.EqualFold(firstWord(q), "SELECT") }

func firstWord(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexAny(q, " \t\n("); i >= 0 {
		return q[:i]
	}
	return q
}

// shorten keeps statements readable in failure messages.
func shorten(queries []string) []string {
	out := make([]string, len(queries))
	for i, q := range queries {
		if len(q) > 160 {
			q = q[:160] + "..."
		}
		out[i] = q
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// imageURL is a thumbnail URL in the real feed's shape: it contains "(", ")"
// and "=".
func imageURL(host string, n int64) string {
	return fmt.Sprintf("https://%s/pics/pornstars/000/%03d/%03d/(m=lciuhScOb_c)(mh=%016x)thumb_%d.jpg",
		host, n/1000%1000, n%1000, uint64(n)*0x9e3779b97f4a7c15, n)
}

// feedThumbnails are the three entries of a real item: pc, mobile and tablet,
// all 234 x 344 and all with the same URL.
func feedThumbnails(url string) []db.ProfileThumbnail {
	out := make([]db.ProfileThumbnail, 0, 3)
	for _, typ := range []string{"pc", "mobile", "tablet"} {
		out = append(out, db.ProfileThumbnail{Type: typ, Width: ptr(int32(234)), Height: ptr(int32(344)), URL: url})
	}
	return out
}

// bareProfile is a performer the feed knows nothing about but its id and
// name: every other field is unknown.
func bareProfile(feedID int64, name string) db.Profile {
	return db.Profile{SchemaVersion: db.ProfileSchemaVersion, FeedID: feedID, PornstarFields: db.PornstarFields{Name: name}}
}

// fullProfile has every field known, with 64-bit stats beyond 2^32 and 2^53.
func fullProfile(feedID int64) db.Profile {
	return db.Profile{
		SchemaVersion: db.ProfileSchemaVersion,
		FeedID:        feedID,
		PornstarFields: db.PornstarFields{
			Name:                 "Aaliyah Jolie",
			License:              ptr("PREMIUM"),
			WLStatus:             ptr(true),
			Link:                 ptr("https://www.pornhub.com/pornstar/aaliyah-jolie"),
			HairColors:           db.StringList{"Blonde", "Brunette"},
			Ethnicities:          db.StringList{"White", "Middle Eastern"},
			Tattoos:              ptr(true),
			Piercings:            ptr(false),
			BreastSize:           ptr(int32(34)),
			BreastType:           ptr("DD"),
			Gender:               ptr("female"),
			Orientation:          ptr("straight"),
			Age:                  ptr(int32(29)),
			Subscriptions:        ptr(int64(1 << 40)),
			MonthlySearches:      ptr(int64(4_200_000_000)),
			Views:                ptr(int64(1<<62 + 1)),
			VideosCount:          ptr(int64(1<<62 - 1)),
			PremiumVideosCount:   ptr(int64(1<<53 + 1)),
			WhiteLabelVideoCount: ptr(int64(7)),
			Rank:                 ptr(int64(1)),
			RankPremium:          ptr(int64(2)),
			RankWL:               ptr(int64(1<<62 + 3)),
		},
		Aliases:    []string{"Aaliyah", "A. Jolie", "Jolie Aaliyah"},
		Thumbnails: feedThumbnails(imageURL("ei.phncdn.com", feedID)),
	}
}

var (
	generatedHair       = []db.StringList{{"Blonde"}, {"Brunette"}, {"Blonde", "Brunette"}, {"Red"}, {"Black"}}
	generatedEthnicity  = []db.StringList{{"White"}, {"Latina"}, {"Asian"}, {"Middle Eastern"}}
	generatedBreastType = []string{"A", "B", "C", "D", "DD", "DDD"}
)

// generatedProfile is a deterministic, realistic profile: three aliases,
// three thumbnails sharing one URL, one or two hair colours, 64-bit stats.
func generatedProfile(feedID int64) db.Profile {
	i := feedID
	license := "REGULAR"
	if i%3 == 0 {
		license = "PREMIUM"
	}
	return db.Profile{
		SchemaVersion: db.ProfileSchemaVersion,
		FeedID:        feedID,
		PornstarFields: db.PornstarFields{
			Name:                 fmt.Sprintf("performer %05d", i),
			License:              ptr(license),
			WLStatus:             ptr(i%2 == 0),
			Link:                 ptr(fmt.Sprintf("https://www.pornhub.com/pornstar/performer-%d", i)),
			HairColors:           generatedHair[i%int64(len(generatedHair))],
			Ethnicities:          generatedEthnicity[i%int64(len(generatedEthnicity))],
			Tattoos:              ptr(i%4 == 0),
			Piercings:            ptr(i%5 == 0),
			BreastSize:           ptr(int32(27 + i%39)),
			BreastType:           ptr(generatedBreastType[i%int64(len(generatedBreastType))]),
			Gender:               ptr("female"),
			Orientation:          ptr("straight"),
			Age:                  ptr(int32(25 + i%55)),
			Subscriptions:        ptr(i * 37),
			MonthlySearches:      ptr(4_200_000_000 + i),
			Views:                ptr(1<<40 + i*1_000_003),
			VideosCount:          ptr(i % 300),
			PremiumVideosCount:   ptr(i % 100),
			WhiteLabelVideoCount: ptr(i % 50),
			Rank:                 ptr(i),
			RankPremium:          ptr(i + 1),
			RankWL:               ptr(i + 2),
		},
		Aliases: []string{
			fmt.Sprintf("alias %d a", i), fmt.Sprintf("Alias %d b", i), fmt.Sprintf("ALIAS %d c", i),
		},
		Thumbnails: feedThumbnails(imageURL("ei.phncdn.com", i)),
	}
}

// generatedProfiles returns generatedProfile for feed ids first..first+n-1.
func generatedProfiles(first int64, n int) []db.Profile {
	out := make([]db.Profile, n)
	for i := range out {
		out[i] = generatedProfile(first + int64(i))
	}
	return out
}

// mustUpsert upserts profiles and fails the test on error.
func mustUpsert(t testing.TB, s *db.Store, profiles ...db.Profile) db.UpsertResult {
	t.Helper()
	res, err := s.UpsertProfiles(context.Background(), profiles)
	if err != nil {
		t.Fatalf("UpsertProfiles: %v", err)
	}
	return res
}

// mustGetByFeedID returns the stored performer with this feed id.
func mustGetByFeedID(t testing.TB, s *db.Store, feedID int64) *db.Pornstar {
	t.Helper()
	p, err := s.GetByFeedID(context.Background(), feedID)
	if err != nil {
		t.Fatalf("GetByFeedID(%d): %v", feedID, err)
	}
	return p
}

// aliasesOf returns the stored aliases of one performer, in order.
func aliasesOf(t testing.TB, s *db.Store, id int64) []string {
	t.Helper()
	m, err := s.Aliases(context.Background(), []int64{id})
	if err != nil {
		t.Fatalf("Aliases: %v", err)
	}
	var out []string
	for _, a := range m[id] {
		out = append(out, a.Alias)
	}
	return out
}

// thumbnailsOf returns the stored thumbnails of one performer, in order, in
// their input form (with the URL hash filled in).
func thumbnailsOf(t testing.TB, s *db.Store, id int64) []db.ProfileThumbnail {
	t.Helper()
	m, err := s.Thumbnails(context.Background(), []int64{id})
	if err != nil {
		t.Fatalf("Thumbnails: %v", err)
	}
	var out []db.ProfileThumbnail
	for i, th := range m[id] {
		if int(th.Position) != i {
			t.Errorf("thumbnail %d of performer %d has position %d", i, id, th.Position)
		}
		out = append(out, db.ProfileThumbnail{Type: th.Type, Width: th.Width, Height: th.Height, URL: th.URL, URLHash: th.URLHash})
	}
	return out
}

// withHashes returns thumbs with their URL hashes filled in, as stored.
func withHashes(thumbs []db.ProfileThumbnail) []db.ProfileThumbnail {
	var out []db.ProfileThumbnail
	for _, th := range thumbs {
		th.URLHash = db.URLHash(th.URL)
		out = append(out, th)
	}
	return out
}

// listAll returns every performer matching f in the given order, in one page.
func listAll(t testing.TB, s *db.Store, f db.Filter, order []db.OrderKey) []db.Pornstar {
	t.Helper()
	page, err := s.List(context.Background(), f, order, db.Page{First: db.MaxPageSize})
	if err != nil {
		t.Fatalf("List(%+v, %v): %v", f, order, err)
	}
	if page.HasNextPage {
		t.Fatalf("List(%+v, %v): more than %d rows; the test data must fit in one page", f, order, db.MaxPageSize)
	}
	return page.Items
}

// namesOf returns the names of rows, sorted, for set comparisons.
func namesOf(rows []db.Pornstar) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	slices.Sort(out)
	return out
}

// idsOf returns the ids of rows in their order.
func idsOf(rows []db.Pornstar) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}
