package db_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/uptrace/bun/dialect"

	"marquee/db"
	"marquee/internal/testkit"
)

// searchPerformer is one performer of the search data: feed id, name,
// aliases and rank (0: unknown).
type searchPerformer struct {
	feedID  int64
	name    string
	aliases []string
	rank    int64
}

var longName = strings.Repeat("ab", 100) // 200 letters

var searchPerformers = []searchPerformer{
	{1, "Aaliyah Jolie", []string{"Aaliyah J", "Jolie Baby"}, 5},
	{2, "Jolie", nil, 50},
	{3, "Angelina Jolie", nil, 3},
	{4, "Jolina Marie", []string{"Jolie"}, 1},
	{5, "Joline Doe", nil, 2},
	{6, "Mia Jolie-Rose", []string{"Jolie Rose"}, 4},
	{7, "Zoë Ünal", []string{"ÉLODIE", "Ana María"}, 8},
	{8, "Max 100% Real", nil, 9},
	{9, "O'Hara_Smith", []string{`back\slash`}, 10},
	{10, "Ørsted Æsir Straße", nil, 11},
	{11, "山田 花子", nil, 12},
	{12, "Kimberly Lee", nil, 7},
	{13, "Kim Lo", nil, 7},
	{14, "Kim Lee", nil, 0},
	{15, longName, nil, 20},
}

func searchProfiles() []db.Profile {
	var out []db.Profile
	for _, sp := range searchPerformers {
		p := bareProfile(sp.feedID, sp.name)
		p.Aliases = sp.aliases
		if sp.rank != 0 {
			p.Rank = ptr(sp.rank)
		}
		out = append(out, p)
	}
	return out
}

// searchNames lists the names of a page, in its order.
func searchNames(rows []db.Pornstar) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	return out
}

