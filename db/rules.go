package db

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldKind is the JSON kind of a performer field's value.
type FieldKind string

// Field kinds.
const (
	KindText     FieldKind = "text"
	KindInteger  FieldKind = "integer"
	KindBoolean  FieldKind = "boolean"
	KindTextList FieldKind = "text list"
	KindList     FieldKind = "list" // a list of objects (thumbnails)
)

// FieldRule is what a valid value of one performer field is. It is the one
// definition every writer applies (REST, GraphQL, the feed, the store
// itself) and that the API documents are built or checked from: a value
// the rule refuses is refused by REST (422) and GraphQL (BAD_USER_INPUT),
// never stored, and a feed value it refuses is stored as unknown with a
// warning on the run.
type FieldRule struct {
	// Name is the field as REST, the topic and FieldError paths spell it
	// (snake_case); GraphQL spells it in camelCase.
	Name string
	Kind FieldKind
	// Required fields can be neither null nor blank.
	Required bool
	// Min and Max bound an integer, inclusively.
	Min, Max int64
	// MaxLength bounds text, and each value of a list, in characters.
	MaxLength int
	// MaxItems bounds the values of a list.
	MaxItems int
	// NoBlankItems refuses list values that are empty or only spaces.
	NoBlankItems bool
}

// Column sizes and list caps of the performer fields, in characters and
// values, as the migrations declare them.
const (
	maxNameLen      = 255
	maxShortLen     = 32
	maxBreastType   = 16
	maxLinkLen      = 1024
	maxTagLen       = 128
	maxURLLen       = 2048
	maxAliases      = 1000
	maxThumbnails   = 100
	maxTagValues    = 50
	urlHashHexChars = 64
)

func textRule(name string, maxLength int) FieldRule {
	return FieldRule{Name: name, Kind: KindText, MaxLength: maxLength}
}

func countRule(name string, max int64) FieldRule {
	return FieldRule{Name: name, Kind: KindInteger, Min: 0, Max: max}
}

func boolRule(name string) FieldRule { return FieldRule{Name: name, Kind: KindBoolean} }

func tagRule(name string) FieldRule {
	return FieldRule{Name: name, Kind: KindTextList, MaxItems: maxTagValues, MaxLength: maxTagLen, NoBlankItems: true}
}

// ProfileRules are the rules of the fields of PornstarFields, in the order
// of the representation.
var ProfileRules = []FieldRule{
	{Name: "name", Kind: KindText, Required: true, MaxLength: maxNameLen},
	textRule("license", maxShortLen),
	boolRule("wl_status"),
	textRule("link", maxLinkLen),
	tagRule("hair_colors"),
	tagRule("ethnicities"),
	boolRule("tattoos"),
	boolRule("piercings"),
	countRule("breast_size", math.MaxInt32),
	textRule("breast_type", maxBreastType),
	textRule("gender", maxShortLen),
	textRule("orientation", maxShortLen),
	countRule("age", math.MaxInt32),
	countRule("subscriptions", math.MaxInt64),
	countRule("monthly_searches", math.MaxInt64),
	countRule("views", math.MaxInt64),
	countRule("videos_count", math.MaxInt64),
	countRule("premium_videos_count", math.MaxInt64),
	countRule("white_label_video_count", math.MaxInt64),
	countRule("rank", math.MaxInt64),
	countRule("rank_premium", math.MaxInt64),
	countRule("rank_wl", math.MaxInt64),
}

// AliasesRule is the rule of a performer's aliases. Blank aliases are not
// refused: they are dropped, as are duplicates.
var AliasesRule = FieldRule{Name: "aliases", Kind: KindTextList, MaxItems: maxAliases, MaxLength: maxNameLen}

// ThumbnailsRule is the rule of a performer's thumbnail list; ThumbnailRules
// are those of the members of each thumbnail.
var ThumbnailsRule = FieldRule{Name: "thumbnails", Kind: KindList, MaxItems: maxThumbnails}

