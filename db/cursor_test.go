package db_test

// Cursors are client input: a forged one is refused as ErrInvalid naming the
// cursor, on every backend, whatever it holds; the database never sees a
// value that its column could not hold. Explore further with
//
//	go test -run '^$' -fuzz FuzzCursor ./db/
//
// (the target uses SQLite, so it needs no MySQL server).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// wantCursorRefused fails unless err is the store's refusal of a cursor: a
// *db.FieldError naming it, which the APIs answer 400 / BAD_USER_INPUT.
func wantCursorRefused(t *testing.T, err error) {
	t.Helper()
	var fe *db.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, db.ErrInvalid) || fe.Field != "cursor" {
		t.Errorf("error %v (%T), want a *db.FieldError naming the cursor", err, err)
	}
}

// allOrderKeys orders by every key, name first.
var allOrderKeys = []db.OrderKey{
	{Field: db.OrderName}, {Field: db.OrderRank}, {Field: db.OrderViews},
	{Field: db.OrderSubscriptions}, {Field: db.OrderAge}, {Field: db.OrderUpdatedAt},
}

// What a forged cursor gets.
const (
	refused        = iota // 400: no page
	pageFromStart         // the same page as without a cursor
	pageEmpty             // nothing comes after it
	pageOfUnknowns        // only rows whose first key is unknown
)

