package db_test

import (
	"reflect"
	"strings"
	"testing"

	"marquee/db"
)

// TestProfileRulesCoverEveryField: one rule per field of PornstarFields, in
// the order of the struct (the order of the representation).
func TestProfileRulesCoverEveryField(t *testing.T) {
	typ := reflect.TypeOf(db.PornstarFields{})
	if len(db.ProfileRules) != typ.NumField() {
		t.Fatalf("%d rules for %d fields", len(db.ProfileRules), typ.NumField())
	}
	for i, r := range db.ProfileRules {
		if tag := typ.Field(i).Tag.Get("json"); r.Name != tag {
			t.Errorf("rule %d is %q, field %d is %q", i, r.Name, i, tag)
		}
		if got, ok := db.Rule(r.Name); !ok || !reflect.DeepEqual(got, r) {
			t.Errorf("Rule(%q) = %+v, %v", r.Name, got, ok)
		}
	}
	for _, name := range []string{"aliases", "thumbnails", "thumbnails/width", "thumbnails/url"} {
		if _, ok := db.Rule(name); !ok {
			t.Errorf("Rule(%q) not found", name)
		}
	}
	for _, name := range []string{"id", "thumbnails/image", "width"} {
		if _, ok := db.Rule(name); ok {
			t.Errorf("Rule(%q) found: it names no field", name)
		}
	}
}

// TestReplaceInvalid: each refused value becomes unknown, the rest of the
// profile stays, and what was replaced is reported; the result passes
// ValidateProfile.
func TestReplaceInvalid(t *testing.T) {
	long := strings.Repeat("x", 300)
	type replaced struct {
		field string
		value any
	}
	tests := []struct {
		name   string
		change func(p *db.Profile)
		want   func(p *db.Profile) // the expected profile, from the valid one
		report []replaced
	}{
		{"a valid profile is left alone", func(p *db.Profile) {}, func(p *db.Profile) {}, nil},
		{"negative counts become null",
			func(p *db.Profile) { p.Age, p.Rank, p.Views = ptr(int32(-1)), ptr(int64(-3)), ptr(int64(-9)) },
			func(p *db.Profile) { p.Age, p.Rank, p.Views = nil, nil, nil },
			[]replaced{{"age", int32(-1)}, {"views", int64(-9)}, {"rank", int64(-3)}}},
		{"too long text becomes null",
			func(p *db.Profile) { p.Link = ptr(strings.Repeat("l", 1025)) },
			func(p *db.Profile) { p.Link = nil },
			[]replaced{{"link", strings.Repeat("l", 1025)}}},
		{"a refused list value is dropped",
			func(p *db.Profile) { p.HairColors = db.StringList{"Blonde", " ", "Red"} },
			func(p *db.Profile) { p.HairColors = db.StringList{"Blonde", "Red"} },
			[]replaced{{"hair_colors/1", " "}}},
		{"a list with too many values becomes unknown",
			func(p *db.Profile) { p.Ethnicities = make(db.StringList, 51) },
			func(p *db.Profile) { p.Ethnicities = nil },
			[]replaced{{"ethnicities", "51 values"}}},
		{"a refused alias is dropped",
			func(p *db.Profile) { p.Aliases = []string{"A", long, "B"} },
			func(p *db.Profile) { p.Aliases = []string{"A", "B"} },
			[]replaced{{"aliases/1", long}}},
		{"a thumbnail's negative width becomes null",
			func(p *db.Profile) { p.Thumbnails[1].Width = ptr(int32(-234)) },
			func(p *db.Profile) { p.Thumbnails[1].Width = nil },
			[]replaced{{"thumbnails/1/width", int32(-234)}}},
		{"a thumbnail whose URL is refused is dropped",
			func(p *db.Profile) { p.Thumbnails[0].URL = "https://x.test/" + strings.Repeat("u", 2048) },
			func(p *db.Profile) { p.Thumbnails = p.Thumbnails[1:] },
			[]replaced{{"thumbnails/0/url", "https://x.test/" + strings.Repeat("u", 2048)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := fullProfile(7), fullProfile(7)
			got.Thumbnails, want.Thumbnails = withHashes(got.Thumbnails), withHashes(want.Thumbnails)
			tt.change(&got)
			tt.want(&want)
			values := db.ReplaceInvalid(&got)
			var report []replaced
			for _, v := range values {
				if v.Reason == "" {
					t.Errorf("%s replaced without a reason", v.Field)
				}
				report = append(report, replaced{v.Field, v.Value})
			}
			if !reflect.DeepEqual(report, tt.report) {
				t.Errorf("replaced %v, want %v", report, tt.report)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("profile %s", fieldsDiff(want.PornstarFields, got.PornstarFields))
				if !reflect.DeepEqual(got.Aliases, want.Aliases) || !reflect.DeepEqual(got.Thumbnails, want.Thumbnails) {
					t.Errorf("aliases %q thumbnails %+v; want %q %+v", got.Aliases, got.Thumbnails, want.Aliases, want.Thumbnails)
				}
			}
			if err := db.ValidateProfile(&got); err != nil {
				t.Errorf("ValidateProfile after ReplaceInvalid: %v", err)
			}
		})
	}
}
