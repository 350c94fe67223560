package graph

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph/generated"
	"marquee/graph/model"
)

// filterInputTypeNames are the schema types an input field of each kind of
// filter may have.
var filterInputTypeNames = map[db.FilterKind][]string{
	db.FilterText:     {"String"},
	db.FilterTextList: {"[String!]"},
	db.FilterIDList:   {"[Int!]"},
	db.FilterBool:     {"Boolean"},
	db.FilterIntRange: {"Int", "Int64"},
	db.FilterRemoved:  {"RemovedFilter"},
	db.FilterTime:     {"DateTime"},
}

// TestFilterInputMatchesTable checks both ways that the schema's
// PornstarFilter fields are the parameters of db.FilterFields, camel-cased,
// of a type their kind reads, and that PornstarOrderField is db.OrderFields.
func TestFilterInputMatchesTable(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	declared := map[string]string{}
	for _, f := range schema.Types["PornstarFilter"].Fields {
		declared[f.Name] = f.Type.String()
	}
	want := map[string]bool{}
	for _, field := range db.FilterFields {
		for _, param := range field.ParamNames() {
			name := camelCase(param)
			want[name] = true
			typ, ok := declared[name]
			switch {
			case !ok:
				t.Errorf("filter %s has no PornstarFilter field %s", field.Name, name)
			case !slices.Contains(filterInputTypeNames[field.Kind], typ):
				t.Errorf("PornstarFilter.%s is %s; filter %s takes %v", name, typ, field.Name, filterInputTypeNames[field.Kind])
			}
		}
	}
	for name := range declared {
		if !want[name] {
			t.Errorf("PornstarFilter.%s is no filter of db.FilterFields", name)
		}
	}

	var values []string
	for _, v := range schema.Types["PornstarOrderField"].EnumValues {
		values = append(values, strings.ToLower(v.Name))
	}
	if got, want := slices.Sorted(slices.Values(values)), slices.Sorted(slices.Values(db.OrderFields)); !slices.Equal(got, want) {
		t.Errorf("PornstarOrderField is %v, db.OrderFields %v", got, want)
	}
	var removed []db.Removed
	for _, v := range model.AllRemovedFilter {
		removed = append(removed, removedFilters[v])
	}
	if got, want := slices.Sorted(slices.Values(removed)), slices.Sorted(slices.Values(db.Removals)); !slices.Equal(got, want) {
		t.Errorf("RemovedFilter means %v, db.Removals are %v", got, want)
	}
}

// TestToFilterSetsEveryFilter gives each input field a value and checks
// that toFilter sets the member of db.Filter its filter names.
func TestToFilterSetsEveryFilter(t *testing.T) {
	if filterInputsErr != nil {
		t.Fatal(filterInputsErr)
	}
	for _, input := range filterInputs {
		for i, name := range input.names {
			var in model.PornstarFilter
			field := reflect.ValueOf(&in).Elem().Field(input.index[i])
			switch field.Kind() {
			case reflect.Pointer:
				field.Set(reflect.New(field.Type().Elem()))
				switch {
				case input.field.Kind == db.FilterRemoved:
					field.Elem().SetString(string(model.RemovedFilterAny))
				case field.Elem().Kind() == reflect.String:
					field.Elem().SetString("a")
				}
			case reflect.Slice:
				field.Set(reflect.MakeSlice(field.Type(), 1, 1))
			}
			f, err := toFilter(&in)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			raw, _ := json.Marshal(f)
			var set map[string]json.RawMessage
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(set)); !slices.Equal(keys, []string{input.field.Member}) {
				t.Errorf("%s set %s, want %s alone", name, raw, input.field.Member)
			}
		}
	}
}