func TestListRefusesForgedCursors(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		seedOrderData(t, s)
		by := func(field string) []db.OrderKey { return []db.OrderKey{{Field: field}} }
		longestName := strings.Repeat(`\u003c`, 255) // "<" as encoding/json escapes it: the longest a character gets

		tests := []struct {
			name     string
			order    []db.OrderKey
			body     string // the cursor's JSON; SCOPE is the order's scope
			backward bool
			want     int
		}{
			{name: "the longest cursor List can make", order: allOrderKeys, want: pageFromStart,
				body: `{"s":SCOPE,"v":["` + longestName + `",-9223372036854775808,-9223372036854775808,-9223372036854775808,-2147483648,"9999-12-31T23:59:59.999999Z"],"id":9223372036854775807}`},
			{name: "the earliest time DATETIME holds", order: by(db.OrderUpdatedAt), want: pageFromStart,
				body: `{"s":SCOPE,"v":["1000-01-01T00:00:00Z"],"id":1}`},
			{name: "the latest time DATETIME(6) holds", order: by(db.OrderUpdatedAt), want: pageEmpty,
				body: `{"s":SCOPE,"v":["9999-12-31T23:59:59.999999Z"],"id":9223372036854775807}`},
			{name: "a time with an offset inside the range", order: by(db.OrderUpdatedAt), want: pageFromStart,
				body: `{"s":SCOPE,"v":["1000-01-01T05:00:00+05:00"],"id":1}`},
			{name: "the lowest rank BIGINT holds", order: by(db.OrderRank), want: pageFromStart,
				body: `{"s":SCOPE,"v":[-9223372036854775808],"id":1}`},
			{name: "the highest age INT holds", order: by(db.OrderAge), want: pageOfUnknowns,
				body: `{"s":SCOPE,"v":[2147483647],"id":9223372036854775807}`},
			{name: "an unknown rank", order: by(db.OrderRank), want: pageOfUnknowns,
				body: `{"s":SCOPE,"v":[null],"id":1}`},

			{name: "a NUL in a name", order: by(db.OrderName), body: `{"s":SCOPE,"v":["a\u0000b"],"id":1}`},
			{name: "a NUL in a name, backwards", order: by(db.OrderName), backward: true, body: `{"s":SCOPE,"v":["a\u0000b"],"id":1}`},
			{name: "a NUL in a name after other keys", order: []db.OrderKey{{Field: db.OrderRank}, {Field: db.OrderName}},
				body: `{"s":SCOPE,"v":[1,"\u0000"],"id":1}`},
			{name: "invalid UTF-8 in a name", order: by(db.OrderName), body: "{\"s\":SCOPE,\"v\":[\"a\xffb\"],\"id\":1}"},
			{name: "invalid UTF-8 outside the values", order: by(db.OrderName), body: "{\"s\":SCOPE,\"v\":[\"a\"],\"id\":1,\xff}"},
			{name: "a name longer than its column", order: by(db.OrderName), body: `{"s":SCOPE,"v":["` + strings.Repeat("x", 256) + `"],"id":1}`},
			{name: "a number for a name", order: by(db.OrderName), body: `{"s":SCOPE,"v":[5],"id":1}`},
			{name: "an object for a name", order: by(db.OrderName), body: `{"s":SCOPE,"v":[{}],"id":1}`},
			{name: "null for a name", order: by(db.OrderName), body: `{"s":SCOPE,"v":[null],"id":1}`},
			{name: "a string for a rank", order: by(db.OrderRank), body: `{"s":SCOPE,"v":["5"],"id":1}`},
			{name: "true for a rank", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[true],"id":1}`},
			{name: "a fraction for a rank", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[1.5],"id":1}`},
			{name: "an exponent for a rank", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[1e3],"id":1}`},
			{name: "a rank beyond BIGINT", order: by(db.OrderViews), body: `{"s":SCOPE,"v":[9223372036854775808],"id":1}`},
			{name: "a huge number for views", order: by(db.OrderViews), body: `{"s":SCOPE,"v":[1e400],"id":1}`},
			{name: "an age beyond INT", order: by(db.OrderAge), body: `{"s":SCOPE,"v":[2147483648],"id":1}`},
			{name: "an age below INT", order: by(db.OrderAge), body: `{"s":SCOPE,"v":[-2147483649],"id":1}`},
			{name: "a time before year 1000", order: by(db.OrderUpdatedAt), body: `{"s":SCOPE,"v":["0999-12-31T23:59:59.999999Z"],"id":1}`},
			{name: "year zero", order: by(db.OrderUpdatedAt), body: `{"s":SCOPE,"v":["0000-01-01T00:00:00Z"],"id":1}`},
			{name: "a time past 9999 in UTC", order: by(db.OrderUpdatedAt), body: `{"s":SCOPE,"v":["9999-12-31T23:30:00-01:00"],"id":1}`},
			{name: "a time that is not RFC 3339", order: by(db.OrderUpdatedAt), body: `{"s":SCOPE,"v":["2024-01-02 03:04:05"],"id":1}`},
			{name: "a number for a time", order: by(db.OrderUpdatedAt), body: `{"s":SCOPE,"v":[1704164645],"id":1}`},
			{name: "null for a time", order: by(db.OrderUpdatedAt), body: `{"s":SCOPE,"v":[null],"id":1}`},
			{name: "a string for the id", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[1],"id":"1"}`},
			{name: "an id beyond BIGINT", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[1],"id":9223372036854775808}`},
			{name: "no id", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[1]}`},
			{name: "a field of its own", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[1],"id":1,"x":1}`},
			{name: "something after the object", order: by(db.OrderRank), body: `{"s":SCOPE,"v":[1],"id":1}{}`},
			{name: "values that are not a list", order: by(db.OrderRank), body: `{"s":SCOPE,"v":{"0":1},"id":1}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				start, err := s.List(ctx, db.Filter{}, tt.order, db.Page{First: 5})
				if err != nil || len(start.Cursors) == 0 {
					t.Fatalf("List: %+v, %v", start, err)
				}
				forged := testkit.ForgeCursor(t, start.Cursors[0], tt.body)
				page := db.Page{First: 5, After: forged}
				if tt.backward {
					page = db.Page{Last: 5, Before: forged}
				}
				got, err := s.List(ctx, db.Filter{}, tt.order, page)
				if tt.want == refused {
					if got != nil {
						t.Errorf("List gave a page: %v", idsOf(got.Items))
					}
					wantCursorRefused(t, err)
					return
				}
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				switch tt.want {
				case pageFromStart:
					if !slices.Equal(idsOf(got.Items), idsOf(start.Items)) {
						t.Errorf("page %v, want the first page %v", idsOf(got.Items), idsOf(start.Items))
					}
				case pageEmpty:
					if len(got.Items) != 0 {
						t.Errorf("page %v, want none", idsOf(got.Items))
					}
				case pageOfUnknowns:
					if len(got.Items) == 0 {
						t.Errorf("empty page, want the rows whose %s is unknown", tt.order[0].Field)
					}
					for _, p := range got.Items {
						if v := sortValue(&p, tt.order[0].Field); v != nil {
							t.Errorf("row %d has %s %v, want only unknown ones", p.ID, tt.order[0].Field, v)
						}
					}
				}
			})
		}
	})
}

// fuzzOrders are the orders FuzzCursor forges cursors for: every key in both
// directions, and all keys at once.
func fuzzOrders() [][]db.OrderKey {
	var out [][]db.OrderKey
	for _, field := range db.OrderFields {
		out = append(out, []db.OrderKey{{Field: field}}, []db.OrderKey{{Field: field, Desc: true}})
	}
	return append(out, allOrderKeys)
}

// fuzzFilter is the filter FuzzCursor lists order with: a q where the
// order needs one.
func fuzzFilter(order []db.OrderKey) db.Filter {
	if slices.ContainsFunc(order, func(k db.OrderKey) bool { return k.Field == db.OrderRelevance }) {
		return db.Filter{Q: "a"}
	}
	return db.Filter{}
}

