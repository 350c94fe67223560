package graph

// The pornstars filter and order arguments, read by the tables of package
// db: a PornstarFilter input field is the db.FilterFields parameter of the
// same name, camel-cased (hair_color is hairColor, age_min ageMin), and a
// PornstarOrderField value is the db.OrderFields key of the same name,
// upper-cased. The input type is generated from the schema, so the fields
// are bound by name when the package loads; tests check both ways that
// every filter has its input fields and every input field its filter.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"marquee/db"
	"marquee/graph/model"
)

// filterInput is one filter bound to the fields of model.PornstarFilter
// that carry its parameters.
type filterInput struct {
	field *db.FilterField
	// names are the input fields, one per parameter (db ParamNames order);
	// index their indexes in model.PornstarFilter.
	names []string
	index []int
}

// filterInputs are db.FilterFields bound to model.PornstarFilter; with
// filterInputsErr, toFilter fails (TestFilterInputMatchesTable names why).
var filterInputs, filterInputsErr = bindFilterInputs()

// filterInputTypes are the Go types gqlgen gives an input field of each
// kind of filter.
var filterInputTypes = map[db.FilterKind][]reflect.Type{
	db.FilterText:     {reflect.TypeFor[*string]()},
	db.FilterTextList: {reflect.TypeFor[[]string]()},
	db.FilterIDList:   {reflect.TypeFor[[]int]()},
	db.FilterBool:     {reflect.TypeFor[*bool]()},
	db.FilterIntRange: {reflect.TypeFor[*int](), reflect.TypeFor[*int64]()},
	db.FilterRemoved:  {reflect.TypeFor[*model.RemovedFilter]()},
	db.FilterTime:     {reflect.TypeFor[*time.Time]()},
}

// bindFilterInputs binds every filter to its input fields by name and
// reports a filter without its fields, a field of the wrong type and a
// field that is no filter's.
func bindFilterInputs() ([]filterInput, error) {
	typ := reflect.TypeFor[model.PornstarFilter]()
	fields := map[string]reflect.StructField{}
	for i := range typ.NumField() {
		sf := typ.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		fields[name] = sf
	}
	var errs []error
	bound := map[string]bool{}
	inputs := make([]filterInput, 0, len(db.FilterFields))
	for i := range db.FilterFields {
		input := filterInput{field: &db.FilterFields[i]}
		for _, param := range input.field.ParamNames() {
			name := camelCase(param)
			sf, ok := fields[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("filter %s has no input field %s", input.field.Name, name))
				continue
			case !slices.Contains(filterInputTypes[input.field.Kind], sf.Type):
				errs = append(errs, fmt.Errorf("input field %s is a %s, which filter %s cannot read", name, sf.Type, input.field.Name))
				continue
			}
			bound[name] = true
			input.names = append(input.names, name)
			input.index = append(input.index, sf.Index[0])
		}
		inputs = append(inputs, input)
	}
	for name := range fields {
		if !bound[name] {
			errs = append(errs, fmt.Errorf("input field %s is no filter's", name))
		}
	}
	return inputs, errors.Join(errs...)
}

// removedFilters are the values of RemovedFilter as the store has them.
var removedFilters = map[model.RemovedFilter]db.Removed{
	model.RemovedFilterNotRemoved: db.RemovedExclude,
	model.RemovedFilterRemoved:    db.RemovedOnly,
	model.RemovedFilterAny:        db.RemovedAny,
}

// toFilter translates the filter argument.
func toFilter(in *model.PornstarFilter) (db.Filter, error) {
	var f db.Filter
	if in == nil {
		return f, nil
	}
	if filterInputsErr != nil {
		return f, fmt.Errorf("graph: the schema's PornstarFilter does not match db.FilterFields: %w", filterInputsErr)
	}
	v := reflect.ValueOf(in).Elem()
	for _, input := range filterInputs {
		field, value := input.field, v.Field(input.index[0])
		switch field.Kind {
		case db.FilterText:
			if s := value.Interface().(*string); s != nil {
				field.SetText(&f, *s)
			}
		case db.FilterTextList:
			list := value.Interface().([]string)
			if err := checkFilterValues(input, len(list)); err != nil {
				return f, err
			}
			field.SetTexts(&f, list)
		case db.FilterIDList:
			list := value.Interface().([]int)
			if err := checkFilterValues(input, len(list)); err != nil {
				return f, err
			}
			var ids []int64
			for _, id := range list {
				ids = append(ids, int64(id))
			}
			field.SetIDs(&f, ids)
		case db.FilterBool:
			if b := value.Interface().(*bool); b != nil {
				field.SetBool(&f, *b)
			}
		case db.FilterIntRange:
			if r := (db.Range{Min: intBound(value), Max: intBound(v.Field(input.index[1]))}); r.Min != nil || r.Max != nil {
				field.SetRange(&f, r)
			}
		case db.FilterTime:
			if t := value.Interface().(*time.Time); t != nil {
				field.SetTime(&f, *t)
			}
		case db.FilterRemoved:
			if r := value.Interface().(*model.RemovedFilter); r != nil {
				removed, ok := removedFilters[*r]
				if !ok {
					return f, badInput("filter."+input.names[0], "is not a RemovedFilter value")
				}
				field.SetRemoved(&f, removed)
			}
		}
	}
	return f, nil
}

// checkFilterValues bounds the values of a list filter.
func checkFilterValues(input filterInput, n int) error {
	if n > input.field.MaxValues {
		return badInput("filter."+input.names[0], fmt.Sprintf("has %d values, at most %d allowed", n, input.field.MaxValues))
	}
	return nil
}

// intBound reads a bound of a range: an *int or *int64 input field.
func intBound(value reflect.Value) *int64 {
	if value.IsNil() {
		return nil
	}
	n := value.Elem().Int()
	return &n
}

// toOrder translates orderBy; a field may appear once.
func toOrder(orderBy []*model.PornstarOrder) ([]db.OrderKey, error) {
	keys := make([]db.OrderKey, 0, len(orderBy))
	seen := map[model.PornstarOrderField]bool{}
	for i, o := range orderBy {
		field := strings.ToLower(string(o.Field))
		if !slices.Contains(db.OrderFields, field) {
			return nil, badInput(fmt.Sprintf("orderBy.%d.field", i), "is not an ordering field")
		}
		if seen[o.Field] {
			return nil, badInput(fmt.Sprintf("orderBy.%d.field", i), "is repeated")
		}
		seen[o.Field] = true
		keys = append(keys, db.OrderKey{Field: field, Desc: o.Direction == model.OrderDirectionDesc})
	}
	return keys, nil
}

// filterError names the argument behind a store error of the filter: the
// input field of the filter the store names ("hair_colors/1" is
// filter.hairColor.1).
func filterError(err error) error {
	var fe *db.FieldError
	if errors.As(err, &fe) {
		if field, ok := db.FilterFieldOf(fe.Field); ok && field.Kind != db.FilterIntRange {
			name := field.Name
			if _, index, found := strings.Cut(fe.Field, "/"); found {
				name += "/" + index
			}
			return inputError("filter.", &db.FieldError{Field: name, Reason: fe.Reason})
		}
	}
	return inputError("filter.", err)
}
