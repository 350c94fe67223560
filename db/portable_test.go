package db

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"

	"marquee/db/dbtest"
)

// sqlRecorder is a bun query hook that keeps every statement sent.
type sqlRecorder struct {
	mu      sync.Mutex
	queries []string
}

func (r *sqlRecorder) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (r *sqlRecorder) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, e.Query)
}

// TestMySQLDialectIsPortable checks that bun emits the same SQL on MariaDB as
// on MySQL 8: the dialect's features after connecting to the server are those
// of a dialect that never saw a server version (MySQL 5.7 level, no RETURNING,
// no CTE), and no statement the store sends uses RETURNING or WITH.
func TestMySQLDialectIsPortable(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, Options{URL: dbtest.MySQLURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	var version string
	if err := d.W.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	base := mysqldialect.New().Features().Remove(nonPortableMySQLFeatures)
	if got := d.W.Dialect().Features(); got != base {
		t.Fatalf("server %s: dialect features %b, want the server-independent %b", version, got, base)
	}

	rec := &sqlRecorder{}
	d.W.AddQueryHook(rec)
	if _, err := d.Migrate(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	exerciseStore(t, NewStore(d))
	if len(rec.queries) < 20 {
		t.Fatalf("recorded only %d statements", len(rec.queries))
	}
	for _, q := range rec.queries {
		upper := strings.ToUpper(q)
		if strings.Contains(upper, "RETURNING") || strings.HasPrefix(strings.TrimSpace(upper), "WITH ") {
			t.Errorf("server %s: non-portable statement: %s", version, q)
		}
	}
	t.Logf("server %s: %d statements checked", version, len(rec.queries))
}

// exerciseStore calls every writing and reading method of the Store once.
func exerciseStore(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rank := int64(1)
	url := "https://ei.phncdn.com/pics/a.jpg"
	profiles := []Profile{
		{FeedID: 1, PornstarFields: PornstarFields{Name: "A", Rank: &rank, HairColors: StringList{"Blonde"}}, Aliases: []string{"x", "y"},
			Thumbnails: []ProfileThumbnail{{Type: "pc", URL: url}}},
		{FeedID: 2, PornstarFields: PornstarFields{Name: "B"}},
	}
	_, err := s.UpsertProfiles(ctx, profiles)
	must(err)
	profiles[0].Aliases = []string{"y", "z"}
	_, err = s.UpsertProfiles(ctx, profiles)
	must(err)
	_, err = s.MarkRemoved(ctx, []int64{2})
	must(err)
	created, err := s.Create(ctx, PornstarInput{PornstarFields: PornstarFields{Name: "C"}, Aliases: []string{"c"}})
	must(err)
	_, err = s.Update(ctx, created.ID, PornstarPatch{Name: Some("D")}, nil)
	must(err)
	now := time.Now().UTC()
	must(s.UpsertImages(ctx, []ImageState{{URLHash: URLHash(url), URL: url, Status: ImageCached, Attempts: 1, FetchedAt: &now}}))
	claims := []ImageClaim{{URLHash: URLHash(url), URL: url}, {URLHash: URLHash(url + "?2"), URL: url + "?2"}}
	_, err = s.ClaimImageFetches(ctx, "exercise", now, now.Add(time.Minute), claims)
	must(err)
	_, err = s.ClaimImageFetches(ctx, "other", now.Add(time.Hour), now.Add(2*time.Hour), claims) // takes over
	must(err)
	must(s.ExtendImageClaim(ctx, claims[0].URLHash, "other", now.Add(3*time.Hour)))
	_, err = s.FinishImageFetches(ctx, "other", []ImageState{{URLHash: claims[0].URLHash, URL: url, Status: ImageCached, Attempts: 1, FetchedAt: &now}})
	must(err)
	_, err = s.ImageFetches(ctx, []string{claims[0].URLHash})
	must(err)
	_, err = s.ReleaseImageFetches(ctx, []string{claims[0].URLHash})
	must(err)
	_, err = s.ExtendImageClaims(ctx, "other", now.Add(4*time.Hour))
	must(err)
	yes := true
	filter := Filter{Q: "a", HairColors: []string{"blonde"}, HasImage: &yes}
	order := []OrderKey{{Field: OrderViews, Desc: true}, {Field: OrderAge}}
	page, err := s.List(ctx, filter, order, Page{First: 1, WithTotal: true})
	must(err)
	if len(page.Items) != 1 {
		t.Fatalf("list: got %d items, want 1", len(page.Items))
	}
	_, err = s.List(ctx, filter, order, Page{First: 1, After: page.Cursors[0]})
	must(err)
	_, err = s.Aliases(ctx, []int64{1, 2, 3})
	must(err)
	_, err = s.Thumbnails(ctx, []int64{1, 2, 3})
	must(err)
	_, err = s.ImagesForPornstars(ctx, []int64{1, 2, 3})
	must(err)
	must(s.Delete(ctx, created.ID, nil))
	run, err := s.QueueRun(ctx, RequestedByAPI, false)
	must(err)
	_, err = s.ClaimRun(ctx)
	must(err)
	_, err = s.AddRejects(ctx, run.ID, []FeedRunReject{{ItemIndex: 3, Reason: "id missing"}})
	must(err)
	_, err = s.FinishRun(ctx, run.ID, RunCompleted, FeedRunResult{ItemsSeen: 2})
	must(err)
	_, err = s.ListRuns(ctx, 10, "")
	must(err)
}