// ThumbnailRules are the rules of the members of one thumbnail. url_hash,
// when given, must be the URLHash of url.
var ThumbnailRules = []FieldRule{
	textRule("type", maxShortLen),
	countRule("width", math.MaxInt32),
	countRule("height", math.MaxInt32),
	{Name: "url", Kind: KindText, Required: true, MaxLength: maxURLLen},
}

// Rule returns the rule of a performer field (a ProfileRules name,
// "aliases" or "thumbnails") or of a thumbnail member ("thumbnails/width",
// or a value's path "thumbnails/0/width"); ok is false for any other name.
func Rule(name string) (FieldRule, bool) {
	rules, key := ProfileRules, name
	switch {
	case name == AliasesRule.Name:
		return AliasesRule, true
	case name == ThumbnailsRule.Name:
		return ThumbnailsRule, true
	case strings.HasPrefix(name, ThumbnailsRule.Name+"/"):
		rules, key = ThumbnailRules, strings.TrimPrefix(name, ThumbnailsRule.Name+"/")
		if _, member, indexed := strings.Cut(key, "/"); indexed { // a value's path: "thumbnails/0/width"
			key = member
		}
	}
	for _, r := range rules {
		if r.Name == key {
			return r, true
		}
	}
	return FieldRule{}, false
}

// Constraint states the rule as a sentence for API documents: the GraphQL
// schema's descriptions carry it word for word. Booleans have none ("").
func (r FieldRule) Constraint() string {
	switch r.Kind {
	case KindInteger:
		return fmt.Sprintf("An integer from %d to %d.", r.Min, r.Max)
	case KindText:
		if r.Required {
			return fmt.Sprintf("1 to %d characters, not blank.", r.MaxLength)
		}
		return fmt.Sprintf("At most %d characters.", r.MaxLength)
	case KindTextList:
		if r.NoBlankItems {
			return fmt.Sprintf("At most %d values of 1 to %d characters, none blank.", r.MaxItems, r.MaxLength)
		}
		return fmt.Sprintf("At most %d values of at most %d characters each.", r.MaxItems, r.MaxLength)
	case KindList:
		return fmt.Sprintf("At most %d entries.", r.MaxItems)
	}
	return ""
}

// CheckInteger returns a *FieldError at path when n breaks the rule.
func (r FieldRule) CheckInteger(path string, n int64) error {
	if n < r.Min || n > r.Max {
		return r.OutOfRange(path, strconv.FormatInt(n, 10))
	}
	return nil
}

// OutOfRange is the *FieldError at path of an integer outside the rule's
// bounds, shown as written: one too large for 64 bits has no int64 to
// check, but breaks the rule the same way.
func (r FieldRule) OutOfRange(path, integer string) error {
	return fieldError(path, fmt.Sprintf("must be an integer from %d to %d, not %s", r.Min, r.Max, integer))
}

// CheckText returns a *FieldError at path when s breaks the rule: invalid
// UTF-8, a NUL character, too long, or blank where it is required.
func (r FieldRule) CheckText(path, s string) error {
	if r.Required && strings.TrimSpace(s) == "" {
		return fieldError(path, "is required")
	}
	return checkText(path, s, r.MaxLength)
}

// CheckCount returns a *FieldError at path when a list of n values breaks
// the rule.
func (r FieldRule) CheckCount(path string, n int) error {
	if n > r.MaxItems {
		unit := "values"
		if r.Kind == KindList || r.Name == AliasesRule.Name {
			unit = "entries"
		}
		return fieldError(path, fmt.Sprintf("has %d %s, at most %d allowed", n, unit, r.MaxItems))
	}
	return nil
}

// CheckItem returns a *FieldError at path (the item's own, such as
// "hair_colors/2") when one value of a text list breaks the rule.
func (r FieldRule) CheckItem(path, s string) error {
	if err := checkText(path, s, r.MaxLength); err != nil {
		return err
	}
	if r.NoBlankItems && strings.TrimSpace(s) == "" {
		return fieldError(path, "is empty")
	}
	return nil
}

// CheckList returns the *FieldError of the first value of a text list
// that breaks the rule, or of the list when it has too many.
func (r FieldRule) CheckList(path string, values []string) error {
	if err := r.CheckCount(path, len(values)); err != nil {
		return err
	}
	for i, v := range values {
		if err := r.CheckItem(path, v); err != nil {
			return atPath(err, fmt.Sprintf("%s/%d", path, i))
		}
	}
	return nil
}

