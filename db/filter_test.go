package db_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"marquee/db"
)

// setSample sets field in f through its setter, with a value of its kind.
func setSample(field *db.FilterField, f *db.Filter) {
	switch field.Kind {
	case db.FilterText:
		field.SetText(f, "a")
	case db.FilterTextList:
		field.SetTexts(f, []string{"a"})
	case db.FilterIDList:
		field.SetIDs(f, []int64{1})
	case db.FilterBool:
		field.SetBool(f, false)
	case db.FilterIntRange:
		field.SetRange(f, db.Range{Min: ptr(int64(1))})
	case db.FilterRemoved:
		field.SetRemoved(f, db.RemovedAny)
	case db.FilterTime:
		field.SetTime(f, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	}
}

// TestFilterFields checks the table of filters against db.Filter: each row
// sets the one member it names, and every member has its row.
func TestFilterFields(t *testing.T) {
	members := map[string]bool{}
	for sf := range reflect.TypeFor[db.Filter]().Fields() {
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		members[name] = false
	}
	params := map[string]string{}
	for i := range db.FilterFields {
		field := &db.FilterFields[i]
		t.Run(field.Name, func(t *testing.T) {
			for _, param := range field.ParamNames() {
				if other, ok := params[param]; ok {
					t.Errorf("parameter %s is also filter %s's", param, other)
				}
				params[param] = field.Name
			}
			if _, ok := members[field.Member]; !ok {
				t.Fatalf("member %q is not a member of db.Filter", field.Member)
			}
			members[field.Member] = true

			var f db.Filter
			setSample(field, &f)
			raw, _ := json.Marshal(f)
			var set map[string]json.RawMessage
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(set)); !slices.Equal(keys, []string{field.Member}) {
				t.Errorf("the setter set %v, want %s alone", keys, field.Member)
			}
			if field.Kind == db.FilterIntRange && f.Ranges[field.Name].Min == nil {
				t.Errorf("the setter set ranges %v, not ranges[%s]", f.Ranges, field.Name)
			}

			// A store error about the member names this filter.
			errorField := field.Member
			switch field.Kind {
			case db.FilterTextList, db.FilterIDList:
				errorField += "/0"
			case db.FilterIntRange:
				errorField += "/" + field.Name
			}
			if got, ok := db.FilterFieldOf(errorField); !ok || got.Name != field.Name {
				t.Errorf("FilterFieldOf(%q) = %v, %v; want filter %s", errorField, got, ok, field.Name)
			}
			if (field.Kind == db.FilterTextList || field.Kind == db.FilterIDList) && (field.MaxValues < 1 || field.MaxLength < 1) {
				t.Errorf("a list filter bounded by %d values of %d characters", field.MaxValues, field.MaxLength)
			}
		})
	}
	for member, used := range members {
		if !used {
			t.Errorf("db.Filter member %s has no row in db.FilterFields", member)
		}
	}
	var ranges []string
	for _, field := range db.FilterFields {
		if field.Kind == db.FilterIntRange {
			ranges = append(ranges, field.Name)
		}
	}
	if !slices.Equal(db.RangeFields, ranges) {
		t.Errorf("RangeFields %v, range filters %v", db.RangeFields, ranges)
	}
}