// TestSearch runs a table of queries with the default order of a q
// (relevance, then rank, then id) and checks every result in order, and
// the relevance tier of the first.
func TestSearch(t *testing.T) {
	t.Parallel()
	const (
		exactName, exactAlias, namePrefix, aliasPrefix, other = 0, 1, 2, 3, 4
	)
	jolies := []string{"Jolie", "Jolina Marie", "Mia Jolie-Rose", "Aaliyah Jolie", "Angelina Jolie"}
	jWords := []string{"Jolina Marie", "Joline Doe", "Jolie", "Mia Jolie-Rose", "Aaliyah Jolie", "Angelina Jolie"}
	tests := []struct {
		name  string
		q     string
		want  []string
		first int64 // relevance tier of want[0]
	}{
		{"exact name, exact alias, alias prefixes by rank, other words", "jolie", jolies, exactName},
		{"upper case", "JOLIE", jolies, exactName},
		{"accent in q", "jólie", jolies, exactName},
		{"accents in the name", "zoe unal", []string{"Zoë Ünal"}, exactName},
		{"accent in the alias", "elodie", []string{"Zoë Ünal"}, exactAlias},
		{"accent in q and alias", "ana maría", []string{"Zoë Ünal"}, exactAlias},
		{"word order", "jolie aaliyah", []string{"Aaliyah Jolie"}, other},
		{"in order: the whole name", "aaliyah jolie", []string{"Aaliyah Jolie"}, exactName},
		{"exact alias beats name prefix", "aaliyah j", []string{"Aaliyah Jolie"}, exactAlias},
		{"word order inside an alias", "rose jolie", []string{"Mia Jolie-Rose"}, other},
		{"hyphen separates words", "jolie-rose", []string{"Mia Jolie-Rose"}, exactAlias},
		{"words of two aliases do not combine", "aaliyah baby", nil, 0},
		{"words of the name and an alias do not combine", "zoe elodie", nil, 0},
		{"prefixes: names first by rank, then aliases", "jol", jWords, namePrefix},
		{"one letter", "j", jWords, namePrefix},
		{"one letter, a hundred times: no name starts so, by rank", strings.Repeat("j ", 100),
			[]string{"Jolina Marie", "Joline Doe", "Angelina Jolie", "Mia Jolie-Rose", "Aaliyah Jolie", "Jolie"}, other},
		{"a prefix implied by a longer word: by rank", "jo jolie",
			[]string{"Jolina Marie", "Angelina Jolie", "Mia Jolie-Rose", "Aaliyah Jolie", "Jolie"}, other},
		{"rank ties by id, unknown rank last", "kim", []string{"Kimberly Lee", "Kim Lo", "Kim Lee"}, namePrefix},
		{"two prefixes", "ki le", []string{"Kimberly Lee", "Kim Lee"}, other},
		{"letters without a decomposition", "orsted aesir strasse", []string{"Ørsted Æsir Straße"}, exactName},
		{"another script", "花子", []string{"山田 花子"}, other},
		{"200 letters: the whole name", longName, []string{longName}, exactName},
		{"100 letters: a name prefix", longName[:100], []string{longName}, namePrefix},
		{"201 letters: longer than every word", longName + "a", nil, 0},
		{"digits and a percent sign", "100%", []string{"Max 100% Real"}, other},
		{"percent sign alone", "%", nil, 0},
		{"percent sign is no wildcard", "j%e", nil, 0},
		{"underscore alone", "_", nil, 0},
		{"underscore is no wildcard", "j_lie", nil, 0},
		{"underscore separates words", "hara_sm", []string{"O'Hara_Smith"}, other},
		{"apostrophe", "o'hara", []string{"O'Hara_Smith"}, namePrefix},
		{"apostrophe alone", "'", nil, 0},
		{"backslash alone", `\`, nil, 0},
		{"backslash separates words", `back\slash`, []string{"O'Hara_Smith"}, exactAlias},
		{"quotes and SQL", `jolie' OR '1'='1`, nil, 0},
		{"no match", "nobody", nil, 0},
		{"inside a word is no match", "olie", nil, 0},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		mustUpsert(t, s, searchProfiles()...)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := db.Filter{Q: tt.q}
				page, err := s.List(context.Background(), f, nil, db.Page{First: db.MaxPageSize, WithTotal: true})
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if got := searchNames(page.Items); !slices.Equal(got, tt.want) {
					t.Errorf("q=%q finds\n %q\nwant\n %q", tt.q, got, tt.want)
				}
				if page.Total != int64(len(tt.want)) {
					t.Errorf("Total = %d, want %d", page.Total, len(tt.want))
				}
				if len(page.Items) > 0 && page.Items[0].Relevance != tt.first {
					t.Errorf("relevance of %q = %d, want %d", page.Items[0].Name, page.Items[0].Relevance, tt.first)
				}
				explicit, err := s.List(context.Background(), f, []db.OrderKey{{Field: db.OrderRelevance}}, db.Page{First: db.MaxPageSize})
				if err != nil {
					t.Fatalf("List by relevance: %v", err)
				}
				if got := searchNames(explicit.Items); !slices.Equal(got, tt.want) {
					t.Errorf("sort=relevance finds %q, want %q", got, tt.want)
				}
			})
		}
	})
}

// TestSearchPagination walks relevance orders page by page in both
// directions: the cursors carry the tier, so pages neither skip nor repeat.
func TestSearchPagination(t *testing.T) {
	t.Parallel()
	orders := []namedOrder{
		{"default", nil},
		{"relevance", []db.OrderKey{{Field: db.OrderRelevance}}},
		{"relevance desc", []db.OrderKey{{Field: db.OrderRelevance, Desc: true}}},
		{"relevance, name desc", []db.OrderKey{{Field: db.OrderRelevance}, {Field: db.OrderName, Desc: true}}},
		{"name, relevance", []db.OrderKey{{Field: db.OrderName}, {Field: db.OrderRelevance}}},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		mustUpsert(t, s, searchProfiles()...)
		for _, q := range []string{"j", "jolie", "kim"} {
			for _, o := range orders {
				want := idsOf(listAll(t, s, db.Filter{Q: q}, o.order))
				for _, k := range []int{1, 2, 4} {
					t.Run(q+"/"+o.name, func(t *testing.T) {
						if got := walkForward(t, s, db.Filter{Q: q}, o.order, k); !slices.Equal(got, want) {
							t.Errorf("k=%d forward: %v, want %v", k, got, want)
						}
						if got := walkBackward(t, s, db.Filter{Q: q}, o.order, k); !slices.Equal(got, want) {
							t.Errorf("k=%d backward: %v, want %v", k, got, want)
						}
					})
				}
			}
		}
		t.Run("relevance desc is the reverse of the tiers", func(t *testing.T) {
			rows := listAll(t, s, db.Filter{Q: "jolie"}, []db.OrderKey{{Field: db.OrderRelevance, Desc: true}})
			if got := searchNames(rows); got[0] != "Angelina Jolie" || got[len(got)-1] != "Jolie" {
				t.Errorf("relevance desc: %q", got)
			}
		})
	})
}

func TestSearchRelevanceNeedsQ(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		for _, q := range []string{"", "   "} {
			_, err := s.List(context.Background(), db.Filter{Q: q}, []db.OrderKey{{Field: db.OrderRelevance}}, db.Page{})
			var fe *db.FieldError
			if !errors.As(err, &fe) || fe.Field != "order/0/field" {
				t.Errorf("q=%q, sort=relevance: %v, want a field error of order/0/field", q, err)
			}
		}
	})
}

// TestSearchIndexInStep changes performers through the feed and the API and
// checks that search finds them by what they are now, not what they were.
func TestSearchIndexInStep(t *testing.T) {
	t.Parallel()
	find := func(t *testing.T, s *db.Store, q string, removed db.Removed) []string {
		t.Helper()
		return searchNames(listAll(t, s, db.Filter{Q: q, Removed: removed}, nil))
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, searchProfiles()...)
		steps := []struct {
			name   string
			change func(t *testing.T)
			q      string
			want   []string
		}{
			{"feed renames a performer: the old name is gone", func(t *testing.T) {
				p := bareProfile(2, "Brandy Löve")
				p.Rank = ptr(int64(50))
				mustUpsert(t, s, p)
			}, "jolie", []string{"Jolina Marie", "Mia Jolie-Rose", "Aaliyah Jolie", "Angelina Jolie"}},
			{"feed renames a performer: the new name is found", nil, "brandy love", []string{"Brandy Löve"}},
			{"feed replaces an alias: the old alias is gone", func(t *testing.T) {
				p := bareProfile(4, "Jolina Marie")
				p.Rank, p.Aliases = ptr(int64(1)), []string{"Marie J"}
				mustUpsert(t, s, p)
			}, "jolie", []string{"Mia Jolie-Rose", "Aaliyah Jolie", "Angelina Jolie"}},
			{"feed replaces an alias: the new alias is found", nil, "marie j", []string{"Jolina Marie"}},
			{"feed drops every alias", func(t *testing.T) {
				p := bareProfile(1, "Aaliyah Jolie")
				p.Rank = ptr(int64(5))
				mustUpsert(t, s, p)
			}, "baby", nil},
			{"a performer that left the feed is not found", func(t *testing.T) {
				if _, err := s.MarkRemoved(ctx, []int64{3}); err != nil {
					t.Fatal(err)
				}
			}, "angelina", nil},
			{"a performer that left the feed, removed=any", nil, "angelina", []string{"Angelina Jolie"}},
		}
		var created *db.Pornstar
		steps = append(steps, []struct {
			name   string
			change func(t *testing.T)
			q      string
			want   []string
		}{
			{"API create", func(t *testing.T) {
				created = mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Nova Jolie"}, Aliases: []string{"Nóva Star"}})
			}, "nova", []string{"Nova Jolie"}},
			{"API patch of the name", func(t *testing.T) {
				if _, err := s.Update(ctx, created.ID, db.PornstarPatch{Name: db.Some("Nova Brite")}, nil); err != nil {
					t.Fatal(err)
				}
			}, "nova jolie", nil},
			{"API patch of the name keeps the aliases", nil, "nova star", []string{"Nova Brite"}},
			{"API patch of the aliases", func(t *testing.T) {
				if _, err := s.Update(ctx, created.ID, db.PornstarPatch{Aliases: db.Some([]string{"Stella"})}, nil); err != nil {
					t.Fatal(err)
				}
			}, "star", nil},
			{"API patch of the aliases: the new one", nil, "stella", []string{"Nova Brite"}},
			{"API delete", func(t *testing.T) {
				if err := s.Delete(ctx, created.ID, nil); err != nil {
					t.Fatal(err)
				}
			}, "nova", nil},
			{"API create after a delete: found once", func(t *testing.T) {
				mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Nova Brite"}})
			}, "nova", []string{"Nova Brite"}},
		}...)
		for _, step := range steps {
			if step.change != nil {
				step.change(t)
			}
			removed := db.RemovedExclude
			if strings.Contains(step.name, "removed=any") {
				removed = db.RemovedAny
			}
			if got := find(t, s, step.q, removed); !slices.Equal(got, step.want) {
				t.Errorf("%s: q=%q finds %q, want %q", step.name, step.q, got, step.want)
			}
		}
	})
}

// TestSearchPlans checks that a search reads the token index by range,
// never by scanning the token table, on both dialects: the cost of a
// prefix is the tokens that start with it.
func TestSearchPlans(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		profiles := feedgenProfiles(t, 2000)
		for part := range slices.Chunk(profiles, 500) {
			mustUpsert(t, s, part...)
		}
		if s.DB().Dialect == dialect.SQLite {
			if _, err := s.DB().W.ExecContext(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		// The database's search, which answers when the discovery index
		// cannot (a filter whose values it does not hold).
		s.SetDiscoveryIndex(false)
		log := testkit.LogStatements(s)
		for _, q := range []string{"a", "ali", "jolie aaliyah", "a b c d"} {
			log.Take()
			if _, err := s.List(ctx, db.Filter{Q: q}, nil, db.Page{First: 20}); err != nil {
				t.Fatal(err)
			}
			for _, stmt := range log.Take() {
				plan := explain(t, s, stmt)
				if strings.Contains(plan, "SCAN st") || strings.Contains(plan, "table=st0 type=ALL") || strings.Contains(plan, "table=st1 type=ALL") {
					t.Errorf("q=%q scans the tokens: %s\n%s", q, plan, stmt)
				}
			}
		}
	})
}