// profileSlots binds each of ProfileRules to its field: a pointer to a
// string, *string, *bool, *int32, *int64 or StringList of f.
func profileSlot(f *PornstarFields, name string) any {
	switch name {
	case "name":
		return &f.Name
	case "license":
		return &f.License
	case "wl_status":
		return &f.WLStatus
	case "link":
		return &f.Link
	case "hair_colors":
		return &f.HairColors
	case "ethnicities":
		return &f.Ethnicities
	case "tattoos":
		return &f.Tattoos
	case "piercings":
		return &f.Piercings
	case "breast_size":
		return &f.BreastSize
	case "breast_type":
		return &f.BreastType
	case "gender":
		return &f.Gender
	case "orientation":
		return &f.Orientation
	case "age":
		return &f.Age
	case "subscriptions":
		return &f.Subscriptions
	case "monthly_searches":
		return &f.MonthlySearches
	case "views":
		return &f.Views
	case "videos_count":
		return &f.VideosCount
	case "premium_videos_count":
		return &f.PremiumVideosCount
	case "white_label_video_count":
		return &f.WhiteLabelVideoCount
	case "rank":
		return &f.Rank
	case "rank_premium":
		return &f.RankPremium
	case "rank_wl":
		return &f.RankWL
	}
	panic("db: no performer field " + name)
}

func thumbnailSlot(t *ProfileThumbnail, name string) any {
	switch name {
	case "type":
		return &t.Type
	case "width":
		return &t.Width
	case "height":
		return &t.Height
	case "url":
		return &t.URL
	}
	panic("db: no thumbnail member " + name)
}

// checkSlot applies r to the value slot points at.
func (r FieldRule) checkSlot(path string, slot any) error {
	switch v := slot.(type) {
	case *string:
		return r.CheckText(path, *v)
	case **string:
		if *v != nil {
			return r.CheckText(path, **v)
		}
	case **int32:
		if *v != nil {
			return r.CheckInteger(path, int64(**v))
		}
	case **int64:
		if *v != nil {
			return r.CheckInteger(path, **v)
		}
	case *StringList:
		return r.CheckList(path, *v)
	case **bool:
	default:
		panic(fmt.Sprintf("db: field %s has no check for %T", r.Name, slot))
	}
	return nil
}

// InvalidValue is a value a rule refused, as ReplaceInvalid reports it.
type InvalidValue struct {
	// Field is the path of the value, as FieldError has it.
	Field string
	// Value is what was refused (a string, number or list).
	Value any
	// Reason says why, as FieldError does.
	Reason string
}

// ReplaceInvalid makes p valid for UpsertProfiles by replacing each value a
// rule refuses with unknown, and returns what it replaced, for third-party
// data whose other fields are worth keeping. A nullable field becomes null;
// a refused value of a list is dropped, and a list with too many values
// becomes unknown (aliases: none); a thumbnail's refused type becomes empty,
// its refused width or height null, and a thumbnail whose URL is refused is
// dropped. Only the name and the feed id cannot be replaced: ValidateProfile
// still refuses p when they are invalid. The content hash is left alone:
// compute it after.
func ReplaceInvalid(p *Profile) []InvalidValue {
	var out []InvalidValue
	note := func(err error, value any) {
		fe := err.(*FieldError)
		out = append(out, InvalidValue{Field: fe.Field, Value: value, Reason: fe.Reason})
	}
	for _, r := range ProfileRules {
		if r.Required {
			continue
		}
		switch slot := profileSlot(&p.PornstarFields, r.Name).(type) {
		case *StringList:
			*slot = StringList(replaceInvalidItems(r, []string(*slot), note))
		default:
			if err := r.checkSlot(r.Name, slot); err != nil {
				note(err, valueOf(slot))
				setUnknown(slot)
			}
		}
	}
	p.Aliases = replaceInvalidItems(AliasesRule, p.Aliases, note)
	if err := ThumbnailsRule.CheckCount(ThumbnailsRule.Name, len(p.Thumbnails)); err != nil {
		note(err, fmt.Sprintf("%d entries", len(p.Thumbnails)))
		p.Thumbnails = nil
	}
	kept := p.Thumbnails[:0:0]
	for i := range p.Thumbnails {
		t := p.Thumbnails[i]
		keep := true
		for _, r := range ThumbnailRules {
			slot := thumbnailSlot(&t, r.Name)
			if err := r.checkSlot(r.Name, slot); err != nil {
				note(atPath(err, fmt.Sprintf("%s/%d/%s", ThumbnailsRule.Name, i, r.Name)), valueOf(slot))
				if r.Required {
					keep = false
					break
				}
				setUnknown(slot)
			}
		}
		if keep {
			kept = append(kept, t)
		}
	}
	if p.Thumbnails != nil {
		p.Thumbnails = kept
	}
	return out
}