// FuzzCursor forges cursors with the right scope for an order (so that they
// reach the checks of their values) and for the feed-run list, and asks the
// store for the page after (or before) them: the answer is a page or the
// refusal of the cursor, never another error.
func FuzzCursor(f *testing.F) {
	ctx := context.Background()
	s := testkit.OpenStore(f, dbtest.SQLiteURL(f))
	var profiles []db.Profile
	for i := range int64(14) {
		profiles = append(profiles, orderProfile(i))
	}
	mustUpsert(f, s, profiles...)
	orders := fuzzOrders()
	scopes := make([]string, len(orders))
	for i, order := range orders {
		page, err := s.List(ctx, fuzzFilter(order), order, db.Page{First: 2})
		if err != nil || len(page.Cursors) == 0 {
			f.Fatalf("List: %+v, %v", page, err)
		}
		scopes[i] = page.Cursors[0]
		// Valid cursors of every order, as List makes them.
		var c struct {
			V  json.RawMessage `json:"v"`
			ID json.RawMessage `json:"id"`
		}
		raw, _ := base64.RawURLEncoding.DecodeString(page.Cursors[1])
		if err := json.Unmarshal(raw, &c); err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), false, string(c.V), string(c.ID))
		f.Add(uint8(i), true, string(c.V), string(c.ID))
	}
	orderIndex := func(field string, desc bool) uint8 {
		return uint8(slices.IndexFunc(orders, func(o []db.OrderKey) bool { return len(o) == 1 && o[0] == db.OrderKey{Field: field, Desc: desc} }))
	}
	name, rank, age, updated := orderIndex(db.OrderName, false), orderIndex(db.OrderRank, true), orderIndex(db.OrderAge, false), orderIndex(db.OrderUpdatedAt, false)
	relevance := orderIndex(db.OrderRelevance, false)
	seeds := []struct {
		order      uint8
		values, id string
	}{
		{name, `["a\u0000b"]`, "1"},   // the NUL of the issue
		{name, "[\"a\x00b\"]", "1"},   // a raw NUL: not JSON
		{name, "[\"\xff\xfe\"]", "1"}, // invalid UTF-8
		{name, `["\ud800"]`, "1"},     // a lone surrogate
		{name, `["` + strings.Repeat("é", 256) + `"]`, "1"},
		{name, `[5]`, "1"},
		{name, `[null]`, "1"},
		{rank, `["5"]`, "1"},
		{rank, `[1e400]`, "1"},
		{rank, `[99999999999999999999]`, "1"},
		{rank, `[-9223372036854775808]`, "9223372036854775807"},
		{rank, `[true]`, "1"},
		{rank, `[[1]]`, "1"},
		{rank, `[1,2]`, "1"},
		{rank, `[]`, "1"},
		{rank, `null`, "1"},
		{rank, `[1]`, "0"},
		{rank, `[1]`, "-1"},
		{rank, `[1]`, "1e3"},
		{rank, `[1]`, `"1"`},
		{rank, `[1]`, `1,"x":1`},
		{age, `[2147483648]`, "1"},
		{age, `[-2147483649]`, "1"},
		{updated, `["0000-01-01T00:00:00Z"]`, "1"},
		{updated, `["9999-12-31T23:59:59-23:59"]`, "1"},
		{updated, `["yesterday"]`, "1"},
		{updated, `[0]`, "1"},
		{relevance, `[5,1]`, "1"},  // past the last tier
		{relevance, `[-1,1]`, "1"}, // before the first
		{relevance, `[0]`, "1"},    // without the rank that follows it
		{relevance, `[4,null]`, "1"},
		{uint8(len(orders) - 1), `["anna",1,1,1,1,"2024-01-02T03:04:05Z"]`, "1"},
	}
	for _, seed := range seeds {
		f.Add(seed.order, false, seed.values, seed.id)
		f.Add(seed.order, true, seed.values, seed.id)
	}
	runs := db.RunCursor(1)
	f.Fuzz(func(t *testing.T, order uint8, backward bool, values, id string) {
		i := int(order) % len(orders)
		body := `{"s":SCOPE,"v":` + values + `,"id":` + id + `}`
		forged := testkit.ForgeCursor(t, scopes[i], body)
		page := db.Page{First: 3, After: forged}
		if backward {
			page = db.Page{Last: 3, Before: forged}
		}
		if _, err := s.List(ctx, fuzzFilter(orders[i]), orders[i], page); err != nil {
			wantCursorRefused(t, err)
		}
		if _, err := s.ListRuns(ctx, 3, testkit.ForgeCursor(t, runs, body)); err != nil {
			wantCursorRefused(t, err)
		}
	})
}