// replaceInvalidItems drops the values of a list r refuses, or the whole
// list when it has too many.
func replaceInvalidItems(r FieldRule, values []string, note func(error, any)) []string {
	if values == nil {
		return nil
	}
	if err := r.CheckCount(r.Name, len(values)); err != nil {
		note(err, fmt.Sprintf("%d values", len(values)))
		return nil
	}
	var kept []string
	for i, v := range values {
		if err := r.CheckItem(r.Name, v); err != nil {
			note(atPath(err, fmt.Sprintf("%s/%d", r.Name, i)), v)
			if kept == nil {
				kept = append(make([]string, 0, len(values)), values[:i]...)
			}
			continue
		}
		if kept != nil {
			kept = append(kept, v)
		}
	}
	if kept == nil {
		return values
	}
	return kept
}

func valueOf(slot any) any {
	switch v := slot.(type) {
	case *string:
		return *v
	case **string:
		return **v
	case **int32:
		return **v
	case **int64:
		return **v
	}
	return nil
}

func setUnknown(slot any) {
	switch v := slot.(type) {
	case *string:
		*v = ""
	case **string:
		*v = nil
	case **int32:
		*v = nil
	case **int64:
		*v = nil
	}
}

// validateFields checks f against ProfileRules, which cover everything the
// database would refuse (lengths, invalid UTF-8, NUL) and the values no
// performer has (negative counts), so one bad record is named instead of
// failing a whole batch.
func validateFields(f *PornstarFields) error {
	for _, r := range ProfileRules {
		if err := r.checkSlot(r.Name, profileSlot(f, r.Name)); err != nil {
			return err
		}
	}
	return nil
}

func validateAliases(aliases []string) error {
	return AliasesRule.CheckList(AliasesRule.Name, aliases)
}

func validateThumbnails(thumbs []ProfileThumbnail) error {
	if err := ThumbnailsRule.CheckCount(ThumbnailsRule.Name, len(thumbs)); err != nil {
		return err
	}
	for i := range thumbs {
		t := &thumbs[i]
		for _, r := range ThumbnailRules {
			if err := r.checkSlot(r.Name, thumbnailSlot(t, r.Name)); err != nil {
				return atPath(err, fmt.Sprintf("%s/%d/%s", ThumbnailsRule.Name, i, r.Name))
			}
		}
		if t.URLHash != "" && t.URLHash != URLHash(t.URL) {
			return fieldError(fmt.Sprintf("%s/%d/url_hash", ThumbnailsRule.Name, i), "does not match the URL")
		}
	}
	return nil
}

// atPath returns err, the *FieldError of a check made under a shorter
// name, naming the value's full path instead: paths are built only for the
// values refused.
func atPath(err error, path string) error {
	if fe, ok := err.(*FieldError); ok {
		fe.Field = path
	}
	return err
}

func checkText(field, value string, max int) error {
	if !utf8.ValidString(value) {
		return fieldError(field, "is not valid UTF-8")
	}
	if strings.IndexByte(value, 0) >= 0 {
		return fieldError(field, "contains a NUL character")
	}
	if n := utf8.RuneCountInString(value); n > max {
		return fieldError(field, fmt.Sprintf("is %d characters long, at most %d allowed", n, max))
	}
	return nil
}
